#!/usr/bin/env bash
# Tests bench/gpu_summary.py and bench/powerstats.py against a synthetic GPU
# whose truth is known exactly: true power idle 65 W, a 500 W/s linear ramp
# to 565 W, a 0.6 s prefill plateau, a 7 s decode alternating 390/410 W
# every 37 ms, a -200 W/s fall; sensors as on Hopper (instant published
# every 100 ms, 1 s moving average published every 100 ms, energy counter
# updated every 100 ms), sampled at 10 ms. Checks the update periods, the
# energy by each source, the 10-90 % ramp from instant vs averaged power,
# the decode CV, marker pairing and the tolerant handling of missing inputs.
# Needs only python3 (skips with 77 otherwise).
set -u
src="${FIRMUS_SOURCE_DIR:?}"
command -v python3 > /dev/null || { echo "skip: no python3"; exit 77; }
python3 -c 'import sqlite3' 2> /dev/null || { echo "skip: python3 has no sqlite3"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 - "$tmp" "$src" << 'EOF'
import json, math, os, sqlite3, subprocess, sys
out, src = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "bench"))
import powerstats as ps

STEP = 0.001  # truth resolution, s

def true_power(t):
    if t < 2.0: return 65.0
    if t < 3.0: return 65.0 + 500.0 * (t - 2.0)
    if t < 3.6: return 565.0
    if t < 10.6: return 390.0 if int((t - 3.6) / 0.037) % 2 == 0 else 410.0
    fall = 400.0 - 200.0 * (t - 10.6)
    return max(fall, 65.0)

T_END = 14.0
n_steps = int(T_END / STEP)
truth = [true_power(i * STEP) for i in range(n_steps)]
cum = [0.0]
for p in truth:
    cum.append(cum[-1] + p * STEP)

def sensors(t):
    """instant, 1 s average, counter (J) as published at time t."""
    k = int(t / 0.1)           # publication index
    tp = k * 0.1
    i = int(round(tp / STEP))
    inst = sum(truth[max(0, i - 25):i]) / max(1, min(25, i)) if i > 0 else truth[0]
    j0 = max(0, i - 1000)
    avg = (cum[i] - cum[j0]) / ((i - j0) * STEP) if i > j0 else truth[0]
    return round(inst, 3), round(avg, 3), round(cum[i], 3)

db = sqlite3.connect(os.path.join(out, "firmus.db"))
db.executescript("""
CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT, t0_ns INTEGER, start_wall_ns INTEGER,
                   end_ns INTEGER, interval_ms REAL);
CREATE TABLE run_meta (run_id INTEGER, key TEXT, value TEXT);
CREATE TABLE devices (run_id INTEGER, gpu INTEGER, name TEXT, arch TEXT, supported_names TEXT,
                      power_instant_source TEXT, power_avg_source TEXT, energy_source TEXT);
CREATE TABLE samples (run_id INTEGER, gpu INTEGER, t_ns INTEGER, power_instant_w REAL,
                      power_avg_w REAL, energy_j REAL);
CREATE TABLE markers (id INTEGER PRIMARY KEY, run_id INTEGER, t_ns INTEGER, kind TEXT, name TEXT,
                      tokens INTEGER, request INTEGER, gpu INTEGER, energy_j REAL);
""")
T0 = 5_000_000_000
for run_id, name in ((1, "gpucheck-idle"), (2, "gpucheck-workload")):
    db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?)", (run_id, name, T0, 1_700_000_000_000_000_000,
                                                          T0 + int(T_END * 1e9), 10.0))
    db.execute("INSERT INTO run_meta VALUES (?,?,?)", (run_id, "record.interval_requested_ms", "10.000"))
    db.execute("INSERT INTO run_meta VALUES (?,?,?)", (run_id, "record.cpu_us_per_sample", "12.5"))
    db.execute("INSERT INTO devices VALUES (?,?,?,?,?,?,?,?)", (run_id, 0, "Synthetic H100", "hopper",
               "power_instant,power_avg,energy", "field 186", "GetPowerUsage", "TotalEnergy"))
    for k in range(int(T_END / 0.01)):
        t = k * 0.01 + 0.0003
        inst, avg, e = sensors(t) if name.endswith("workload") else (65.0 + (int(t / 0.1) % 3), 65.0, round(65.0 * int(t / 0.1) * 0.1, 3))
        if k == 500:
            inst = None  # a missing reading must be skipped, not read as 0 W
        db.execute("INSERT INTO samples VALUES (?,?,?,?,?,?)", (run_id, 0, T0 + int(t * 1e9), inst, avg, e))
