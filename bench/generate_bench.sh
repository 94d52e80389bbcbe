#!/usr/bin/env bash
# End-to-end speed of `generate`, next to this machine's limits measured in
# the same run. Prints a Markdown report for bench/RESULTS.md.
#
#   bash bench/generate_bench.sh [BUILD_DIR] [THREADS] [REPEATS]
#
# Needs a release build (cmake --preset release && cmake --build --preset release).
# Writes the random ~110M checkpoint to $STRATA_BENCH_DIR (default /tmp/strata-bench)
# once, with build/release/make_model.
set -euo pipefail
BUILD=${1:-build/release}
THREADS=${2:-2}
REPEATS=${3:-5}
DIR=${STRATA_BENCH_DIR:-/tmp/strata-bench}
TINY=${STRATA_TINY_MODEL:-../shared/models/tinystories-656k}
M110=$DIR/llama-110m-f32

if [ ! -f "$M110/model.safetensors" ]; then
  "$BUILD/make_model" --out "$M110" --hidden 768 --layers 12 --heads 12 --ffn 2048 --vocab 32000 \
    --max-pos 2048 --dtype f32 --seed 1 2>/dev/null
fi
PROMPT128=$(seq 3 130 | paste -sd, -)

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# run NAME ARGS...: REPEATS runs after one warm-up; median prompt and generation tok/s.
run() {
  local name=$1; shift
  local p=() g=() line
  "$BUILD/generate" "$@" --threads "$THREADS" >/dev/null 2>&1  # warm-up (page cache, pool)
  for _ in $(seq "$REPEATS"); do
    line=$("$BUILD/generate" "$@" --threads "$THREADS" 2>&1 >/dev/null | grep '^prompt:')
    p+=("$(sed -E 's/^prompt: [0-9]+ tokens, ([0-9.e+]+) tok\/s.*/\1/' <<<"$line")")
    g+=("$(sed -E 's/.*generation: [0-9]+ tokens, ([0-9.e+]+) tok\/s.*/\1/' <<<"$line")")
  done
  local pm gm
  pm=$(printf '%s\n' "${p[@]}" | median)
  gm=$(printf '%s\n' "${g[@]}" | median)
  echo "$name|$pm|$gm"
}

limits=$("$BUILD/strata-limits" --threads "$THREADS" --json)
bw=$(sed -E 's/.*"read_bandwidth_gb_s": *([0-9.e+]+).*/\1/' <<<"$limits")
peak=$(sed -E 's/.*"fma_peak_gflop_s": *([0-9.e+]+).*/\1/' <<<"$limits")

tiny=$(run tinystories --model "$TINY" --prompt "Once upon a time" --temp 0 -n 128 --ids)
big=$(run llama110m --model "$M110" --prompt-ids "$PROMPT128" --temp 0 -n 64 --ids)
big_bf16=$(run llama110m-bf16 --model "$M110" --prompt-ids "$PROMPT128" --temp 0 -n 64 --ids --weights bf16)

# Bytes of weights read per decoded token and FLOPs per prompt token, from the shapes.
# 110M: 12 layers × (4·768² + 3·768·2048) + head 32000·768 (+ one embedding row).
layer=$((4 * 768 * 768 + 3 * 768 * 2048))
w110=$((12 * layer + 32000 * 768 + 768))
flops_tok=$((2 * 12 * layer))   # prefill: the LM head runs for the last token only

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) hardware threads; threads used: $THREADS"
echo "limits (strata-limits --threads $THREADS): read bandwidth $bw GB/s, f32 FMA peak $peak GFLOP/s"
echo
echo "| model | weights | prompt tok/s | prefill % of FMA peak | generation tok/s | decode % of bandwidth |"
echo "| --- | --- | --- | --- | --- | --- |"
row() {
  local label=$1 bytes=$2 flops=$3 data=$4
  IFS='|' read -r _ pm gm <<<"$data"
  if [ "$bytes" = "-" ]; then
    echo "| $label | f32 | $pm | - | $gm | - |"
  else
    awk -v l="$label" -v w="$5" -v b="$bytes" -v f="$flops" -v pm="$pm" -v gm="$gm" -v bw="$bw" -v pk="$peak" \
      'BEGIN { printf "| %s | %s | %.0f | %.0f%% | %.1f | %.0f%% |\n", l, w, pm, 100 * pm * f / (pk * 1e9), gm, 100 * gm * b / (bw * 1e9) }'
  fi
}
row "TinyStories-656K (6-token prompt, 128 new)" - - "$tiny"
row "random 110M (128-token prompt, 64 new)" "$((w110 * 4))" "$flops_tok" "$big" f32
row "random 110M, --weights bf16" "$((w110 * 2))" "$flops_tok" "$big_bf16" bf16
