#!/usr/bin/env bash
# Tests the GPU validation kit without a GPU: scripts/gpu-check.sh is
# read-only on the GPU (grep for settings-changing nvidia-smi flags), its
# dry run against the fake libnvidia-ml.so.1 writes a summary whose figures
# match the fake's known sensor model (100 ms instant publication, energy
# counter agreeing with integrated power, markers paired into phases, both
# samplers timed), and scripts/gpu-bundle.sh's ldd check rejects a binary
# that needs SQLite/Jansson and accepts the static bundle it builds.
# Skips (77) when the fake NVML, python3 or the firmus binary is missing.
set -u
src="${FIRMUS_SOURCE_DIR:?}"
bin="${FIRMUS_BIN:-}"
fake_dir="${FIRMUS_FAKENVML_DIR:-}"
build_dir="${FIRMUS_BUILD_DIR:-}"
command -v python3 > /dev/null || { echo "skip: no python3"; exit 77; }
[ -x "$bin" ] || { echo "skip: no firmus binary"; exit 77; }
[ -f "$fake_dir/libnvidia-ml.so.1" ] || { echo "skip: no fake NVML in '$fake_dir'"; exit 77; }
case "$build_dir" in
  *asan*)
    # the kit's Python baseline loads the fake NVML with ctypes; a
    # sanitizer-instrumented fake cannot be loaded into an uninstrumented
    # python3 (the ASan runtime must come first), so the plain build runs this
    echo "skip: sanitizer build (python3 cannot load the instrumented fake NVML)"
    exit 77 ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 1. read-only: no settings-changing nvidia-smi options outside comments
forbidden='(-pl|--power-limit|-lgc|--lock-gpu-clocks|-lmc|--lock-memory-clocks|-rgc|-rmc|-ac|-rac|-acp|-pm|--persistence-mode|-r|--gpu-reset|-mig|--multi-instance-gpu|-c|--compute-mode|-e|--ecc-config|-cc|--auto-boost|-am|-caa|-pl)( |=|$)'
for script in "$src/scripts/gpu-check.sh" "$src/scripts/gpu-bundle.sh"; do
  if grep -v '^[[:space:]]*#' "$script" | grep -E "nvidia-smi([^#]*)[[:space:]]$forbidden" > "$tmp/bad.txt"; then
    cat "$tmp/bad.txt"
    fail "$script uses an nvidia-smi option that changes GPU settings"
  fi
  grep -v '^[[:space:]]*#' "$script" | grep -qE '(nvidia-smi|nvml)[^#]*(reset|SetPowerManagementLimit|SetApplicationsClocks)' \
    && fail "$script resets the GPU or sets its limits/clocks"
done
# the grep itself must catch a forbidden call (a test that cannot fail is a defect)
echo 'nvidia-smi -i 0 -pl 300' | grep -qE "nvidia-smi([^#]*)[[:space:]]$forbidden" || fail "the read-only grep misses -pl"
grep -q "SAFETY — READ-ONLY ON THE GPU" "$src/scripts/gpu-check.sh" || fail "gpu-check.sh lacks its safety statement"

# 2. dry run of the whole kit on the fake NVML, short durations
out="$tmp/out"
OUT="$out" FIRMUS_BIN="$bin" FIRMUS_NVML_LIBRARY="$fake_dir/libnvidia-ml.so.1" \
  GPU_CHECK_IDLE_S=2 GPU_CHECK_DRY_LEAD_S=1.2 GPU_CHECK_DRY_DECODE_S=2 GPU_CHECK_BUDGET_S=120 \
  bash "$src/scripts/gpu-check.sh" --dry-run > "$tmp/check.log" 2>&1
check_rc=$?
# every step must pass
while IFS=$'\t' read -r step status rc secs; do
  case "$status" in
    ok|skipped:*) ;;
    *) tail -n 40 "$tmp/check.log"
       fail "dry-run step $step: $status (exit $rc)" ;;
  esac
