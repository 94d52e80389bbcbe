#!/usr/bin/env bash
# End-to-end tests of the image tools on random ViT / DeiT checkpoints written
# by make-model (with their preprocessor_config.json) and the image files of
# tests/fixtures/image_files: classify-image's JSON and table output, that
# batch sizes give the same results, embed-image's vectors, that a bad image
# among good ones is skipped with one stderr line and exit status 2, and a
# one-line error with exit status 1 for each bad flag or folder.
# usage: vision_cli_test.sh CLASSIFY_IMAGE EMBED_IMAGE MAKE_MODEL FIXTURES_DIR [VISION_BENCH]
set -u
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
CLS=$(abs "$1") EMB=$(abs "$2") MAKE=$(abs "$3") FIX=$(abs "$4")
VBENCH=""
[ $# -ge 5 ] && [ -n "$5" ] && VBENCH=$(abs "$5")
IMG=$FIX/image_files
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
  if [ "$rc" -ne 1 ]; then bad "$what: exit status $rc (want 1)"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$what: stderr has $lines lines (want 1): $(cat "$TMP/err")"; return; fi
  if ! grep -qF -- "$want" "$TMP/err"; then bad "$what: stderr '$(cat "$TMP/err")' lacks '$want'"; return; fi
  ok
}

# Largest absolute difference between the numbers of two files (same shape).
max_diff() {
  paste -d'|' "$1" "$2" | awk -F'|' '{ gsub(/[^0-9eE.,+-]/, "", $1); gsub(/[^0-9eE.,+-]/, "", $2);
    n = split($1, a, ","); m = split($2, b, ","); if (n != m) { print "shape"; exit }
    for (i = 1; i <= n; i++) { d = a[i] - b[i]; if (d < 0) d = -d; if (d > w) w = d } } END { printf "%.3g\n", w + 0 }'
}

VIT=$TMP/vit DEIT=$TMP/deit VITM=$TMP/vit-model
"$MAKE" --out "$VIT" --model-type vit --labels 7 --hidden 64 --layers 2 --heads 4 --ffn 128 --image-size 32 --patch 8 2>/dev/null || bad "make-model vit"
"$MAKE" --out "$DEIT" --model-type deit --labels 3 --hidden 64 --layers 2 --heads 4 --ffn 128 --image-size 32 --patch 8 2>/dev/null || bad "make-model deit"
"$MAKE" --out "$VITM" --model-type vit --hidden 48 --layers 1 --heads 4 --ffn 96 --image-size 32 --patch 16 2>/dev/null || bad "make-model vit (no labels)"

GOOD=("$IMG/rgb420.jpg" "$IMG/gray8.png" "$IMG/orient6.jpg" "$IMG/rgba8.png" "$IMG/palette_pil_trns.png")

# 1. --json: one object per image, in order, with top-k labels, ids, scores; --logits adds 7 logits.
"$CLS" --model "$VIT" --json --top-k 3 --logits --threads 2 "${GOOD[@]}" >"$TMP/c_json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "classify-image exit $rc: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/c_json")" -eq 5 ] && ok || bad "classify-image --json printed $(wc -l <"$TMP/c_json") lines for 5 images"
head -1 "$TMP/c_json" | grep -qE '^\{"image":"[^"]*rgb420\.jpg","top":\[\{"label":"LABEL_[0-6]","id":[0-6],"score":[0-9.e-]+\},\{[^]]*\},\{[^]]*\}\],"logits":\[[^]]*\]\}$' && ok || bad "classify-image json line: $(head -1 "$TMP/c_json")"
awk -F'"logits":\\[' '{ n = split($2, a, ","); if (n != 7) bad = 1 } END { exit bad }' "$TMP/c_json" && ok || bad "logits are not 7 numbers"
grep -q "classified 5 images in .* s: .* images/s \[vit<f32>, 2 threads\]" "$TMP/err" && ok || bad "throughput line: $(cat "$TMP/err")"
# scores are softmax probabilities: the top-3 are sorted and sum to at most 1
awk -F'"score":' '{ s = 0; p = 2; for (i = 2; i <= NF; i++) { v = $i + 0; if (v > p) bad = 1; p = v; s += v } if (s > 1.0001) bad = 1 } END { exit bad }' "$TMP/c_json" && ok || bad "scores not sorted probabilities"

