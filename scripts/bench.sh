#!/usr/bin/env bash
# Runs the benchmarks in bench/ (not tests: they take minutes and their
# figures go to docs/BENCHMARKS.md by hand, with the machine described).
#   scripts/bench.sh [section...]      sections: recorder (default: all)
# Build first: ./scripts/build.sh (plain build, -O2).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(recorder)

for section in "${sections[@]}"; do
  case "$section" in
  recorder)
    # docs/BENCHMARKS.md "Recorder": 10 and 25 ms ticks, 1 and 8 GPUs, in
    # real time through the fake libnvidia-ml.so.1 and the real-time
    # simulator, and with a backend that costs nothing (the recorder's own
    # overhead); medians of 3 repeats. About 10 minutes.
    echo "== recorder: fake NVML ($(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$build/bench/bench_record" --backend nvml --lib "$build/fakenvml/libnvidia-ml.so.1" \
      --gpus-env FAKENVML_GPUS --seconds "${SECONDS_PER_RUN:-20}" --repeats 3
    echo "== recorder: real-time simulator"
    "$build/bench/bench_record" --backend sim --seconds "${SECONDS_PER_RUN:-10}" --repeats 3
    echo "== recorder alone (test backend, reads cost ~nothing)"
    "$build/bench/bench_record" --backend testbe --seconds "${SECONDS_PER_RUN:-10}" --repeats 3
    ;;
  *)
    echo "bench.sh: unknown section '$section' (recorder)" >&2
    exit 2
    ;;
  esac
done
