/* The simulated GPU node's true behaviour: presets, configuration, and the
 * 1 ms step of every GPU (workload pattern -> phase -> true power), the
 * thermal model, and the calibration of the decode noise. What the sensors
 * make of this truth is in sim_truth.c; docs/SIMULATOR.md describes the
 * model and every parameter. */
#include "sensors/sim_internal.h"

#include <math.h>
#include <stdlib.h>
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

/* ---------------------------------------------------------------- checks */

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

static int check_config(const fm_sim_config *c, fm_error *err)
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

/* -------------------------------------------------------- small helpers */

static double ms_steps(double seconds)
{
    return seconds * 1000.0;
}

static int64_t steps_ceil(double steps)
{
    int64_t n = (int64_t)ceil(steps - 1e-9);
    return n < 1 ? 1 : n;
}

/* Memory in use: the model's weights (BF16, 2 bytes/parameter) sharded over
 * the smallest power-of-two number of GPUs where they fill at most 80 % of
 * an H200, plus 1 GiB of runtime. A modelled constant, see SIMULATOR.md. */
static uint64_t model_memory_bytes(const fm_sim_preset *p)
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

static void mark_oom(fm_sim *sim)
{
    sim->oom = 1;
}

static int reserve_segments(sim_gpu *g, size_t need)
{
    if (need <= g->cap_segs)
        return 0;
    size_t cap = g->cap_segs ? g->cap_segs * 2 : 32;
    fm_sim_segment *p = realloc(g->segs, cap * sizeof *p);
    if (!p)
        return -1;
    g->segs = p;
    g->cap_segs = cap;
    return 0;
}

/* Closes the open segment at `step` and opens one of phase p. */
static void set_phase(fm_sim *sim, sim_gpu *g, fm_phase p, int64_t step)
{
    if (step > g->phase_start_step) {
        if (reserve_segments(g, g->n_segs + 2)) {
            mark_oom(sim);
        } else {
            fm_sim_segment *s = &g->segs[g->n_segs++];
            s->phase = g->phase;
            s->start_ns = g->phase_start_step * SIM_STEP_NS;
            s->end_ns = step * SIM_STEP_NS;
            s->energy_j =
                (double)(g->hist.cum_units - g->seg_start_units) / (SIM_POWER_UNITS_PER_W * 1000.0);
            s->tokens = g->seg_tokens;
        }
    }
    g->phase = p;
    g->phase_start_step = step;
    g->seg_start_units = g->hist.cum_units;
    g->seg_tokens = 0;
}

/* Power of a linear phase (ramp or fall) at the middle of `step`. */
static double line_power(const sim_gpu *g, int64_t step)
{
    return g->line_from_w + g->line_slope_w_per_step * ((double)(step - g->phase_start_step) + 0.5);
}

static void start_ramp(fm_sim *sim, sim_gpu *g, int64_t step, double from_w)
{
    double peak = sim->preset.prefill_peak_w;
    double rate = sim->preset.ramp_w_per_s / 1000.0;
    g->line_from_w = from_w;
    g->line_slope_w_per_step = rate;
    g->phase_end_step = step + steps_ceil(from_w < peak ? (peak - from_w) / rate : 1.0);
    set_phase(sim, g, FM_PHASE_RAMP, step);
}

static void start_fall(fm_sim *sim, sim_gpu *g, int64_t step, double from_w)
{
    double idle = sim->cfg.idle_power_w;
    double rate = sim->preset.fall_w_per_s / 1000.0; /* negative */
    g->line_from_w = from_w;
    g->line_slope_w_per_step = rate;
    g->phase_end_step = step + steps_ceil(from_w > idle ? (idle - from_w) / rate : 1.0);
    set_phase(sim, g, FM_PHASE_FALL, step);
}

static void start_decode(fm_sim *sim, sim_gpu *g, int64_t step)
{
    g->token_elapsed_ns = 0;
    g->slow_noise_w = sim->slow_sigma_w * sim_rng_gauss(&g->noise_rng);
    g->decode_done = 0;
    set_phase(sim, g, FM_PHASE_DECODE, step);
}

