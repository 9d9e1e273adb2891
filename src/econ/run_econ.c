/* Economics and qualification of a stored run (see firmus/econ.h): loads
 * what the pure functions need from the run store (per-GPU power, markers,
 * metrics), picks the qualification window (decode phase from markers, else
 * detected, else the run minus idle) and calls fm_policy_classify and
 * fm_econ_compute. */
#include "firmus/econ.h"

#include "econ/econ_json.h"

#include "firmus/metrics.h"
#include "firmus/phases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_BELOW_W 100.0 /* the seed's idle threshold, per GPU */

static int has_values(const fm_series *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!isnan(s->v[i]))
            return 1;
    return 0;
}

/* Per-GPU power: the instant field, else the 1 s average. */
static int load_power(fm_store *st, int64_t run_id, int gpu, fm_series *out, const char **source,
                      fm_error *err)
{
    int rc = fm_store_load_series(st, run_id, gpu, FM_F_POWER_INSTANT, out, err);
    if (rc == FM_OK && has_values(out)) {
        *source = "power_instant";
        return FM_OK;
    }
    fm_series_free(out);
    rc = fm_store_load_series(st, run_id, gpu, FM_F_POWER_AVG, out, err);
    if (rc == FM_OK && has_values(out)) {
        *source = "power_avg_1s";
        return FM_OK;
    }
    fm_series_free(out);
    return rc != FM_OK ? rc
                       : fm_fail(err, FM_ERR_NOT_FOUND, "run %lld GPU %d has no power samples",
                                 (long long)run_id, gpu);
}

/* The longest "start decode" .. "end decode" pair that applies to gpu. */
static int decode_from_markers(const fm_marker *m, size_t n, int gpu, int64_t *t0, int64_t *t1)
{
    int found = 0;
    int64_t open = -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].name, "decode") || (m[i].gpu >= 0 && m[i].gpu != gpu))
            continue;
        if (!strcmp(m[i].kind, "start")) {
            open = m[i].t_ns;
        } else if (!strcmp(m[i].kind, "end") && open >= 0) {
            if (!found || m[i].t_ns - open > *t1 - *t0) {
                *t0 = open;
                *t1 = m[i].t_ns;
                found = 1;
            }
            open = -1;
        }
    }
    return found;
}

/* The longest detected decode segment. */
static int decode_detected(const fm_series *power, int64_t *t0, int64_t *t1)
{
    fm_phase_params params;
    fm_phase_params_default(&params); /* automatic idle threshold, as the profile export */
    fm_segment *seg = NULL;
    size_t n = 0;
    fm_error ignored;
    if (fm_phases_detect(power, &params, &seg, &n, &ignored) != FM_OK)
        return 0;
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (seg[i].phase != FM_PHASE_DECODE)
            continue;
        if (!found || seg[i].end_ns - seg[i].start_ns > *t1 - *t0) {
            *t0 = seg[i].start_ns;
            *t1 = seg[i].end_ns;
            found = 1;
        }
    }
    free(seg);
    return found;
}

/* The automatic idle threshold of phase detection for one GPU's power
 * (docs/WORKLOAD_EXPORT_GUIDE.md, "Idle threshold"); the seed's 100 W when
 * it cannot be derived. */
static double idle_threshold_w(const fm_series *power)
{
    fm_phase_signal sig;
    fm_idle_threshold th;
    fm_error ignored;
    double threshold_w = IDLE_BELOW_W;
    if (fm_phase_signal_prepare(power, &sig, &ignored) != FM_OK)
        return threshold_w;
    if (fm_phases_idle_threshold(&sig, NULL, &th, &ignored) == FM_OK && !isnan(th.threshold_w))
        threshold_w = th.threshold_w;
    fm_phase_signal_free(&sig);
    return threshold_w;
}

