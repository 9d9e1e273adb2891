/* Phase detection: cuts a power trace into idle / ramp / prefill / decode /
 * fall segments (seed section 1), robust to held sensor values and noisy
 * decode power; uses workload markers as truth when a run has them. The
 * algorithm is documented in docs/WORKLOAD_EXPORT_GUIDE.md. */
#ifndef FIRMUS_PHASES_H
#define FIRMUS_PHASES_H

#include "firmus/common.h"
#include "firmus/sim.h" /* fm_phase */
#include "firmus/store.h"
#include "firmus/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Thresholds (seed defaults) and robustness settings. */
typedef struct fm_phase_params {
    double idle_below_w;       /* 100 W */
    double ramp_above_w_per_s; /* 100 W/s */
    double fall_below_w_per_s; /* -100 W/s */
    double min_segment_s;      /* shortest segment kept */
    double smooth_s;           /* smoothing window applied to the deduplicated signal */
} fm_phase_params;
void fm_phase_params_default(fm_phase_params *p);

/* One segment with the seed's PhaseCharacteristics. */
typedef struct fm_segment {
    fm_phase phase;
    int64_t start_ns;
    int64_t end_ns;
    double avg_power_w;
    double peak_power_w;
    double power_stdev_w; /* population */
    double power_cv;
    double energy_j;          /* zero-order-hold integral over [start, end) */
    double ramp_rate_w_per_s; /* ramp (>0) and fall (<0) only; NAN otherwise */
} fm_segment;

/* Detects segments on a power series (usually the instant source). The
 * segments tile [first sample, last sample] without gaps. *out malloc'ed. */
int fm_phases_detect(const fm_series *power_w, const fm_phase_params *p, fm_segment **out,
                     size_t *count, fm_error *err);

/* Builds segments from "start NAME"/"end NAME" markers (phase names as in
 * fm_phase_name), filling the characteristics from the power series.
 * Time not covered by a marker pair is labelled idle. *out malloc'ed. */
int fm_phases_from_markers(const fm_series *power_w, const fm_marker *markers, size_t n_markers,
                           fm_segment **out, size_t *count, fm_error *err);

#ifdef __cplusplus
}
#endif
#endif
