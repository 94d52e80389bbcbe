#!/usr/bin/env bash
# strata against ONNX Runtime on the same random BERT checkpoints, one machine, one run: the
# MiniLM-L6- and BERT-base-shaped models that bench/run_suite.sh benchmarks (make-model --model-type
# bert, seed 1), each exported to ONNX by export_bert_onnx.py and checked, then texts/s of
# strata-embed-bench and of onnxruntime-node (ort_bench.mjs) at batch x tokens = 1x16, 1x128,
# 32x16, 32x128 (fixed lengths, random ids), the two alternating point by point, with the same
# threads. Prints a Markdown report; progress goes to stderr.
#
#   bash bench/onnx_peer/run_peer.sh [BUILD_DIR] [THREADS] [SECONDS]
#
# BUILD_DIR (default build/release) needs make-model, strata-embed-bench and strata-limits from a
# release build. THREADS defaults to 2, SECONDS (timed model time per point and engine) to 3.
# Installs what is missing: Debian's python3-torch, python3-onnx, python3-numpy (and nodejs, npm),
# and onnxruntime-node into bench/onnx_peer/node_modules (npm install).
#
# Environment:
#   STRATA_BENCH_DIR  checkpoints (default /tmp/strata-bench, shared with run_suite.sh); each
#                     model.onnx is cached beside its model.safetensors and re-exported when older
#                     than it (or than export_bert_onnx.py)
set -euo pipefail
BUILD=${1:-build/release}
THREADS=${2:-2}
SECS=${3:-3}
DIR=${STRATA_BENCH_DIR:-/tmp/strata-bench}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3  # Debian's: python3-torch and python3-onnx live there, not in a pyenv

. "$HERE/peer_common.sh"

for tool in make-model strata-embed-bench strata-limits; do
  [ -x "$BUILD/$tool" ] || die "$BUILD/$tool not found; build it first (cmake --preset release && cmake --build --preset release)"
done

peer_install

# ---- the checkpoints (exactly as run_suite.sh writes them) and their ONNX exports ----
mkdir -p "$DIR"
write_bert() {  # NAME HIDDEN LAYERS HEADS FFN
  write_model "$1" --model-type bert --hidden "$2" --layers "$3" --heads "$4" --ffn "$5" --vocab 30522 --max-pos 512 --seed 1
}
MODELS=(minilm-l6 bert-base)
write_bert minilm-l6 384 6 12 1536
write_bert bert-base 768 12 12 3072
for m in "${MODELS[@]}"; do export_onnx "$m" export_bert_onnx.py; done

peer_header "strata vs ONNX Runtime"

# ---- the export, checked every run: ONNX Runtime against the torch module and the float64 reference ----
echo
echo "ONNX Runtime's output against the exported torch module / strata's float64 reference (max abs error of the mean-pooled embedding, tolerance 1e-4):"
echo
echo '```'
for m in "${MODELS[@]}"; do
  echo "$m:"
  node "$HERE/ort_bench.mjs" --model "$DIR/$m/model.onnx" --threads "$THREADS" \
    --check "$DIR/$m/model.check-ids.json" "$DIR/$m/model.check-expected.json" || die "ONNX Runtime check failed on $m"
done
echo '```'

# ---- throughput, strata and ONNX Runtime alternating point by point ----
echo
echo "Texts/s, fixed lengths, random ids (\`strata-embed-bench --lengths fixed\`, \`ort_bench.mjs\`: intraOpNumThreads $THREADS," \
  "graphOptimizationLevel all, sequential); ratio = strata ÷ ONNX Runtime:"
echo
echo "| model | batch × tokens | strata texts/s | ONNX Runtime texts/s | ratio |"
echo "| --- | --- | ---: | ---: | ---: |"
for m in "${MODELS[@]}"; do
  for point in "1 16" "1 128" "32 16" "32 128"; do
    read -r b l <<<"$point"
    echo "run_peer.sh: $m ${b}x$l" >&2
    row=$("$BUILD/strata-embed-bench" --model "$DIR/$m" --batch "$b" --seq "$l" --lengths fixed \
      --threads "$THREADS" --seconds "$SECS" 2>&1) || die "strata-embed-bench failed on $m ${b}x$l: $row"
    s=$(awk -F' [|] ' '{ split($5, t, " "); print t[1] }' <<<"$row")
    j=$(node "$HERE/ort_bench.mjs" --model "$DIR/$m/model.onnx" --batch "$b" --seq "$l" \
      --threads "$THREADS" --seconds "$SECS") || die "ort_bench.mjs failed on $m ${b}x$l"
    o=$(sed -E 's/.*"texts_per_s":([-0-9.e+]+).*/\1/' <<<"$j")
    awk -v m="$m" -v b="$b" -v l="$l" -v s="$s" -v o="$o" \
      'BEGIN { printf "| %s | %s × %s | %.1f | %.1f | %.2f× |\n", m, b, l, s, o, s / o }'
  done
done
