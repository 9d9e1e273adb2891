/* Builds the workload profile JSON of a stored run. The contract part
 * (model_name ... thermal_profile) has exactly the keys the digital twin's
 * WorkloadProfile.from_json accepts (economics.md §5); everything else
 * goes under "x_firmus". Choices (which GPU, how phases are summarised per
 * type, tokens, tier, thermal fit) are documented in
 * docs/WORKLOAD_EXPORT_GUIDE.md. */
#include "profile_internal.h"

#include "econ/econ_json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_S 1e9
#define MAX_TRACE_POINTS 36000
#define MAX_SEGMENTS_PER_LIST 20000
#define SMALL_TRACE_POINTS 12000 /* aggregate trace and indentation up to this */

struct fm_profile {
    json_t *root;
    /* for the summary */
    char model[128];
    char tier[32];
    int gpu;
    int gpus;
    double resolution_s;
    size_t points;
    double duration_s;
    double energy_j;
    double decode_cv;
    char phase_source[16];
    double idle_below_w;   /* idle threshold of the exported GPU, W */
    char idle_source[320]; /* how it was derived */
    fm_phase_summary summary[FM_PHASE_COUNT];
    int thermal_ok;
    double tau_s;
    int have_agreement;
    fm_phase_agreement agreement;
    size_t marker_windows;
    double marker_median_abs_diff;
    double marker_total_diff;
};

void fm_profile_options_default(fm_profile_options *o)
{
    memset(o, 0, sizeof *o);
    o->gpu = 0;
    o->resolution_s = 0;
    o->model_params = NAN;
    fm_phase_params_default(&o->phases);
    o->tokens_per_query = 100.0;
}

/* A JSON number, or null when not finite (missing is never 0). */
static json_t *jnum(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* Rounds to `digits` decimals (keeps files small; watts to 1 mW). */
static double round_to(double x, int digits)
{
    double f = pow(10.0, digits);
    return round(x * f) / f;
}

static void set(json_t *o, const char *key, json_t *v)
{
    json_object_set_new(o, key, v ? v : json_null());
}

/* "H200", "H100", "A100", ... from a device name; else the name itself. */
static void platform_from_name(const char *name, char *out, size_t cap)
{
    static const char *const known[] = {"GB300", "GB200", "B300", "B200", "H200", "H100",
                                        "H800",  "A100",  "A30",  "L40S", "L40",  "V100"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strstr(name, known[i])) {
            snprintf(out, cap, "%s", known[i]);
            return;
        }
    snprintf(out, cap, "%.60s", name[0] ? name : "unknown");
}

static double seconds(int64_t ns)
{
    return (double)ns / NS_PER_S;
}

/* Segments as a compact table: [phase, start_s, end_s, avg_w, peak_w,
 * stdev_w, cv, energy_j, ramp_rate_w_per_s]. */
static json_t *segment_table(const fm_segment *seg, size_t n, int64_t t0)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array();
        json_array_append_new(r, json_string(fm_phase_name(seg[i].phase)));
        json_array_append_new(r, json_real(round_to(seconds(seg[i].start_ns - t0), 4)));
        json_array_append_new(r, json_real(round_to(seconds(seg[i].end_ns - t0), 4)));
        json_array_append_new(r, jnum(round_to(seg[i].avg_power_w, 3)));
        json_array_append_new(r, jnum(round_to(seg[i].peak_power_w, 3)));
        json_array_append_new(r, jnum(round_to(seg[i].power_stdev_w, 3)));
        json_array_append_new(r, jnum(round_to(seg[i].power_cv, 5)));
        json_array_append_new(r, jnum(round_to(seg[i].energy_j, 3)));
        json_array_append_new(r, jnum(round_to(seg[i].ramp_rate_w_per_s, 2)));
        json_array_append_new(rows, r);
    }
    return rows;
}

static json_t *summary_json(const fm_phase_summary *s)
{
    json_t *o = json_object();
    for (int p = 0; p < FM_PHASE_COUNT; p++) {
        if (s[p].count == 0)
            continue;
        json_t *e = json_object();
        set(e, "count", json_integer((json_int_t)s[p].count));
        set(e, "total_s", jnum(s[p].total_s));
        set(e, "energy_j", jnum(s[p].energy_j));
        set(e, "avg_power_w", jnum(s[p].avg_power_w));
        set(e, "peak_power_w", jnum(s[p].peak_power_w));
        set(e, "power_stdev_w", jnum(s[p].power_stdev_w));
        set(e, "power_cv", jnum(s[p].power_cv));
        if (p == FM_PHASE_RAMP || p == FM_PHASE_FALL)
            set(e, "ramp_rate_w_per_s", jnum(s[p].ramp_rate_w_per_s));
        set(o, fm_phase_name((fm_phase)p), e);
    }
    return o;
}

/* The contract's "phases": per type, start/end of the first segment of
 * that type (the representative cycle), power statistics over all
 * segments of the type, energy = avg_power x (end - start). */
