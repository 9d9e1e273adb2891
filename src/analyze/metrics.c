/* Energy metrics of a stored run (see firmus/metrics.h, docs/METRICS.md):
 * per GPU, the energy from each of the three power sources side by side
 * (counter steps, held integral of the deduplicated instant power, held
 * integral of the 1 s average), the best of them, peak and CV of the power
 * source, sensor update periods, temperature and throttling; per run, the
 * sums, the aggregate peak on a common grid, tokens and energy per token,
 * and the energy inside prefill/decode marker windows. */
#include "firmus/metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

const char *fm_source_name(fm_source s)
{
    switch (s) {
    case FM_SRC_COUNTER:
        return "energy_counter";
    case FM_SRC_INSTANT:
        return "power_instant";
    case FM_SRC_AVG_1S:
        return "power_avg_1s";
    case FM_SRC_NONE:
        break;
    }
    return "none";
}

void fm_metrics_options_default(fm_metrics_options *opt)
{
    opt->tokens_per_query = 100;
    opt->tokens_override = -1;
}

static double ratio_or_nan(double a, double b)
{
    return (isnan(a) || isnan(b) || b == 0.0) ? NAN : a / b;
}

static double period_s_or_nan(const fm_series *raw)
{
    int64_t period_ns = fm_series_update_period_ns(raw);
    return period_ns > 0 ? (double)period_ns / NS_PER_S : NAN;
}

/* ---- per GPU ---- */

/* A power source of one GPU: its deduplicated updates and what was
 * derived while its raw polls were in memory. */
typedef struct power_trace {
    fm_series updates; /* deduplicated, held semantics */
    double energy_j;   /* held integral over the GPU's window; NAN if no data */
    double period_s;
    size_t missing; /* polls without a value */
    fm_ramp_extremes ramps;
} power_trace;

static size_t count_missing(const fm_series *raw)
{
    size_t missing = 0;
    for (size_t i = 0; i < raw->n; i++)
        missing += isnan(raw->v[i]) ? 1 : 0;
    return missing;
}

/* Loads one power field of one GPU and reduces it to a power_trace.
 * Also reports the GPU's sample window and count (every field has a row
 * per sample, so any field gives them). */
static int load_power_trace(fm_store *st, int64_t run_id, int gpu, enum fm_field field,
                            power_trace *out, fm_gpu_metrics *g, fm_error *err)
{
    fm_series raw;
    fm_series_init(&out->updates);
    out->energy_j = NAN;
    out->period_s = NAN;
    out->missing = 0;
    int rc = fm_store_load_series(st, run_id, gpu, field, &raw, err);
    if (rc)
        return rc;
    g->samples = raw.n;
    if (raw.n > 0) {
        g->first_t_ns = raw.t_ns[0];
        g->last_t_ns = raw.t_ns[raw.n - 1];
    }
    out->missing = count_missing(&raw);
    out->period_s = period_s_or_nan(&raw);
    rc = fm_power_ramp_extremes(&raw, 0, &out->ramps);
    if (rc == FM_OK)
        rc = fm_series_dedup_held(&raw, &out->updates);
    fm_series_free(&raw);
    if (rc)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory analysing run %lld GPU %d",
                       (long long)run_id, gpu);
    if (out->updates.n > 0)
        out->energy_j =
            fm_series_integrate_held(&out->updates, g->first_t_ns, g->last_t_ns, 0, NULL);
    return FM_OK;
}

/* Energy counter: the sum of its non-negative steps between the first and
 * last valid reading (a step backwards is a counter reset and is skipped). */
