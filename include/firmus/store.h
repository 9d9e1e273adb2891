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
    int exit_code;  /* child's exit code; -1 if none */
    int writer_pid; /* set by fm_store_run_begin to the calling process */
    /* Set by fm_store_run_begin (callers need not fill them): the writer's
     * start time (/proc/<pid>/stat field 22, clock ticks since boot; -1 if
     * unknown) and the boot id, so a reused pid or a reboot is not taken
     * for a live writer. */
    int64_t writer_start_ticks;
    char writer_boot_id[40];
} fm_run;

/* Fills a run with "unknown" values: params NAN, tokens -1, exit_code -1,
 * strings empty, status RECORDING. */
void fm_run_init(fm_run *run);

/* 1 when a run still marked RECORDING was written by a process that no
 * longer exists (killed, crashed, or the machine rebooted), else 0.
 * fm_store_find_run and fm_store_list_runs already report such runs as
 * FM_RUN_INCOMPLETE. */
int fm_store_run_is_stale(const fm_run *run);
/* "recording", "complete", "incomplete". */
const char *fm_run_status_name(fm_run_status s);

/* Creates a run (status RECORDING) and fills run->id, run->writer_pid,
 * writer_start_ticks and writer_boot_id (from the calling process). An
 * empty name becomes "run-<id>". */
int fm_store_run_begin(fm_store *st, fm_run *run, fm_error *err);
/* Stores a device of the run (gpu = position in the run, 0..gpus-1). */
int fm_store_add_device(fm_store *st, int64_t run_id, int gpu, const fm_device_info *dev,
                        const fm_backend_info *bi, fm_error *err);
/* Queues a sample; committed in batches (at least once per second): the
 * call commits when the oldest queued sample is >= 0.5 s old or the queue
 * holds 8192 samples, so memory stays bounded. Samples may arrive out of
 * time order (a reader thread of its own, say); a sample with the same
 * (run, gpu, t_ns) as a stored one is merged into that row: its valid
 * readings replace the stored ones, its missing ones leave them. If a
 * commit fails the samples stay queued and the error is returned; a full
 * queue that cannot be committed refuses the new sample. */
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
/* A marker at t_ns with nothing else known: empty kind and name, tokens
 * and request -1, gpu -1 (all GPUs), energy_j NAN. */
void fm_marker_init(fm_marker *m, int64_t t_ns);
int fm_store_add_marker(fm_store *st, int64_t run_id, const fm_marker *m, fm_error *err);

/* Free-form run metadata (key/value text): interval statistics, jitter,
 * sensor source of each figure, command line, ... */
int fm_store_set_meta(fm_store *st, int64_t run_id, const char *key, const char *value,
                      fm_error *err);
/* Copies the value into buf; FM_ERR_NOT_FOUND if absent. */
int fm_store_get_meta(fm_store *st, int64_t run_id, const char *key, char *buf, size_t len,
                      fm_error *err);

/* All metadata of a run, sorted by key. *out malloc'ed (one block). */
typedef struct fm_meta_entry {
    char key[64];
    char value[256]; /* truncated if longer */
} fm_meta_entry;
int fm_store_list_meta(fm_store *st, int64_t run_id, fm_meta_entry **out, size_t *count,
                       fm_error *err);

/* Marks a run finished (COMPLETE, with end time, tokens and exit code).
 * Flushes queued samples first. end_ns <= 0 keeps the time of the last
 * committed sample. Also stores run->gpus. */
int fm_store_run_finish(fm_store *st, const fm_run *run, fm_error *err);

/* Looks a run up by id, by name, or "last" / "-1" for the newest.
 * Runs still RECORDING whose writer process is gone read as INCOMPLETE. */
int fm_store_find_run(fm_store *st, const char *id_or_name, fm_run *out, fm_error *err);
/* Looks a run up by its id: the same lookup as fm_store_find_run with the
 * id written in decimal (so, as there, a run named like the id is found
 * when no run has that id). */
int fm_store_get_run(fm_store *st, int64_t run_id, fm_run *out, fm_error *err);
/* All runs, newest first. *out is malloc'ed; free() it. */
int fm_store_list_runs(fm_store *st, fm_run **out, size_t *count, fm_error *err);
/* Devices of a run (index = position in the run). *out malloc'ed. */
int fm_store_load_devices(fm_store *st, int64_t run_id, fm_device_info **out, size_t *count,
                          fm_error *err);

/* Backend facts (backend, driver and NVML versions, library) stored with
 * the run's first device; FM_ERR_NOT_FOUND if the run has no devices. */
int fm_store_load_backend_info(fm_store *st, int64_t run_id, fm_backend_info *out, fm_error *err);

/* Loads one quantity of one GPU as a series (missing = NAN), every sample
 * row of that GPU in time order. `field` is one enum fm_field bit
 * (FM_F_CLOCK_EVENTS gives the bitmask as a double: exact below 2^53).
 * Reads flush this handle's queue first. */
int fm_store_load_series(fm_store *st, int64_t run_id, int gpu, enum fm_field field, fm_series *out,
                         fm_error *err);
/* First and last valid energy-counter readings of one GPU: two walks of
 * the primary key, one from each end, stopping at the first non-NULL
 * counter (so fast unless the counter is missing). FM_ERR_NOT_FOUND when
 * the GPU has none. */
int fm_store_counter_span(fm_store *st, int64_t run_id, int gpu, int64_t *first_t_ns,
                          double *first_j, int64_t *last_t_ns, double *last_j, fm_error *err);
/* Calls visit for every sample of one GPU in time order without keeping
 * them (constant memory: the way to analyse long runs). A non-zero return
 * from visit stops the scan and is returned (with err set). */
typedef int (*fm_sample_visitor)(const fm_sample *s, void *ctx);
int fm_store_scan_samples(fm_store *st, int64_t run_id, int gpu, fm_sample_visitor visit, void *ctx,
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
