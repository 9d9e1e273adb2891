#!/usr/bin/env python3
"""Summarises a GPU-check results folder (scripts/gpu-check.sh) into
summary.json and summary.md. Standard library only (sqlite3, json, csv).

It reads what the check left in the folder (every input is optional; a
missing or broken one is reported, never fatal):
  firmus.db           run store with the runs "gpucheck-idle" and "gpucheck-workload"
  devices.json        `firmus devices --json`
  show-idle.json, show-workload.json   `firmus show --json`
  export/profile-power-only.json       `firmus export --no-markers` (power-only phases)
  baseline-idle.json/.csv, baseline-workload.json/.csv   bench/baseline_pynvml.py
  nvidia-smi.csv      nvidia-smi --query-gpu=timestamp,power.draw,power.draw.instant -lms 10
  workload.json       the workload's own report (workloads/llm_inference.py)
  steps.tsv           step<TAB>status<TAB>exit code<TAB>seconds, written by the check
and computes, with the definitions of bench/powerstats.py:
  1. what NVML supports (devices, sources, driver/NVML versions);
  2. sensor update periods measured at 10 ms on an idle GPU (median time
     between value changes of instant power, 1 s average, energy counter);
  3. energy over the workload window by counter vs integrated instant vs
     integrated 1 s average (and per phase between markers);
  4. ramp rates (10-90 %) into each prefill and fall rates after each
     decode, from instant vs 1 s-average power, and decode CV from both;
  5. power-only phase boundaries (firmus export --no-markers) vs markers;
  6. sampler timing and CPU: firmus vs the Python baseline;
  7. nvidia-smi's own view (achieved interval, update periods, energy).

Usage: gpu_summary.py RESULTS_DIR [--db FILE]
Exit 0 when the summary was written (even if inputs were missing), 1 if it
could not be written.
"""

import argparse
import csv
import datetime
import json
import math
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import powerstats as ps  # noqa: E402

try:
    import sqlite3
except ImportError:  # some minimal Pythons lack it; reported in the summary
    sqlite3 = None

IDLE_RUN = "gpucheck-idle"
WORKLOAD_RUN = "gpucheck-workload"


# ---------------------------------------------------------------- loading

def load_json(path):
    with open(path) as f:
        return json.load(f)


class Run:
    """One firmus run read from the store: samples per GPU as columns."""

    def __init__(self, row, meta, devices, samples, markers):
        self.row = row
        self.meta = meta
        self.devices = devices
        self.samples = samples  # gpu -> dict of column -> list
        self.markers = markers  # list of dicts, time order

    def t0_ns(self):
        return self.row["t0_ns"]


def load_run(db_path, name):
    if sqlite3 is None:
        raise RuntimeError("this Python has no sqlite3 module")
    if not os.path.exists(db_path):
        raise RuntimeError("no run store at %s" % db_path)
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    con.row_factory = sqlite3.Row
    try:
        row = con.execute("SELECT * FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1", (name,)).fetchone()
        if row is None:
            raise RuntimeError("run '%s' is not in %s" % (name, db_path))
        run_id = row["id"]
        meta = {r["key"]: r["value"] for r in con.execute("SELECT key, value FROM run_meta WHERE run_id = ?", (run_id,))}
        devices = [dict(r) for r in con.execute("SELECT * FROM devices WHERE run_id = ? ORDER BY gpu", (run_id,))]
        samples = {}
        cols = ("t_ns", "power_instant_w", "power_avg_w", "energy_j")
        for r in con.execute("SELECT gpu, t_ns, power_instant_w, power_avg_w, energy_j FROM samples "
                             "WHERE run_id = ? ORDER BY gpu, t_ns", (run_id,)):
            g = samples.setdefault(r["gpu"], {c: [] for c in cols})
            for c in cols:
                g[c].append(r[c])
        markers = [dict(r) for r in con.execute("SELECT * FROM markers WHERE run_id = ? ORDER BY t_ns", (run_id,))]
        return Run(dict(row), meta, devices, samples, markers)
    finally:
        con.close()


def seconds(run, t_ns_list):
    t0 = run.t0_ns()
    return [(t - t0) / 1e9 for t in t_ns_list]


# ---------------------------------------------------------------- sections

