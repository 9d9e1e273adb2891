/* What the simulated node knows and shows: the truth (power, energy,
 * phase, segments, tokens, temperature) and the sensors as NVML presents
 * them (instant = 25 ms boxcar taken once per 100 ms and held, 1 s average
 * republished every 100 ms, energy counter in whole mJ on its own update
 * grid, temperature in whole degrees, clocks, utilisation, memory, and
 * clocks-event bits). All sensor values are computed on demand from the
 * exact energy history, so reading never changes the simulation. */
#include "sensors/sim_internal.h"

#include <math.h>

#define UNITS_PER_J (SIM_POWER_UNITS_PER_W * 1000.0)

double sim_energy_units_at(const fm_sim *sim, const sim_gpu *g, int64_t t_ns)
{
    if (t_ns <= 0) /* before t = 0 the GPU was idle */
        return sim->cfg.idle_power_w * SIM_POWER_UNITS_PER_W * ((double)t_ns / SIM_STEP_NS);
    int64_t step = t_ns / SIM_STEP_NS;
    int64_t within_ns = t_ns % SIM_STEP_NS;
    double units = (double)sim_history_cum_before(&g->hist, step);
    if (within_ns && step < g->hist.steps)
        units += (double)sim_history_step(&g->hist, step) * ((double)within_ns / SIM_STEP_NS);
    return units;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The last instant <= now on the grid phase + n * period. */
static int64_t last_grid_instant(int64_t now_ns, int64_t phase_ns, int64_t period_ns)
{
    return phase_ns + floor_div(now_ns - phase_ns, period_ns) * period_ns;
}

int64_t fm_sim_last_publish_ns(const fm_sim *sim)
{
    return last_grid_instant(sim->now_ns, sim->cfg.sensor.publish_phase_ns,
                             sim->cfg.sensor.publish_period_ns);
}

int64_t fm_sim_last_energy_update_ns(const fm_sim *sim)
{
    return last_grid_instant(sim->now_ns, sim->cfg.sensor.energy_phase_ns,
                             sim->cfg.sensor.energy_period_ns);
}

/* Mean true power over [t - window, t], W. */
static double window_mean_w(const fm_sim *sim, const sim_gpu *g, int64_t t_ns, int64_t window_ns)
{
    double units =
        sim_energy_units_at(sim, g, t_ns) - sim_energy_units_at(sim, g, t_ns - window_ns);
    return units / SIM_POWER_UNITS_PER_W / ((double)window_ns / SIM_STEP_NS);
}

static double round_to_mw(double w)
{
    return floor(w * 1000.0 + 0.5) / 1000.0;
}

/* Energy counter at its last update: floor of the true energy in mJ. */
static double energy_counter_j(const fm_sim *sim, const sim_gpu *g)
{
    int64_t t = fm_sim_last_energy_update_ns(sim);
    uint64_t mj = sim->cfg.sensor.energy_offset_mj;
    if (t > 0) {
        int64_t step = t / SIM_STEP_NS;
        int64_t units = sim_history_cum_before(&g->hist, step); /* integer: exact */
        int64_t whole_mj = units / SIM_POWER_UNITS_PER_W;
        double rest_units = (double)(units % SIM_POWER_UNITS_PER_W);
        if (t % SIM_STEP_NS && step < g->hist.steps)
            rest_units += (double)sim_history_step(&g->hist, step) *
                          ((double)(t % SIM_STEP_NS) / SIM_STEP_NS);
        mj += (uint64_t)whole_mj + (uint64_t)floor(rest_units / SIM_POWER_UNITS_PER_W);
    }
    return (double)mj / 1000.0;
}

static double true_power_of(const sim_gpu *g)
{
    return (double)g->last_units / SIM_POWER_UNITS_PER_W;
}

/* The power the (modelled) power controller acts on: the mean true power
 * over the last 25 ms (the instant sensor's window) ending now. Single
 * 1 ms steps of a token pulse above the limit do not count. */
static double capping_power_w(const fm_sim *sim, const sim_gpu *g)
{
    int64_t window = sim->cfg.sensor.instant_window_ns;
    return window_mean_w(sim, g, sim->now_ns, window);
}

static uint64_t clock_events(const fm_sim *sim, const sim_gpu *g)
{
    uint64_t bits = 0;
    if (g->phase == FM_PHASE_IDLE || g->phase == FM_PHASE_FALL)
        bits |= FM_CLOCK_EVENT_GPU_IDLE;
    if (capping_power_w(sim, g) >= sim->cfg.power_limit_w)
        bits |= FM_CLOCK_EVENT_SW_POWER_CAP;
    if (g->temp_c >= sim->cfg.thermal.thermal_limit_c)
        bits |= FM_CLOCK_EVENT_SW_THERMAL;
    return bits;
}

#define SM_CLOCK_IDLE_MHZ 345.0
#define SM_CLOCK_BUSY_MHZ 1980.0

/* SM clock: 1980 MHz while working, 345 MHz idle, in between during the
 * fall (by power); scaled by limit / (25 ms mean power) while power-capped and by 0.9
 * during thermal slowdown. A modelled value (SIMULATOR.md). */
static double sm_clock_mhz(const fm_sim *sim, const sim_gpu *g)
{
    double power_w = true_power_of(g);
    double capping_w = capping_power_w(sim, g);
    double mhz = SM_CLOCK_BUSY_MHZ;
    if (g->phase == FM_PHASE_IDLE) {
        mhz = SM_CLOCK_IDLE_MHZ;
    } else if (g->phase == FM_PHASE_FALL) {
        double span = sim->preset.decode_avg_w - sim->cfg.idle_power_w;
        double x = (power_w - sim->cfg.idle_power_w) / span;
        x = x < 0 ? 0 : (x > 1 ? 1 : x);
        mhz = SM_CLOCK_IDLE_MHZ + x * (SM_CLOCK_BUSY_MHZ - SM_CLOCK_IDLE_MHZ);
    }
    if (capping_w >= sim->cfg.power_limit_w)
        mhz *= sim->cfg.power_limit_w / capping_w;
    if (g->temp_c >= sim->cfg.thermal.thermal_limit_c)
        mhz *= 0.9;
    return floor(mhz + 0.5);
}

static int bad_gpu(const fm_sim *sim, int gpu)
{
    return gpu < 0 || gpu >= sim->cfg.gpus;
}

/* Instant and average at the last publication, energy counter at its last
 * update; recomputed only when a new one is due. */
static void published_values(const fm_sim *sim, sim_gpu *g, fm_sample *out)
{
    const fm_sim_sensor_params *s = &sim->cfg.sensor;
    int64_t published = fm_sim_last_publish_ns(sim);
    if (published != g->cached_publish_ns) {
        g->cached_instant_w = round_to_mw(window_mean_w(sim, g, published, s->instant_window_ns));
        g->cached_average_w = round_to_mw(window_mean_w(sim, g, published, s->average_window_ns));
        g->cached_publish_ns = published;
    }
    int64_t updated = fm_sim_last_energy_update_ns(sim);
    if (updated != g->cached_energy_ns) {
        g->cached_energy_j = energy_counter_j(sim, g);
        g->cached_energy_ns = updated;
    }
    out->power_instant_w = g->cached_instant_w;
    out->power_avg_w = g->cached_average_w;
    out->energy_j = g->cached_energy_j;
}

void fm_sim_read_sensors(fm_sim *sim, int gpu, fm_sample *out)
{
    if (bad_gpu(sim, gpu)) { /* nothing valid */
        fm_sample_clear(out, sim->now_ns);
        return;
    }
    sim_gpu *g = &sim->gpus[gpu];
    fm_sample_clear(out, sim->now_ns);
    published_values(sim, g, out);
    out->temp_c = floor(g->temp_c + 0.5);
    out->sm_clock_mhz = sm_clock_mhz(sim, g);
    out->util_pct = floor(100.0 * g->busy_count / SIM_UTIL_STEPS + 0.5);
    out->mem_used_bytes = sim->mem_used_bytes;
    out->clock_events = clock_events(sim, g);
    out->valid = FM_F_ALL;
}

double fm_sim_true_power_w(const fm_sim *sim, int gpu)
{
    if (bad_gpu(sim, gpu))
        return NAN;
    return true_power_of(&sim->gpus[gpu]);
}

double fm_sim_true_energy_j(const fm_sim *sim, int gpu)
{
    if (bad_gpu(sim, gpu))
        return NAN;
    return sim_energy_units_at(sim, &sim->gpus[gpu], sim->now_ns) / UNITS_PER_J;
}

double fm_sim_true_energy_between_j(const fm_sim *sim, int gpu, int64_t t0_ns, int64_t t1_ns)
{
    if (bad_gpu(sim, gpu) || t0_ns < 0 || t1_ns < t0_ns || t1_ns > sim->now_ns)
        return NAN;
    const sim_gpu *g = &sim->gpus[gpu];
    return (sim_energy_units_at(sim, g, t1_ns) - sim_energy_units_at(sim, g, t0_ns)) / UNITS_PER_J;
}

double fm_sim_true_power_at_w(const fm_sim *sim, int gpu, int64_t t_ns)
{
    if (bad_gpu(sim, gpu) || t_ns < 0 || t_ns >= sim->now_ns)
        return NAN;
    const sim_gpu *g = &sim->gpus[gpu];
    int64_t step = t_ns / SIM_STEP_NS;
    if (step >= g->hist.steps)
        return NAN;
    return (double)sim_history_step(&g->hist, step) / SIM_POWER_UNITS_PER_W;
}

fm_phase fm_sim_true_phase(const fm_sim *sim, int gpu)
{
    if (bad_gpu(sim, gpu))
        return FM_PHASE_IDLE;
    return sim->gpus[gpu].phase;
}

double fm_sim_true_temp_c(const fm_sim *sim, int gpu)
{
    if (bad_gpu(sim, gpu))
        return NAN;
    return sim->gpus[gpu].temp_c;
}

size_t fm_sim_true_segments(const fm_sim *sim, int gpu, const fm_sim_segment **out)
{
    *out = NULL;
    if (bad_gpu(sim, gpu))
        return 0;
    const sim_gpu *g = &sim->gpus[gpu];
    *out = g->segs;
    /* the open segment (written at the last advance) exists once time has passed */
    return g->n_segs + (sim->now_ns > g->phase_start_step * SIM_STEP_NS ? 1 : 0);
}

double fm_sim_true_tokens(const fm_sim *sim, int gpu)
{
    if (bad_gpu(sim, gpu))
        return NAN;
    return sim->gpus[gpu].tokens;
}

uint64_t fm_sim_memory_total_bytes(const fm_sim *sim)
{
    (void)sim;
    return SIM_H200_MEMORY_BYTES;
}