static int counter_metrics(fm_store *st, int64_t run_id, int gpu, fm_gpu_metrics *g, fm_error *err)
{
    fm_series raw;
    int rc = fm_store_load_series(st, run_id, gpu, FM_F_ENERGY, &raw, err);
    if (rc)
        return rc;
    double sum_j = 0.0, prev = NAN;
    size_t valid = 0;
    for (size_t i = 0; i < raw.n; i++) {
        double v = raw.v[i];
        if (isnan(v))
            continue;
        if (valid > 0) {
            if (v >= prev)
                sum_j += v - prev;
            else
                g->counter_resets++;
        }
        prev = v;
        valid++;
    }
    g->energy_counter_j = valid >= 2 ? sum_j : NAN;
    g->counter_period_s = period_s_or_nan(&raw);
    fm_series_free(&raw);
    return FM_OK;
}

/* Time-weighted mean (held values) and peak of the temperature. */
static int temperature_metrics(fm_store *st, int64_t run_id, int gpu, fm_gpu_metrics *g,
                               fm_error *err)
{
    fm_series raw;
    int rc = fm_store_load_series(st, run_id, gpu, FM_F_TEMP, &raw, err);
    if (rc)
        return rc;
    fm_stats stats = fm_series_stats(&raw, 0, 0);
    g->temp_peak_c = stats.max;
    g->temp_avg_c = NAN;
    size_t first = 0;
    while (first < raw.n && isnan(raw.v[first]))
        first++;
    if (first < raw.n) {
        int64_t t0 = raw.t_ns[first], t1 = g->last_t_ns;
        g->temp_avg_c = t1 > t0 ? fm_series_integrate_held(&raw, t0, t1, 0, NULL) /
                                      ((double)(t1 - t0) / NS_PER_S)
                                : raw.v[first];
    }
    fm_series_free(&raw);
    return FM_OK;
}

/* Throttling from the clocks-event bits, held until the next valid
 * reading (the last one until the GPU's last sample). */
static int throttle_metrics(fm_store *st, int64_t run_id, int gpu, fm_gpu_metrics *g, fm_error *err)
{
    fm_series raw;
    int rc = fm_store_load_series(st, run_id, gpu, FM_F_CLOCK_EVENTS, &raw, err);
    if (rc)
        return rc;
    g->thermal_throttled = -1;
    g->power_throttled = -1;
    double either_s = 0, thermal_s = 0, power_s = 0;
    size_t i = 0;
    while (i < raw.n && isnan(raw.v[i]))
        i++;
    while (i < raw.n) {
        size_t next = i + 1;
        while (next < raw.n && isnan(raw.v[next]))
            next++;
        int64_t end_ns = next < raw.n ? raw.t_ns[next] : g->last_t_ns;
        double held_s = (double)(end_ns - raw.t_ns[i]) / NS_PER_S;
        uint64_t bits = (uint64_t)raw.v[i];
        int thermal = (bits & FM_CLOCK_EVENTS_THERMAL) != 0;
        int power = (bits & FM_CLOCK_EVENTS_POWER) != 0;
        g->thermal_throttled = (g->thermal_throttled == 1 || thermal) ? 1 : 0;
        g->power_throttled = (g->power_throttled == 1 || power) ? 1 : 0;
        thermal_s += thermal ? held_s : 0;
        power_s += power ? held_s : 0;
        either_s += (thermal || power) ? held_s : 0;
        i = next;
    }
    int known = g->thermal_throttled >= 0;
    g->throttled_s = known ? either_s : NAN;
    g->thermal_throttled_s = known ? thermal_s : NAN;
    g->power_throttled_s = known ? power_s : NAN;
    fm_series_free(&raw);
    return FM_OK;
}

static void gpu_metrics_init(fm_gpu_metrics *g, int gpu)
{
    memset(g, 0, sizeof *g);
    g->gpu = gpu;
    g->duration_s = NAN;
    g->energy_j = g->energy_counter_j = g->energy_instant_j = g->energy_avg_1s_j = NAN;
    g->ratio_instant_to_counter = g->ratio_avg_to_counter = NAN;
    g->avg_power_w = g->peak_power_w = g->power_cv = NAN;
    g->sensor_period_s = g->counter_period_s = NAN;
    g->temp_avg_c = g->temp_peak_c = NAN;
    g->thermal_throttled = g->power_throttled = -1;
    g->throttled_s = g->thermal_throttled_s = g->power_throttled_s = NAN;
    g->prefill_energy_j = g->decode_energy_j = NAN;
    g->max_rise_w_per_s = g->max_fall_w_per_s = g->ramp_window_s = NAN;
}

