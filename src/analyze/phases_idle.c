/* The automatic idle threshold of phase detection (phases.h,
 * docs/WORKLOAD_EXPORT_GUIDE.md "Idle threshold"): the run's own idle level
 * (the flat low stretches of its smoothed power) plus a margin, never below
 * the seed's 100 W and never more than half way up to the busy level. A
 * fixed 100 W fails on GPUs that idle above it (an H100 80GB HBM3 with a
 * CUDA context idles at 109-125 W): every idle second reads as busy. */
#include "firmus/phases.h"
#include "phases_smooth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9
#define FLAT_HALF_WINDOW_S 0.5 /* flatness is judged over +-0.5 s of raw power */
#define FLAT_REL 0.03          /* ... within 3 % of the level */
#define LOW_PERCENTILE 0.02
#define BUSY_PERCENTILE 0.95
#define MAX_WEIGHT_S 1.0 /* a gap in the data counts at most 1 s */

double fm_idle_threshold_rule(double idle_level_w, double busy_w, double floor_w,
                              double margin_min_w, double *margin_w)
{
    double swing = busy_w - idle_level_w;
    double margin = margin_min_w;
    if (swing >= 2.0 * margin_min_w) {
        margin = fmax(margin_min_w, FM_IDLE_MARGIN_FRAC * swing);
        margin = fmin(margin, 0.5 * swing); /* never past half way to the busy level */
    }
    if (margin_w)
        *margin_w = margin;
    return fmax(floor_w, idle_level_w + margin);
}

/* A value and the time it stands for. */
typedef struct weighted {
    double v;
    double w_s;
} weighted;

static int cmp_weighted(const void *a, const void *b)
{
    double x = ((const weighted *)a)->v, y = ((const weighted *)b)->v;
    return (x > y) - (x < y);
}

/* The value below which a fraction q of the total weight lies (sorts x). */
static double weighted_percentile(weighted *x, size_t n, double q)
{
    qsort(x, n, sizeof *x, cmp_weighted);
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += x[i].w_s;
    double acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += x[i].w_s;
        if (acc >= q * total)
            return x[i].v;
    }
    return x[n - 1].v;
}

/* Time each point stands for: to the next point, at most MAX_WEIGHT_S; the
 * last point gets its predecessor's. */
static double weight_s(const fm_phase_signal *sig, size_t i)
{
    if (sig->n < 2)
        return MAX_WEIGHT_S;
    size_t a = i + 1 < sig->n ? i : i - 1;
    return fmin(MAX_WEIGHT_S, (double)(sig->t_ns[a + 1] - sig->t_ns[a]) / NS_PER_S);
}

/* 1 if the raw power stays within `tol_w` (max - min) over +-0.5 s of point i. */
static int is_flat(const fm_phase_signal *sig, size_t i, double tol_w)
{
    int64_t half = (int64_t)(FLAT_HALF_WINDOW_S * NS_PER_S);
    double lo = sig->v[i], hi = sig->v[i];
    for (size_t j = i; j-- > 0 && sig->t_ns[i] - sig->t_ns[j] <= half;) {
        lo = fmin(lo, sig->v[j]);
        hi = fmax(hi, sig->v[j]);
        if (hi - lo > tol_w)
            return 0;
    }
    for (size_t j = i + 1; j < sig->n && sig->t_ns[j] - sig->t_ns[i] <= half; j++) {
        lo = fmin(lo, sig->v[j]);
        hi = fmax(hi, sig->v[j]);
        if (hi - lo > tol_w)
            return 0;
    }
    return 1;
}

static void set_fixed(const fm_phase_params *p, fm_idle_threshold *out)
{
    out->threshold_w = p->idle_below_w;
    snprintf(out->source, sizeof out->source, "fixed: %.1f W as given", p->idle_below_w);
}

