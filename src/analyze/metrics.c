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

/* ---- per GPU: one pass over the samples ---- */

/* A power source of one GPU, accumulated sample by sample: only its
 * deduplicated updates are kept (a held sensor repeats each value for
 * several polls, so these are far fewer than the samples). */
typedef struct power_acc {
    fm_series updates;
    size_t missing; /* polls without a value */
    int failed;     /* out of memory */
} power_acc;

static void power_acc_add(power_acc *a, int64_t t_ns, int valid, double v)
{
    if (!valid || isnan(v)) {
        a->missing++;
        return;
    }
    if (a->updates.n > 0 && a->updates.v[a->updates.n - 1] == v)
        return;
    if (fm_series_push(&a->updates, t_ns, v) != FM_OK)
        a->failed = 1;
}

/* Energy counter: the sum of its non-negative steps between the first and
 * last valid reading (a step backwards is a counter reset and is skipped);
 * its changes are kept to estimate its update period. */
typedef struct counter_acc {
    size_t valid;
    double previous_j, sum_j;
    int resets;
    power_acc changes;
} counter_acc;

static void counter_acc_add(counter_acc *a, int64_t t_ns, double energy_j)
{
    if (a->valid > 0) {
        if (energy_j >= a->previous_j)
            a->sum_j += energy_j - a->previous_j;
        else
            a->resets++;
    }
    a->previous_j = energy_j;
    a->valid++;
    power_acc_add(&a->changes, t_ns, 1, energy_j);
}

/* A reading held until the next valid one: temperature (held integral and
 * peak) and clocks-event bits (time with each kind of bit set). */
typedef struct held_acc {
    int have;
    int64_t first_t_ns, last_t_ns;
    double last_v;
    double integral; /* value x seconds */
    double peak;
    uint64_t last_bits;
    double thermal_s, power_s, either_s;
} held_acc;

static void held_close_interval(held_acc *a, int64_t until_ns, int is_bits)
{
    double held_s = (double)(until_ns - a->last_t_ns) / NS_PER_S;
    if (!is_bits) {
        a->integral += a->last_v * held_s;
        return;
    }
    int thermal = (a->last_bits & FM_CLOCK_EVENTS_THERMAL) != 0;
    int power = (a->last_bits & FM_CLOCK_EVENTS_POWER) != 0;
    a->thermal_s += thermal ? held_s : 0;
    a->power_s += power ? held_s : 0;
    a->either_s += (thermal || power) ? held_s : 0;
}

static void held_acc_add(held_acc *a, int64_t t_ns, double v, uint64_t bits, int is_bits)
{
    if (a->have)
        held_close_interval(a, t_ns, is_bits);
    else
        a->first_t_ns = t_ns;
    a->peak = (!a->have || v > a->peak) ? v : a->peak;
    a->have = 1;
    a->last_t_ns = t_ns;
    a->last_v = v;
    a->last_bits = bits;
}

/* Everything gathered in the pass over one GPU's samples. */
typedef struct gpu_acc {
    size_t samples;
    int64_t first_t_ns, last_t_ns;
    power_acc instant, avg;
    counter_acc counter;
    held_acc temp, events;
    int thermal_seen, power_seen;
} gpu_acc;

static int gpu_acc_visit(const fm_sample *s, void *ctx)
{
    gpu_acc *a = ctx;
    if (a->samples == 0)
        a->first_t_ns = s->t_ns;
    a->samples++;
    a->last_t_ns = s->t_ns;
    power_acc_add(&a->instant, s->t_ns, s->valid & FM_F_POWER_INSTANT, s->power_instant_w);
    power_acc_add(&a->avg, s->t_ns, s->valid & FM_F_POWER_AVG, s->power_avg_w);
    if ((s->valid & FM_F_ENERGY) && !isnan(s->energy_j))
        counter_acc_add(&a->counter, s->t_ns, s->energy_j);
    if ((s->valid & FM_F_TEMP) && !isnan(s->temp_c))
        held_acc_add(&a->temp, s->t_ns, s->temp_c, 0, 0);
    if (s->valid & FM_F_CLOCK_EVENTS) {
        held_acc_add(&a->events, s->t_ns, 0, s->clock_events, 1);
        a->thermal_seen |= (s->clock_events & FM_CLOCK_EVENTS_THERMAL) != 0;
        a->power_seen |= (s->clock_events & FM_CLOCK_EVENTS_POWER) != 0;
    }
    int failed = a->instant.failed || a->avg.failed || a->counter.changes.failed;
    return failed ? FM_ERR_NOMEM : FM_OK;
}

