/* Power-only phase detection (docs/WORKLOAD_EXPORT_GUIDE.md, "Phase
 * detection"). On the prepared signal (one point per sensor publication):
 *  1. a running median (smooth_s wide) removes decode noise but keeps
 *     linear ramps and steps where they are;
 *  2. active regions: smoothed power >= idle_below_w, with hysteresis in
 *     time (idle gaps and active blips shorter than min_segment_s merge);
 *  3. in each active region the rising edge is fitted with a straight line
 *     through the raw points between 10 % and 90 % of the way from the idle
 *     baseline to the first peak; ramp start/end = where the line meets the
 *     baseline and the peak level. The edge is a ramp if the fitted slope is
 *     above ramp_above_w_per_s, otherwise the region starts with a step;
 *  4. the falling edge likewise, backwards from the region's end, against
 *     the decode level before it and the idle baseline after it;
 *  5. between them, prefill = the first peak: if the level right after the
 *     ramp is clearly above the decode level (median of the rest), its end
 *     is the best single step (least squares) in the first part; the rest
 *     is decode.
 * Segments then tile the trace; characteristics come from
 * fm_segment_measure. */
#include "firmus/phases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

void fm_phase_params_default(fm_phase_params *p)
{
    p->idle_below_w = 100.0;
    p->ramp_above_w_per_s = 100.0;
    p->fall_below_w_per_s = -100.0;
    p->min_segment_s = 0.3;
    p->smooth_s = 0.5;
}

/* Working state of one detection. */
typedef struct detector {
    const fm_phase_signal *sig;
    const fm_phase_params *p;
    double *s;       /* running median of sig->v */
    double *scratch; /* for medians */
    fm_segment *seg;
    size_t n_seg, cap_seg;
    int64_t cursor_ns; /* end of the last segment emitted */
} detector;

static double t_s(const detector *d, size_t i)
{
    return (double)(d->sig->t_ns[i] - d->sig->t_first_ns) / NS_PER_S;
}

