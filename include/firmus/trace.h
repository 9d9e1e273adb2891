/* Trace maths on one quantity of one GPU: a time series of (t_ns, value)
 * with NAN for missing values. Deduplication of held sensor values,
 * integration with zero-order-hold semantics, derivatives, the estimated
 * sensor update period, resampling to a uniform grid, and summary
 * statistics. Everything here works on memory the caller owns or frees
 * with fm_series_free; nothing reads the store. */
#ifndef FIRMUS_TRACE_H
#define FIRMUS_TRACE_H

#include "firmus/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_series {
    size_t n;
    size_t cap;
    int64_t *t_ns; /* strictly increasing */
    double *v;     /* NAN = missing */
} fm_series;

void fm_series_init(fm_series *s);
int fm_series_reserve(fm_series *s, size_t cap);
int fm_series_push(fm_series *s, int64_t t_ns, double v);
void fm_series_free(fm_series *s);

/* Keeps, for each run of identical consecutive non-missing values, only the
 * first sample (when that value appeared). Missing samples are dropped. */
int fm_series_dedup_held(const fm_series *in, fm_series *out);

/* Estimated update period of a held sensor: the median interval between
 * value changes, in ns; 0 if fewer than 3 changes. */
int64_t fm_series_update_period_ns(const fm_series *s);

/* Integral in value*seconds (W -> J) over [t0_ns, t1_ns] treating each
 * sample as held until the next one (zero-order hold). Gaps longer than
 * max_gap_ns (0 = no limit) are not integrated and are counted in
 * *gap_s (may be NULL). */
double fm_series_integrate_held(const fm_series *s, int64_t t0_ns, int64_t t1_ns,
                                int64_t max_gap_ns, double *gap_s);
/* Trapezoidal integral over [t0_ns, t1_ns] (for comparison with tools that
 * use it). */
double fm_series_integrate_trapz(const fm_series *s, int64_t t0_ns, int64_t t1_ns);

/* dP/dt between consecutive samples of a (deduplicated) series, in
 * value/second, stamped at the later sample. */
int fm_series_derivative(const fm_series *s, fm_series *out);

/* Zero-order-hold resample onto t0, t0+step, ... <= t1. Points before the
 * first sample are NAN. */
int fm_series_resample_held(const fm_series *s, int64_t t0_ns, int64_t t1_ns, int64_t step_ns,
                            fm_series *out);
/* Mean of the held signal in each [t, t+step) bin (time-weighted). */
int fm_series_resample_mean(const fm_series *s, int64_t t0_ns, int64_t t1_ns, int64_t step_ns,
                            fm_series *out);

/* Summary of the non-missing values in [t0_ns, t1_ns] (all samples when
 * t1_ns <= t0_ns). cv = population stdev / mean. */
typedef struct fm_stats {
    size_t n;
    double mean;
    double stdev;
    double cv;
    double min;
    double max;
} fm_stats;
fm_stats fm_series_stats(const fm_series *s, int64_t t0_ns, int64_t t1_ns);

/* p-th percentile (0..100) of an array (copied; input untouched). NAN if n == 0. */
double fm_percentile(const double *v, size_t n, double p);
/* Median of an array of integers (copied; input untouched): the upper one,
 * v[n/2] once sorted. 0 if n == 0 or out of memory. */
int64_t fm_median_i64(const int64_t *v, size_t n);

#ifdef __cplusplus
}
#endif
#endif
