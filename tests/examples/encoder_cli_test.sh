#!/usr/bin/env bash
# End-to-end tests of the encoder tools on random BERT checkpoints written by
# make-model (with its WordPiece tokenizer): embed's and classify's output
# format, that packed, padded and batch-1 runs give the same vectors, pairs,
# truncation, and a one-line error with a non-zero exit for each bad input.
# usage: encoder_cli_test.sh EMBED CLASSIFY MAKE_MODEL FIXTURES_DIR [EMBED_BENCH]
set -u
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
EMBED=$(abs "$1") CLASSIFY=$(abs "$2") MAKE=$(abs "$3") FIX=$(abs "$4")
EBENCH=""
[ $# -ge 5 ] && [ -n "$5" ] && EBENCH=$(abs "$5")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_error "description" "substring of the message" -- command... (stdin from $TMP/in if present)
expect_error() {
  local what=$1 want=$2; shift 3
  "$@" >"$TMP/out" 2>"$TMP/err" <"${STDIN:-/dev/null}"
  local rc=$? lines
  lines=$(wc -l <"$TMP/err")
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then bad "$what: exit status $rc (want 1)"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$what: stderr has $lines lines (want 1): $(cat "$TMP/err")"; return; fi
  if ! grep -qF -- "$want" "$TMP/err"; then bad "$what: stderr '$(cat "$TMP/err")' lacks '$want'"; return; fi
  ok
}

# Largest absolute difference between the numbers of two files of JSON arrays (same shape).
max_diff() {
  paste -d'|' "$1" "$2" | awk -F'|' '{ gsub(/[\[\]]/, "", $1); gsub(/[\[\]]/, "", $2);
    n = split($1, a, ","); m = split($2, b, ","); if (n != m) { print "shape"; exit }
    for (i = 1; i <= n; i++) { d = a[i] - b[i]; if (d < 0) d = -d; if (d > w) w = d } } END { printf "%.3g\n", w + 0 }'
}

BERT=$TMP/bert CLS=$TMP/bert-cls GPT2=$TMP/gpt2
"$MAKE" --out "$BERT" --model-type bert --hidden 64 --layers 2 --heads 4 --ffn 128 --vocab 300 --max-pos 40 2>/dev/null || bad "make-model bert"
"$MAKE" --out "$CLS" --model-type bert --labels 3 --hidden 64 --layers 2 --heads 4 --ffn 128 --vocab 300 --max-pos 40 2>/dev/null || bad "make-model bert --labels"
"$MAKE" --out "$GPT2" --model-type gpt2 --hidden 64 --layers 1 --heads 4 --ffn 128 --vocab 300 --max-pos 40 2>/dev/null || bad "make-model gpt2"

printf '%s\n' "Hello, world!" "a" "The quick brown fox jumps over the lazy dog." "" "Zürich café, naïve résumé" \
  "numbers 1234 and symbols #@!" "x y z" >"$TMP/texts"

# 1. one JSON array of 64 floats per input line, in order; throughput on stderr.
"$EMBED" --model "$BERT" --threads 2 <"$TMP/texts" >"$TMP/e_packed" 2>"$TMP/err"
[ "$(wc -l <"$TMP/e_packed")" -eq 7 ] && ok || bad "embed printed $(wc -l <"$TMP/e_packed") lines for 7 texts"
awk -F, '!/^\[.*\]$/ || NF != 64 { bad = 1 } END { exit bad }' "$TMP/e_packed" && ok || bad "embed lines are not arrays of 64 floats: $(head -c 200 "$TMP/e_packed")"
grep -q "embedded 7 texts (.* tokens) in .* s: .* texts/s, .* tokens/s \[bert<f32>, 2 threads, packed batches\]" "$TMP/err" && ok || bad "throughput line: $(cat "$TMP/err")"

# 2. packed, padded and one text per batch give the same vectors.
"$EMBED" --model "$BERT" --threads 2 --padded <"$TMP/texts" >"$TMP/e_padded" 2>/dev/null
"$EMBED" --model "$BERT" --threads 1 --batch 1 <"$TMP/texts" >"$TMP/e_single" 2>/dev/null
d=$(max_diff "$TMP/e_packed" "$TMP/e_padded"); awk "BEGIN { exit !($d < 1e-5) }" && ok || bad "packed vs padded differ by $d"
d=$(max_diff "$TMP/e_packed" "$TMP/e_single"); awk "BEGIN { exit !($d < 1e-5) }" && ok || bad "packed vs batch 1 differ by $d"