static json_t *contract_phases(const fm_segment *seg, const fm_phase_summary *s, int64_t t0,
                               double duration_s)
{
    json_t *o = json_object();
    static const fm_phase order[] = {FM_PHASE_IDLE, FM_PHASE_RAMP, FM_PHASE_PREFILL,
                                     FM_PHASE_DECODE, FM_PHASE_FALL};
    for (size_t k = 0; k < 5; k++) {
        fm_phase p = order[k];
        if (s[p].count == 0)
            continue;
        const fm_segment *first = &seg[s[p].first];
        double start = round_to(fmin(seconds(first->start_ns - t0), duration_s), 4);
        double end = round_to(fmin(seconds(first->end_ns - t0), duration_s), 4);
        double avg = round_to(s[p].avg_power_w, 3);
        json_t *e = json_object();
        set(e, "phase", json_string(fm_phase_name(p)));
        set(e, "start_time", json_real(start));
        set(e, "end_time", json_real(end));
        set(e, "avg_power", jnum(avg));
        set(e, "peak_power", jnum(round_to(s[p].peak_power_w, 3)));
        set(e, "power_stdev", jnum(round_to(s[p].power_stdev_w, 3)));
        set(e, "power_cv", jnum(round_to(s[p].power_cv, 5)));
        set(e, "energy_joules", jnum(avg * (end - start)));
        if (p == FM_PHASE_RAMP || p == FM_PHASE_FALL)
            set(e, "ramp_rate_ws", jnum(round_to(s[p].ramp_rate_w_per_s, 2)));
        set(o, fm_phase_name(p), e);
    }
    return o;
}

/* Uniform trace of one signal: [[t, W], ...] with bin means. */
static json_t *trace_json(const fm_phase_signal *sig, int64_t t0, int64_t step, size_t n)
{
    double *v = malloc(n * sizeof *v);
    json_t *a = json_array();
    if (!v)
        return a;
    fm_signal_bin_means(sig, t0, step, n, v);
    for (size_t k = 0; k < n; k++) {
        json_t *pt = json_array();
        json_array_append_new(pt, json_real(round_to((double)k * seconds(step), 6)));
        json_array_append_new(pt, jnum(round_to(v[k], 3)));
        json_array_append_new(a, pt);
    }
    free(v);
    return a;
}

static void iso_utc(int64_t wall_ns, char *out, size_t cap)
{
    time_t t = (time_t)(wall_ns / 1000000000LL);
    struct tm tmv;
    if (wall_ns <= 0 || !gmtime_r(&t, &tmv)) {
        snprintf(out, cap, "unknown");
        return;
    }
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tmv);
    snprintf(out, cap, "%s.%03dZ", buf, (int)((wall_ns / 1000000) % 1000));
}

static const char *field_label(enum fm_field f)
{
    return f == FM_F_POWER_INSTANT ? "power_instant" : "power_avg_1s";
}

/* Longest stretch of consecutive non-idle segments (a busy period). */
static void longest_busy(const fm_segment *seg, size_t n, int64_t *t0, int64_t *t1)
{
    *t0 = *t1 = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && seg[i].phase == FM_PHASE_IDLE)
            i++;
        if (i >= n)
            break;
        int64_t a = seg[i].start_ns;
        while (i < n && seg[i].phase != FM_PHASE_IDLE)
            i++;
        int64_t b = seg[i - 1].end_ns;
        if (b - a > *t1 - *t0) {
            *t0 = a;
            *t1 = b;
        }
    }
}

static json_t *thermal(fm_store *st, const fm_run_data *d, int g, fm_profile *p, json_t *x,
                       fm_error *err)
{
    json_t *info = json_object();
    set(x, "thermal", info);
    fm_series temp;
    fm_series_init(&temp);
    if (!(d->gpu[g].dev.supported & FM_F_TEMP) ||
        fm_store_load_series(st, d->run.id, g, FM_F_TEMP, &temp, err) != FM_OK) {
        set(info, "reason", json_string("no temperature readings"));
        fm_series_free(&temp);
        return json_null();
    }
    fm_stats ts = fm_series_stats(&temp, 0, 0);
    set(info, "gpu", json_integer(g));
    set(info, "avg_temp_celsius", jnum(ts.mean));
    set(info, "peak_temp_celsius", jnum(ts.max));
    int64_t b0, b1;
    longest_busy(d->gpu[g].seg, d->gpu[g].n_seg, &b0, &b1);
    fm_thermal_fit fit;
    fm_thermal_fit_step(&temp, b0, b1, &fit);
    fm_series_free(&temp);
    set(info, "fit_window_start_s", jnum(seconds(b0 - d->t0_ns)));
    set(info, "fit_window_s", jnum(fit.window_s));
    set(info, "model",
        json_string("T(t) = T_inf - (T_inf - T_0) exp(-(t - t0)/tau), least "
                    "squares over the longest busy period"));
    set(info, "tau_s", jnum(fit.tau_s));
    set(info, "t_inf_celsius", jnum(fit.t_inf_c));
    set(info, "r2", jnum(fit.r2));
    set(info, "fit_ok", json_boolean(fit.ok));
    if (ts.n == 0 || !fit.ok) {
        set(info, "reason",
            json_string(ts.n == 0 ? "no temperature readings"
                                  : "no first-order step response could be "
                                    "fitted (too short, flat, or R^2 < 0.9)"));
        return json_null();
    }
    p->thermal_ok = 1;
    p->tau_s = fit.tau_s;
    json_t *o = json_object();
    set(o, "avg_temp_celsius", jnum(round_to(ts.mean, 3)));
    set(o, "peak_temp_celsius", jnum(round_to(ts.max, 3)));
    set(o, "temp_rise_rate", jnum(round_to(fit.rise_rate_c_per_s, 5)));
    set(o, "thermal_time_constant", jnum(round_to(fit.tau_s, 3)));
    return o;
}

