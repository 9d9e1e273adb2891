#!/usr/bin/env bash
# Fuzzes the importers (nvidia-smi CSV, dmon, marker CSV, timestamps) with
# libFuzzer + ASan/UBSan for N seconds (default 60):
#   ./scripts/fuzz.sh [SECONDS]
# Builds build-fuzz/fuzz_import with clang outside the normal build. The
# seed corpus is cut from the real traces in ../shared/data/real-traces
# (first lines of each file, when present) plus small hand-made samples;
# new inputs go to build-fuzz/corpus, crashes to build-fuzz/crash-*.
# Prints libFuzzer's final stats (executions, coverage) and exits non-zero
# if a crash was found.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
out=build-fuzz
mkdir -p "$out/corpus" "$out/seeds"
srcs=(fuzz/fuzz_import.c src/export/import_common.c src/export/import_smi_csv.c
      src/export/import_smi_dmon.c src/export/import_markers.c src/export/import_time.c
      src/util/error.c)
# fm_sample_clear lives in sensor.c with the backend table; the target gets
# its own copy of that one function.
cat >"$out/sample_clear.c" <<'C'
#include <math.h>
#include "firmus/sensor.h"
void fm_sample_clear(fm_sample *s, int64_t t_ns)
{
    *s = (fm_sample){0};
    s->t_ns = t_ns;
    s->power_instant_w = s->power_avg_w = s->energy_j = s->temp_c = NAN;
    s->sm_clock_mhz = s->util_pct = NAN;
}
C
clang -g -O1 -std=c11 -D_GNU_SOURCE -DFIRMUS_VERSION='"fuzz"' -Iinclude -Isrc \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  "${srcs[@]}" "$out/sample_clear.c" -lm -o "$out/fuzz_import"

# Seeds: the first 40 lines of every real trace, and hand-made samples.
shared="${FIRMUS_SHARED_DIR:-../shared}/data/real-traces"
if [ -d "$shared" ]; then
  i=0
  for f in "$shared"/*/*.csv; do
    head -n 40 "$f" >"$out/seeds/real-$i.csv"
    tail -c 600 "$f" >"$out/seeds/tail-$i.csv"
    i=$((i + 1))
  done
fi
printf '#Date       Time        gpu    pwr  gtemp\n#YYYYMMDD   HH:MM:SS    Idx      W      C\n 20240405   06:00:00      0     72     35\n' >"$out/seeds/dmon.txt"
printf 'timestamp, index, name, power.draw [W], power.draw.instant [W], clocks_event_reasons.active\n2025/01/02 03:04:05.000, 0, NVIDIA H100 80GB HBM3, 100.50 W, [N/A], 0x4\n' >"$out/seeds/index.csv"
printf 'Timestamp,Phase,Runtime (s),GPU-0 Energy (mJ),Prompt\n1712315871.79,"a, ""b""\nc",0.5,15710,x\n' >"$out/seeds/markers.csv"

"$out/fuzz_import" -max_total_time="$seconds" -max_len=8192 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$out/" "$out/corpus" "$out/seeds" 2>&1 | tee "$out/fuzz.log" |
  grep -E "^(#[0-9]+.*(DONE|INITED)|stat::|==[0-9]+==ERROR|SUMMARY)" || true
if ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then
  echo "fuzz: FAILURES found (see $out/)"; exit 1
fi
echo "fuzz: no crash in ${seconds} s (log: $out/fuzz.log)"
