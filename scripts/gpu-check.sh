#!/usr/bin/env bash
# firmus GPU validation kit: measures what a real NVIDIA GPU's NVML gives
# (fields, sensor and energy-counter update periods), runs a real LLM
# inference workload under `firmus record --high-res` with the original
# framework's Python sampler (bench/baseline_pynvml.py) and nvidia-smi
# polling at the same time, and writes a compact summary. docs/VALIDATION.md
# explains every step and figure.
#
# SAFETY — READ-ONLY ON THE GPU. This script never changes the card's
# settings and never resets it: no power limit, clock lock, persistence
# mode, compute mode, ECC, MIG or reset commands of nvidia-smi (or of
# anything else). Every nvidia-smi call below is a query (-L, -q,
# --query-gpu). tests/cli/gpu_kit.sh greps this file to keep it that way.
#
# Usage:  OUT=/path/to/results scripts/gpu-check.sh [--dry-run]
#   --dry-run (or GPU_CHECK_DRY_RUN=1): run the whole kit here against the
#   fake libnvidia-ml.so.1 (build/fakenvml), with a sleeping stand-in
#   workload (workloads/fake_workload.py) instead of PyTorch.
# Environment (all optional except OUT):
#   OUT                     results folder (created; must be given)
#   FIRMUS_BIN              firmus binary (default .gpu-bundle/firmus, then build/firmus;
#                           in a dry run build/firmus first)
#   GPU_CHECK_BUDGET_S      total time budget in s (default 420); each step's
#                           timeout is cut to what is left, 25 s kept for the summary
#   GPU_CHECK_IDLE_S        idle recording length in s (default 10)
#   GPU_CHECK_GPU           GPU index to use (default 0)
#   GPU_CHECK_WORKLOAD_ARGS extra arguments for workloads/llm_inference.py
#   GPU_CHECK_PYTHON        Python to run the workload and scripts (default python3)
#   dry run only: FIRMUS_NVML_LIBRARY (default build/fakenvml/libnvidia-ml.so.1),
#   GPU_CHECK_DRY_LEAD_S (1.5), GPU_CHECK_DRY_DECODE_S (3) — the fake's schedule.
# Every step is timed out and may fail: failures are recorded in
# $OUT/steps.tsv and the summary, and the kit goes on. The summary
# ($OUT/summary.md, summary.json) is always written. Exit 0 if every step
# passed, 1 if some failed (the summary says which), 2 on bad usage.
set -u

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dry_run="${GPU_CHECK_DRY_RUN:-0}"
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument '$arg' (--dry-run, --help)" >&2; exit 2 ;;
  esac
done
if [ -z "${OUT:-}" ]; then
  echo "gpu-check: set OUT to the results folder (OUT=/tmp/results scripts/gpu-check.sh)" >&2
  exit 2
fi
mkdir -p "$OUT/logs" || { echo "gpu-check: cannot create $OUT" >&2; exit 2; }
OUT="$(cd "$OUT" && pwd)"

budget_s="${GPU_CHECK_BUDGET_S:-420}"
idle_s="${GPU_CHECK_IDLE_S:-10}"
gpu="${GPU_CHECK_GPU:-0}"
py="${GPU_CHECK_PYTHON:-python3}"
summary_reserve_s=25
start_s=$SECONDS
db="$OUT/firmus.db"
steps="$OUT/steps.tsv"
: > "$steps"
failures=0
background_pids=()
summary_done=0

# The binary: $FIRMUS_BIN, else the bundle on a GPU machine (where build/
# is not carried) but the fresh build/ in a dry run (a bundle may be stale).
firmus="${FIRMUS_BIN:-}"
if [ -z "$firmus" ]; then
  candidates=("$root/.gpu-bundle/firmus" "$root/firmus" "$root/build/firmus")
  [ "$dry_run" = 1 ] && candidates=("$root/build/firmus" "$root/.gpu-bundle/firmus" "$root/firmus")
  for candidate in "${candidates[@]}"; do
    if [ -x "$candidate" ]; then firmus="$candidate"; break; fi
  done
fi

log() { echo "gpu-check [$((SECONDS - start_s)) s]: $*" >&2; }

# Records one step's outcome: name, status, exit code, seconds.
record_step() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$steps"; }

# run_step NAME TIMEOUT_S CMD... : runs CMD with a timeout cut to the budget
# left, stdout to logs/NAME.out, stderr to logs/NAME.log; never aborts the kit.
run_step() {
  local name="$1" limit="$2"; shift 2
  local left=$((budget_s - (SECONDS - start_s) - summary_reserve_s))
  if [ "$left" -lt 3 ]; then
    log "$name: skipped (time budget spent)"
    record_step "$name" "skipped: budget" "-" 0
    failures=$((failures + 1))
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS rc
  log "$name (timeout ${limit} s)"
  timeout --kill-after=5 "$limit" "$@" > "$OUT/logs/$name.out" 2> "$OUT/logs/$name.log"
  rc=$?
  local status=ok
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status="timed out"; elif [ "$rc" -ne 0 ]; then status="failed"; fi
  record_step "$name" "$status" "$rc" $((SECONDS - t0))
  if [ "$status" != ok ]; then
    failures=$((failures + 1))
    log "$name: $status (exit $rc); last lines of its output:"
    tail -n 5 "$OUT/logs/$name.out" "$OUT/logs/$name.log" >&2
    return 1
  fi
  return 0
}

