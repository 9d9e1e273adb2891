#!/usr/bin/env python3
"""Side-by-side benchmark: `firmus record` vs the original framework's
Python sampler (bench/baseline_pynvml.py), both on the same NVML library at
the same time, judged against the simulator's truth.

For every configuration (interval x GPU count) and repeat it starts both
samplers concurrently for --duration seconds on the fake libnvidia-ml.so.1
(tests/fakenvml; the simulator behind an NVML interface, one single-request
cycle: idle, ramp, prefill, decode, fall, idle), then measures for each:
  - CPU seconds per GPU sample: whole-process user+system CPU of the child
    (os.wait4 rusage, start-up included; the same measurement for both),
    the same less the CPU the fake's simulator costs inside each sampler
    (every NVML call advances the model to "now"; the oracle measures that
    cost per second of sim time and it is subtracted for each run's span),
    and each tool's own figure over its sampling loop;
  - achieved rate, tick jitter p50/p99/max and drift (bench/powerstats.py
    definitions, on CLOCK_MONOTONIC timestamps of GPU 0);
  - energy error vs truth: firmus = energy-counter difference over its run
    (its best source for windows >= 1 s), also its integrated instant power;
    baseline = trapezoid of nvmlDeviceGetPowerUsage (as the original did);
    truth = the simulator's true energy over each method's own window;
  - energy error per phase: the prefill burst (ramp + prefill plateau) and
    the decode of the sim's schedule, trapezoid of firmus's instant power /
    of the baseline's GetPowerUsage inside the window vs the true energy;
  - ramp-rate error vs truth: the 10-90 % rise rate of the edge into
    prefill, from firmus's instant power (field 186) and from the baseline's
    GetPowerUsage (the 1 s average), vs the preset's true ramp (W/s).
Truth comes from a third process (fake_truth.py serve) that loads the same
fake first: the simulator is deterministic in sim time, and each child's sim time origin is
known (the baseline reports its own; for firmus we take the instant it was
spawned, a few ms before its nvmlInit — both ends of the window are idle,
so such an offset changes the true energy by well under 0.01 %).

Usage: compare_baseline.py [--duration S] [--repeats N] [--intervals 25,10]
       [--gpus 1,8] [--preset NAME] [--json FILE] [--markdown FILE]
Needs: the firmus binary ($FIRMUS_BIN or build/firmus) and the fake NVML
($FIRMUS_NVML_LIBRARY or build/fakenvml/libnvidia-ml.so.1).
One command to reproduce the figures in docs/BENCHMARKS.md:
  python3 bench/compare_baseline.py --repeats 3 --markdown /tmp/compare.md
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import fake_truth  # noqa: E402
import gpu_summary  # noqa: E402
import powerstats as ps  # noqa: E402


class TruthOracle:
    """bench/fake_truth.py serve in a process of its own, started before
    the samplers so its simulated history covers theirs."""

    def __init__(self, env):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_truth.py"), "serve"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fake_truth.py serve did not start")
        hello = json.loads(line)
        self.t0_ns = hello["t0_ns"]
        self.cfg = hello["config"]

    def true_energy_between_j(self, gpu, t0_ns, t1_ns):
        self.proc.stdin.write("energy %d %d %d\n" % (gpu, t0_ns, t1_ns))
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer.startswith("error") or not answer:
            raise RuntimeError("truth oracle: %s" % answer)
        return float(answer)

    def sim_cpu_s_per_s(self):
        """CPU seconds the fake's simulator needs per second of sim time
        (for this GPU count), measured in the oracle after its first
        energy query advanced it over the whole run."""
        self.proc.stdin.write("simcpu\n")
        self.proc.stdin.flush()
        words = self.proc.stdout.readline().split()
        cpu_s, now_ns = float(words[0]), int(words[1])
        return cpu_s / (now_ns / 1e9) if now_ns > 0 else None

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=30)


def child_env(library, gpus, preset, seed):
    env = dict(os.environ)
    env.update({"FIRMUS_NVML_LIBRARY": library, "FAKENVML_GPUS": str(gpus), "FAKENVML_PRESET": preset,
                "FAKENVML_SEED": str(seed)})
    for k in ("FAKENVML_LEAD_IDLE_S", "FAKENVML_DECODE_S", "FAKENVML_PATTERN"):
        env.pop(k, None)
    return env


def wait_with_rusage(proc):
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def read_baseline_csv(path):
    per_gpu = {}
    with open(path) as f:
        next(f)
        for line in f:
            _t_unix, t_mono, gpu, p = line.rstrip("\n").split(",")
            g = per_gpu.setdefault(int(gpu), {"t_ns": [], "power_w": []})
            g["t_ns"].append(int(t_mono))
            g["power_w"].append(float(p) if p else None)
    return per_gpu


def sim_s(t_ns_list, sim_t0_ns):
    return [(t - sim_t0_ns) / 1e9 for t in t_ns_list]


def phase_windows(cfg):
    """The sim's true single-request schedule (sim time, s): the prefill
    burst (ramp + prefill plateau) and the decode."""
    ramp_s = (cfg["preset"]["prefill_peak_w"] - cfg["idle_power_w"]) / cfg["preset"]["ramp_w_per_s"]
    burst = (cfg["lead_idle_s"], cfg["lead_idle_s"] + ramp_s + cfg["prefill_s"])
    decode = (burst[1], burst[1] + cfg["decode_s"])
    return {"prefill_burst": burst, "decode": decode}


def window_error(t, p, window, truth, gpu):
    """Relative error of the trapezoid energy of (t, p) inside a sim-time
    window vs the true energy of the same window."""
    pairs = [(ti, v) for ti, v in ps.clean_pairs(t, p) if window[0] <= ti <= window[1]]
    if len(pairs) < 2:
        return None
    est = ps.trapezoid([x[0] for x in pairs], [x[1] for x in pairs])
    true_j = truth.true_energy_between_j(gpu, int(pairs[0][0] * 1e9), int(pairs[-1][0] * 1e9))
    return ps.rel_error(est, true_j)


def ramp_window(cfg):
    ramp_s = (cfg["preset"]["prefill_peak_w"] - cfg["idle_power_w"]) / cfg["preset"]["ramp_w_per_s"]
    return cfg["lead_idle_s"], ramp_s + cfg["prefill_s"] + 1.2


def evaluate_firmus(run, sim_t0_ns, truth, cfg, interval_s):
    edge_s, after_s = ramp_window(cfg)
    true_ramp = cfg["preset"]["ramp_w_per_s"]
    out = {"gpus": {}, "meta_cpu_us_per_sample": gpu_summary._float(run.meta.get("record.cpu_us_per_sample")),
           "meta_jitter_us": [gpu_summary._float(run.meta.get("record.jitter_%s_us" % q)) for q in ("p50", "p99", "max")],
           "meta_missed_ticks": gpu_summary._float(run.meta.get("record.missed_ticks"))}
    e_sum = e_inst_sum = t_sum = 0.0
    for gpu, cols in sorted(run.samples.items()):
        t = sim_s(cols["t_ns"], sim_t0_ns)
        energy = ps.clean_pairs(t, cols["energy_j"])
        counter_j = energy[-1][1] - energy[0][1] if len(energy) > 1 else None
        inst = ps.clean_pairs(t, cols["power_instant_w"])
        inst_j = ps.trapezoid([p[0] for p in inst], [p[1] for p in inst])
        true_j = truth.true_energy_between_j(gpu, int(t[0] * 1e9 + 0), int(t[-1] * 1e9))
        ramp = ps.ramp_10_90(t, cols["power_instant_w"], edge_s, lead_s=1.0, after_s=after_s)
        out["gpus"][gpu] = {
            "samples": len(t), "timing": ps.tick_timing([x / 1e9 for x in cols["t_ns"]], interval_s),
            "energy_counter_j": counter_j, "energy_instant_j": inst_j, "true_j": true_j,
            "energy_counter_error": ps.rel_error(counter_j, true_j),
            "energy_instant_error": ps.rel_error(inst_j, true_j),
            "ramp_w_per_s": ramp["rate_w_per_s"] if ramp else None,
            "ramp_error": ps.rel_error(ramp["rate_w_per_s"] if ramp else None, true_ramp),
        }
        for name, window in phase_windows(cfg).items():
            out["gpus"][gpu][name + "_energy_error"] = window_error(t, cols["power_instant_w"], window, truth, gpu)
        e_sum += counter_j or 0.0
        e_inst_sum += inst_j
        t_sum += true_j
    out["samples"] = sum(g["samples"] for g in out["gpus"].values())
    out["energy_error"] = ps.rel_error(e_sum, t_sum)
    out["energy_instant_error"] = ps.rel_error(e_inst_sum, t_sum)
    return out


def evaluate_baseline(summary, csv_path, truth, cfg, interval_s):
    edge_s, after_s = ramp_window(cfg)
    true_ramp = cfg["preset"]["ramp_w_per_s"]
    sim_t0_ns = summary["fake_sim_t0_ns"]
    data = read_baseline_csv(csv_path)
    out = {"gpus": {}, "self_cpu_us_per_sample": summary.get("cpu_us_per_sample"), "errors": summary.get("errors")}
    e_sum = t_sum = 0.0
    for gpu, cols in sorted(data.items()):
        t = sim_s(cols["t_ns"], sim_t0_ns)
        pairs = ps.clean_pairs(t, cols["power_w"])
        e_j = ps.trapezoid([p[0] for p in pairs], [p[1] for p in pairs])
        true_j = truth.true_energy_between_j(gpu, int(t[0] * 1e9), int(t[-1] * 1e9))
        ramp = ps.ramp_10_90(t, cols["power_w"], edge_s, lead_s=1.0, after_s=after_s)
        out["gpus"][gpu] = {
            "samples": len(t), "timing": ps.tick_timing([x / 1e9 for x in cols["t_ns"]], interval_s),
            "energy_j": e_j, "true_j": true_j, "energy_error": ps.rel_error(e_j, true_j),
            "ramp_w_per_s": ramp["rate_w_per_s"] if ramp else None,
            "ramp_error": ps.rel_error(ramp["rate_w_per_s"] if ramp else None, true_ramp),
        }
        for name, window in phase_windows(cfg).items():
            out["gpus"][gpu][name + "_energy_error"] = window_error(t, cols["power_w"], window, truth, gpu)
        e_sum += e_j
        t_sum += true_j
    out["samples"] = sum(g["samples"] for g in out["gpus"].values())
    out["energy_error"] = ps.rel_error(e_sum, t_sum)
    return out


def run_one(args, firmus, library, interval_ms, gpus, repeat, workdir):
    """One side-by-side run; returns the raw result dict."""
    seed = args.seed + repeat
    env = child_env(library, gpus, args.preset, seed)
    truth = TruthOracle(env)  # initialised before the children: its history covers theirs
    cfg = truth.cfg
    tag = "i%g-g%d-r%d" % (interval_ms, gpus, repeat)
    db = os.path.join(workdir, "compare-%s.db" % tag)
    bcsv = os.path.join(workdir, "baseline-%s.csv" % tag)
    bjson = os.path.join(workdir, "baseline-%s.json" % tag)
    firmus_cmd = [firmus, "record", "--backend", "nvml", "--interval", "%g" % interval_ms, "--duration",
                  "%g" % args.duration, "--db", db, "--name", "compare", "--quiet"]
    base_cmd = [sys.executable, os.path.join(HERE, "baseline_pynvml.py"), "--interval", "%g" % (interval_ms / 1e3),
                "--duration", "%g" % args.duration, "--csv", bcsv, "--json", bjson] + (["--threads"] if args.baseline_threads else [])
    firmus_spawn_ns = time.monotonic_ns()
    fproc = subprocess.Popen(firmus_cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    bproc = subprocess.Popen(base_cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    f_rc, f_cpu = wait_with_rusage(fproc)
    b_rc, b_cpu = wait_with_rusage(bproc)
    f_err, b_err = fproc.stderr.read().decode(errors="replace"), bproc.stderr.read().decode(errors="replace")
    result = {"interval_ms": interval_ms, "gpus": gpus, "repeat": repeat, "seed": seed, "preset": cfg["preset"],
              "firmus_rc": f_rc, "baseline_rc": b_rc}
    if f_rc != 0:
        result["firmus_error"] = f_err.strip()[-500:]
    else:
        run = gpu_summary.load_run(db, "compare")
        fr = evaluate_firmus(run, firmus_spawn_ns, truth, cfg, interval_ms / 1e3)
        fr["process_cpu_s"] = f_cpu
        # how late firmus's first tick came after its spawn: an upper bound
        # on the error of using the spawn instant as its sim time origin
        fr["first_tick_after_spawn_ms"] = (run.t0_ns() - firmus_spawn_ns) / 1e6
        fr["process_cpu_us_per_sample"] = f_cpu / fr["samples"] * 1e6 if fr["samples"] else None
        result["firmus"] = fr
    if b_rc != 0:
        result["baseline_error"] = b_err.strip()[-500:]
    else:
        with open(bjson) as f:
            bsum = json.load(f)
        br = evaluate_baseline(bsum, bcsv, truth, cfg, interval_ms / 1e3)
        br["process_cpu_s"] = b_cpu
        br["process_cpu_us_per_sample"] = b_cpu / br["samples"] * 1e6 if br["samples"] else None
        result["baseline"] = br
    sim_rate = truth.sim_cpu_s_per_s()
    result["sim_cpu_s_per_s"] = sim_rate
    for who in ("firmus", "baseline"):
        m = result.get(who)
        if m and sim_rate is not None and m["samples"]:
            span = max(g["timing"].get("span_s") or 0.0 for g in m["gpus"].values())
            sampler_cpu = m["process_cpu_s"] - sim_rate * span
            m["sampler_cpu_us_per_sample"] = sampler_cpu / m["samples"] * 1e6
    truth.close()
    for p in (db, db + "-wal", db + "-shm", bcsv, bjson):
        if os.path.exists(p) and not args.keep:
            os.remove(p)
    return result


# ---------------------------------------------------------------- report

METRICS = [
    # (label, getter, format, ratio meaning)
    ("CPU per GPU sample, process (us)", lambda m: m.get("process_cpu_us_per_sample"), "%.1f"),
    ("CPU per GPU sample, without the fake's simulator (us)", lambda m: m.get("sampler_cpu_us_per_sample"), "%.1f"),
    ("CPU per GPU sample, own figure (us)", lambda m: m.get("meta_cpu_us_per_sample", m.get("self_cpu_us_per_sample")), "%.1f"),
    ("achieved rate (Hz)", lambda m: g0(m, "achieved_rate_hz"), "%.2f"),
    ("jitter p50 (us)", lambda m: g0(m, "jitter_p50_us"), "%.0f"),
    ("jitter p99 (us)", lambda m: g0(m, "jitter_p99_us"), "%.0f"),
    ("jitter max (us)", lambda m: g0(m, "jitter_max_us"), "%.0f"),
    ("drift over the run (ms)", lambda m: g0(m, "drift_ms"), "%.1f"),
    ("energy error vs truth, whole run (%)", lambda m: pct_abs(m.get("energy_error")), "%.3f"),
    ("energy error, prefill burst (%, median over GPUs of the magnitude)", lambda m: median_gpu_abs(m, "prefill_burst_energy_error"), "%.2f"),
    ("energy error, decode (%, median over GPUs of the magnitude)", lambda m: median_gpu_abs(m, "decode_energy_error"), "%.2f"),
    ("ramp-rate error vs truth (%, median over GPUs)", lambda m: median_gpu(m, "ramp_error", pct=True), "%.1f"),
]


DRIFT_FLOOR_MS = 1.0  # below this firmus's drift is start-up noise: ratio shown as a bound


def ratio_cell(f, b, floor):
    """baseline / firmus on magnitudes; when firmus is below `floor` the
    ratio is only a lower bound (> b / floor)."""
    if f is None or b is None:
        return "n/a"
    if floor and abs(f) < floor:
        return "> x%.0f (firmus < %g)" % (abs(b) / floor, floor)
    r = ps.ratio(abs(b), abs(f))
    return "n/a" if r is None else "x%.1f" % r


def g0(m, key):
    gpus = m.get("gpus") or {}
    first = gpus.get(0) or gpus.get("0")
    return (first or {}).get("timing", {}).get(key)


def median_gpu_abs(m, key):
    vals = [abs(g.get(key)) for g in (m.get("gpus") or {}).values() if g.get(key) is not None]
    return 100.0 * statistics.median(vals) if vals else None


def pct_abs(x):
    return None if x is None else 100.0 * abs(x)


def median_gpu(m, key, pct=False):
    vals = [g.get(key) for g in (m.get("gpus") or {}).values() if g.get(key) is not None]
    if not vals:
        return None
    v = statistics.median(vals)
    return 100.0 * v if pct else v


def med(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(x, spec):
    return "n/a" if x is None else spec % x


def render(results, args):
    lines = ["Side-by-side on the fake NVML (preset %s), %g s per run, medians over %d repeat(s); "
             "baseline loop shape: %s; ratio = baseline / firmus." %
             (args.preset, args.duration, args.repeats,
              "one thread per GPU" if args.baseline_threads else "one loop over all GPUs"), ""]
    configs = sorted({(r["interval_ms"], r["gpus"]) for r in results}, key=lambda c: (-c[0], c[1]))
    for interval_ms, gpus in configs:
        rs = [r for r in results if r["interval_ms"] == interval_ms and r["gpus"] == gpus]
        ok = [r for r in rs if "firmus" in r and "baseline" in r]
        lines += ["**%g ms, %d GPU%s** (%d/%d runs complete)" % (interval_ms, gpus, "s" if gpus > 1 else "", len(ok), len(rs)), "",
                  "| metric | firmus | original (Python) | ratio |", "|---|---|---|---|"]
        for label, get, spec in METRICS:
            f = med([get(r["firmus"]) for r in ok])
            b = med([get(r["baseline"]) for r in ok])
            if label.startswith("achieved rate"):
                ratio_text = "-"
            else:
                ratio_text = ratio_cell(f, b, DRIFT_FLOOR_MS if label.startswith("drift") else 0.0)
            lines.append("| %s | %s | %s | %s |" % (label, fmt(f, spec), fmt(b, spec), ratio_text))
        f_inst = med([pct_abs(r["firmus"].get("energy_instant_error")) for r in ok])
        own = [r["firmus"].get("meta_jitter_us") or [None] * 3 for r in ok]
        missed = med([r["firmus"].get("meta_missed_ticks") for r in ok])
        lines += ["", "firmus's own figures: lateness behind its deadlines p50/p99/max %s / %s / %s us, missed ticks %s; "
                  "integrated instant power over the whole run |error| %s %%." %
                  (fmt(med([o[0] for o in own]), "%.0f"), fmt(med([o[1] for o in own]), "%.0f"),
                   fmt(med([o[2] for o in own]), "%.0f"), fmt(missed, "%.0f"), fmt(f_inst, "%.3f")), ""]
        for r in rs:
            for who in ("firmus", "baseline"):
                if who + "_error" in r:
                    lines.append("- repeat %d: %s failed: %s" % (r["repeat"], who, r[who + "_error"].splitlines()[-1] if r[who + "_error"] else "?"))
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="firmus record vs the original Python sampler on the fake NVML, against sim truth.")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per run (default 60)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--intervals", default="25,10", help="ms, comma-separated (default 25,10)")
    ap.add_argument("--gpus", default="1,8", help="GPU counts, comma-separated (default 1,8)")
    ap.add_argument("--preset", default="Qwen3-32B")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write all raw results here")
    ap.add_argument("--markdown", help="write the tables here (default: stdout)")
    ap.add_argument("--baseline-threads", action="store_true",
                    help="baseline with one monitor thread per GPU (the original's MultiGPUCoordinator) instead of one loop")
    ap.add_argument("--keep", action="store_true", help="keep the per-run databases and CSVs (in --workdir)")
    ap.add_argument("--workdir", help="where runs write (default: a temp dir)")
    args = ap.parse_args(argv)
    firmus = os.environ.get("FIRMUS_BIN") or os.path.join(ROOT, "build", "firmus")
    library = os.environ.get("FIRMUS_NVML_LIBRARY") or fake_truth.default_library()
    for path, what in ((firmus, "firmus binary (FIRMUS_BIN)"), (library, "fake NVML (FIRMUS_NVML_LIBRARY)")):
        if not os.path.exists(path):
            print("compare_baseline: no %s at %s (build with ./scripts/build.sh)" % (what, path), file=sys.stderr)
            return 3
    intervals = [float(x) for x in args.intervals.split(",") if x]
    gpu_counts = [int(x) for x in args.gpus.split(",") if x]
    workdir = args.workdir or tempfile.mkdtemp(prefix="firmus-compare-")
    os.makedirs(workdir, exist_ok=True)
    results = []
    for repeat in range(args.repeats):
        for interval_ms in intervals:
            for gpus in gpu_counts:
                t0 = time.monotonic()
                r = run_one(args, firmus, library, interval_ms, gpus, repeat, workdir)
                results.append(r)
                print("compare_baseline: %g ms, %d GPU(s), repeat %d: firmus rc %s, baseline rc %s (%.0f s)" %
                      (interval_ms, gpus, repeat, r["firmus_rc"], r["baseline_rc"], time.monotonic() - t0), file=sys.stderr)
    meta = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host_cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(), "args": vars(args)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2, default=str)
            f.write("\n")
    text = render(results, args)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0 if all("firmus" in r and "baseline" in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