# 3. --normalize gives unit vectors; --pooling cls/max differ from mean.
# --compute bf16: bf16 dot products; the vectors stay close to f32's (inputs and weights rounded to bf16).
"$EMBED" --model "$BERT" --threads 2 --compute bf16 <"$TMP/texts" >"$TMP/e_bf16" 2>"$TMP/err"
grep -q "\[bert<bf16, bf16 dot>, 2 threads" "$TMP/err" && ok || bad "--compute bf16 throughput line: $(cat "$TMP/err")"
d=$(max_diff "$TMP/e_packed" "$TMP/e_bf16"); awk "BEGIN { exit !($d > 0 && $d < 0.05) }" && ok || bad "--compute bf16 vs f32 differ by $d"
expect_error "--compute bf16 with --quant" "--compute bf16 and --quant cannot be used together" -- "$EMBED" --model "$BERT" --compute bf16 --quant q8
expect_error "--compute unknown" "--compute: 'f16' is not one of f32, bf16" -- "$EMBED" --model "$BERT" --compute f16

"$EMBED" --model "$BERT" --normalize <"$TMP/texts" 2>/dev/null |
  awk -F, '{ gsub(/[\[\]]/, ""); s = 0; for (i = 1; i <= NF; i++) s += $i * $i; if (s < 0.9999 || s > 1.0001) bad = 1 } END { exit bad }' \
  && ok || bad "--normalize vectors are not unit length"
for p in cls max; do
  "$EMBED" --model "$BERT" --pooling $p <"$TMP/texts" >"$TMP/e_$p" 2>/dev/null
  d=$(max_diff "$TMP/e_packed" "$TMP/e_$p"); awk "BEGIN { exit !($d > 1e-3) }" && ok || bad "--pooling $p equals mean"
done

# 4. A sentence-transformers folder chooses pooling and normalisation itself.
mkdir -p "$BERT/1_Pooling"
echo '[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]' >"$BERT/modules.json"
echo '{"word_embedding_dimension":64,"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false,"pooling_mode_max_tokens":false}' >"$BERT/1_Pooling/config.json"
"$EMBED" --model "$BERT" <"$TMP/texts" >"$TMP/e_st" 2>/dev/null
"$EMBED" --model "$BERT" --pooling cls --normalize <"$TMP/texts" >"$TMP/e_flags" 2>/dev/null
cmp -s "$TMP/e_st" "$TMP/e_flags" && ok || bad "modules.json (cls + Normalize) differs from --pooling cls --normalize"
rm -r "$BERT/modules.json" "$BERT/1_Pooling"

# 5. Truncation: a text over the limit is cut with a warning, or refused with --no-truncate.
long=$(printf 'word%.0s ' $(seq 1 60))
echo "$long" >"$TMP/long"
"$EMBED" --model "$BERT" --max-length 16 <"$TMP/long" >"$TMP/out" 2>"$TMP/err"
[ $? -eq 0 ] && grep -q "warning: text 1 has .* tokens; truncated to 16" "$TMP/err" && ok || bad "truncation warning: $(cat "$TMP/err")"
STDIN=$TMP/long expect_error "--no-truncate" "text 1 has" -- "$EMBED" --model "$BERT" --no-truncate
STDIN=$TMP/long expect_error "--no-truncate names the limit" "the limit is 40 (truncation is off)" -- "$EMBED" --model "$BERT" --no-truncate

# 5b. A real WordPiece tokenizer.json (tests/fixtures/tokenizer/wordpiece-uncased.json: BertNormalizer
# lowercases and strips accents): texts that differ only in case and accents embed identically.
"$MAKE" --out "$TMP/wp" --model-type bert --hidden 64 --layers 2 --heads 4 --ffn 128 --vocab 800 --max-pos 64 2>/dev/null \
  && cp "$FIX/tokenizer/wordpiece-uncased.json" "$TMP/wp/tokenizer.json" || bad "make-model bert (vocab 800)"
printf '%s\n' "Café Naïve RÉSUMÉ" "cafe naive resume" "something else entirely" | "$EMBED" --model "$TMP/wp" >"$TMP/wp_out" 2>/dev/null
[ "$(sed -n 1p "$TMP/wp_out")" = "$(sed -n 2p "$TMP/wp_out")" ] && ok || bad "accents / case changed the WordPiece embedding"
[ "$(sed -n 1p "$TMP/wp_out")" != "$(sed -n 3p "$TMP/wp_out")" ] && ok || bad "different texts embed identically"

