/* The recorder's tick grid: which tick comes next after an overrun (no
 * drift: deadlines are always t0 + k*interval; a tick less than half an
 * interval late runs late, one later than that is skipped and counted as
 * missed), and the jitter histogram
 * from which p50/p99/max are reported. */
#include "record/record_internal.h"

#include <math.h>
#include <stdlib.h>

int fm_tick_stats_init(fm_tick_stats *ts)
{
    ts->bins = calloc(FM_JITTER_BINS, sizeof *ts->bins);
    ts->overflow = 0;
    ts->count = 0;
    ts->max_ns = 0;
    ts->first_tick_ns = 0;
    ts->last_tick_ns = 0;
    return ts->bins ? FM_OK : FM_ERR_NOMEM;
}

void fm_tick_stats_free(fm_tick_stats *ts)
{
    free(ts->bins);
    ts->bins = NULL;
}

void fm_tick_stats_add(fm_tick_stats *ts, int64_t deadline_ns, int64_t actual_ns)
{
    int64_t jitter_ns = actual_ns - deadline_ns;
    if (jitter_ns < 0)
        jitter_ns = -jitter_ns;
    int64_t bin = jitter_ns / 1000;
    if (bin < FM_JITTER_BINS)
        ts->bins[bin]++;
    else
        ts->overflow++;
    if (jitter_ns > ts->max_ns)
        ts->max_ns = jitter_ns;
    if (ts->count == 0)
        ts->first_tick_ns = actual_ns;
    ts->last_tick_ns = actual_ns;
    ts->count++;
}

/* The value reported for a bin is its lower edge (whole microseconds):
 * p50 = 0 means "under 1 us". Overflow ticks report the exact maximum. */
double fm_tick_stats_percentile_us(const fm_tick_stats *ts, double p)
{
    if (ts->count == 0)
        return NAN;
    /* rank of the wanted tick, 1-based (nearest-rank definition) */
    int64_t rank = (int64_t)ceil(p / 100.0 * (double)ts->count);
    if (rank < 1)
        rank = 1;
    int64_t seen = 0;
    for (int64_t bin = 0; bin < FM_JITTER_BINS; bin++) {
        seen += ts->bins[bin];
        if (seen >= rank)
            return (double)bin;
    }
    return (double)ts->max_ns / 1000.0;
}

int64_t fm_tick_next(int64_t t0_ns, int64_t interval_ns, int64_t k_done, int64_t now_ns,
                     int64_t *missed)
{
    int64_t next = k_done + 1;
    /* A tick less than half an interval late still runs (late: the jitter
     * statistics show it); a sample is better than a gap. */
    if (now_ns - (t0_ns + next * interval_ns) < interval_ns / 2)
        return next;
    /* Overran: the first deadline at or after now. */
    int64_t k_now = (now_ns - t0_ns + interval_ns - 1) / interval_ns;
    if (missed)
        *missed += k_now - next;
    return k_now;
}