static json_t *per_gpu_json(const fm_run_data *d, const fm_run_metrics *m, int have_m)
{
    json_t *a = json_array();
    for (int g = 0; g < d->gpus; g++) {
        const fm_gpu_data *gd = &d->gpu[g];
        json_t *o = json_object();
        set(o, "gpu", json_integer(g));
        set(o, "name", json_string(gd->dev.name));
        set(o, "uuid", json_string(gd->dev.uuid));
        set(o, "arch", json_string(gd->dev.arch));
        set(o, "power_limit_w", jnum(gd->dev.power_limit_w));
        set(o, "power_field", json_string(field_label(gd->power_field)));
        set(o, "power_source",
            json_string(gd->power_field == FM_F_POWER_INSTANT ? gd->dev.power_instant_source
                                                              : gd->dev.power_avg_source));
        set(o, "signal_energy_j",
            jnum(fm_phase_signal_integrate(&gd->sig, gd->sig.t_first_ns, gd->sig.t_last_ns)));
        set(o, "sensor_update_period_s",
            gd->sig.period_ns > 0 ? json_real(seconds(gd->sig.period_ns)) : json_null());
        set(o, "polling_interval_s", json_real(seconds(gd->sig.poll_ns)));
        set(o, "polling_jitter_ms", jnum(gd->poll_jitter_ms));
        set(o, "largest_gap_s", jnum(gd->largest_gap_s));
        set(o, "gap_time_s", jnum(gd->gap_time_s));
        set(o, "power_readings", json_integer((json_int_t)gd->raw_samples));
        set(o, "sensor_publications", json_integer((json_int_t)gd->sig.n));
        if (have_m && g < m->gpus) {
            const fm_gpu_metrics *gm = &m->gpu[g];
            set(o, "energy_j", jnum(gm->energy_j));
            set(o, "energy_source", json_string(fm_source_name(gm->energy_source)));
            set(o, "energy_counter_j", jnum(gm->energy_counter_j));
            set(o, "energy_instant_j", jnum(gm->energy_instant_j));
            set(o, "energy_avg_1s_j", jnum(gm->energy_avg_1s_j));
            set(o, "ratio_instant_to_counter", jnum(gm->ratio_instant_to_counter));
            set(o, "ratio_avg_to_counter", jnum(gm->ratio_avg_to_counter));
            set(o, "temp_avg_celsius", jnum(gm->temp_avg_c));
            set(o, "temp_peak_celsius", jnum(gm->temp_peak_c));
            set(o, "thermal_throttled",
                gm->thermal_throttled < 0 ? json_null() : json_boolean(gm->thermal_throttled));
            set(o, "power_throttled",
                gm->power_throttled < 0 ? json_null() : json_boolean(gm->power_throttled));
        }
        fm_phase_summary s[FM_PHASE_COUNT];
        fm_phases_summarize(gd->seg, gd->n_seg, s);
        set(o, "phase_summary", summary_json(s));
        json_array_append_new(a, o);
    }
    return a;
}

/* Best energy of GPU g over the run: metrics (counter when present), else
 * the integrated signal. */
static double gpu_energy(const fm_run_data *d, int g, const fm_run_metrics *m, int have_m,
                         const char **source)
{
    if (have_m && g < m->gpus && isfinite(m->gpu[g].energy_j)) {
        *source = fm_source_name(m->gpu[g].energy_source);
        return m->gpu[g].energy_j;
    }
    *source = d->gpu[g].power_field == FM_F_POWER_INSTANT ? "power_instant" : "power_avg_1s";
    return fm_phase_signal_integrate(&d->gpu[g].sig, d->t0_ns, d->t1_ns);
}

/* Marker windows with an externally measured energy (e.g. NVML energy per
 * phase from the workload): ours against theirs, per window for the node
 * (sum over GPUs) and in total. NULL when the run has none. */
static int cmp_abs(const void *a, const void *b)
{
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return (x > y) - (x < y);
}

static json_t *marker_energy_json(const fm_run_data *d, fm_profile *p)
{
    fm_marker_energy *res[64] = {0};
    size_t nres[64] = {0};
    int gpus = d->gpus < 64 ? d->gpus : 64;
    fm_error err;
    for (int g = 0; g < gpus; g++)
        if (fm_marker_energy_compare(&d->gpu[g].sig, g, d->markers, d->n_markers, &res[g], &nres[g],
                                     &err) != FM_OK)
            nres[g] = 0;
    size_t n = nres[0];
    for (int g = 1; g < gpus; g++)
        if (nres[g] != n)
            n = 0; /* windows must match across GPUs */
    json_t *o = NULL;
    if (n > 0) {
        o = json_object();
        json_t *rows = json_array();
        double *diff = malloc(n * sizeof *diff);
        double tot_m = 0, tot_i = 0;
        for (size_t k = 0; k < n && diff; k++) {
            double m = 0, in = 0;
            for (int g = 0; g < gpus; g++) {
                m += res[g][k].marker_j;
                in += res[g][k].integrated_j;
            }
            tot_m += m;
            tot_i += in;
            diff[k] = m != 0 ? (in - m) / m : NAN;
            json_array_append_new(rows,
                                  json_pack("[sffffo]", res[0][k].name,
                                            round_to(seconds(res[0][k].start_ns - d->t0_ns), 4),
                                            round_to(seconds(res[0][k].end_ns - d->t0_ns), 4),
                                            round_to(m, 3), round_to(in, 3), jnum(diff[k])));
        }
        if (diff) {
            qsort(diff, n, sizeof *diff, cmp_abs);
            p->marker_windows = n;
            p->marker_median_abs_diff = fabs(diff[n / 2]);
            p->marker_total_diff = (tot_i - tot_m) / tot_m;
        }
        set(o, "what",
            json_string("energy per marker window: the markers' own measurement "
                        "(e.g. NVML energy counter) against our integral of the "
                        "power trace, summed over GPUs"));
        set(o, "columns",
            json_pack("[ssssss]", "name", "start_s", "end_s", "marker_j", "integrated_j",
                      "rel_diff"));
        set(o, "windows", rows);
        set(o, "median_abs_rel_diff", jnum(p->marker_median_abs_diff));
        set(o, "total_marker_j", jnum(tot_m));
        set(o, "total_integrated_j", jnum(tot_i));
        set(o, "total_rel_diff", jnum(p->marker_total_diff));
        free(diff);
    }
    for (int g = 0; g < gpus; g++)
        free(res[g]);
    return o;
}

