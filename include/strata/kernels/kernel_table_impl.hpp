// Fills a KernelTable for one xsimd architecture A from the SIMD kernel
// families. Included by kernels/dispatch.hpp (header-only mode) or by one
// generated translation unit per target (runtime-dispatch mode).
#pragma once

#include "strata/kernels/kernel_table.hpp"
#include "strata/kernels/simd/arch.hpp"
#include "strata/kernels/simd/attention.hpp"
#include "strata/kernels/simd/attention_gemm.hpp"
#include "strata/kernels/simd/gemm.hpp"
#include "strata/kernels/simd/gemm_bf16_dot.hpp"
#include "strata/kernels/simd/quant_gemm.hpp"
#include "strata/kernels/simd/vector.hpp"

namespace strata::kernels {

template <class A>
KernelTable make_kernel_table() {
  KernelTable t;
  t.target = simd::target_name<A>();
  t.vector_bytes = int(sizeof(simd::vfloat<A>));
  simd::fill_gemm_kernels<A>(t);
  simd::fill_bf16_dot_kernels<A>(t);
  simd::fill_quant_kernels<A>(t);
  simd::fill_vector_kernels<A>(t);
  simd::fill_attention_kernels<A>(t);
  simd::fill_attention_gemm_kernels<A>(t);
  return t;
}

}  // namespace strata::kernels
