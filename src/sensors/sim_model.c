/* The true behaviour of one simulated GPU, one 1 ms step at a time: the
 * workload pattern (single request or Poisson serving) drives the phase
 * (idle, ramp, prefill, decode, fall), the phase gives the true power
 * (linear ramps at the preset's rates, prefill plateau, decode with a
 * per-token pulse and slow noise, white noise), and every phase change
 * closes a true segment. docs/SIMULATOR.md describes the model. */
#include "sensors/sim_internal.h"

#include <math.h>
#include <stdlib.h>

static double ms_steps(double seconds)
{
    return seconds * 1000.0;
}

static int64_t steps_ceil(double steps)
{
    int64_t n = (int64_t)ceil(steps - 1e-9);
    return n < 1 ? 1 : n;
}

static void mark_oom(fm_sim *sim)
{
    sim->oom = 1;
}

int sim_reserve_segments(sim_gpu *g, size_t need)
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
        if (sim_reserve_segments(g, g->n_segs + 2)) {
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

void sim_gpu_init(fm_sim *sim, int i)
{
    sim_gpu *g = &sim->gpus[i];
    const fm_sim_config *c = &sim->cfg;
    uint64_t gpu_key = 0x632be59bd9b4e019ull * (uint64_t)(i + 1);
    sim_rng_seed(&g->noise_rng, c->seed ^ gpu_key ^ 0x5eed0f0153ull);
    sim_rng_seed(&g->work_rng, c->shared_workload ? c->seed : c->seed ^ gpu_key);
    g->phase = FM_PHASE_IDLE;
    g->single_start_step = llround(ms_steps(c->lead_idle_s + i * c->lead_idle_stagger_s));
    g->last_units = (uint16_t)lround(c->idle_power_w * SIM_POWER_UNITS_PER_W);
    g->cached_publish_ns = INT64_MIN; /* nothing cached yet */
    g->cached_energy_ns = INT64_MIN;
    if (c->pattern == FM_SIM_SERVING) {
        g->next_arrival_step = 0;
        next_arrival(sim, g);
    }
}