static void meta_string(fm_store *st, int64_t run, const char *key, json_t *o, const char *as)
{
    char buf[256];
    fm_error e;
    if (fm_store_get_meta(st, run, key, buf, sizeof buf, &e) == FM_OK)
        set(o, as, json_string(buf));
    else
        set(o, as, json_null());
}

/* Everything the parts of the profile are built from. */
typedef struct build_ctx {
    fm_store *st;
    int64_t run_id;
    fm_profile_options opt;
    fm_run_data d;
    int g;                              /* the exported GPU; FM_PROFILE_GPU_MEAN for the mean */
    int g_dev;                          /* the GPU whose device and temperature describe it */
    fm_gpu_data mean;                   /* the mean GPU (aggregate / GPU count), when asked */
    const fm_gpu_data *sel;             /* the exported trace and phases */
    fm_phase_summary s[FM_PHASE_COUNT]; /* its phases per type */
    fm_run_metrics m;
    int have_m;
    fm_error merr;
    double run_s; /* the run's length */
    int64_t step; /* trace grid */
    size_t points;
    double duration_s; /* last trace time */
    double e_gpu;      /* energy of the exported GPU */
    const char *esrc;
    int64_t tokens;   /* run tokens; -1 unknown */
    const char *tier; /* NULL when the decode CV is unknown */
} build_ctx;

/* The mean GPU: the aggregate divided by the GPU count (its trace times the
 * count gives the node, as the digital twin multiplies power_trace), with
 * the aggregate's segments re-measured on it. Device facts from GPU 0. */
static int build_mean_gpu(const fm_run_data *d, fm_gpu_data *mean, fm_error *err)
{
    const fm_phase_signal *a = &d->agg;
    *mean = d->gpu[0];
    mean->sig = *a;
    mean->sig.t_ns = malloc((a->n ? a->n : 1) * sizeof *mean->sig.t_ns);
    mean->sig.v = malloc((a->n ? a->n : 1) * sizeof *mean->sig.v);
    mean->seg = malloc((d->n_agg_seg ? d->n_agg_seg : 1) * sizeof *mean->seg);
    mean->n_seg = 0;
    if (!mean->sig.t_ns || !mean->sig.v || !mean->seg)
        return fm_fail(err, FM_ERR_NOMEM, "mean GPU: out of memory");
    for (size_t i = 0; i < a->n; i++) {
        mean->sig.t_ns[i] = a->t_ns[i];
        mean->sig.v[i] = a->v[i] / d->gpus;
    }
    for (size_t i = 0; i < d->n_agg_seg; i++) {
        const fm_segment *s = &d->agg_seg[i];
        fm_segment_measure(&mean->sig, s->phase, s->start_ns, s->end_ns, &mean->seg[i]);
        if (!isnan(s->ramp_rate_w_per_s))
            mean->seg[i].ramp_rate_w_per_s = s->ramp_rate_w_per_s / d->gpus;
    }
    mean->n_seg = d->n_agg_seg;
    return FM_OK;
}

/* "gpu" in the extras: the index, or "mean". */
static json_t *gpu_json(const build_ctx *c)
{
    return c->g == FM_PROFILE_GPU_MEAN ? json_string("mean") : json_integer(c->g);
}

/* Loads the run, checks the GPU and the decode phase, computes the metrics
 * and the trace grid. */
static int ctx_init(build_ctx *c, fm_error *err)
{
    int rc = fm_run_data_load(c->st, c->run_id, &c->opt, &c->d, err);
    if (rc)
        return rc;
    c->g = c->opt.gpu;
    if (c->g == FM_PROFILE_GPU_MEAN) {
        if ((rc = build_mean_gpu(&c->d, &c->mean, err)))
            return rc;
        c->sel = &c->mean;
        c->g_dev = 0;
    } else if (c->g < 0 || c->g >= c->d.gpus) {
        return fm_fail(err, FM_ERR_USAGE, "--gpu %d: run %lld has GPUs 0..%d", c->g,
                       (long long)c->run_id, c->d.gpus - 1);
    } else {
        c->sel = &c->d.gpu[c->g];
        c->g_dev = c->g;
    }
    fm_phases_summarize(c->sel->seg, c->sel->n_seg, c->s);
    if (c->s[FM_PHASE_DECODE].count == 0)
        return fm_fail(err, FM_ERR_NOT_FOUND,
                       "run %lld, GPU %d: no decode phase %s; the digital twin needs one (is "
                       "the run only idle?)",
                       (long long)c->run_id, c->g,
                       c->d.from_markers ? "in the markers" : "detected");
    c->have_m = fm_metrics_compute(c->st, c->run_id, NULL, &c->m, &c->merr) == FM_OK;
    c->run_s = seconds(c->d.t1_ns - c->d.t0_ns);
    double res = c->opt.resolution_s > 0 ? c->opt.resolution_s
                                         : fm_profile_auto_resolution_s(c->run_s, MAX_TRACE_POINTS);
    c->step = (int64_t)llround(res * NS_PER_S);
    if (c->step < 1000000)
        c->step = 1000000;
    c->points = (size_t)ceil((double)(c->d.t1_ns - c->d.t0_ns) / (double)c->step);
    if (c->points < 2)
        c->points = 2;
    c->duration_s = (double)(c->points - 1) * seconds(c->step);
    if (c->g == FM_PROFILE_GPU_MEAN) {
        double sum = 0;
        for (int k = 0; k < c->d.gpus; k++)
            sum += gpu_energy(&c->d, k, &c->m, c->have_m, &c->esrc);
        c->e_gpu = sum / c->d.gpus;
    } else {
        c->e_gpu = gpu_energy(&c->d, c->g, &c->m, c->have_m, &c->esrc);
    }
    c->tokens = c->have_m && c->m.tokens >= 0 ? c->m.tokens : c->d.run.tokens;
    c->tier = fm_tier_cv_only(c->s[FM_PHASE_DECODE].power_cv);
    return FM_OK;
}

