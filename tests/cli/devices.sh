#!/usr/bin/env bash
# Shell test of `firmus devices`: --help, the table and --json through the
# fake libnvidia-ml.so.1 (tests/fakenvml) and on the sim backend, a missing
# NVML (one-line error, exit 3) and bad options (exit 2).
set -uo pipefail

[ -n "${FIRMUS_BIN:-}" ] || { echo "FIRMUS_BIN not set"; exit 77; }
fake="${FIRMUS_FAKENVML_DIR:-}/libnvidia-ml.so.1"
[ -f "$fake" ] || { echo "fake NVML not built"; exit 77; }
for v in $(env | sed -n 's/^\(FAKENVML_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset FIRMUS_NVML_LIBRARY

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE CMD... : runs CMD, stdout -> $tmp/out, stderr -> $tmp/err
expect() {
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want: $(head -c 400 "$tmp/err")"
}

# --help
expect 0 "$FIRMUS_BIN" devices --help
grep -q -- "--backend" "$tmp/out" || fail "--help does not mention --backend"

# table through the fake NVML: one line per GPU, then the versions
FAKENVML_GPUS=2 FAKENVML_DRIVER_VERSION=590.48.01 expect 0 "$FIRMUS_BIN" devices --library "$fake"
[ "$(grep -c '^[0-9] .*NVIDIA H200 (fakenvml)' "$tmp/out")" -eq 2 ] || fail "table lacks 2 GPU lines"
grep -q 'hopper .* 700 W .*power_instant,power_avg_1s,energy_counter' "$tmp/out" \
  || fail "table line lacks arch/limit/power readings: $(cat "$tmp/out")"
grep -q '^backend nvml: driver 590.48.01, NVML ' "$tmp/out" || fail "no driver/NVML line"
[ -s "$tmp/err" ] && fail "stderr not empty: $(cat "$tmp/err")"

# the same through FIRMUS_NVML_LIBRARY and --json
FAKENVML_GPUS=2 FAKENVML_NO_INSTANT=1 FIRMUS_NVML_LIBRARY="$fake" \
  expect 0 "$FIRMUS_BIN" devices --json
python3 - "$tmp/out" <<'EOF' || fail "JSON check failed"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["backend"] == "nvml", doc
assert doc["driver_version"] and doc["nvml_version"] and doc["library_path"].startswith("/")
devs = doc["devices"]
assert [d["index"] for d in devs] == [0, 1], devs
for d in devs:
    assert d["arch"] == "hopper" and d["power_limit_w"] == 700.0
    caps = d["capabilities"]
    assert caps["power_instant"] is False and d["power_instant_source"] is None
    assert caps["power_avg_1s"] is True and caps["energy_counter"] is True
    assert set(caps) == {"power_instant", "power_avg_1s", "energy_counter", "temperature",
                         "sm_clock", "utilization", "memory_used", "clock_events"}
    assert d["idle_power_w"] is None
EOF

# a GPU without instant power gets a note in the table
FAKENVML_NO_INSTANT=1 expect 0 "$FIRMUS_BIN" devices --library "$fake"
grep -q '^note: GPU 0 gives no instant power' "$tmp/out" || fail "no note for missing instant power"

# no NVML: one clear line on stderr, exit 3
expect 3 "$FIRMUS_BIN" devices --library /nonexistent/libnvidia-ml.so.1
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "missing NVML: expected one line, got: $(cat "$tmp/err")"
grep -q 'libnvidia-ml.so.1 not found .*try --backend sim' "$tmp/err" || fail "unclear message: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "stdout not empty when NVML is missing"
FIRMUS_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1 expect 3 "$FIRMUS_BIN" devices --json
FAKENVML_INIT_ERROR=9 expect 3 "$FIRMUS_BIN" devices --library "$fake"

# the sim backend
expect 0 "$FIRMUS_BIN" devices --backend sim --gpus 3 --seed 5
[ "$(grep -c '^[0-9] ' "$tmp/out")" -eq 3 ] || fail "sim table lacks 3 GPU lines: $(cat "$tmp/out")"
expect 0 "$FIRMUS_BIN" devices --backend sim --gpus=2 --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["backend"]=="sim" and len(d["devices"])==2' \
  "$tmp/out" || fail "sim JSON check failed"

# bad options
expect 2 "$FIRMUS_BIN" devices --bogus
expect 2 "$FIRMUS_BIN" devices --backend cuda
expect 2 "$FIRMUS_BIN" devices --backend sim --gpus 0
expect 2 "$FIRMUS_BIN" devices --backend sim --library "$fake"
expect 2 "$FIRMUS_BIN" devices --gpus 2
expect 2 "$FIRMUS_BIN" devices --library

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "devices: all checks passed"
