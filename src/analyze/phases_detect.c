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
#include "phases_smooth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

void fm_phase_params_default(fm_phase_params *p)
{
    p->idle_below_w = NAN; /* automatic */
    p->ramp_above_w_per_s = 100.0;
    p->fall_below_w_per_s = -100.0;
    p->min_segment_s = 0.3;
    p->smooth_s = 0.5;
    p->idle_floor_w = FM_IDLE_SEED_W;
    p->idle_margin_min_w = FM_IDLE_MARGIN_MIN_W;
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
                        double *t_start, double *t_end, double *slope, double *intercept)
{
    size_t k = w0;
    while (k < w1 && t_s(d, k) < *t_start)
        k++;
    if (k < w0 + 5)
        return;
    size_t f0 = k;
    while (f0 > w0 && t_s(d, k) - t_s(d, f0 - 1) <= 0.3)
        f0--;
    /* The decode level from the whole decode before the knee (up to 60 s):
     * the fall starts from the decode's mean level, and a short window is
     * pulled by the slow decode noise. */
    while (w0 > lo && t_s(d, k) - t_s(d, w0 - 1) <= 60.0)
        w0--;
    double D = median_range(d, d->sig->v, w0, k);
    for (size_t i = w0; i < k; i++)
        d->scratch[i - w0] = fabs(d->sig->v[i] - D);
    size_t m = k - w0;
    qsort(d->scratch, m, sizeof *d->scratch, cmp_double);
    double sigma = 1.4826 * d->scratch[m / 2];
    /* The mean of the points within 3 sigma of the median: less noisy than
     * the median, not pulled by outliers. */
    double sum = 0;
    size_t kept = 0;
    for (size_t i = w0; i < k; i++)
        if (fabs(d->sig->v[i] - D) <= 3.0 * sigma) {
            sum += d->sig->v[i];
            kept++;
        }
    if (kept > 0)
        D = sum / (double)kept;
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
    *intercept = a;
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

/* Index of the first peak of the smoothed signal from index a: the max of
 * s scanning forward until s falls clearly below that max (10 % of the
 * rise, for more than 0.2 s) or 10 s have passed. */
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

/* Median of the raw signal from index i while the smoothed signal stays
 * above `floor`, at most span_s (forward if dir > 0, else backward). */
static double level_from(detector *d, size_t i, size_t lo, size_t hi, double floor, double span_s,
                         int dir)
{
    size_t j = i;
    if (dir > 0) {
        while (j + 1 <= hi && d->s[j + 1] >= floor && t_s(d, j + 1) - t_s(d, i) <= span_s)
            j++;
        return median_range(d, d->sig->v, i, j + 1);
    }
    while (j > lo && d->s[j - 1] >= floor && t_s(d, i) - t_s(d, j - 1) <= span_s)
        j--;
    return median_range(d, d->sig->v, j, i + 1);
}

/* A busy stretch between two low points: an idle baseline or a valley
 * (a fall cut short by a new request's ramp). */
typedef struct part {
    size_t a, b;     /* its points (inclusive) */
    size_t lo_bound; /* first index the rising edge may use */
    size_t hi_bound; /* last index the falling edge may use */
    double base_lo;  /* level the ramp starts from; NAN: the trace starts busy */
    double base_hi;  /* level the fall ends at; NAN: the trace ends busy */
} part;

/* What was found in a part; times in s from the signal's start. */
typedef struct part_result {
    double t_start, t_end; /* the part's busy span */
    int have_ramp, have_fall;
    double t_ramp_end, ramp_slope, ramp_intercept;
    double t_fall_start, fall_slope, fall_intercept;
    double t_prefill_end;
    double top_level;        /* level of the first peak (prefill plateau), W */
    size_t top_index;        /* where the rising edge reached it */
    size_t fall_w0, fall_w1; /* points the fall was fitted on */
    double fall_l10;
} part_result;

/* Rising edge: a line through the raw points between 10 % and 90 % of the
 * way from base_lo to the first peak. */
static void rising_edge(detector *d, const part *pt, part_result *r)
{
    size_t a = pt->a, b = pt->b;
    r->t_start = t_s(d, a);
    r->t_ramp_end = r->t_start;
    if (isnan(pt->base_lo))
        return;
    double base = pt->base_lo;
    size_t pk = first_peak(d, a, b, base);
    double rise = d->s[pk] - base;
    if (rise <= 0)
        return;
    double l10 = base + 0.1 * rise, l90 = base + 0.9 * rise;
    size_t i90 = a;
    while (i90 < pk && d->s[i90] < l90)
        i90++;
    double top = level_from(d, i90, a, b, l90, 1.0, +1);
    r->top_level = top;
    r->top_index = i90;
    size_t i10 = i90;
    while (i10 > pt->lo_bound && d->sig->v[i10 - 1] > l10)
        i10--;
    size_t f0 = i10, f1 = i90;
    while (f0 < f1 && d->sig->v[f0] < l10)
        f0++;
    while (f1 > f0 && d->sig->v[f1] > l90)
        f1--;
    double ia, ib;
    if (f1 > f0 && fit_line(d, f0, f1, &ia, &ib) == 0 && ib > d->p->ramp_above_w_per_s) {
        r->have_ramp = 1;
        r->ramp_slope = ib;
        r->ramp_intercept = ia;
        r->t_start = fmax((base - ia) / ib, t_s(d, pt->lo_bound));
        r->t_ramp_end = fmax((top - ia) / ib, r->t_start);
        return;
    }
    if (i10 > pt->lo_bound && f1 <= f0 + 1) {
        /* A step faster than the sensor (at most 2 points on the way up):
         * between the last low point and the first high one. */
        size_t hi = i10;
        while (hi < pk && d->sig->v[hi] < l90)
            hi++;
        double t0 = t_s(d, i10 - 1), t1 = t_s(d, hi);
        if (t1 > t0 && rise / (t1 - t0) > d->p->ramp_above_w_per_s) {
            r->have_ramp = 1;
            r->ramp_slope = rise / (t1 - t0);
            r->ramp_intercept = base - r->ramp_slope * t0;
            r->t_start = t0;
            r->t_ramp_end = t1;
        }
    }
}

/* Falling edge: hinge fit (level, then a line) near the part's end, then
 * refined on the points clearly on the way down. */
static void falling_edge(detector *d, const part *pt, size_t lo_limit, part_result *r)
{
    size_t a = pt->a, b = pt->b;
    r->t_end = b + 1 < d->sig->n ? t_s(d, b + 1) : t_s(d, b);
    r->t_fall_start = r->t_end;
    if (isnan(pt->base_hi))
        return;
    double base = pt->base_hi;
    /* Look for the top of the fall after the prefill (lo_limit), so that a
     * prefill peak before a short decode is not taken for it. */
    size_t from = lo_limit > a && lo_limit < b ? lo_limit : a;
    size_t top_i = b;
    for (size_t i = b + 1; i-- > from;) {
        if (d->s[i] > d->s[top_i])
            top_i = i;
        double drop = d->s[top_i] - base;
        if (d->s[i] < d->s[top_i] - 0.1 * drop && t_s(d, top_i) - t_s(d, i) > 0.2)
            break;
        if (t_s(d, b) - t_s(d, i) > 10.0)
            break;
    }
    double drop = d->s[top_i] - base;
    if (drop <= 0)
        return;
    double l10 = base + 0.1 * drop, l50 = base + 0.5 * drop;
    size_t i50 = b;
    while (i50 > top_i && d->s[i50] < l50)
        i50--;
    size_t e_idx = i50;
    while (e_idx <= pt->hi_bound && e_idx < d->sig->n && d->sig->v[e_idx] > l10)
        e_idx++;
    size_t w0 = i50;
    if (lo_limit < a)
        lo_limit = a;
    while (w0 > lo_limit && t_s(d, i50) - t_s(d, w0 - 1) <= 4.0)
        w0--;
    hinge h = fit_hinge(d, w0, e_idx, base);
    if (h.found && h.slope < d->p->fall_below_w_per_s) {
        r->have_fall = 1;
        r->fall_slope = h.slope;
        r->fall_intercept = h.level - h.slope * h.t_knee;
        r->t_fall_start = h.t_knee;
        r->t_end = h.t_knee + (base - h.level) / h.slope;
        r->fall_w0 = w0;
        r->fall_w1 = e_idx;
        r->fall_l10 = l10;
        return;
    }
    if (!h.found && e_idx > i50 && e_idx <= pt->hi_bound && e_idx < d->sig->n) {
        double t0 = t_s(d, e_idx - 1), t1 = t_s(d, e_idx);
        if (t1 > t0 && -drop / (t1 - t0) < d->p->fall_below_w_per_s) {
            r->have_fall = 1;
            r->fall_slope = -drop / (t1 - t0);
            r->fall_intercept = base - r->fall_slope * t1;
            r->t_fall_start = t0;
            r->t_end = t1;
        }
    }
}

/* Median and robust stdev (1.4826 MAD) of the raw points [i0, i1). */
static void level_and_noise(detector *d, size_t i0, size_t i1, double *level, double *sigma)
{
    *level = median_range(d, d->sig->v, i0, i1);
    for (size_t i = i0; i < i1; i++)
        d->scratch[i - i0] = fabs(d->sig->v[i] - *level);
    size_t m = i1 - i0;
    qsort(d->scratch, m, sizeof *d->scratch, cmp_double);
    *sigma = m ? 1.4826 * d->scratch[m / 2] : 0.0;
}

/* When a step from level `high` to `low` happened between two points
 * (window centres t0 < t1 of a sensor that averages over w seconds): a
 * point further than 3 sigma (of its own side's noise) from its side's
 * level saw the step inside its window, at the fraction of the window spent
 * high; otherwise the step fell in the blind time between the two windows
 * and is taken at its middle. */
static double step_time(double v0, double v1, double t0, double t1, double high, double sig_hi,
                        double low, double sig_lo, double w)
{
    double gap = high - low;
    if (w > 0 && gap > 0) {
        int mixed0 = high - v0 > fmax(3.0 * sig_hi, 0.05 * gap) && v0 > low;
        int mixed1 = v1 - low > fmax(3.0 * sig_lo, 0.05 * gap) && v1 < high;
        if (mixed0 && !mixed1)
            return t0 - 0.5 * w + (v0 - low) / gap * w;
        if (mixed1 && !mixed0)
            return t1 - 0.5 * w + (v1 - low) / gap * w;
    }
    return 0.5 * ((t0 + 0.5 * w) + (t1 - 0.5 * w));
}

/* Time where the smoothed signal last crosses halfway from the part's
 * top down to base_hi (a robust first guess of the fall); the part's end
 * if it has no fall. */
static double fall_half_time(detector *d, const part *pt)
{
    if (isnan(pt->base_hi) || pt->b <= pt->a)
        return t_s(d, pt->b);
    /* The part's median level is its decode level (a prefill is shorter). */
    double level = median_range(d, d->s, pt->a, pt->b + 1);
    double l50 = pt->base_hi + 0.5 * (level - pt->base_hi);
    size_t i50 = pt->b;
    while (i50 > pt->a && d->s[i50] < l50)
        i50--;
    return t_s(d, i50);
}

/* Prefill = the first peak after the ramp: if the level right after the
 * ramp is clearly above the decode level, its end is the best single step
 * (least squares on the raw points) in the first part of the decode. */
static void prefill_end(detector *d, const part *pt, part_result *r)
{
    r->t_prefill_end = r->t_ramp_end;
    if (!r->have_ramp)
        return;
    size_t s0 = pt->a, b = pt->b;
    while (s0 <= b && t_s(d, s0) < r->t_ramp_end)
        s0++;
    size_t s1 = s0;
    while (s1 <= b && t_s(d, s1) < r->t_fall_start)
        s1++;
    if (s1 <= s0 + 3)
        return;
    double peak_level = level_from(d, s0, s0, s1 - 1, -INFINITY, 0.3, +1);
    /* Decode level: the median of the points clearly below the peak (a
     * short decode may be shorter than the prefill). */
    size_t nb = 0;
    for (size_t i = s0; i < s1; i++)
        if (d->sig->v[i] < peak_level - fmax(0.03 * peak_level, 10.0))
            d->scratch[nb++] = d->sig->v[i];
    if (nb == 0)
        return;
    qsort(d->scratch, nb, sizeof *d->scratch, cmp_double);
    double decode_level = d->scratch[nb / 2];
    double gap = peak_level - decode_level;
    if (!(gap > 0.05 * fabs(decode_level) && gap > 10.0))
        return;
    double mid = 0.5 * (peak_level + decode_level);
    size_t w1 = s0;
    while (w1 < s1 && d->s[w1] >= mid)
        w1++;
    size_t lim = w1;
    while (lim < s1 && t_s(d, lim) - t_s(d, w1) < 1.0)
        lim++;
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
    if (best_k == s0)
        return;
    /* Where the line from the last high to the first low point crosses the
     * middle of the two levels. */
    double nl = (double)(best_k - s0), nr = (double)(lim - best_k);
    double lsum = left_at(d, s0, best_k);
    double lvl = 0.5 * (lsum / nl + (tot - lsum) / nr);
    double high, sig_hi, low, sig_lo;
    level_and_noise(d, s0, best_k, &high, &sig_hi);
    level_and_noise(d, best_k, lim, &low, &sig_lo);
    double t0 = t_s(d, best_k - 1), t1 = t_s(d, best_k);
    double w = (double)d->sig->window_ns / NS_PER_S;
    r->t_prefill_end =
        step_time(d->sig->v[best_k - 1], d->sig->v[best_k], t0, t1, high, sig_hi, low, sig_lo, w);
    (void)lvl;
}

/* Valleys inside an active region: a fall cut short by a new request,
 * i.e. the smoothed signal dips clearly below the decode level and then
 * rises clearly above it (to a new prefill peak) within 3 s. Returns the
 * number found; their indices (the minima) go to out[]. */
static size_t find_valleys(detector *d, size_t a, size_t b, double peak_hint,
                           double ramp_hint_w_per_s, size_t *out, size_t max)
{
    if (b < a + 10)
        return 0;
    double D = median_range(d, d->sig->v, a, b + 1);
    for (size_t i = a; i <= b; i++)
        d->scratch[i - a] = fabs(d->s[i] - D);
    size_t m = b + 1 - a;
    qsort(d->scratch, m, sizeof *d->scratch, cmp_double);
    /* Noise of the decode level from the lower quartile of the deviations
     * (for Gaussian noise, P(|x| < 0.3186 sigma) = 0.25): ramps, falls and
     * prefills inside the region lie far out and do not inflate it. */
    double sigma = d->scratch[m / 4] / 0.3186;
    double dip = D - fmax(2.0 * sigma, 0.15 * (D - d->p->idle_below_w));
    /* Never ask for a dip below 30 % of the way up from the idle threshold,
     * nor for a rise beyond 80 % of the way to the prefill peak: a region
     * full of short requests inflates sigma. */
    double idle = d->p->idle_below_w;
    dip = fmax(dip, idle + 0.3 * (D - idle));
    double rise_to = D + fmax(3.0 * sigma, 0.5 * (peak_hint - D));
    if (peak_hint > D)
        rise_to = fmin(rise_to, D + 0.8 * (peak_hint - D));
    else
        rise_to = D + fmax(4.0 * sigma, 0.1 * D);
    size_t n = 0, i = a;
    while (i <= b && n < max) {
        if (d->s[i] >= dip) {
            i++;
            continue;
        }
        size_t lo = i;
        while (i <= b && d->s[i] < dip)
            i++;
        size_t mn = lo;
        for (size_t k = lo; k < i; k++)
            if (d->s[k] < d->s[mn])
                mn = k;
        /* Rise to a new peak within 3 s after the minimum. */
        int rises = 0;
        double max_rise_s = 2.5;
        if (ramp_hint_w_per_s > 0) /* as fast as a ramp (with slack for the smoothing) */
            max_rise_s = fmin(2.5, 1.5 * (rise_to - d->s[mn]) / ramp_hint_w_per_s + 0.3);
        for (size_t k = mn; k <= b && t_s(d, k) - t_s(d, mn) <= max_rise_s; k++)
            if (d->s[k] >= rise_to) {
                rises = 1;
                break;
            }
        /* It must also come down from the decode level (not the region's start). */
        int from_decode = 0;
        for (size_t k = mn; k-- > a && t_s(d, mn) - t_s(d, k) <= 4.0;)
            if (d->s[k] >= D - sigma) {
                from_decode = 1;
                break;
            }
        if (rises && from_decode)
            out[n++] = mn;
    }
    return n;
}

/* Valleys found from the prefill plateaus: every later stretch of >= 3
 * publications at the level of the region's first prefill (within tol) is
 * a new request's prefill; its valley is the lowest point in the ramp time
 * before it. Decode noise does not make flat plateaus at the prefill level,
 * so this finds shallow valleys that a dip threshold cannot. */
static size_t find_valleys_plateau(detector *d, size_t first_end, size_t b, double P, double tol,
                                   double ramp_w_per_s, size_t *out, size_t max)
{
    size_t n = 0, i = first_end, last = first_end;
    double back_s = (P - d->p->idle_below_w) / ramp_w_per_s + 0.5;
    while (i <= b && n < max) {
        if (fabs(d->sig->v[i] - P) > tol) {
            i++;
            continue;
        }
        size_t start = i;
        while (i <= b && fabs(d->sig->v[i] - P) <= tol)
            i++;
        if (i - start < 3) {
            last = i;
            continue;
        }
        size_t mn = start;
        for (size_t k = start; k-- > last && t_s(d, start) - t_s(d, k) <= back_s;)
            if (d->sig->v[k] < d->sig->v[mn])
                mn = k;
        if (mn < start && d->sig->v[mn] < P - 3.0 * tol && (n == 0 || mn > out[n - 1]))
            out[n++] = mn;
        last = i;
    }
    return n;
}

#define MAX_VALLEYS 4096

/* Detects the phases of one active region and emits the segments from the
 * cursor to its end (the idle before it included). */
static int detect_region(detector *d, const region *rg)
{
    size_t a = rg->a, b = rg->b;
    double base_pre = a > rg->idle0 ? baseline(d, rg->idle0, a, 30, 1) : NAN;
    /* Busy from the first publication on, but that one is idle (a request
     * right at the start): it is the baseline. */
    if (isnan(base_pre) && d->sig->v[rg->idle0] < d->p->idle_below_w)
        base_pre = d->sig->v[rg->idle0];
    double base_post = b < rg->idle1 ? baseline(d, b + 1, rg->idle1 + 1, 30, 0) : NAN;
    size_t pk = first_peak(d, a, b, isnan(base_pre) ? 0 : base_pre);
    size_t valleys[MAX_VALLEYS];
    /* The region's first ramp tells how fast a new request's ramp rises. */
    part whole = {a, b, rg->idle0, rg->idle1, base_pre, base_post};
    part_result first = {0};
    rising_edge(d, &whole, &first);
    size_t nv = 0;
    /* The first prefill plateau: its level and noise. */
    double tol0 = fmax(0.02 * first.top_level, 5.0);
    size_t ps = first.top_index;
    while (first.have_ramp && ps <= b && ps < first.top_index + 5 &&
           fabs(d->sig->v[ps] - first.top_level) > tol0)
        ps++;
    size_t pe = ps;
    while (first.have_ramp && pe <= b && fabs(d->sig->v[pe] - first.top_level) <= tol0)
        pe++;
    if (first.have_ramp && pe >= ps + 3) {
        double level, noise;
        level_and_noise(d, ps, pe, &level, &noise);
        double tol = fmax(4.0 * noise, fmax(0.01 * level, 3.0));
        nv = find_valleys_plateau(d, pe, b, level, tol, first.ramp_slope, valleys, MAX_VALLEYS);
    } else {
        nv = find_valleys(d, a, b, d->s[pk], first.have_ramp ? first.ramp_slope : 0.0, valleys,
                          MAX_VALLEYS);
    }
    int rc;
    for (size_t k = 0; k <= nv; k++) {
        part pt;
        pt.a = k == 0 ? a : valleys[k - 1];
        pt.b = k == nv ? b : valleys[k];
        pt.lo_bound = k == 0 ? rg->idle0 : valleys[k - 1];
        pt.hi_bound = k == nv ? rg->idle1 : valleys[k];
        pt.base_lo = k == 0 ? base_pre : d->s[valleys[k - 1]];
        pt.base_hi = k == nv ? base_post : d->s[valleys[k]];
        part_result r = {0};
        rising_edge(d, &pt, &r);
        /* Prefill first (against a provisional fall), so that the fall's
         * fit window does not reach back into the prefill peak. */
        r.t_fall_start = fall_half_time(d, &pt);
        r.t_end = t_s(d, pt.b);
        prefill_end(d, &pt, &r);
        double t_after_prefill = r.have_ramp ? fmax(r.t_prefill_end, r.t_ramp_end) : r.t_start;
        size_t lo_limit = pt.a;
        while (lo_limit < pt.b && t_s(d, lo_limit) < t_after_prefill)
            lo_limit++;
        double t_prefill_guess = r.t_prefill_end;
        falling_edge(d, &pt, lo_limit, &r);
        /* The start of a part after a valley is fixed by the previous part. */
        double t_cursor = (double)(d->cursor_ns - d->sig->t_first_ns) / NS_PER_S;
        if (k > 0) {
            r.t_start = fmax(r.t_start, t_cursor);
            r.t_ramp_end = fmax(r.t_ramp_end, r.t_start);
        }
        if (r.t_end < r.t_ramp_end)
            r.t_end = r.t_ramp_end;
        r.t_fall_start = fmin(fmax(r.t_fall_start, r.t_ramp_end), r.t_end);
        r.t_prefill_end = fmin(t_prefill_guess, r.t_fall_start);
        if (r.have_fall && r.fall_w1 > r.fall_w0) {
            size_t lo = pt.a;
            while (lo < pt.b && t_s(d, lo) < r.t_prefill_end)
                lo++;
            refine_fall(d, lo, r.fall_w0, r.fall_w1, pt.base_hi, r.fall_l10, &r.t_fall_start,
                        &r.t_end, &r.fall_slope, &r.fall_intercept);
            r.t_fall_start = fmin(fmax(r.t_fall_start, r.t_prefill_end), r.t_end);
        }
        /* At a valley the fall ends where the next ramp starts: the two
         * lines' intersection when the next part has a ramp. */
        if (k < nv && r.have_fall) {
            part nx;
            nx.a = valleys[k];
            nx.b = k + 1 == nv ? b : valleys[k + 1];
            nx.lo_bound = valleys[k];
            nx.base_lo = d->s[valleys[k]];
            part_result nr = {0};
            rising_edge(d, &nx, &nr);
            if (nr.have_ramp && nr.ramp_slope != r.fall_slope) {
                double tv = (r.fall_intercept - nr.ramp_intercept) / (nr.ramp_slope - r.fall_slope);
                if (tv > r.t_fall_start && tv < nr.t_ramp_end)
                    r.t_end = tv;
            }
        }
        if (k == 0 && (rc = emit(d, FM_PHASE_IDLE, to_ns(d, r.t_start))))
            return rc;
        if (r.have_ramp && (rc = emit(d, FM_PHASE_RAMP, to_ns(d, r.t_ramp_end))))
            return rc;
        size_t first_new = d->n_seg;
        if ((rc = emit(d, FM_PHASE_PREFILL, to_ns(d, r.t_prefill_end))) ||
            (rc = emit(d, FM_PHASE_DECODE, to_ns(d, r.t_fall_start))))
            return rc;
        fm_phase last = r.have_fall ? FM_PHASE_FALL : FM_PHASE_DECODE;
        if ((rc = emit(d, last, to_ns(d, r.t_end))))
            return rc;
        (void)first_new;
        /* Record the fitted rates on the segments just emitted. */
        for (size_t i = d->n_seg; i-- > 0;) {
            fm_segment *sg = &d->seg[i];
            if (sg->end_ns <= to_ns(d, r.t_start))
                break;
            if (sg->phase == FM_PHASE_RAMP && r.have_ramp)
                sg->ramp_rate_w_per_s = r.ramp_slope;
            if (sg->phase == FM_PHASE_FALL && r.have_fall)
                sg->ramp_rate_w_per_s = r.fall_slope;
        }
    }
    return FM_OK;
}

int fm_phases_detect_signal(const fm_phase_signal *sig, const fm_phase_params *params,
                            fm_segment **out, size_t *count, fm_error *err)
{
    fm_phase_params used;
    if (params)
        used = *params;
    else
        fm_phase_params_default(&used);
    *out = NULL;
    *count = 0;
    if (!isfinite(used.idle_below_w)) { /* automatic: derived from this signal */
        fm_idle_threshold idle;
        int idle_rc = fm_phases_idle_threshold(sig, &used, &idle, err);
        if (idle_rc)
            return idle_rc;
        used.idle_below_w = idle.threshold_w;
    }
    params = &used;
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
    fm_phase_running_median(sig->v, sig->n, fm_phase_smooth_half_width(sig, params->smooth_s), d.s);
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
