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
    double idle_below_w;       /* W; NAN = automatic (fm_phases_idle_threshold), the default;
                                  a number is used as it is (the seed's was 100 W) */
    double ramp_above_w_per_s; /* 100 W/s */
    double fall_below_w_per_s; /* -100 W/s */
    double min_segment_s;      /* shortest segment kept */
    double smooth_s;           /* smoothing window applied to the deduplicated signal */
    double idle_floor_w;       /* automatic threshold: never below this (the seed's 100 W) */
    double idle_margin_min_w; /* automatic threshold: smallest margin above the idle level (20 W) */
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

/* ---- additions (analysis helper) ---- */

/* The power signal as phase detection sees it: one point per sensor
 * publication (the first sample of each new value, and a repeated value
 * again after a whole update period), each moved back to the middle of what
 * the sensor saw: half the median polling interval when polling is faster
 * than the sensor (the value appeared somewhere since the previous poll)
 * plus half the sensor's averaging window; clipped to [t_first_ns,
 * t_last_ns] of the raw series. Energy integrates it piecewise-linearly. */
typedef struct fm_phase_signal {
    size_t n;
    int64_t *t_ns;
    double *v;
    int64_t shift_ns;   /* how far points were moved back */
    int64_t window_ns;  /* the sensor averaging window assumed (0: point samples) */
    int64_t t_first_ns; /* first and last raw sample */
    int64_t t_last_ns;
    int64_t poll_ns;   /* median polling interval of the raw series */
    int64_t period_ns; /* estimated sensor update period (0 if unknown) */
} fm_phase_signal;
int fm_phase_signal_prepare(const fm_series *power_w, fm_phase_signal *out, fm_error *err);
/* The same, for a sensor that reports the mean over `window_s` ending at its
 * publication (NVML instant on H100/H200: 0.025 s, nvml.md; the 1 s average:
 * 1.0 s; 0 = treat readings as point samples): points are also moved back
 * by window_s / 2, to the middle of what the sensor saw.
 * fm_phase_signal_prepare uses FM_INSTANT_WINDOW_S. */
#define FM_INSTANT_WINDOW_S 0.025
#define FM_AVG_WINDOW_S 1.0
int fm_phase_signal_prepare_window(const fm_series *power_w, double window_s, fm_phase_signal *out,
                                   fm_error *err);
void fm_phase_signal_free(fm_phase_signal *sig);

/* ---- automatic idle threshold (docs/WORKLOAD_EXPORT_GUIDE.md) ----
 * idle level I = time-weighted median of the smoothed power over the flat
 * low stretches of the run (raw power within max(idle_margin_min_w / 4,
 * 3 %) over +-0.5 s, and in the lower half between the 2nd and 95th
 * percentiles); busy level B = 95th percentile of the smoothed power;
 * threshold = max(idle_floor_w, min(I + margin, I + (B - I) / 2)) with
 * margin = max(idle_margin_min_w, 5 % of (B - I)). Fallbacks: less than
 * 1 s of flat low power (busy from start to end) -> idle_floor_w; no busy
 * level at least 2 x idle_margin_min_w above I (an idle-only run) ->
 * max(idle_floor_w, I + idle_margin_min_w). */
#define FM_IDLE_SEED_W 100.0
#define FM_IDLE_MARGIN_MIN_W 20.0
#define FM_IDLE_MARGIN_FRAC 0.05
#define FM_IDLE_MIN_FLAT_S 1.0

typedef struct fm_idle_threshold {
    double threshold_w;  /* the threshold used */
    int automatic;       /* 1: derived from the run; 0: idle_below_w was given */
    int fallback;        /* automatic, but no idle or no busy level found (see source) */
    double idle_level_w; /* I; NAN when not derived */
    double idle_s;       /* time in the flat low stretches, s */
    double busy_w;       /* B (p95 of the smoothed power); NAN when not derived */
    double margin_w;     /* threshold - I before the floor; NAN when not derived */
    char source[256];    /* how it was derived, one line */
} fm_idle_threshold;

/* The rule alone: the threshold for an idle level, a busy level and the
 * floor and smallest margin (the margin used goes to *margin_w if not
 * NULL). Without a busy level 2 x margin_min_w above the idle level:
 * max(floor, idle + margin_min). */
