#!/usr/bin/env bash
# usage: cli_test.sh GENERATE MAKE_MODEL CUSTOM_MODEL SHARED_DIR FIXTURES_DIR [STRATA_BENCH [STRATA_LIMITS]]
# (STRATA_BENCH and STRATA_LIMITS are left out when the benchmark suite is not built.)
set -u
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
GEN=$(abs "$1") MAKE=$(abs "$2") CUSTOM=$(abs "$3") SHARED=$(abs "$4") FIX=$(abs "$5")
BENCH="" LIMITS=""
# quantize is built next to make-model (both in the build folder); $QUANTIZE overrides.
QUANT=${QUANTIZE:-$(dirname "$MAKE")/quantize}
[ $# -ge 6 ] && [ -n "$6" ] && BENCH=$(abs "$6")
[ $# -ge 7 ] && [ -n "$7" ] && LIMITS=$(abs "$7")
MODEL=$SHARED/models/tinystories-656k
GOLDEN=$SHARED/golden/tinystories-656k.json
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_error "description" "substring of the message" -- command...
expect_error() {
  local what=$1 want=$2; shift 3
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  local rc=$? lines
  lines=$(wc -l <"$TMP/err")
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then bad "$what: exit status $rc (want 1)"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$what: stderr has $lines lines (want 1): $(cat "$TMP/err")"; return; fi
  if ! grep -qF -- "$want" "$TMP/err"; then bad "$what: stderr '$(cat "$TMP/err")' lacks '$want'"; return; fi
  ok
}

golden_ids=$(python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['greedy_40'], separators=(',',':')))" "$GOLDEN" 2>/dev/null \
  || sed -n 's/.*"greedy_40": *\(\[[0-9, ]*\]\).*/\1/p' "$GOLDEN" | tr -d ' ')

# 1. --ids: the 40 greedy ids of the golden file, as one JSON array.
out=$("$GEN" --model "$MODEL" --prompt "Once upon a time" --temp 0 -n 40 --ids 2>"$TMP/err")
[ "$out" = "$golden_ids" ] && ok || bad "--ids greedy output '$out' != golden '$golden_ids'"
grep -q "prompt: 6 tokens" "$TMP/err" && grep -q "generation: 40 tokens" "$TMP/err" && ok || bad "speed line: $(cat "$TMP/err")"

# 2. streamed text: the prompt, then the golden continuation.
want_text=$(python3 -c "import json,sys; g=json.load(open(sys.argv[1])); print(g['prompt_text'] + g['greedy_40_text'])" "$GOLDEN" 2>/dev/null)
if [ -n "$want_text" ]; then
  out=$("$GEN" --model "$MODEL" --prompt "Once upon a time" --temp 0 -n 40 2>/dev/null)
  [ "$out" = "$want_text" ] && ok || bad "greedy text differs: '$out'"
fi

# 3. --prompt-ids gives the same ids; STRATA_MODEL is honoured.
out=$(STRATA_MODEL="$MODEL" "$GEN" --prompt-ids 1,80,147,201,282,57 --temp 0 -n 40 --ids 2>/dev/null)
[ "$out" = "$golden_ids" ] && ok || bad "--prompt-ids via STRATA_MODEL: '$out'"

# 4. sampling with a seed is reproducible; -n 0 generates nothing.
a=$("$GEN" --model "$MODEL" --seed 7 --temp 1 --top-k 50 --top-p 0.9 --min-p 0.01 --repeat-penalty 1.1 -n 20 --ids 2>/dev/null)
b=$("$GEN" --model "$MODEL" --seed 7 --temp 1 --top-k 50 --top-p 0.9 --min-p 0.01 --repeat-penalty 1.1 -n 20 --ids 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "seeded sampling not reproducible: '$a' vs '$b'"
out=$("$GEN" --model "$MODEL" -n 0 --ids 2>/dev/null)
[ "$out" = "[]" ] && ok || bad "-n 0 printed '$out'"

# 4b. --verbose names the kernel target in use, which STRATA_TARGET can lower.
"$GEN" --model "$MODEL" -n 2 --ids --verbose 2>"$TMP/err" >/dev/null
grep -qE '^cpu: .*; kernels: [a-z0-9.]+ \(compiled for ' "$TMP/err" && ok || bad "--verbose lacks the kernel target: $(cat "$TMP/err")"
if [ "$(uname -m)" = x86_64 ]; then
  STRATA_TARGET=sse2 "$GEN" --model "$MODEL" -n 2 --ids --verbose 2>"$TMP/err" >/dev/null
  grep -q '; kernels: sse2 ' "$TMP/err" && ok || bad "STRATA_TARGET=sse2 not shown by --verbose: $(cat "$TMP/err")"
fi

# 5. --help documents every flag.
help=$("$GEN" --help)
for f in --model --prompt --prompt-ids " -n " --temp --top-k --top-p --min-p --repeat-penalty --seed --threads --ids; do
  grep -qF -- "$f" <<<"$help" && ok || bad "--help lacks $f"
done

# 6. bad flags and bad input: one line, non-zero exit.
expect_error "unknown option" "unknown option '--bogus'" -- "$GEN" --model "$MODEL" --bogus
expect_error "missing value" "missing value after --prompt" -- "$GEN" --model "$MODEL" --prompt
expect_error "negative count" "-n: -1 is out of range" -- "$GEN" --model "$MODEL" -n -1
expect_error "non-numeric count" "-n: 'ten' is not an integer" -- "$GEN" --model "$MODEL" -n ten
expect_error "huge count" "-n: '99999999999999999999999' is out of range" -- "$GEN" --model "$MODEL" -n 99999999999999999999999
expect_error "zero threads" "--threads: 0 is out of range" -- "$GEN" --model "$MODEL" --threads 0
expect_error "absurd threads" "--threads: 100000 is out of range" -- "$GEN" --model "$MODEL" --threads 100000
expect_error "negative temperature" "--temp: -1 is out of range" -- "$GEN" --model "$MODEL" --temp -1
expect_error "NaN temperature" "--temp: 'nan' is not a number" -- "$GEN" --model "$MODEL" --temp nan
expect_error "top-p zero" "--top-p: must be greater than 0" -- "$GEN" --model "$MODEL" --top-p 0
expect_error "min-p above one" "--min-p: 2 is out of range" -- "$GEN" --model "$MODEL" --min-p 2
expect_error "bad prompt ids" "--prompt-ids: 'x' is not an integer" -- "$GEN" --model "$MODEL" --prompt-ids 1,x
expect_error "prompt id outside vocab" "token id 5000 is out of range [0, 2048)" -- "$GEN" --model "$MODEL" --prompt-ids 1,5000
expect_error "both prompts" "cannot be used together" -- "$GEN" --model "$MODEL" --prompt hi --prompt-ids 1
expect_error "bad weights" "--weights: 'q4' is not one of" -- "$GEN" --model "$MODEL" --weights q4
expect_error "bad compute" "--compute: 'f16' is not one of f32, bf16" -- "$GEN" --model "$MODEL" --compute f16
expect_error "bf16 compute with quant" "bf16 compute applies to dense projections" -- "$GEN" --model "$MODEL" --compute bf16 --quant q8
expect_error "bf16 compute with f16 weights" "bf16 compute needs f32 or bf16 weights" -- "$GEN" --model "$MODEL" --compute bf16 --weights f16
expect_error "missing model dir" "--model /nonexistent: no such directory" -- "$GEN" --model /nonexistent
expect_error "bad STRATA_TARGET" "STRATA_TARGET=bogus: not a target" -- env STRATA_TARGET=bogus "$GEN" --model "$MODEL"
expect_error "bad STRATA_MODEL" "\$STRATA_MODEL=/nonexistent: no such directory" -- env STRATA_MODEL=/nonexistent "$GEN"
# (from a folder whose ../shared does not exist; not in a subshell, which would lose the counts)
mkdir -p "$TMP/nowhere/deeper" && pushd "$TMP/nowhere/deeper" >/dev/null
expect_error "no model anywhere" "pass --model DIR, set \$STRATA_MODEL, or provide ../shared/models/tinystories-656k" -- env -u STRATA_MODEL "$GEN"
popd >/dev/null
long_ids=$(python3 -c "print(','.join(['1']*600))" 2>/dev/null || printf '1%.0s,' $(seq 600) | sed 's/,$//')
expect_error "prompt longer than the context" "the prompt is 600 tokens, longer than the model's context of 512" -- "$GEN" --model "$MODEL" --prompt-ids "$long_ids"
mkdir -p "$TMP/broken" && cp "$MODEL/config.json" "$TMP/broken/" && printf 'garbage' >"$TMP/broken/model.safetensors"
expect_error "corrupt weights" "model.safetensors" -- "$GEN" --model "$TMP/broken" --prompt-ids 1

# 7. make-model writes a checkpoint generate can run (no tokenizer: ids only).
"$MAKE" --out "$TMP/tiny" --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 96 --vocab 300 --max-pos 64 --dtype bf16 2>/dev/null \
  && ok || bad "make-model failed"
out=$("$GEN" --model "$TMP/tiny" --prompt-ids 1,2,3 --temp 0 -n 5 --ids 2>/dev/null)
[[ "$out" =~ ^\[[0-9]+(,[0-9]+){4}\]$ ]] && ok || bad "generate on make-model output: '$out'"
expect_error "text without tokenizer" "tokenizer.json: not found" -- "$GEN" --model "$TMP/tiny" --prompt hello
expect_error "make-model bad shape" "must be divisible by --heads" -- "$MAKE" --out "$TMP/x" --hidden 65 --heads 4
expect_error "make-model bad dtype" "--dtype: 'q4' is not one of f32, bf16, f16" -- "$MAKE" --out "$TMP/x" --dtype q4
# 7b. GPT-2 from make-model: generate runs it (learned positions end at --max-pos); make-model refuses what gpt2 lacks.
"$MAKE" --out "$TMP/gpt2" --model-type gpt2 --hidden 64 --layers 2 --heads 4 --ffn 128 --vocab 300 --max-pos 16 2>/dev/null \
  && ok || bad "make-model gpt2 failed"
out=$("$GEN" --model "$TMP/gpt2" --prompt-ids 1,2,3 --temp 0 -n 5 --ids 2>"$TMP/err")
[[ "$out" =~ ^\[[0-9]+(,[0-9]+){4}\]$ ]] && ok || bad "generate on gpt2: '$out' $(cat "$TMP/err")"
out1=$("$GEN" --model "$TMP/gpt2" --prompt-ids 1,2,3 --temp 0 -n 5 --ids --threads 1 2>/dev/null)
[ "$out" = "$out1" ] && ok || bad "gpt2 greedy differs across thread counts: '$out' vs '$out1'"
out=$("$GEN" --model "$TMP/gpt2" --prompt-ids 1,2,3 --temp 0 -n 5 --ids --quant q8 --verbose 2>"$TMP/err")
[[ "$out" =~ ^\[[0-9]+(,[0-9]+){4}\]$ ]] && grep -q "gpt2<f32, q8 g32>" "$TMP/err" && ok || bad "gpt2 --quant q8 (fused Conv1D quantized at load): '$out' $(cat "$TMP/err")"
expect_error "gpt2 prompt over its positions" "longer than the model's context of 16 positions" -- "$GEN" --model "$TMP/gpt2" --prompt-ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17 -n 1
# 7b'. Qwen3 (QK-norm), Gemma ((1 + w) norms, GeGLU-tanh, scaled embeddings) and Mixtral (8 experts,
# top-2) from make-model: generate runs them.
for mt in qwen3 gemma mixtral; do
  "$MAKE" --out "$TMP/$mt" --model-type $mt --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 300 --max-pos 32 2>/dev/null \
    && ok || bad "make-model $mt failed"
  out=$("$GEN" --model "$TMP/$mt" --prompt-ids 1,2,3 --temp 0 -n 5 --ids --verbose 2>"$TMP/err")
  [[ "$out" =~ ^\[[0-9]+(,[0-9]+){4}\]$ ]] && grep -q "$mt<f32>" "$TMP/err" && ok || bad "generate on $mt: '$out' $(cat "$TMP/err")"
done
expect_error "make-model gemma --tied" "--tied: gemma is always tied" -- "$MAKE" --out "$TMP/x" --model-type gemma --tied
out=$("$GEN" --model "$TMP/mixtral" --prompt-ids 1,2,3 --temp 0 -n 5 --ids --quant q8 --verbose 2>"$TMP/err")
[[ "$out" =~ ^\[[0-9]+(,[0-9]+){4}\]$ ]] && grep -q "mixtral<f32, q8 g32>" "$TMP/err" && ok || bad "mixtral --quant q8: '$out' $(cat "$TMP/err")"
expect_error "make-model --experts on llama" "only mixtral has experts" -- "$MAKE" --out "$TMP/x" --experts 4
expect_error "make-model top-k over experts" "--experts-per-token (5) exceeds --experts (4)" -- "$MAKE" --out "$TMP/x" --model-type mixtral --experts 4 --experts-per-token 5
# 7c. GPT-2 with a byte-level BPE tokenizer (tests/fixtures/tokenizer/gpt2-bytelevel.json): text in,
# streamed text out that starts with the prompt and is valid UTF-8 (multi-byte characters are not split).
"$MAKE" --out "$TMP/gpt2bl" --model-type gpt2 --hidden 64 --layers 2 --heads 4 --ffn 128 --vocab 757 --max-pos 64 2>/dev/null \
  && cp "$FIX/tokenizer/gpt2-bytelevel.json" "$TMP/gpt2bl/tokenizer.json" && ok || bad "make-model gpt2 (vocab 757)"
out=$("$GEN" --model "$TMP/gpt2bl" --prompt "Hello wörld, naïve café 🙂" --temp 0 -n 24 2>"$TMP/err")
[[ "$out" == "Hello wörld, naïve café 🙂"* ]] && ok || bad "gpt2 byte-level text does not start with the prompt: '$out' $(cat "$TMP/err")"
printf '%s' "$out" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 && ok || bad "gpt2 byte-level output is not valid UTF-8"
expect_error "make-model gpt2 kv heads" "--kv-heads: gpt2 has one KV head per head" -- "$MAKE" --out "$TMP/x" --model-type gpt2 --hidden 64 --heads 4 --kv-heads 2
expect_error "make-model labels on llama" "--labels: only bert" -- "$MAKE" --out "$TMP/x" --labels 3
expect_error "make-model bad type" "--model-type: 'gpt3' is not one of" -- "$MAKE" --out "$TMP/x" --model-type gpt3
"$MAKE" --out "$TMP/tiny16" --hidden 64 --layers 2 --heads 4 --ffn 96 --vocab 300 --max-pos 64 --dtype f16 2>/dev/null \
  && grep -q '"torch_dtype": "float16"' "$TMP/tiny16/config.json" && ok || bad "make-model --dtype f16"
out=$("$GEN" --model "$TMP/tiny16" --prompt-ids 1,2,3 --temp 0 -n 5 --ids 2>/dev/null)
[[ "$out" =~ ^\[[0-9]+(,[0-9]+){4}\]$ ]] && ok || bad "generate on an f16 make-model checkpoint: '$out'"

# 8. the custom composition example runs on a fixture checkpoint.
out=$("$CUSTOM" --model "$FIX/llama/gqa_tied" --prompt-ids 1,5,9 -n 4 2>&1)
[[ "$out" =~ ^interleaved-window\<f32\>:( [0-9]+){4}$ ]] && ok || bad "custom_model output '$out'"

# 9. strata-bench: timings and limits on a make-model checkpoint, as a table
# or one JSON line; every bad flag is one line and exit 1.
if [ -n "$BENCH" ]; then
  "$MAKE" --out "$TMP/bench" --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 96 --vocab 320 --max-pos 64 2>/dev/null \
    && ok || bad "make-model (f32) failed"
  out=$("$BENCH" --model "$TMP/bench" -p 8 -n 4 --threads 1 --repeats 1 --json 2>"$TMP/err")
  rc=$?
  lines=$(printf '%s\n' "$out" | wc -l)
  if [ "$rc" -ne 0 ] || [ "$lines" -ne 1 ]; then
    bad "strata-bench --json: exit $rc, $lines stdout lines: $out $(cat "$TMP/err")"
  elif command -v python3 >/dev/null; then
    python3 - "$out" <<'PY' && ok || bad "strata-bench --json line: $out"
import json, sys
j = json.loads(sys.argv[1])
keys = ["model", "weights", "target", "threads", "p", "n", "repeats", "prefill_tok_s", "decode_tok_s",
        "bandwidth_gb_s", "fma_peak_gflop_s", "decode_pct_bandwidth", "prefill_pct_peak", "bytes_per_token",
        "prefill_flops"]
missing = [k for k in keys if k not in j]
assert not missing, missing
assert j["p"] == 8 and j["n"] == 4 and j["threads"] == 1 and j["repeats"] == 1 and j["weights"] == "f32"
assert all(j[k] > 0 for k in ["prefill_tok_s", "decode_tok_s", "bandwidth_gb_s", "fma_peak_gflop_s"])
# hidden 64, 2 layers, 4 heads (head_dim 16) / 2 kv heads, ffn 96, vocab 320, untied:
# projections 2 x (64*64 + 2*64*32 + 64*64 + 3*64*96) = 61440 parameters; the prefill of 8 tokens
# is 2*61440*8 + 2 layers * 4*16*4*(1+...+8) + 2*320*64 FLOPs; per token, f32: projections,
# LM head, 5 norms and one embedding row.
assert j["prefill_flops"] == 2 * 61440 * 8 + 2 * 4 * 16 * 4 * 36 + 2 * 320 * 64, j["prefill_flops"]
assert j["bytes_per_token"] == 4 * (61440 + 320 * 64 + 5 * 64 + 64), j["bytes_per_token"]
PY
  else
    grep -q '"prefill_tok_s":' <<<"$out" && grep -q '"decode_tok_s":' <<<"$out" && ok || bad "strata-bench --json: $out"
  fi
  out=$("$BENCH" --model "$TMP/tiny16" -p 5 -n 3 --threads 2 --repeats 2 --quant f16 2>/dev/null)
  grep -q '| pp5 |' <<<"$out" && grep -q '| tg3 |' <<<"$out" && grep -q '% of bandwidth' <<<"$out" \
    && grep -q '^  kernels ' <<<"$out" && ok || bad "strata-bench table: $out"
  help=$("$BENCH" --help)
  for f in --model " -p " " -n " --threads --quant --repeats --json; do
    grep -qF -- "$f" <<<"$help" && ok || bad "strata-bench --help lacks $f"
  done
  expect_error "bench: no model" "--model DIR is required" -- "$BENCH" -p 8
  expect_error "bench: missing model dir" "--model /nonexistent: no such directory" -- "$BENCH" --model /nonexistent
  expect_error "bench: unknown option" "unknown option '--bogus'" -- "$BENCH" --model "$TMP/bench" --bogus
  expect_error "bench: missing value" "missing value after --quant" -- "$BENCH" --model "$TMP/bench" --quant
  expect_error "bench: zero prompt" "-p: 0 is out of range" -- "$BENCH" --model "$TMP/bench" -p 0
  expect_error "bench: negative steps" "-n: -1 is out of range" -- "$BENCH" --model "$TMP/bench" -n -1
  expect_error "bench: huge prompt" "-p: '99999999999999999999999' is out of range" -- "$BENCH" --model "$TMP/bench" -p 99999999999999999999999
  expect_error "bench: zero repeats" "--repeats: 0 is out of range" -- "$BENCH" --model "$TMP/bench" --repeats 0
  expect_error "bench: zero threads" "--threads: 0 is out of range" -- "$BENCH" --model "$TMP/bench" --threads 0
  expect_error "bench: unknown weight type" "--quant q3: not supported (supported: f32, bf16, f16, q8, q4, fp4)" -- "$BENCH" --model "$TMP/bench" --quant q3
  expect_error "bench: beyond the context" "-p 60 + -n 10 = 70 positions exceed the model's max_position_embeddings (64)" \
    -- "$BENCH" --model "$TMP/bench" -p 60 -n 10
  expect_error "bench: bad STRATA_TARGET" "STRATA_TARGET=bogus: not a target" -- env STRATA_TARGET=bogus "$BENCH" --model "$TMP/bench" -p 8 -n 4
  expect_error "bench: corrupt weights" "model.safetensors" -- "$BENCH" --model "$TMP/broken" -p 4 -n 4
fi

# 9b. quantize writes a checkpoint that generate loads quantized without --quant,
# giving the ids quantizing at load gives; the tokenizer and config come along.
if "$QUANT" --model "$MODEL" --out "$TMP/q4" --type q4 --group 64 2>"$TMP/err" >/dev/null; then
  ok
  grep -qE '^quantize: wrote .*q4 g64 \(4\.50 bits per weight\).* MB in, .* MB out$' "$TMP/err" && ok \
    || bad "quantize summary line: $(cat "$TMP/err")"
  a=$("$GEN" --model "$TMP/q4" --prompt "Once upon a time" --temp 0 -n 20 --ids 2>/dev/null)
  b=$("$GEN" --model "$MODEL" --quant q4 --group 64 --prompt "Once upon a time" --temp 0 -n 20 --ids 2>/dev/null)
  [ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "quantized offline '$a' != quantized at load '$b'"
  cmp -s "$MODEL/tokenizer.json" "$TMP/q4/tokenizer.json" && cmp -s "$MODEL/config.json" "$TMP/q4/config.json" \
    && ok || bad "quantize did not copy tokenizer.json / config.json unchanged"
else
  bad "quantize failed: $(cat "$TMP/err")"
fi
"$QUANT" --model "$MODEL" --out "$TMP/q4" --type q8 --keep down_proj,o_proj --force 2>/dev/null >/dev/null \
  && [ ! -e "$TMP/q4/.model.safetensors.partial" ] && ok || bad "quantize --force over an earlier output"
help=$("$QUANT" --help)
for f in --model --out --type --group --asym --quant-head --keep --force; do
  grep -qF -- "$f" <<<"$help" && ok || bad "quantize --help lacks $f"
done
mkdir -p "$TMP/notamodel" "$TMP/gptq"
sed '1a\  "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128},' "$MODEL/config.json" >"$TMP/gptq/config.json"

# 10. Bad flags, tool by tool, from one table: each row is
#   TOOL | what | a substring of the one-line error | the flags (shell words; '' is an empty string)
# and is run as TOOL FLAGS (the flags are eval'd, so $MODEL, $FIX, $TMP and
# $HUGE can be used; rows that get past flag parsing name a small valid model
# or folder, so that the one bad value is the only fault). Every row must give
# exactly one line on stderr containing the substring, and an exit status of
# 1 or 2 (never 0, never a signal): strata-limits reports flag errors with
# status 2, the others with 1. Rows for strata-bench and strata-limits run
# only when those tools are built.
HUGE=99999999999999999999
touch "$TMP/a-file"
trim() { sed -e 's/^ *//' -e 's/ *$//' <<<"$1"; }
run_table() {
  local tool what want flags bin
  local -a argv
  while IFS='|' read -r tool what want flags; do
    tool=$(trim "$tool") what=$(trim "$what") want=$(trim "$want")
    [ -z "$tool" ] && continue
    case "$tool" in
      '#'*) continue ;;
      generate) bin=$GEN ;;
      make-model) bin=$MAKE ;;
      custom_model) bin=$CUSTOM ;;
      strata-bench) bin=$BENCH ;;
      strata-limits) bin=$LIMITS ;;
      quantize) bin=$QUANT ;;
      *) bad "table: unknown tool '$tool'"; continue ;;
    esac
    [ -z "$bin" ] && continue
    eval "argv=($flags)"
    expect_error "$tool: $what" "$want" -- "$bin" "${argv[@]}"
  done
}
run_table <<'TABLE'
# unknown options and stray words
generate      | unknown option            | unknown option '--bogus'                 | --bogus
generate      | lone dash                 | unknown option '-'                       | -
generate      | stray word                | unknown option 'hello'                   | hello
generate      | single-dash long option   | unknown option '-model'                  | -model x
make-model    | unknown option            | unknown option '--bogus'                 | --bogus
custom_model  | unknown option            | unknown option '--bogus'                 | --bogus
strata-bench  | unknown option            | unknown option '--bogus'                 | --bogus
strata-limits | unknown option            | unknown option '--bogus'                 | --bogus
strata-limits | stray word                | unknown option 'hello'                   | hello
# missing values (the flag is the last word)
generate      | missing value --model     | missing value after --model              | --model
generate      | missing value --prompt-ids| missing value after --prompt-ids         | --prompt-ids
generate      | missing value -n          | missing value after -n                   | -n
generate      | missing value --temp      | missing value after --temp               | --temp
generate      | missing value --top-k     | missing value after --top-k              | --top-k
generate      | missing value --top-p     | missing value after --top-p              | --top-p
generate      | missing value --min-p     | missing value after --min-p              | --min-p
generate      | missing value --repeat-penalty | missing value after --repeat-penalty | --repeat-penalty
generate      | missing value --seed      | missing value after --seed               | --seed
generate      | missing value --threads   | missing value after --threads            | --threads
generate      | missing value --weights   | missing value after --weights            | --weights
make-model    | missing value --out       | missing value after --out                | --out
make-model    | missing value --hidden    | missing value after --hidden             | --hidden
make-model    | missing value --layers    | missing value after --layers             | --layers
make-model    | missing value --heads     | missing value after --heads              | --heads
make-model    | missing value --kv-heads  | missing value after --kv-heads           | --kv-heads
make-model    | missing value --ffn       | missing value after --ffn                | --ffn
make-model    | missing value --vocab     | missing value after --vocab              | --vocab
make-model    | missing value --max-pos   | missing value after --max-pos            | --max-pos
make-model    | missing value --dtype     | missing value after --dtype              | --dtype
make-model    | missing value --model-type| missing value after --model-type         | --model-type
make-model    | missing value --seed      | missing value after --seed               | --seed
custom_model  | missing value --model     | missing value after --model              | --model
custom_model  | missing value --prompt-ids| missing value after --prompt-ids         | --prompt-ids
custom_model  | missing value -n          | missing value after -n                   | -n
strata-bench  | missing value --model     | missing value after --model              | --model
strata-bench  | missing value -p          | missing value after -p                   | -p
strata-bench  | missing value -n          | missing value after -n                   | -n
strata-bench  | missing value --threads   | missing value after --threads            | --threads
strata-bench  | missing value --repeats   | missing value after --repeats            | --repeats
strata-limits | missing value --threads   | --threads: missing value                 | --threads
strata-limits | missing value --bytes     | --bytes: missing value                   | --bytes
strata-limits | missing value --repeats   | --repeats: missing value                 | --repeats
# negative counts and values
generate      | negative top-k            | --top-k: -1 is out of range              | --top-k -1
generate      | negative seed             | --seed: -1 is out of range               | --seed -1
generate      | negative threads          | --threads: -2 is out of range            | --threads -2
generate      | negative top-p            | --top-p: -0.5 is out of range            | --top-p -0.5
generate      | negative min-p            | --min-p: -0.1 is out of range            | --min-p -0.1
generate      | negative repeat penalty   | --repeat-penalty: -1 is out of range     | --repeat-penalty -1
generate      | negative prompt id        | --prompt-ids: -1 is out of range         | --model "$MODEL" --prompt-ids 1,-1
make-model    | negative hidden           | --hidden: -64 is out of range            | --hidden -64
make-model    | negative layers           | --layers: -1 is out of range             | --layers -1
make-model    | negative seed             | --seed: -1 is out of range               | --seed -1
custom_model  | negative count            | -n: -1 is out of range                   | -n -1
custom_model  | negative prompt id        | --prompt-ids: -5 is out of range         | --prompt-ids -5
strata-bench  | negative prompt           | -p: -1 is out of range                   | -p -1
strata-bench  | negative threads          | --threads: -1 is out of range            | --threads -1
strata-bench  | negative repeats          | --repeats: -3 is out of range            | --repeats -3
strata-limits | negative threads          | --threads: -1 is out of range            | --threads -1
strata-limits | negative bytes            | --bytes: -1M is out of range             | --bytes -1M
# zero where it is invalid
generate      | zero repeat penalty       | --repeat-penalty: 0 is out of range      | --repeat-penalty 0
make-model    | zero hidden               | --hidden: 0 is out of range              | --hidden 0
make-model    | zero layers               | --layers: 0 is out of range              | --layers 0
make-model    | zero heads                | --heads: 0 is out of range               | --heads 0
make-model    | zero kv heads             | --kv-heads: 0 is out of range            | --kv-heads 0
make-model    | zero ffn                  | --ffn: 0 is out of range                 | --ffn 0
make-model    | zero vocab                | --vocab: 0 is out of range               | --vocab 0
make-model    | zero max-pos              | --max-pos: 0 is out of range             | --max-pos 0
strata-bench  | zero decode steps         | -n: 0 is out of range                    | -n 0
strata-bench  | zero threads              | --threads: 0 is out of range             | --threads 0
strata-limits | zero threads              | --threads: 0 is out of range             | --threads 0
strata-limits | zero repeats              | --repeats: 0 is out of range             | --repeats 0
strata-limits | zero bytes                | --bytes: 0 is out of range               | --bytes 0
# huge numbers
generate      | huge top-k                | --top-k: '99999999999999999999' is out of range | --top-k $HUGE
generate      | huge seed                 | --seed: '99999999999999999999' is out of range  | --seed $HUGE
generate      | huge threads              | --threads: '99999999999999999999' is out of range | --threads $HUGE
generate      | huge temperature          | --temp: '1e400' is out of range          | --temp 1e400
generate      | temperature above range   | --temp: 1000 is out of range             | --temp 1000
generate      | huge prompt id            | --prompt-ids: 99999999999 is out of range | --model "$MODEL" --prompt-ids 1,99999999999
generate      | prompt id above int32     | --prompt-ids: 2147483648 is out of range | --model "$MODEL" --prompt-ids 2147483648
generate      | id beyond 64 bits         | --prompt-ids: '99999999999999999999' is out of range | --model "$MODEL" --prompt-ids $HUGE
make-model    | huge hidden               | --hidden: '99999999999999999999' is out of range | --hidden $HUGE
make-model    | huge vocab                | --vocab: 99999999999 is out of range     | --vocab 99999999999
make-model    | too many layers           | --layers: 1025 is out of range           | --layers 1025
make-model    | tensor larger than memory | more than this machine's memory          | --out "$TMP/mm" --hidden 65536 --heads 512 --vocab 4194304 --layers 1
custom_model  | huge count                | -n: '99999999999999999999' is out of range | -n $HUGE
custom_model  | count beyond the context  | KV cache capacity 1048578 is out of range [1, 128] | --model "$FIX/llama/gqa_tied" -n 1048576
strata-bench  | huge threads              | --threads: '99999999999999999999' is out of range | --threads $HUGE
strata-bench  | huge decode steps         | -n: '99999999999999999999' is out of range | -n $HUGE
strata-bench  | too many repeats          | --repeats: 1001 is out of range          | --repeats 1001
strata-limits | huge threads              | --threads: 99999999999999999999 is out of range | --threads $HUGE
strata-limits | huge bytes                | --bytes: 99999999999999999999 is out of range   | --bytes $HUGE
strata-limits | bytes above 64 GiB        | --bytes: 65G is out of range             | --bytes 65G
strata-limits | bytes below 1 MiB         | --bytes: 100 is out of range             | --bytes 100
strata-limits | too many repeats          | --repeats: 1001 is out of range          | --repeats 1001
# not numbers
generate      | non-numeric top-k         | --top-k: 'many' is not an integer        | --top-k many
generate      | fractional seed           | --seed: '1.5' is not an integer          | --seed 1.5
generate      | hex count                 | -n: '0x10' is not an integer             | -n 0x10
generate      | count with a space        | -n: ' 5' is not an integer               | -n ' 5'
generate      | count with a plus sign    | -n: '+5' is not an integer               | -n +5
generate      | word temperature          | --temp: 'hot' is not a number            | --temp hot
generate      | infinite temperature      | --temp: 'inf' is not a number            | --temp inf
generate      | top-p with trailing junk  | --top-p: '0.5x' is not a number          | --top-p 0.5x
generate      | empty id in the list      | --prompt-ids: '' is not an integer       | --model "$MODEL" --prompt-ids 1,,2
generate      | trailing comma in the list| --prompt-ids: '' is not an integer       | --model "$MODEL" --prompt-ids 1,2,
make-model    | fractional hidden         | --hidden: '64.5' is not an integer       | --hidden 64.5
make-model    | word layers               | --layers: 'two' is not an integer        | --layers two
custom_model  | word count                | -n: 'x' is not an integer                | -n x
custom_model  | bad prompt ids            | --prompt-ids: 'a' is not an integer      | --prompt-ids 1,a
strata-bench  | word prompt               | -p: 'x' is not an integer                | -p x
strata-bench  | fractional repeats        | --repeats: '1.5' is not an integer       | --repeats 1.5
strata-limits | word threads              | --threads: expected an integer, got 'x'  | --threads x
strata-limits | bad byte suffix           | --bytes: expected a byte count           | --bytes 1X
strata-limits | fractional repeats        | --repeats: expected an integer, got '1.5'| --repeats 1.5
# empty strings
generate      | empty model path          | --model: empty path                      | --model ''
generate      | empty count               | -n: '' is not an integer                 | -n ''
generate      | empty temperature         | --temp: '' is not a number               | --temp ''
generate      | empty prompt ids          | --prompt-ids: empty list                 | --model "$MODEL" --prompt-ids ''
generate      | empty weights             | --weights: '' is not one of f32, bf16, f16 | --weights ''
make-model    | empty out                 | --out DIR is required                    | --out ''
make-model    | empty dtype               | --dtype: '' is not one of f32, bf16, f16 | --dtype ''
make-model    | empty model type          | --model-type: '' is not one of llama, mistral, mixtral, qwen2 | --model-type ''
custom_model  | empty model               | --model DIR is required                  | --model ''
custom_model  | empty prompt ids          | --prompt-ids: empty list                 | --prompt-ids ''
strata-bench  | empty model               | --model: empty path                      | --model ''
strata-bench  | empty quant               | --quant : not supported                  | --quant ''
strata-limits | empty threads             | --threads: expected an integer, got ''   | --threads ''
strata-limits | empty inline bytes        | --bytes: expected a byte count           | --bytes=
# the same option twice (conflicting or not): refused, never silently overridden
generate      | repeated model            | option '--model' is given more than once | --model /tmp --model /tmp
generate      | conflicting threads       | option '--threads' is given more than once | --threads 1 --threads 2
generate      | conflicting weights       | option '--weights' is given more than once | --weights f32 --weights bf16
generate      | conflicting compute       | option '--compute' is given more than once | --compute f32 --compute bf16
generate      | conflicting temperatures  | option '--temp' is given more than once  | --temp 0 --temp 1
generate      | repeated switch           | option '--ids' is given more than once   | --ids --ids
generate      | prompt and prompt ids     | cannot be used together                  | --prompt hi --prompt-ids 1
make-model    | conflicting dtypes        | option '--dtype' is given more than once | --dtype f32 --dtype bf16
make-model    | repeated out              | option '--out' is given more than once   | --out "$TMP/mm" --out "$TMP/other"
custom_model  | conflicting counts        | option '-n' is given more than once      | -n 1 -n 2
strata-bench  | conflicting quant         | option '--quant' is given more than once | --quant f32 --quant bf16
strata-bench  | conflicting prompts       | option '-p' is given more than once      | -p 4 -p 8
strata-limits | conflicting threads       | option '--threads' is given more than once | --threads 1 --threads=2
strata-limits | repeated json             | option '--json' is given more than once  | --json --json
strata-limits | switch with a value       | --json: takes no value                   | --json=1
# values the tool cannot use
generate      | weights type              | --weights: 'q4' is not one of            | --weights q4
generate      | model folder is a file    | a-file: no such directory                | --model "$TMP/a-file"
generate      | id outside the vocabulary | token id 2048 is out of range [0, 2048)  | --model "$MODEL" --prompt-ids 2048
make-model    | no output folder          | --out DIR is required                    | --hidden 64
make-model    | heads not dividing hidden | must be divisible by --heads             | --out "$TMP/mm" --hidden 65 --heads 4
make-model    | kv heads not dividing heads | --heads must be a multiple of --kv-heads | --out "$TMP/mm" --heads 4 --kv-heads 3
make-model    | odd head dim              | must be even                             | --out "$TMP/mm" --hidden 12 --heads 4
make-model    | out is a file             | a-file                                   | --out "$TMP/a-file" --hidden 8 --heads 2 --layers 1 --ffn 8 --vocab 16 --max-pos 8
make-model    | model type                | --model-type: 't5' is not one of         | --model-type t5
custom_model  | no model                  | --model DIR is required                  | -n 2
custom_model  | no such folder            | config.json: not found                   | --model /nonexistent
custom_model  | id outside the vocabulary | token id 64 is out of range [0, 64)      | --model "$FIX/llama/gqa_tied" --prompt-ids 64
strata-bench  | no such folder            | --model /nonexistent: no such directory  | --model /nonexistent
strata-bench  | quant type                | --quant q3: not supported                | --quant q3
# quantize ($TMP/q4 is a quantized output of section 9b; rows fail before --out is created)
quantize      | unknown option            | unknown option '--bogus'                 | --bogus
quantize      | --quant for --type        | unknown option '--quant'                 | --quant q4
quantize      | missing value --type      | missing value after --type               | --type
quantize      | missing value --keep      | missing value after --keep               | --keep
quantize      | no model                  | --model DIR is required                  | --out "$TMP/qx" --type q4
quantize      | no output folder          | --out DIR2 is required                   | --model "$MODEL" --type q4
quantize      | no type                   | fp4 is required                          | --model "$MODEL" --out "$TMP/qx"
quantize      | bad type                  | --type: 'q3' is not one of q8, q4, fp4   | --model "$MODEL" --out "$TMP/qx" --type q3
quantize      | empty type                | --type: '' is not one of q8, q4, fp4     | --type ''
quantize      | bad group                 | --group: 48 is not one of 32, 64, 128    | --model "$MODEL" --out "$TMP/qx" --type q4 --group 48
quantize      | zero group                | --group: 0 is out of range               | --group 0
quantize      | word group                | --group: 'big' is not an integer         | --group big
quantize      | q8 with group 64          | --group: q8 uses groups of 32, not 64    | --model "$MODEL" --out "$TMP/qx" --type q8 --group 64
quantize      | asym with q8              | --asym: only q4 has an asymmetric variant | --model "$MODEL" --out "$TMP/qx" --type q8 --asym
quantize      | asym with fp4             | --asym: only q4 has an asymmetric variant | --model "$MODEL" --out "$TMP/qx" --type fp4 --asym
quantize      | empty keep name           | --keep: empty module name                | --keep down_proj,,o_proj
quantize      | empty model path          | --model: empty path                      | --model ''
quantize      | empty out path            | --out: empty path                        | --out ''
quantize      | repeated type             | option '--type' is given more than once  | --type q4 --type q8
quantize      | out is the model          | is the --model folder                    | --model "$TMP/q4" --out "$TMP/q4/." --type q8
quantize      | out not empty             | the folder is not empty                  | --model "$MODEL" --out "$TMP/q4" --type q4
quantize      | out is a file             | a-file: exists and is not a directory    | --model "$MODEL" --out "$TMP/a-file" --type q4
quantize      | no such model folder      | --model /nonexistent: no such directory  | --model /nonexistent --out "$TMP/qx" --type q4
quantize      | not a model folder        | config.json: not found                   | --model "$TMP/notamodel" --out "$TMP/qx" --type q4
quantize      | already quantized (strata)| the checkpoint is already quantized (q8 g32 | --model "$TMP/q4" --out "$TMP/qx" --type q4
quantize      | already quantized (GPTQ)  | the checkpoint is already quantized (gptq q4 asym g128 | --model "$TMP/gptq" --out "$TMP/qx" --type q4
TABLE

[ ! -e "$TMP/qx" ] && ok || bad "a failed quantize created its --out folder"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
