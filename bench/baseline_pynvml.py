#!/usr/bin/env python3
"""The original framework's power sampler, rebuilt faithfully as a baseline.

The original Python framework (H200EnergyMonitor, see
../shared/seed/IMPROVEMENT_PROPOSAL.md) sampled GPU power with pynvml:
a loop that stamps each reading with time.time(), calls
nvmlDeviceGetPowerUsage (milliwatts; a 1 s average on Ampere-except-GA100,
Hopper and newer), appends to Python lists, then time.sleep(interval) with
interval 0.025 s (0.010 s in its "high-res mode"). The sleep comes after the
work, so the period is interval + work + oversleep and the schedule drifts.

This file reproduces that method with the standard library only: ctypes
calls into the same libnvidia-ml.so.1 (no pip packages). pynvml looks every
function up through a lock-protected cache and wraps each result in ctypes
objects and a return-code check; we do the same per call so the CPU cost is
comparable. Energy is the trapezoid integral of the sampled power, as the
original's "energy integration".

Two loop shapes:
  loop    (default) one thread; each pass reads every GPU, then sleeps;
  threads one monitor thread per GPU, like the original's
          MultiGPUCoordinator (one H200EnergyMonitor per GPU index).

Output: --csv  long format, one row per reading:
               t_unix_s,t_mono_ns,gpu,power_w   (power_w empty if the read failed)
        --json run summary (timing, CPU, energy per GPU, errors and, on the
               fake NVML, the simulator's time origin so truth can be looked up).
The timing statistics use the same definitions as bench/powerstats.py.

Usage: baseline_pynvml.py [--interval S] [--duration S] [--gpus all|0,1]
       [--library PATH] [--threads] [--csv FILE] [--json FILE]
Stops after --duration seconds (0 = until SIGINT/SIGTERM) and always writes
its outputs. Exit 0 on success, 2 on bad usage, 3 if NVML cannot be used.
"""

import argparse
import ctypes
import json
import os
import resource
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import powerstats  # noqa: E402  (same directory; stdlib only)

NVML_SUCCESS = 0


class NvmlError(Exception):
    """A non-zero nvmlReturn_t, with NVML's own message."""

    def __init__(self, lib, code, call):
        self.code = code
        text = ""
        try:
            text = lib.nvmlErrorString(code).decode(errors="replace")
        except Exception:  # the library may lack nvmlErrorString
            text = "error %d" % code
        super().__init__("%s: %s" % (call, text))


class UsageError(Exception):
    """A bad command-line value found after NVML was opened."""


class Nvml:
    """A thin ctypes binding in the style of pynvml: functions are looked
    up by name through a cache guarded by a lock, each call builds its
    ctypes output objects and checks the return code."""

    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path)
        self.lib.nvmlErrorString.restype = ctypes.c_char_p
        self._fn_cache = {}
        self._fn_lock = threading.Lock()

    def _fn(self, name):
        with self._fn_lock:
            fn = self._fn_cache.get(name)
            if fn is None:
                fn = getattr(self.lib, name)
                self._fn_cache[name] = fn
            return fn

    def _check(self, ret, call):
        if ret != NVML_SUCCESS:
            raise NvmlError(self.lib, ret, call)

    def init(self):
        self._check(self._fn("nvmlInit_v2")(), "nvmlInit_v2")

    def shutdown(self):
        self._check(self._fn("nvmlShutdown")(), "nvmlShutdown")

    def device_count(self):
        count = ctypes.c_uint()
        self._check(self._fn("nvmlDeviceGetCount_v2")(ctypes.byref(count)), "nvmlDeviceGetCount_v2")
        return count.value

    def handle(self, index):
        handle = ctypes.c_void_p()
        fn = self._fn("nvmlDeviceGetHandleByIndex_v2")
        self._check(fn(ctypes.c_uint(index), ctypes.byref(handle)), "nvmlDeviceGetHandleByIndex_v2")
        return handle

    def power_usage_mw(self, handle):
        milliwatts = ctypes.c_uint()
        fn = self._fn("nvmlDeviceGetPowerUsage")
        self._check(fn(handle, ctypes.byref(milliwatts)), "nvmlDeviceGetPowerUsage")
        return milliwatts.value

    def driver_version(self):
        buf = ctypes.create_string_buffer(96)
        try:
            self._check(self._fn("nvmlSystemGetDriverVersion")(buf, ctypes.c_uint(96)), "driver")
            return buf.value.decode(errors="replace")
        except (NvmlError, AttributeError):
            return None

    def fake_sim_t0_ns(self):
        """On the fake NVML (tests/fakenvml): CLOCK_MONOTONIC of this
        process's sim time 0, so a harness can look up the truth for our
        samples. None on a real NVML."""
        if not hasattr(self.lib, "fakenvml_t0_ns"):
            return None
        fn = self.lib.fakenvml_t0_ns
        fn.restype = ctypes.c_int64
        return fn()


class Monitor:
    """One sampling loop over some GPUs, the way the original did it."""

    def __init__(self, nvml, gpus, handles, interval_s):
        self.nvml = nvml
        self.gpus = gpus
        self.handles = handles
        self.interval_s = interval_s
        self.monitoring = False
        # the original kept plain lists: timestamps and power samples
        self.timestamps = []
        self.mono_ns = []
        self.gpu_of = []
        self.power_samples = []
        self.errors = 0
        self.first_error = None

    def run(self):
        while self.monitoring:
            for gpu, handle in zip(self.gpus, self.handles):
                t_unix = time.time()
                t_mono = time.monotonic_ns()
                try:
                    power_w = self.nvml.power_usage_mw(handle) / 1000.0
                except NvmlError as e:
                    power_w = None
                    self.errors += 1
                    if self.first_error is None:
                        self.first_error = "gpu %d: %s" % (gpu, e)
                self.timestamps.append(t_unix)
                self.mono_ns.append(t_mono)
                self.gpu_of.append(gpu)
                self.power_samples.append(power_w)
            time.sleep(self.interval_s)