double fm_idle_threshold_rule(double idle_level_w, double busy_w, double floor_w,
                              double margin_min_w, double *margin_w);

/* The idle threshold detection uses on `sig` with `p` (NULL = defaults):
 * p->idle_below_w when it is a number, else derived as above. */
int fm_phases_idle_threshold(const fm_phase_signal *sig, const fm_phase_params *p,
                             fm_idle_threshold *out, fm_error *err);

/* Characteristics of [start_ns, end_ns) of a prepared signal: energy of
 * the publications inside, extended to the edges by the phase's shape (flat
 * phases hold their nearest value, ramps and falls follow their line);
 * avg = energy / duration; peak, stdev and CV over the publications inside;
 * ramp rate = least-squares slope for ramp and fall, NAN otherwise. */
void fm_segment_measure(const fm_phase_signal *sig, fm_phase phase, int64_t start_ns,
                        int64_t end_ns, fm_segment *out);

/* Detection on a prepared signal (fm_phases_detect prepares one itself). */
int fm_phases_detect_signal(const fm_phase_signal *sig, const fm_phase_params *p, fm_segment **out,
                            size_t *count, fm_error *err);

/* fm_phases_from_markers on a prepared signal. Markers whose gpu is
 * neither -1 nor `gpu` are ignored (gpu = -1 takes all). */
int fm_phases_from_markers_signal(const fm_phase_signal *sig, const fm_marker *markers,
                                  size_t n_markers, int gpu, fm_segment **out, size_t *count,
                                  fm_error *err);
/* 1 if any marker names a phase (start/end of idle, ramp, prefill, decode, fall). */
int fm_markers_have_phases(const fm_marker *markers, size_t n_markers);
/* Integral (J) of the prepared signal over [t0_ns, t1_ns] (piecewise linear). */
double fm_phase_signal_integrate(const fm_phase_signal *sig, int64_t t0_ns, int64_t t1_ns);

/* Energy in marker windows that carry an externally measured energy (e.g.
 * NVML energy per phase from pyJoules): for each "start" marker of `gpu`
 * (its gpu field equal to `gpu`; -1 = markers for the whole node, to compare
 * with the aggregate) with a finite energy_j, the window to the next "end"
 * of the same name, our integral of the signal over it, and the relative
 * difference. Windows outside the signal are skipped. */
typedef struct fm_marker_energy {
    char name[64];
    int gpu;
    int64_t start_ns, end_ns;
    double marker_j;     /* from the marker (external tool) */
    double integrated_j; /* our integral of the power signal */
    double rel_diff;     /* (integrated - marker) / marker */
} fm_marker_energy;
int fm_marker_energy_compare(const fm_phase_signal *sig, int gpu, const fm_marker *m, size_t n,
                             fm_marker_energy **out, size_t *count, fm_error *err);

/* How far one segmentation is from another taken as truth: the fraction of
 * the truth's time given the same phase, and the median and 95th
 * percentile of |boundary error| (each true boundary between two different
 * phases against the nearest detected boundary), in seconds. */
typedef struct fm_phase_agreement {
    double labelled_fraction;
    double median_boundary_err_s;
    double p95_boundary_err_s;
    size_t true_boundaries;
    size_t detected_boundaries;
    double energy_true_j[FM_PHASE_COUNT]; /* per phase type, summed over segments */
    double energy_detected_j[FM_PHASE_COUNT];
} fm_phase_agreement;
void fm_phases_compare(const fm_segment *detected, size_t n_detected, const fm_segment *truth,
                       size_t n_truth, fm_phase_agreement *out);

/* Summary per phase type over a list of segments: count, total time and
 * energy, time-weighted average power, peak, and the pooled population
 * stdev (from each segment's mean and stdev, time-weighted). */
typedef struct fm_phase_summary {
    size_t count;
    double total_s;
    double energy_j;
    double avg_power_w;
    double peak_power_w;
    double power_stdev_w;
    double power_cv;
    double ramp_rate_w_per_s; /* time-weighted mean of the segments' rates; NAN if none */
    int first;                /* index of the first segment of the type; -1 if none */
} fm_phase_summary;
void fm_phases_summarize(const fm_segment *seg, size_t n, fm_phase_summary out[FM_PHASE_COUNT]);

#ifdef __cplusplus
}
#endif
#endif
