/* Power derivatives and ramp rates (see firmus/metrics.h): dP/dt on the
 * deduplicated sensor updates with the effective resolution stated, and
 * the steepest rise and fall of the held signal sustained over a window of
 * at least two sensor periods. */
#include "firmus/metrics.h"

#include <math.h>

int fm_power_derivatives(const fm_series *power, fm_series *dpdt_out, double *resolution_s)
{
    fm_series_init(dpdt_out);
    if (resolution_s) {
        int64_t period_ns = fm_series_update_period_ns(power);
        *resolution_s = period_ns > 0 ? (double)period_ns / 1e9 : NAN;
    }
    fm_series updates;
    int rc = fm_series_dedup_held(power, &updates);
    if (rc)
        return rc;
    rc = fm_series_derivative(&updates, dpdt_out);
    fm_series_free(&updates);
    return rc;
}

int fm_power_ramp_extremes_updates(const fm_series *updates, int64_t data_end_ns, int64_t window_ns,
                                   fm_ramp_extremes *out)
{
    out->max_rise_w_per_s = out->max_fall_w_per_s = NAN;
    out->rise_at_ns = out->fall_at_ns = 0;
    if (window_ns <= 0)
        window_ns = 2 * fm_series_update_period_ns(updates);
    out->window_ns = window_ns;
    if (window_ns <= 0)
        return FM_OK; /* no period, no window: nothing can be said */
    const fm_series *d = updates;
    double window_s = (double)window_ns / 1e9;
    size_t j = 0; /* the update holding at t_i + window */
    for (size_t i = 0; i < d->n; i++) {
        int64_t t_end = d->t_ns[i] + window_ns;
        if (t_end > data_end_ns)
            break;
        if (j < i)
            j = i;
        while (j + 1 < d->n && d->t_ns[j + 1] <= t_end)
            j++;
        double slope = (d->v[j] - d->v[i]) / window_s;
        if (isnan(out->max_rise_w_per_s) || slope > out->max_rise_w_per_s) {
            out->max_rise_w_per_s = slope;
            out->rise_at_ns = d->t_ns[i];
        }
        if (isnan(out->max_fall_w_per_s) || slope < out->max_fall_w_per_s) {
            out->max_fall_w_per_s = slope;
            out->fall_at_ns = d->t_ns[i];
        }
    }
    return FM_OK;
}

int fm_power_ramp_extremes(const fm_series *power, int64_t window_ns, fm_ramp_extremes *out)
{
    fm_series updates;
    int rc = fm_series_dedup_held(power, &updates);
    if (rc)
        return rc;
    /* The data end at the last poll, not at the last update. */
    int64_t data_end_ns = power->n ? power->t_ns[power->n - 1] : 0;
    rc = fm_power_ramp_extremes_updates(&updates, data_end_ns, window_ns, out);
    fm_series_free(&updates);
    return rc;
}
