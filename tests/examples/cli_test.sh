#!/usr/bin/env bash
# usage: cli_test.sh GENERATE MAKE_MODEL CUSTOM_MODEL SHARED_DIR FIXTURES_DIR
set -u
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
GEN=$(abs "$1") MAKE=$(abs "$2") CUSTOM=$(abs "$3") SHARED=$(abs "$4") FIX=$(abs "$5")
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
expect_error "bad STRATA_MODEL" "\$STRATA_MODEL=/nonexistent: no such directory" -- env STRATA_MODEL=/nonexistent "$GEN"
(cd "$TMP" && expect_error "no model anywhere" "pass --model DIR, set \$STRATA_MODEL, or provide ../shared/models/tinystories-656k" -- env -u STRATA_MODEL "$GEN") \
  && true
long_ids=$(python3 -c "print(','.join(['1']*600))" 2>/dev/null || printf '1%.0s,' $(seq 600) | sed 's/,$//')
expect_error "prompt longer than the context" "the prompt is 600 tokens, longer than the model's context of 512" -- "$GEN" --model "$MODEL" --prompt-ids "$long_ids"
mkdir -p "$TMP/broken" && cp "$MODEL/config.json" "$TMP/broken/" && printf 'garbage' >"$TMP/broken/model.safetensors"
expect_error "corrupt weights" "model.safetensors" -- "$GEN" --model "$TMP/broken" --prompt-ids 1

# 7. make_model writes a checkpoint generate can run (no tokenizer: ids only).
"$MAKE" --out "$TMP/tiny" --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 96 --vocab 300 --max-pos 64 --dtype bf16 2>/dev/null \
  && ok || bad "make_model failed"
out=$("$GEN" --model "$TMP/tiny" --prompt-ids 1,2,3 --temp 0 -n 5 --ids 2>/dev/null)
[[ "$out" =~ ^\[[0-9]+(,[0-9]+){4}\]$ ]] && ok || bad "generate on make_model output: '$out'"
expect_error "text without tokenizer" "tokenizer.json: not found" -- "$GEN" --model "$TMP/tiny" --prompt hello
expect_error "make_model bad shape" "must be divisible by --heads" -- "$MAKE" --out "$TMP/x" --hidden 65 --heads 4

# 8. the custom composition example runs on a fixture checkpoint.
out=$("$CUSTOM" --model "$FIX/llama/gqa_tied" --prompt-ids 1,5,9 -n 4 2>&1)
[[ "$out" =~ ^interleaved-window\<f32\>:( [0-9]+){4}$ ]] && ok || bad "custom_model output '$out'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
