/* Workload profiles for the digital twin (firmus-ai-factory's
 * WorkloadProfile.from_json) and CSV traces for pandas/Excel. The profile's
 * contract keys follow /work/shared/DESIGN.md and economics.md §5 exactly;
 * everything else we know goes under the extra top-level object
 * "x_firmus". Formats, units and choices: docs/WORKLOAD_EXPORT_GUIDE.md. */
#ifndef FIRMUS_PROFILE_H
#define FIRMUS_PROFILE_H

#include <stdio.h>

#include "firmus/common.h"
#include "firmus/phases.h"
#include "firmus/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FM_PROFILE_GPU_MEAN (-1)

typedef struct fm_profile_options {
    int gpu;                /* GPU whose watts form power_trace (default 0), or FM_PROFILE_GPU_MEAN:
                               the node's power / GPU count */
    double resolution_s;    /* trace grid; 0 = automatic (fm_profile_auto_resolution_s) */
    const char *model_name; /* NULL = the run's model (else its name) */
    double model_params;    /* NAN = the run's */
    const char *gpu_platform; /* NULL = from the device name ("H200", "H100", ...) */
    const char *cooling_type; /* NULL = "unknown" */
    int ignore_markers;       /* 1 = phases from power only even when markers exist */
    fm_phase_params phases;   /* detection thresholds (per GPU; x GPU count for the aggregate) */
    double tokens_per_query;  /* for wh_per_1k_queries; default 100 */
} fm_profile_options;
void fm_profile_options_default(fm_profile_options *o);

/* The trace grid step: 0.1 s up to 1 h; for longer runs the smallest of
 * 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60 s that keeps the trace <= max_points. */
double fm_profile_auto_resolution_s(double duration_s, size_t max_points);

/* Model-to-Grid tier by the CV-only rule (economics.md §5.3): CV <= 0.10
 * tier_1_efficient, <= 0.15 tier_2_standard, else tier_3_high_variance.
 * One small function so a policy can replace it. NULL for NAN. */
const char *fm_tier_cv_only(double decode_cv);

/* First-order thermal response fitted to a temperature series over
 * [t0_ns, t1_ns] (a busy period after a power step):
 * T(t) = T_inf - (T_inf - T_0) exp(-(t - t0)/tau). ok = 0 when the data
 * cannot support a fit (too short, flat, R^2 < 0.9, tau > 3x the window). */
typedef struct fm_thermal_fit {
    int ok;
    double tau_s;
    double t_inf_c;
    double t_start_c;         /* fitted T at t0 */
    double rise_rate_c_per_s; /* initial slope (T_inf - T_0) / tau */
    double r2;
    double window_s;
} fm_thermal_fit;
void fm_thermal_fit_step(const fm_series *temp_c, int64_t t0_ns, int64_t t1_ns,
                         fm_thermal_fit *out);

typedef struct fm_profile fm_profile; /* opaque: the built profile */

/* Builds the profile of a stored run (phases from markers when present,
 * else detected; per GPU and aggregate). */
int fm_profile_build(fm_store *st, int64_t run_id, const fm_profile_options *opt, fm_profile **out,
                     fm_error *err);
void fm_profile_free(fm_profile *p);

/* Writes the profile JSON ("-" = stdout). */
int fm_profile_write_json(const fm_profile *p, const char *path, fm_error *err);
/* The profile as a JSON text (malloc'ed; free()). */
char *fm_profile_json_text(const fm_profile *p);
/* A short human summary (for `firmus show` and `firmus export`). */
void fm_profile_print_summary(const fm_profile *p, FILE *out);

/* Writes the run's power as CSV on a uniform grid ("-" = stdout):
 * time_s, gpu<i>_power_w ..., total_power_w, phase (of the aggregate).
 * resolution_s 0 = automatic. */
int fm_trace_write_csv(fm_store *st, int64_t run_id, const char *path, double resolution_s,
                       const fm_profile_options *opt, fm_error *err);

/* The default file names of a run's exports: <dir>/<name>-<id>.json and
 * .csv (the name reduced to letters, digits, '-', '_', '.'); creates dir. */
int fm_profile_default_paths(const fm_run *run, const char *dir, char *json_path, size_t json_cap,
                             char *csv_path, size_t csv_cap, fm_error *err);

/* Writes <dir>/<run name>.json and <dir>/<run name>.csv (auto-export after
 * a run; dir is created). Paths written go to json_path/csv_path if not NULL. */
int fm_profile_auto_export(fm_store *st, int64_t run_id, const char *dir, char *json_path,
                           size_t json_cap, char *csv_path, size_t csv_cap, fm_error *err);

#ifdef __cplusplus
}
#endif
#endif