static int64_t to_ns(const detector *d, double t)
{
    return d->sig->t_first_ns + (int64_t)llround(t * NS_PER_S);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[i0..i1) (copied into scratch). NAN if empty. */
static double median_range(detector *d, const double *v, size_t i0, size_t i1)
{
    if (i1 <= i0)
        return NAN;
    size_t m = i1 - i0;
    memcpy(d->scratch, v + i0, m * sizeof *v);
    qsort(d->scratch, m, sizeof *v, cmp_double);
    return m % 2 ? d->scratch[m / 2] : 0.5 * (d->scratch[m / 2 - 1] + d->scratch[m / 2]);
}

/* Running median with half-width k points (shrinking at the ends). */
static void running_median(detector *d, size_t k)
{
    const double *v = d->sig->v;
    size_t n = d->sig->n;
    double w[64];
    for (size_t i = 0; i < n; i++) {
        size_t lo = i >= k ? i - k : 0, hi = i + k + 1 < n ? i + k + 1 : n;
        size_t m = hi - lo;
        for (size_t j = 0; j < m; j++) {
            /* insertion sort of a small window */
            double x = v[lo + j];
            size_t q = j;
            while (q > 0 && w[q - 1] > x) {
                w[q] = w[q - 1];
                q--;
            }
            w[q] = x;
        }
        d->s[i] = m % 2 ? w[m / 2] : 0.5 * (w[m / 2 - 1] + w[m / 2]);
    }
}

/* Sum of the raw values [i0, i1). */
static double left_at(const detector *d, size_t i0, size_t i1)
{
    double sum = 0;
    for (size_t i = i0; i < i1; i++)
        sum += d->sig->v[i];
    return sum;
}

/* Least-squares line v = a + b*t over points [i0, i1]; returns 0 if >= 2 points. */
static int fit_line(const detector *d, size_t i0, size_t i1, double *a, double *b)
{
    double st = 0, sv = 0, stt = 0, stv = 0;
    size_t m = 0;
    for (size_t i = i0; i <= i1; i++) {
        double t = t_s(d, i), v = d->sig->v[i];
        st += t;
        sv += v;
        stt += t * t;
        stv += t * v;
        m++;
    }
    double den = (double)m * stt - st * st;
    if (m < 2 || den <= 0)
        return -1;
    *b = ((double)m * stv - st * sv) / den;
    *a = (sv - *b * st) / (double)m;
    return 0;
}

/* Refines a fall found by the hinge fit: the decode level D and its
 * noise (MAD) from the points before the knee, then a line through the
 * points clearly on the way down (below D - 2 sigma and the 90 % level,
 * above the 10 % level); start and end where it meets D and the baseline.
 * Least squares on the hinge alone is pulled by single noisy decode points. */
static void refine_fall(detector *d, size_t lo, size_t w0, size_t w1, double base, double l10,
                        double *t_start, double *t_end, double *slope)
{
    size_t k = w0;
    while (k < w1 && t_s(d, k) < *t_start)
        k++;
    if (k < w0 + 5)
        return;
    size_t f0 = k;
    while (f0 > w0 && t_s(d, k) - t_s(d, f0 - 1) <= 0.3)
        f0--;
    /* The decode level from up to 10 s before the knee. */
    while (w0 > lo && t_s(d, k) - t_s(d, w0 - 1) <= 10.0)
        w0--;
    double D = median_range(d, d->sig->v, w0, k);
    for (size_t i = w0; i < k; i++)
        d->scratch[i - w0] = fabs(d->sig->v[i] - D);
    size_t m = k - w0;
    qsort(d->scratch, m, sizeof *d->scratch, cmp_double);
    double sigma = 1.4826 * d->scratch[m / 2];
    double upper = fmin(D - 2.0 * sigma, base + 0.9 * (D - base));
    /* The contiguous run of points in the band that ends at the bottom of
     * the fall (a noisy decode point below the band before it is not part
     * of the fall). */
    size_t last = w1;
    while (last > k && d->sig->v[last - 1] <= l10)
        last--;
    size_t first = last;
    while (first > f0 && d->sig->v[first - 1] < upper && d->sig->v[first - 1] > l10)
        first--;
    double st = 0, sv = 0, stt = 0, stv = 0;
    size_t n = 0;
    for (size_t i = first; i < last; i++) {
        double v = d->sig->v[i], t = t_s(d, i);
        st += t;
        sv += v;
        stt += t * t;
        stv += t * v;
        n++;
    }
    double den = (double)n * stt - st * st;
    if (n < 3 || den <= 0)
        return;
    double b = ((double)n * stv - st * sv) / den, a = (sv - b * st) / (double)n;
    if (b >= 0)
        return;
    *slope = b;
    *t_start = (D - a) / b;
    *t_end = (base - a) / b;
}

/* A "hinge": level D until t_knee, then a straight line of slope b. */
typedef struct hinge {
    int found;
    double level;  /* D, W */
    double slope;  /* b, W/s */
    double t_knee; /* s */
} hinge;

/* Least-squares D and b for a fixed knee over points [i0, i1); SSE. */
static double hinge_sse(const detector *d, size_t i0, size_t i1, double knee, double *D, double *b)
{
    double sx = 0, sxx = 0, sv = 0, sxv = 0, svv = 0;
    double m = (double)(i1 - i0);
    for (size_t i = i0; i < i1; i++) {
        double x = fmax(0.0, t_s(d, i) - knee), v = d->sig->v[i];
        sx += x;
        sxx += x * x;
        sv += v;
        sxv += x * v;
        svv += v * v;
    }
    double den = m * sxx - sx * sx;
    if (den <= 0)
        return INFINITY;
    *b = (m * sxv - sx * sv) / den;
    *D = (sv - *b * sx) / m;
    /* SSE = sum (v - D - b x)^2 expanded. */
    return svv - 2 * *D * sv - 2 * *b * sxv + m * *D * *D + 2 * *D * *b * sx + *b * *b * sxx;
}

/* Fits a level-then-line hinge to the points [i0, i1): knee at each point,
 * then refined between its neighbours. */
static hinge fit_hinge(const detector *d, size_t i0, size_t i1, double base)
{
    hinge h = {0};
    if (i1 < i0 + 3)
        return h;
    double best = INFINITY, D, b;
    size_t best_j = i0;
    for (size_t j = i0 + 1; j + 1 < i1; j++) {
        double e = hinge_sse(d, i0, i1, t_s(d, j), &D, &b);
        if (e < best && b < 0 && D > base) {
            best = e;
            best_j = j;
        }
    }
    if (!isfinite(best))
        return h;
    double lo = t_s(d, best_j - 1), hi = t_s(d, best_j + 1);
    double best_t = t_s(d, best_j);
    for (int k = 0; k <= 40; k++) {
        double knee = lo + (hi - lo) * k / 40.0;
        double e = hinge_sse(d, i0, i1, knee, &D, &b);
        if (e < best && b < 0 && D > base) {
            best = e;
            best_t = knee;
        }
    }
    hinge_sse(d, i0, i1, best_t, &D, &b);
    h.found = 1;
    h.level = D;
    h.slope = b;
    h.t_knee = best_t;
    return h;
}

static int emit(detector *d, fm_phase phase, int64_t end_ns)
{
    if (end_ns > d->sig->t_last_ns)
        end_ns = d->sig->t_last_ns;
    if (end_ns <= d->cursor_ns)
        return FM_OK;
    if (d->n_seg > 0 && d->seg[d->n_seg - 1].phase == phase) {
        d->seg[d->n_seg - 1].end_ns = end_ns;
        d->cursor_ns = end_ns;
        return FM_OK;
    }
    if (d->n_seg == d->cap_seg) {
        size_t cap = d->cap_seg ? d->cap_seg * 2 : 64;
        fm_segment *p = realloc(d->seg, cap * sizeof *p);
        if (!p)
            return FM_ERR_NOMEM;
        d->seg = p;
        d->cap_seg = cap;
    }
    fm_segment *s = &d->seg[d->n_seg++];
    memset(s, 0, sizeof *s);
    s->phase = phase;
    s->start_ns = d->cursor_ns;
    s->end_ns = end_ns;
    s->ramp_rate_w_per_s = NAN;
    d->cursor_ns = end_ns;
    return FM_OK;
}

/* An active region: points [a, b] (inclusive), with the idle points that
 * bound it: [idle0, a) before and (b, idle1] after. */
typedef struct region {
    size_t a, b;
    size_t idle0, idle1;
} region;

/* Finds active regions with hysteresis in time. *out malloc'ed. */
static int find_regions(detector *d, region **out, size_t *count)
{
    const fm_phase_signal *sig = d->sig;
    double min_s = d->p->min_segment_s;
    size_t cap = 16, n = 0;
    region *r = malloc(cap * sizeof *r);
    if (!r)
        return FM_ERR_NOMEM;
    size_t i = 0;
    while (i < sig->n) {
        while (i < sig->n && d->s[i] < d->p->idle_below_w)
            i++;
        if (i >= sig->n)
            break;
        size_t a = i;
        /* Extend over idle dips shorter than min_segment_s. */
        size_t b = i;
        for (;;) {
            while (i < sig->n && d->s[i] >= d->p->idle_below_w)
                i++;
            b = i - 1;
            size_t j = i;
            while (j < sig->n && d->s[j] < d->p->idle_below_w)
                j++;
            if (j < sig->n && t_s(d, j) - t_s(d, b) <= min_s) {
                i = j;
                continue;
            }
            break;
        }
        double dur = (b + 1 < sig->n ? t_s(d, b + 1) : t_s(d, b)) - t_s(d, a);
        if (dur >= min_s) {
            if (n == cap) {
                cap *= 2;
                region *p = realloc(r, cap * sizeof *p);
                if (!p) {
                    free(r);
                    return FM_ERR_NOMEM;
                }
                r = p;
            }
            r[n].a = a;
            r[n].b = b;
            n++;
        }
    }
    for (size_t k = 0; k < n; k++) {
        r[k].idle0 = k > 0 ? r[k - 1].b + 1 : 0;
        r[k].idle1 = k + 1 < n ? r[k + 1].a - 1 : sig->n - 1;
    }
    *out = r;
    *count = n;
    return FM_OK;
}

/* Median of up to `max_pts` raw values of idle points in [i0, i1). */
static double baseline(detector *d, size_t i0, size_t i1, size_t max_pts, int from_end)
{
    if (i1 <= i0)
        return NAN;
    if (i1 - i0 > max_pts) {
        if (from_end)
            i0 = i1 - max_pts;
        else
            i1 = i0 + max_pts;
    }
    return median_range(d, d->sig->v, i0, i1);
}

/* An edge fitted between a low level and a high level. */
typedef struct edge {
    int found;     /* 1 if a line could be fitted */
    double t_low;  /* where the line meets the low level (s) */
    double t_high; /* where it meets the high level (s) */
    double slope;  /* W/s */
} edge;

/* Fits the points [i0, i1] and intersects with the two levels. */
static edge fit_edge(const detector *d, size_t i0, size_t i1, double low, double high)
{
    edge e = {0};
    double a, b;
    if (i1 < i0 || fit_line(d, i0, i1, &a, &b) || b == 0)
        return e;
    e.found = 1;
    e.slope = b;
    e.t_low = (low - a) / b;
    e.t_high = (high - a) / b;
    return e;
}

/* Where the smoothed signal first reaches its first peak after index a:
 * the max of s scanning forward until it falls clearly below that max
 * (or `limit` points). Returns the index of the max. */
static size_t first_peak(const detector *d, size_t a, size_t b, double base)
{
    size_t best = a;
    for (size_t i = a; i <= b; i++) {
        if (d->s[i] > d->s[best])
            best = i;
        double rise = d->s[best] - base;
        if (d->s[i] < d->s[best] - 0.1 * rise && t_s(d, i) - t_s(d, best) > 0.2)
            break;
        if (t_s(d, i) - t_s(d, a) > 10.0)
            break;
    }
    return best;
}

/* Level of the raw signal around index i: median of the points from i
 * while the smoothed signal stays above `floor`, at most `span_s` seconds
 * (forward if dir > 0, backward otherwise). */
static double level_from(detector *d, size_t i, size_t lo, size_t hi, double floor, double span_s,
                         int dir, size_t *end)
{
    size_t j = i;
    if (dir > 0) {
        while (j + 1 <= hi && d->s[j + 1] >= floor && t_s(d, j + 1) - t_s(d, i) <= span_s)
            j++;
        *end = j;
        return median_range(d, d->sig->v, i, j + 1);
    }
    while (j > lo && d->s[j - 1] >= floor && t_s(d, i) - t_s(d, j - 1) <= span_s)
        j--;
    *end = j;
    return median_range(d, d->sig->v, j, i + 1);
}

/* Detects ramp/prefill/decode/fall in one active region and emits the
 * segments from the cursor to its end (the idle before it included). */
static int detect_region(detector *d, const region *r)
{
    const fm_phase_params *p = d->p;
    const fm_phase_signal *sig = d->sig;
    size_t a = r->a, b = r->b;
    /* ---- rising edge ---- */
    double base_pre = a > r->idle0 ? baseline(d, r->idle0, a, 30, 1) : NAN;
    size_t pk = first_peak(d, a, b, isnan(base_pre) ? 0 : base_pre);
    double t_start = t_s(d, a); /* start of the active region */
    double t_ramp_end = t_start;
    int have_ramp = 0;
    double ramp_slope = NAN;
    if (!isnan(base_pre)) {
        double rise = d->s[pk] - base_pre;
        double l10 = base_pre + 0.1 * rise, l90 = base_pre + 0.9 * rise;
        size_t i90 = a;
        while (i90 < pk && d->s[i90] < l90)
            i90++;
        size_t plateau_end;
        double top = level_from(d, i90, a, b, l90, 1.0, +1, &plateau_end);
        size_t i10 = i90;
        while (i10 > r->idle0 && d->sig->v[i10 - 1] > l10)
            i10--;
        /* Raw points strictly inside the 10-90 % band. */
        size_t f0 = i10, f1 = i90;
        while (f0 < f1 && d->sig->v[f0] < l10)
            f0++;
        while (f1 > f0 && d->sig->v[f1] > l90)
            f1--;
        edge e = fit_edge(d, f0, f1, base_pre, top);
        double t_cross = t_s(d, a);
        if (e.found && e.slope > p->ramp_above_w_per_s && e.t_low <= t_cross + 0.05 &&
            e.t_high >= t_s(d, f0) - 0.05) {
            have_ramp = 1;
            ramp_slope = e.slope;
            t_start = fmax(e.t_low, t_s(d, r->idle0));
            t_ramp_end = fmax(e.t_high, t_start);
        } else if (!e.found && i90 > r->idle0) {
            /* A step faster than the sensor: ramp between the last low point
             * and the first high point. */
            double dt = t_s(d, i90) - t_s(d, i90 - 1);
            if (dt > 0 && rise / dt > p->ramp_above_w_per_s) {
                have_ramp = 1;
                ramp_slope = rise / dt;
                t_start = t_s(d, i90 - 1);
                t_ramp_end = t_s(d, i90);
            }
        }
    }
    /* ---- falling edge ---- */
    double base_post = b < r->idle1 ? baseline(d, b + 1, r->idle1 + 1, 30, 0) : NAN;
    double t_end = b + 1 < sig->n ? t_s(d, b + 1) : t_s(d, b);
    double t_fall_start = t_end;
    int have_fall = 0;
    double fall_slope = NAN;
    if (!isnan(base_post)) {
        /* Top of the fall: the peak of the smoothed signal scanning backward
         * (only to set the 50 % and 10 % levels). */
        size_t top_i = b;
        for (size_t i = b + 1; i-- > a;) {
            if (d->s[i] > d->s[top_i])
                top_i = i;
            double drop = d->s[top_i] - base_post;
            if (d->s[i] < d->s[top_i] - 0.1 * drop && t_s(d, top_i) - t_s(d, i) > 0.2)
                break;
            if (t_s(d, b) - t_s(d, i) > 10.0)
                break;
        }
        double drop = d->s[top_i] - base_post;
        double l10 = base_post + 0.1 * drop, l50 = base_post + 0.5 * drop;
        size_t i50 = b;
        while (i50 > top_i && d->s[i50] < l50)
            i50--;
        size_t e_idx = i50;
        while (e_idx <= r->idle1 && e_idx < sig->n && d->sig->v[e_idx] > l10)
            e_idx++;
        size_t w0 = i50;
        while (w0 > a && t_s(d, i50) - t_s(d, w0 - 1) <= 4.0)
            w0--;
        hinge h = fit_hinge(d, w0, e_idx, base_post);
        if (h.found && h.slope < p->fall_below_w_per_s) {
            have_fall = 1;
            fall_slope = h.slope;
            t_fall_start = h.t_knee;
            t_end = h.t_knee + (base_post - h.level) / h.slope;
            refine_fall(d, a, w0, e_idx, base_post, l10, &t_fall_start, &t_end, &fall_slope);
        } else if (!h.found && e_idx > i50 && e_idx <= r->idle1) {
            double dt = t_s(d, e_idx) - t_s(d, e_idx - 1);
            if (dt > 0 && -drop / dt < p->fall_below_w_per_s) {
                have_fall = 1;
                fall_slope = -drop / dt;
                t_fall_start = t_s(d, e_idx - 1);
                t_end = t_s(d, e_idx);
            }
        }
    }
    if (t_end < t_ramp_end)
        t_end = t_ramp_end;
    if (t_fall_start < t_ramp_end)
        t_fall_start = t_ramp_end;
    if (t_fall_start > t_end)
        t_fall_start = t_end;
    /* ---- prefill: the first peak after the ramp ---- */
    double t_prefill_end = t_ramp_end;
    if (have_ramp) {
        size_t s0 = a;
        while (s0 <= b && t_s(d, s0) < t_ramp_end)
            s0++;
        size_t s1 = s0;
        while (s1 <= b && t_s(d, s1) < t_fall_start)
            s1++;
        if (s1 > s0 + 3) {
            double decode_level = median_range(d, d->sig->v, s0 + (s1 - s0) / 2, s1);
            size_t pe;
            double peak_level = level_from(d, s0, s0, s1 - 1, -INFINITY, 0.3, +1, &pe);
            double gap = peak_level - decode_level;
            if (gap > 0.05 * fabs(decode_level) && gap > 10.0) {
                /* Search window: until the smoothed signal first falls below
                 * the midpoint, plus 1 s. */
                double mid = 0.5 * (peak_level + decode_level);
                size_t w1 = s0;
                while (w1 < s1 && d->s[w1] >= mid)
                    w1++;
                while (w1 < s1 && t_s(d, w1) - t_s(d, s0) < 0.0)
                    w1++;
                size_t lim = w1;
                while (lim < s1 && t_s(d, lim) - t_s(d, w1) < 1.0)
                    lim++;
                /* Best split k: [s0, k) at one mean, [k, lim) at another. */
                double tot = 0, tot2 = 0;
                for (size_t i = s0; i < lim; i++) {
                    tot += d->sig->v[i];
                    tot2 += d->sig->v[i] * d->sig->v[i];
                }
                double left = 0, left2 = 0, best = INFINITY;
                size_t best_k = s0;
                for (size_t k = s0 + 1; k < lim; k++) {
                    left += d->sig->v[k - 1];
                    left2 += d->sig->v[k - 1] * d->sig->v[k - 1];
                    double nl = (double)(k - s0), nr = (double)(lim - k);
                    double right = tot - left, right2 = tot2 - left2;
                    double sse = left2 - left * left / nl + right2 - right * right / nr;
                    if (left / nl > right / nr && sse < best) {
                        best = sse;
                        best_k = k;
                    }
                }
                if (best_k > s0) {
                    /* Where the line between the last high and the first low
                     * point crosses the middle of the two levels. */
                    double nl = (double)(best_k - s0), nr = (double)(lim - best_k);
                    double lvl =
                        0.5 * (left_at(d, s0, best_k) / nl + (tot - left_at(d, s0, best_k)) / nr);
                    double v0 = d->sig->v[best_k - 1], v1 = d->sig->v[best_k];
                    double t0 = t_s(d, best_k - 1), t1 = t_s(d, best_k);
                    if (v0 > lvl && lvl > v1)
                        t_prefill_end = t0 + (v0 - lvl) / (v0 - v1) * (t1 - t0);
                    else
                        t_prefill_end = 0.5 * (t0 + t1);
                }
            }
        }
    }
    if (t_prefill_end > t_fall_start)
        t_prefill_end = t_fall_start;
    /* ---- emit ---- */
    int rc;
    if ((rc = emit(d, FM_PHASE_IDLE, to_ns(d, t_start))))
        return rc;
    size_t first_new = d->n_seg;
    if (have_ramp && (rc = emit(d, FM_PHASE_RAMP, to_ns(d, t_ramp_end))))
        return rc;
    if ((rc = emit(d, FM_PHASE_PREFILL, to_ns(d, t_prefill_end))) ||
        (rc = emit(d, FM_PHASE_DECODE, to_ns(d, t_fall_start))))
        return rc;
    if (have_fall && (rc = emit(d, FM_PHASE_FALL, to_ns(d, t_end))))
        return rc;
    if (!have_fall && (rc = emit(d, FM_PHASE_DECODE, to_ns(d, t_end))))
        return rc;
    for (size_t i = first_new; i < d->n_seg; i++) {
        if (d->seg[i].phase == FM_PHASE_RAMP)
            d->seg[i].ramp_rate_w_per_s = ramp_slope;
        if (d->seg[i].phase == FM_PHASE_FALL)
            d->seg[i].ramp_rate_w_per_s = fall_slope;
    }
    return FM_OK;
}

int fm_phases_detect_signal(const fm_phase_signal *sig, const fm_phase_params *params,
                            fm_segment **out, size_t *count, fm_error *err)
{
    fm_phase_params defaults;
    if (!params) {
        fm_phase_params_default(&defaults);
        params = &defaults;
    }
    *out = NULL;
    *count = 0;
    detector d = {0};
    d.sig = sig;
    d.p = params;
    d.cursor_ns = sig->t_first_ns;
    d.s = malloc(sig->n * sizeof *d.s);
    d.scratch = malloc(sig->n * sizeof *d.scratch);
    region *regions = NULL;
    size_t n_regions = 0;
    int rc = FM_ERR_NOMEM;
    if (!d.s || !d.scratch)
        goto done;
    double period_s = sig->period_ns > 0 ? (double)sig->period_ns / NS_PER_S : 0.1;
    size_t k = (size_t)llround(params->smooth_s / (2.0 * period_s));
    if (k > 15)
        k = 15;
    running_median(&d, k);
    if ((rc = find_regions(&d, &regions, &n_regions)))
        goto done;
    for (size_t i = 0; i < n_regions; i++)
        if ((rc = detect_region(&d, &regions[i])))
            goto done;
    if ((rc = emit(&d, FM_PHASE_IDLE, sig->t_last_ns)))
        goto done;
    /* Characteristics; the detection's fitted slopes replace the segment's own. */
    for (size_t i = 0; i < d.n_seg; i++) {
        double rate = d.seg[i].ramp_rate_w_per_s;
        fm_segment_measure(sig, d.seg[i].phase, d.seg[i].start_ns, d.seg[i].end_ns, &d.seg[i]);
        if (!isnan(rate))
            d.seg[i].ramp_rate_w_per_s = rate;
    }
    *out = d.seg;
    *count = d.n_seg;
    d.seg = NULL;
    rc = FM_OK;
done:
    free(d.s);
    free(d.scratch);
    free(d.seg);
    free(regions);
    if (rc)
        return fm_fail(err, rc, "phase detection: out of memory");
    return FM_OK;
}

int fm_phases_detect(const fm_series *power_w, const fm_phase_params *p, fm_segment **out,
                     size_t *count, fm_error *err)
{
    fm_phase_signal sig;
    int rc = fm_phase_signal_prepare(power_w, &sig, err);
    if (rc)
        return rc;
    rc = fm_phases_detect_signal(&sig, p, out, count, err);
    fm_phase_signal_free(&sig);
    return rc;
}