skip_step() { record_step "$1" "skipped: $2" "-" 0; log "$1: skipped ($2)"; }

# Stops one of our background processes: TERM, up to 10 s to finish
# (the baseline writes its files on TERM), then KILL. Returns its status.
stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

# Waits up to $2 s for background process $1 to end by itself, then stops it.
wait_pid_for() {
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
  done
  stop_pid "$pid"
}

stop_background() {
  local pid
  for pid in "${background_pids[@]}"; do
    stop_pid "$pid"
  done
  background_pids=()
}

write_summary() {
  [ "$summary_done" = 1 ] && return
  summary_done=1
  stop_background
  log "summary"
  if ! timeout 60 "$py" "$root/bench/gpu_summary.py" "$OUT" > "$OUT/logs/summary.log" 2>&1; then
    failures=$((failures + 1))
    # the summary must exist whatever happened
    { echo "# GPU check summary"; echo; echo "bench/gpu_summary.py failed:"; echo '```';
      tail -n 20 "$OUT/logs/summary.log"; echo '```'; echo; echo "## Steps"; echo; cat "$steps"; } > "$OUT/summary.md"
    [ -s "$OUT/summary.json" ] || echo '{"errors": {"summary": "bench/gpu_summary.py failed; see logs/summary.log"}}' > "$OUT/summary.json"
  fi
}
trap 'write_summary; exit 130' INT TERM
trap 'write_summary' EXIT

log "results in $OUT; budget ${budget_s} s; dry run: $dry_run"
log "read-only: this kit never changes GPU settings or resets the GPU"

# ---- dry run: the fake NVML and a sleeping workload ----------------------
if [ "$dry_run" = 1 ]; then
  export FIRMUS_NVML_LIBRARY="${FIRMUS_NVML_LIBRARY:-${FIRMUS_FAKENVML_DIR:-$root/build/fakenvml}/libnvidia-ml.so.1}"
  export FAKENVML_GPUS="${FAKENVML_GPUS:-1}"
  export FAKENVML_LEAD_IDLE_S="${GPU_CHECK_DRY_LEAD_S:-1.5}"
  export FAKENVML_DECODE_S="${GPU_CHECK_DRY_DECODE_S:-3}"
  if [ ! -f "$FIRMUS_NVML_LIBRARY" ]; then
    log "dry run: no fake NVML at $FIRMUS_NVML_LIBRARY (build it: ./scripts/build.sh)"
  fi
fi

if [ -z "$firmus" ] || [ ! -x "$firmus" ]; then
  log "no firmus binary (run scripts/gpu-bundle.sh, or set FIRMUS_BIN)"
  record_step firmus "failed: no firmus binary" "-" 0
  failures=$((failures + 1))
fi

# ---- 1. environment (queries only) ----------------------------------------
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm)"
  echo "glibc: $(ldd --version 2>/dev/null | head -n 1)"
  echo "python: $("$py" --version 2>&1)"
  [ -n "$firmus" ] && echo "firmus: $("$firmus" --version 2>&1) ($firmus)"
  [ "$dry_run" = 1 ] && echo "dry run: FIRMUS_NVML_LIBRARY=$FIRMUS_NVML_LIBRARY"
} > "$OUT/env.txt"
if [ "$dry_run" != 1 ] && command -v nvidia-smi > /dev/null; then
  run_step nvidia-smi-list 20 nvidia-smi -L && cat "$OUT/logs/nvidia-smi-list.out" >> "$OUT/env.txt"
  run_step nvidia-smi-query 30 nvidia-smi -q -i "$gpu" -d POWER,CLOCK,TEMPERATURE,PERFORMANCE
  run_step nvidia-smi-csv 20 nvidia-smi -i "$gpu" \
    --query-gpu=name,driver_version,vbios_version,pstate,power.limit,enforced.power.limit,temperature.gpu,clocks.sm,power.draw,power.draw.average,power.draw.instant \
    --format=csv && cat "$OUT/logs/nvidia-smi-csv.out" >> "$OUT/env.txt"
  run_step torch-probe 60 "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' \
    && cat "$OUT/logs/torch-probe.out" >> "$OUT/env.txt"
else
  skip_step nvidia-smi "dry run or nvidia-smi missing"
fi

# ---- 2. what NVML supports -------------------------------------------------
if [ -n "$firmus" ]; then
  run_step devices 20 "$firmus" devices && cp "$OUT/logs/devices.out" "$OUT/devices.txt"
  run_step devices-json 20 "$firmus" devices --json && cp "$OUT/logs/devices-json.out" "$OUT/devices.json"
fi

