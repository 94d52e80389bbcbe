#!/usr/bin/env bash
# In a runtime-dispatch build, each kernels_<target>.cpp object is compiled
# for one CPU target. A weak (COMDAT) symbol in it that is not templated on
# that target's xsimd architecture (an ordinary inline function, a std::
# template) could be kept by the linker for the whole program, running, say,
# AVX-512 code on a CPU without it. This check fails on any such symbol.
# usage: check_weak_symbols.sh <object files...> (CMake may pass them as one
# ';'-separated argument)
set -euo pipefail
status=0
checked=0
objects=()
for arg in "$@"; do
  IFS=';' read -ra parts <<<"$arg"
  objects+=("${parts[@]}")
done
for obj in "${objects[@]}"; do
  case "$(basename "$obj")" in
    kernels_avx512.cpp.o) arch='xsimd::avx512bw' ;;
    kernels_avx2.cpp.o) arch='xsimd::fma3<xsimd::avx2>' ;;
    kernels_sse4_2.cpp.o) arch='xsimd::sse4_2' ;;
    kernels_sse2.cpp.o) arch='xsimd::sse2' ;;
    *) continue ;;
  esac
  checked=$((checked + 1))
  # Weak definitions (W, V, u), demangled; the personality-routine reference
  # is data the toolchain emits in every object with exception tables.
  bad=$(nm -C --defined-only "$obj" | awk '$2 ~ /^[WVu]$/' | grep -vF -- "$arch" | grep -v 'DW.ref.__gxx_personality_v0' || true)
  if [[ -n "$bad" ]]; then
    echo "$obj: weak symbols not specific to $arch:" >&2
    echo "$bad" >&2
    status=1
  fi
done
if [[ $checked -eq 0 ]]; then
  echo "no per-target kernel objects among the arguments" >&2
  exit 1
fi
echo "checked $checked per-target objects: every weak symbol is target-specific"
exit $status
