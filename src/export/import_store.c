/* Turns an imported log into a stored run that behaves like a recorded
 * one: devices in log order, samples with t_ns relative to the log's
 * first sample (t0 = 0), the first sample's UTC time as the wall anchor,
 * and metadata saying where the numbers came from. Markers in UTC are
 * converted to the run's time. */
#include "import_common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Earliest and latest sample over all GPUs (UTC ns). */
static void log_span(const fm_import_log *log, int64_t *first, int64_t *last)
{
    *first = INT64_MAX;
    *last = INT64_MIN;
    for (int g = 0; g < log->gpus; g++) {
        const fm_import_gpu *ig = &log->gpu[g];
        if (ig->n == 0)
            continue;
        if (ig->samples[0].t_ns < *first)
            *first = ig->samples[0].t_ns;
        if (ig->samples[ig->n - 1].t_ns > *last)
            *last = ig->samples[ig->n - 1].t_ns;
    }
}

int fm_import_log_to_store(fm_store *st, const fm_import_log *log, fm_run *run, fm_error *err)
{
    for (int g = 0; g < log->gpus; g++)
        if (log->gpu[g].n == 0)
            return fm_fail(err, FM_ERR_PARSE,
                           "the log has no rows for GPU %d (index column "
                           "skips it?)",
                           g);
    int64_t first, last;
    log_span(log, &first, &last);
    snprintf(run->backend, sizeof run->backend, "import");
    snprintf(run->source, sizeof run->source, "import:%.22s", log->format);
    run->start_wall_ns = first;
    run->t0_ns = 0;
    run->end_ns = last - first;
    run->gpus = log->gpus;
    /* The requested interval is unknown: the median spacing of GPU 0. */
    const fm_import_gpu *g0 = &log->gpu[0];
    run->interval_ms = g0->n > 1 ? (double)(g0->samples[g0->n - 1].t_ns - g0->samples[0].t_ns) /
                                       (double)(g0->n - 1) / 1e6
                                 : NAN;
    if (!run->name[0])
        snprintf(run->name, sizeof run->name, "import");
    run->tokens = -1;
    run->exit_code = -1;
    if (isnan(run->params))
        run->params = NAN;
    int rc = fm_store_run_begin(st, run, err);
    if (rc)
        return rc;
    fm_backend_info bi;
    memset(&bi, 0, sizeof bi);
    snprintf(bi.backend, sizeof bi.backend, "import");
    for (int g = 0; g < log->gpus; g++)
        if ((rc = fm_store_add_device(st, run->id, g, &log->gpu[g].info, &bi, err)))
            return rc;
    for (int g = 0; g < log->gpus; g++) {
        const fm_import_gpu *ig = &log->gpu[g];
        for (size_t i = 0; i < ig->n; i++) {
            fm_sample s = ig->samples[i];
            s.t_ns -= first;
            if ((rc = fm_store_add_sample(st, run->id, g, &s, err)))
                return rc;
        }
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%zu", log->truncated_lines);
    if ((rc = fm_store_set_meta(st, run->id, "import_format", log->format, err)) ||
        (rc = fm_store_set_meta(st, run->id, "import_power_rule", log->power_rule, err)) ||
        (rc = fm_store_set_meta(st, run->id, "import_power_column", log->power_column, err)) ||
        (rc = fm_store_set_meta(st, run->id, "import_truncated_lines", buf, err)))
        return rc;
    snprintf(buf, sizeof buf, "%zu", log->dropped_rows);
    if ((rc = fm_store_set_meta(st, run->id, "import_dropped_rows", buf, err)))
        return rc;
    run->status = FM_RUN_COMPLETE;
    return fm_store_run_finish(st, run, err);
}

int fm_import_markers_to_store(fm_store *st, const fm_run *run, const fm_marker *m, size_t n,
                               fm_error *err)
{
    const int64_t slack = 60LL * 1000000000LL;
    for (size_t i = 0; i < n; i++) {
        int64_t t = m[i].t_ns - run->start_wall_ns;
        if (t < -slack || t > run->end_ns + slack)
            return fm_fail(err, FM_ERR_USAGE,
                           "marker '%s' at %.3f s lies outside run %lld (0..%.3f s): wrong --tz "
                           "for the trace, or the wrong run?",
                           m[i].name, (double)t / 1e9, (long long)run->id,
                           (double)run->end_ns / 1e9);
    }
    for (size_t i = 0; i < n; i++) {
        fm_marker x = m[i];
        x.t_ns -= run->start_wall_ns;
        int rc = fm_store_add_marker(st, run->id, &x, err);
        if (rc)
            return rc;
    }
    return FM_OK;
}