/* Picks the best energy: counter, else instant, else 1 s average. */
static void choose_energy(fm_gpu_metrics *g)
{
    if (!isnan(g->energy_counter_j)) {
        g->energy_j = g->energy_counter_j;
        g->energy_source = FM_SRC_COUNTER;
    } else if (!isnan(g->energy_instant_j)) {
        g->energy_j = g->energy_instant_j;
        g->energy_source = FM_SRC_INSTANT;
    } else if (!isnan(g->energy_avg_1s_j)) {
        g->energy_j = g->energy_avg_1s_j;
        g->energy_source = FM_SRC_AVG_1S;
    }
}

/* Computes one GPU's metrics; *power receives the deduplicated power source
 * (instant, else 1 s average) for the run-level calculations. */
static int gpu_metrics(fm_store *st, int64_t run_id, int gpu, fm_gpu_metrics *g, fm_series *power,
                       fm_error *err)
{
    gpu_metrics_init(g, gpu);
    fm_series_init(power);
    power_trace instant, avg;
    int rc = load_power_trace(st, run_id, gpu, FM_F_POWER_INSTANT, &instant, g, err);
    if (rc)
        return rc;
    rc = load_power_trace(st, run_id, gpu, FM_F_POWER_AVG, &avg, g, err);
    if (rc) {
        fm_series_free(&instant.updates);
        return rc;
    }
    g->energy_instant_j = instant.energy_j;
    g->energy_avg_1s_j = avg.energy_j;
    power_trace *chosen = instant.updates.n > 0 ? &instant : avg.updates.n > 0 ? &avg : NULL;
    if (chosen) {
        g->power_source = chosen == &instant ? FM_SRC_INSTANT : FM_SRC_AVG_1S;
        fm_stats stats = fm_series_stats(&chosen->updates, 0, 0);
        g->peak_power_w = stats.max;
        g->power_cv = stats.cv;
        g->sensor_period_s = chosen->period_s;
        g->missing_power_samples = chosen->missing;
        g->max_rise_w_per_s = chosen->ramps.max_rise_w_per_s;
        g->max_fall_w_per_s = chosen->ramps.max_fall_w_per_s;
        g->ramp_window_s =
            chosen->ramps.window_ns > 0 ? (double)chosen->ramps.window_ns / NS_PER_S : NAN;
        *power = chosen->updates;
        fm_series_init(&chosen->updates); /* ownership moves to *power */
    } else {
        g->missing_power_samples = g->samples;
    }
    fm_series_free(&instant.updates);
    fm_series_free(&avg.updates);
    if (g->samples == 0)
        return FM_OK;
    g->duration_s = (double)(g->last_t_ns - g->first_t_ns) / NS_PER_S;
    rc = counter_metrics(st, run_id, gpu, g, err);
    if (rc == FM_OK)
        rc = temperature_metrics(st, run_id, gpu, g, err);
    if (rc == FM_OK)
        rc = throttle_metrics(st, run_id, gpu, g, err);
    if (rc) {
        fm_series_free(power);
        return rc;
    }
    g->ratio_instant_to_counter = ratio_or_nan(g->energy_instant_j, g->energy_counter_j);
    g->ratio_avg_to_counter = ratio_or_nan(g->energy_avg_1s_j, g->energy_counter_j);
    choose_energy(g);
    g->avg_power_w = g->duration_s > 0 ? g->energy_j / g->duration_s : NAN;
    return FM_OK;
}

/* ---- per run ---- */

