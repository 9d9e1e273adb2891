/* Library-internal: the economics and qualification as Jansson objects, for
 * the profile exporter (src/export) to add as the top-level `economics`
 * object of a workload profile (never inside energy_metrics). The public
 * API (firmus/econ.h) gives the same as JSON text. */
#ifndef FIRMUS_ECON_JSON_H
#define FIRMUS_ECON_JSON_H

#include "firmus/econ.h"

#include <jansson.h>

/* New reference (caller json_decref's), or NULL when out of memory. q may be NULL. */
json_t *econ_result_json(const fm_econ_result *r, const fm_qualification *q);
json_t *econ_qualification_json(const fm_qualification *q);

#endif
