/* Internal to src/export/profile_*.c: a stored run loaded for analysis.
 * Each GPU's power is kept only as its prepared publication signal (the
 * raw series is freed as soon as the signal is built, so a 10 h x 100 Hz x
 * 8 GPU run fits in memory), plus its segments; the aggregate is the sum of
 * the GPUs' held values on a common grid, with its own signal and segments. */
#ifndef FIRMUS_PROFILE_INTERNAL_H
#define FIRMUS_PROFILE_INTERNAL_H

#include "firmus/metrics.h"
#include "firmus/phases.h"
#include "firmus/profile.h"
#include "firmus/store.h"

typedef struct fm_gpu_data {
    fm_device_info dev;
    enum fm_field power_field; /* FM_F_POWER_INSTANT, else FM_F_POWER_AVG */
    size_t raw_samples;        /* power readings present */
    size_t raw_ticks;          /* samples of the GPU (with or without power) */
    double poll_jitter_ms;     /* stdev of the polling interval */
    double largest_gap_s;      /* longest interval between power readings, s */
    double gap_time_s;         /* time in intervals > 5x the median polling interval, s */
    fm_phase_signal sig;
    fm_segment *seg;
    size_t n_seg;
    fm_idle_threshold idle; /* the idle threshold detection used (or would use) on sig */
} fm_gpu_data;

typedef struct fm_run_data {
    fm_run run;
    int gpus;
    fm_gpu_data *gpu;
    fm_phase_signal agg; /* aggregate of all GPUs (empty if a GPU has no power) */
    fm_segment *agg_seg;
    size_t n_agg_seg;
    fm_idle_threshold agg_idle; /* the idle threshold of the aggregate */
    fm_marker *markers;
    size_t n_markers;
    int from_markers;     /* 1: segments come from markers */
    int64_t t0_ns, t1_ns; /* analysis window: earliest first sample .. latest last */
    int64_t agg_step_ns;  /* grid of the aggregate */
    /* power-only detection against markers, when both exist (aggregate) */
    int have_agreement;
    fm_phase_agreement agreement;
} fm_run_data;

/* Loads the run and detects (or takes from markers) its phases. */
int fm_run_data_load(fm_store *st, int64_t run_id, const fm_profile_options *opt, fm_run_data *out,
                     fm_error *err);
void fm_run_data_free(fm_run_data *d);

/* Mean of a signal over each bin [t0 + k*step, t0 + (k+1)*step) for k < n;
 * NAN where the bin is outside the signal's span. */
void fm_signal_bin_means(const fm_phase_signal *sig, int64_t t0_ns, int64_t step_ns, size_t n,
                         double *out);
/* The phase of a segment list at time t (-1 if none). */
int fm_segments_phase_at(const fm_segment *seg, size_t n, int64_t t_ns);

#endif
