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

die() { echo "run_peer.sh: $*" >&2; exit 1; }

for tool in make-model strata-embed-bench strata-limits; do
  [ -x "$BUILD/$tool" ] || die "$BUILD/$tool not found; build it first (cmake --preset release && cmake --build --preset release)"
done

# ---- what the peer needs, installed when missing ----
apt_install() {
  [ "$(id -u)" = 0 ] || die "missing Debian packages ($*); run as root or: apt-get install -y $*"
  echo "run_peer.sh: apt-get install $*" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null 2>&1 ||
    die "apt-get install $* failed"
}
if ! { [ -x "$PY" ] && "$PY" -c 'import torch, onnx, numpy' 2>/dev/null; }; then
  apt_install python3 python3-torch python3-onnx python3-numpy
fi
"$PY" -c 'import torch, onnx, numpy' 2>/dev/null || die "$PY cannot import torch, onnx and numpy"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then apt_install nodejs npm; fi
command -v node >/dev/null || die "node not found"
want=$(sed -nE 's/.*"onnxruntime-node": *"([^"]+)".*/\1/p' "$HERE/package.json")
have=$(sed -nE 's/^ *"version": *"([^"]+)".*/\1/p' "$HERE/node_modules/onnxruntime-node/package.json" 2>/dev/null | head -1)
if [ "$have" != "$want" ]; then
  echo "run_peer.sh: npm install (onnxruntime-node $want)" >&2
  # The package's postinstall only fetches CUDA provider files (not reachable here, not needed).
  (cd "$HERE" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error >&2) ||
    die "npm install in $HERE failed"
fi

# ---- the checkpoints (exactly as run_suite.sh writes them) and their ONNX exports ----
mkdir -p "$DIR"
write_bert() {  # NAME HIDDEN LAYERS HEADS FFN
  local out=$DIR/$1
  if [ ! -f "$out/model.safetensors" ]; then
    echo "run_peer.sh: writing $out" >&2
    rm -rf "$out.tmp"
    "$BUILD/make-model" --out "$out.tmp" --model-type bert --hidden "$2" --layers "$3" --heads "$4" --ffn "$5" \
      --vocab 30522 --max-pos 512 --seed 1 2>/dev/null
    mv "$out.tmp" "$out"
  fi
}
export_onnx() {  # NAME
  local m=$DIR/$1
  if [ ! -f "$m/model.onnx" ] || [ ! -f "$m/model.check-expected.json" ] ||
     [ "$m/model.safetensors" -nt "$m/model.onnx" ] || [ "$HERE/export_bert_onnx.py" -nt "$m/model.onnx" ]; then
    echo "run_peer.sh: exporting $m/model.onnx" >&2
    "$PY" "$HERE/export_bert_onnx.py" "$m" >&2 || die "export of $m failed"
  fi
}
MODELS=(minilm-l6 bert-base)
write_bert minilm-l6 384 6 12 1536
write_bert bert-base 768 12 12 3072
for m in "${MODELS[@]}"; do export_onnx "$m"; done

echo "## strata vs ONNX Runtime, $(date -u +%Y-%m-%d), $(git -C "$HERE" log -1 --format='commit %h' 2>/dev/null || echo 'no git')"
echo
cpu=$(lscpu 2>/dev/null | sed -nE 's/^Model name: *//p' | head -1)
echo "Machine: ${cpu:-$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')}, $(nproc) hardware threads;" \
  "threads used: $THREADS; about $SECS s of model time per point and engine;" \
  "onnxruntime-node $(sed -nE 's/^ *"version": *"([^"]+)".*/\1/p' "$HERE/node_modules/onnxruntime-node/package.json" | head -1)," \
  "node $(node --version)"
echo "Command: \`bash bench/onnx_peer/run_peer.sh $BUILD $THREADS $SECS\`"
echo
echo '```'
"$BUILD/strata-limits" --threads "$THREADS"
echo '```'

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
