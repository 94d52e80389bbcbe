#!/usr/bin/env bash
# The benchmark suite: this machine's limits, the end-to-end speed of a random
# ~110M Llama checkpoint with f32, bf16 and f16 weights (each figure next to the
# limits measured in the same run), `generate` on TinyStories-656K, encoder
# throughput on MiniLM-L6 and BERT-base shapes, encoder-shaped GEMM and attention
# (strata-matmul-bench), the cost of each variant
# primitive (strata-variant-bench), decode speed and memory of the bounded
# KV-cache policies as the context grows (strata-cache-bench), mixture of experts
# and activation-sparse FFNs against dense ones (strata-ffn-bench), cross-attention
# with its K/V cached vs recomputed (strata-cross-bench), and the kernel
# microbenchmarks on every target this CPU runs. Prints a Markdown
# report for bench/RESULTS.md; raw results (JSON) go to $STRATA_BENCH_DIR.
#
#   bash bench/run_suite.sh [BUILD_DIR] [THREADS] [REPEATS]
#
# BUILD_DIR (default build/release) needs a release build of make-model,
# generate, strata-limits, strata-bench, strata-embed-bench, strata-variant-bench,
# strata-cache-bench, strata-ffn-bench, strata-cross-bench and strata-microbench
# (cmake --preset release && cmake --build --preset release). THREADS defaults
# to 2, REPEATS (timed runs after one warm-up; medians reported) to 5.
#
# Environment:
#   STRATA_BENCH_DIR       checkpoints and raw results (default /tmp/strata-bench);
#                          the checkpoints are written once, 0.9 GB in all
#   STRATA_TINY_MODEL      TinyStories-656K folder (default ../shared/models/tinystories-656k)
#   STRATA_MICRO_MIN_TIME  --benchmark_min_time of each microbenchmark in seconds
#                          (default 0.02: all of them in about a minute on 2 cores)
#   STRATA_MICRO_FILTER    --benchmark_filter for the microbenchmarks (default: all)
set -euo pipefail
BUILD=${1:-build/release}
THREADS=${2:-2}
REPEATS=${3:-5}
DIR=${STRATA_BENCH_DIR:-/tmp/strata-bench}
TINY=${STRATA_TINY_MODEL:-../shared/models/tinystories-656k}
MIN_TIME=${STRATA_MICRO_MIN_TIME:-0.02}
FILTER=${STRATA_MICRO_FILTER:-.}
P=128
N=64

for tool in make-model generate strata-limits strata-bench; do
  [ -x "$BUILD/$tool" ] || { echo "run_suite.sh: $BUILD/$tool not found; build it first (see the top of this script)" >&2; exit 1; }
done
mkdir -p "$DIR"

# The random ~110M checkpoint: hidden 768, 12 layers, 12 heads, ffn 2048,
# vocab 32000, untied head; the same seed for every dtype, so the bf16 and f16
# copies hold the f32 weights rounded. Written to a temporary folder first, so
# an interrupted run leaves no half-written model behind.
write_model() {
  local dtype=$1 out=$DIR/llama-110m-$1
  if [ ! -f "$out/model.safetensors" ]; then
    echo "run_suite.sh: writing $out" >&2
    rm -rf "$out.tmp"
    "$BUILD/make-model" --out "$out.tmp" --hidden 768 --layers 12 --heads 12 --ffn 2048 --vocab 32000 \
      --max-pos 2048 --dtype "$dtype" --seed 1 2>/dev/null
    mv "$out.tmp" "$out"
  fi
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# json_field KEY LINE: a number from strata-bench's one-line JSON.
json_field() { sed -E "s/.*\"$1\":([-0-9.e+]+).*/\1/" <<<"$2"; }

echo "## $(date -u +%Y-%m-%d), $(git -C "$(dirname "$0")" log -1 --format='commit %h' 2>/dev/null || echo 'no git')"
echo
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) hardware threads; threads used: $THREADS; repeats: $REPEATS"
echo "Command: \`bash bench/run_suite.sh $BUILD $THREADS $REPEATS\`"
echo
echo '```'
"$BUILD/strata-limits" --threads "$THREADS" --repeats "$REPEATS"
echo '```'

# ---- strata-bench: the 110M checkpoint, each weight type stored and used as is ----
: >"$DIR/strata-bench.jsonl"
for dtype in f32 bf16 f16; do
  write_model "$dtype"
  m=$DIR/llama-110m-$dtype
  echo
  echo '```'
  "$BUILD/strata-bench" --model "$m" -p $P -n $N --threads "$THREADS" --quant "$dtype" --repeats "$REPEATS" 2>/dev/null
  echo '```'
  "$BUILD/strata-bench" --model "$m" -p $P -n $N --threads "$THREADS" --quant "$dtype" --repeats "$REPEATS" --json \
    2>/dev/null >>"$DIR/strata-bench.jsonl"