def parse_gpus(text, count):
    if text == "all":
        return list(range(count))
    try:
        gpus = [int(x) for x in text.split(",") if x != ""]
    except ValueError:
        raise UsageError("--gpus wants 'all' or a list like 0,1 (got %r)" % text)
    for g in gpus:
        if g < 0 or g >= count:
            raise UsageError("GPU %d does not exist (%d found)" % (g, count))
    if not gpus:
        raise UsageError("--gpus names no GPU")
    return gpus


def write_csv(path, monitors):
    rows = []
    for m in monitors:
        rows.extend(zip(m.timestamps, m.mono_ns, m.gpu_of, m.power_samples))
    rows.sort(key=lambda r: (r[1], r[2]))
    with open(path, "w") as f:
        f.write("t_unix_s,t_mono_ns,gpu,power_w\n")
        for t_unix, t_mono, gpu, p in rows:
            f.write("%.6f,%d,%d,%s\n" % (t_unix, t_mono, gpu, "" if p is None else "%.3f" % p))


def summarise(args, nvml, gpus, monitors, cpu_loop_s, wall_loop_s):
    per_gpu = {}
    for m in monitors:
        for gpu in m.gpus:
            # timing and energy on CLOCK_MONOTONIC (time.time() can be slewed)
            t = [ts / 1e9 for ts, g in zip(m.mono_ns, m.gpu_of) if g == gpu]
            p = [pw for pw, g in zip(m.power_samples, m.gpu_of) if g == gpu]
            timing = powerstats.tick_timing(t, args.interval)
            pts = [(ti, pi) for ti, pi in zip(t, p) if pi is not None]
            per_gpu[str(gpu)] = {
                "samples": len(t),
                "failed_reads": sum(1 for pi in p if pi is None),
                "energy_trapezoid_j": powerstats.trapezoid([x[0] for x in pts], [x[1] for x in pts]),
                "timing": timing,
            }
    samples = sum(len(m.timestamps) for m in monitors)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "method": "baseline_pynvml (original: nvmlDeviceGetPowerUsage + time.sleep loop)",
        "library": nvml.path,
        "driver_version": nvml.driver_version(),
        "loop_shape": "threads" if args.threads else "loop",
        "interval_s": args.interval,
        "gpus": gpus,
        "samples": samples,
        "errors": sum(m.errors for m in monitors),
        "first_error": next((m.first_error for m in monitors if m.first_error), None),
        "wall_loop_s": wall_loop_s,
        "cpu_loop_s": cpu_loop_s,
        "cpu_process_s": usage.ru_utime + usage.ru_stime,
        "cpu_us_per_sample": (cpu_loop_s / samples * 1e6) if samples else None,
        "max_rss_kib": usage.ru_maxrss,
        "fake_sim_t0_ns": nvml.fake_sim_t0_ns(),
        "per_gpu": per_gpu,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description="Faithful baseline of the original pynvml power sampler.")
    ap.add_argument("--interval", type=float, default=0.025, help="sleep between passes, s (original: 0.025; high-res 0.010)")
    ap.add_argument("--duration", type=float, default=60.0, help="how long to sample, s (0 = until SIGINT/SIGTERM)")
    ap.add_argument("--gpus", default="all", help="'all' or comma-separated indices")
    ap.add_argument("--library", default=os.environ.get("FIRMUS_NVML_LIBRARY", "libnvidia-ml.so.1"),
                    help="NVML library to load (default $FIRMUS_NVML_LIBRARY or libnvidia-ml.so.1)")
    ap.add_argument("--threads", action="store_true", help="one monitor thread per GPU (the original's MultiGPUCoordinator)")
    ap.add_argument("--csv", help="write every reading here")
    ap.add_argument("--json", help="write the run summary here (default: stdout)")
    args = ap.parse_args(argv)
    if args.interval <= 0 or args.duration < 0:
        ap.error("--interval must be > 0 and --duration >= 0")

    try:
        nvml = Nvml(args.library)
        nvml.init()
        count = nvml.device_count()
        gpus = parse_gpus(args.gpus, count)
        handles = [nvml.handle(g) for g in gpus]
    except UsageError as e:
        print("baseline_pynvml: %s" % e, file=sys.stderr)
        return 2
    except (OSError, AttributeError, NvmlError) as e:
        print("baseline_pynvml: cannot use NVML (%s): %s" % (args.library, e), file=sys.stderr)
        return 3

    if args.threads:
        monitors = [Monitor(nvml, [g], [h], args.interval) for g, h in zip(gpus, handles)]
    else:
        monitors = [Monitor(nvml, gpus, handles, args.interval)]

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    cpu0, wall0 = time.process_time(), time.monotonic()
    threads = []
    for m in monitors:
        m.monitoring = True
        th = threading.Thread(target=m.run, daemon=True)
        th.start()
        threads.append(th)
    stop.wait(args.duration if args.duration > 0 else None)
    for m in monitors:
        m.monitoring = False
    for th in threads:
        th.join()
    cpu_loop_s, wall_loop_s = time.process_time() - cpu0, time.monotonic() - wall0

    summary = summarise(args, nvml, gpus, monitors, cpu_loop_s, wall_loop_s)
    try:
        nvml.shutdown()
    except NvmlError:
        pass
    if args.csv:
        write_csv(args.csv, monitors)
    text = json.dumps(summary, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