def section_devices(out_dir, runs):
    result = {}
    path = os.path.join(out_dir, "devices.json")
    if os.path.exists(path):
        result["firmus_devices_json"] = load_json(path)
    run = runs.get("idle") or runs.get("workload")
    if run:
        result["devices"] = [{k: d.get(k) for k in ("gpu", "name", "arch", "power_limit_w", "supported_names",
                                                  "power_instant_source", "power_avg_source", "energy_source",
                                                  "driver_version", "nvml_version", "library_path")
                              if k in d} for d in run.devices]
    return result


def periods_of(run):
    out = {}
    for gpu, cols in sorted(run.samples.items()):
        t = seconds(run, cols["t_ns"])
        out["gpu%d" % gpu] = {
            "power_instant": ps.update_period(t, cols["power_instant_w"]),
            "power_avg_1s": ps.update_period(t, cols["power_avg_w"]),
            "energy_counter": ps.update_period(t, cols["energy_j"]),
        }
    return out


def section_sensor_periods(out_dir, runs):
    run = runs.get("idle")
    if not run:
        raise RuntimeError("idle run missing")
    result = {"method": "median time between value changes, sampled at %s ms on an idle GPU" %
              run.meta.get("record.interval_requested_ms", "?")}
    result.update(periods_of(run))
    if runs.get("workload"):
        # under load every publication changes the value, so this is the cleaner estimate
        result["under_load"] = periods_of(runs["workload"])
    show = os.path.join(out_dir, "show-idle.json")
    if os.path.exists(show):
        result["firmus_show_sensor"] = find_keys(load_json(show), ("period", "resolution", "sensor"))
    return result


def find_keys(obj, words, path="", found=None, limit=40):
    """Collects (path, value) of JSON keys containing any of `words`
    (firmus show's layout is its own; we quote what it says)."""
    if found is None:
        found = {}
    if len(found) >= limit:
        return found
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = "%s.%s" % (path, k) if path else k
            if any(w in k.lower() for w in words) and not isinstance(v, (dict, list)):
                found[p] = v
            else:
                find_keys(v, words, p, found, limit)
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:50]):
            find_keys(v, words, "%s[%d]" % (path, i), found, limit)
    return found


def marker_windows(run):
    """Pairs start/end markers of the same name, in order: a list of
    {name, start_s, end_s, tokens}."""
    open_marks, windows = {}, []
    for m in run.markers:
        t = (m["t_ns"] - run.t0_ns()) / 1e9
        if m["kind"] == "start":
            open_marks[m["name"]] = t
        elif m["kind"] == "end" and m["name"] in open_marks:
            windows.append({"name": m["name"], "start_s": open_marks.pop(m["name"]), "end_s": t,
                            "tokens": m["tokens"] if m["tokens"] is not None and m["tokens"] >= 0 else None})
    return windows


def held_value_at(t, v, at):
    """Last present value at or before `at` (zero-order hold)."""
    best = None
    for ti, vi in ps.clean_pairs(t, v):
        if ti > at:
            break
        best = vi
    return best