for t, kind, nm, tok in ((2.0, "start", "prefill", None), (3.6, "end", "prefill", None),
                         (3.6, "start", "decode", None), (10.6, "end", "decode", 700), (12.9, "mark", "x", None)):
    db.execute("INSERT INTO markers (run_id, t_ns, kind, name, tokens, request, gpu) VALUES (2,?,?,?,?,-1,-1)",
               (T0 + int(t * 1e9), kind, nm, tok))
db.commit()
db.close()
# nvidia-smi's log over the workload run: local wall-clock timestamps (ms),
# power.draw = the 1 s average, power.draw.instant = the instant value
import datetime
W0 = 1_700_000_000.0
with open(os.path.join(out, "nvidia-smi.csv"), "w") as f:
    f.write("timestamp, power.draw [W], power.draw.instant [W]\n")
    for k in range(int(T_END / 0.01)):
        t = k * 0.01 + 0.0005
        inst, avg, _ = sensors(t)
        stamp = datetime.datetime.fromtimestamp(W0 + t).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
        f.write("%s, %.2f W, %s\n" % (stamp, avg, "[N/A]" if k == 7 else "%.2f W" % inst))
    f.write("2023/11/14 22:13")  # truncated last line, as real logs have
with open(os.path.join(out, "steps.tsv"), "w") as f:
    f.write("record-idle\tok\t0\t10\nshow-workload\tfailed\t1\t0\n")

rc = subprocess.call([sys.executable, os.path.join(src, "bench", "gpu_summary.py"), out])
assert rc == 0, rc
s = json.load(open(os.path.join(out, "summary.json")))
md = open(os.path.join(out, "summary.md")).read()

def near(x, want, tol, what):
    assert x is not None and abs(x - want) <= tol, "%s: %r, want %r +- %r" % (what, x, want, tol)

# missing inputs are reported, not fatal
assert set(s["errors"]) == {"phases"}, s["errors"]
smi = s["nvidia_smi"]
assert smi["rows"] == int(T_END / 0.01), smi["rows"]
near(smi["power.draw.instant_update"]["period_s"], 0.1, 0.002, "nvidia-smi instant update period")
near(smi["energy_power.draw.instant_j"] / (cum[-1] - cum[0]), 1.0, 0.02, "nvidia-smi instant energy")
assert "failed" in md and "Sensor update periods" in md
per = s["sensor_periods"]["gpu0"]
near(per["power_instant"]["period_s"], 0.1, 0.002, "idle instant period")
near(per["energy_counter"]["period_s"], 0.1, 0.002, "idle counter period")
# energy over the marked workload window: counter exact to one update, instant close
true_w = cum[int(10.6 / STEP)] - cum[int(2.0 / STEP)]
w = s["energy"]["gpu0"]["workload_window"]
near(w["counter_j"], true_w, 0.1 * 565 * 1.01, "counter energy")
near(w["integrated_instant_j"] / true_w, 1.0, 0.02, "integrated instant energy")
ph = s["energy"]["gpu0"]["phases"]
assert [p["phase"] for p in ph] == ["prefill", "decode"] and ph[1]["tokens"] == 700, ph
near(ph[1]["j_per_token_counter"], 400 * 7.0 / 700, 0.2, "J/token")
# ramp: the instant power shows the true 500 W/s within the 100 ms staircase;
# the 1 s average is slower (the original's figures came from it)
r = s["ramps"]["gpu0"]["ramps"][0]
near(r["instant"]["rate_w_per_s"], 500, 75, "ramp from instant power")
assert r["avg_1s"]["rate_w_per_s"] < 0.8 * r["instant"]["rate_w_per_s"], r
f = s["ramps"]["gpu0"]["falls"][0]
near(f["instant"]["rate_w_per_s"], -200, 30, "fall from instant power")
d = s["ramps"]["gpu0"]["decode"][0]
near(d["instant_mean_w"], 400, 8, "decode mean (instant)")
assert d["instant_cv"] > 0.01 > d["avg_1s_cv"], d  # the average hides the per-token swing
# the statistics helpers themselves, on exact inputs
tt = ps.tick_timing([0.0, 0.010, 0.021, 0.030], 0.010)
near(tt["jitter_max_us"], 1000, 1e-6, "jitter max"); near(tt["drift_ms"], 0.0, 1e-9, "drift")
assert ps.cv([None, 2.0, 2.0]) == 0.0 and ps.trapezoid([0, 1, 2], [1, 1, 3]) == 3.0
assert ps.update_period([0, 1, 2], [1, 1, 1])["period_s"] is None
print("gpu_summary synthetic ok")
EOF
