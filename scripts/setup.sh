#!/usr/bin/env bash
# Installs strata's build and test dependencies from Debian packages.
# Idempotent: does nothing when everything is already present.
set -euo pipefail
pkgs=(cmake ninja-build g++ clang libeigen3-dev libxsimd-dev xtl-dev nlohmann-json3-dev catch2 libbenchmark-dev
      libjpeg62-turbo-dev libpng-dev)  # the last two: image files in the examples and tests only
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