# 2. batch 1 and batch 8 give the same logits; bf16 compute stays near.
"$CLS" --model "$VIT" --json --logits --batch 1 --threads 1 "${GOOD[@]}" >"$TMP/c_b1" 2>/dev/null
sed 's/.*"logits"://' "$TMP/c_json" >"$TMP/l8"; sed 's/.*"logits"://' "$TMP/c_b1" >"$TMP/l1"
d=$(max_diff "$TMP/l8" "$TMP/l1"); awk "BEGIN { exit !($d < 1e-5) }" && ok || bad "batch 8 vs batch 1 logits differ by $d"

# --merge R (ToMe): the same format, other logits; the bench reports the tokens left.
"$CLS" --model "$VIT" --json --logits --merge 3 "${GOOD[@]}" >"$TMP/c_merge" 2>/dev/null
[ "$(wc -l <"$TMP/c_merge")" -eq 5 ] && ok || bad "--merge printed $(wc -l <"$TMP/c_merge") lines"
sed 's/.*"logits"://' "$TMP/c_merge" >"$TMP/lm"
d=$(max_diff "$TMP/l8" "$TMP/lm"); awk "BEGIN { exit !($d > 1e-4) }" && ok || bad "--merge 3 logits equal the unmerged ones ($d)"

# --keep-rate P (EViT): the same format, other logits; with --merge: refused.
"$CLS" --model "$VIT" --json --logits --keep-rate 0.5 "${GOOD[@]}" >"$TMP/c_prune" 2>/dev/null
[ "$(wc -l <"$TMP/c_prune")" -eq 5 ] && ok || bad "--keep-rate printed $(wc -l <"$TMP/c_prune") lines"
sed 's/.*"logits"://' "$TMP/c_prune" >"$TMP/lp"
d=$(max_diff "$TMP/l8" "$TMP/lp"); awk "BEGIN { exit !($d > 1e-4) }" && ok || bad "--keep-rate 0.5 logits equal the unmerged ones ($d)"

# 3. the readable table: the image's path, then K numbered rows.
"$CLS" --model "$DEIT" --top-k 2 "$IMG/rgb8.png" >"$TMP/c_table" 2>/dev/null
[ "$(sed -n 1p "$TMP/c_table")" = "$IMG/rgb8.png" ] && ok || bad "table header: $(head -1 "$TMP/c_table")"
grep -cE '^ +[12]\. +[0-9.]+  LABEL_[0-2] \([0-2]\)$' "$TMP/c_table" | grep -qx 2 && ok || bad "table rows: $(cat "$TMP/c_table")"

# 4. a bad image among good ones: its line is skipped, one stderr line names it, exit status 2.
"$CLS" --model "$VIT" --json "$IMG/rgb420.jpg" "$IMG/truncated.jpg" "$IMG/text.jpg" "$IMG/gray8.png" "$TMP" >"$TMP/c_mixed" 2>"$TMP/err"
rc=$?
[ $rc -eq 2 ] && ok || bad "mixed good/bad images: exit $rc (want 2)"
[ "$(wc -l <"$TMP/c_mixed")" -eq 2 ] && ok || bad "mixed: $(wc -l <"$TMP/c_mixed") output lines (want 2)"
[ "$(grep -c '^error: ' "$TMP/err")" -eq 3 ] && ok || bad "mixed: stderr $(cat "$TMP/err")"
grep -q "truncated.jpg" "$TMP/err" && grep -q "text.jpg: not a JPEG or PNG" "$TMP/err" && ok || bad "mixed: errors do not name the files: $(cat "$TMP/err")"
sed -n 2p "$TMP/c_mixed" | grep -q '"image":"[^"]*gray8.png"' && ok || bad "mixed: second line is not gray8.png"

# 5. embed-image: one array of 48 floats per image; --normalize gives unit vectors.
"$EMB" --model "$VITM" "${GOOD[@]}" >"$TMP/e" 2>"$TMP/err"
[ "$(wc -l <"$TMP/e")" -eq 5 ] && ok || bad "embed-image printed $(wc -l <"$TMP/e") lines: $(cat "$TMP/err")"
awk -F, '!/^\[.*\]$/ || NF != 48 { bad = 1 } END { exit bad }' "$TMP/e" && ok || bad "embed-image lines are not arrays of 48 floats"
"$EMB" --model "$VITM" --normalize "${GOOD[@]}" >"$TMP/en" 2>/dev/null
awk -F, '{ gsub(/[\[\]]/, ""); s = 0; for (i = 1; i <= NF; i++) s += $i * $i; if (s < 0.9999 || s > 1.0001) bad = 1 } END { exit bad }' "$TMP/en" && ok || bad "--normalize vectors are not unit length"