done < "$out/steps.tsv"
[ "$check_rc" -eq 0 ] || fail "gpu-check.sh exited $check_rc"
[ -s "$out/summary.md" ] || fail "no summary.md"
[ -s "$out/summary.json" ] || fail "no summary.json"
python3 - "$out/summary.json" << 'EOF' || fail "summary.json does not match the fake's model"
import json, sys
s = json.load(open(sys.argv[1]))
errs = dict(s.get("errors") or {})
assert not errs, "sections failed: %s" % errs
core = {"devices", "devices-json", "record-idle", "baseline-idle", "record-workload", "baseline-workload"}
for step in s["steps"]:
    if step["status"] == "ok":
        core.discard(step["step"])
assert not core, "core steps not ok: %s" % core
# the fake publishes instant power every 100 ms (sim default)
p = s["sensor_periods"]["gpu0"]["power_instant"]["period_s"]
assert p is not None and abs(p - 0.100) < 0.015, "instant update period %r, want 0.100 s" % p
# the energy counter and integrated instant power agree over the workload window
w = s["energy"]["gpu0"]["workload_window"]
assert w["counter_j"] > 0, w
assert abs(w["instant_vs_counter"]) < 0.10, "instant vs counter %r" % w["instant_vs_counter"]
phases = [x["phase"] for x in s["energy"]["gpu0"]["phases"]]
assert phases == ["prefill", "decode"], phases
# the decode draws more than idle and its CV is finite
d = s["ramps"]["gpu0"]["decode"][0]
assert d["instant_mean_w"] > 100, d
r = s["ramps"]["gpu0"]["ramps"][0]["instant"]
assert r and r["rate_w_per_s"] > 100, r
# power-only phases (firmus export --no-markers) vs the schedule-derived
# markers: the same boundaries within the 100 ms sensor period plus the
# few ms between the fake's origin and the recorder's first tick
rows = s["phases"]["rows"]
assert [r["marker"] for r in rows] == ["prefill", "decode"], rows
for r in rows:
    assert abs(r["start_error_s"]) < 0.25 and abs(r["end_error_s"]) < 0.25, r
ramps = [x["ramp_rate_w_per_s"] for x in s["phases"]["segments"] if x["phase"] == "ramp"]
assert ramps and abs(ramps[0] - 546.9) < 0.15 * 546.9, ramps  # Qwen3-32B preset: 546.9 W/s
# both samplers were timed, at the asked 10 ms
for label in ("idle", "workload"):
    e = s["samplers"][label]
    for who in ("firmus", "baseline"):
        t = e[who]["timing_gpu0"]
        assert t and t["samples"] > 50, (label, who, t)
        assert 60 < t["achieved_rate_hz"] <= 101, (label, who, t["achieved_rate_hz"])
print("summary ok")
EOF
grep -q "Sensor update periods" "$out/summary.md" || fail "summary.md lacks the sensor section"

# 3. the bundle's ldd check rejects a dynamically linked firmus ...
mkdir -p "$tmp/dynbundle"
cp "$bin" "$tmp/dynbundle/firmus"
if ldd "$bin" | grep -qE 'libsqlite3|libjansson'; then
  GPU_BUNDLE_DIR="$tmp/dynbundle" bash "$src/scripts/gpu-bundle.sh" --check-only > "$tmp/dyn.log" 2>&1 \
    && fail "the ldd check accepted a firmus that needs libsqlite3/libjansson"
  grep -qE 'libsqlite3|libjansson' "$tmp/dyn.log" || fail "the ldd check did not name the library"
fi
# ... and accepts the static bundle it builds (in the build tree, so later
# runs are incremental)
bundle_build="${build_dir:-$tmp}/gpu-bundle-test"
if ! (cd "$src" && GPU_BUNDLE_DIR="$tmp/bundle" GPU_BUNDLE_BUILD_DIR="$bundle_build" \
      bash scripts/gpu-bundle.sh > "$tmp/bundle.log" 2>&1); then
  cat "$tmp/bundle.log"
  fail "scripts/gpu-bundle.sh failed"
fi
for f in firmus bench/baseline_pynvml.py bench/gpu_summary.py workloads/llm_inference.py scripts/gpu-check.sh; do
  [ -e "$tmp/bundle/$f" ] || fail "bundle lacks $f"
done
ldd "$tmp/bundle/firmus" | grep -qE 'libsqlite3|libjansson' && fail "bundle firmus links SQLite/Jansson dynamically"
"$tmp/bundle/firmus" --version > /dev/null || fail "bundle firmus does not run"
echo "gpu kit ok"
