/* The "Workload profile" section of `firmus show` (owned by the profile
 * export; cmd_show.c only lists it in its section table). */
#ifndef FIRMUS_CLI_SHOW_PROFILE_H
#define FIRMUS_CLI_SHOW_PROFILE_H

#include <jansson.h>
#include <stdint.h>

#include "firmus/store.h"

/* Prints the profile summary of a run (or why there is none). */
void fm_show_profile_text(fm_store *st, int64_t run_id);
/* The same as JSON: the profile's contract fields except power_trace,
 * plus the phase source; {"error": "..."} when there is no profile. */
json_t *fm_show_profile_json(fm_store *st, int64_t run_id);

#endif
