#!/usr/bin/env python3
"""GPU workload with known phases for scripts/gpu_check_phases.sh: after
CUDA start-up, idle, then a few "requests", each a compute-bound burst
(large bf16 matrix products, standing for prefill) followed by a longer
memory-bound stretch (matrix-vector-like products of a small batch against
large weights, standing for decode), with idle gaps. Writes markers
"<time.monotonic_ns()> start|end <phase>" to the file named on the command
line (CLOCK_MONOTONIC, the clock of the sampler's samples)."""
import sys
import time

import torch

out = open(sys.argv[1], "w")


def mark(kind, phase):
    out.write("%d %s %s\n" % (time.monotonic_ns(), kind, phase))
    out.flush()


big = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
weights = torch.randn(16384, 16384, device="cuda", dtype=torch.bfloat16)
batch = torch.randn(16, 16384, device="cuda", dtype=torch.bfloat16)
(big @ big).sum().item()
(batch @ weights).sum().item()
torch.cuda.synchronize()
time.sleep(4.0)  # idle before the first request

for request in range(4):
    mark("start", "prefill")
    t = time.monotonic()
    while time.monotonic() - t < 0.6:
        big @ big
        torch.cuda.synchronize()
    mark("end", "prefill")
    mark("start", "decode")
    t = time.monotonic()
    while time.monotonic() - t < 4.0:
        batch @ weights
        torch.cuda.synchronize()
    mark("end", "decode")
    time.sleep(2.5)  # idle gap
out.close()
