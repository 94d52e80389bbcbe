#!/usr/bin/env bash
# usage: cli_test.sh GENERATE MAKE_MODEL CUSTOM_MODEL SHARED_DIR FIXTURES_DIR [STRATA_BENCH]
# (STRATA_BENCH is left out when the benchmark suite is not built.)
set -u
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
GEN=$(abs "$1") MAKE=$(abs "$2") CUSTOM=$(abs "$3") SHARED=$(abs "$4") FIX=$(abs "$5")
BENCH=""
[ $# -ge 6 ] && [ -n "$6" ] && BENCH=$(abs "$6")
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
expect_error "missing model dir" "--model /nonexistent: no such directory" -- "$GEN" --model /nonexistent
expect_error "bad STRATA_TARGET" "STRATA_TARGET=bogus: not a target" -- env STRATA_TARGET=bogus "$GEN" --model "$MODEL"
expect_error "bad STRATA_MODEL" "\$STRATA_MODEL=/nonexistent: no such directory" -- env STRATA_MODEL=/nonexistent "$GEN"
(cd "$TMP" && expect_error "no model anywhere" "pass --model DIR, set \$STRATA_MODEL, or provide ../shared/models/tinystories-656k" -- env -u STRATA_MODEL "$GEN") \
  && true
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
  expect_error "bench: quantized" "--quant q4: not supported (supported: f32, bf16, f16)" -- "$BENCH" --model "$TMP/bench" --quant q4
  expect_error "bench: beyond the context" "-p 60 + -n 10 = 70 positions exceed the model's max_position_embeddings (64)" \
    -- "$BENCH" --model "$TMP/bench" -p 60 -n 10
  expect_error "bench: bad STRATA_TARGET" "STRATA_TARGET=bogus: not a target" -- env STRATA_TARGET=bogus "$BENCH" --model "$TMP/bench" -p 8 -n 4
  expect_error "bench: corrupt weights" "model.safetensors" -- "$BENCH" --model "$TMP/broken" -p 4 -n 4
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
