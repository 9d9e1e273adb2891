#!/usr/bin/env bash
# GPU check of phase detection on real hardware (the lent H100/H200; never
# in CI): records GPU 0 at 25 ms with bench_phase_gpu while
# workloads/phases_workload.py runs requests with known prefill/decode
# markers, then exports the profile, whose x_firmus.phases.detection_vs_markers
# says how far power-only detection was from the markers. Binaries built
# here with static deps:
#   cmake -S . -B build-gpu -DFIRMUS_STATIC_DEPS=ON -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-gpu --target firmus_cli bench_phase_gpu
# copied to an ignored folder that travels (e.g. .gpu-bundle/analysis).
# Results go to $OUT (phases.db, profile.json, show.txt). Changes no GPU setting.
set -u
bin=${1:-build-gpu}
out=${OUT:-/tmp/phase-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,power.draw,temperature.gpu --format=csv
rm -f "$out/markers.txt"
python3 workloads/phases_workload.py "$out/markers.txt" &
load=$!
"$bin/bench_phase_gpu" --db "$out/phases.db" --seconds 45 --period-ms 25 --markers "$out/markers.txt" &
sampler=$!
wait "$load"; echo "workload exit $?"
wait "$sampler"; echo "sampler exit $?"
"$bin/firmus" show --db "$out/phases.db" last >"$out/show.txt" 2>&1
"$bin/firmus" export --db "$out/phases.db" last --json "$out/profile.json" --csv "$out/trace.csv" \
  --idle-below 200 2>&1 | tail -15
cp "$out/markers.txt" "$out/markers_copy.txt" 2>/dev/null
