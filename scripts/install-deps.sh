#!/usr/bin/env bash
# Installs the Debian 12 packages firmus needs to build and test. Idempotent;
# runs apt-get update once per call; uses sudo when not root.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config   # compiler and build
  libsqlite3-dev                      # run store
  libjansson-dev                      # JSON profiles, policy and tariff files
  libcmocka-dev                       # unit tests (CTest + cmocka)
  python3                             # bench/ baseline and workload scripts
  clang libclang-rt-14-dev            # libFuzzer target (scripts/fuzz.sh)
  sqlite3                             # handy for inspecting run stores
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