# 6. classify: a JSON object per line with a label from id2label and probabilities summing to 1; pairs via TAB.
printf 'great movie\nterrible plot\tbut good acting\n' | "$CLASSIFY" --model "$CLS" >"$TMP/c" 2>"$TMP/err"
[ "$(wc -l <"$TMP/c")" -eq 2 ] && ok || bad "classify printed $(wc -l <"$TMP/c") lines"
grep -qE '^\{"label":"LABEL_[012]","score":[-0-9.e]+,"scores":\{"LABEL_0":[-0-9.e]+,"LABEL_1":[-0-9.e]+,"LABEL_2":[-0-9.e]+\}\}$' "$TMP/c" && ok || bad "classify format: $(cat "$TMP/c")"
sed 's/.*"scores":{//; s/}}//; s/"LABEL_[0-9]"://g' "$TMP/c" | awk -F, '{ s = $1 + $2 + $3; if (s < 0.9999 || s > 1.0001) bad = 1 } END { exit bad }' && ok || bad "classify scores do not sum to 1"
grep -q "classified 2 texts" "$TMP/err" && ok || bad "classify throughput line: $(cat "$TMP/err")"

# 7. Bad input: one line on stderr, exit 1.
expect_error "embed without --model" "--model DIR is required" -- "$EMBED"
expect_error "embed bad pooling" "--pooling: 'sum' is not one of mean, cls, max" -- "$EMBED" --model "$BERT" --pooling sum
expect_error "embed zero batch" "--batch: 0 is out of range" -- "$EMBED" --model "$BERT" --batch 0
expect_error "embed huge batch" "--batch: 99999999 is out of range" -- "$EMBED" --model "$BERT" --batch 99999999
expect_error "embed zero max-length" "--max-length: 0 is out of range" -- "$EMBED" --model "$BERT" --max-length 0
expect_error "embed unknown flag" "unknown option '--bogus'" -- "$EMBED" --model "$BERT" --bogus
expect_error "embed missing dir" "/nonexistent: not a directory" -- "$EMBED" --model /nonexistent
expect_error "embed a decoder" "is a text generator, not an encoder" -- "$EMBED" --model "$GPT2"
expect_error "classify without a head" "no sequence-classification head" -- "$CLASSIFY" --model "$BERT"
expect_error "classify --pooling is not a flag" "unknown option '--pooling'" -- "$CLASSIFY" --model "$CLS" --pooling cls
cp -r "$BERT" "$TMP/notok" && rm "$TMP/notok/tokenizer.json"
expect_error "no tokenizer" "tokenizer.json: not found" -- "$EMBED" --model "$TMP/notok"
cp -r "$BERT" "$TMP/badtok" && echo '{"model": {"type": "WordPiece", "vocab": {' >"$TMP/badtok/tokenizer.json"
expect_error "corrupt tokenizer" "tokenizer.json" -- "$EMBED" --model "$TMP/badtok"
cp -r "$BERT" "$TMP/badpool" && mkdir -p "$TMP/badpool/1_Pooling"
echo '[{"type":"sentence_transformers.models.Pooling","path":"1_Pooling"}]' >"$TMP/badpool/modules.json"
echo '{"pooling_mode_mean_sqrt_len_tokens":true}' >"$TMP/badpool/1_Pooling/config.json"
expect_error "unsupported pooling mode" "pooling_mode_mean_sqrt_len_tokens is not supported" -- "$EMBED" --model "$TMP/badpool"
echo '[{"type":"sentence_transformers.models.Dense","path":"2_Dense"}]' >"$TMP/badpool/modules.json"
expect_error "unsupported module" "module type 'sentence_transformers.models.Dense' is not supported" -- "$EMBED" --model "$TMP/badpool"

# 8. The benchmark tool runs and reports against the FMA peak.
if [ -n "$EBENCH" ]; then
  "$EBENCH" --model "$BERT" --batch 4 --seq 32 --lengths mixed --seconds 0.05 --threads 1 >"$TMP/out" 2>"$TMP/err"
  grep -q "texts/s | .* tokens/s | .* GFLOP/s = .*% of .* GFLOP/s FMA peak" "$TMP/out" && ok || bad "strata-embed-bench row: $(cat "$TMP/out" "$TMP/err")"
  expect_error "bench seq over positions" "--seq 64 exceeds the model's 40 positions" -- "$EBENCH" --model "$BERT" --seq 64
  expect_error "bench bad lengths" "--lengths: 'odd' is not one of fixed, mixed" -- "$EBENCH" --model "$BERT" --lengths odd
fi

echo "encoder CLI tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
