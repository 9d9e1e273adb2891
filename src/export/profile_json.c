/* Builds the workload profile JSON of a stored run. The contract part
 * (model_name ... thermal_profile) has exactly the keys the digital twin's
 * WorkloadProfile.from_json accepts (economics.md §5); everything else
 * goes under "x_firmus". Choices (which GPU, how phases are summarised per
 * type, tokens, tier, thermal fit) are documented in
 * docs/WORKLOAD_EXPORT_GUIDE.md. */
#include "profile_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_S 1e9
#define MAX_TRACE_POINTS 36000
#define MAX_SEGMENTS_PER_LIST 20000

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

int fm_profile_build(fm_store *st, int64_t run_id, const fm_profile_options *opt_in,
                     fm_profile **out, fm_error *err)
{
    fm_profile_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        fm_profile_options_default(&opt);
    if (!(opt.tokens_per_query > 0))
        opt.tokens_per_query = 100.0;
    *out = NULL;
    fm_run_data d;
    int rc = fm_run_data_load(st, run_id, &opt, &d, err);
    if (rc)
        return rc;
    int g = opt.gpu;
    if (g < 0 || g >= d.gpus) {
        fm_run_data_free(&d);
        return fm_fail(err, FM_ERR_USAGE, "--gpu %d: run %lld has GPUs 0..%d", g, (long long)run_id,
                       d.gpus - 1);
    }
    fm_phase_summary s[FM_PHASE_COUNT];
    fm_phases_summarize(d.gpu[g].seg, d.gpu[g].n_seg, s);
    if (s[FM_PHASE_DECODE].count == 0) {
        fm_run_data_free(&d);
        return fm_fail(err, FM_ERR_NOT_FOUND,
                       "run %lld, GPU %d: no decode phase %s; the digital twin needs one (is "
                       "the run only idle?)",
                       (long long)run_id, g, d.from_markers ? "in the markers" : "detected");
    }
    fm_profile *p = calloc(1, sizeof *p);
    if (!p) {
        fm_run_data_free(&d);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    }
    fm_run_metrics m;
    memset(&m, 0, sizeof m);
    fm_error merr;
    int have_m = fm_metrics_compute(st, run_id, NULL, &m, &merr) == FM_OK;

    double run_s = seconds(d.t1_ns - d.t0_ns);
    double res = opt.resolution_s > 0 ? opt.resolution_s
                                      : fm_profile_auto_resolution_s(run_s, MAX_TRACE_POINTS);
    int64_t step = (int64_t)llround(res * NS_PER_S);
    if (step < 1000000)
        step = 1000000;
    size_t points = (size_t)ceil((double)(d.t1_ns - d.t0_ns) / (double)step);
    if (points < 2)
        points = 2;
    double duration_s = (double)(points - 1) * seconds(step);

    json_t *root = json_object();
    p->root = root;
    /* ---- contract ---- */
    const char *model = opt.model_name ? opt.model_name : d.run.model[0] ? d.run.model : d.run.name;
    set(root, "model_name", json_string(model));
    double params = isfinite(opt.model_params) ? opt.model_params : d.run.params;
    set(root, "model_size_params",
        json_integer(isfinite(params) ? (json_int_t)llround(params) : 0));
    char platform[64];
    if (opt.gpu_platform)
        snprintf(platform, sizeof platform, "%s", opt.gpu_platform);
    else
        platform_from_name(d.gpu[g].dev.name, platform, sizeof platform);
    set(root, "gpu_platform", json_string(platform));
    set(root, "cooling_type", json_string(opt.cooling_type ? opt.cooling_type : "unknown"));
    set(root, "duration_seconds", json_real(round_to(duration_s, 6)));
    set(root, "power_trace", trace_json(&d.gpu[g].sig, d.t0_ns, step, points));
    set(root, "phases", contract_phases(d.gpu[g].seg, s, d.t0_ns, duration_s));

    const char *esrc;
    double e_gpu = gpu_energy(&d, g, &m, have_m, &esrc);
    int64_t tokens = have_m && m.tokens >= 0 ? m.tokens : d.run.tokens;
    int tokens_known = tokens >= 0;
    int64_t tokens_gpu = tokens_known ? tokens / d.gpus : 0;
    json_t *em = json_object();
    set(em, "total_energy_joules", jnum(round_to(e_gpu, 3)));
    set(em, "tokens_generated", json_integer(tokens_gpu));
    double jpt = tokens_gpu > 0 ? e_gpu / (double)tokens_gpu : NAN;
    set(em, "joules_per_token", jnum(jpt));
    set(em, "tokens_per_joule", tokens_gpu > 0 ? jnum((double)tokens_gpu / e_gpu) : json_null());
    set(em, "avg_power_watts", jnum(round_to(e_gpu / run_s, 3)));
    double peak = -INFINITY;
    for (size_t i = 0; i < d.gpu[g].sig.n; i++)
        peak = fmax(peak, d.gpu[g].sig.v[i]);
    set(em, "peak_power_watts", jnum(round_to(peak, 3)));
    set(em, "duration_seconds", json_real(round_to(duration_s, 6)));
    set(em, "wh_per_1k_queries", jnum(jpt * opt.tokens_per_query * 1000.0 / 3600.0));
    set(root, "energy_metrics", em);
    double decode_cv = s[FM_PHASE_DECODE].power_cv;
    const char *tier = fm_tier_cv_only(decode_cv);
    set(root, "tier", json_string(tier ? tier : "tier_3_high_variance"));

    /* ---- extras ---- */
    json_t *x = json_object();
    set(root, "thermal_profile", thermal(st, &d, g, p, x, err));
    set(x, "tool", json_string("firmus"));
    set(x, "tool_version", json_string(fm_version()));
    set(x, "profile_format", json_integer(1));
    json_t *run = json_object();
    set(run, "id", json_integer(d.run.id));
    set(run, "name", json_string(d.run.name));
    set(run, "source", json_string(d.run.source));
    set(run, "backend", json_string(d.run.backend));
    char when[48];
    iso_utc(d.run.start_wall_ns, when, sizeof when);
    set(run, "start_utc", json_string(when));
    set(run, "gpus", json_integer(d.gpus));
    set(run, "duration_s", json_real(run_s));
    set(run, "status",
        json_string(d.run.status == FM_RUN_COMPLETE     ? "complete"
                    : d.run.status == FM_RUN_INCOMPLETE ? "incomplete"
                                                        : "recording"));
    set(run, "tags", json_string(d.run.tags));
    set(x, "run", run);

    json_t *tr = json_object();
    set(tr, "gpu", json_integer(g));
    set(tr, "resolution_s", json_real(seconds(step)));
    set(tr, "resolution_rule",
        json_string(opt.resolution_s > 0 ? "set by --resolution"
                                         : "0.1 s up to 1 h, coarser so that the trace "
                                           "keeps <= 36000 points"));
    set(tr, "points", json_integer((json_int_t)points));
    set(tr, "value", json_string("mean power of the GPU over each [t, t + resolution) bin, W"));
    set(tr, "power_field", json_string(field_label(d.gpu[g].power_field)));
    set(tr, "duration_note",
        json_string("duration_seconds = last trace time; the run lasted "
                    "x_firmus.run.duration_s"));
    set(x, "power_trace", tr);
    set(x, "aggregate_power_trace", trace_json(&d.agg, d.t0_ns, step, points));

    json_t *ph = json_object();
    set(ph, "source", json_string(d.from_markers ? "markers" : "detected"));
    set(ph, "contract_rule",
        json_string("phases.<type>: start_time/end_time of the first segment of that type; "
                    "avg/peak/stdev/cv/ramp rate over all segments of the type "
                    "(time-weighted); energy_joules = avg_power x (end_time - start_time). "
                    "Totals per type: x_firmus.phases.gpu_summary"));
    json_t *params_j = json_object();
    set(params_j, "idle_below_w", json_real(opt.phases.idle_below_w));
    set(params_j, "ramp_above_w_per_s", json_real(opt.phases.ramp_above_w_per_s));
    set(params_j, "fall_below_w_per_s", json_real(opt.phases.fall_below_w_per_s));
    set(params_j, "min_segment_s", json_real(opt.phases.min_segment_s));
    set(params_j, "smooth_s", json_real(opt.phases.smooth_s));
    set(params_j, "aggregate_scaling", json_string("thresholds x GPU count"));
    set(ph, "detection_params", params_j);
    set(ph, "gpu_summary", summary_json(s));
    fm_phase_summary as[FM_PHASE_COUNT];
    fm_phases_summarize(d.agg_seg, d.n_agg_seg, as);
    set(ph, "aggregate_summary", summary_json(as));
    json_t *segs = json_object();
    set(segs, "columns",
        json_pack("[sssssssss]", "phase", "start_s", "end_s", "avg_power_w", "peak_power_w",
                  "power_stdev_w", "power_cv", "energy_j", "ramp_rate_w_per_s"));
    set(segs, "aggregate", segment_table(d.agg_seg, d.n_agg_seg, d.t0_ns));
    json_t *pg = json_object();
    size_t total_segs = 0;
    for (int k = 0; k < d.gpus; k++)
        total_segs += d.gpu[k].n_seg;
    for (int k = 0; k < d.gpus; k++) {
        if (total_segs > MAX_SEGMENTS_PER_LIST && k != g)
            continue;
        char key[16];
        snprintf(key, sizeof key, "%d", k);
        set(pg, key, segment_table(d.gpu[k].seg, d.gpu[k].n_seg, d.t0_ns));
    }
    set(segs, "gpu", pg);
    set(segs, "omitted_gpus", json_boolean(total_segs > MAX_SEGMENTS_PER_LIST));
    set(ph, "segments", segs);
    if (d.have_agreement) {
        json_t *ag = json_object();
        set(ag, "what",
            json_string("power-only detection on the aggregate against the "
                        "markers"));
        set(ag, "labelled_fraction", jnum(d.agreement.labelled_fraction));
        set(ag, "median_boundary_error_s", jnum(d.agreement.median_boundary_err_s));
        set(ag, "p95_boundary_error_s", jnum(d.agreement.p95_boundary_err_s));
        set(ag, "marker_boundaries", json_integer((json_int_t)d.agreement.true_boundaries));
        set(ag, "detected_boundaries", json_integer((json_int_t)d.agreement.detected_boundaries));
        set(ph, "detection_vs_markers", ag);
    }
    set(x, "phases", ph);
    json_t *me = marker_energy_json(&d, p);
    if (me)
        set(x, "marker_energy", me);

    json_t *en = json_object();
    set(en, "gpu", json_integer(g));
    set(en, "energy_metrics_source", json_string(esrc));
    set(en, "energy_metrics_scope", json_string("the exported GPU (as power_trace)"));
    double e_all = 0;
    const char *src_k;
    for (int k = 0; k < d.gpus; k++)
        e_all += gpu_energy(&d, k, &m, have_m, &src_k);
    set(en, "total_energy_all_gpus_j", jnum(e_all));
    set(en, "phase_energy_sum_j",
        jnum(s[0].energy_j + s[1].energy_j + s[2].energy_j + s[3].energy_j + s[4].energy_j));
    set(en, "metrics_available", json_boolean(have_m));
    if (!have_m)
        set(en, "metrics_error", json_string(merr.msg));
    set(x, "energy", en);
    set(x, "per_gpu", per_gpu_json(&d, &m, have_m));

    json_t *tk = json_object();
    set(tk, "known", json_boolean(tokens_known));
    set(tk, "run_tokens", tokens_known ? json_integer(tokens) : json_null());
    set(tk, "tokens_generated_rule",
        json_string("energy_metrics.tokens_generated = run tokens / GPU count (integer), the "
                    "share of one GPU, so that power_trace x GPUs / tokens_generated gives the "
                    "node's J/token; 0 with null J/token when tokens are unknown"));
    set(tk, "node_joules_per_token", tokens > 0 ? jnum(e_all / (double)tokens) : json_null());
    set(tk, "tokens_per_query", json_real(opt.tokens_per_query));
    set(x, "tokens", tk);

    json_t *ti = json_object();
    set(ti, "rule", json_string("cv_only: decode CV <= 0.10 tier_1, <= 0.15 tier_2, else tier_3"));
    set(ti, "decode_cv", jnum(decode_cv));
    set(ti, "cv_window",
        json_string("decode segments of the exported GPU, population stdev over "
                    "sensor publications / mean power"));
    set(ti, "decode_avg_power_w", jnum(s[FM_PHASE_DECODE].avg_power_w));
    if (!tier)
        set(ti, "note", json_string("decode CV unknown: tier_3 reported"));
    set(x, "tier", ti);

    json_t *ms = json_object();
    set(ms, "backend", json_string(d.run.backend));
    fm_backend_info bi;
    fm_error berr;
    if (fm_store_load_backend_info(st, run_id, &bi, &berr) == FM_OK) {
        set(ms, "driver_version",
            bi.driver_version[0] ? json_string(bi.driver_version) : json_null());
        set(ms, "nvml_version", bi.nvml_version[0] ? json_string(bi.nvml_version) : json_null());
        set(ms, "library_path", bi.library_path[0] ? json_string(bi.library_path) : json_null());
    } else {
        set(ms, "driver_version", json_null());
        set(ms, "nvml_version", json_null());
    }
    meta_string(st, run_id, "import_file", ms, "import_file");
    meta_string(st, run_id, "import_power_rule", ms, "import_power_rule");
    set(ms, "power_field", json_string(field_label(d.gpu[g].power_field)));
    set(ms, "power_source",
        json_string(d.gpu[g].power_field == FM_F_POWER_INSTANT ? d.gpu[g].dev.power_instant_source
                                                               : d.gpu[g].dev.power_avg_source));
    set(ms, "sensor_update_period_s",
        d.gpu[g].sig.period_ns > 0 ? json_real(seconds(d.gpu[g].sig.period_ns)) : json_null());
    set(ms, "requested_interval_ms", jnum(d.run.interval_ms));
    set(ms, "median_interval_ms", json_real((double)d.gpu[g].sig.poll_ns / 1e6));
    set(ms, "interval_jitter_ms", jnum(d.gpu[g].poll_jitter_ms));
    set(ms, "signal_time_shift_ms", json_real((double)d.gpu[g].sig.shift_ns / 1e6));
    set(x, "measurement", ms);
    set(root, "x_firmus", x);

    snprintf(p->model, sizeof p->model, "%s", model);
    snprintf(p->tier, sizeof p->tier, "%s", tier ? tier : "tier_3_high_variance");
    snprintf(p->phase_source, sizeof p->phase_source, "%s",
             d.from_markers ? "markers" : "detected");
    p->gpu = g;
    p->gpus = d.gpus;
    p->resolution_s = seconds(step);
    p->points = points;
    p->duration_s = duration_s;
    p->energy_j = e_gpu;
    p->decode_cv = decode_cv;
    memcpy(p->summary, s, sizeof s);
    p->have_agreement = d.have_agreement;
    p->agreement = d.agreement;
    if (have_m)
        fm_run_metrics_free(&m);
    fm_run_data_free(&d);
    *out = p;
    return FM_OK;
}

