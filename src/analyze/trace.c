/* Trace maths on one quantity of one GPU (see firmus/trace.h): growable
 * series, deduplication of held sensor values, zero-order-hold and
 * trapezoidal integration, derivatives, the estimated sensor update period,
 * uniform resampling and summary statistics. */
#include "firmus/trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

void fm_series_init(fm_series *s)
{
    memset(s, 0, sizeof *s);
}

int fm_series_reserve(fm_series *s, size_t cap)
{
    if (cap <= s->cap)
        return FM_OK;
    int64_t *t = realloc(s->t_ns, cap * sizeof *t);
    if (!t)
        return FM_ERR_NOMEM;
    s->t_ns = t;
    double *v = realloc(s->v, cap * sizeof *v);
    if (!v)
        return FM_ERR_NOMEM;
    s->v = v;
    s->cap = cap;
    return FM_OK;
}

int fm_series_push(fm_series *s, int64_t t_ns, double v)
{
    if (s->n == s->cap) {
        int rc = fm_series_reserve(s, s->cap ? s->cap * 2 : 1024);
        if (rc != FM_OK)
            return rc;
    }
    s->t_ns[s->n] = t_ns;
    s->v[s->n] = v;
    s->n++;
    return FM_OK;
}

void fm_series_free(fm_series *s)
{
    free(s->t_ns);
    free(s->v);
    fm_series_init(s);
}

