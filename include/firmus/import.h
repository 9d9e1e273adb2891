/* Import of logs users already have: `nvidia-smi --query-gpu=... --format=csv`
 * (with or without units, index column or not), `nvidia-smi dmon` text, and
 * the per-phase marker CSVs written by pyJoules-style tools (timestamp,
 * phase, runtime, per-GPU NVML energy in mJ). Parsing is pure (memory in,
 * structs out, no store); fm_import_*_to_store turn the result into a run
 * that behaves like a recorded one. Malformed input gives FM_ERR_PARSE with
 * "file:line: what" in the error. Formats and rules: docs/WORKLOAD_EXPORT_GUIDE.md. */
#ifndef FIRMUS_IMPORT_H
#define FIRMUS_IMPORT_H

#include "firmus/common.h"
#include "firmus/sensor.h"
#include "firmus/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What nvidia-smi's `power.draw` (and dmon's `pwr`) means for the log. */
typedef enum fm_power_field_choice {
    FM_PF_AUTO = 0,    /* from the GPU name column: A100/GA100 and older -> instant, else 1 s avg */
    FM_PF_INSTANT = 1, /* store power.draw as instantaneous power */
    FM_PF_AVG = 2,     /* store power.draw as the 1 s average */
} fm_power_field_choice;

typedef struct fm_import_options {
    int gpus;          /* GPUs per poll when the log has no index column (0 = not given) */
    const char *tz;    /* zone of the log's timestamps: NULL/"UTC", "+05:30", "-05:00", IANA name */
    int power_field;   /* fm_power_field_choice */
    double interval_s; /* dmon logs without date/time columns: seconds between polls */
} fm_import_options;

/* One GPU of an imported log. Sample times are UTC epoch ns. */
typedef struct fm_import_gpu {
    fm_device_info info;
    fm_sample *samples;
    size_t n;
    size_t cap;
} fm_import_gpu;

typedef struct fm_import_log {
    char format[32]; /* "nvidia-smi-csv", "nvidia-smi-dmon" */
    int gpus;
    fm_import_gpu *gpu;     /* gpus entries */
    size_t lines;           /* physical lines read */
    size_t rows;            /* data rows used */
    size_t truncated_lines; /* an unterminated, incomplete last line (dropped) */
    size_t dropped_rows;    /* rows whose time did not advance for their GPU (dropped) */
    int power_field;        /* FM_PF_INSTANT or FM_PF_AVG: what power.draw was stored as */
    char power_rule[160];   /* why: "flag --power-field", "GPU name 'NVIDIA A100...'", ... */
    char power_column[48];  /* header name of the column used for the power reading */
} fm_import_log;

/* Parses an nvidia-smi --query-gpu CSV (format=csv, with or without
 * noheader/nounits; `name` is used in messages). */
int fm_import_smi_csv(const char *data, size_t len, const char *name, const fm_import_options *opt,
                      fm_import_log *out, fm_error *err);
/* Parses `nvidia-smi dmon` output (any -s selection, optional -o DT). */
int fm_import_smi_dmon(const char *data, size_t len, const char *name, const fm_import_options *opt,
                       fm_import_log *out, fm_error *err);
/* Reads a file and picks the parser from its first non-empty line. */
int fm_import_smi_file(const char *path, const fm_import_options *opt, fm_import_log *out,
                       fm_error *err);
void fm_import_log_free(fm_import_log *log);

/* Phase markers from a pyJoules-style CSV: for each row a "start" marker
 * per GPU (gpu = g, energy_j = that GPU's NVML energy over the phase) and
 * one "end" marker (gpu = -1) at start + runtime. t_ns = UTC epoch ns. */
int fm_import_markers_csv(const char *data, size_t len, const char *name, fm_marker **out,
                          size_t *count, fm_error *err);
int fm_import_markers_file(const char *path, fm_marker **out, size_t *count, fm_error *err);

/* Stores an imported log as a complete run (source "import:<format>"):
 * devices in log order, samples with t_ns relative to the first sample,
 * start_wall_ns = the first sample's UTC time. run->name/model/tags may be
 * preset by the caller; the rest is filled. */
int fm_import_log_to_store(fm_store *st, const fm_import_log *log, fm_run *run, fm_error *err);
/* Adds markers (UTC epoch ns) to a stored run, converting to run time.
 * Markers outside the run's time span by more than 60 s are an error
 * (wrong --tz, or the wrong run). */
int fm_import_markers_to_store(fm_store *st, const fm_run *run, const fm_marker *m, size_t n,
                               fm_error *err);

/* Timestamp helpers (exposed for tests and the fuzzer).
 * Parses "YYYY/MM/DD HH:MM:SS[.fff]" or "YYYY-MM-DD[T ]HH:MM:SS[.fff]" in zone
 * tz into UTC epoch ns. Returns 0 or -1 (with *why set to a static message). */
int fm_parse_local_time(const char *s, size_t len, const char *tz, int64_t *utc_ns,
                        const char **why);
/* Checks a zone spec: "UTC", "Z", "+HH:MM", "-HHMM", or an IANA name known
 * to the system. 0 if usable. */
int fm_tz_check(const char *tz, fm_error *err);

#ifdef __cplusplus
}
#endif
#endif
