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

/* The `economics` object of a stored run's workload profile, at the
 * defaults (the seed's flat 0.12 USD/kWh, flagged as unsourced; PUE 1.0;
 * discount by the default policy m2g-cv-only) with its `model_to_grid`
 * qualification; {"schema": ..., "error": "why"} when it cannot be
 * computed. New reference. */
json_t *econ_profile_economics(fm_store *st, int64_t run_id);

#endif
