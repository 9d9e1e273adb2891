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
} fm_run_metrics;

typedef struct fm_metrics_options {
    double tokens_per_query; /* default 100 */
    int64_t tokens_override; /* >= 0 replaces the run's tokens */
} fm_metrics_options;

/* Computes metrics of a stored run. Free with fm_run_metrics_free. */
int fm_metrics_compute(fm_store *st, int64_t run_id, const fm_metrics_options *opt,
                       fm_run_metrics *out, fm_error *err);
void fm_run_metrics_free(fm_run_metrics *m);

#ifdef __cplusplus
}
#endif
#endif