static const char *model_name(const build_ctx *c)
{
    return c->opt.model_name   ? c->opt.model_name
           : c->d.run.model[0] ? c->d.run.model
                               : c->d.run.name;
}

static json_t *energy_metrics_json(const build_ctx *c)
{
    int64_t tokens_gpu = c->tokens >= 0 ? c->tokens / c->d.gpus : 0;
    double jpt = tokens_gpu > 0 ? c->e_gpu / (double)tokens_gpu : NAN;
    double peak = -INFINITY;
    for (size_t i = 0; i < c->sel->sig.n; i++)
        peak = fmax(peak, c->sel->sig.v[i]);
    json_t *em = json_object();
    set(em, "total_energy_joules", jnum(round_to(c->e_gpu, 3)));
    set(em, "tokens_generated", json_integer(tokens_gpu));
    set(em, "joules_per_token", jnum(jpt));
    set(em, "tokens_per_joule", tokens_gpu > 0 ? jnum((double)tokens_gpu / c->e_gpu) : json_null());
    set(em, "avg_power_watts", jnum(round_to(c->e_gpu / c->run_s, 3)));
    set(em, "peak_power_watts", jnum(round_to(peak, 3)));
    set(em, "duration_seconds", json_real(round_to(c->duration_s, 6)));
    set(em, "wh_per_1k_queries", jnum(jpt * c->opt.tokens_per_query * 1000.0 / 3600.0));
    return em;
}

/* The part WorkloadProfile.from_json reads (thermal_profile is set later,
 * with the extras it explains). */
static void contract_json(const build_ctx *c, json_t *root)
{
    const fm_gpu_data *gd = c->sel;
    set(root, "model_name", json_string(model_name(c)));
    double params = isfinite(c->opt.model_params) ? c->opt.model_params : c->d.run.params;
    set(root, "model_size_params",
        json_integer(isfinite(params) ? (json_int_t)llround(params) : 0));
    char platform[64];
    if (c->opt.gpu_platform)
        snprintf(platform, sizeof platform, "%s", c->opt.gpu_platform);
    else
        platform_from_name(gd->dev.name, platform, sizeof platform);
    set(root, "gpu_platform", json_string(platform));
    set(root, "cooling_type", json_string(c->opt.cooling_type ? c->opt.cooling_type : "unknown"));
    set(root, "duration_seconds", json_real(round_to(c->duration_s, 6)));
    set(root, "power_trace", trace_json(&gd->sig, c->d.t0_ns, c->step, c->points));
    set(root, "phases", contract_phases(gd->seg, c->s, c->d.t0_ns, c->duration_s));
    set(root, "energy_metrics", energy_metrics_json(c));
    set(root, "tier", json_string(c->tier ? c->tier : "tier_3_high_variance"));
}

static json_t *x_run_json(const build_ctx *c)
{
    const fm_run *r = &c->d.run;
    json_t *run = json_object();
    set(run, "id", json_integer(r->id));
    set(run, "name", json_string(r->name));
    set(run, "source", json_string(r->source));
    set(run, "backend", json_string(r->backend));
    char when[48];
    iso_utc(r->start_wall_ns, when, sizeof when);
    set(run, "start_utc", json_string(when));
    set(run, "gpus", json_integer(c->d.gpus));
    set(run, "duration_s", json_real(c->run_s));
    set(run, "status",
        json_string(r->status == FM_RUN_COMPLETE     ? "complete"
                    : r->status == FM_RUN_INCOMPLETE ? "incomplete"
                                                     : "recording"));
    set(run, "tags", json_string(r->tags));
    return run;
}

static json_t *x_trace_json(const build_ctx *c)
{
    json_t *tr = json_object();
    set(tr, "gpu", gpu_json(c));
    set(tr, "resolution_s", json_real(seconds(c->step)));
    set(tr, "resolution_rule",
        json_string(c->opt.resolution_s > 0 ? "set by --resolution"
                                            : "0.1 s up to 1 h, coarser so that the trace "
                                              "keeps <= 36000 points"));
    set(tr, "points", json_integer((json_int_t)c->points));
    set(tr, "value", json_string("mean power of the GPU over each [t, t + resolution) bin, W"));
    set(tr, "power_field", json_string(field_label(c->sel->power_field)));
    set(tr, "duration_note",
        json_string("duration_seconds = last trace time; the run lasted "
                    "x_firmus.run.duration_s"));
    return tr;
}

