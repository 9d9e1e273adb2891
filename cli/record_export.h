/* The auto-export at the end of `firmus record` (the seed's "export after
 * each run to workload_profiles/"), owned by the profile export; cmd_record.c
 * only calls it. */
#ifndef FIRMUS_CLI_RECORD_EXPORT_H
#define FIRMUS_CLI_RECORD_EXPORT_H

#include <stdint.h>

/* Writes the run's profile JSON and trace CSV into `dir`, or, when dir is
 * NULL, into workload_profiles/ beside the run store. Prints the paths (or
 * why there is no profile, e.g. an idle-only run) on stderr unless quiet.
 * A failed export is a warning, never a failed recording: returns 0. */
int fm_cli_record_export(const char *db_path, int64_t run_id, const char *dir, int quiet);

#endif