/* Measures one GPU's qualification window. */
static int measure_gpu(const fm_series *power, const fm_marker *markers, size_t n_markers, int gpu,
                       const fm_policy *p, fm_power_window *w, fm_error *err)
{
    int64_t t0 = 0, t1 = 0;
    const char *window;
    double exclude_w = 0;
    if (decode_from_markers(markers, n_markers, gpu, &t0, &t1)) {
        window = "decode (markers)";
    } else if (decode_detected(power, &t0, &t1)) {
        window = "decode (detected)";
    } else {
        t0 = power->t_ns[0];
        t1 = power->t_ns[power->n - 1];
        exclude_w = idle_threshold_w(power);
        window = "whole run minus idle (auto threshold)";
    }
    int rc = fm_power_window_stats(power, t0, t1, p->resolution_s, exclude_w, w, err);
    if (rc != FM_OK)
        return rc;
    snprintf(w->window, sizeof w->window, "%s", window);
    w->gpu = gpu;
    return FM_OK;
}

/* Is a worse for the grid than b (higher tier, then higher CV)? */
static int worse(const fm_qualification *a, const fm_qualification *b)
{
    if (a->tier != b->tier)
        return a->tier > b->tier;
    return a->power_cv > b->power_cv;
}

int fm_econ_qualify_run(fm_store *st, int64_t run_id, const fm_policy *p, fm_qualification *out,
                        fm_error *err)
{
    fm_policy fallback;
    if (!p) {
        int rc = fm_policy_load(NULL, &fallback, err);
        if (rc != FM_OK)
            return rc;
        p = &fallback;
    }
    fm_run run;
    int rc = fm_store_get_run(st, run_id, &run, err);
    if (rc != FM_OK)
        return rc;
    fm_marker *markers = NULL;
    size_t n_markers = 0;
    rc = fm_store_load_markers(st, run_id, &markers, &n_markers, err);
    for (int gpu = 0; rc == FM_OK && gpu < run.gpus; gpu++) {
        fm_series power;
        const char *source = "";
        rc = load_power(st, run_id, gpu, &power, &source, err);
        if (rc != FM_OK)
            break;
        fm_power_window w;
        rc = measure_gpu(&power, markers, n_markers, gpu, p, &w, err);
        fm_series_free(&power);
        if (rc != FM_OK)
            break;
        snprintf(w.power_source, sizeof w.power_source, "%s", source);
        fm_qualification q;
        rc = fm_policy_classify(p, &w, &q, err);
        if (rc == FM_OK && (gpu == 0 || worse(&q, out)))
            *out = q;
    }
    free(markers);
    if (rc == FM_OK && run.gpus < 1)
        rc = fm_fail(err, FM_ERR_NOT_FOUND, "run %lld has no GPUs", (long long)run_id);
    return rc;
}

/* Sum of the GPUs' power on the run's tick grid (NAN where any is missing). */
static int aggregate_power(fm_store *st, const fm_run *run, fm_series *sum, fm_error *err)
{
    fm_series_init(sum);
    int64_t step = (int64_t)llround((run->interval_ms > 0 ? run->interval_ms : 25) * 1e6);
    int rc = FM_OK;
    for (int gpu = 0; rc == FM_OK && gpu < run->gpus; gpu++) {
        fm_series power, grid;
        const char *source;
        rc = load_power(st, run->id, gpu, &power, &source, err);
        if (rc != FM_OK)
            break;
        rc = fm_series_resample_held(&power, run->t0_ns, power.t_ns[power.n - 1], step, &grid);
        fm_series_free(&power);
        if (rc != FM_OK) {
            fm_series_free(&grid);
            return fm_fail(err, rc, "run %lld: cannot resample GPU %d power", (long long)run->id,
                           gpu);
        }
        if (gpu == 0) {
            *sum = grid;
            continue;
        }
        for (size_t k = 0; k < sum->n; k++)
            sum->v[k] = k < grid.n ? sum->v[k] + grid.v[k] : NAN;
        fm_series_free(&grid);
    }
    if (rc != FM_OK)
        fm_series_free(sum);
    return rc;
}