def window_energy(t, cols, t_from, t_to):
    """Energy in [t_from, t_to] by the three sources (J)."""
    inside = [i for i, ti in enumerate(t) if t_from <= ti <= t_to]
    out = {"window_s": [t_from, t_to]}
    for key, col in (("integrated_instant_j", "power_instant_w"), ("integrated_avg_1s_j", "power_avg_w")):
        pairs = ps.clean_pairs([t[i] for i in inside], [cols[col][i] for i in inside])
        out[key] = ps.trapezoid([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) > 1 else None
    # the counter is read on its own grid (every 100 ms by default), so most
    # rows have none: take the held value at each end; at the very start of
    # a run, where nothing is held yet, the first reading and its time
    counter = ps.clean_pairs(t, cols["energy_j"])
    e0 = held_value_at(t, cols["energy_j"], t_from)
    if e0 is None and counter and counter[0][0] <= t_to:
        out["counter_from_s"] = counter[0][0]
        e0 = counter[0][1]
    e1 = held_value_at(t, cols["energy_j"], t_to)
    out["counter_j"] = (e1 - e0) if e0 is not None and e1 is not None else None
    if t_to - t_from < 1.0:
        # nvml.md: the counter updates about every 100 ms; over less than
        # a second its difference is mostly quantisation
        out["counter_j"] = None
        out["counter_note"] = "window < 1 s: counter not used"
    out["instant_vs_counter"] = ps.rel_error(out["integrated_instant_j"], out["counter_j"])
    out["avg_1s_vs_counter"] = ps.rel_error(out["integrated_avg_1s_j"], out["counter_j"])
    return out


def section_energy(runs):
    run = runs.get("workload")
    if not run:
        raise RuntimeError("workload run missing")
    windows = marker_windows(run)
    result = {"note": "counter = energy-counter difference (held values at the window ends); "
                      "integrated = trapezoid over the 10 ms samples; relative differences vs the counter"}
    for gpu, cols in sorted(run.samples.items()):
        t = seconds(run, cols["t_ns"])
        first_counter = next((ti for ti, _ in ps.clean_pairs(t, cols["energy_j"])), t[0])
        g = {"whole_run": window_energy(t, cols, first_counter, t[-1])}  # from the first counter reading
        work = [w for w in windows if w["name"] in ("prefill", "decode")]
        if work:
            g["workload_window"] = window_energy(t, cols, min(w["start_s"] for w in work),
                                                 max(w["end_s"] for w in work))
        g["phases"] = []
        for w in work:
            e = window_energy(t, cols, w["start_s"], w["end_s"])
            e["phase"] = w["name"]
            e["tokens"] = w["tokens"]
            if w["tokens"] and e["counter_j"] is not None:
                e["j_per_token_counter"] = e["counter_j"] / w["tokens"]
            g["phases"].append(e)
        result["gpu%d" % gpu] = g
    return result


def lower_bound_note(rise_s, period_s):
    if rise_s is None or period_s is None:
        return None
    return "lower bound: the rise took <= 1.5 sensor periods" if rise_s <= 1.5 * period_s else None


def section_ramps(runs, periods):
    run = runs.get("workload")
    if not run:
        raise RuntimeError("workload run missing")
    windows = marker_windows(run)
    result = {"method": "10-90 % rise (fall) time of the edge at each marker: 0.8 * swing / (t90 - t10); "
                        "instant = field 186, avg_1s = nvmlDeviceGetPowerUsage (what the original used); "
                        "decode CV over [start decode + 1 s, end decode] (1 s trimmed so the average settles)"}
    for gpu, cols in sorted(run.samples.items()):
        t = seconds(run, cols["t_ns"])
        inst_period = None
        try:
            inst_period = periods["gpu%d" % gpu]["power_instant"]["period_s"]
        except (KeyError, TypeError):
            pass
        prefills = [w for w in windows if w["name"] == "prefill"]
        decodes = [w for w in windows if w["name"] == "decode"]
        ramps, falls, cvs = [], [], []
        for i, w in enumerate(prefills):
            dur = w["end_s"] - w["start_s"]
            entry = {"prefill_start_s": w["start_s"], "prefill_s": dur}
            for key, col, extra in (("instant", "power_instant_w", 0.3), ("avg_1s", "power_avg_w", 1.5)):
                r = ps.ramp_10_90(t, cols[col], w["start_s"], lead_s=1.0, after_s=dur + extra)
                if r and key == "instant":
                    r["note"] = lower_bound_note(r["rise_10_90_s"], inst_period)
                entry[key] = r
            ramps.append(entry)
        for w in decodes:
            entry = {"decode_end_s": w["end_s"]}
            for key, col in (("instant", "power_instant_w"), ("avg_1s", "power_avg_w")):
                neg = [None if v is None else -v for v in cols[col]]
                r = ps.ramp_10_90(t, neg, w["end_s"], lead_s=1.0, after_s=3.0)
                if r:
                    r = {"rate_w_per_s": -r["rate_w_per_s"], "level_before_w": -r["level_before_w"],
                         "level_after_w": -r["peak_w"], "rise_10_90_s": r["rise_10_90_s"]}
                    if key == "instant":
                        r["note"] = lower_bound_note(r["rise_10_90_s"], inst_period)
                entry[key] = r
            falls.append(entry)
            lo, hi = w["start_s"] + 1.0, w["end_s"]
            inside = [i for i, ti in enumerate(t) if lo <= ti <= hi]
            c = {"decode_window_s": [lo, hi], "tokens": w["tokens"]}
            for key, col in (("instant", "power_instant_w"), ("avg_1s", "power_avg_w")):
                vals = [cols[col][i] for i in inside if cols[col][i] is not None]
                c[key + "_cv"] = ps.cv(vals)
                c[key + "_mean_w"] = sum(vals) / len(vals) if vals else None
            cvs.append(c)
        result["gpu%d" % gpu] = {"ramps": ramps, "falls": falls, "decode": cvs}
    return result


def profile_segments(profile, gpu=0):
    """Power-only segments [(phase, start_s, end_s, ramp_rate)] of one GPU
    from `firmus export --no-markers` (x_firmus.phases.segments: a column
    list and rows per GPU, times in s from the run's start)."""
    seg = profile["x_firmus"]["phases"]["segments"]
    cols = seg["columns"]
    rows = (seg.get("gpu") or {}).get(str(gpu)) or seg.get("aggregate") or []
    i_phase, i_start, i_end = cols.index("phase"), cols.index("start_s"), cols.index("end_s")
    i_rate = cols.index("ramp_rate_w_per_s") if "ramp_rate_w_per_s" in cols else None
    return [(r[i_phase], r[i_start], r[i_end], r[i_rate] if i_rate is not None else None) for r in rows]


def nearest(times, t):
    return min(times, key=lambda x: abs(x - t)) if times else None


def section_phases(out_dir, runs):
    run = runs.get("workload")
    if not run:
        raise RuntimeError("workload run missing")
    path = os.path.join(out_dir, "export", "profile-power-only.json")
    if not os.path.exists(path):
        raise RuntimeError("export/profile-power-only.json missing (firmus export --no-markers)")
    segs = profile_segments(load_json(path))
    if not segs:
        raise RuntimeError("the power-only profile has no segments")
    # the work starts where the power starts to rise: a marked prefill begins
    # at a detected ramp (or prefill) start and ends at a detected prefill end;
    # a marked decode begins at a detected decode start and ends where the
    # decode ends (the fall starts)
    starts = {"prefill": [s[1] for s in segs if s[0] in ("ramp", "prefill") and
                          not (s[0] == "prefill" and any(r[0] == "ramp" and abs(r[2] - s[1]) < 1e-6 for r in segs))],
              "decode": [s[1] for s in segs if s[0] == "decode"]}
    ends = {"prefill": [s[2] for s in segs if s[0] == "prefill"],
            "decode": [s[2] for s in segs if s[0] == "decode"]}
    rows = []
    for w in marker_windows(run):
        if w["name"] not in starts:
            continue
        ds, de = nearest(starts[w["name"]], w["start_s"]), nearest(ends[w["name"]], w["end_s"])
        rows.append({"marker": w["name"], "start_s": w["start_s"], "end_s": w["end_s"],
                     "detected_start_s": ds, "detected_end_s": de,
                     "start_error_s": None if ds is None else ds - w["start_s"],
                     "end_error_s": None if de is None else de - w["end_s"]})
    return {"note": "times in s from the run's first tick; detected = `firmus export --no-markers` segments of GPU 0 "
                    "(a marked prefill starts at a detected ramp start); error = detected - marker",
            "segments_detected": len(segs),
            "segments": [{"phase": p, "start_s": a, "end_s": b, "ramp_rate_w_per_s": r} for p, a, b, r in segs],
            "rows": rows}


def firmus_timing(run):
    out = {"meta": {k: v for k, v in run.meta.items() if k.startswith("record.") and
                    any(w in k for w in ("jitter", "cpu", "interval", "missed", "samples", "ticks", "duration"))}}
    interval_s = float(run.meta.get("record.interval_requested_ms", run.row.get("interval_ms") or 10)) / 1e3
    for gpu, cols in sorted(run.samples.items()):
        out["gpu%d" % gpu] = ps.tick_timing([x / 1e9 for x in cols["t_ns"]], interval_s)
    return out


def section_samplers(out_dir, runs):
    result = {"note": "jitter = |dt - interval| between consecutive samples of GPU 0 (same definition for both); "
                      "drift = (last - first) - (n - 1) * interval; CPU per GPU sample: firmus from its own "
                      "getrusage over the run (record.cpu_us_per_sample), baseline from time.process_time over its loop"}
    for label in ("idle", "workload"):
        entry = {}
        run = runs.get(label)
        if run:
            ft = firmus_timing(run)
            entry["firmus"] = {"timing_gpu0": ft.get("gpu0"), "meta": ft["meta"]}
        bpath = os.path.join(out_dir, "baseline-%s.json" % label)
        if os.path.exists(bpath):
            b = load_json(bpath)
            g0 = b.get("per_gpu", {}).get(str(b.get("gpus", [0])[0])) if b.get("gpus") else None
            entry["baseline"] = {"timing_gpu0": g0.get("timing") if g0 else None,
                                 "cpu_us_per_sample": b.get("cpu_us_per_sample"),
                                 "samples": b.get("samples"), "errors": b.get("errors"),
                                 "first_error": b.get("first_error")}
        if "firmus" in entry and "baseline" in entry:
            f_cpu = _float(entry["firmus"]["meta"].get("record.cpu_us_per_sample"))
            b_cpu = entry["baseline"]["cpu_us_per_sample"]
            ft0 = entry["firmus"]["timing_gpu0"] or {}
            bt0 = entry["baseline"]["timing_gpu0"] or {}
            entry["ratios_baseline_over_firmus"] = {
                "cpu_per_sample": ps.ratio(b_cpu, f_cpu),
                "jitter_p99": ps.ratio(bt0.get("jitter_p99_us"), ft0.get("jitter_p99_us")),
                # firmus's drift is ~0 (absolute deadlines): a ratio to it is only a bound
                "abs_drift": (ps.ratio(abs(bt0["drift_ms"]), max(abs(ft0["drift_ms"]), 1.0))
                              if "drift_ms" in bt0 and "drift_ms" in ft0 else None),
                "abs_drift_is_lower_bound": bool("drift_ms" in ft0 and abs(ft0["drift_ms"]) < 1.0),
            }
        result[label] = entry
    return result


def _float(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def parse_smi_value(text):
    text = (text or "").strip()
    if not text or text.startswith("[") or text.upper().startswith("N/A"):
        return None
    try:
        return float(text.split()[0])
    except ValueError:
        return None


def section_nvidia_smi(out_dir, runs):
    path = os.path.join(out_dir, "nvidia-smi.csv")
    if not os.path.exists(path):
        # a dry run has no nvidia-smi; on a GPU the step table shows why it is missing
        return {"skipped": "no nvidia-smi.csv (dry run, or nvidia-smi missing/failed: see steps)"}
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f, skipinitialspace=True)
        header = next(reader, None)
        if not header:
            raise RuntimeError("nvidia-smi.csv is empty")
        names = [h.split(" [")[0].strip() for h in header]
        for rec in reader:
            if len(rec) != len(names):
                continue  # truncated last line
            rows.append(dict(zip(names, rec)))
    if len(rows) < 3:
        raise RuntimeError("nvidia-smi.csv has %d rows" % len(rows))
    t, draw, inst = [], [], []
    for r in rows:
        try:
            ts = datetime.datetime.strptime(r["timestamp"].strip(), "%Y/%m/%d %H:%M:%S.%f")
        except (KeyError, ValueError):
            continue
        t.append(ts.timestamp())
        draw.append(parse_smi_value(r.get("power.draw")))
        inst.append(parse_smi_value(r.get("power.draw.instant")))
    if len(t) < 3:
        raise RuntimeError("nvidia-smi.csv: no parsable timestamps")
    result = {"rows": len(t), "timing": ps.tick_timing(t, 0.010),
              "power.draw_update": ps.update_period(t, draw),
              "power.draw.instant_update": ps.update_period(t, inst),
              "note": "timestamps are nvidia-smi's wall clock with ms resolution (host local time)"}
    run = runs.get("workload")
    if run and run.row.get("start_wall_ns"):
        # the workload run's first and last tick in wall-clock seconds
        w0 = run.row["start_wall_ns"] / 1e9
        span = (run.row["end_ns"] - run.row["t0_ns"]) / 1e9 if run.row.get("end_ns") else None
        tz = datetime.datetime.now().astimezone().utcoffset()
        # nvidia-smi prints local time; timestamp() above already interpreted it as local
        if span:
            for key, series in (("energy_power.draw_j", draw), ("energy_power.draw.instant_j", inst)):
                pairs = [(ti, v) for ti, v in ps.clean_pairs(t, series) if w0 <= ti <= w0 + span]
                result[key] = ps.trapezoid([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) > 1 else None
            result["energy_window"] = "the workload run's span, aligned by wall clock (tz offset %s)" % tz
    return result


def read_steps(out_dir):
    path = os.path.join(out_dir, "steps.tsv")
    steps = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4:
                    steps.append({"step": parts[0], "status": parts[1], "rc": parts[2], "seconds": parts[3]})
    return steps


# ---------------------------------------------------------------- report

def fmt(x, spec="%.3g"):
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    try:
        return spec % x
    except TypeError:
        return str(x)


def pct(x):
    return "n/a" if x is None else "%+.2f %%" % (100 * x)


def render_markdown(s):
    lines = ["# GPU check summary", ""]
    lines.append("Generated %s by bench/gpu_summary.py from %s." % (s["generated_utc"], s["results_dir"]))
    lines.append("")
    steps = s.get("steps") or []
    if steps:
        lines += ["## Steps", "", "| step | status | exit | s |", "|---|---|---|---|"]
        lines += ["| %s | %s | %s | %s |" % (x["step"], x["status"], x["rc"], x["seconds"]) for x in steps]
        lines.append("")
    errs = s.get("errors") or {}
    if errs:
        lines += ["## Sections that could not be computed", ""]
        lines += ["- %s: %s" % (k, v) for k, v in errs.items()]
        lines.append("")
    dev = s.get("devices") or {}
    if dev.get("devices"):
        lines += ["## Devices", ""]
        d0 = dev["devices"][0]
        lines.append("- driver %s, NVML %s, library %s" % (d0.get("driver_version"), d0.get("nvml_version"), d0.get("library_path")))
        for d in dev["devices"]:
            lines.append("- GPU %s: %s (%s), supports %s; instant from %s, average from %s, energy from %s" % (
                d.get("gpu"), d.get("name"), d.get("arch"), d.get("supported_names"),
                d.get("power_instant_source"), d.get("power_avg_source"), d.get("energy_source")))
        lines.append("")
    per = s.get("sensor_periods") or {}
    gpus = [k for k in per if k.startswith("gpu")]
    if gpus:
        lines += ["## Sensor update periods (%s; also under load)" % per.get("method"), "",
                  "| GPU | instant (s) | 1 s average (s) | energy counter (s) |", "|---|---|---|---|"]
        for label, table in (("idle", per), ("under load", per.get("under_load") or {})):
            for g in [k for k in table if k.startswith("gpu")]:
                p = table[g]
                lines.append("| %s, %s | %s | %s | %s |" % (g, label, fmt(p["power_instant"]["period_s"]),
                                                            fmt(p["power_avg_1s"]["period_s"]), fmt(p["energy_counter"]["period_s"])))
        lines.append("")
    en = s.get("energy") or {}
    for g in [k for k in en if k.startswith("gpu")]:
        lines += ["## Energy, %s (J)" % g, "", "| window | counter | integrated instant | integrated 1 s avg | instant vs counter | avg vs counter |",
                  "|---|---|---|---|---|---|"]
        rows = [("whole run", en[g]["whole_run"])]
        if "workload_window" in en[g]:
            rows.append(("workload (markers)", en[g]["workload_window"]))
        seen = {}
        for p in en[g]["phases"]:
            seen[p["phase"]] = seen.get(p["phase"], 0) + 1
            rows.append(("%s %d" % (p["phase"], seen[p["phase"]]), p))
        for name, e in rows:
            lines.append("| %s | %s | %s | %s | %s | %s |" % (name, fmt(e["counter_j"], "%.1f"), fmt(e["integrated_instant_j"], "%.1f"),
                                                              fmt(e["integrated_avg_1s_j"], "%.1f"), pct(e["instant_vs_counter"]), pct(e["avg_1s_vs_counter"])))
        lines.append("")
    rp = s.get("ramps") or {}
    for g in [k for k in rp if k.startswith("gpu")]:
        lines += ["## Ramps, falls and decode CV, %s" % g, "", rp.get("method", ""), "",
                  "| prefill at (s) | prefill (s) | ramp instant (W/s) | rise instant (s) | ramp 1 s avg (W/s) | rise avg (s) |",
                  "|---|---|---|---|---|---|"]
        for r in rp[g]["ramps"]:
            i, a = r.get("instant") or {}, r.get("avg_1s") or {}
            note = " (%s)" % i["note"] if i.get("note") else ""
            lines.append("| %s | %s | %s%s | %s | %s | %s |" % (fmt(r["prefill_start_s"], "%.2f"), fmt(r["prefill_s"], "%.3f"),
                                                              fmt(i.get("rate_w_per_s"), "%.0f"), note, fmt(i.get("rise_10_90_s"), "%.3f"),
                                                              fmt(a.get("rate_w_per_s"), "%.0f"), fmt(a.get("rise_10_90_s"), "%.3f")))
        lines += ["", "| decode end (s) | fall instant (W/s) | fall 1 s avg (W/s) |", "|---|---|---|"]
        for r in rp[g]["falls"]:
            i, a = r.get("instant") or {}, r.get("avg_1s") or {}
            lines.append("| %s | %s | %s |" % (fmt(r["decode_end_s"], "%.2f"), fmt(i.get("rate_w_per_s"), "%.0f"), fmt(a.get("rate_w_per_s"), "%.0f")))
        lines += ["", "| decode window (s) | tokens | mean instant (W) | CV instant | mean 1 s avg (W) | CV 1 s avg |", "|---|---|---|---|---|---|"]
        for c in rp[g]["decode"]:
            lines.append("| %s-%s | %s | %s | %s | %s | %s |" % (fmt(c["decode_window_s"][0], "%.2f"), fmt(c["decode_window_s"][1], "%.2f"),
                                                               fmt(c["tokens"], "%d"), fmt(c["instant_mean_w"], "%.1f"), fmt(c["instant_cv"], "%.4f"),
                                                               fmt(c["avg_1s_mean_w"], "%.1f"), fmt(c["avg_1s_cv"], "%.4f")))
        lines.append("")
    ph = s.get("phases") or {}
    if ph.get("rows"):
        lines += ["## Phase boundaries: power-only detection vs markers", "", ph["note"], "",
                  "| phase | marker start | detected start | error | marker end | detected end | error |", "|---|---|---|---|---|---|---|"]
        for r in ph["rows"]:
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (r["marker"], fmt(r["start_s"], "%.3f"), fmt(r.get("detected_start_s"), "%.3f"),
                                                                  fmt(r.get("start_error_s"), "%+.3f"), fmt(r["end_s"], "%.3f"),
                                                                  fmt(r.get("detected_end_s"), "%.3f"), fmt(r.get("end_error_s"), "%+.3f")))
        lines.append("")
    sm = s.get("samplers") or {}
    if sm:
        lines += ["## Sampler timing: firmus vs the original's Python loop", "", sm.get("note", ""), "",
                  "| run | method | samples | rate (Hz) | jitter p50 / p99 / max (us) | intervals > 2x | drift (ms) | CPU per sample (us) |",
                  "|---|---|---|---|---|---|---|---|"]
        for label in ("idle", "workload"):
            e = sm.get(label) or {}
            for method in ("firmus", "baseline"):
                m = e.get(method)
                if not m:
                    continue
                tt = m.get("timing_gpu0") or {}
                cpu = m["meta"].get("record.cpu_us_per_sample") if method == "firmus" else m.get("cpu_us_per_sample")
                lines.append("| %s | %s | %s | %s | %s / %s / %s | %s | %s | %s |" % (
                    label, method, fmt(tt.get("samples"), "%d"), fmt(tt.get("achieved_rate_hz"), "%.2f"),
                    fmt(tt.get("jitter_p50_us"), "%.0f"), fmt(tt.get("jitter_p99_us"), "%.0f"), fmt(tt.get("jitter_max_us"), "%.0f"),
                    fmt(tt.get("late_intervals_over_2x"), "%d"), fmt(tt.get("drift_ms"), "%.1f"), fmt(_float(cpu), "%.1f")))
            r = e.get("ratios_baseline_over_firmus")
            if r:
                lines.append("| %s | baseline / firmus | | | p99 x%s | | %sx%s | x%s |" % (
                    label, fmt(r["jitter_p99"], "%.1f"), ">= " if r.get("abs_drift_is_lower_bound") else "",
                    fmt(r["abs_drift"], "%.1f"), fmt(r["cpu_per_sample"], "%.1f")))
        lines.append("")
    smi = s.get("nvidia_smi") or {}
    if smi.get("rows"):
        tt = smi["timing"]
        lines += ["## nvidia-smi's own view (-lms 10)", "",
                  "- %d rows, achieved interval %s ms (asked 10), jitter p99 %s us" % (smi["rows"], fmt(tt.get("achieved_interval_ms"), "%.2f"), fmt(tt.get("jitter_p99_us"), "%.0f")),
                  "- power.draw changes every %s s; power.draw.instant every %s s (median)" % (fmt(smi["power.draw_update"].get("period_s")), fmt(smi["power.draw.instant_update"].get("period_s"))),
                  "- energy over the workload run: power.draw %s J, power.draw.instant %s J" % (fmt(smi.get("energy_power.draw_j"), "%.1f"), fmt(smi.get("energy_power.draw.instant_j"), "%.1f")),
                  ""]
    wl = s.get("workload_report")
    if wl:
        lines += ["## Workload", "", "%s, %s params, %s on %s; load %s s" % (wl.get("size"), fmt(wl.get("params"), "%.3g"), wl.get("dtype"), wl.get("device_name"), fmt(wl.get("load_s"), "%.1f")), "",
                  "| batch | prompt tokens | prefill (s) | generated tokens | decode (s) | tokens/s |", "|---|---|---|---|---|---|"]
        for b in wl.get("batches", []):
            if "error" in b:
                lines.append("| %s | failed: %s | | | | |" % (b.get("batch"), b["error"]))
                continue
            lines.append("| %s | %s | %s | %s | %s | %s |" % (b["batch"], b["prompt_tokens"], fmt(b["prefill_s"], "%.3f"), b["generated_tokens"],
                                                              fmt(b["decode_s"], "%.2f"), fmt(b["decode_tokens_per_s"], "%.0f")))
        lines.append("")
    return "\n".join(lines) + "\n"


def build_summary(out_dir, db_path):
    s = {"generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "results_dir": out_dir, "errors": {}}
    s["steps"] = read_steps(out_dir)
    runs = {}
    for label, name in (("idle", IDLE_RUN), ("workload", WORKLOAD_RUN)):
        try:
            runs[label] = load_run(db_path, name)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
            s["errors"]["run_" + label] = str(e)

    def attempt(key, fn, *args):
        try:
            s[key] = fn(*args)
        except Exception as e:  # noqa: BLE001
            s["errors"][key] = "%s: %s" % (type(e).__name__, e)
            if os.environ.get("GPU_SUMMARY_DEBUG"):
                traceback.print_exc()
        return s.get(key)

    attempt("devices", section_devices, out_dir, runs)
    periods = attempt("sensor_periods", section_sensor_periods, out_dir, runs)
    attempt("energy", section_energy, runs)
    attempt("ramps", section_ramps, runs, periods or {})
    attempt("phases", section_phases, out_dir, runs)
    attempt("samplers", section_samplers, out_dir, runs)
    attempt("nvidia_smi", section_nvidia_smi, out_dir, runs)
    wl = os.path.join(out_dir, "workload.json")
    if os.path.exists(wl):
        attempt("workload_report", load_json, wl)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description="Summarise a GPU-check results folder into summary.json and summary.md.")
    ap.add_argument("results_dir")
    ap.add_argument("--db", help="run store (default RESULTS_DIR/firmus.db)")
    args = ap.parse_args(argv)
    db = args.db or os.path.join(args.results_dir, "firmus.db")
    s = build_summary(args.results_dir, db)
    try:
        with open(os.path.join(args.results_dir, "summary.json"), "w") as f:
            json.dump(s, f, indent=2, default=str)
            f.write("\n")
        try:
            text = render_markdown(s)
        except Exception as e:  # noqa: BLE001 - the JSON is written; say why the table failed
            text = "# GPU check summary\n\nRendering failed (%s: %s); see summary.json.\n" % (type(e).__name__, e)
        with open(os.path.join(args.results_dir, "summary.md"), "w") as f:
            f.write(text)
    except OSError as e:
        print("gpu_summary: cannot write the summary: %s" % e, file=sys.stderr)
        return 1
    print("gpu_summary: wrote %s/summary.md and summary.json (%d section(s) failed)" %
          (args.results_dir, len(s["errors"])), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
