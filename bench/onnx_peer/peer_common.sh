# Sourced by run_peer.sh (BERT) and run_vision_peer.sh (ViT, DeiT): what both need installed, the
# cached checkpoints and ONNX exports, and the report's header. Expects BUILD, THREADS, SECS, DIR,
# HERE and PY to be set; messages carry the sourcing script's name.
PEER=$(basename "$0")

die() { echo "$PEER: $*" >&2; exit 1; }

# ---- what the peer needs, installed when missing ----
apt_install() {
  [ "$(id -u)" = 0 ] || die "missing Debian packages ($*); run as root or: apt-get install -y $*"
  echo "$PEER: apt-get install $*" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null 2>&1 ||
    die "apt-get install $* failed"
}
peer_install() {
  if ! { [ -x "$PY" ] && "$PY" -c 'import torch, onnx, numpy' 2>/dev/null; }; then
    apt_install python3 python3-torch python3-onnx python3-numpy
  fi
  "$PY" -c 'import torch, onnx, numpy' 2>/dev/null || die "$PY cannot import torch, onnx and numpy"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then apt_install nodejs npm; fi
  command -v node >/dev/null || die "node not found"
  local want have
  want=$(sed -nE 's/.*"onnxruntime-node": *"([^"]+)".*/\1/p' "$HERE/package.json")
  have=$(sed -nE 's/^ *"version": *"([^"]+)".*/\1/p' "$HERE/node_modules/onnxruntime-node/package.json" 2>/dev/null | head -1)
  if [ "$have" != "$want" ]; then
    echo "$PEER: npm install (onnxruntime-node $want)" >&2
    # The package's postinstall only fetches CUDA provider files (not reachable here, not needed).
    (cd "$HERE" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error >&2) ||
      die "npm install in $HERE failed"
  fi
}

# ---- checkpoints and their ONNX exports, cached in $DIR ----
write_model() {  # NAME MAKE-MODEL-ARGS...: $DIR/NAME from make-model unless it is there
  local out=$DIR/$1
  shift
  if [ ! -f "$out/model.safetensors" ]; then
    echo "$PEER: writing $out" >&2
    rm -rf "$out.tmp"
    "$BUILD/make-model" --out "$out.tmp" "$@" 2>/dev/null
    mv "$out.tmp" "$out"
  fi
}
export_onnx() {  # NAME EXPORT-SCRIPT: $DIR/NAME/model.onnx, again when older than the weights or the script
  local m=$DIR/$1
  if [ ! -f "$m/model.onnx" ] || [ ! -f "$m/model.check-expected.json" ] ||
     [ "$m/model.safetensors" -nt "$m/model.onnx" ] || [ "$HERE/$2" -nt "$m/model.onnx" ]; then
    echo "$PEER: exporting $m/model.onnx" >&2
    "$PY" "$HERE/$2" "$m" >&2 || die "export of $m failed"
  fi
}

# ---- the report's header: title, machine, versions, command and strata-limits ----
peer_header() {  # TITLE
  echo "## $1, $(date -u +%Y-%m-%d), $(git -C "$HERE" log -1 --format='commit %h' 2>/dev/null || echo 'no git')"
  echo
  local cpu
  cpu=$(lscpu 2>/dev/null | sed -nE 's/^Model name: *//p' | head -1)
  echo "Machine: ${cpu:-$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')}, $(nproc) hardware threads;" \
    "threads used: $THREADS; about $SECS s of model time per point and engine;" \
    "onnxruntime-node $(sed -nE 's/^ *"version": *"([^"]+)".*/\1/p' "$HERE/node_modules/onnxruntime-node/package.json" | head -1)," \
    "node $(node --version)"
  echo "Command: \`bash bench/onnx_peer/$PEER $BUILD $THREADS $SECS\`"
  echo
  echo '```'
  if [ -x "$BUILD/strata-limits" ]; then
    "$BUILD/strata-limits" --threads "$THREADS"
  else
    echo "($BUILD/strata-limits not built)"
  fi
  echo '```'
}
