/* The power signal phase detection works on (fm_phase_signal), and the
 * characteristics of a segment of it (fm_segment_measure): deduplicated
 * held values, moved back by half the polling interval, integrated
 * piecewise-linearly. Also the per-type summary of a segment list. */
#include "firmus/phases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

/* Median interval between consecutive non-missing samples. */
static int64_t median_poll_ns(const fm_series *s)
{
    if (s->n < 2)
        return 0;
    int64_t *d = malloc((s->n - 1) * sizeof *d);
    if (!d)
        return 0;
    size_t m = 0;
    int64_t prev = -1;
    int have_prev = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (isnan(s->v[i]))
            continue;
        if (have_prev)
            d[m++] = s->t_ns[i] - prev;
        prev = s->t_ns[i];
        have_prev = 1;
    }
    int64_t med = fm_median_i64(d, m); /* 0 when m == 0 */
    free(d);
    return med;
}

/* Keeps one point per sensor publication: the first sample of each new
 * value, and a repeated value again once a whole update period has passed
 * (the sensor republished the same reading, e.g. a flat idle). */
static int keep_publications(const fm_series *in, int64_t period_ns, int64_t poll_ns,
                             fm_series *out)
{
    fm_series_init(out);
    int have_last = 0;
    double last = 0.0;
    int64_t last_t = 0;
    int64_t repeat_ns = period_ns > 0 ? period_ns - poll_ns / 2 : 0;
    for (size_t i = 0; i < in->n; i++) {
        double v = in->v[i];
        if (isnan(v))
            continue;
        if (have_last && v == last && (repeat_ns <= 0 || in->t_ns[i] - last_t < repeat_ns))
            continue;
        if (fm_series_push(out, in->t_ns[i], v)) {
            fm_series_free(out);
            return FM_ERR_NOMEM;
        }
        last = v;
        last_t = in->t_ns[i];
        have_last = 1;
    }
    return FM_OK;
}

int fm_phase_signal_prepare(const fm_series *power_w, fm_phase_signal *out, fm_error *err)
{
    return fm_phase_signal_prepare_window(power_w, FM_INSTANT_WINDOW_S, out, err);
}

int fm_phase_signal_prepare_window(const fm_series *power_w, double window_s, fm_phase_signal *out,
                                   fm_error *err)
{
    memset(out, 0, sizeof *out);
    out->poll_ns = median_poll_ns(power_w);
    out->period_ns = fm_series_update_period_ns(power_w);
    fm_series pubs;
    int rc = keep_publications(power_w, out->period_ns, out->poll_ns, &pubs);
    if (rc)
        return fm_fail(err, rc, "phase detection: out of memory");
    if (pubs.n == 0) {
        fm_series_free(&pubs);
        return fm_fail(err, FM_ERR, "phase detection: the power series has no readings");
    }
    size_t valid = 0;
    for (size_t i = 0; i < power_w->n; i++)
        valid += !isnan(power_w->v[i]);
    /* A value changes when a poll first sees it: somewhere in the poll
     * interval before. That ambiguity exists only when polling is faster
     * than the sensor (held duplicates were dropped). */
    out->window_ns = window_s > 0 ? (int64_t)llround(window_s * NS_PER_S) : 0;
    out->shift_ns = (pubs.n < valid ? out->poll_ns / 2 : 0) + out->window_ns / 2;
    size_t first = 0;
    while (first < power_w->n && isnan(power_w->v[first]))
        first++;
    size_t last = power_w->n;
    while (last > 0 && isnan(power_w->v[last - 1]))
        last--;
    out->t_first_ns = power_w->t_ns[first];
    out->t_last_ns = power_w->t_ns[last - 1];
    out->n = pubs.n;
    out->t_ns = pubs.t_ns;
    out->v = pubs.v;
    for (size_t i = 0; i < out->n; i++) {
        int64_t t = out->t_ns[i] - out->shift_ns;
        if (t < out->t_first_ns)
            t = out->t_first_ns;
        if (i > 0 && t <= out->t_ns[i - 1])
            t = out->t_ns[i - 1] + 1;
        out->t_ns[i] = t;
    }
    return FM_OK;
}

void fm_phase_signal_free(fm_phase_signal *sig)
{
    if (!sig)
        return;
    free(sig->t_ns);
    free(sig->v);
    memset(sig, 0, sizeof *sig);
}