static json_t *x_segments_json(const build_ctx *c)
{
    const fm_run_data *d = &c->d;
    json_t *segs = json_object();
    set(segs, "columns",
        json_pack("[sssssssss]", "phase", "start_s", "end_s", "avg_power_w", "peak_power_w",
                  "power_stdev_w", "power_cv", "energy_j", "ramp_rate_w_per_s"));
    set(segs, "aggregate", segment_table(d->agg_seg, d->n_agg_seg, d->t0_ns));
    size_t total = 0;
    for (int k = 0; k < d->gpus; k++)
        total += d->gpu[k].n_seg;
    json_t *pg = json_object();
    for (int k = 0; k < d->gpus; k++) {
        if (total > MAX_SEGMENTS_PER_LIST && k != c->g_dev)
            continue;
        char key[16];
        snprintf(key, sizeof key, "%d", k);
        set(pg, key, segment_table(d->gpu[k].seg, d->gpu[k].n_seg, d->t0_ns));
    }
    set(segs, "gpu", pg);
    set(segs, "omitted_gpus", json_boolean(total > MAX_SEGMENTS_PER_LIST));
    return segs;
}

/* The idle threshold of the exported GPU: its own, or for the mean GPU
 * the aggregate's divided by the GPU count. */
static double exported_idle_w(const build_ctx *c, char *source, size_t cap)
{
    if (c->g != FM_PROFILE_GPU_MEAN) {
        snprintf(source, cap, "%s", c->d.gpu[c->g].idle.source);
        return c->d.gpu[c->g].idle.threshold_w;
    }
    snprintf(source, cap, "aggregate / %d GPUs; aggregate %s", c->d.gpus, c->d.agg_idle.source);
    return c->d.agg_idle.threshold_w / c->d.gpus;
}

static json_t *detection_params_json(const build_ctx *c)
{
    const fm_phase_params *pp = &c->opt.phases;
    char source[320];
    json_t *dp = json_object();
    set(dp, "idle_below_setting",
        isfinite(pp->idle_below_w) ? json_real(pp->idle_below_w) : json_string("auto"));
    set(dp, "idle_below_w", jnum(exported_idle_w(c, source, sizeof source)));
    set(dp, "idle_below_source", json_string(source));
    json_t *per_gpu = json_array();
    for (int k = 0; k < c->d.gpus; k++)
        json_array_append_new(per_gpu, jnum(c->d.gpu[k].idle.threshold_w));
    set(dp, "idle_below_w_per_gpu", per_gpu);
    set(dp, "idle_below_w_aggregate", jnum(c->d.agg_idle.threshold_w));
    set(dp, "idle_below_source_aggregate", json_string(c->d.agg_idle.source));
    set(dp, "ramp_above_w_per_s", jnum(pp->ramp_above_w_per_s));
    set(dp, "fall_below_w_per_s", jnum(pp->fall_below_w_per_s));
    set(dp, "min_segment_s", jnum(pp->min_segment_s));
    set(dp, "smooth_s", jnum(pp->smooth_s));
    set(dp, "aggregate_scaling",
        json_string("thresholds x GPU count; an automatic idle threshold is derived on each "
                    "GPU's and on the aggregate's own power"));
    return dp;
}

static json_t *x_phases_json(const build_ctx *c)
{
    json_t *ph = json_object();
    set(ph, "source", json_string(c->d.from_markers ? "markers" : "detected"));
    set(ph, "contract_rule",
        json_string("phases.<type>: start_time/end_time of the first segment of that type; "
                    "avg/peak/stdev/cv/ramp rate over all segments of the type "
                    "(time-weighted); energy_joules = avg_power x (end_time - start_time). "
                    "Totals per type: x_firmus.phases.gpu_summary"));
    set(ph, "detection_params", detection_params_json(c));
    set(ph, "gpu_summary", summary_json(c->s));
    fm_phase_summary as[FM_PHASE_COUNT];
    fm_phases_summarize(c->d.agg_seg, c->d.n_agg_seg, as);
    set(ph, "aggregate_summary", summary_json(as));
    set(ph, "segments", x_segments_json(c));
    if (c->d.have_agreement) {
        const fm_phase_agreement *a = &c->d.agreement;
        json_t *ag = json_object();
        set(ag, "what", json_string("power-only detection on the aggregate against the markers"));
        set(ag, "labelled_fraction", jnum(a->labelled_fraction));
        set(ag, "median_boundary_error_s", jnum(a->median_boundary_err_s));
        set(ag, "p95_boundary_error_s", jnum(a->p95_boundary_err_s));
        set(ag, "marker_boundaries", json_integer((json_int_t)a->true_boundaries));
        set(ag, "detected_boundaries", json_integer((json_int_t)a->detected_boundaries));
        set(ph, "detection_vs_markers", ag);
    }
    return ph;
}

/* Energy of all GPUs (best source each). */
static double energy_all_gpus(const build_ctx *c)
{
    double e_all = 0;
    const char *src;
    for (int k = 0; k < c->d.gpus; k++)
        e_all += gpu_energy(&c->d, k, &c->m, c->have_m, &src);
    return e_all;
}

static json_t *x_energy_json(const build_ctx *c)
{
    const fm_phase_summary *s = c->s;
    json_t *en = json_object();
    set(en, "gpu", gpu_json(c));
    set(en, "energy_metrics_source", json_string(c->esrc));
    set(en, "energy_metrics_scope", json_string("the exported GPU (as power_trace)"));
    set(en, "total_energy_all_gpus_j", jnum(energy_all_gpus(c)));
    set(en, "phase_energy_sum_j",
        jnum(s[0].energy_j + s[1].energy_j + s[2].energy_j + s[3].energy_j + s[4].energy_j));
    set(en, "metrics_available", json_boolean(c->have_m));
    if (!c->have_m)
        set(en, "metrics_error", json_string(c->merr.msg));
    return en;
}

