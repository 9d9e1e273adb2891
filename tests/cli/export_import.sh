#!/usr/bin/env bash
# Shell test of `firmus import` and `firmus export`: an nvidia-smi CSV
# written here (units, [N/A], no index column, a truncated last line) is
# imported; the profile exported from it is checked against the digital
# twin's contract with python3 (exact key sets, types, uniform trace);
# malformed logs give one message with file:line and exit 5; bad flags
# exit 2. With ../shared present, the real A100 trace and its markers too.
set -uo pipefail

[ -n "${FIRMUS_BIN:-}" ] || { echo "FIRMUS_BIN not set"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() {
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want: $(head -c 400 "$tmp/err")"
}
db="$tmp/firmus.db"

# A 2-GPU log, 100 ms polls, local time UTC-5: idle, a ramp, prefill,
# decode with noise, a fall, idle. GPU 1 has [N/A] in one row.
python3 - "$tmp/smi.csv" <<'PY'
import math, random, sys
random.seed(3)
out = open(sys.argv[1], "w")
out.write("timestamp, power.draw [W], temperature.gpu, utilization.gpu [%]\n")
def power(t):
    if t < 2: return 65
    if t < 3: return 65 + 580 * (t - 2)
    if t < 3.6: return 645
    if t < 23.6: return 490 + random.gauss(0, 20)
    if t < 25.6: return 490 - 212.5 * (t - 23.6)
    return 65
for k in range(300):
    t = k * 0.1
    s = 100 + k // 10
    ts = "2024/04/05 06:%02d:%02d.%03d" % (s // 60, s % 60, (k % 10) * 100)
    for g in range(2):
        p = "[N/A]" if (g == 1 and k == 50) else "%.2f W" % power(t)
        out.write("%s, %s, %d, %d %%\n" % (ts, p, 40 + int(t), 90))
out.write("2024/04/05 06:05:00.000, 12")  # truncated by the logger
PY

expect 0 "$FIRMUS_BIN" import --help
grep -q -- "--tz" "$tmp/out" || fail "import --help does not mention --tz"
expect 0 "$FIRMUS_BIN" export --help
grep -q -- "--resolution" "$tmp/out" || fail "export --help does not mention --resolution"

expect 0 "$FIRMUS_BIN" import --db "$db" --gpus 2 --tz -05:00 --power-field instant \
  --name synth --model Test-7B --params 7e9 "$tmp/smi.csv"
grep -q "2 GPUs" "$tmp/out" || fail "import summary: $(cat "$tmp/out")"
grep -q "truncated" "$tmp/out" || fail "import did not report the truncated last line"

expect 0 "$FIRMUS_BIN" export --db "$db" synth --json "$tmp/p.json" --csv "$tmp/t.csv" \
  --cooling immersion
python3 - "$tmp/p.json" <<'PY' || fail "profile violates the contract"
import json, sys
d = json.load(open(sys.argv[1]))
top = {"model_name": str, "model_size_params": int, "gpu_platform": str,
       "cooling_type": str, "duration_seconds": (int, float), "power_trace": list,
       "phases": dict, "energy_metrics": dict, "tier": str}
for k, t in top.items():
    assert isinstance(d[k], t), k
assert "thermal_profile" in d
assert d["model_size_params"] == 7000000000
assert d["cooling_type"] == "immersion"
assert d["tier"] in ("tier_1_efficient", "tier_2_standard", "tier_3_high_variance")
pk = {"phase", "start_time", "end_time", "avg_power", "peak_power", "power_stdev",
      "power_cv", "energy_joules"}
assert "decode" in d["phases"]
for name, p in d["phases"].items():
    keys = set(p)
    assert keys in (pk, pk | {"ramp_rate_ws"}), (name, keys)
    assert p["phase"] == name
em = {"total_energy_joules", "tokens_generated", "joules_per_token", "tokens_per_joule",
      "avg_power_watts", "peak_power_watts", "duration_seconds", "wh_per_1k_queries"}
assert set(d["energy_metrics"]) == em
assert isinstance(d["energy_metrics"]["tokens_generated"], int)
assert d["energy_metrics"]["duration_seconds"] == d["duration_seconds"]
tr = d["power_trace"]
dt = tr[1][0] - tr[0][0]
assert tr[0][0] == 0 and abs(dt - 0.1) < 1e-9
assert all(abs(p[0] - i * dt) < 1e-6 for i, p in enumerate(tr))
assert abs(tr[-1][0] - d["duration_seconds"]) < 1e-6
ph = d["phases"]
assert abs(ph["ramp"]["ramp_rate_ws"] - 580) < 30, ph["ramp"]
assert abs(ph["fall"]["ramp_rate_ws"] + 212.5) < 20, ph["fall"]
assert 19 < ph["decode"]["end_time"] - ph["decode"]["start_time"] < 21
PY
head -1 "$tmp/t.csv" | grep -qx "time_s,gpu0_power_w,gpu1_power_w,total_power_w,phase" ||
  fail "CSV header: $(head -1 "$tmp/t.csv")"
[ "$(wc -l <"$tmp/t.csv")" -ge 290 ] || fail "CSV rows: $(wc -l <"$tmp/t.csv")"

# Default file names under --dir; the summary on stderr.
expect 0 "$FIRMUS_BIN" export --db "$db" last --dir "$tmp/wp"
ls "$tmp"/wp/synth-*.json >/dev/null 2>&1 || fail "no JSON under --dir"
grep -q "tier" "$tmp/err" || fail "no summary on stderr"
# show has the profile section
expect 0 "$FIRMUS_BIN" show --db "$db" synth
grep -q "Workload profile" "$tmp/out" || fail "show lacks the profile section"
grep -q "detection idle threshold 100.0 W per GPU: auto:" "$tmp/out" ||
  fail "show lacks the idle threshold: $(grep -i idle "$tmp/out" | head -3)"

# The idle threshold: automatic by default (this log idles at 65 W: the
# seed's 100 W per GPU, 200 W for the 2-GPU aggregate), a number as given.
python3 - "$tmp/p.json" <<'PY' || fail "automatic idle threshold not recorded"
import json, sys
dp = json.load(open(sys.argv[1]))["x_firmus"]["phases"]["detection_params"]
assert dp["idle_below_setting"] == "auto", dp
assert dp["idle_below_w"] == 100.0 and dp["idle_below_w_per_gpu"] == [100.0, 100.0], dp
assert dp["idle_below_w_aggregate"] == 200.0, dp
assert dp["idle_below_source"].startswith("auto: idle level 65.0 W"), dp["idle_below_source"]
PY
expect 0 "$FIRMUS_BIN" export --db "$db" synth --json "$tmp/p150.json" --idle-below 150
python3 - "$tmp/p150.json" <<'PY' || fail "--idle-below 150 not used as given"
import json, sys
dp = json.load(open(sys.argv[1]))["x_firmus"]["phases"]["detection_params"]
assert dp["idle_below_setting"] == 150.0 and dp["idle_below_w"] == 150.0, dp
assert dp["idle_below_w_aggregate"] == 300.0, dp
assert dp["idle_below_source"].startswith("fixed"), dp
PY
expect 2 "$FIRMUS_BIN" export --db "$db" synth --json "$tmp/x.json" --idle-below lots
grep -q "auto" "$tmp/err" || fail "--idle-below error does not mention auto: $(cat "$tmp/err")"

# Auto-export after `firmus record` (sim, virtual time): on by default into
# workload_profiles/ beside the store; --export-dir; --no-export.
mkdir -p "$tmp/rec1" "$tmp/rec2"
expect 0 "$FIRMUS_BIN" record --backend sim --duration 30 --db "$tmp/rec1/f.db" --name auto
ls "$tmp"/rec1/workload_profiles/auto-*.json >/dev/null 2>&1 || fail "no auto-export: $(cat "$tmp/err")"
ls "$tmp"/rec1/workload_profiles/auto-*.csv >/dev/null 2>&1 || fail "no auto-exported CSV"
expect 0 "$FIRMUS_BIN" record --backend sim --duration 30 --db "$tmp/rec1/f.db" --name there \
  --export-dir "$tmp/elsewhere"
ls "$tmp"/elsewhere/there-*.json >/dev/null 2>&1 || fail "--export-dir ignored"
expect 0 "$FIRMUS_BIN" record --backend sim --duration 30 --db "$tmp/rec2/f.db" --no-export
[ ! -e "$tmp/rec2/workload_profiles" ] || fail "--no-export still exported"
# An idle-only run has no profile: a note, not a failure.
expect 0 "$FIRMUS_BIN" record --backend sim --duration 1 --db "$tmp/rec2/g.db"
grep -q "profile *none" "$tmp/err" || fail "idle-only run: $(tail -2 "$tmp/err")"

# Malformed logs: one line naming file:line, exit 5.
printf 'timestamp, power.draw [W]\n2024/04/05 06:00:00.000, 50 W\n2024/04/05 06:00:00.100, fifty W\n2024/04/05 06:00:00.200, 50 W\n' >"$tmp/bad.csv"
expect 5 "$FIRMUS_BIN" import --db "$db" --gpus 1 "$tmp/bad.csv"
grep -q "bad.csv:3:" "$tmp/err" || fail "no file:line in: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "more than one error line"
printf '\x00\x01garbage' >"$tmp/bin.csv"
expect 5 "$FIRMUS_BIN" import --db "$db" --gpus 1 "$tmp/bin.csv"
expect 1 "$FIRMUS_BIN" import --db "$db" --gpus 1 "$tmp/missing.csv"
# Bad flags: exit 2.
expect 2 "$FIRMUS_BIN" import --db "$db" "$tmp/smi.csv"        # no index column, no --gpus
expect 2 "$FIRMUS_BIN" import --db "$db" --tz Mars/Base --gpus 2 "$tmp/smi.csv"
expect 2 "$FIRMUS_BIN" import --db "$db" --power-field watts --gpus 2 "$tmp/smi.csv"
expect 2 "$FIRMUS_BIN" export --db "$db" synth --resolution -1
expect 2 "$FIRMUS_BIN" export --db "$db" synth --gpu 7 --json "$tmp/x.json"
expect 1 "$FIRMUS_BIN" export --db "$db" no-such-run --json "$tmp/x.json"

# Real A100 trace with markers (skipped without ../shared).
real="${FIRMUS_SHARED_DIR:-/nonexistent}/data/real-traces/a100x4-inference-llama2-70b"
if [ -f "$real/nvidia-smi.csv" ]; then
  expect 0 "$FIRMUS_BIN" import --db "$db" --gpus 4 --tz America/Chicago --power-field instant \
    --markers "$real/Llama-2-70b-chat-hf-argonne-swing-4.csv" "$real/nvidia-smi.csv"
  grep -q "added 330 markers" "$tmp/out" || fail "markers: $(cat "$tmp/out")"
  expect 0 "$FIRMUS_BIN" export --db "$db" last --json "$tmp/a100.json"
  python3 - "$tmp/a100.json" <<'PY' || fail "A100 marker energy"
import json, sys
d = json.load(open(sys.argv[1]))
me = d["x_firmus"]["marker_energy"]
assert len(me["windows"]) == 66
assert me["median_abs_rel_diff"] < 0.025, me["median_abs_rel_diff"]
assert abs(me["total_rel_diff"]) < 0.025, me["total_rel_diff"]
PY
  # Wrong zone: markers fall outside the run.
  expect 0 "$FIRMUS_BIN" import --db "$db" --gpus 4 --power-field instant --name utc "$real/nvidia-smi.csv"
  expect 2 "$FIRMUS_BIN" import --db "$db" --run utc --markers "$real/Llama-2-70b-chat-hf-argonne-swing-4.csv"
  grep -q -- "--tz" "$tmp/err" || fail "wrong-zone hint: $(cat "$tmp/err")"
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "ok"