/* Sum over GPUs of one field; NAN when any GPU lacks it. */
static double sum_over_gpus(const fm_run_metrics *m, size_t offset)
{
    double sum = 0.0;
    for (int i = 0; i < m->gpus; i++) {
        double v = *(const double *)((const char *)&m->gpu[i] + offset);
        if (isnan(v))
            return NAN;
        sum += v;
    }
    return m->gpus > 0 ? sum : NAN;
}

/* Peak of the summed power on a common grid: each GPU's held power source
 * resampled onto t_lo, t_lo+step, ... where every GPU has data. */
static int aggregate_peak(fm_run_metrics *m, const fm_series *power, int64_t step_ns, fm_error *err)
{
    m->peak_power_w = NAN;
    m->peak_grid_s = (double)step_ns / NS_PER_S;
    int64_t t_lo = INT64_MIN, t_hi = INT64_MAX;
    for (int i = 0; i < m->gpus; i++) {
        if (power[i].n == 0)
            return FM_OK;
        t_lo = power[i].t_ns[0] > t_lo ? power[i].t_ns[0] : t_lo;
        t_hi = m->gpu[i].last_t_ns < t_hi ? m->gpu[i].last_t_ns : t_hi;
    }
    if (m->gpus == 0 || t_hi < t_lo)
        return FM_OK;
    fm_series sum;
    fm_series_init(&sum);
    for (int i = 0; i < m->gpus; i++) {
        fm_series grid;
        if (fm_series_resample_held(&power[i], t_lo, t_hi, step_ns, &grid) != FM_OK) {
            fm_series_free(&sum);
            return fm_fail(err, FM_ERR_NOMEM, "out of memory summing GPU power");
        }
        if (i == 0) {
            sum = grid;
            continue;
        }
        for (size_t k = 0; k < sum.n; k++)
            sum.v[k] += grid.v[k];
        fm_series_free(&grid);
    }
    fm_stats stats = fm_series_stats(&sum, 0, 0);
    m->peak_power_w = stats.max;
    fm_series_free(&sum);
    return FM_OK;
}

/* Step of the aggregate grid: the run's tick interval, else the first
 * GPU's median poll spacing, else 25 ms. */
static int64_t grid_step_ns(const fm_run *run)
{
    if (run->interval_ms > 0)
        return (int64_t)llround(run->interval_ms * 1e6);
    return 25000000;
}

/* Adds the held power integral over [t0, t1] to the phase energies of the
 * marker's GPUs. */
static void add_window(fm_run_metrics *m, const fm_series *power, int marker_gpu, int decode,
                       int64_t t0_ns, int64_t t1_ns)
{
    for (int i = 0; i < m->gpus; i++) {
        if (marker_gpu >= 0 && marker_gpu != i)
            continue;
        double e = power[i].n ? fm_series_integrate_held(&power[i], t0_ns, t1_ns, 0, NULL) : NAN;
        double *slot = decode ? &m->gpu[i].decode_energy_j : &m->gpu[i].prefill_energy_j;
        *slot = isnan(*slot) ? e : *slot + e;
    }
}

/* Pairs "start"/"end" markers named prefill or decode (per name and GPU,
 * an end closes the latest open start) and integrates each window. */
static void marker_phase_energy(fm_run_metrics *m, const fm_series *power, const fm_marker *marks,
                                size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const fm_marker *start = &marks[i];
        if (strcmp(start->kind, "start") != 0)
            continue;
        int decode = !strcmp(start->name, "decode");
        if (!decode && strcmp(start->name, "prefill") != 0)
            continue;
        /* Its end: the first later "end" of the same name and GPU, unless
         * another "start" of the same name and GPU comes first. */
        for (size_t j = i + 1; j < count; j++) {
            const fm_marker *e = &marks[j];
            if (strcmp(e->name, start->name) != 0 || e->gpu != start->gpu)
                continue;
            if (!strcmp(e->kind, "start"))
                break;
            if (!strcmp(e->kind, "end")) {
                add_window(m, power, start->gpu, decode, start->t_ns, e->t_ns);
                if (decode)
                    m->decode_windows++;
                else
                    m->prefill_windows++;
                break;
            }
        }
    }
    if (m->prefill_windows + m->decode_windows > 0)
        snprintf(m->phase_source, sizeof m->phase_source, "markers");
}

