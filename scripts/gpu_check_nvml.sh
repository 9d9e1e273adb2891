#!/usr/bin/env bash
# GPU check of the nvml backend on a machine with a real NVIDIA GPU (the
# lent H100/H200 of this project; never run in CI). Uses binaries built
# elsewhere with static deps:
#   cmake -S . -B build-gpu -DFIRMUS_STATIC_DEPS=ON -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-gpu --target firmus_cli bench_nvml bench_nvml_calls
# and copied with this script into an ignored folder of the checkout the
# device tool sends (e.g. .gpu-bundle/nvml/{firmus,bench/...}).
# Steps: nvidia-smi's view for comparison; `firmus devices` (text, JSON);
# read() latency per reading; raw NVML call costs; a 12 s trace at 5 ms with a ~4 s bf16 matrix
# load (PyTorch) in the middle, to see the instant value, the 1 s average
# and the energy counter react to a step. Results go to $OUT (or /tmp).
# It changes no GPU setting.
set -u
build=${1:-build-gpu}
out=${OUT:-/tmp/nvml-check}
mkdir -p "$out"

{
  echo "== host"; uname -r; echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  ldconfig -p | grep -i nvidia-ml
  echo "== nvidia-smi"
  nvidia-smi --query-gpu=name,driver_version,power.draw,power.draw.average,power.draw.instant,power.limit,enforced.power.limit,temperature.gpu,clocks.sm --format=csv
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

echo "== firmus devices"
"$build/firmus" devices 2>&1 | tee "$out/devices.txt"
echo "exit $?"
"$build/firmus" devices --json >"$out/devices.json" 2>&1

echo "== latency"
"$build/bench/bench_nvml" --latency 2000 --seconds 0 2>&1 | tee "$out/latency.txt"

echo "== raw calls"
"$build/bench/bench_nvml_calls" 2>&1 | tee "$out/raw_calls.txt"

echo "== trace with a load step"
rm -f /tmp/nvml-load-ready
python3 - <<'EOF' &
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = a @ a
torch.cuda.synchronize()
open("/tmp/nvml-load-ready", "w").close()
time.sleep(3.0)
t = time.time()
while time.time() - t < 4.0:
    b = a @ a
    torch.cuda.synchronize()
EOF
load=$!
for _ in $(seq 600); do [ -e /tmp/nvml-load-ready ] && break; sleep 0.1; done
"$build/bench/bench_nvml" --latency 0 --seconds 12 --period-ms 5 --csv "$out/trace.csv" 2>&1 \
  | tee "$out/trace.txt"
wait "$load"
echo "load exit $?"
