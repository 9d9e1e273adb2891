/* Shared formatting for the firmus commands that print stored runs (ls,
 * show, ...): energies with units, durations, wall-clock times, numbers
 * that may be missing ("unavailable" in text, null in JSON). */
#ifndef FIRMUS_CLI_FORMAT_H
#define FIRMUS_CLI_FORMAT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "firmus/store.h"

#define FM_CLI_UNAVAILABLE "unavailable"

/* "812.4 J", "12.35 kJ", "3.402 MJ"; "unavailable" for NAN. */
const char *fm_cli_format_energy(double energy_j, char *buf, size_t len);
/* "45.2 s", "12m 05s", "3h 02m"; "unavailable" for NAN. */
const char *fm_cli_format_duration(double seconds, char *buf, size_t len);
/* Local time, ISO 8601 with offset: "2026-11-26T10:19:19+0000";
 * "unavailable" for 0. */
const char *fm_cli_format_wall_time(int64_t wall_ns, char *buf, size_t len);
/* printf-style number with a unit suffix ("%.1f W"), or "unavailable". */
const char *fm_cli_format_value(double v, const char *fmt, char *buf, size_t len);

/* A JSON real, or null for NAN. */
json_t *fm_cli_json_real(double v);
/* A JSON integer, or null when v equals `missing`. */
json_t *fm_cli_json_int(int64_t v, int64_t missing);
/* Adds when and how a run was recorded to a JSON run object, in this
 * order: start_time (local ISO 8601, null when unknown), start_wall_ns
 * (null when unknown), duration_s (null for NAN), gpus and interval_ms
 * (the requested tick; null when not recorded). `ls` and `show` both
 * write these keys with it. */
void fm_cli_json_set_run_timing(json_t *run_obj, const fm_run *run, double duration_s);
/* Prints a JSON value to stdout (indented) followed by a newline;
 * returns 0, or 1 if it could not be written. */
int fm_cli_json_print(json_t *value);

#endif
