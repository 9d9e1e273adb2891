#!/usr/bin/env bash
# firmus ls / firmus show end to end: help and usage errors, missing and
# malformed stores, then a store filled with plain SQL (the schema of
# docs/STORE.md) holding a finished 2-GPU run with exactly known energy and
# a RECORDING run whose writer is dead. Checks the JSON figures against the
# hand-computed truth and that missing values are null / "unavailable".
set -u
: "${FIRMUS_BIN:?FIRMUS_BIN not set (run through ctest)}"
command -v sqlite3 >/dev/null || { echo "sqlite3 shell missing: skip"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skip"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check NAME CONDITION-EXIT-CODE
  if [ "$2" -ne 0 ]; then echo "FAIL: $1"; fails=$((fails + 1)); else echo "ok: $1"; fi
}
expect_exit() { # expect_exit NAME CODE cmd...
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ]
  check "$name (exit $got, want $want)" $?
}

# ---- help and usage ----
expect_exit "ls --help" 0 "$FIRMUS_BIN" ls --help
grep -q "usage: firmus ls" "$tmp/out"; check "ls --help text" $?
expect_exit "show --help" 0 "$FIRMUS_BIN" show --help
grep -q -- "--tokens-per-query" "$tmp/out"; check "show --help text" $?
expect_exit "ls bad flag" 2 "$FIRMUS_BIN" ls --bogus
expect_exit "show without RUN" 2 "$FIRMUS_BIN" show --db "$tmp/x.db"
expect_exit "show --tokens abc" 2 "$FIRMUS_BIN" show 1 --tokens abc
expect_exit "show --tokens-per-query 0" 2 "$FIRMUS_BIN" show 1 --tokens-per-query 0
expect_exit "show --tokens-per-query 1e-310 (underflow)" 2 "$FIRMUS_BIN" show 1 --tokens-per-query 1e-310

# ---- missing and malformed stores ----
expect_exit "ls missing store" 1 "$FIRMUS_BIN" ls --db "$tmp/none.db"
grep -q "$tmp/none.db" "$tmp/err"; check "missing store named" $?
[ ! -e "$tmp/none.db" ]; check "ls does not create a store" $?
for i in $(seq 50); do echo "not a database at all"; done >"$tmp/garbage.db"
expect_exit "ls malformed store" 1 "$FIRMUS_BIN" ls --db "$tmp/garbage.db"
grep -q "garbage.db" "$tmp/err" && grep -qi "not a database" "$tmp/err"
check "malformed store message names file and cause" $?
[ "$(wc -l <"$tmp/err")" -eq 1 ]; check "one-line error" $?

# ---- an empty store: firmus creates the schema ----
db="$tmp/runs.db"
: >"$db"
expect_exit "ls empty store" 0 "$FIRMUS_BIN" ls --db "$db"
grep -q "no runs" "$tmp/out"; check "empty store says so" $?

# ---- fill it with SQL ----
# Run 1: 2 GPUs, 401 samples every 25 ms (0..10 s).
#  GPU 0: instant 100 W for samples 0..199, 300 W from 200; counter in J that
#         advances by the held power: counter diff = 100*5 + 300*5 = 2000 J.
#         No 1 s average (NULL).
#  GPU 1: instant 50 W throughout, no counter: held integral 500 J.
#  Total 2500 J. Tokens: markers 1000 + 1500 = 2500 -> 1 J/token.
#  Prefill markers 2..3 s: 100 W * 1 s + 50 W * 1 s = 150 J.
# Run 2: RECORDING, writer pid of a process that has exited -> incomplete.
sleep 0 &
dead_pid=$!
wait "$dead_pid"
sqlite3 "$db" <<SQL || { echo "FAIL: sqlite3 insert"; exit 1; }
INSERT INTO runs(id, name, model, params, tags, backend, source, start_wall_ns, t0_ns, end_ns,
                 gpus, interval_ms, tokens, status, exit_code, writer_pid)
VALUES (1, 'known', 'Qwen3-32B', 32e9, 'test', 'sim', 'record', 1767225600000000000, 0,
        10000000000, 2, 25, NULL, 1, 0, 1);
INSERT INTO devices(run_id, gpu, device_index, name, arch, power_limit_w, supported,
                    power_instant_source, backend)
VALUES (1, 0, 0, 'Simulated H200', 'hopper', 700, 5, 'sim instant sensor', 'sim'),
       (1, 1, 1, 'Simulated H200', 'hopper', 700, 1, 'sim instant sensor', 'sim');
WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k < 400)
INSERT INTO samples(run_id, gpu, t_ns, power_instant_w, energy_j)
SELECT 1, 0, k * 25000000, CASE WHEN k < 200 THEN 100.0 ELSE 300.0 END,
       CASE WHEN k <= 200 THEN 1000.0 + 2.5 * k ELSE 1500.0 + 7.5 * (k - 200) END FROM i;
WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k < 400)
INSERT INTO samples(run_id, gpu, t_ns, power_instant_w) SELECT 1, 1, k * 25000000, 50.0 FROM i;
INSERT INTO markers(run_id, t_ns, kind, name, tokens, gpu) VALUES
  (1, 2000000000, 'start', 'prefill', NULL, NULL),
  (1, 3000000000, 'end', 'prefill', NULL, NULL),
  (1, 4000000000, 'tokens', '', 1000, NULL),
  (1, 9000000000, 'tokens', '', 1500, NULL);
