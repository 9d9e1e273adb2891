/* The run store: one SQLite database (WAL mode) holding runs, their devices,
 * samples (NULL for missing readings, never 0), markers and run metadata.
 * Writers batch samples and commit at least once a second, so a recorder
 * killed with SIGKILL loses at most the last second; such a run stays
 * "incomplete" but every committed sample can be analysed. Several
 * processes may use one database (busy timeout + retries).
 * The schema is documented in docs/STORE.md. */
#ifndef FIRMUS_STORE_H
#define FIRMUS_STORE_H

#include "firmus/common.h"
#include "firmus/sensor.h"
#include "firmus/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_store fm_store; /* opaque: one open database */

/* Default database path: $FIRMUS_DB, else ./firmus.db. */
const char *fm_store_default_path(void);

int fm_store_open(const char *path, fm_store **out, fm_error *err);
void fm_store_close(fm_store *st);

typedef enum fm_run_status {
    FM_RUN_RECORDING = 0, /* being written (or the writer died: see fm_store_run_is_stale) */
    FM_RUN_COMPLETE = 1,
    FM_RUN_INCOMPLETE = 2, /* writer died or was killed before finishing */
} fm_run_status;

/* A run's identity and summary. Strings are owned by the struct. */
typedef struct fm_run {
    int64_t id;
    char name[128];
    char model[128];
    double params;  /* model size, parameters; NAN if unknown */
    char tags[256]; /* comma-separated */
    char backend[16];
    char source[32];       /* "record", "import:nvidia-smi", ... */
    int64_t start_wall_ns; /* CLOCK_REALTIME at t0 (the wall-clock anchor) */
    int64_t t0_ns;         /* monotonic time of the first tick */
    int64_t end_ns;        /* monotonic time of the last committed sample */
    int gpus;
    double interval_ms; /* requested tick interval */
    int64_t tokens;     /* -1 if unknown */
    fm_run_status status;
    int exit_code; /* child's exit code; -1 if none */
    int writer_pid;
} fm_run;

/* Creates a run (status RECORDING) and fills run->id. */
int fm_store_run_begin(fm_store *st, fm_run *run, fm_error *err);
/* Stores a device of the run (gpu = position in the run, 0..gpus-1). */
int fm_store_add_device(fm_store *st, int64_t run_id, int gpu, const fm_device_info *dev,
                        const fm_backend_info *bi, fm_error *err);
/* Queues a sample; committed in batches (at least once per second). */
int fm_store_add_sample(fm_store *st, int64_t run_id, int gpu, const fm_sample *s, fm_error *err);
/* Commits whatever is queued now. */
int fm_store_flush(fm_store *st, fm_error *err);

/* A marker from the workload: a phase start/end, a request boundary, a
 * token count, or a plain named point. */
typedef struct fm_marker {
    int64_t t_ns;    /* same clock as samples */
    char kind[16];   /* "start", "end", "mark", "tokens" */
    char name[64];   /* phase or marker name, e.g. "prefill" */
    int64_t tokens;  /* -1 if none */
    int64_t request; /* request id; -1 if none */
    int gpu;         /* -1 = all GPUs of the run */
    double
        energy_j; /* energy measured by an external tool for this marker (imports); NAN if none */
} fm_marker;
int fm_store_add_marker(fm_store *st, int64_t run_id, const fm_marker *m, fm_error *err);

/* Free-form run metadata (key/value text): interval statistics, jitter,
 * sensor source of each figure, command line, ... */
int fm_store_set_meta(fm_store *st, int64_t run_id, const char *key, const char *value,
                      fm_error *err);
/* Copies the value into buf; FM_ERR_NOT_FOUND if absent. */
int fm_store_get_meta(fm_store *st, int64_t run_id, const char *key, char *buf, size_t len,
                      fm_error *err);

/* Marks a run finished (COMPLETE, with end time, tokens and exit code). */
int fm_store_run_finish(fm_store *st, const fm_run *run, fm_error *err);

/* Looks a run up by id, by name, or "last" / "-1" for the newest.
 * Runs still RECORDING whose writer process is gone read as INCOMPLETE. */
int fm_store_find_run(fm_store *st, const char *id_or_name, fm_run *out, fm_error *err);
/* All runs, newest first. *out is malloc'ed; free() it. */
int fm_store_list_runs(fm_store *st, fm_run **out, size_t *count, fm_error *err);
/* Devices of a run (index = position in the run). *out malloc'ed. */
int fm_store_load_devices(fm_store *st, int64_t run_id, fm_device_info **out, size_t *count,
                          fm_error *err);

/* Loads one quantity of one GPU as a series (missing = NAN). `field` is one
 * enum fm_field bit. Use gpu = -1 for nothing (error). */
int fm_store_load_series(fm_store *st, int64_t run_id, int gpu, enum fm_field field, fm_series *out,
                         fm_error *err);
/* Loads all samples of one GPU in time order. *out malloc'ed. */
int fm_store_load_samples(fm_store *st, int64_t run_id, int gpu, fm_sample **out, size_t *count,
                          fm_error *err);
/* Markers of a run in time order. *out malloc'ed. */
int fm_store_load_markers(fm_store *st, int64_t run_id, fm_marker **out, size_t *count,
                          fm_error *err);

/* Deletes a run and everything that belongs to it. */
int fm_store_delete_run(fm_store *st, int64_t run_id, fm_error *err);

#ifdef __cplusplus
}
#endif
#endif
