/* Loads a stored run for profile export: per GPU the power series of the
 * best field (instant, else the 1 s average) turned into a publication
 * signal, the aggregate of all GPUs, and the phases of each (from markers
 * when the run has phase markers, else detected from power). */
#include "profile_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

/* Stdev of the interval between consecutive samples, in ms. */
static double interval_jitter_ms(const fm_series *s)
{
    if (s->n < 3)
        return NAN;
    double sum = 0, sum2 = 0;
    size_t n = 0;
    for (size_t i = 1; i < s->n; i++) {
        double d = (double)(s->t_ns[i] - s->t_ns[i - 1]) / 1e6;
        sum += d;
        sum2 += d * d;
        n++;
    }
    double mean = sum / (double)n;
    return sqrt(fmax(0.0, sum2 / (double)n - mean * mean));
}

/* Sampling gaps: the longest interval between power readings, and the
 * time spent in intervals longer than 5x the median polling interval
 * (nvidia-smi logs have multi-second gaps; the signal interpolates
 * linearly across them). */
static void measure_gaps(const fm_series *s, fm_gpu_data *gd)
{
    int64_t *d = malloc((s->n ? s->n : 1) * sizeof *d);
    size_t m = 0;
    int64_t prev = 0;
    int have_prev = 0;
    for (size_t i = 0; i < s->n && d; i++) {
        if (isnan(s->v[i]))
            continue;
        if (have_prev)
            d[m++] = s->t_ns[i] - prev;
        prev = s->t_ns[i];
        have_prev = 1;
    }
    gd->largest_gap_s = gd->gap_time_s = d ? 0.0 : NAN; /* unknown without memory */
    if (!d || m == 0) {
        free(d);
        return;
    }
    int64_t largest = 0;
    for (size_t i = 0; i < m; i++)
        if (d[i] > largest)
            largest = d[i];
    int64_t med = fm_median_i64(d, m);
    double gap = 0;
    for (size_t i = 0; i < m; i++)
        if (med > 0 && d[i] > 5 * med)
            gap += (double)d[i] / NS_PER_S;
    gd->largest_gap_s = (double)largest / NS_PER_S;
    gd->gap_time_s = gap;
    free(d);
}

static int load_gpu(fm_store *st, fm_run_data *d, int g, fm_error *err)
{
    fm_gpu_data *gd = &d->gpu[g];
    enum fm_field fields[2] = {FM_F_POWER_INSTANT, FM_F_POWER_AVG};
    for (int k = 0; k < 2; k++) {
        if (k == 0 && !(gd->dev.supported & FM_F_POWER_INSTANT))
            continue;
        fm_series s;
        fm_series_init(&s);
        int rc = fm_store_load_series(st, d->run.id, g, fields[k], &s, err);
        if (rc)
            return rc;
        size_t valid = 0;
        for (size_t i = 0; i < s.n; i++)
            valid += !isnan(s.v[i]);
        if (valid < 2) {
            fm_series_free(&s);
            continue;
        }
        gd->power_field = fields[k];
        gd->raw_samples = valid;
        gd->raw_ticks = s.n;
        gd->poll_jitter_ms = interval_jitter_ms(&s);
        measure_gaps(&s, gd);
        rc = fm_phase_signal_prepare_window(
            &s, fields[k] == FM_F_POWER_INSTANT ? FM_INSTANT_WINDOW_S : FM_AVG_WINDOW_S, &gd->sig,
            err);
        fm_series_free(&s);
        return rc;
    }
    return fm_fail(err, FM_ERR_NOT_FOUND, "run %lld, GPU %d: no power readings",
                   (long long)d->run.id, g);
}

