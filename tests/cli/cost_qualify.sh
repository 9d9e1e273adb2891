#!/usr/bin/env bash
# CLI tests of `firmus cost` and `firmus qualify`: help and usage errors,
# the six simulated H200 presets qualified under both shipped policies, the
# cost arithmetic of a recorded run checked against its own energy (seed
# workflow 3: 1,000,000 tokens at 0.12 USD/kWh), a TOU tariff with a demand
# charge, `qualify -- CMD`, and one clear error (file:line, exit 5) for
# malformed policy and tariff files.
set -u
bin=${FIRMUS_BIN:?FIRMUS_BIN not set}
src=${FIRMUS_SOURCE_DIR:?FIRMUS_SOURCE_DIR not set}
command -v python3 >/dev/null || exit 77
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FIRMUS_DB=$tmp/runs.db

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect CODE CMD...: runs CMD, checks its exit code, keeps stderr in $tmp/err
expect() {
    local want=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want: $(cat "$tmp/err")"
}

# json FILE EXPR: evaluates a Python expression on the parsed JSON (as j)
json() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- help and usage ----
expect 0 "$bin" cost --help
grep -q "usage: firmus cost RUN" "$tmp/out" || fail "cost --help"
expect 0 "$bin" qualify --help
grep -q "usage: firmus qualify RUN" "$tmp/out" || fail "qualify --help"
expect 2 "$bin" cost
expect 2 "$bin" cost last --bogus
expect 2 "$bin" cost last --pue abc
expect 2 "$bin" cost last --kwh-rate 0.1 --tariff "$src/tariffs/flat-seed-0.12-usd.json"
expect 2 "$bin" qualify
expect 2 "$bin" qualify last --resolution -1
expect 0 "$bin" cost --list-regions
grep -q "^au-tas .*150.0" "$tmp/out" || fail "carbon table lacks au-tas 150"
expect 0 "$bin" qualify --show-policy
cmp -s "$tmp/out" "$src/policies/m2g-cv-only.json" || fail "--show-policy differs from the file"

# ---- the six presets on the simulator ----
# At the shipped policies' resolution (the sensor's publications, the
# signal the simulator is calibrated on) the six presets land in the tiers
# of the original framework's table; the power-capped rule gives tier 3 to
# all (every average is above 200 W). 1 s means only lower the CV.
while read -r preset cv_only; do
    expect 0 "$bin" qualify --backend sim --preset "$preset" --duration 30 --name "$preset" --json
    cp "$tmp/out" "$tmp/q.json"
    [ "$(json "$tmp/q.json" 'j["tier"]')" = "$cv_only" ] || fail "$preset: tier $(json "$tmp/q.json" 'j["tier"]'), want $cv_only"
    [ "$(json "$tmp/q.json" 'j["window"]["name"].startswith("decode")')" = True ] || fail "$preset: window"
    [ "$(json "$tmp/q.json" 'j["window"]["resolution_seconds"]')" = 0.0 ] || fail "$preset: resolution"
    cv_raw=$(json "$tmp/q.json" 'j["power_cv"]')
    expect 0 "$bin" qualify "$preset" --resolution 1 --json
    cp "$tmp/out" "$tmp/q1.json"
    python3 -c "import sys; sys.exit(0 if $(json "$tmp/q1.json" 'j["power_cv"]') < $cv_raw else 1)" ||
        fail "$preset: 1 s CV not below the publications' CV"
    expect 0 "$bin" qualify "$preset" --policy m2g-original-code --json
    cp "$tmp/out" "$tmp/q.json"
    [ "$(json "$tmp/q.json" 'j["tier"]')" = 3 ] || fail "$preset: original-code tier"
    [ "$(json "$tmp/q.json" 'j["qualified"]')" = False ] || fail "$preset: qualified"
    grep -q "average power .* >= 200" "$tmp/q.json" || fail "$preset: reasoning"
done <<'EOF'
Qwen3-235B 1
DeepSeek-R1-Distill-32B 3
Qwen3-32B 1
GPT-OSS-20B 1
Llama-4-Maverick 1
Llama-4-Scout 2
EOF

# ---- seed workflow 3 on a recorded run ----
expect 0 "$bin" cost Qwen3-235B --tokens 1000000 --kwh-rate 0.12 --json
cp "$tmp/out" "$tmp/c.json"
python3 - "$tmp/c.json" <<'EOF' || fail "cost arithmetic"
import json, sys
j = json.load(open(sys.argv[1]))
kwh = j["run"]["gpu_energy_joules"] / 3.6e6
assert abs(j["run"]["gpu_energy_kwh"] - kwh) < 1e-12
assert abs(j["energy_cost"] - kwh * 0.12) < 1e-12, j["energy_cost"]
assert abs(j["cost_per_million_tokens"] - kwh * 0.12) < 1e-12   # 1,000,000 tokens
d = j["model_to_grid_discount_pct"]
assert j["model_to_grid"]["tier"] == 1 and d == 20.0, (d, j["model_to_grid"])
assert abs(j["discounted_cost_per_million_tokens"] - kwh * 0.12 * 0.8) < 1e-12
assert j["assumptions"]["pue"] == 1.0 and j["currency"] == "USD"
EOF
expect 0 "$bin" cost Qwen3-235B --tokens 1000000 --no-discount
grep -q "^Discount: *0% (not applied" "$tmp/out" || fail "--no-discount"
grep -q "^Base cost:" "$tmp/out" && grep -q "^Final cost:" "$tmp/out" || fail "seed lines"