void fm_profile_free(fm_profile *p)
{
    if (!p)
        return;
    json_decref(p->root);
    free(p);
}

char *fm_profile_json_text(const fm_profile *p)
{
    return json_dumps(p->root, JSON_INDENT(1) | JSON_REAL_PRECISION(10) | JSON_PRESERVE_ORDER);
}

int fm_profile_write_json(const fm_profile *p, const char *path, fm_error *err)
{
    int to_stdout = !strcmp(path, "-");
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (!f)
        return fm_fail(err, FM_ERR_IO, "%s: cannot write", path);
    int bad =
        json_dumpf(p->root, f, JSON_INDENT(1) | JSON_REAL_PRECISION(10) | JSON_PRESERVE_ORDER);
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
    fprintf(out, "  power_trace      GPU %d of %d, %zu points at %.3g s (%.1f s)\n", p->gpu,
            p->gpus, p->points, p->resolution_s, p->duration_s);
    fprintf(out, "  energy           %.1f J (GPU %d)\n", p->energy_j, p->gpu);
    fprintf(out, "  tier             %s (CV-only rule, decode CV %.4f)\n", p->tier, p->decode_cv);
    fprintf(out, "  thermal          %s", p->thermal_ok ? "" : "null (no time constant fitted)\n");
    if (p->thermal_ok)
        fprintf(out, "time constant %.1f s\n", p->tau_s);
    fprintf(out, "  phases (%s; GPU %d)\n", p->phase_source, p->gpu);
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