done

# ---- quantized projections (issue #4): the f32 checkpoint quantized at load
# (int8 activations, integer dot products); embeddings and LM head stay f32 ----
for quant in q8 q4 fp4; do
  m=$DIR/llama-110m-f32
  echo
  echo '```'
  "$BUILD/strata-bench" --model "$m" -p $P -n $N --threads "$THREADS" --quant "$quant" --repeats "$REPEATS" 2>/dev/null
  echo '```'
  "$BUILD/strata-bench" --model "$m" -p $P -n $N --threads "$THREADS" --quant "$quant" --repeats "$REPEATS" --json \
    2>/dev/null >>"$DIR/strata-bench.jsonl"
done

# ---- generate on the real TinyStories-656K (tokenizer, sampling loop and all) ----
# run_generate ARGS...: REPEATS runs after one warm-up; "prompt-tok/s generation-tok/s" medians.
run_generate() {
  local p=() g=() line
  "$BUILD/generate" "$@" --threads "$THREADS" >/dev/null 2>&1  # warm-up (page cache, pool)
  for _ in $(seq "$REPEATS"); do
    line=$("$BUILD/generate" "$@" --threads "$THREADS" 2>&1 >/dev/null | grep '^prompt:')
    p+=("$(sed -E 's/^prompt: [0-9]+ tokens, ([0-9.e+]+) tok\/s.*/\1/' <<<"$line")")
    g+=("$(sed -E 's/.*generation: [0-9]+ tokens, ([0-9.e+]+) tok\/s.*/\1/' <<<"$line")")
  done
  echo "$(printf '%s\n' "${p[@]}" | median) $(printf '%s\n' "${g[@]}" | median)"
}
tiny=""
[ -d "$TINY" ] && tiny=$(run_generate --model "$TINY" --prompt "Once upon a time" --temp 0 -n 128 --ids)

