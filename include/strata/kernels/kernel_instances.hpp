// The kernel tables that STRATA_EXTERN_KERNEL_TABLES declares extern
// (kernels/dispatch.hpp), defined: include this in exactly one translation
// unit of a header-only (not runtime-dispatch) build.
#pragma once

#include "strata/kernels/dispatch.hpp"

#if !defined(STRATA_RUNTIME_DISPATCH)
namespace strata::kernels {
#if XSIMD_WITH_AVX512BW
template KernelTable make_kernel_table<xsimd::avx512bw>();
#endif
#if XSIMD_WITH_FMA3_AVX2
template KernelTable make_kernel_table<xsimd::fma3<xsimd::avx2>>();
#endif
#if XSIMD_WITH_SSE4_2
template KernelTable make_kernel_table<xsimd::sse4_2>();
#endif
#if XSIMD_WITH_SSE2
template KernelTable make_kernel_table<xsimd::sse2>();
#endif
}  // namespace strata::kernels
#endif