/* First index with t_ns >= t (n if none). */
static size_t lower_bound(const fm_phase_signal *sig, int64_t t)
{
    size_t lo = 0, hi = sig->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sig->t_ns[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The piecewise-linear signal at time t (held flat outside the points). */
static double value_at(const fm_phase_signal *sig, int64_t t)
{
    size_t i = lower_bound(sig, t);
    if (i == 0)
        return sig->v[0];
    if (i >= sig->n)
        return sig->v[sig->n - 1];
    double span = (double)(sig->t_ns[i] - sig->t_ns[i - 1]);
    double f = (double)(t - sig->t_ns[i - 1]) / span;
    return sig->v[i - 1] + f * (sig->v[i] - sig->v[i - 1]);
}

/* Integral (W*s) of the piecewise-linear signal over [t0, t1]. */
static double integrate_linear(const fm_phase_signal *sig, int64_t t0, int64_t t1)
{
    if (t1 <= t0)
        return 0.0;
    double sum = 0.0;
    int64_t a = t0;
    double va = value_at(sig, t0);
    for (size_t i = lower_bound(sig, t0 + 1); i < sig->n && sig->t_ns[i] < t1; i++) {
        sum += 0.5 * (va + sig->v[i]) * (double)(sig->t_ns[i] - a) / NS_PER_S;
        a = sig->t_ns[i];
        va = sig->v[i];
    }
    double vb = value_at(sig, t1);
    sum += 0.5 * (va + vb) * (double)(t1 - a) / NS_PER_S;
    return sum;
}

/* Energy of one segment: the piecewise-linear signal between the
 * publications inside it, and at its two edges an extension that follows
 * the phase's shape instead of interpolating across the boundary into the
 * next phase (a step from prefill to decode would otherwise be smeared over
 * a whole sensor period): flat phases hold their nearest value, ramps and
 * falls follow their least-squares line. */
static double segment_energy(const fm_phase_signal *sig, fm_phase phase, int64_t start_ns,
                             int64_t end_ns)
{
    size_t i0 = lower_bound(sig, start_ns), i1 = lower_bound(sig, end_ns);
    if (i1 <= i0 + 1 || end_ns <= start_ns)
        return integrate_linear(sig, start_ns, end_ns);
    double inner = integrate_linear(sig, sig->t_ns[i0], sig->t_ns[i1 - 1]);
    double head_s = (double)(sig->t_ns[i0] - start_ns) / NS_PER_S;
    double tail_s = (double)(end_ns - sig->t_ns[i1 - 1]) / NS_PER_S;
    if (phase != FM_PHASE_RAMP && phase != FM_PHASE_FALL)
        return inner + sig->v[i0] * head_s + sig->v[i1 - 1] * tail_s;
    /* Least-squares line through the segment's points (t from start). */
    double st = 0, sv = 0, stt = 0, stv = 0, m = (double)(i1 - i0);
    for (size_t i = i0; i < i1; i++) {
        double t = (double)(sig->t_ns[i] - start_ns) / NS_PER_S, v = sig->v[i];
        st += t;
        sv += v;
        stt += t * t;
        stv += t * v;
    }
    double den = m * stt - st * st;
    if (den <= 0)
        return inner + sig->v[i0] * head_s + sig->v[i1 - 1] * tail_s;
    double b = (m * stv - st * sv) / den, a = (sv - b * st) / m;
    double t_end = (double)(end_ns - start_ns) / NS_PER_S;
    /* The line at the two edges, kept within the values the segment and
     * its edges show (a line through a few close points can be steep). */
    double lo = fmin(value_at(sig, start_ns), value_at(sig, end_ns));
    double hi = fmax(value_at(sig, start_ns), value_at(sig, end_ns));
    for (size_t i = i0; i < i1; i++) {
        lo = fmin(lo, sig->v[i]);
        hi = fmax(hi, sig->v[i]);
    }
    double v_start = fmin(fmax(a, lo), hi), v_end = fmin(fmax(a + b * t_end, lo), hi);
    double head = 0.5 * (v_start + sig->v[i0]) * head_s;
    double tail = 0.5 * (sig->v[i1 - 1] + v_end) * tail_s;
    return inner + head + tail;
}

double fm_phase_signal_integrate(const fm_phase_signal *sig, int64_t t0_ns, int64_t t1_ns)
{
    return sig->n ? integrate_linear(sig, t0_ns, t1_ns) : 0.0;
}

void fm_segment_measure(const fm_phase_signal *sig, fm_phase phase, int64_t start_ns,
                        int64_t end_ns, fm_segment *out)
{
    memset(out, 0, sizeof *out);
    out->phase = phase;
    out->start_ns = start_ns;
    out->end_ns = end_ns;
    out->ramp_rate_w_per_s = NAN;
    double dur_s = (double)(end_ns - start_ns) / NS_PER_S;
    out->energy_j = segment_energy(sig, phase, start_ns, end_ns);
    /* Publications inside the segment, plus the signal at its edges so a
     * segment shorter than one period still has a level. */
    double sum = 0, sum2 = 0, peak = -INFINITY;
    size_t n = 0;
    double st = 0, sv = 0, stt = 0, stv = 0;
    double edge[2] = {value_at(sig, start_ns), value_at(sig, end_ns)};
    size_t i0 = lower_bound(sig, start_ns), i1 = lower_bound(sig, end_ns);
    for (size_t i = i0; i < i1; i++) {
        double v = sig->v[i];
        sum += v;
        sum2 += v * v;
        peak = fmax(peak, v);
        n++;
        double t = (double)(sig->t_ns[i] - start_ns) / NS_PER_S;
        st += t;
        sv += v;
        stt += t * t;
        stv += t * v;
    }
    if (n == 0) {
        for (int k = 0; k < 2; k++) {
            sum += edge[k];
            sum2 += edge[k] * edge[k];
            peak = fmax(peak, edge[k]);
        }
        n = 2;
    }
    if (phase == FM_PHASE_RAMP || phase == FM_PHASE_FALL)
        peak = fmax(peak, fmax(edge[0], edge[1])); /* a ramp peaks at its end */
    double mean = sum / (double)n;
    double var = fmax(0.0, sum2 / (double)n - mean * mean);
    out->avg_power_w = dur_s > 0 ? out->energy_j / dur_s : mean;
    out->peak_power_w = peak;
    out->power_stdev_w = sqrt(var);
    out->power_cv = out->avg_power_w > 0 ? out->power_stdev_w / out->avg_power_w : NAN;
    if (phase == FM_PHASE_RAMP || phase == FM_PHASE_FALL) {
        size_t m = i1 - i0;
        double den = (double)m * stt - st * st;
        if (m >= 3 && den > 0)
            out->ramp_rate_w_per_s = ((double)m * stv - st * sv) / den;
        else if (dur_s > 0)
            out->ramp_rate_w_per_s = (edge[1] - edge[0]) / dur_s;
    }
}

void fm_phases_summarize(const fm_segment *seg, size_t n, fm_phase_summary out[FM_PHASE_COUNT])
{
    double sum_sq[FM_PHASE_COUNT] = {0}, rate_w[FM_PHASE_COUNT] = {0}, rate_s[FM_PHASE_COUNT] = {0};
    for (int p = 0; p < FM_PHASE_COUNT; p++) {
        memset(&out[p], 0, sizeof out[p]);
        out[p].first = -1;
        out[p].peak_power_w = NAN;
        out[p].ramp_rate_w_per_s = NAN;
    }
    for (size_t i = 0; i < n; i++) {
        fm_phase_summary *s = &out[seg[i].phase];
        double d = (double)(seg[i].end_ns - seg[i].start_ns) / NS_PER_S;
        if (s->first < 0)
            s->first = (int)i;
        s->count++;
        s->total_s += d;
        s->energy_j += seg[i].energy_j;
        s->peak_power_w = isnan(s->peak_power_w) ? seg[i].peak_power_w
                                                 : fmax(s->peak_power_w, seg[i].peak_power_w);
        /* E[P^2] of the segment = stdev^2 + mean^2, weighted by time. */
        sum_sq[seg[i].phase] += d * (seg[i].power_stdev_w * seg[i].power_stdev_w +
                                     seg[i].avg_power_w * seg[i].avg_power_w);
        if (!isnan(seg[i].ramp_rate_w_per_s)) {
            rate_w[seg[i].phase] += d * seg[i].ramp_rate_w_per_s;
            rate_s[seg[i].phase] += d;
        }
    }
    for (int p = 0; p < FM_PHASE_COUNT; p++) {
        fm_phase_summary *s = &out[p];
        if (s->total_s <= 0) {
            s->avg_power_w = s->power_stdev_w = s->power_cv = NAN;
            continue;
        }
        s->avg_power_w = s->energy_j / s->total_s;
        double ex2 = sum_sq[p] / s->total_s;
        s->power_stdev_w = sqrt(fmax(0.0, ex2 - s->avg_power_w * s->avg_power_w));
        s->power_cv = s->avg_power_w > 0 ? s->power_stdev_w / s->avg_power_w : NAN;
        if (rate_s[p] > 0)
            s->ramp_rate_w_per_s = rate_w[p] / rate_s[p];
    }
}