static void add_request(fm_sim *sim, sim_gpu *g, double decode_s)
{
    if (g->n_req == g->cap_req) {
        int cap = g->cap_req ? g->cap_req * 2 : 8;
        int64_t *p = realloc(g->req_tokens_left, (size_t)cap * sizeof *p);
        if (!p) {
            mark_oom(sim);
            return;
        }
        g->req_tokens_left = p;
        g->cap_req = cap;
    }
    int64_t tokens = llround(decode_s / sim->cfg.token_period_s);
    g->req_tokens_left[g->n_req++] = tokens < 1 ? 1 : tokens;
}

/* A request arrives at `step`: it joins the batch, or starts a busy period. */
static void on_arrival(fm_sim *sim, sim_gpu *g, int64_t step, double decode_s)
{
    add_request(sim, g, decode_s);
    if (g->phase == FM_PHASE_IDLE)
        start_ramp(sim, g, step, sim->cfg.idle_power_w);
    else if (g->phase == FM_PHASE_FALL)
        start_ramp(sim, g, step, line_power(g, step));
}

static void next_arrival(fm_sim *sim, sim_gpu *g)
{
    double gap_steps = sim_rng_exponential(&g->work_rng) * 1000.0 / sim->cfg.request_rate_hz;
    int64_t gap = llround(gap_steps);
    g->next_arrival_step += gap < 1 ? 1 : gap;
}

/* One decode step (token period) finished: every active request made one token. */
static void finish_token(fm_sim *sim, sim_gpu *g)
{
    double made = g->n_req;
    g->tokens += made;
    g->seg_tokens += made;
    int kept = 0;
    for (int i = 0; i < g->n_req; i++)
        if (--g->req_tokens_left[i] > 0)
            g->req_tokens_left[kept++] = g->req_tokens_left[i];
    g->n_req = kept;
    if (kept == 0)
        g->decode_done = 1;
    double rho = sim->slow_rho;
    g->slow_noise_w = rho * g->slow_noise_w +
                      sqrt(1.0 - rho * rho) * sim->slow_sigma_w * sim_rng_gauss(&g->noise_rng);
}

/* Phase changes at the start of `step`: timed ends, arrivals, end of decode. */
static void update_phase(fm_sim *sim, sim_gpu *g, int64_t step)
{
    if (g->phase == FM_PHASE_RAMP && step >= g->phase_end_step) {
        g->phase_end_step = step + steps_ceil(ms_steps(sim->cfg.prefill_s));
        set_phase(sim, g, FM_PHASE_PREFILL, step);
    } else if (g->phase == FM_PHASE_PREFILL && step >= g->phase_end_step) {
        start_decode(sim, g, step);
    } else if (g->phase == FM_PHASE_FALL && step >= g->phase_end_step) {
        set_phase(sim, g, FM_PHASE_IDLE, step);
    }
    if (sim->cfg.pattern == FM_SIM_SERVING) {
        while (g->next_arrival_step <= step) {
            double decode_s = sim->cfg.serve_decode_mean_s * sim_rng_exponential(&g->work_rng);
            on_arrival(sim, g, step, decode_s);
            next_arrival(sim, g);
        }
    } else if (!g->single_issued && step >= g->single_start_step) {
        g->single_issued = 1;
        on_arrival(sim, g, step, sim->cfg.decode_s);
    }
    if (g->phase == FM_PHASE_DECODE && g->decode_done) {
        if (g->n_req > 0)
            g->decode_done = 0; /* a request arrived just in time: keep decoding */
        else
            start_fall(sim, g, step, sim->preset.decode_avg_w); /* timing free of noise */
    }
}

static double white_noise(sim_rng *r, double stdev_w)
{
    /* uniform with the given stdev: half-width sqrt(3) * stdev */
    return stdev_w * 1.7320508075688772 * (2.0 * sim_rng_uniform(r) - 1.0);
}

static double decode_power(fm_sim *sim, sim_gpu *g)
{
    double duty = sim->cfg.token_pulse_duty;
    double amp = sim->cfg.token_pulse_frac * (sim->preset.decode_avg_w - sim->cfg.idle_power_w);
    int in_pulse = (double)g->token_elapsed_ns < duty * (double)sim->token_period_ns;
    double pulse = in_pulse ? amp * (1.0 - duty) : -amp * duty;
    return sim->preset.decode_avg_w + g->slow_noise_w + pulse;
}

