#!/usr/bin/env python3
"""Ground truth from the fake libnvidia-ml.so.1 (tests/fakenvml), via ctypes.

The fake NVML is the simulator behind an NVML interface; besides the NVML
functions it exports test hooks (tests/fakenvml/fakenvml_hooks.h): the sim
time origin (CLOCK_MONOTONIC of the first nvmlInit in a process), the true
energy between two sim instants, the model's configuration and, from the
linked library, the preset table. The simulator is deterministic in sim
time, so the truth seen by one process (this one) holds for every process
that loaded the fake with the same FAKENVML_* settings, once its own time
origin is known.

Used by bench/compare_baseline.py and scripts/gpu-check.sh --dry-run.
CLI:  fake_truth.py preset         the active preset and schedule as JSON
      fake_truth.py ramp-seconds   length of the sim's ramp into prefill (s)
      fake_truth.py serve          initialise now, print one JSON line (t0_ns,
                                   config), then answer "energy GPU T0_NS T1_NS"
                                   lines (sim times) with the true energy in J,
                                   one line each, and "simcpu" with the CPU
                                   seconds the simulator's advance cost and the
                                   sim time, until "quit" or end of input
The serve mode gives a harness a truth oracle whose sim started before the
processes it judges, in a process of its own (the fake's settings are read
once per process).
Library: FIRMUS_NVML_LIBRARY, else $FIRMUS_FAKENVML_DIR/libnvidia-ml.so.1,
else build/fakenvml/libnvidia-ml.so.1 beside this repository.
"""

import ctypes
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_library():
    if os.environ.get("FIRMUS_NVML_LIBRARY"):
        return os.environ["FIRMUS_NVML_LIBRARY"]
    d = os.environ.get("FIRMUS_FAKENVML_DIR") or os.path.join(ROOT, "build", "fakenvml")
    return os.path.join(d, "libnvidia-ml.so.1")


class Preset(ctypes.Structure):
    """fm_sim_preset (include/firmus/sim.h)."""
    _fields_ = [("name", ctypes.c_char_p), ("params", ctypes.c_double), ("ramp_w_per_s", ctypes.c_double),
                ("fall_w_per_s", ctypes.c_double), ("prefill_peak_w", ctypes.c_double),
                ("decode_avg_w", ctypes.c_double), ("decode_stdev_w", ctypes.c_double),
                ("decode_cv", ctypes.c_double)]


class ConfigHead(ctypes.Structure):
    """The leading fields of fm_sim_config (sim.h), followed by room for the
    rest: only these fields are read, so later additions do not matter."""
    _fields_ = [("gpus", ctypes.c_int), ("preset", ctypes.POINTER(Preset)), ("seed", ctypes.c_uint64),
                ("pattern", ctypes.c_int), ("idle_power_w", ctypes.c_double), ("power_limit_w", ctypes.c_double),
                ("lead_idle_s", ctypes.c_double), ("prefill_s", ctypes.c_double), ("decode_s", ctypes.c_double),
                ("token_period_s", ctypes.c_double), ("rest", ctypes.c_char * 8192)]


class FakeNvml:
    """The fake NVML loaded into this process and initialised."""

    def __init__(self, path=None):
        self.path = path or default_library()
        self.lib = ctypes.CDLL(self.path)
        if not hasattr(self.lib, "fakenvml_t0_ns"):
            raise RuntimeError("%s is not the fake NVML (no fakenvml_t0_ns)" % self.path)
        if self.lib.nvmlInit_v2() != 0:
            raise RuntimeError("nvmlInit_v2 failed on %s" % self.path)
        self.lib.fakenvml_t0_ns.restype = ctypes.c_int64
        self.lib.fakenvml_sim_now_ns.restype = ctypes.c_int64
        self.lib.fakenvml_true_energy_between_j.restype = ctypes.c_double
        self.lib.fakenvml_true_energy_between_j.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        self.lib.fakenvml_config.argtypes = [ctypes.POINTER(ConfigHead)]

    def t0_ns(self):
        """CLOCK_MONOTONIC (ns) of this process's sim time 0."""
        return self.lib.fakenvml_t0_ns()

    def sim_now_ns(self):
        return self.lib.fakenvml_sim_now_ns()

    def true_energy_between_j(self, gpu, sim_t0_ns, sim_t1_ns):
        """True energy of a GPU between two sim instants already passed here."""
        return self.lib.fakenvml_true_energy_between_j(gpu, sim_t0_ns, sim_t1_ns)

    def config(self):
        head = ConfigHead()
        if self.lib.fakenvml_config(ctypes.byref(head)) != 0:
            raise RuntimeError("fakenvml_config failed")
        p = head.preset.contents
        return {
            "gpus": head.gpus, "seed": head.seed, "idle_power_w": head.idle_power_w,
            "lead_idle_s": head.lead_idle_s, "prefill_s": head.prefill_s, "decode_s": head.decode_s,
            "token_period_s": head.token_period_s,
            "preset": {"name": p.name.decode(), "ramp_w_per_s": p.ramp_w_per_s, "fall_w_per_s": p.fall_w_per_s,
                       "prefill_peak_w": p.prefill_peak_w, "decode_avg_w": p.decode_avg_w,
                       "decode_stdev_w": p.decode_stdev_w, "decode_cv": p.decode_cv},
        }

    def ramp_seconds(self):
        c = self.config()
        return (c["preset"]["prefill_peak_w"] - c["idle_power_w"]) / c["preset"]["ramp_w_per_s"]

    def shutdown(self):
        self.lib.nvmlShutdown()


def serve(fake):
    print(json.dumps({"t0_ns": fake.t0_ns(), "config": fake.config()}), flush=True)
    sim_cpu_s = 0.0  # CPU spent inside the fake (advancing the simulator)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "energy" and len(words) == 4:
            try:
                gpu, t0, t1 = int(words[1]), int(words[2]), int(words[3])
            except ValueError:
                print("error bad numbers", flush=True)
                continue
            cpu0 = time.process_time()
            value = fake.true_energy_between_j(gpu, t0, t1)
            sim_cpu_s += time.process_time() - cpu0
            print("%.6f" % value, flush=True)
        elif words[0] == "simcpu":
            # CPU seconds the simulator took to advance from sim time 0 to
            # the sim time given (a sampler on the fake pays the same)
            print("%.6f %d" % (sim_cpu_s, fake.sim_now_ns()), flush=True)
        else:
            print("error unknown request", flush=True)


def main(argv):
    if len(argv) != 1 or argv[0] not in ("preset", "ramp-seconds", "serve"):
        print("usage: fake_truth.py preset|ramp-seconds|serve", file=sys.stderr)
        return 2
    try:
        fake = FakeNvml()
        if argv[0] == "serve":
            serve(fake)
        elif argv[0] == "preset":
            print(json.dumps(fake.config(), indent=2))
        else:
            print("%.4f" % fake.ramp_seconds())
        fake.shutdown()
    except (OSError, RuntimeError, AttributeError, ValueError) as e:
        print("fake_truth: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
