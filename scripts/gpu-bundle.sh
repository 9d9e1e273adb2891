#!/usr/bin/env bash
# Builds the portable GPU-check bundle in .gpu-bundle/ (ignored by git):
# a firmus binary with SQLite and Jansson linked statically
# (-DFIRMUS_STATIC_DEPS=ON), so that it runs on a machine without
# libsqlite3/libjansson (the lent GPU machine has no package registry), plus
# copies of the Python baseline, the summary script, the workloads and the
# check script. The binary is built on this machine's glibc (Debian 12,
# 2.36) and so runs on any newer glibc (Ubuntu 24.04 has 2.39).
#
# It then verifies with ldd that the binary needs nothing but the C runtime
# (libc, libm, libdl, libpthread, the dynamic loader, the vDSO); any other
# library is an error. Exit 0 on success, 1 on failure.
#
# Usage: scripts/gpu-bundle.sh [--check-only]
#   --check-only   only run the ldd check on an existing bundle
# Environment: GPU_BUNDLE_DIR (default .gpu-bundle), GPU_BUNDLE_BUILD_DIR
# (default build-gpu-bundle), GPU_BUNDLE_JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

bundle="${GPU_BUNDLE_DIR:-.gpu-bundle}"
build="${GPU_BUNDLE_BUILD_DIR:-build-gpu-bundle}"
jobs="${GPU_BUNDLE_JOBS:-2}"

# Libraries a bundled binary may need: the C runtime only.
allowed_lib() {
  case "$1" in
    linux-vdso.so.*|libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|ld-linux*.so.*|/lib*/ld-linux*.so.*) return 0 ;;
    *) return 1 ;;
  esac
}

check_bundle() {
  local bin="$bundle/firmus" bad=0 lib
  if [ ! -x "$bin" ]; then
    echo "gpu-bundle: no binary at $bin" >&2
    return 1
  fi
  if ! ldd "$bin" > "$bundle/ldd.txt" 2>&1; then
    if grep -q "not a dynamic executable" "$bundle/ldd.txt"; then
      echo "gpu-bundle: $bin is fully static" >&2
      return 0
    fi
    echo "gpu-bundle: ldd failed on $bin:" >&2
    cat "$bundle/ldd.txt" >&2
    return 1
  fi
  while read -r lib _; do
    [ -n "$lib" ] || continue
    if ! allowed_lib "$lib"; then
      echo "gpu-bundle: $bin needs $lib (only the C runtime is allowed)" >&2
      bad=1
    fi
  done < "$bundle/ldd.txt"
  if grep -q "not found" "$bundle/ldd.txt"; then
    echo "gpu-bundle: unresolved libraries:" >&2
    grep "not found" "$bundle/ldd.txt" >&2
    bad=1
  fi
  [ "$bad" -eq 0 ] || return 1
  echo "gpu-bundle: ldd ok: $(awk '{print $1}' "$bundle/ldd.txt" | tr '\n' ' ')" >&2
  return 0
}

if [ "${1:-}" = "--check-only" ]; then
  check_bundle
  exit $?
fi
if [ $# -gt 0 ]; then
  echo "gpu-bundle: unknown argument '$1' (--check-only)" >&2
  exit 2
fi

echo "gpu-bundle: configuring $build (FIRMUS_STATIC_DEPS=ON, Release, no tests)" >&2
cmake -S . -B "$build" -DFIRMUS_STATIC_DEPS=ON -DFIRMUS_TESTS=OFF -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j "$jobs" --target firmus_cli > "$build/build.log" 2>&1 || {
  tail -n 30 "$build/build.log" >&2
  echo "gpu-bundle: build failed (log: $build/build.log)" >&2
  exit 1
}

# replace only what this script puts there (others may keep files in the
# same folder, e.g. .gpu-bundle/nvml from scripts/gpu_check_nvml.sh)
rm -rf "$bundle/firmus" "$bundle/bench" "$bundle/workloads" "$bundle/scripts" \
  "$bundle/README.txt" "$bundle/BUILD-INFO.txt" "$bundle/ldd.txt"
mkdir -p "$bundle/bench" "$bundle/workloads" "$bundle/scripts"
cp "$build/firmus" "$bundle/firmus"
strip "$bundle/firmus" 2> /dev/null || true
cp bench/*.py "$bundle/bench/"
cp workloads/*.py "$bundle/workloads/"
cp scripts/gpu-check.sh "$bundle/scripts/"
cat > "$bundle/README.txt" << 'EOF'
firmus GPU-check bundle, made by scripts/gpu-bundle.sh (see docs/VALIDATION.md).
firmus             the CLI, SQLite and Jansson linked in (needs glibc >= the build machine's)
bench/, workloads/ the Python baseline, summary and workload scripts (Python 3, stdlib; the
                   workload needs PyTorch)
scripts/gpu-check.sh  the check; run from the repository root or from this folder:
                   OUT=/path/results scripts/gpu-check.sh
EOF
{
  echo "built_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git describe --always --dirty 2> /dev/null || echo unknown)"
  echo "glibc: $(ldd --version | head -n 1)"
  echo "firmus: $("$bundle/firmus" --version)"
} > "$bundle/BUILD-INFO.txt"

check_bundle
echo "gpu-bundle: ready in $bundle ($(du -sh "$bundle" | cut -f1))" >&2
