#!/usr/bin/env bash
# Token reduction on a ViT / DeiT folder, ToMe merging (r) or EViT pruning
# (a keep rate, written pP, e.g. p0.7): images/s at each beside the
# published model (strata-vision-bench, model time, one run each), and how often
# the merged model agrees with the unmerged one on a set of image files
# (classify-image --top-k 5): top-1 agreement (same best label) and top-5
# overlap (labels the two top-5 lists share, / 5). Prints a Markdown table.
#
#   bash bench/vision_merge.sh BUILD_DIR MODEL_DIR IMAGE_DIR [THREADS] [BATCH] [R...]
#
# BUILD_DIR needs classify-image and strata-vision-bench (a release build);
# MODEL_DIR a folder with a classifier and its preprocessor_config.json;
# IMAGE_DIR the JPEG/PNG files to classify (every *.jpg, *.jpeg, *.png in it
# that classify-image can read). THREADS defaults to 2, BATCH to 8, R to
# 4 8 16; an R of the form pP is EViT's keep rate P (--keep-rate P).
set -euo pipefail
BUILD=${1:?BUILD_DIR}; MODEL=${2:?MODEL_DIR}; IMAGES=${3:?IMAGE_DIR}
THREADS=${4:-2}; BATCH=${5:-8}
shift $(( $# < 5 ? $# : 5 ))
RS=("$@"); [ ${#RS[@]} -gt 0 ] || RS=(4 8 16)
for tool in classify-image strata-vision-bench; do
  [ -x "$BUILD/$tool" ] || { echo "vision_merge.sh: $BUILD/$tool not found" >&2; exit 1; }
done
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
mapfile -t FILES < <(find "$IMAGES" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.jpeg' -o -name '*.png' \) | sort)
[ ${#FILES[@]} -gt 0 ] || { echo "vision_merge.sh: no images in $IMAGES" >&2; exit 1; }

flag() { case $1 in p*) echo "--keep-rate ${1#p}" ;; *) echo "--merge $1" ;; esac; }
top5() {  # R -> $TMP/top.R: per readable image "path id1 id2 ..." (the top-5, or all labels if fewer)
  # shellcheck disable=SC2046
  "$BUILD/classify-image" --model "$MODEL" --json --top-k 5 --threads "$THREADS" --batch "$BATCH" $(flag "$1") \
    "${FILES[@]}" 2>/dev/null | awk '{
      match($0, /"image":"[^"]*"/); line = substr($0, RSTART + 9, RLENGTH - 10)
      rest = $0; while (match(rest, /"id":[0-9]+/)) { line = line " " substr(rest, RSTART + 5, RLENGTH - 5); rest = substr(rest, RSTART + RLENGTH) }
      print line }' >"$TMP/top.$1" || true
}
speed() {  # R -> "images/s | % of peak | tokens"
  # shellcheck disable=SC2046
  "$BUILD/strata-vision-bench" --model "$MODEL" --batch "$BATCH" --threads "$THREADS" --seconds 3 $(flag "$1") |
    sed -E 's/.*, ([0-9]+) tokens(, (merge [0-9]+|keep rate [0-9.]+) -> ([0-9]+) tokens)? \| batch [0-9]+ \| ([0-9.]+) images\/s \| [0-9.]+ GFLOP\/s = ([0-9.]+)% .*/\5 \6 \1 \4/'
}

echo "model: $MODEL ($(grep -m1 '"model_type"' "$MODEL/config.json" | tr -d ' ,'))"
echo "machine: $(lscpu | sed -nE 's/^Model name: *//p'), $THREADS threads; images: ${#FILES[@]} files in $IMAGES"
echo
echo "| reduction (r: ToMe tokens merged per block; pP: EViT keep rate) | tokens at the end | images/s | speed-up | % of FMA peak | top-1 agreement | top-5 overlap |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
top5 0
read -r base_ips base_pct base_tokens _ <<<"$(speed 0)"
n=$(wc -l <"$TMP/top.0")
echo "| none | $base_tokens | $base_ips | 1.00× | $base_pct% | — | — |"
for r in "${RS[@]}"; do
  top5 "$r"
  read -r ips pct _ tokens <<<"$(speed "$r")"
  agree=$(paste -d'|' "$TMP/top.0" "$TMP/top.$r" | awk -F'|' '{ n++; na = split($1, a, " "); nb = split($2, b, " ");
    if (a[1] != b[1]) { print "image lists differ" > "/dev/stderr"; exit 1 }
    if (a[2] == b[2]) t1++; s = 0; for (i = 2; i <= na; i++) for (j = 2; j <= nb; j++) if (a[i] == b[j]) s++; t5 += s / (na - 1) }
    END { printf "%.1f%% | %.1f%%", 100 * t1 / n, 100 * t5 / n }')
  echo "| $r | $tokens | $ips | $(awk "BEGIN { printf \"%.2f\", $ips / $base_ips }")× | $pct% | $agree |"
done
echo
distinct=$(awk '{ print $2 }' "$TMP/top.0" | sort -u | wc -l)
echo "($n images classified by both; the unmerged model gives them $distinct different top-1 labels; agreement is against"
echo "the unmerged model's own answers.)"