echo
echo "| model | weights | prefill tok/s (p=$P) | % of FMA peak | decode tok/s (n=$N) | % of bandwidth | bandwidth GB/s | FMA peak GFLOP/s |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
while read -r j; do
  echo "| random 110M | $(sed -E 's/.*"weights":"([^"]+)".*/\1/' <<<"$j") | $(json_field prefill_tok_s "$j") |" \
    "$(json_field prefill_pct_peak "$j")% | $(json_field decode_tok_s "$j") | $(json_field decode_pct_bandwidth "$j")% |" \
    "$(json_field bandwidth_gb_s "$j") | $(json_field fma_peak_gflop_s "$j") |"
done <"$DIR/strata-bench.jsonl"
if [ -n "$tiny" ]; then
  read -r tp tg <<<"$tiny"
  echo "| TinyStories-656K, \`generate\` (6-token prompt, 128 new) | f32 | $tp | - | $tg | - | - | - |"
fi

# ---- perplexity of the real TinyStories-656K per weight format (docs/QUANTIZATION.md) ----
if [ -d "$TINY" ] && [ -x "$BUILD/perplexity" ]; then
  para=$(dirname "$0")/../tests/fixtures/quant/paragraph.txt
  echo
  echo "Perplexity of TinyStories-656K on tests/fixtures/quant/paragraph.txt (\`perplexity --file ... [--quant ...]\`):"
  echo
  echo "| weights | perplexity | vs f32 |"
  echo "| --- | ---: | ---: |"
  base=""
  for q in "" "--quant q8" "--quant q4" "--quant q4 --asym" "--quant q4 --group 128" "--quant fp4"; do
    # shellcheck disable=SC2086
    ppl=$("$BUILD/perplexity" --model "$TINY" --file "$para" --threads "$THREADS" $q | cut -d' ' -f2)
    [ -z "$base" ] && base=$ppl
    echo "| ${q:-f32} | $ppl | $(awk -v a="$ppl" -v b="$base" 'BEGIN { printf "%+.2f%%", (a / b - 1) * 100 }') |"
  done
fi

# ---- encoders (issue #5): embedding throughput of random MiniLM-L6- and
# BERT-base-shaped checkpoints (make-model --model-type bert), model time on
# random ids; fixed lengths, and mixed lengths (uniform in [seq/8, seq]) packed
# vs padded to the longest of each batch ----
if [ -x "$BUILD/strata-embed-bench" ]; then
  write_bert() {  # NAME HIDDEN LAYERS HEADS FFN
    local out=$DIR/$1
    if [ ! -f "$out/model.safetensors" ]; then
      echo "run_suite.sh: writing $out" >&2
      rm -rf "$out.tmp"
      "$BUILD/make-model" --out "$out.tmp" --model-type bert --hidden "$2" --layers "$3" --heads "$4" --ffn "$5" \
        --vocab 30522 --max-pos 512 --seed 1 2>/dev/null
      mv "$out.tmp" "$out"
    fi
  }
  write_bert minilm-l6 384 6 12 1536
  write_bert bert-base 768 12 12 3072
  echo
  echo "Encoders (\`strata-embed-bench --model DIR --batch B --seq L --lengths fixed|mixed [--padded] [--compute bf16] --threads $THREADS\`; texts/s and tokens/s count real tokens):"
  echo
  echo "| model | batch | seq | lengths | batching | texts/s | tokens/s | GFLOP/s | % of FMA peak | padding share |"
  echo "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"
  for m in minilm-l6 bert-base; do
    for b in 1 32; do
      for l in 16 128; do
        for mode in "fixed" "fixed --compute bf16" "mixed" "mixed --padded"; do
          [ "$b" = 1 ] && [ "${mode%% *}" != fixed ] && continue  # one text: nothing to pad
          # shellcheck disable=SC2086
          row=$("$BUILD/strata-embed-bench" --model "$DIR/$m" --batch $b --seq $l --lengths $mode \
            --threads "$THREADS" --seconds 3 2>&1)
          awk -F' [|] ' -v m="$m" -v b="$b" -v l="$l" '{
            split($3, seq, " "); split($5, t, " "); split($6, k, " "); split($7, g, " "); split($8, pad, "%");
            batching = $4 (index($1, "bf16 dot") ? ", bf16 dot" : "")
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%% |\n", m, b, l, seq[3], batching, t[1], k[1], g[1], g[4], pad[1] }' <<<"$row"
        done
      done
    done
  done
fi

# ---- encoder matrix work: projections at encoder shapes beside Eigen (and on bf16 dot
# products), attention at 16 to 512 tokens, with the pool's threads ----
if [ -x "$BUILD/strata-matmul-bench" ]; then
  echo
  "$BUILD/strata-matmul-bench" --threads "$THREADS"
fi

# ---- variants (issue #6): one model shape, each variant primitive swapped in ----
if [ -x "$BUILD/strata-variant-bench" ]; then
  echo
  "$BUILD/strata-variant-bench" --threads "$THREADS" --repeats "$REPEATS"
fi

# ---- bounded KV-cache policies: decode tok/s and cache bytes at 1k and 8k context ----
if [ -x "$BUILD/strata-cache-bench" ]; then
  echo
  "$BUILD/strata-cache-bench" --threads "$THREADS" --contexts 1024,8192 2>/dev/null
fi

# ---- FFN variants that skip work: MoE vs dense of equal active parameters (a small model and one
# past the caches), the activation-sparse down projection vs the dense one ----
if [ -x "$BUILD/strata-ffn-bench" ]; then
  echo
  "$BUILD/strata-ffn-bench" --threads "$THREADS" --repeats "$REPEATS" 2>/dev/null
  echo
  "$BUILD/strata-ffn-bench" --threads "$THREADS" --repeats "$REPEATS" --hidden 1024 --layers 8 --ffn 4096 --no-sparse 2>/dev/null
fi

# ---- cross-attention: decode with the cross K/V cached vs recomputed, memories of 64 to 1024 ----
if [ -x "$BUILD/strata-cross-bench" ]; then
  echo
  "$BUILD/strata-cross-bench" --threads "$THREADS" --repeats "$REPEATS" 2>/dev/null
fi

# ---- kernel microbenchmarks: every kernel on every target, single-threaded ----
if [ -x "$BUILD/strata-microbench" ]; then
  echo
  echo "Microbenchmarks (\`strata-microbench --benchmark_min_time=$MIN_TIME\`, one thread; full JSON in $DIR/microbench.json):"
  echo
  echo '```'
  "$BUILD/strata-microbench" --benchmark_min_time="$MIN_TIME" --benchmark_filter="$FILTER" \
    --benchmark_out="$DIR/microbench.json" --benchmark_out_format=json 2>&1
  echo '```'
else
  echo
  echo "($BUILD/strata-microbench not built: Google Benchmark was not found)"
fi
