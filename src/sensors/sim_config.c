/* The simulator's fixed facts and settings: the six presets (the original
 * framework's measured H200 table), phase names, the default configuration,
 * the checks that refuse a bad configuration, and the modelled memory
 * footprint of a preset. docs/SIMULATOR.md lists every default. */
#include "sensors/sim_internal.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/* The original framework's measured H200 table (DESIGN.md). params: total
 * parameter counts, see docs/SIMULATOR.md for sources. */
static const fm_sim_preset presets[] = {
    {"Qwen3-235B", 235e9, 768.9, -312.6, 827.9, 680.7, 21.4, 0.0315},
    {"DeepSeek-R1-Distill-32B", 32e9, 576.9, -232.6, 868.7, 519.3, 86.8, 0.1672},
    {"Qwen3-32B", 32e9, 546.9, -220.1, 647.2, 492.9, 36.4, 0.0739},
    {"GPT-OSS-20B", 21e9, 534.9, -215.1, 581.5, 485.1, 14.2, 0.0293},
    {"Llama-4-Maverick", 400e9, 486.9, -195.1, 594.4, 445.3, 37.3, 0.0838},
    {"Llama-4-Scout", 109e9, 456.9, -182.6, 597.0, 424.6, 52.1, 0.1227},
};

const fm_sim_preset *fm_sim_presets(int *count)
{
    if (count)
        *count = (int)(sizeof presets / sizeof presets[0]);
    return presets;
}

const fm_sim_preset *fm_sim_preset_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcasecmp(presets[i].name, name))
            return &presets[i];
    return NULL;
}

const char *fm_phase_name(fm_phase p)
{
    static const char *const names[] = {"idle", "ramp", "prefill", "decode", "fall"};
    return (p >= 0 && p < FM_PHASE_COUNT) ? names[p] : "unknown";
}

int fm_phase_from_name(const char *name)
{
    for (int p = 0; name && p < FM_PHASE_COUNT; p++)
        if (!strcasecmp(fm_phase_name((fm_phase)p), name))
            return p;
    return -1;
}

void fm_sim_config_default(fm_sim_config *cfg, const fm_sim_preset *preset, int gpus)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->gpus = gpus;
    cfg->preset = preset;
    cfg->seed = 1;
    cfg->pattern = FM_SIM_SINGLE;
    cfg->idle_power_w = 65.0;
    cfg->power_limit_w = 700.0;
    cfg->lead_idle_s = 2.0;
    cfg->prefill_s = 0.6;
    cfg->decode_s = 20.0;
    cfg->token_period_s = 0.025;
    cfg->request_rate_hz = 0.2;
    cfg->lead_idle_stagger_s = 0.0;
    cfg->serve_decode_mean_s = 4.0;
    cfg->decode_noise_tau_s = 0.5;
    cfg->token_pulse_frac = 0.15;
    cfg->token_pulse_duty = 0.6;
    cfg->busy_noise_w = 2.0;
    cfg->idle_noise_w = 0.5;
    cfg->shared_workload = 0;
    cfg->sensor.publish_period_ns = 100000000;
    cfg->sensor.instant_window_ns = 25000000;
    cfg->sensor.average_window_ns = 1000000000;
    cfg->sensor.energy_period_ns = 100000000;
    cfg->sensor.publish_phase_ns = 0;
    cfg->sensor.energy_phase_ns = 50000000;
    cfg->sensor.energy_offset_mj = 0;
    cfg->thermal.ambient_c = 30.0;
    cfg->thermal.r_c_per_w = 0.06;
    cfg->thermal.tau_s = 45.0;
    cfg->thermal.coupling = 0.05;
    cfg->thermal.thermal_limit_c = 87.0;
}

/* ------------------------------------------------------------ checks */

static int check_preset(const fm_sim_preset *p, fm_error *err)
{
    if (!p)
        return fm_fail(err, FM_ERR_USAGE, "sim: no preset given");
    if (!(p->ramp_w_per_s > 0) || !(p->fall_w_per_s < 0))
        return fm_fail(err, FM_ERR_USAGE,
                       "sim preset '%s': ramp rate must be > 0 and fall rate < 0 W/s", p->name);
    if (!(p->decode_avg_w > 0) || !(p->prefill_peak_w > 0) || !(p->decode_stdev_w >= 0))
        return fm_fail(err, FM_ERR_USAGE, "sim preset '%s': powers must be positive", p->name);
    return FM_OK;
}

