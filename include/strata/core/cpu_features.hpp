// What the CPU can do (from CPUID, at run time) and what this build's kernels
// were compiled for (from the compiler's target flags).
#pragma once

#include <string>

namespace strata {

struct CpuFeatures {
  bool sse42 = false, avx2 = false, fma = false, f16c = false, avx512f = false, avx512cd = false,
       avx512dq = false, avx512bw = false, avx512vnni = false, avx512bf16 = false;
};

inline CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.sse42 = __builtin_cpu_supports("sse4.2");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  {
    unsigned a, b, c, d;  // F16C: CPUID leaf 1, ECX bit 29 (not a __builtin_cpu_supports name in GCC 12)
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    f.f16c = (c >> 29) & 1u;
  }
  f.avx512cd = __builtin_cpu_supports("avx512cd");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
#if defined(__clang__) && __clang_major__ < 15
  f.avx512bf16 = false;  // clang 14 does not know the name
#else
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
#endif
  return f;
}

inline std::string describe_cpu_features(const CpuFeatures& f) {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (on) s += s.empty() ? name : std::string(" ") + name;
  };
  add(f.sse42, "sse4.2");
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.f16c, "f16c");
  add(f.avx512f, "avx512f");
  add(f.avx512cd, "avx512cd");
  add(f.avx512dq, "avx512dq");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vnni, "avx512vnni");
  add(f.avx512bf16, "avx512bf16");
  return s.empty() ? "none" : s;
}

// The instruction set the compiler was told to target for this build.
inline const char* compiled_target() {
#if defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2+fma";
#elif defined(__SSE4_2__)
  return "sse4.2";
#elif defined(__x86_64__)
  return "sse2";
#else
  return "generic";
#endif
}

}  // namespace strata