INSERT INTO run_meta(run_id, key, value) VALUES (1, 'jitter_p99_us', '37.5');
INSERT INTO runs(id, name, gpus, status, writer_pid, t0_ns, start_wall_ns)
VALUES (2, 'crashed', 1, 0, $dead_pid, 0, 1767225700000000000);
INSERT INTO samples(run_id, gpu, t_ns, power_instant_w) VALUES (2, 0, 0, 80.0), (2, 0, 25000000, 80.0);
SQL

expect_exit "ls" 0 "$FIRMUS_BIN" ls --db "$db"
grep -E "^ +1 +known .*2\.50 kJ +complete" "$tmp/out" >/dev/null; check "ls row of run 1" $?
grep -E "^ +2 +crashed .* incomplete" "$tmp/out" >/dev/null; check "ls row of dead run" $?
head -2 "$tmp/out" | tail -1 | grep -q crashed; check "ls newest first" $?

expect_exit "ls --json" 0 "$FIRMUS_BIN" ls --db "$db" --json
python3 - "$tmp/out" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
assert [r["id"] for r in runs] == [2, 1], runs
known, crashed = runs[1], runs[0]
assert abs(known["energy_j"] - 2500.0) < 1e-6, known
assert known["status"] == "complete" and crashed["status"] == "incomplete"
assert known["duration_s"] == 10.0 and known["gpus"] == 2
assert crashed["model"] is None and crashed["tokens"] is None
PY
check "ls --json figures" $?

expect_exit "show --json" 0 "$FIRMUS_BIN" show 1 --db "$db" --json
python3 - "$tmp/out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["energy"]
close = lambda a, b: a is not None and abs(a - b) < 1e-9 * max(1, abs(b))
assert close(e["total_energy_j"], 2500.0), e
assert e["energy_source"] == "mixed"
assert e["tokens"] == 2500 and e["tokens_source"] == "markers"
assert close(e["joules_per_token"], 1.0) and close(e["tokens_per_joule"], 1.0)
assert close(e["wh_per_1k_queries"], 100 * 1000 / 3600.0)
assert close(e["avg_power_w"], 250.0)
assert close(e["peak_power_w"], 350.0)
x = r["energy_cross_check"]
assert close(x[0]["energy_counter_j"], 2000.0) and close(x[0]["energy_instant_j"], 2000.0)
assert close(x[0]["ratio_instant_to_counter"], 1.0)
assert x[0]["energy_avg_1s_j"] is None and x[0]["ratio_avg_to_counter"] is None
assert x[1]["energy_counter_j"] is None and close(x[1]["energy_instant_j"], 500.0)
assert x[2]["gpu"] == "all" and x[2]["energy_counter_j"] is None
g = r["gpus"]
assert g[0]["energy_source"] == "energy_counter" and g[1]["energy_source"] == "power_instant"
assert g[0]["peak_power_w"] == 300.0 and g[1]["power_cv"] == 0.0
assert g[1]["sensor_period_s"] is None  # a constant signal has no estimable period
m = r["markers"]
assert m["source"] == "markers" and close(m["prefill_energy_j"], 150.0)
assert m["decode_energy_j"] is None
t = r["thermal"]
assert t[0]["temp_avg_c"] is None and t[0]["thermal_throttled"] is None
assert r["recording"] == {"jitter_p99_us": "37.5"}
assert r["run"]["status"] == "complete" and r["run"]["exit_code"] == 0
assert r["devices"]["gpus"][0]["supported"] == ["power_instant", "energy_counter"]
PY
check "show --json figures" $?

expect_exit "show by name, overrides" 0 \
  "$FIRMUS_BIN" show known --db "$db" --json --tokens 5000 --tokens-per-query 50
python3 - "$tmp/out" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["energy"]
assert e["tokens"] == 5000 and e["tokens_source"] == "override"
assert abs(e["joules_per_token"] - 0.5) < 1e-12
assert abs(e["wh_per_1k_queries"] / (0.5 * 50 * 1000 / 3600) - 1) < 1e-12
PY
check "show overrides" $?

expect_exit "show text" 0 "$FIRMUS_BIN" show 1 --db "$db"
grep -q "total energy.*2.50 kJ" "$tmp/out"; check "show text total" $?
grep -q "unavailable" "$tmp/out"; check "show text says unavailable" $?
grep -qw "0.0 J" "$tmp/out"; [ $? -ne 0 ]; check "no missing value printed as 0 J" $?

expect_exit "show last" 0 "$FIRMUS_BIN" show last --db "$db" --json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["run"]["status"]=="incomplete"' \
  "$tmp/out"
check "show last is the dead run, incomplete" $?
expect_exit "show unknown run" 1 "$FIRMUS_BIN" show nope --db "$db"
grep -q "nope" "$tmp/err"; check "unknown run named" $?

FIRMUS_DB="$db" "$FIRMUS_BIN" ls >/dev/null 2>&1
check "FIRMUS_DB picked up" $?

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