/* Sum of the GPUs' held values on a grid of the finest polling interval. */
static int build_aggregate(fm_run_data *d, fm_error *err)
{
    int64_t step = 0, t_start = INT64_MIN, t_end = INT64_MAX;
    for (int g = 0; g < d->gpus; g++) {
        const fm_phase_signal *s = &d->gpu[g].sig;
        int64_t poll = s->poll_ns > 0 ? s->poll_ns : 100000000;
        if (step == 0 || poll < step)
            step = poll;
        if (s->t_first_ns > t_start)
            t_start = s->t_first_ns;
        if (s->t_last_ns < t_end)
            t_end = s->t_last_ns;
    }
    if (step < 1000000)
        step = 1000000;
    d->agg_step_ns = step;
    if (t_end <= t_start)
        return fm_fail(err, FM_ERR, "run %lld: the GPUs' power readings do not overlap in time",
                       (long long)d->run.id);
    size_t n = (size_t)((t_end - t_start) / step) + 1;
    fm_series sum;
    fm_series_init(&sum);
    if (fm_series_reserve(&sum, n))
        return fm_fail(err, FM_ERR_NOMEM, "aggregate: out of memory");
    size_t *cursor = calloc((size_t)d->gpus, sizeof *cursor);
    if (!cursor) {
        fm_series_free(&sum);
        return fm_fail(err, FM_ERR_NOMEM, "aggregate: out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        int64_t t = t_start + (int64_t)k * step;
        double total = 0;
        for (int g = 0; g < d->gpus; g++) {
            const fm_phase_signal *s = &d->gpu[g].sig;
            size_t c = cursor[g];
            while (c + 1 < s->n && s->t_ns[c + 1] <= t)
                c++;
            cursor[g] = c;
            total += s->v[c];
        }
        fm_series_push(&sum, t, total);
    }
    free(cursor);
    /* The grid already carries the GPUs' shifts: prepare without another. */
    int rc = fm_phase_signal_prepare_window(&sum, 0.0, &d->agg, err);
    if (rc == FM_OK) {
        for (size_t i = 0; i < d->agg.n; i++)
            d->agg.t_ns[i] += d->agg.shift_ns;
        d->agg.shift_ns = 0;
    }
    fm_series_free(&sum);
    return rc;
}

/* The detection parameters for a signal of `scale` GPUs (thresholds per
 * GPU x scale) with the idle threshold resolved on that signal. */
static int resolve_params(const fm_phase_signal *sig, double scale, const fm_profile_options *opt,
                          fm_phase_params *p, fm_idle_threshold *idle, fm_error *err)
{
    *p = opt->phases;
    p->idle_below_w *= scale; /* NAN (automatic) stays NAN */
    p->ramp_above_w_per_s *= scale;
    p->fall_below_w_per_s *= scale;
    p->idle_floor_w *= scale;
    p->idle_margin_min_w *= scale;
    int rc = fm_phases_idle_threshold(sig, p, idle, err);
    if (rc == FM_OK)
        p->idle_below_w = idle->threshold_w;
    return rc;
}

static int segment(const fm_phase_signal *sig, const fm_run_data *d, int gpu, double scale,
                   const fm_profile_options *opt, fm_segment **seg, size_t *n,
                   fm_idle_threshold *idle, fm_error *err)
{
    fm_phase_params p;
    int rc = resolve_params(sig, scale, opt, &p, idle, err);
    if (rc)
        return rc;
    if (d->from_markers)
        return fm_phases_from_markers_signal(sig, d->markers, d->n_markers, gpu, seg, n, err);
    return fm_phases_detect_signal(sig, &p, seg, n, err);
}

int fm_run_data_load(fm_store *st, int64_t run_id, const fm_profile_options *opt, fm_run_data *out,
                     fm_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = fm_store_get_run(st, run_id, &out->run, err);
    if (rc)
        return rc;
    fm_device_info *devs = NULL;
    size_t ndev = 0;
    if ((rc = fm_store_load_devices(st, run_id, &devs, &ndev, err)))
        return rc;
    if (ndev == 0) {
        free(devs);
        return fm_fail(err, FM_ERR_NOT_FOUND, "run %lld has no devices", (long long)run_id);
    }
    out->gpus = (int)ndev;
    out->gpu = calloc(ndev, sizeof *out->gpu);
    if (!out->gpu) {
        free(devs);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    }
    for (size_t g = 0; g < ndev; g++)
        out->gpu[g].dev = devs[g];
    free(devs);
    for (int g = 0; g < out->gpus; g++)
        if ((rc = load_gpu(st, out, g, err)))
            goto fail;
    out->t0_ns = out->gpu[0].sig.t_first_ns;
    out->t1_ns = out->gpu[0].sig.t_last_ns;
    for (int g = 1; g < out->gpus; g++) {
        if (out->gpu[g].sig.t_first_ns < out->t0_ns)
            out->t0_ns = out->gpu[g].sig.t_first_ns;
        if (out->gpu[g].sig.t_last_ns > out->t1_ns)
            out->t1_ns = out->gpu[g].sig.t_last_ns;
    }
    if ((rc = build_aggregate(out, err)))
        goto fail;
    if ((rc = fm_store_load_markers(st, run_id, &out->markers, &out->n_markers, err)))
        goto fail;
    out->from_markers =
        !opt->ignore_markers && fm_markers_have_phases(out->markers, out->n_markers);
    for (int g = 0; g < out->gpus; g++)
        if ((rc = segment(&out->gpu[g].sig, out, g, 1.0, opt, &out->gpu[g].seg, &out->gpu[g].n_seg,
                          &out->gpu[g].idle, err)))
            goto fail;
    if ((rc = segment(&out->agg, out, -1, (double)out->gpus, opt, &out->agg_seg, &out->n_agg_seg,
                      &out->agg_idle, err)))
        goto fail;
    if (out->from_markers) {
        /* How far power-only detection is from the markers (aggregate). */
        fm_phase_params p;
        fm_idle_threshold idle;
        if ((rc = resolve_params(&out->agg, (double)out->gpus, opt, &p, &idle, err)))
            goto fail;
        fm_segment *det = NULL;
        size_t n_det = 0;
        if (fm_phases_detect_signal(&out->agg, &p, &det, &n_det, err) == FM_OK) {
            fm_phases_compare(det, n_det, out->agg_seg, out->n_agg_seg, &out->agreement);
            out->have_agreement = 1;
        }
        free(det);
    }
    return FM_OK;
fail:
    fm_run_data_free(out);
    return rc;
}

void fm_run_data_free(fm_run_data *d)
{
    if (!d)
        return;
    for (int g = 0; g < d->gpus && d->gpu; g++) {
        fm_phase_signal_free(&d->gpu[g].sig);
        free(d->gpu[g].seg);
    }
    free(d->gpu);
    fm_phase_signal_free(&d->agg);
    free(d->agg_seg);
    free(d->markers);
    memset(d, 0, sizeof *d);
}

void fm_signal_bin_means(const fm_phase_signal *sig, int64_t t0_ns, int64_t step_ns, size_t n,
                         double *out)
{
    for (size_t k = 0; k < n; k++) {
        int64_t a = t0_ns + (int64_t)k * step_ns, b = a + step_ns;
        if (b <= sig->t_first_ns || a >= sig->t_last_ns || sig->n == 0) {
            out[k] = NAN;
            continue;
        }
        if (a < sig->t_first_ns)
            a = sig->t_first_ns;
        if (b > sig->t_last_ns)
            b = sig->t_last_ns;
        out[k] = fm_phase_signal_integrate(sig, a, b) / ((double)(b - a) / NS_PER_S);
    }
}

int fm_segments_phase_at(const fm_segment *seg, size_t n, int64_t t_ns)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg[mid].end_ns <= t_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && seg[lo].start_ns <= t_ns)
        return (int)seg[lo].phase;
    return -1;
}