# 6. bad flags and folders: one line, exit 1.
expect_error "no images" "no image files given" -- "$CLS" --model "$VIT"
expect_error "no model" "--model DIR is required" -- "$CLS" "$IMG/rgb8.png"
expect_error "unknown flag" "unknown option '--topk'" -- "$CLS" --model "$VIT" --topk 3 "$IMG/rgb8.png"
expect_error "top-k 0" "--top-k: 0 is out of range" -- "$CLS" --model "$VIT" --top-k 0 "$IMG/rgb8.png"
expect_error "batch absurd" "--batch: 99999999 is out of range" -- "$CLS" --model "$VIT" --batch 99999999 "$IMG/rgb8.png"
expect_error "classifier for embeddings" "no pooler (an image classifier; use classify-image)" -- "$EMB" --model "$VIT" "$IMG/rgb8.png"
expect_error "pooler for classification" "no image-classification head" -- "$CLS" --model "$VITM" "$IMG/rgb8.png"
expect_error "not a folder" "not a directory" -- "$CLS" --model "$IMG/rgb8.png" "$IMG/rgb8.png"
cp -r "$VIT" "$TMP/nopre" && rm "$TMP/nopre/preprocessor_config.json"
expect_error "no preprocessor_config.json" "preprocessor_config.json: not found" -- "$CLS" --model "$TMP/nopre" "$IMG/rgb8.png"
cp -r "$VIT" "$TMP/badpre" && echo '{"image_processor_type": "ViTImageProcessor", "image_std": [0.5, 0, 0.5]}' >"$TMP/badpre/preprocessor_config.json"
expect_error "zero std" "image_std" -- "$CLS" --model "$TMP/badpre" "$IMG/rgb8.png"
expect_error "text folder" "is not a vision transformer" -- "$CLS" --model "$FIX/encoders/bert-cls" "$IMG/rgb8.png"
expect_error "negative merge" "--merge: -1 is out of range" -- "$CLS" --model "$VIT" --merge -1 "$IMG/rgb8.png"
expect_error "keep rate 0" "--keep-rate: 0 is out of range" -- "$CLS" --model "$VIT" --keep-rate 0 "$IMG/rgb8.png"
expect_error "merge and keep rate" "--merge and --keep-rate cannot be used together" -- "$CLS" --model "$VIT" --merge 2 --keep-rate 0.5 "$IMG/rgb8.png"
expect_error "compute and quant" "--compute bf16 and --quant cannot be used together" -- "$CLS" --model "$VIT" --compute bf16 --quant q8 "$IMG/rgb8.png"

# 7. strata-vision-bench: its report line; bad flags.
if [ -n "$VBENCH" ]; then
  "$VBENCH" --model "$DEIT" --batch 2 --seconds 0.05 --threads 2 >"$TMP/vb" 2>"$TMP/err"
  grep -qE '^model deit<f32> \| 32x32, 18 tokens \| batch 2 \| [0-9.]+ images/s \| [0-9.]+ GFLOP/s = [0-9.]+% of [0-9.]+ GFLOP/s FMA peak' "$TMP/vb" && ok || bad "vision bench line: $(cat "$TMP/vb" "$TMP/err")"
  expect_error "vision bench batch" "--batch: 0 is out of range" -- "$VBENCH" --model "$DEIT" --batch 0
  "$VBENCH" --model "$DEIT" --batch 2 --seconds 0.05 --merge 4 >"$TMP/vb" 2>"$TMP/err"
  grep -qE '^model deit<f32> \| 32x32, 18 tokens, merge 4 -> 10 tokens \| batch 2 \|' "$TMP/vb" && ok || bad "vision bench --merge line: $(cat "$TMP/vb" "$TMP/err")"
  "$VBENCH" --model "$DEIT" --batch 2 --seconds 0.05 --keep-rate 0.5 >"$TMP/vb" 2>"$TMP/err"
  grep -qE '^model deit<f32> \| 32x32, 18 tokens, keep rate 0.50 -> 8 tokens \| batch 2 \|' "$TMP/vb" && ok || bad "vision bench --keep-rate line: $(cat "$TMP/vb" "$TMP/err")"
fi

echo "vision_cli_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
