/* The running median of phase detection (phases_smooth.h): removes decode
 * noise and single-publication spikes but keeps linear ramps and steps
 * where they are. */
#include "phases_smooth.h"

#include <math.h>

#define NS_PER_S 1e9
#define MAX_HALF_WIDTH 15

size_t fm_phase_smooth_half_width(const fm_phase_signal *sig, double smooth_s)
{
    double period_s = sig->period_ns > 0 ? (double)sig->period_ns / NS_PER_S : 0.1;
    size_t k = (size_t)llround(smooth_s / (2.0 * period_s));
    return k > MAX_HALF_WIDTH ? MAX_HALF_WIDTH : k;
}

void fm_phase_running_median(const double *v, size_t n, size_t k, double *out)
{
    double w[64];
    if (k > 31)
        k = 31;
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
        out[i] = m % 2 ? w[m / 2] : 0.5 * (w[m / 2 - 1] + w[m / 2]);
    }
}
