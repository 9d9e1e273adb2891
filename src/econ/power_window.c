/* The measurement behind Model-to-Grid qualification (see firmus/econ.h):
 * CV, mean and peak of one power series over a stated window at a stated
 * resolution (bins of held power, or the sensor's own publications). */
#include "firmus/econ.h"

#include <math.h>
#include <string.h>

#define NS_PER_S 1e9

/* Running population mean and variance (Welford). */
typedef struct running_stats {
    size_t n;
    double mean, m2;
} running_stats;

static void running_add(running_stats *r, double v)
{
    r->n++;
    double delta = v - r->mean;
    r->mean += delta / (double)r->n;
    r->m2 += delta * (v - r->mean);
}

static double raw_peak_w(const fm_series *s, int64_t t0_ns, int64_t t1_ns)
{
    double peak = NAN;
    for (size_t i = 0; i < s->n; i++)
        if (s->t_ns[i] >= t0_ns && s->t_ns[i] < t1_ns && !isnan(s->v[i]) &&
            (isnan(peak) || s->v[i] > peak))
            peak = s->v[i];
    return peak;
}

/* Means of the held signal over whole bins inside the window. */
static int add_bins(const fm_series *s, int64_t t0_ns, int64_t t1_ns, double resolution_s,
                    double exclude_below_w, running_stats *r, fm_error *err)
{
    int64_t step_ns = (int64_t)llround(resolution_s * NS_PER_S);
    int64_t bins = step_ns > 0 ? (t1_ns - t0_ns) / step_ns : 0;
    if (bins < 2)
        return fm_fail(err, FM_ERR_USAGE,
                       "qualify: the window (%.2f s) holds fewer than 2 bins of %g s",
                       (double)(t1_ns - t0_ns) / NS_PER_S, resolution_s);
    fm_series means;
    int rc = fm_series_resample_mean(s, t0_ns, t0_ns + (bins - 1) * step_ns, step_ns, &means);
    if (rc != FM_OK) {
        fm_series_free(&means);
        return fm_fail(err, rc, "qualify: cannot resample the power series");
    }
    for (size_t k = 0; k < means.n; k++)
        if (!isnan(means.v[k]) && means.v[k] >= exclude_below_w)
            running_add(r, means.v[k]);
    fm_series_free(&means);
    return FM_OK;
}

/* The sensor's own publications in the window: held duplicates removed
 * (fm_series_dedup_held), so each published value counts once. */
static int add_raw(const fm_series *s, int64_t t0_ns, int64_t t1_ns, double exclude_below_w,
                   running_stats *r, fm_error *err)
{
    fm_series published;
    if (fm_series_dedup_held(s, &published) != FM_OK) {
        fm_series_free(&published);
        return fm_fail(err, FM_ERR_NOMEM, "qualify: out of memory");
    }
    for (size_t i = 0; i < published.n; i++)
        if (published.t_ns[i] >= t0_ns && published.t_ns[i] < t1_ns &&
            published.v[i] >= exclude_below_w)
            running_add(r, published.v[i]);
    fm_series_free(&published);
    return FM_OK;
}

int fm_power_window_stats(const fm_series *power_w, int64_t t0_ns, int64_t t1_ns,
                          double resolution_s, double exclude_below_w, fm_power_window *out,
                          fm_error *err)
{
    memset(out, 0, sizeof *out);
    out->gpu = -1;
    if (!power_w || power_w->n == 0)
        return fm_fail(err, FM_ERR_NOT_FOUND, "qualify: no power samples");
    if (t1_ns <= t0_ns || !(resolution_s >= 0))
        return fm_fail(err, FM_ERR_USAGE, "qualify: empty window or negative resolution");
    running_stats r = {0, 0.0, 0.0};
    if (resolution_s > 0) {
        int rc = add_bins(power_w, t0_ns, t1_ns, resolution_s, exclude_below_w, &r, err);
        if (rc != FM_OK)
            return rc;
    } else {
        int rc = add_raw(power_w, t0_ns, t1_ns, exclude_below_w, &r, err);
        if (rc != FM_OK)
            return rc;
    }
    if (r.n < 2)
        return fm_fail(err, FM_ERR_NOT_FOUND,
                       "qualify: fewer than 2 usable power values in the window (%.2f-%.2f s)",
                       (double)(t0_ns - power_w->t_ns[0]) / NS_PER_S,
                       (double)(t1_ns - power_w->t_ns[0]) / NS_PER_S);
    running_stats raw = {0, 0.0, 0.0};
    int rc = add_raw(power_w, t0_ns, t1_ns, exclude_below_w, &raw, err);
    if (rc != FM_OK)
        return rc;
    out->power_cv_raw =
        raw.n >= 2 && raw.mean != 0.0 ? sqrt(raw.m2 / (double)raw.n) / raw.mean : NAN;
    out->points = r.n;
    out->avg_power_w = r.mean;
    out->power_cv = r.mean != 0.0 ? sqrt(r.m2 / (double)r.n) / r.mean : NAN;
    out->peak_power_w = raw_peak_w(power_w, t0_ns, t1_ns);
    out->resolution_s = resolution_s;
    out->start_s = (double)(t0_ns - power_w->t_ns[0]) / NS_PER_S;
    out->end_s = (double)(t1_ns - power_w->t_ns[0]) / NS_PER_S;
    return FM_OK;
}
