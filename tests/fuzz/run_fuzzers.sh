#!/usr/bin/env bash
# Builds strata's libFuzzer harnesses (clang, -fsanitize=fuzzer,address,undefined)
# and runs each for a set time, one after another, then prints per harness the
# executions, exec/s, final coverage (cov = edges, ft = features) and findings.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS_PER_HARNESS] [BUILD_DIR]
#
# SECONDS_PER_HARNESS defaults to 60, BUILD_DIR to build/fuzz. Environment:
#   HARNESSES="config safetensors"  run only these (default: all eight)
#   JOBS=N                          build parallelism (default 2)
#   RSS_LIMIT_MB=N                  libFuzzer -rss_limit_mb (default 2048)
#   MALLOC_LIMIT_MB=N               libFuzzer -malloc_limit_mb (default 512): one
#                                   allocation this large from a few KB of input
#                                   is a finding (out-of-memory)
#   FRESH=1                         start from the seeds again instead of the
#                                   corpus earlier runs grew in BUILD_DIR
#   NICE=N                          niceness of the fuzzers (default 10)
#
# Seeds: the committed corpus (tests/fuzz/corpus/<name>), the regression inputs
# (tests/fuzz/regressions/<name>), and seeds derived now from the real files
# (../shared/models/*, tests/fixtures; see make_seeds.py). Inputs libFuzzer
# finds interesting go to BUILD_DIR/fuzz-run/<name>/corpus; crashes, leaks,
# timeouts and out-of-memory inputs to BUILD_DIR/fuzz-run/<name>/findings.
# Exit status: 0 if no harness had a finding, 1 otherwise (2: setup failed).
set -euo pipefail

SECONDS_PER_HARNESS=${1:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${2:-$REPO/build/fuzz}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
HARNESSES=${HARNESSES:-"safetensors safetensors_index config tokenizer_json tokenizer_encode quant_layout quant_tensors image_decode image_preprocess"}
JOBS=${JOBS:-2}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-2048}
MALLOC_LIMIT_MB=${MALLOC_LIMIT_MB:-512}
NICE=${NICE:-10}

# Largest input libFuzzer may make, per harness: a little above the largest
# real seed (a fixture safetensors header cut to a few KB, a quantized
# projection of 16 × 256 in under 5 KB, the 86 KB TinyStories
# tokenizer.json), small enough to keep executions fast.
max_len() {
  case $1 in
    safetensors | quant_layout | image_decode) echo 16384 ;;  # image_decode: the seed files are 2-9 KB
    tokenizer_json) echo 100000 ;;
    tokenizer_encode) echo 1024 ;;  # 512 ids: each is streamed through StreamDecoder
    *) echo 4096 ;;
  esac
}

if ! command -v clang++ >/dev/null; then
  echo "run_fuzzers.sh: clang++ not found (libFuzzer needs clang)" >&2
  exit 2
fi

echo "== configure and build ($BUILD_DIR)"
cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DSTRATA_FUZZ=ON \
  -DSTRATA_BUILD_EXAMPLES=OFF -DSTRATA_BUILD_BENCH=OFF >/dev/null
targets=()
for h in $HARNESSES; do targets+=("fuzz_$h"); done
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]}"

RUN_DIR=$BUILD_DIR/fuzz-run
mkdir -p "$RUN_DIR"
# The harnesses' temp folders go here, not to /tmp, and are removed at the end.
export TMPDIR=$RUN_DIR/tmp
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT

echo "== seeds from the real files"
rm -rf "$RUN_DIR/seeds"
python3 "$HERE/make_seeds.py" runtime "$RUN_DIR/seeds"

summary=()
status=0
for h in $HARNESSES; do
  dir=$RUN_DIR/$h
  [[ ${FRESH:-0} == 1 ]] && rm -rf "$dir/corpus"
  mkdir -p "$dir/corpus" "$dir/findings"
  cat "$HERE/dict/json.dict" "$HERE/dict/$h.dict" >"$dir/fuzz.dict"
  inputs=("$dir/corpus" "$HERE/corpus/$h")
  [[ -d $RUN_DIR/seeds/$h ]] && inputs+=("$RUN_DIR/seeds/$h")
  [[ -d $HERE/regressions/$h ]] && inputs+=("$HERE/regressions/$h")
  before=$(find "$dir/findings" -type f ! -name 'slow-unit-*' | wc -l)
  echo "== fuzz_$h for ${SECONDS_PER_HARNESS}s (log: $dir/fuzz.log)"
  t0=$(date +%s)
  set +e
  nice -n "$NICE" "$BUILD_DIR/tests/fuzz/fuzz_$h" \
    -max_total_time="$SECONDS_PER_HARNESS" -max_len="$(max_len "$h")" \
    -rss_limit_mb="$RSS_LIMIT_MB" -malloc_limit_mb="$MALLOC_LIMIT_MB" -timeout=10 -dict="$dir/fuzz.dict" \
    -artifact_prefix="$dir/findings/" -print_final_stats=1 \
    "${inputs[@]}" >"$dir/fuzz.log" 2>&1
  rc=$?
  set -e
  secs=$(($(date +%s) - t0))
  # (A run that dies while loading its corpus prints no coverage line.)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log" | tail -1)
  cov=$( (grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$dir/fuzz.log" || true) | tail -1)
  after=$(find "$dir/findings" -type f ! -name 'slow-unit-*' | wc -l)
  new=$((after - before))
  if ((rc != 0 || new > 0)); then
    status=1
    (grep -E 'ERROR:|SUMMARY:|invariant failed|Test unit written' "$dir/fuzz.log" || true) | head -5 | sed 's/^/   /'
  fi
  summary+=("$(printf '%-18s %8ss %12s %8s  %-22s %s' "$h" "$secs" "${execs:-?}" "${rate:-?}" \
    "${cov:-cov: ? ft: ?}" "$new new finding(s), exit $rc")")
done

echo
echo "== results ($(date -u +%Y-%m-%d), $(clang++ --version | head -1))"
printf '%-18s %9s %12s %8s  %-22s %s\n' harness time executions exec/s coverage findings
for line in "${summary[@]}"; do echo "$line"; done
echo "findings (crash-*, leak-*, timeout-*, oom-*): $RUN_DIR/<harness>/findings/"
exit $status