static double step_power(fm_sim *sim, sim_gpu *g, int64_t step)
{
    const fm_sim_config *c = &sim->cfg;
    switch (g->phase) {
    case FM_PHASE_RAMP: {
        double p = line_power(g, step);
        if (p > sim->preset.prefill_peak_w)
            p = sim->preset.prefill_peak_w;
        return p + white_noise(&g->noise_rng, c->busy_noise_w);
    }
    case FM_PHASE_PREFILL:
        return sim->preset.prefill_peak_w + white_noise(&g->noise_rng, c->busy_noise_w);
    case FM_PHASE_DECODE:
        return decode_power(sim, g) + white_noise(&g->noise_rng, c->busy_noise_w);
    case FM_PHASE_FALL: {
        double p = line_power(g, step);
        if (p < c->idle_power_w)
            p = c->idle_power_w;
        return p + white_noise(&g->noise_rng, c->busy_noise_w);
    }
    default:
        return c->idle_power_w + white_noise(&g->noise_rng, c->idle_noise_w);
    }
}

static int phase_is_busy(fm_phase p)
{
    return p == FM_PHASE_RAMP || p == FM_PHASE_PREFILL || p == FM_PHASE_DECODE;
}

void sim_gpu_step(fm_sim *sim, sim_gpu *g, int64_t step)
{
    update_phase(sim, g, step);
    double power_w = step_power(sim, g, step);
    long units = lround(power_w * SIM_POWER_UNITS_PER_W);
    if (units < 0)
        units = 0;
    if (units > SIM_POWER_MAX_UNITS)
        units = SIM_POWER_MAX_UNITS;
    if (sim_history_push(&g->hist, (uint16_t)units)) {
        mark_oom(sim);
        return;
    }
    g->last_units = (uint16_t)units;
    g->block_units += units;
    int ring = (int)(step % SIM_UTIL_STEPS);
    uint8_t busy = (uint8_t)phase_is_busy(g->phase);
    g->busy_count += busy - g->busy_ring[ring];
    g->busy_ring[ring] = busy;
    if (g->phase == FM_PHASE_DECODE) {
        g->token_elapsed_ns += SIM_STEP_NS;
        while (g->token_elapsed_ns >= sim->token_period_ns && !g->decode_done) {
            g->token_elapsed_ns -= sim->token_period_ns;
            finish_token(sim, g);
        }
    }
}

/* ------------------------------------------------------------- thermal */

/* Steady-state temperature targets of all GPUs for the given mean powers,
 * using the current neighbour temperatures (sim.h formula). */
static double thermal_target(const fm_sim *sim, int i, double power_w)
{
    const fm_sim_thermal_params *t = &sim->cfg.thermal;
    double neighbours = 0;
    if (i > 0)
        neighbours += sim->gpus[i - 1].temp_c - t->ambient_c;
    if (i + 1 < sim->cfg.gpus)
        neighbours += sim->gpus[i + 1].temp_c - t->ambient_c;
    return t->ambient_c + t->r_c_per_w * power_w + t->coupling * neighbours;
}

/* One thermal block (10 ms): exact exponential approach to the target over
 * the block, neighbours taken at the block start (Jacobi). */
static void thermal_update(fm_sim *sim)
{
    double targets[64];
    for (int i = 0; i < sim->cfg.gpus; i++) {
        double mean_w =
            (double)sim->gpus[i].block_units / (SIM_POWER_UNITS_PER_W * SIM_THERMAL_STEPS);
        targets[i] = thermal_target(sim, i, mean_w);
    }
    for (int i = 0; i < sim->cfg.gpus; i++) {
        sim_gpu *g = &sim->gpus[i];
        g->temp_c = targets[i] + (g->temp_c - targets[i]) * sim->thermal_decay;
        g->block_units = 0;
    }
}

static void thermal_init_idle(fm_sim *sim)
{
    for (int i = 0; i < sim->cfg.gpus; i++)
        sim->gpus[i].temp_c = sim->cfg.thermal.ambient_c;
    for (int iter = 0; iter < 400; iter++) /* coupled steady state; coupling < 0.5 converges */
        for (int i = 0; i < sim->cfg.gpus; i++)
            sim->gpus[i].temp_c = thermal_target(sim, i, sim->cfg.idle_power_w);
}

