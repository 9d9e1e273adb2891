/* Energy metrics of a run, per GPU and for the whole run: everything the
 * original EnergyMetrics had, done right, plus the cross-check of the three
 * power sources (energy counter, integrated instant power, integrated 1 s
 * average) and the estimated sensor update period. Every figure says which
 * source it came from. */
#ifndef FIRMUS_METRICS_H
#define FIRMUS_METRICS_H

#include "firmus/common.h"
#include "firmus/store.h"
#include "firmus/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where an energy or power figure came from. */
typedef enum fm_source {
    FM_SRC_NONE = 0,
    FM_SRC_COUNTER = 1, /* energy counter difference */
    FM_SRC_INSTANT = 2, /* integrated instant power (held, deduplicated) */
    FM_SRC_AVG_1S = 3,  /* integrated 1 s average power */
} fm_source;
const char *
fm_source_name(fm_source s); /* "energy_counter", "power_instant", "power_avg_1s", "none" */

typedef struct fm_gpu_metrics {
    int gpu;
    double duration_s;
    double energy_j; /* best total: counter if available, else instant */
    fm_source energy_source;
    double energy_counter_j;         /* NAN when unavailable */
    double energy_instant_j;         /* NAN when unavailable */
    double energy_avg_1s_j;          /* NAN when unavailable */
    double ratio_instant_to_counter; /* NAN when either missing */
    double ratio_avg_to_counter;
    double avg_power_w;      /* energy_j / duration_s */
    double peak_power_w;     /* of the instant source (else the 1 s average) */
    fm_source power_source;  /* source of peak and CV */
    double power_cv;         /* population stdev / mean of the deduplicated power source */
    double sensor_period_s;  /* estimated update period of the power source; NAN if unknown */
    double counter_period_s; /* estimated update period of the energy counter */
    double temp_avg_c, temp_peak_c; /* NAN when unavailable */
    int thermal_throttled;          /* clocks-event thermal bits seen; -1 unknown */
    int power_throttled;            /* clocks-event power-cap/brake bits seen; -1 unknown */
    double throttled_s;             /* time with either bit set */
    size_t samples;
    size_t missing_power_samples; /* ticks where the power source was missing */
    /* Added: */
    int64_t first_t_ns, last_t_ns; /* first and last sample of this GPU (the window) */
    int counter_resets;            /* times the energy counter went backwards (skipped) */
    double thermal_throttled_s;    /* time with a thermal bit set */
    double power_throttled_s;      /* time with a power-cap/brake bit set */
    double prefill_energy_j;       /* this GPU's share of the marker windows; NAN if none */
    double decode_energy_j;
    /* Steepest rise/fall of the power source sustained over ramp_window_s
     * (2 sensor periods; fm_power_ramp_extremes). NAN if unknown. */
    double max_rise_w_per_s;
    double max_fall_w_per_s;
    double ramp_window_s;
} fm_gpu_metrics;

typedef struct fm_run_metrics {
    int64_t run_id;
    int gpus;
    fm_gpu_metrics *gpu; /* gpus entries, malloc'ed */
    double duration_s;
    double total_energy_j;   /* sum over GPUs */
    double avg_power_w;      /* total_energy_j / duration_s (all GPUs) */
    double peak_power_w;     /* peak of the aggregate */
    int64_t tokens;          /* -1 unknown */
    double joules_per_token; /* NAN when tokens unknown */
    double tokens_per_joule;
    double tokens_per_query;  /* parameter, default 100 */
    double wh_per_1k_queries; /* J/token * tokens_per_query * 1000 / 3600 */
    double prefill_energy_j;  /* from markers (or detected phases); NAN if unknown */
    double decode_energy_j;
    char phase_source[16]; /* "markers", "detected" or "none" */
    /* Added: the three sources summed over GPUs (NAN when any GPU lacks
     * that source) and their ratios, as in fm_gpu_metrics. */
    double energy_counter_j;
    double energy_instant_j;
    double energy_avg_1s_j;
    double ratio_instant_to_counter;
    double ratio_avg_to_counter;
    fm_source energy_source; /* the GPUs' common best source; FM_SRC_NONE if they differ */
    char tokens_source[16];  /* "override", "run", "markers" or "none" */
    int64_t t0_ns, t1_ns;    /* analysis window: first to last sample over all GPUs */
    double peak_grid_s;      /* grid step on which the aggregate peak was taken */
    int prefill_windows;     /* complete start/end marker pairs used */
    int decode_windows;
} fm_run_metrics;

typedef struct fm_metrics_options {
    double tokens_per_query; /* default 100 */
    int64_t tokens_override; /* >= 0 replaces the run's tokens */
} fm_metrics_options;

/* tokens_per_query 100, tokens_override -1 (a NULL options pointer means
 * the same). */
void fm_metrics_options_default(fm_metrics_options *opt);

/* Computes metrics of a stored run. Free with fm_run_metrics_free.
 * Definitions (docs/METRICS.md): energy from the energy counter is the sum
 * of its non-negative steps between the first and last valid value;
 * instant and 1 s average energies are zero-order-hold integrals of the
 * deduplicated sensor updates over the GPU's sample window; marker windows
 * ("start"/"end" markers named "prefill"/"decode") integrate the power
 * source the same way. */
int fm_metrics_compute(fm_store *st, int64_t run_id, const fm_metrics_options *opt,
                       fm_run_metrics *out, fm_error *err);
void fm_run_metrics_free(fm_run_metrics *m);

/* Quick total energy of a run for listings: the sum over GPUs of the
 * energy counter's last minus first valid value (two indexed look-ups per
 * GPU); GPUs without a counter fall back to the integrated instant (else
 * 1 s average) power, which reads their samples. *source is the common
 * source, FM_SRC_NONE if GPUs differ. NAN (and FM_OK) when a GPU has no
 * power data at all. */
int fm_metrics_quick_energy(fm_store *st, const fm_run *run, double *energy_j, fm_source *source,
                            fm_error *err);

/* ---- power derivatives (the seed's calculate_power_derivatives, done on
 * sensor updates instead of repeated polls) ---- */

/* dP/dt in W/s between consecutive deduplicated updates of a power series
 * (a poll that repeats a held value carries no information, so it is not a
 * point of zero slope), stamped at the later update. *resolution_s (may be
 * NULL) receives the effective time resolution: the sensor update period
 * (median interval between value changes), NAN when it cannot be
 * estimated (fewer than 3 changes). No slope is resolved on a finer scale. */
int fm_power_derivatives(const fm_series *power, fm_series *dpdt_out, double *resolution_s);

/* Steepest sustained rise and fall of the held power signal: the largest
 * and smallest (P(t + w) - P(t)) / w over sensor update instants t with
 * t + w inside the data. window_ns <= 0 uses 2 sensor update periods. */
typedef struct fm_ramp_extremes {
    int64_t window_ns;
    double max_rise_w_per_s; /* NAN when the data are shorter than the window */
    int64_t rise_at_ns;      /* start of the steepest rise */
    double max_fall_w_per_s; /* most negative slope (<= 0 when any fall) */
    int64_t fall_at_ns;
} fm_ramp_extremes;
int fm_power_ramp_extremes(const fm_series *power, int64_t window_ns, fm_ramp_extremes *out);
/* The same on already deduplicated updates (fm_series_dedup_held) whose
 * data end at data_end_ns (the last poll, which may be after the last
 * update). */
int fm_power_ramp_extremes_updates(const fm_series *updates, int64_t data_end_ns, int64_t window_ns,
                                   fm_ramp_extremes *out);

#ifdef __cplusplus
}
#endif
#endif
