#!/usr/bin/env bash
# strata against ONNX Runtime on the same random vision transformers, one machine, one run: a
# ViT-base- and a DeiT-base-shaped image classifier (768/12/12/3072, 224x224 images, 16x16 patches,
# 1000 labels; make-model --model-type vit / deit, seed 1), each exported to ONNX by
# export_vit_onnx.py and checked, then images/s of strata-vision-bench and of onnxruntime-node
# (ort_vision_bench.mjs) at batch 1 and 8 (random normal pixel_values), the two alternating point by
# point, with the same threads. Prints a Markdown report; progress goes to stderr.
#
#   bash bench/onnx_peer/run_vision_peer.sh [BUILD_DIR] [THREADS] [SECONDS]
#
# BUILD_DIR (default build/release) needs make-model and strata-vision-bench from a release build
# (strata-limits too, for the report's header; without it the header says so). THREADS defaults to
# 2, SECONDS (timed model time per point and engine) to 3. Installs what is missing, as
# run_peer.sh does (peer_common.sh).
#
# Environment:
#   STRATA_BENCH_DIR  checkpoints (default /tmp/strata-bench, shared with run_suite.sh and
#                     run_peer.sh); each model.onnx is cached beside its model.safetensors and
#                     re-exported when older than it (or than export_vit_onnx.py)
set -euo pipefail
BUILD=${1:-build/release}
THREADS=${2:-2}
SECS=${3:-3}
DIR=${STRATA_BENCH_DIR:-/tmp/strata-bench}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3  # Debian's: python3-torch and python3-onnx live there, not in a pyenv

. "$HERE/peer_common.sh"

for tool in make-model strata-vision-bench; do
  [ -x "$BUILD/$tool" ] || die "$BUILD/$tool not found; build it first (cmake --preset release && cmake --build --preset release)"
done

peer_install

# ---- the checkpoints and their ONNX exports ----
mkdir -p "$DIR"
write_vision() {  # NAME MODEL-TYPE
  write_model "$1" --model-type "$2" --hidden 768 --layers 12 --heads 12 --ffn 3072 --labels 1000 --seed 1
}
MODELS=(vit-base deit-base)
write_vision vit-base vit
write_vision deit-base deit
for m in "${MODELS[@]}"; do export_onnx "$m" export_vit_onnx.py; done

peer_header "strata vs ONNX Runtime, vision transformers"

# ---- the export, checked every run: ONNX Runtime against the torch module and the float64 reference ----
echo
echo "ONNX Runtime's output against the exported torch module / strata's float64 reference (max abs error of the logits, tolerance 1e-4):"
echo
echo '```'
for m in "${MODELS[@]}"; do
  echo "$m:"
  node "$HERE/ort_vision_bench.mjs" --model "$DIR/$m/model.onnx" --threads "$THREADS" \
    --check "$DIR/$m/model.check-inputs.json" "$DIR/$m/model.check-expected.json" || die "ONNX Runtime check failed on $m"
done
echo '```'

# ---- throughput, strata and ONNX Runtime alternating point by point ----
echo
echo "Images/s, random N(0, 1) pixel_values at the model's resolution, model time only (\`strata-vision-bench\`, \`ort_vision_bench.mjs\`:" \
  "intraOpNumThreads $THREADS, graphOptimizationLevel all, sequential); ratio = strata ÷ ONNX Runtime. % of peak: GFLOP/s" \
  "over the f32 FMA peak that strata-vision-bench measures at that point (last column), both engines from the same" \
  "FLOP count per image (2·patches·C·p²·H + T·L·(2·(4H² + 2H·I) + 4·T·H) + 2·H·labels, T = patches + 1 for ViT, + 2 for DeiT):"
echo
echo "| model | batch | strata images/s | ONNX Runtime images/s | ratio | strata % of FMA peak | ONNX Runtime % of FMA peak | FMA peak GFLOP/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for m in "${MODELS[@]}"; do
  for b in 1 8; do
    echo "$PEER: $m batch $b" >&2
    row=$("$BUILD/strata-vision-bench" --model "$DIR/$m" --batch "$b" --threads "$THREADS" --seconds "$SECS" 2>&1) ||
      die "strata-vision-bench failed on $m batch $b: $row"
    # model ... | HxW, T tokens | batch B | X images/s | Y GFLOP/s = Z% of P GFLOP/s FMA peak | ...
    read -r s sg sp peak < <(awk -F' [|] ' '{ split($4, a, " "); split($5, g, " "); sub("%", "", g[4]);
                                              print a[1], g[1], g[4], g[6] }' <<<"$row")
    [ -n "${peak:-}" ] || die "cannot read strata-vision-bench's line: $row"
    j=$(node "$HERE/ort_vision_bench.mjs" --model "$DIR/$m/model.onnx" --batch "$b" \
      --threads "$THREADS" --seconds "$SECS") || die "ort_vision_bench.mjs failed on $m batch $b"
    o=$(sed -E 's/.*"images_per_s":([-0-9.e+]+).*/\1/' <<<"$j")
    flop=$(sed -E 's/.*"flop_per_image":([-0-9.e+]+).*/\1/' <<<"$j")
    # strata's own FLOP count (its GFLOP/s ÷ images/s) should be this one: the head may differ by 2·H·(H - labels).
    awk -v s="$s" -v sg="$sg" -v f="$flop" -v p="$PEER" 'BEGIN { d = sg * 1e9 / s / f - 1;
      if (d > 0.02 || d < -0.02) printf "%s: warning: strata counts %.4g FLOP per image, ORT side %.4g\n", p, sg * 1e9 / s, f > "/dev/stderr" }'
    awk -v m="$m" -v b="$b" -v s="$s" -v o="$o" -v sp="$sp" -v f="$flop" -v peak="$peak" \
      'BEGIN { printf "| %s | %s | %.2f | %.2f | %.2f× | %.1f%% | %.1f%% | %.1f |\n", m, b, s, o, s / o, sp, 100 * o * f / 1e9 / peak, peak }'
  done
done