/* --------------------------------------------------- decode calibration */

/* The instant sensor averages the last W ms. Its variance during decode is
 * pulse part + white part / W + slow part * f, where f is the fraction of the
 * slow (per decode step, AR(1)) noise's variance a W ms boxcar keeps. The
 * pulse part and f are computed numerically over many window positions;
 * the slow stdev is then chosen so the total equals the preset's stdev. */
void sim_calibrate_decode_noise(fm_sim *sim)
{
    const int windows = 4000;
    int w_steps = (int)(sim->cfg.sensor.instant_window_ns / SIM_STEP_NS);
    int total = windows + w_steps;
    double period_ns = (double)sim->token_period_ns;
    double duty = sim->cfg.token_pulse_duty;
    double amp = sim->cfg.token_pulse_frac * (sim->preset.decode_avg_w - sim->cfg.idle_power_w);
    sim->slow_rho = exp(-sim->cfg.token_period_s / sim->cfg.decode_noise_tau_s);

    double *pulse = malloc((size_t)total * sizeof *pulse);
    int64_t *token = malloc((size_t)total * sizeof *token);
    if (!pulse || !token) {
        free(pulse);
        free(token);
        sim->slow_sigma_w = sim->preset.decode_stdev_w; /* fallback: uncorrected */
        return;
    }
    int64_t elapsed = 0, index = 0;
    for (int k = 0; k < total; k++) {
        pulse[k] = (double)elapsed < duty * period_ns ? amp * (1.0 - duty) : -amp * duty;
        token[k] = index;
        elapsed += SIM_STEP_NS;
        while (elapsed >= sim->token_period_ns) {
            elapsed -= sim->token_period_ns;
            index++;
        }
    }
    double sum = 0, sum2 = 0, f_sum = 0;
    for (int e = w_steps; e < total; e++) {
        double mean = 0;
        for (int k = e - w_steps; k < e; k++)
            mean += pulse[k];
        mean /= w_steps;
        sum += mean;
        sum2 += mean * mean;
        /* weights of the decode steps the window covers (consecutive indices) */
        int64_t first = token[e - w_steps];
        int n_tok = (int)(token[e - 1] - first + 1);
        double weight[64] = {0};
        if (n_tok > 64)
            n_tok = 64;
        for (int k = e - w_steps; k < e; k++) {
            int64_t j = token[k] - first;
            if (j < 64)
                weight[j] += 1.0 / w_steps;
        }
        double f = 0;
        for (int a = 0; a < n_tok; a++)
            for (int b = 0; b < n_tok; b++)
                f += weight[a] * weight[b] * pow(sim->slow_rho, abs(a - b));
        f_sum += f;
    }
    free(pulse);
    free(token);
    double pulse_mean = sum / windows;
    double pulse_var = sum2 / windows - pulse_mean * pulse_mean;
    double white_var = sim->cfg.busy_noise_w * sim->cfg.busy_noise_w / w_steps;
    double target_var = sim->preset.decode_stdev_w * sim->preset.decode_stdev_w;
    double slow_var = (target_var - pulse_var - white_var) / (f_sum / windows);
    sim->slow_sigma_w = slow_var > 0 ? sqrt(slow_var) : 0.0;
}

/* ------------------------------------------------------ create, advance */

static void init_gpu(fm_sim *sim, int i)
{
    sim_gpu *g = &sim->gpus[i];
    const fm_sim_config *c = &sim->cfg;
    uint64_t gpu_key = 0x632be59bd9b4e019ull * (uint64_t)(i + 1);
    sim_rng_seed(&g->noise_rng, c->seed ^ gpu_key ^ 0x5eed0f0153ull);
    sim_rng_seed(&g->work_rng, c->shared_workload ? c->seed : c->seed ^ gpu_key);
    g->phase = FM_PHASE_IDLE;
    g->single_start_step = llround(ms_steps(c->lead_idle_s + i * c->lead_idle_stagger_s));
    g->last_units = (uint16_t)lround(c->idle_power_w * SIM_POWER_UNITS_PER_W);
    if (c->pattern == FM_SIM_SERVING) {
        g->next_arrival_step = 0;
        next_arrival(sim, g);
    }
}