# ---- 3. sensor update periods: idle, 10 ms, firmus and the baseline --------
if [ -n "$firmus" ]; then
  "$py" "$root/bench/baseline_pynvml.py" --interval 0.010 --duration "$idle_s" --gpus "$gpu" \
    --csv "$OUT/baseline-idle.csv" --json "$OUT/baseline-idle.json" > "$OUT/logs/baseline-idle.log" 2>&1 &
  background_pids+=($!)
  # the energy counter is read every 10 ms here (in firmus's energy thread)
  # to resolve its update period; the workload run keeps the 100 ms default
  run_step record-idle $((idle_s + 20)) "$firmus" record --high-res --energy-interval 10 --gpus "$gpu" \
    --duration "$idle_s" --db "$db" --name gpucheck-idle --tag gpucheck --quiet
  wait_pid_for "${background_pids[0]}" 30
  rc=$?
  background_pids=()
  record_step baseline-idle "$([ $rc -eq 0 ] && echo ok || echo failed)" "$rc" "$idle_s"
  [ $rc -eq 0 ] || failures=$((failures + 1))
fi

# ---- 4. the workload under firmus, the baseline and nvidia-smi -------------
if [ -n "$firmus" ]; then
  "$py" "$root/bench/baseline_pynvml.py" --interval 0.010 --duration 0 --gpus "$gpu" \
    --csv "$OUT/baseline-workload.csv" --json "$OUT/baseline-workload.json" > "$OUT/logs/baseline-workload.log" 2>&1 &
  baseline_pid=$!
  background_pids+=("$baseline_pid")
  smi_pid=""
  if [ "$dry_run" != 1 ] && command -v nvidia-smi > /dev/null; then
    fields="timestamp,power.draw,power.draw.instant"
    nvidia-smi -i "$gpu" --query-gpu=power.draw.instant --format=csv > /dev/null 2>&1 || fields="timestamp,power.draw"
    nvidia-smi -i "$gpu" --query-gpu="$fields" --format=csv -lms 10 -f "$OUT/nvidia-smi.csv" > "$OUT/logs/nvidia-smi-poll.log" 2>&1 &
    smi_pid=$!
    background_pids+=("$smi_pid")
  fi
  if [ "$dry_run" = 1 ]; then
    ramp_s="$("$py" "$root/bench/fake_truth.py" ramp-seconds 2> /dev/null || echo 1.0)"
    workload=("$py" "$root/workloads/fake_workload.py" --lead-s "$FAKENVML_LEAD_IDLE_S" --ramp-s "$ramp_s"
              --prefill-s 0.6 --decode-s "$FAKENVML_DECODE_S" --offset-s 1 --run-db "$db" --report "$OUT/workload.json")
    limit=$(awk -v a="$FAKENVML_LEAD_IDLE_S" -v b="$FAKENVML_DECODE_S" 'BEGIN { printf "%d", a + b + 30 }')
  else
    # shellcheck disable=SC2206  # word splitting of the extra arguments is intended
    workload=("$py" "$root/workloads/llm_inference.py" --report "$OUT/workload.json" ${GPU_CHECK_WORKLOAD_ARGS:-})
    limit=180
  fi
  sleep 0.5  # let the baseline and nvidia-smi reach their loops
  run_step record-workload "$limit" "$firmus" record --high-res --gpus "$gpu" --preroll 1 --postroll 3 \
    --db "$db" --name gpucheck-workload --tag gpucheck -- "${workload[@]}"
  sleep 0.3
  stop_pid "$baseline_pid"
  rc=$?
  record_step baseline-workload "$([ $rc -eq 0 ] && echo ok || echo failed)" "$rc" "-"
  [ $rc -eq 0 ] || failures=$((failures + 1))
  if [ -n "$smi_pid" ]; then
    stop_pid "$smi_pid"
    record_step nvidia-smi-poll "$([ -s "$OUT/nvidia-smi.csv" ] && echo ok || echo failed)" "-" "-"
  fi
  background_pids=()
fi

# ---- 5. firmus's own analysis ----------------------------------------------
if [ -n "$firmus" ]; then
  run_step show-idle 30 "$firmus" show gpucheck-idle --db "$db" --json && cp "$OUT/logs/show-idle.out" "$OUT/show-idle.json"
  run_step show-workload 30 "$firmus" show gpucheck-workload --db "$db" --json && cp "$OUT/logs/show-workload.out" "$OUT/show-workload.json"
  run_step show-workload-text 30 "$firmus" show gpucheck-workload --db "$db" && cp "$OUT/logs/show-workload-text.out" "$OUT/show-workload.txt"
  mkdir -p "$OUT/export"
  run_step export 30 "$firmus" export gpucheck-workload --db "$db" \
    --json "$OUT/export/profile.json" --csv "$OUT/export/trace.csv"
  # phases from power alone, to compare with the markers
  run_step export-power-only 30 "$firmus" export gpucheck-workload --db "$db" --no-markers \
    --json "$OUT/export/profile-power-only.json"
fi

# ---- 6. summary (always) -----------------------------------------------------
write_summary
log "done in $((SECONDS - start_s)) s with $failures failed step(s); summary: $OUT/summary.md"
cat "$OUT/summary.md"
[ "$failures" -eq 0 ]
