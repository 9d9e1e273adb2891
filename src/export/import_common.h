/* Helpers shared by the importers (src/export/import_*.c): text lines,
 * trimmed fields, growable per-GPU sample arrays, storing a parsed reading
 * in a sample, and the rule that says what nvidia-smi's power.draw means
 * for a GPU model. Internal header. */
#ifndef FIRMUS_IMPORT_COMMON_H
#define FIRMUS_IMPORT_COMMON_H

#include "firmus/import.h"

#include <stddef.h>
#include <stdint.h>

/* A line of the input: [start, start+len) without the newline. */
typedef struct fm_text_line {
    const char *start;
    size_t len;
    int terminated; /* 1 if a '\n' followed it */
} fm_text_line;

/* Next line from data at *pos; returns 0 at the end. Strips '\r'. */
int fm_next_line(const char *data, size_t len, size_t *pos, fm_text_line *line);
/* Trims spaces/tabs from both ends of [*s, *s+*n). */
void fm_trim(const char **s, size_t *n);
/* Copies at most cap-1 chars and terminates. */
void fm_copy_field(char *dst, size_t cap, const char *s, size_t n);

/* Makes room for gpus entries (zeroed) in log->gpu. */
int fm_import_log_set_gpus(fm_import_log *log, int gpus, fm_error *err);
/* Appends a sample to a GPU; drops it (counting log->dropped_rows) if its
 * time does not advance. */
int fm_import_log_push(fm_import_log *log, int gpu, const fm_sample *s, fm_error *err);

/* The sample field that power.draw (csv) or pwr (dmon) is stored in for a
 * log's power_field: FM_F_POWER_INSTANT for FM_PF_INSTANT, else
 * FM_F_POWER_AVG. */
uint32_t fm_power_field_flag(int power_field);
/* Stores a parsed reading in the sample field named by `field` and marks it
 * valid: FM_F_POWER_INSTANT or FM_F_POWER_AVG (W), FM_F_TEMP (degrees C),
 * FM_F_UTIL (%), FM_F_SM_CLOCK (MHz) or FM_F_MEM_USED (bytes; the caller
 * checks the range). Other fields are left alone. */
void fm_sample_store(fm_sample *s, uint32_t field, double value);

/* Drops GPUs without rows (an index column listing GPUs 2 and 3 only):
 * positions become 0..n-1, info.index keeps the log's index. */
void fm_import_log_compact(fm_import_log *log);

/* 1 if nvidia-smi's power.draw is instantaneous on this GPU model (GA100
 * and older), 0 if it is the 1 s average, -1 if the name says nothing. */
int fm_power_draw_is_instant(const char *gpu_name);
/* Architecture name from a marketing name ("hopper", "ampere", ... or "unknown"). */
const char *fm_arch_from_name(const char *gpu_name);
/* Decides the power field (opt flag, else GPU name, else 1 s average) and
 * fills log->power_field and log->power_rule. */
void fm_decide_power_field(fm_import_log *log, const fm_import_options *opt, const char *gpu_name);

#endif