/* Tokens: the override, else the run's count, else the sum of "tokens"
 * markers. */
static void choose_tokens(fm_run_metrics *m, const fm_run *run, const fm_metrics_options *opt,
                          const fm_marker *marks, size_t count)
{
    m->tokens = -1;
    snprintf(m->tokens_source, sizeof m->tokens_source, "none");
    int64_t marker_tokens = 0;
    int have_marker_tokens = 0;
    for (size_t i = 0; i < count; i++)
        if (!strcmp(marks[i].kind, "tokens") && marks[i].tokens >= 0) {
            marker_tokens += marks[i].tokens;
            have_marker_tokens = 1;
        }
    if (opt->tokens_override >= 0) {
        m->tokens = opt->tokens_override;
        snprintf(m->tokens_source, sizeof m->tokens_source, "override");
    } else if (run->tokens >= 0) {
        m->tokens = run->tokens;
        snprintf(m->tokens_source, sizeof m->tokens_source, "run");
    } else if (have_marker_tokens) {
        m->tokens = marker_tokens;
        snprintf(m->tokens_source, sizeof m->tokens_source, "markers");
    }
}

static void per_token_figures(fm_run_metrics *m)
{
    m->joules_per_token = m->tokens_per_joule = m->wh_per_1k_queries = NAN;
    if (m->tokens <= 0 || isnan(m->total_energy_j) || m->total_energy_j <= 0)
        return;
    m->joules_per_token = m->total_energy_j / (double)m->tokens;
    m->tokens_per_joule = (double)m->tokens / m->total_energy_j;
    m->wh_per_1k_queries = m->joules_per_token * m->tokens_per_query * 1000.0 / 3600.0;
}

static void run_totals(fm_run_metrics *m)
{
    m->total_energy_j = sum_over_gpus(m, offsetof(fm_gpu_metrics, energy_j));
    m->energy_counter_j = sum_over_gpus(m, offsetof(fm_gpu_metrics, energy_counter_j));
    m->energy_instant_j = sum_over_gpus(m, offsetof(fm_gpu_metrics, energy_instant_j));
    m->energy_avg_1s_j = sum_over_gpus(m, offsetof(fm_gpu_metrics, energy_avg_1s_j));
    m->ratio_instant_to_counter = ratio_or_nan(m->energy_instant_j, m->energy_counter_j);
    m->ratio_avg_to_counter = ratio_or_nan(m->energy_avg_1s_j, m->energy_counter_j);
    m->energy_source = m->gpus > 0 ? m->gpu[0].energy_source : FM_SRC_NONE;
    m->t0_ns = INT64_MAX;
    m->t1_ns = INT64_MIN;
    for (int i = 0; i < m->gpus; i++) {
        if (m->gpu[i].energy_source != m->energy_source)
            m->energy_source = FM_SRC_NONE;
        if (m->gpu[i].samples == 0)
            continue;
        m->t0_ns = m->gpu[i].first_t_ns < m->t0_ns ? m->gpu[i].first_t_ns : m->t0_ns;
        m->t1_ns = m->gpu[i].last_t_ns > m->t1_ns ? m->gpu[i].last_t_ns : m->t1_ns;
    }
    if (m->t1_ns < m->t0_ns) {
        m->t0_ns = m->t1_ns = 0;
        m->duration_s = NAN;
    } else {
        m->duration_s = (double)(m->t1_ns - m->t0_ns) / NS_PER_S;
    }
    m->avg_power_w = m->duration_s > 0 ? m->total_energy_j / m->duration_s : NAN;
    m->prefill_energy_j =
        m->prefill_windows ? sum_over_gpus(m, offsetof(fm_gpu_metrics, prefill_energy_j)) : NAN;
    m->decode_energy_j =
        m->decode_windows ? sum_over_gpus(m, offsetof(fm_gpu_metrics, decode_energy_j)) : NAN;
}