int fm_series_dedup_held(const fm_series *in, fm_series *out)
{
    fm_series_init(out);
    int have_last = 0;
    double last = 0.0;
    for (size_t i = 0; i < in->n; i++) {
        double v = in->v[i];
        if (isnan(v))
            continue;
        if (have_last && v == last)
            continue;
        int rc = fm_series_push(out, in->t_ns[i], v);
        if (rc != FM_OK) {
            fm_series_free(out);
            return rc;
        }
        last = v;
        have_last = 1;
    }
    return FM_OK;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t fm_series_update_period_ns(const fm_series *s)
{
    fm_series changes;
    if (fm_series_dedup_held(s, &changes) != FM_OK)
        return 0;
    int64_t period = 0;
    if (changes.n >= 3) {
        size_t n = changes.n - 1;
        int64_t *gaps = malloc(n * sizeof *gaps);
        if (gaps) {
            for (size_t i = 0; i < n; i++)
                gaps[i] = changes.t_ns[i + 1] - changes.t_ns[i];
            period = fm_median_i64(gaps, n);
            free(gaps);
        }
    }
    fm_series_free(&changes);
    return period;
}

/* Overlap in seconds of [a0, a1) with [b0, b1). */
static double overlap_s(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    int64_t lo = a0 > b0 ? a0 : b0;
    int64_t hi = a1 < b1 ? a1 : b1;
    return hi > lo ? (double)(hi - lo) / NS_PER_S : 0.0;
}

double fm_series_integrate_held(const fm_series *s, int64_t t0_ns, int64_t t1_ns,
                                int64_t max_gap_ns, double *gap_s)
{
    double sum = 0.0, gaps = 0.0;
    size_t i = 0;
    while (i < s->n && isnan(s->v[i]))
        i++;
    while (i < s->n) {
        size_t next = i + 1;
        while (next < s->n && isnan(s->v[next]))
            next++;
        /* The last valid sample holds until t1 (the caller's window end). */
        int64_t end = next < s->n ? s->t_ns[next] : t1_ns;
        if (max_gap_ns > 0 && end - s->t_ns[i] > max_gap_ns)
            gaps += overlap_s(s->t_ns[i], end, t0_ns, t1_ns);
        else
            sum += s->v[i] * overlap_s(s->t_ns[i], end, t0_ns, t1_ns);
        i = next;
    }
    if (gap_s)
        *gap_s = gaps;
    return sum;
}

double fm_series_integrate_trapz(const fm_series *s, int64_t t0_ns, int64_t t1_ns)
{
    double sum = 0.0;
    for (size_t i = 0; i + 1 < s->n; i++) {
        double a = s->v[i], b = s->v[i + 1];
        if (isnan(a) || isnan(b))
            continue;
        int64_t ta = s->t_ns[i], tb = s->t_ns[i + 1];
        if (tb <= t0_ns || ta >= t1_ns || tb <= ta)
            continue;
        /* Clip the segment to the window, interpolating linearly. */
        double span = (double)(tb - ta);
        int64_t lo = ta < t0_ns ? t0_ns : ta;
        int64_t hi = tb > t1_ns ? t1_ns : tb;
        double va = a + (b - a) * (double)(lo - ta) / span;
        double vb = a + (b - a) * (double)(hi - ta) / span;
        sum += 0.5 * (va + vb) * (double)(hi - lo) / NS_PER_S;
    }
    return sum;
}

int fm_series_derivative(const fm_series *s, fm_series *out)
{
    fm_series_init(out);
    for (size_t i = 0; i + 1 < s->n; i++) {
        if (isnan(s->v[i]) || isnan(s->v[i + 1]))
            continue;
        double dt_s = (double)(s->t_ns[i + 1] - s->t_ns[i]) / NS_PER_S;
        if (dt_s <= 0)
            continue;
        int rc = fm_series_push(out, s->t_ns[i + 1], (s->v[i + 1] - s->v[i]) / dt_s);
        if (rc != FM_OK) {
            fm_series_free(out);
            return rc;
        }
    }
    return FM_OK;
}

/* Number of grid points t0, t0+step, ... <= t1. */
static size_t grid_points(int64_t t0_ns, int64_t t1_ns, int64_t step_ns)
{
    if (step_ns <= 0 || t1_ns < t0_ns)
        return 0;
    return (size_t)((t1_ns - t0_ns) / step_ns) + 1;
}

int fm_series_resample_held(const fm_series *s, int64_t t0_ns, int64_t t1_ns, int64_t step_ns,
                            fm_series *out)
{
    fm_series_init(out);
    size_t n = grid_points(t0_ns, t1_ns, step_ns);
    if (n == 0)
        return FM_ERR_USAGE;
    if (fm_series_reserve(out, n) != FM_OK)
        return FM_ERR_NOMEM;
    size_t j = 0;
    double held = NAN;
    for (size_t k = 0; k < n; k++) {
        int64_t t = t0_ns + (int64_t)k * step_ns;
        while (j < s->n && s->t_ns[j] <= t) {
            if (!isnan(s->v[j]))
                held = s->v[j];
            j++;
        }
        out->t_ns[k] = t;
        out->v[k] = held;
    }
    out->n = n;
    return FM_OK;
}

int fm_series_resample_mean(const fm_series *s, int64_t t0_ns, int64_t t1_ns, int64_t step_ns,
                            fm_series *out)
{
    fm_series_init(out);
    size_t n = grid_points(t0_ns, t1_ns, step_ns);
    if (n == 0)
        return FM_ERR_USAGE;
    if (fm_series_reserve(out, n) != FM_OK)
        return FM_ERR_NOMEM;
    size_t j = 0;
    for (size_t k = 0; k < n; k++) {
        int64_t b0 = t0_ns + (int64_t)k * step_ns, b1 = b0 + step_ns;
        /* j: the last sample at or before b0, the one that holds there. */
        while (j + 1 < s->n && s->t_ns[j + 1] <= b0)
            j++;
        double sum = 0.0, covered = 0.0;
        for (size_t i = j; i < s->n && s->t_ns[i] < b1; i++) {
            if (isnan(s->v[i]))
                continue;
            int64_t end = i + 1 < s->n ? s->t_ns[i + 1] : b1;
            double w = overlap_s(s->t_ns[i], end, b0, b1);
            sum += s->v[i] * w;
            covered += w;
        }
        out->t_ns[k] = b0;
        out->v[k] = covered > 0 ? sum / covered : NAN;
    }
    out->n = n;
    return FM_OK;
}

fm_stats fm_series_stats(const fm_series *s, int64_t t0_ns, int64_t t1_ns)
{
    fm_stats st = {.n = 0, .mean = NAN, .stdev = NAN, .cv = NAN, .min = NAN, .max = NAN};
    int all = t1_ns <= t0_ns;
    double mean = 0.0, m2 = 0.0;
    for (size_t i = 0; i < s->n; i++) {
        double v = s->v[i];
        if (isnan(v) || (!all && (s->t_ns[i] < t0_ns || s->t_ns[i] > t1_ns)))
            continue;
        st.n++;
        double delta = v - mean; /* Welford: stable for long traces */
        mean += delta / (double)st.n;
        m2 += delta * (v - mean);
        if (st.n == 1 || v < st.min)
            st.min = v;
        if (st.n == 1 || v > st.max)
            st.max = v;
    }
    if (st.n == 0)
        return st;
    st.mean = mean;
    st.stdev = sqrt(m2 / (double)st.n);
    st.cv = mean != 0.0 ? st.stdev / mean : NAN;
    return st;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int64_t fm_median_i64(const int64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    int64_t *copy = malloc(n * sizeof *copy);
    if (!copy)
        return 0;
    memcpy(copy, v, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, compare_i64);
    int64_t median = copy[n / 2];
    free(copy);
    return median;
}

double fm_percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double *copy = malloc(n * sizeof *copy);
    if (!copy)
        return NAN;
    memcpy(copy, v, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, compare_double);
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(rank);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double result = copy[lo] + (copy[hi] - copy[lo]) * (rank - (double)lo);
    free(copy);
    return result;
}
