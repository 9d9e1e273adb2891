/* First-order thermal response fit: over a busy period after a power
 * step, T(t) = T_inf - B exp(-(t - t0)/tau). For a fixed tau the model is
 * linear in (T_inf, B), so tau is found by a scan on a log grid and then a
 * golden-section refinement of the least-squares error. */
#include "firmus/profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

typedef struct tpoints {
    double *t; /* s from t0 */
    double *v; /* degrees C */
    size_t n;
} tpoints;

/* Least squares of v = A - B e^{-t/tau}; returns SSE, fills A and B. */
static double sse_for_tau(const tpoints *p, double tau, double *A, double *B)
{
    double sx = 0, sxx = 0, sv = 0, sxv = 0, svv = 0, n = (double)p->n;
    for (size_t i = 0; i < p->n; i++) {
        double x = -exp(-p->t[i] / tau), v = p->v[i];
        sx += x;
        sxx += x * x;
        sv += v;
        sxv += x * v;
        svv += v * v;
    }
    double den = n * sxx - sx * sx;
    if (den <= 1e-12)
        return INFINITY;
    *B = (n * sxv - sx * sv) / den;
    *A = (sv - *B * sx) / n;
    return svv - 2 * *A * sv - 2 * *B * sxv + n * *A * *A + 2 * *A * *B * sx + *B * *B * sxx;
}

void fm_thermal_fit_step(const fm_series *temp_c, int64_t t0_ns, int64_t t1_ns, fm_thermal_fit *out)
{
    memset(out, 0, sizeof *out);
    out->tau_s = out->t_inf_c = out->t_start_c = out->rise_rate_c_per_s = out->r2 = NAN;
    out->window_s = (double)(t1_ns - t0_ns) / NS_PER_S;
    if (out->window_s < 5.0)
        return;
    tpoints p = {malloc(temp_c->n * sizeof(double)), malloc(temp_c->n * sizeof(double)), 0};
    if (!p.t || !p.v)
        goto done;
    for (size_t i = 0; i < temp_c->n; i++) {
        if (temp_c->t_ns[i] < t0_ns || temp_c->t_ns[i] > t1_ns || isnan(temp_c->v[i]))
            continue;
        p.t[p.n] = (double)(temp_c->t_ns[i] - t0_ns) / NS_PER_S;
        p.v[p.n] = temp_c->v[i];
        p.n++;
    }
    if (p.n < 10)
        goto done;
    double mean = 0, ss_tot = 0;
    for (size_t i = 0; i < p.n; i++)
        mean += p.v[i];
    mean /= (double)p.n;
    for (size_t i = 0; i < p.n; i++)
        ss_tot += (p.v[i] - mean) * (p.v[i] - mean);
    if (ss_tot <= 0)
        goto done;
    double A, B, best = INFINITY, best_tau = NAN;
    double lo = 0.2, hi = 10.0 * out->window_s;
    for (int k = 0; k <= 200; k++) {
        double tau = lo * pow(hi / lo, k / 200.0);
        double e = sse_for_tau(&p, tau, &A, &B);
        if (e < best) {
            best = e;
            best_tau = tau;
        }
    }
    if (isnan(best_tau))
        goto done;
    /* Golden-section search around the best grid point (in log tau). */
    double step = log(hi / lo) / 200.0;
    double a = log(best_tau) - step, b = log(best_tau) + step;
    const double g = 0.6180339887498949;
    for (int it = 0; it < 60; it++) {
        double c = b - g * (b - a), d = a + g * (b - a);
        if (sse_for_tau(&p, exp(c), &A, &B) < sse_for_tau(&p, exp(d), &A, &B))
            b = d;
        else
            a = c;
    }
    double tau = exp(0.5 * (a + b));
    double e = sse_for_tau(&p, tau, &A, &B);
    out->tau_s = tau;
    out->t_inf_c = A;
    out->t_start_c = A - B;
    out->rise_rate_c_per_s = B / tau;
    out->r2 = 1.0 - e / ss_tot;
    out->ok = out->r2 >= 0.9 && B > 0 && tau <= 3.0 * out->window_s;
done:
    free(p.t);
    free(p.v);
}
