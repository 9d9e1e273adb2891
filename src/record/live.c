/* Running energy per GPU during a recording (for the live status line and
 * the quick total in fm_record_result) and the live status line itself.
 * The authoritative figures come later from fm_metrics_compute on the
 * stored samples; this is the "so far" view. */
#include "record/live.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void fm_live_energy_init(fm_live_energy *e)
{
    memset(e, 0, sizeof *e);
    e->first_counter_j = NAN;
    e->last_counter_j = NAN;
    e->last_power_w = NAN;
    e->last_avg_w = NAN;
}

void fm_live_energy_add(fm_live_energy *e, const fm_sample *s)
{
    if (s->valid & FM_F_ENERGY) {
        if (isnan(e->first_counter_j))
            e->first_counter_j = s->energy_j;
        e->last_counter_j = s->energy_j;
    }
    if (s->valid & FM_F_POWER_AVG)
        e->last_avg_w = s->power_avg_w;
    /* Zero-order hold of the instant power between samples. */
    if (e->have_last && !isnan(e->last_power_w))
        e->instant_j += e->last_power_w * (double)(s->t_ns - e->last_t_ns) / 1e9;
    e->last_t_ns = s->t_ns;
    e->have_last = 1;
    e->last_power_w = (s->valid & FM_F_POWER_INSTANT) ? s->power_instant_w : NAN;
}

double fm_live_energy_j(const fm_live_energy *e, const char **source)
{
    if (!isnan(e->first_counter_j)) {
        if (source)
            *source = "energy_counter";
        return e->last_counter_j - e->first_counter_j;
    }
    if (source)
        *source = "power_instant";
    return e->instant_j;
}

double fm_live_power_w(const fm_live_energy *e)
{
    return !isnan(e->last_power_w) ? e->last_power_w : e->last_avg_w;
}

void fm_live_print(FILE *out, double elapsed_s, const fm_live_energy *gpus, const int *active,
                   int n)
{
    char line[512];
    int len = snprintf(line, sizeof line, "\r\033[K[firmus] %7.1f s ", elapsed_s);
    double total_w = 0, total_j = 0;
    for (int i = 0; i < n; i++) {
        double p = fm_live_power_w(&gpus[i]);
        total_j += fm_live_energy_j(&gpus[i], NULL);
        if (active[i] && !isnan(p))
            total_w += p;
        if (n > 8 || len >= (int)sizeof line - 64)
            continue; /* per-GPU figures for up to 8 GPUs */
        if (!active[i])
            len += snprintf(line + len, sizeof line - (size_t)len, " gpu%d lost", i);
        else if (isnan(p))
            len += snprintf(line + len, sizeof line - (size_t)len, " gpu%d   n/a", i);
        else
            len += snprintf(line + len, sizeof line - (size_t)len, " gpu%d %4.0f W", i, p);
    }
    snprintf(line + len, sizeof line - (size_t)len, " | total %5.0f W  %.3f kJ", total_w,
             total_j / 1000.0);
    fputs(line, out);
    fflush(out);
}

void fm_live_clear(FILE *out)
{
    fputs("\r\033[K", out);
    fflush(out);
}
