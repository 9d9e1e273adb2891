/* Command-line options shared by the commands that open a sensor backend
 * (devices, record, ...): --backend, --library and the sim options, plus
 * small number parsers. Each command keeps its own loop over argv and asks
 * fm_cli_backend_option() whether an argument is one of these. */
#ifndef FIRMUS_CLI_COMMON_OPTS_H
#define FIRMUS_CLI_COMMON_OPTS_H

#include "firmus/sensor.h"

#include <stdint.h>
#include <stdio.h>

/* Which backend to open and how. */
typedef struct fm_cli_backend_opts {
    const char *backend;     /* "nvml" (default) or "sim" */
    fm_backend_options open; /* library_path, sim_* */
    const char *sim_option;  /* the first sim-only option given, or NULL */
} fm_cli_backend_opts;

/* Defaults: backend `default_backend`, everything else zero (library
 * defaults). */
void fm_cli_backend_opts_init(fm_cli_backend_opts *o, const char *default_backend);

/* Looks at argv[*i]. If it is a backend option (--backend, --library,
 * --gpus, --preset, --seed, --pattern; "--opt value" or "--opt=value"),
 * stores it, advances *i past its value and returns 1. Returns 0 if the
 * argument is something else, and FM_ERR_USAGE after printing a one-line
 * error ("firmus <cmd>: ...") if the option's value is missing or bad. */
int fm_cli_backend_option(const char *cmd, int argc, char **argv, int *i, fm_cli_backend_opts *o);

/* After parsing: refuses options that do not fit the chosen backend
 * (--library with sim, --gpus/--preset/--seed/--pattern with nvml).
 * FM_OK, or FM_ERR_USAGE after printing a one-line error. */
int fm_cli_backend_opts_check(const char *cmd, const fm_cli_backend_opts *o);

/* Prints the help lines of the backend options; `default_backend` is named
 * as the default. */
void fm_cli_backend_options_help(FILE *out, const char *default_backend);

/* Strict number parsers: the whole text must be a number in range, with
 * no overflow or underflow. 0 on success, -1 otherwise (*out untouched);
 * the caller writes the error message. */
int fm_cli_parse_int(const char *text, int min, int max, int *out);
int fm_cli_parse_u64(const char *text, uint64_t *out);
/* A decimal integer >= min. */
int fm_cli_parse_int64(const char *text, int64_t min, int64_t *out);
/* A finite number >= min (-INFINITY for no lower bound). */
int fm_cli_parse_double(const char *text, double min, double *out);

/* If argv[*i] is `--name value` or `--name=value`, sets *value, advances *i
 * past it and returns 1; returns 0 if it is not this option, and -1 (after
 * printing an error) when the value is missing. */
int fm_cli_option_value(const char *cmd, const char *name, int argc, char **argv, int *i,
                        const char **value);

#endif