int fm_sim_create(const fm_sim_config *cfg, fm_sim **out, fm_error *err)
{
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc != FM_OK)
        return rc;
    fm_sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return fm_fail(err, FM_ERR_NOMEM, "sim: out of memory");
    sim->cfg = *cfg;
    sim->preset = *cfg->preset;
    sim->cfg.preset = &sim->preset;
    sim->gpus = calloc((size_t)cfg->gpus, sizeof *sim->gpus);
    if (!sim->gpus) {
        free(sim);
        return fm_fail(err, FM_ERR_NOMEM, "sim: out of memory");
    }
    sim->token_period_ns = llround(cfg->token_period_s * 1e9);
    sim->thermal_decay = exp(-(SIM_THERMAL_STEPS * 1e-3) / cfg->thermal.tau_s);
    sim->mem_used_bytes = model_memory_bytes(&sim->preset);
    sim_calibrate_decode_noise(sim);
    for (int i = 0; i < cfg->gpus; i++)
        init_gpu(sim, i);
    thermal_init_idle(sim);
    for (int i = 0; i < cfg->gpus; i++) {
        if (reserve_segments(&sim->gpus[i], 2)) {
            fm_sim_destroy(sim);
            return fm_fail(err, FM_ERR_NOMEM, "sim: out of memory");
        }
    }
    *out = sim;
    return FM_OK;
}

void fm_sim_destroy(fm_sim *sim)
{
    if (!sim)
        return;
    for (int i = 0; i < sim->cfg.gpus; i++) {
        sim_history_free(&sim->gpus[i].hist);
        free(sim->gpus[i].segs);
        free(sim->gpus[i].req_tokens_left);
    }
    free(sim->gpus);
    free(sim);
}

const fm_sim_config *fm_sim_get_config(const fm_sim *sim)
{
    return &sim->cfg;
}

int64_t fm_sim_now_ns(const fm_sim *sim)
{
    return sim->now_ns;
}

/* Writes each GPU's open segment (ending now) after its closed ones. */
static void refresh_open_segments(fm_sim *sim)
{
    for (int i = 0; i < sim->cfg.gpus; i++) {
        sim_gpu *g = &sim->gpus[i];
        fm_sim_segment *s = &g->segs[g->n_segs]; /* capacity >= n_segs + 1 */
        s->phase = g->phase;
        s->start_ns = g->phase_start_step * SIM_STEP_NS;
        s->end_ns = sim->now_ns;
        s->energy_j = (sim_energy_units_at(sim, g, sim->now_ns) - (double)g->seg_start_units) /
                      (SIM_POWER_UNITS_PER_W * 1000.0);
        s->tokens = g->seg_tokens;
    }
}

void fm_sim_advance(fm_sim *sim, int64_t t_ns)
{
    if (t_ns <= sim->now_ns || sim->oom)
        return;
    /* every step that starts before t_ns is computed, so energy up to t_ns is known */
    int64_t target = (t_ns + SIM_STEP_NS - 1) / SIM_STEP_NS;
    while (sim->steps_done < target && !sim->oom) {
        int64_t block_end = (sim->steps_done / SIM_THERMAL_STEPS + 1) * SIM_THERMAL_STEPS;
        if (block_end > target)
            block_end = target;
        for (int i = 0; i < sim->cfg.gpus; i++)
            for (int64_t k = sim->steps_done; k < block_end; k++)
                sim_gpu_step(sim, &sim->gpus[i], k);
        if (sim->oom)
            break;
        sim->steps_done = block_end;
        if (block_end % SIM_THERMAL_STEPS == 0)
            thermal_update(sim);
    }
    /* Out of memory: time stops where every GPU's history is complete
     * (steps_done * 1 ms >= the previous now); later advances are no-ops. */
    sim->now_ns = sim->oom ? sim->steps_done * SIM_STEP_NS : t_ns;
    refresh_open_segments(sim);
}

double fm_sim_decode_noise_sigma_w(const fm_sim *sim)
{
    return sim->slow_sigma_w;
}
