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
    /* Added by the recorder issue: */
    fm_sensor *sensor;            /* non-NULL: record from this sensor, already open and owned
                                     by the caller (not closed); `backend` and `backend_opt`
                                     are then ignored. Tests and benchmarks use it to reach
                                     the sim's truth or plug in a deterministic backend. */
    const char *mark_socket_path; /* marker socket path; NULL = a fresh one in a temp dir */
    const char *command_line;     /* the command line as typed, stored as metadata (may be NULL) */
    double energy_interval_ms;    /* energy counter grid, default 100 (it updates every 100 ms) */
    int energy_thread;            /* read the counter in a thread of its own: -1 auto (nvml:
                                     yes, its counter read takes ms), 0 no, 1 yes */
    /* Called once the run exists, just before the first tick (may be NULL):
     * the run id and the marker socket path, e.g. to tell other processes
     * where to send markers when there is no command. */
    void (*on_start)(void *ctx, int64_t run_id, const char *mark_socket_path);
    void *on_start_ctx;
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
    /* Added by the recorder issue: */
    uint64_t gpus_lost_mask;   /* bit i: the run's GPU i was lost (first 64 GPUs) */
    int gpus;                  /* GPUs in the run */
    int64_t samples;           /* GPU samples taken (ticks x active GPUs) */
    double duration_s;         /* first to last tick, backend clock */
    int64_t markers;           /* markers stored (including the recorder's own) */
    int64_t markers_malformed; /* lines that could not be parsed (ignored) */
    int64_t tokens;            /* run tokens stored: --tokens, else marker sum, else -1 */
    char tokens_source[64];    /* "option", "markers", "sim truth (...)" or "none" */
    int64_t read_errors;       /* sensor reads that failed (sample stored with missing fields) */
    int stopped_by_signal;     /* signal number that ended the recording early, else 0 */
    int virtual_time;          /* 1: the backend ran in virtual time (jitter 0 by construction) */
    int64_t start_wall_ns;     /* CLOCK_REALTIME at t0 (the run's wall-clock anchor) */
} fm_record_result;

int fm_record_run(const fm_record_options *o, fm_record_result *res, fm_error *err);

/* ---- marker protocol (docs/MARKERS.md) ---- */

/* Longest marker line accepted, newline excluded (PIPE_BUF: writes up to
 * this size to a pipe are atomic). */
#define FM_MARK_LINE_MAX 4096

/* Environment variables the recorder sets for the command. */
#define FM_MARK_ENV_FD "FIRMUS_MARK_FD"
#define FM_MARK_ENV_SOCKET "FIRMUS_MARK_SOCKET"
#define FM_MARK_ENV_RUN_ID "FIRMUS_RUN_ID"

/* Parses one marker line (without its newline), e.g. "start prefill",
 * "end decode tokens=128 t_ns=123456789", "tokens 32", "mark warmup_done",
 * "request_start 7", "request_end 7 tokens=128". When the line has no
 * t_ns=, out->t_ns is receipt_ns; *t_ns_given says which. Returns FM_OK,
 * 1 for a blank or comment ('#') line (nothing to store), or FM_ERR_PARSE
 * with a one-line reason in err. */
int fm_marker_parse_line(const char *line, int64_t receipt_ns, fm_marker *out, int *t_ns_given,
                         fm_error *err);

/* Formats a marker as a protocol line (ending in a newline); returns its
 * length, or -1 if it does not fit. Used by `firmus mark`. */
int fm_marker_format_line(const fm_marker *m, int with_t_ns, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
