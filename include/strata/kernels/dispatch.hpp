// Which kernels run: the best target this binary holds that this CPU supports,
// chosen once, on first use.
//
// Header-only mode (default): the targets are those the compiler was told to
// generate for (e.g. -march=native gives avx512, avx2, sse4.2 and sse2 on an
// AVX-512 machine). Runtime-dispatch mode (STRATA_RUNTIME_DISPATCH, set by the
// CMake function strata_add_runtime_dispatch): each target's table is compiled
// in its own translation unit with that target's flags, and the choice is made
// from CPUID, so one binary runs well on any x86-64.
//
// STRATA_TARGET=<name> in the environment picks a lower target (for
// comparisons); an unknown or unsupported name is an error.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "strata/core/cpu_features.hpp"
#include "strata/core/error.hpp"
#include "strata/kernels/kernel_table.hpp"

#if defined(STRATA_RUNTIME_DISPATCH)
namespace strata::kernels::dispatch {
// Defined in the generated per-target translation units; null where the
// build left a target out.
const KernelTable* table_avx512();
const KernelTable* table_avx2();
const KernelTable* table_sse4_2();
const KernelTable* table_sse2();
}  // namespace strata::kernels::dispatch
#else
#include "strata/kernels/kernel_table_impl.hpp"
// Each translation unit that uses the kernels compiles every target's table.
// A program with many of them can compile the tables once: define
// STRATA_EXTERN_KERNEL_TABLES for all and include
// <strata/kernels/kernel_instances.hpp> in exactly one (the test suite does).
#if defined(STRATA_EXTERN_KERNEL_TABLES)
namespace strata::kernels {
#if XSIMD_WITH_AVX512BW
extern template KernelTable make_kernel_table<xsimd::avx512bw>();
#endif
#if XSIMD_WITH_FMA3_AVX2
extern template KernelTable make_kernel_table<xsimd::fma3<xsimd::avx2>>();
#endif
#if XSIMD_WITH_SSE4_2
extern template KernelTable make_kernel_table<xsimd::sse4_2>();
#endif
#if XSIMD_WITH_SSE2
extern template KernelTable make_kernel_table<xsimd::sse2>();
#endif
}  // namespace strata::kernels
#endif
#endif

namespace strata::kernels {

// Every table this binary holds that this CPU can run, best first.
inline const std::vector<const KernelTable*>& available_kernel_tables() {
  static const std::vector<const KernelTable*> tables = [] {
    const CpuFeatures cpu = detect_cpu_features();
    std::vector<const KernelTable*> v;
#if defined(STRATA_RUNTIME_DISPATCH)
    if (cpu.avx512f && cpu.avx512bw && cpu.avx512dq && cpu.avx512cd && dispatch::table_avx512())
      v.push_back(dispatch::table_avx512());
    if (cpu.avx2 && cpu.fma && cpu.f16c && dispatch::table_avx2()) v.push_back(dispatch::table_avx2());
    if (cpu.sse42 && dispatch::table_sse4_2()) v.push_back(dispatch::table_sse4_2());
    if (dispatch::table_sse2()) v.push_back(dispatch::table_sse2());
#else
    (void)cpu;  // compiled for these targets, so the CPU running us has them
#if XSIMD_WITH_AVX512BW
    static const KernelTable avx512 = make_kernel_table<xsimd::avx512bw>();
    v.push_back(&avx512);
#endif
#if XSIMD_WITH_FMA3_AVX2
    static const KernelTable avx2 = make_kernel_table<xsimd::fma3<xsimd::avx2>>();
    v.push_back(&avx2);
#endif
#if XSIMD_WITH_SSE4_2
    static const KernelTable sse42 = make_kernel_table<xsimd::sse4_2>();
    v.push_back(&sse42);
#endif
#if XSIMD_WITH_SSE2
    static const KernelTable sse2 = make_kernel_table<xsimd::sse2>();
    v.push_back(&sse2);
#endif
    if (v.empty()) {
      static const KernelTable generic = make_kernel_table<xsimd::default_arch>();
      v.push_back(&generic);
    }
#endif
    return v;
  }();
  return tables;
}

inline const KernelTable* find_kernel_table(const std::string& target) {
  for (const KernelTable* t : available_kernel_tables())
    if (target == t->target) return t;
  return nullptr;
}

namespace detail {
inline const KernelTable*& active_table_slot() {
  static const KernelTable* active = [] {
    const char* env = std::getenv("STRATA_TARGET");
    if (env && *env) {
      const KernelTable* t = find_kernel_table(env);
      if (!t) {
        std::string have;
        for (const KernelTable* a : available_kernel_tables()) have += std::string(have.empty() ? "" : ", ") + a->target;
        fail("STRATA_TARGET=", env, ": not a target this binary and CPU support (have: ", have, ")");
      }
      return t;
    }
    return available_kernel_tables().front();
  }();
  return active;
}
}  // namespace detail

// The kernels in use. The first call chooses (and may throw for a bad
// STRATA_TARGET); later calls are one load.
inline const KernelTable& active_kernels() { return *detail::active_table_slot(); }

// Switches every later kernel call to another available target (benchmarks
// and tests compare targets this way). Not safe while kernels run.
inline void set_active_kernels(const std::string& target) {
  const KernelTable* t = find_kernel_table(target);
  check(t != nullptr, "kernel target '", target, "' is not available on this CPU/binary");
  detail::active_table_slot() = t;
}

}  // namespace strata::kernels