static void gpu_acc_free(gpu_acc *a)
{
    fm_series_free(&a->instant.updates);
    fm_series_free(&a->avg.updates);
    fm_series_free(&a->counter.changes.updates);
}

static double period_s_or_nan(const fm_series *updates)
{
    int64_t period_ns = fm_series_update_period_ns(updates);
    return period_ns > 0 ? (double)period_ns / NS_PER_S : NAN;
}

static double held_energy_j(const power_acc *p, const gpu_acc *a)
{
    if (p->updates.n == 0)
        return NAN;
    return fm_series_integrate_held(&p->updates, a->first_t_ns, a->last_t_ns, 0, NULL);
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

/* Peak, CV, update period and ramps of the power source. */
static void power_source_metrics(fm_gpu_metrics *g, const power_acc *p, fm_source source,
                                 int64_t data_end_ns)
{
    g->power_source = source;
    fm_stats stats = fm_series_stats(&p->updates, 0, 0);
    g->peak_power_w = stats.max;
    g->power_cv = stats.cv;
    g->sensor_period_s = period_s_or_nan(&p->updates);
    g->missing_power_samples = p->missing;
    fm_ramp_extremes ramps;
    if (fm_power_ramp_extremes_updates(&p->updates, data_end_ns, 0, &ramps) == FM_OK &&
        ramps.window_ns > 0) {
        g->max_rise_w_per_s = ramps.max_rise_w_per_s;
        g->max_fall_w_per_s = ramps.max_fall_w_per_s;
        g->ramp_window_s = (double)ramps.window_ns / NS_PER_S;
    }
}

static void temperature_metrics(fm_gpu_metrics *g, held_acc *t, int64_t last_t_ns)
{
    if (!t->have)
        return;
    held_close_interval(t, last_t_ns, 0);
    double span_s = (double)(last_t_ns - t->first_t_ns) / NS_PER_S;
    g->temp_avg_c = span_s > 0 ? t->integral / span_s : t->last_v;
    g->temp_peak_c = t->peak;
}

static void throttle_metrics(fm_gpu_metrics *g, gpu_acc *a)
{
    if (!a->events.have)
        return;
    held_close_interval(&a->events, a->last_t_ns, 1);
    g->thermal_throttled = a->thermal_seen;
    g->power_throttled = a->power_seen;
    g->thermal_throttled_s = a->events.thermal_s;
    g->power_throttled_s = a->events.power_s;
    g->throttled_s = a->events.either_s;
}

/* Computes one GPU's metrics in one pass over its samples; *power receives
 * the deduplicated power source (instant, else 1 s average) for the
 * run-level calculations (caller frees). */
static int gpu_metrics(fm_store *st, int64_t run_id, int gpu, fm_gpu_metrics *g, fm_series *power,
                       fm_error *err)
{
    gpu_metrics_init(g, gpu);
    fm_series_init(power);
    gpu_acc a;
    memset(&a, 0, sizeof a);
    int rc = fm_store_scan_samples(st, run_id, gpu, gpu_acc_visit, &a, err);
    if (rc) {
        gpu_acc_free(&a);
        return rc;
    }
    g->samples = a.samples;
    if (a.samples == 0) {
        gpu_acc_free(&a);
        return FM_OK;
    }
    g->first_t_ns = a.first_t_ns;
    g->last_t_ns = a.last_t_ns;
    g->duration_s = (double)(a.last_t_ns - a.first_t_ns) / NS_PER_S;
    g->energy_instant_j = held_energy_j(&a.instant, &a);
    g->energy_avg_1s_j = held_energy_j(&a.avg, &a);
    g->energy_counter_j = a.counter.valid >= 2 ? a.counter.sum_j : NAN;
    g->counter_resets = a.counter.resets;
    g->counter_period_s = period_s_or_nan(&a.counter.changes.updates);
    power_acc *chosen = a.instant.updates.n ? &a.instant : a.avg.updates.n ? &a.avg : NULL;
    if (chosen) {
        power_source_metrics(g, chosen, chosen == &a.instant ? FM_SRC_INSTANT : FM_SRC_AVG_1S,
                             a.last_t_ns);
        *power = chosen->updates;
        fm_series_init(&chosen->updates); /* ownership moves to *power */
    } else {
        g->missing_power_samples = a.samples;
    }
    temperature_metrics(g, &a.temp, a.last_t_ns);
    throttle_metrics(g, &a);
    gpu_acc_free(&a);
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

/* Step of the aggregate grid: the run's tick interval, else 25 ms. */
static int64_t grid_step_ns(const fm_run *run)
{
    if (run->interval_ms > 0)
        return (int64_t)llround(run->interval_ms * 1e6);
    return 25000000;
}

/* One prefill or decode window from a start/end marker pair. */
typedef struct phase_window {
    int64_t t0_ns, t1_ns;
    int gpu; /* -1: all GPUs */
} phase_window;

static int compare_windows(const void *a, const void *b)
{
    const phase_window *x = a, *y = b;
    return (x->t0_ns > y->t0_ns) - (x->t0_ns < y->t0_ns);
}

/* Energy of one GPU over the union of the windows that concern it
 * (overlapping windows, e.g. concurrent requests, count once). Windows
 * must be sorted by start. NAN if none concerns it (*concerned = 0) or the
 * GPU has no power data. */
static double union_energy_j(const fm_series *power, const phase_window *w, size_t count, int gpu,
                             int *concerned)
{
    double energy_j = NAN;
    *concerned = 0;
    int64_t open_t0 = 0, open_t1 = 0;
    int have_open = 0;
    for (size_t i = 0; i <= count; i++) {
        int last = i == count;
        if (!last && w[i].gpu >= 0 && w[i].gpu != gpu)
            continue;
        if (!last && have_open && w[i].t0_ns <= open_t1) {
            open_t1 = w[i].t1_ns > open_t1 ? w[i].t1_ns : open_t1; /* overlaps: extend */
            continue;
        }
        if (have_open) {
            double e = power->n ? fm_series_integrate_held(power, open_t0, open_t1, 0, NULL) : NAN;
            energy_j = *concerned ? energy_j + e : e;
            *concerned = 1;
        }
        if (!last) {
            open_t0 = w[i].t0_ns;
            open_t1 = w[i].t1_ns;
            have_open = 1;
        }
    }
    return energy_j;
}

/* Finds the windows of one phase: each "start" marker of that name is
 * closed by the first later "end" of the same name, GPU and request (a new
 * "start" of the same name, GPU and request first leaves it unpaired).
 * Returns the count; *out malloc'ed (NULL when none or out of memory). */
static size_t find_windows(const fm_marker *marks, size_t count, const char *phase,
                           phase_window **out)
{
    *out = NULL;
    size_t n = 0;
    phase_window *w = NULL;
    for (size_t i = 0; i < count; i++) {
        const fm_marker *start = &marks[i];
        if (strcmp(start->kind, "start") != 0 || strcmp(start->name, phase) != 0)
            continue;
        for (size_t j = i + 1; j < count; j++) {
            const fm_marker *e = &marks[j];
            if (strcmp(e->name, phase) != 0 || e->gpu != start->gpu || e->request != start->request)
                continue;
            if (!strcmp(e->kind, "start"))
                break;
            if (strcmp(e->kind, "end") != 0)
                continue;
            phase_window *grown = realloc(w, (n + 1) * sizeof *grown);
            if (!grown) {
                free(w);
                return 0;
            }
            w = grown;
            w[n++] = (phase_window){.t0_ns = start->t_ns, .t1_ns = e->t_ns, .gpu = start->gpu};
            break;
        }
    }
    if (n > 1)
        qsort(w, n, sizeof *w, compare_windows);
    *out = w;
    return n;
}

/* Energy of each GPU in the prefill and decode marker windows. */
static int marker_phase_energy(fm_run_metrics *m, const fm_series *power, const fm_marker *marks,
                               size_t count, fm_error *err)
{
    static const char *const phases[2] = {"prefill", "decode"};
    for (int decode = 0; decode < 2; decode++) {
        phase_window *w;
        size_t n = find_windows(marks, count, phases[decode], &w);
        if (n > 0 && !w)
            return fm_fail(err, FM_ERR_NOMEM, "out of memory pairing markers");
        /* The run's figure: the sum over the GPUs the windows concern. */
        double total_j = NAN;
        int any = 0;
        for (int i = 0; i < m->gpus && n > 0; i++) {
            int concerned;
            double e = union_energy_j(&power[i], w, n, i, &concerned);
            *(decode ? &m->gpu[i].decode_energy_j : &m->gpu[i].prefill_energy_j) = e;
            if (concerned) {
                total_j = any ? total_j + e : e;
                any = 1;
            }
        }
        *(decode ? &m->decode_energy_j : &m->prefill_energy_j) = total_j;
        if (decode)
            m->decode_windows = (int)n;
        else
            m->prefill_windows = (int)n;
        free(w);
    }
    if (m->prefill_windows + m->decode_windows > 0)
        snprintf(m->phase_source, sizeof m->phase_source, "markers");
    return FM_OK;
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
    fm_run run;
    int rc = fm_store_get_run(st, run_id, &run, err);
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
    if (rc == FM_OK)
        rc = marker_phase_energy(out, power, marks, mark_count, err);
    if (rc == FM_OK) {
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
