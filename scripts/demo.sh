#!/usr/bin/env bash
# The main job on the built-in simulated GPU: installs dependencies, builds,
# then records a simulated H200 inference run, shows its metrics, exports the
# workload profile and prices it. Everything goes to ./demo/ .
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/build.sh >/dev/null
fm=./build/firmus
mkdir -p demo
db=demo/firmus.db
rm -f "$db" "$db-wal" "$db-shm"

echo "== firmus devices --backend sim"
$fm devices --backend sim --gpus 2 --preset DeepSeek-R1-Distill-32B
echo
echo "== firmus record: 2 simulated H200s serving DeepSeek-R1-Distill-32B for 120 s (virtual time)"
$fm record --backend sim --sim-gpus 2 --preset DeepSeek-R1-Distill-32B --pattern serving \
  --duration 120 --high-res --model DeepSeek-R1-Distill-32B --params 32e9 --name demo-serving \
  --db "$db" --export-dir demo/workload_profiles
echo
echo "== firmus show last"
$fm show last --db "$db"
echo
echo "== firmus export last"
$fm export last --db "$db" --json demo/profile.json --csv demo/trace.csv
echo
echo "== firmus cost last (US\$0.12/kWh, the seed's default)"
$fm cost last --db "$db"
echo
echo "== firmus qualify last"
$fm qualify last --db "$db"
echo
echo "demo: outputs in ./demo (profile.json, trace.csv, firmus.db)"