int sim_check_config(const fm_sim_config *c, fm_error *err)
{
    const double max_w = (double)SIM_POWER_MAX_UNITS / SIM_POWER_UNITS_PER_W;
    if (c->gpus < 1 || c->gpus > 64)
        return fm_fail(err, FM_ERR_USAGE, "sim: gpus must be 1..64 (got %d)", c->gpus);
    int rc = check_preset(c->preset, err);
    if (rc != FM_OK)
        return rc;
    if (c->pattern != FM_SIM_SINGLE && c->pattern != FM_SIM_SERVING)
        return fm_fail(err, FM_ERR_USAGE, "sim: unknown pattern %d", (int)c->pattern);
    if (!(c->idle_power_w > 0) || !(c->power_limit_w > 0) || c->preset->prefill_peak_w > max_w)
        return fm_fail(err, FM_ERR_USAGE,
                       "sim: idle power and power limit must be > 0 W and "
                       "powers below %.0f W",
                       max_w);
    if (!(c->idle_power_w < c->preset->decode_avg_w))
        return fm_fail(err, FM_ERR_USAGE, "sim: idle power %.1f W must be below decode average",
                       c->idle_power_w);
    if (!(c->lead_idle_s >= 0) || !(c->prefill_s >= 0.001) || !(c->decode_s >= 0.001) ||
        !(c->lead_idle_stagger_s >= 0) || !(c->serve_decode_mean_s > 0))
        return fm_fail(err, FM_ERR_USAGE,
                       "sim: phase lengths must be >= 0 (prefill, decode >= 1 ms)");
    if (!(c->token_period_s >= 0.001) || !(c->decode_noise_tau_s > 0))
        return fm_fail(err, FM_ERR_USAGE, "sim: token period must be >= 1 ms, noise tau > 0");
    if (!(c->token_pulse_frac >= 0) || !(c->token_pulse_duty > 0 && c->token_pulse_duty < 1) ||
        !(c->busy_noise_w >= 0) || !(c->idle_noise_w >= 0))
        return fm_fail(err, FM_ERR_USAGE, "sim: pulse fraction/noise must be >= 0, duty in (0,1)");
    if (c->pattern == FM_SIM_SERVING && !(c->request_rate_hz > 0))
        return fm_fail(err, FM_ERR_USAGE, "sim: serving needs a request rate > 0 Hz");
    const fm_sim_sensor_params *s = &c->sensor;
    if (s->publish_period_ns < SIM_STEP_NS || s->instant_window_ns < SIM_STEP_NS ||
        s->average_window_ns < SIM_STEP_NS || s->energy_period_ns < SIM_STEP_NS ||
        s->publish_phase_ns < 0 || s->energy_phase_ns < 0)
        return fm_fail(err, FM_ERR_USAGE,
                       "sim: sensor periods and windows must be >= 1 ms, "
                       "phases >= 0");
    const fm_sim_thermal_params *t = &c->thermal;
    if (!(t->tau_s > 0) || !(t->r_c_per_w >= 0) || !(t->coupling >= 0 && t->coupling < 0.5) ||
        !isfinite(t->ambient_c) || !isfinite(t->thermal_limit_c))
        return fm_fail(err, FM_ERR_USAGE,
                       "sim: thermal tau must be > 0, r >= 0, coupling in [0, 0.5)");
    return FM_OK;
}

/* Memory in use: the model's weights (BF16, 2 bytes/parameter) sharded over
 * the smallest power-of-two number of GPUs where they fill at most 80 % of
 * an H200, plus 1 GiB of runtime. A modelled constant, see SIMULATOR.md. */
uint64_t sim_model_memory_bytes(const fm_sim_preset *p)
{
    double weights = p->params * 2.0;
    double usable = 0.8 * (double)SIM_H200_MEMORY_BYTES;
    int shards = 1;
    while (shards < 8 && weights / shards > usable)
        shards *= 2;
    double bytes = weights / shards + 1024.0 * 1024 * 1024;
    double cap = 0.95 * (double)SIM_H200_MEMORY_BYTES;
    return (uint64_t)(bytes < cap ? bytes : cap);
}
