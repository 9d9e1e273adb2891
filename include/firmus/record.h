/* The recorder: samples every chosen GPU on one tick grid (absolute
 * deadlines on the backend clock, no drift), optionally while a child
 * command runs, takes markers from the workload, and writes everything to
 * the run store in batches. The `firmus record` command is a thin wrapper
 * over fm_record_run. Marker protocol: docs/MARKERS.md. */
#ifndef FIRMUS_RECORD_H
#define FIRMUS_RECORD_H

#include "firmus/common.h"
#include "firmus/sensor.h"
#include "firmus/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_record_options {
    const char *backend; /* "nvml" or "sim" */
    fm_backend_options backend_opt;
    const int *gpus; /* device indices; NULL = all */
    int gpu_count;
    double interval_ms;      /* default 25; --high-res = 10 */
    double slow_interval_ms; /* temperature/clocks/util/memory/throttle sub-grid, default 100 */
    double duration_s;       /* without a command: how long to sample */
    double preroll_s;        /* idle sampling before the command starts (default 1) */
    double postroll_s;       /* sampling after it exits, to capture the fall (default 2) */
    char *const *command;    /* NULL-terminated argv, or NULL */
    const char *db_path;
    const char *name, *model, *tags;
    double params;  /* NAN if unknown */
    int64_t tokens; /* -1: from markers, if any */
    int live;       /* 1: live status line on stderr (only if a TTY) */
} fm_record_options;

void fm_record_options_default(fm_record_options *o);

/* What a recording achieved (also stored as run metadata). */
typedef struct fm_record_result {
    int64_t run_id;
    int child_exit_code; /* -1 when there was no command; 128+sig if killed */
    int64_t ticks;
    int64_t missed_ticks;        /* ticks skipped because the previous one overran */
    double achieved_interval_ms; /* mean over the run */
    double jitter_p50_us, jitter_p99_us, jitter_max_us; /* |actual - deadline| */
    double cpu_s;             /* CPU time of the recorder (user + system) */
    double cpu_us_per_sample; /* per GPU sample */
    double energy_j;          /* quick total (sum over GPUs, best source) */
    int gpus_lost;
} fm_record_result;

int fm_record_run(const fm_record_options *o, fm_record_result *res, fm_error *err);

#ifdef __cplusplus
}
#endif
#endif