static void run_metrics_init(fm_run_metrics *m, const fm_run *run, const fm_metrics_options *opt)
{
    memset(m, 0, sizeof *m);
    m->run_id = run->id;
    m->tokens_per_query = opt->tokens_per_query > 0 ? opt->tokens_per_query : 100;
    m->prefill_energy_j = m->decode_energy_j = NAN;
    m->peak_power_w = NAN;
    snprintf(m->phase_source, sizeof m->phase_source, "none");
}

int fm_metrics_compute(fm_store *st, int64_t run_id, const fm_metrics_options *opt,
                       fm_run_metrics *out, fm_error *err)
{
    fm_metrics_options defaults;
    fm_metrics_options_default(&defaults);
    if (!opt)
        opt = &defaults;
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%lld", (long long)run_id);
    fm_run run;
    int rc = fm_store_find_run(st, id_text, &run, err);
    if (rc)
        return rc;
    run_metrics_init(out, &run, opt);
    out->gpus = run.gpus > 0 ? run.gpus : 0;
    out->gpu = calloc(out->gpus ? (size_t)out->gpus : 1, sizeof *out->gpu);
    fm_series *power = calloc(out->gpus ? (size_t)out->gpus : 1, sizeof *power);
    fm_marker *marks = NULL;
    size_t mark_count = 0;
    if (!out->gpu || !power) {
        rc = fm_fail(err, FM_ERR_NOMEM, "out of memory analysing run %lld", (long long)run_id);
        goto done;
    }
    for (int i = 0; i < out->gpus && rc == FM_OK; i++)
        rc = gpu_metrics(st, run_id, i, &out->gpu[i], &power[i], err);
    if (rc == FM_OK)
        rc = fm_store_load_markers(st, run_id, &marks, &mark_count, err);
    if (rc == FM_OK) {
        marker_phase_energy(out, power, marks, mark_count);
        run_totals(out);
        choose_tokens(out, &run, opt, marks, mark_count);
        per_token_figures(out);
        rc = aggregate_peak(out, power, grid_step_ns(&run), err);
    }
done:
    for (int i = 0; power && i < out->gpus; i++)
        fm_series_free(&power[i]);
    free(power);
    free(marks);
    if (rc)
        fm_run_metrics_free(out);
    return rc;
}

void fm_run_metrics_free(fm_run_metrics *m)
{
    free(m->gpu);
    m->gpu = NULL;
    m->gpus = 0;
}

/* ---- quick total for listings ---- */

int fm_metrics_quick_energy(fm_store *st, const fm_run *run, double *energy_j, fm_source *source,
                            fm_error *err)
{
    *energy_j = 0.0;
    *source = FM_SRC_NONE;
    for (int gpu = 0; gpu < run->gpus; gpu++) {
        int64_t t_first, t_last;
        double first_j, last_j;
        fm_source this_source = FM_SRC_COUNTER;
        double this_j;
        int rc = fm_store_counter_span(st, run->id, gpu, &t_first, &first_j, &t_last, &last_j, err);
        if (rc == FM_OK && t_last > t_first && last_j >= first_j) {
            this_j = last_j - first_j;
        } else if (rc == FM_OK || rc == FM_ERR_NOT_FOUND) {
            fm_gpu_metrics g;
            fm_series power;
            rc = gpu_metrics(st, run->id, gpu, &g, &power, err);
            if (rc)
                return rc;
            fm_series_free(&power);
            this_j = g.energy_j;
            this_source = g.energy_source;
        } else {
            return rc;
        }
        if (isnan(this_j)) {
            *energy_j = NAN;
            *source = FM_SRC_NONE;
            return FM_OK;
        }
        *energy_j += this_j;
        *source = (gpu == 0 || *source == this_source) ? this_source : FM_SRC_NONE;
    }
    if (run->gpus <= 0)
        *energy_j = NAN;
    return FM_OK;
}