static json_t *x_tokens_json(const build_ctx *c)
{
    int known = c->tokens >= 0;
    json_t *tk = json_object();
    set(tk, "known", json_boolean(known));
    set(tk, "run_tokens", known ? json_integer(c->tokens) : json_null());
    set(tk, "tokens_generated_rule",
        json_string("energy_metrics.tokens_generated = run tokens / GPU count (integer), the "
                    "share of one GPU, so that power_trace x GPUs / tokens_generated gives the "
                    "node's J/token; 0 with null J/token when tokens are unknown"));
    set(tk, "node_joules_per_token",
        c->tokens > 0 ? jnum(energy_all_gpus(c) / (double)c->tokens) : json_null());
    set(tk, "tokens_per_query", json_real(c->opt.tokens_per_query));
    return tk;
}

static json_t *x_tier_json(const build_ctx *c)
{
    json_t *ti = json_object();
    set(ti, "rule", json_string("cv_only: decode CV <= 0.10 tier_1, <= 0.15 tier_2, else tier_3"));
    set(ti, "decode_cv", jnum(c->s[FM_PHASE_DECODE].power_cv));
    set(ti, "cv_window",
        json_string("decode segments of the exported GPU, population stdev over "
                    "sensor publications / mean power"));
    set(ti, "decode_avg_power_w", jnum(c->s[FM_PHASE_DECODE].avg_power_w));
    if (!c->tier)
        set(ti, "note", json_string("decode CV unknown: tier_3 reported"));
    return ti;
}

static json_t *x_measurement_json(const build_ctx *c)
{
    const fm_gpu_data *gd = c->sel;
    json_t *ms = json_object();
    set(ms, "backend", json_string(c->d.run.backend));
    fm_backend_info bi;
    fm_error berr;
    int have_bi = fm_store_load_backend_info(c->st, c->run_id, &bi, &berr) == FM_OK;
    set(ms, "driver_version",
        have_bi && bi.driver_version[0] ? json_string(bi.driver_version) : json_null());
    set(ms, "nvml_version",
        have_bi && bi.nvml_version[0] ? json_string(bi.nvml_version) : json_null());
    set(ms, "library_path",
        have_bi && bi.library_path[0] ? json_string(bi.library_path) : json_null());
    meta_string(c->st, c->run_id, "import_file", ms, "import_file");
    meta_string(c->st, c->run_id, "import_power_rule", ms, "import_power_rule");
    set(ms, "power_field", json_string(field_label(gd->power_field)));
    set(ms, "power_source",
        json_string(gd->power_field == FM_F_POWER_INSTANT ? gd->dev.power_instant_source
                                                          : gd->dev.power_avg_source));
    set(ms, "sensor_update_period_s",
        gd->sig.period_ns > 0 ? json_real(seconds(gd->sig.period_ns)) : json_null());
    set(ms, "requested_interval_ms", jnum(c->d.run.interval_ms));
    set(ms, "median_interval_ms", json_real((double)gd->sig.poll_ns / 1e6));
    set(ms, "interval_jitter_ms", jnum(gd->poll_jitter_ms));
    set(ms, "signal_time_shift_ms", json_real((double)gd->sig.shift_ns / 1e6));
    return ms;
}

/* Everything we know beyond the contract, under "x_firmus"; also sets the
 * contract's thermal_profile (it comes from the same fit). */
static json_t *extras_json(build_ctx *c, fm_profile *p, json_t *root, fm_error *err)
{
    json_t *x = json_object();
    set(root, "thermal_profile", thermal(c->st, &c->d, c->g_dev, p, x, err));
    set(x, "tool", json_string("firmus"));
    set(x, "tool_version", json_string(fm_version()));
    set(x, "profile_format", json_integer(1));
    set(x, "run", x_run_json(c));
    set(x, "power_trace", x_trace_json(c));
    /* The aggregate trace only while small (the contract's trace already
     * makes a long run's file large; the CSV has every GPU and the total). */
    if (c->points <= SMALL_TRACE_POINTS)
        set(x, "aggregate_power_trace", trace_json(&c->d.agg, c->d.t0_ns, c->step, c->points));
    else
        set(x, "aggregate_power_trace_note",
            json_string("omitted above 12000 points: firmus export --csv has the aggregate"));
    set(x, "phases", x_phases_json(c));
    json_t *me = marker_energy_json(&c->d, p);
    if (me)
        set(x, "marker_energy", me);
    set(x, "energy", x_energy_json(c));
    set(x, "per_gpu", per_gpu_json(&c->d, &c->m, c->have_m));
    set(x, "tokens", x_tokens_json(c));
    set(x, "tier", x_tier_json(c));
    set(x, "measurement", x_measurement_json(c));
    return x;
}

/* The figures the text summary prints. */
static void fill_summary(const build_ctx *c, fm_profile *p)
{
    snprintf(p->model, sizeof p->model, "%s", model_name(c));
    snprintf(p->tier, sizeof p->tier, "%s", c->tier ? c->tier : "tier_3_high_variance");
    snprintf(p->phase_source, sizeof p->phase_source, "%s",
             c->d.from_markers ? "markers" : "detected");
    p->gpu = c->g;
    p->gpus = c->d.gpus;
    p->resolution_s = seconds(c->step);
    p->points = c->points;
    p->duration_s = c->duration_s;
    p->energy_j = c->e_gpu;
    p->decode_cv = c->s[FM_PHASE_DECODE].power_cv;
    memcpy(p->summary, c->s, sizeof c->s);
    p->have_agreement = c->d.have_agreement;
    p->agreement = c->d.agreement;
    p->idle_below_w = exported_idle_w(c, p->idle_source, sizeof p->idle_source);
}