# ---- the profile's top-level `economics` object (never inside energy_metrics) ----
expect 0 "$bin" export DeepSeek-R1-Distill-32B --json "$tmp/profile.json"
python3 - "$tmp/profile.json" <<'EOF' || fail "profile economics"
import json, sys
p = json.load(open(sys.argv[1]))
e = p["economics"]
assert e["schema"] == "firmus-economics/1" and "error" not in e, e
assert "economics" not in p["energy_metrics"] and len(p["energy_metrics"]) == 8
assert e["model_to_grid"]["profile_tier"] == p["tier"] == "tier_3_high_variance", (e["model_to_grid"], p["tier"])
assert e["model_to_grid_discount_pct"] == 0.0
assert abs(e["run"]["gpu_energy_kwh"] * 0.12 - e["energy_cost"]) < 1e-12
assert "unsourced" in e["assumptions"]["tariff_source"]
EOF

# ---- TOU tariff, demand charge, PUE, carbon, rental ----
expect 0 "$bin" cost Qwen3-235B --tokens 1000000 --tariff "$src/tariffs/us-tou-demand-example.json" \
    --pue 1.3 --carbon-region au-tas --gpu-hour-price 2.5 --utilisation 0.7 --json
cp "$tmp/out" "$tmp/t.json"
python3 - "$tmp/t.json" <<'EOF' || fail "tariff arithmetic"
import json, sys
j = json.load(open(sys.argv[1]))
fac = j["run"]["gpu_energy_kwh"] * 1.3
assert abs(j["run"]["facility_energy_kwh"] - fac) < 1e-12
tou = j["time_of_use"]
assert abs(sum(p["facility_kwh"] for p in tou) - fac) < 1e-12
assert abs(sum(p["cost"] for p in tou) - j["energy_cost"]) < 1e-12
rates = {p["period"]: p["rate_per_kwh"] for p in tou}
assert rates == {"off_peak": 0.08, "mid_peak": 0.15, "on_peak": 0.25}, rates
dem = j["demand"]
assert dem["window_seconds"] == 900.0 and dem["peak_is_run_mean"] is True
assert abs(dem["charge_per_month"] - dem["peak_facility_kw"] * 15) < 1e-9
assert abs(j["carbon"]["emissions_kg"] - fac * 0.150) < 1e-12
p = j["projection"]
assert p["fixed_per_month"] == 500.0
assert abs(p["total_per_month"] - (p["energy_cost_per_month_discounted"] + dem["charge_per_month"] + 500)) < 1e-9
assert 0 < j["rental"]["energy_share_of_rental"] < 0.1
EOF

# ---- bad durations are usage errors (inf, underflow, negative) ----
expect 2 "$bin" qualify --backend sim --duration inf
expect 2 "$bin" qualify --backend sim --duration -3

# ---- qualify -- CMD (the simulator runs in real time with a command) ----
expect 0 "$bin" qualify --backend sim --preset GPT-OSS-20B --duration 5 --json -- sleep 30
cp "$tmp/out" "$tmp/q.json"
[ "$(json "$tmp/q.json" 'j["power_source"] if "power_source" in j else j["window"]["power_source"]')" = power_instant ] || fail "qualify -- CMD source"
grep -q "stopped the command after 5 s" "$tmp/err" || fail "qualify -- CMD timeout note"

# ---- malformed files: one clear error, exit 5 ----
cat >"$tmp/bad-policy.json" <<'EOF'
{
  "format": "firmus-m2g-policy/1",
  "name": "bad",
  "measurement": { "window": "decode", "resolution_s": 1 },
  "tiers": [
    { "tier": 1, "name": "a", "profile_tier": "tier_1_efficient", "discount_percent": 20,
      "when": { "power_cv_below": 0.2 } },
    { "tier": 2, "name": "b", "profile_tier": "tier_2_standard", "discount_percent": 10,
      "when": { "power_cv_below": 0.1 } },
    { "tier": 3, "name": "c", "profile_tier": "tier_3_high_variance", "discount_percent": 0,
      "when": {} }
  ]
}
EOF
expect 5 "$bin" qualify Qwen3-235B --policy "$tmp/bad-policy.json"
grep -q "bad-policy.json:8: tiers\[1\]: tier 2 can never match" "$tmp/err" || fail "policy error: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "policy error is not one line"
printf '{\n  "format": "firmus-tariff/1",\n  "name": "x"\n  "currency": "USD"\n}\n' >"$tmp/bad-tariff.json"
expect 5 "$bin" cost Qwen3-235B --tariff "$tmp/bad-tariff.json"
grep -q "bad-tariff.json:4:" "$tmp/err" || fail "tariff error: $(cat "$tmp/err")"
expect 1 "$bin" cost no-such-run
expect 1 "$bin" cost Qwen3-235B --carbon-region atlantis
# ---- seed workflow 3 from C (examples/workflow3.c) ----
example=${FIRMUS_BUILD_DIR:-}/examples/workflow3
if [ -x "$example" ]; then
    expect 0 "$example" sim Qwen3-235B "$tmp/wf3.db"
    grep -q "^Base cost: \$[0-9.]*/M tokens" "$tmp/out" || fail "workflow3 base cost"
    grep -q "^Discount: 20%" "$tmp/out" || fail "workflow3 discount: $(cat "$tmp/out")"
    grep -q "^Final cost: \$[0-9.]*/M tokens" "$tmp/out" || fail "workflow3 final cost"
fi
echo "cost_qualify: all passed"
