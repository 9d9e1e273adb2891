#!/usr/bin/env bash
# GPU check of the recorder on a machine with a real NVIDIA GPU (the lent
# H100/H200 of this project; never run in CI). Uses binaries built
# elsewhere with static deps:
#   cmake -S . -B build-gpu -DFIRMUS_STATIC_DEPS=ON -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-gpu --target firmus_cli bench_record
# copied with workloads/firmus_marker.py and this script into one folder
# (e.g. .gpu-bundle/record/). Steps: the recorder's schedule at 10 and
# 25 ms with the energy counter read by its thread and, for comparison, in
# the sampling loop (bench_record); then `firmus record` of a ~4 s bf16
# matrix-product load (PyTorch) that marks its phases with firmus_marker,
# and `firmus show` of that run. Results go to $OUT (or /tmp). Changes no
# GPU setting.
set -u
here=${1:-.}
out=${OUT:-/tmp/record-check}
mkdir -p "$out"
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
echo "== $gpus GPU(s)"; nvidia-smi -L

echo "== schedule, energy thread"
"$here/bench_record" --backend nvml --seconds 8 --repeats 1 --gpu-counts "$gpus" 2>&1 |
  tee "$out/bench_thread.txt"
echo "== schedule, energy counter in the sampling loop"
"$here/bench_record" --backend nvml --seconds 8 --repeats 1 --gpu-counts "$gpus" \
  --energy-thread 0 2>&1 | tee "$out/bench_loop.txt"

echo "== firmus record of a matrix-product load"
cat >"$out/load.py" <<'EOF'
import sys, time
sys.path.insert(0, sys.argv[1])
import firmus_marker as fm
import torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = a @ a
torch.cuda.synchronize()
time.sleep(1.0)
fm.start("load")
t = time.time()
steps = 0
while time.time() - t < 4.0:
    b = a @ a
    torch.cuda.synchronize()
    steps += 1
fm.end("load", tokens=steps)
time.sleep(1.0)
EOF
"$here/firmus" record --interval 10 --db "$out/gpu.db" --name matmul-load \
  --preroll 1 --postroll 2 -- python3 "$out/load.py" "$here" 2>&1 | tee "$out/record.txt"
echo "exit ${PIPESTATUS[0]}"
"$here/firmus" show last --db "$out/gpu.db" 2>&1 | tee "$out/show.txt"
sqlite3 "$out/gpu.db" "SELECT key, value FROM run_meta WHERE key LIKE 'record.%'" \
  >"$out/meta.txt" 2>&1 || true
rm -f "$out/load.py"