int fm_profile_build(fm_store *st, int64_t run_id, const fm_profile_options *opt_in,
                     fm_profile **out, fm_error *err)
{
    *out = NULL;
    build_ctx *c = calloc(1, sizeof *c);
    fm_profile *p = calloc(1, sizeof *p);
    if (!c || !p) {
        free(c);
        free(p);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    }
    c->st = st;
    c->run_id = run_id;
    if (opt_in)
        c->opt = *opt_in;
    else
        fm_profile_options_default(&c->opt);
    if (!(c->opt.tokens_per_query > 0))
        c->opt.tokens_per_query = 100.0;
    int rc = ctx_init(c, err);
    if (rc == FM_OK) {
        p->root = json_object();
        contract_json(c, p->root);
        set(p->root, "x_firmus", extras_json(c, p, p->root, err));
        /* cost per token and Model-to-Grid at the defaults (never inside energy_metrics) */
        set(p->root, "economics", econ_profile_economics(st, run_id));
        fill_summary(c, p);
        *out = p;
    } else {
        free(p);
    }
    if (c->have_m)
        fm_run_metrics_free(&c->m);
    fm_run_data_free(&c->d);
    fm_phase_signal_free(&c->mean.sig);
    free(c->mean.seg);
    free(c);
    return rc;
}

void fm_profile_free(fm_profile *p)
{
    if (!p)
        return;
    json_decref(p->root);
    free(p);
}

/* Indented for reading when small; compact (one line) for long traces,
 * where indentation would double the file. */
static size_t dump_flags(const fm_profile *p)
{
    size_t layout = p->points <= SMALL_TRACE_POINTS ? JSON_INDENT(1) : JSON_COMPACT;
    return layout | JSON_REAL_PRECISION(10) | JSON_PRESERVE_ORDER;
}

char *fm_profile_json_text(const fm_profile *p)
{
    return json_dumps(p->root, dump_flags(p));
}

int fm_profile_write_json(const fm_profile *p, const char *path, fm_error *err)
{
    int to_stdout = !strcmp(path, "-");
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (!f)
        return fm_fail(err, FM_ERR_IO, "%s: cannot write", path);
    int bad = json_dumpf(p->root, f, dump_flags(p));
    fputc('\n', f);
    if (to_stdout)
        bad |= fflush(f);
    else
        bad |= fclose(f);
    if (bad)
        return fm_fail(err, FM_ERR_IO, "%s: write failed", path);
    return FM_OK;
}

void fm_profile_print_summary(const fm_profile *p, FILE *out)
{
    fprintf(out, "Workload profile (digital-twin contract)\n");
    fprintf(out, "  model            %s\n", p->model);
    if (p->gpu == FM_PROFILE_GPU_MEAN)
        fprintf(out, "  power_trace      mean of %d GPUs, %zu points at %.3g s (%.1f s)\n", p->gpus,
                p->points, p->resolution_s, p->duration_s);
    else
        fprintf(out, "  power_trace      GPU %d of %d, %zu points at %.3g s (%.1f s)\n", p->gpu,
                p->gpus, p->points, p->resolution_s, p->duration_s);
    fprintf(out, "  energy           %.1f J (%s)\n", p->energy_j,
            p->gpu == FM_PROFILE_GPU_MEAN ? "mean GPU" : "the GPU of power_trace");
    fprintf(out, "  tier             %s (CV-only rule, decode CV %.4f)\n", p->tier, p->decode_cv);
    fprintf(out, "  thermal          %s", p->thermal_ok ? "" : "null (no time constant fitted)\n");
    if (p->thermal_ok)
        fprintf(out, "time constant %.1f s\n", p->tau_s);
    fprintf(out, "  phases (%s)\n", p->phase_source);
    fprintf(out, "    detection idle threshold %.1f W per GPU: %s\n", p->idle_below_w,
            p->idle_source);
    fprintf(out, "    %-8s %5s %10s %10s %10s %8s %12s %10s\n", "phase", "count", "time_s", "avg_W",
            "peak_W", "CV", "energy_J", "rate_W/s");
    for (int k = 0; k < FM_PHASE_COUNT; k++) {
        const fm_phase_summary *s = &p->summary[k];
        if (s->count == 0)
            continue;
        fprintf(out, "    %-8s %5zu %10.2f %10.1f %10.1f %8.4f %12.1f", fm_phase_name((fm_phase)k),
                s->count, s->total_s, s->avg_power_w, s->peak_power_w, s->power_cv, s->energy_j);
        if (isnan(s->ramp_rate_w_per_s))
            fprintf(out, " %10s\n", "-");
        else
            fprintf(out, " %10.1f\n", s->ramp_rate_w_per_s);
    }
    if (p->marker_windows)
        fprintf(out,
                "  energy vs markers: %zu windows, median |diff| %.2f %%, all windows %+.2f %%\n",
                p->marker_windows, 100.0 * p->marker_median_abs_diff, 100.0 * p->marker_total_diff);
    if (p->have_agreement)
        fprintf(out,
                "  power-only detection vs markers: %.1f %% of time same phase, median "
                "boundary error %.3f s\n",
                100.0 * p->agreement.labelled_fraction, p->agreement.median_boundary_err_s);
}