/* Derives the threshold from the smoothed power s of sig (scratch: n). */
static void derive(const fm_phase_signal *sig, const fm_phase_params *p, const double *s,
                   weighted *scratch, fm_idle_threshold *out)
{
    size_t n = sig->n;
    for (size_t i = 0; i < n; i++)
        scratch[i] = (weighted){s[i], weight_s(sig, i)};
    double low = weighted_percentile(scratch, n, LOW_PERCENTILE);
    double busy = weighted_percentile(scratch, n, BUSY_PERCENTILE);
    double low_half = low + 0.5 * (busy - low);
    /* The flat low stretches: idle, whatever its level (a GPU with and
     * without a CUDA context idles at two levels; decode is not flat). */
    size_t m = 0;
    double idle_s = 0;
    for (size_t i = 0; i < n; i++) {
        double tol = fmax(0.25 * p->idle_margin_min_w, FLAT_REL * fabs(s[i]));
        if (s[i] <= low_half && is_flat(sig, i, tol)) {
            scratch[m] = (weighted){s[i], weight_s(sig, i)};
            idle_s += scratch[m].w_s;
            m++;
        }
    }
    out->busy_w = busy;
    out->idle_s = idle_s;
    if (m == 0 || idle_s < FM_IDLE_MIN_FLAT_S) {
        out->fallback = 1;
        out->threshold_w = p->idle_floor_w;
        snprintf(out->source, sizeof out->source,
                 "auto: no idle found (%.1f s of flat low power, under %.0f s): the seed's "
                 "%.1f W",
                 idle_s, FM_IDLE_MIN_FLAT_S, p->idle_floor_w);
        return;
    }
    double idle = weighted_percentile(scratch, m, 0.5);
    out->idle_level_w = idle;
    out->threshold_w =
        fm_idle_threshold_rule(idle, busy, p->idle_floor_w, p->idle_margin_min_w, &out->margin_w);
    int no_busy = !(busy - idle >= 2.0 * p->idle_margin_min_w);
    int floored = out->threshold_w > idle + out->margin_w;
    out->fallback = no_busy;
    if (no_busy)
        snprintf(out->source, sizeof out->source,
                 "auto: idle level %.1f W (median of %.1f s of flat low power), no busy level "
                 "(p95 %.1f W) %.0f W above it: idle + %.1f W%s = %.1f W",
                 idle, idle_s, busy, 2.0 * p->idle_margin_min_w, out->margin_w,
                 floored ? ", raised to the seed's floor" : "", out->threshold_w);
    else
        snprintf(out->source, sizeof out->source,
                 "auto: idle level %.1f W (median of %.1f s of flat low power) + margin "
                 "%.1f W (max(%.0f W, %.0f %% of p95 %.1f W - idle))%s = %.1f W",
                 idle, idle_s, out->margin_w, p->idle_margin_min_w, 100.0 * FM_IDLE_MARGIN_FRAC,
                 busy, floored ? ", raised to the seed's floor" : "", out->threshold_w);
}

int fm_phases_idle_threshold(const fm_phase_signal *sig, const fm_phase_params *params,
                             fm_idle_threshold *out, fm_error *err)
{
    fm_phase_params p;
    if (params)
        p = *params;
    else
        fm_phase_params_default(&p);
    memset(out, 0, sizeof *out);
    out->idle_level_w = out->busy_w = out->margin_w = NAN;
    if (isfinite(p.idle_below_w)) {
        set_fixed(&p, out);
        return FM_OK;
    }
    out->automatic = 1;
    if (sig->n == 0)
        return fm_fail(err, FM_ERR, "idle threshold: the power signal is empty");
    double *s = malloc(sig->n * sizeof *s);
    weighted *scratch = malloc(sig->n * sizeof *scratch);
    if (!s || !scratch) {
        free(s);
        free(scratch);
        return fm_fail(err, FM_ERR_NOMEM, "idle threshold: out of memory");
    }
    fm_phase_running_median(sig->v, sig->n, fm_phase_smooth_half_width(sig, p.smooth_s), s);
    derive(sig, &p, s, scratch, out);
    free(s);
    free(scratch);
    return FM_OK;
}