/* Mean aggregate power over the idle samples, or NAN when the run has
 * fewer than 10 of them. Idle: the node's mean power per GPU is below the
 * automatic idle threshold of that mean (as phase detection derives it). */
static double idle_power_w(const fm_series *sum, int gpus)
{
    fm_series per_gpu;
    fm_series_init(&per_gpu);
    for (size_t k = 0; k < sum->n; k++)
        if (fm_series_push(&per_gpu, sum->t_ns[k], sum->v[k] / gpus) != FM_OK) {
            fm_series_free(&per_gpu);
            return NAN;
        }
    double below_w = idle_threshold_w(&per_gpu) * gpus;
    fm_series_free(&per_gpu);
    double total = 0;
    size_t n = 0;
    for (size_t k = 0; k < sum->n; k++)
        if (!isnan(sum->v[k]) && sum->v[k] < below_w) {
            total += sum->v[k];
            n++;
        }
    return n >= 10 ? total / (double)n : NAN;
}

int fm_econ_run(fm_store *st, int64_t run_id, int64_t tokens_override, const fm_policy *p,
                const fm_econ_options *opt, fm_econ_result *out, fm_qualification *q, fm_error *err)
{
    fm_run run;
    int rc = fm_store_get_run(st, run_id, &run, err);
    if (rc != FM_OK)
        return rc;
    fm_metrics_options mopt = {.tokens_per_query = 100, .tokens_override = tokens_override};
    fm_run_metrics m;
    memset(&m, 0, sizeof m);
    rc = fm_metrics_compute(st, run_id, &mopt, &m, err);
    if (rc != FM_OK)
        return rc;
    fm_series sum;
    rc = aggregate_power(st, &run, &sum, err);
    if (rc != FM_OK) {
        fm_run_metrics_free(&m);
        return rc;
    }
    fm_econ_input in = {.energy_j = m.total_energy_j,
                        .tokens = m.tokens,
                        .duration_s = m.duration_s,
                        .gpus = m.gpus,
                        .power_w = &sum,
                        .series_t0_ns = run.t0_ns,
                        .wall_t0_ns = run.start_wall_ns > 0 ? run.start_wall_ns : -1,
                        .idle_power_w = idle_power_w(&sum, run.gpus)};
    snprintf(in.energy_source, sizeof in.energy_source, "%s",
             m.gpus > 0 ? fm_source_name(m.gpu[0].energy_source) : "none");
    fm_run_metrics_free(&m);

    fm_econ_options o = *opt;
    fm_qualification local;
    char not_qualified[160] = "";
    if (o.apply_discount) {
        fm_error qerr = {0};
        if (fm_econ_qualify_run(st, run_id, p, &local, &qerr) == FM_OK)
            o.qualification = &local;
        else
            snprintf(not_qualified, sizeof not_qualified, "not applied (%.140s)", qerr.msg);
    }
    rc = fm_econ_compute(&in, &o, out, err);
    fm_series_free(&sum);
    if (rc != FM_OK)
        return rc;
    if (not_qualified[0])
        snprintf(out->discount_basis, sizeof out->discount_basis, "%s", not_qualified);
    if (q) {
        if (o.qualification)
            *q = local;
        else
            memset(q, 0, sizeof *q);
    }
    return FM_OK;
}

json_t *econ_profile_economics(fm_store *st, int64_t run_id)
{
    fm_econ_options opt;
    fm_econ_options_default(&opt);
    fm_econ_result r;
    fm_qualification q;
    fm_error err = {0};
    if (fm_econ_run(st, run_id, -1, NULL, &opt, &r, &q, &err) != FM_OK)
        return json_pack("{s:s, s:s}", "schema", "firmus-economics/1", "error", err.msg);
    return econ_result_json(&r, q.tier > 0 ? &q : NULL);
}
