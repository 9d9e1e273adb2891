#!/usr/bin/env bash
# Installs dependencies, builds firmus plain and under ASan+UBSan, and runs
# the whole test suite on both builds (CTest). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

for variant in plain asan; do
  if [ "$variant" = plain ]; then
    ./scripts/build.sh
    dir=build
  else
    ./scripts/build.sh --asan
    dir=build-asan
  fi
  echo "== tests: $variant build ($dir)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs"
done
