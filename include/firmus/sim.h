/* The simulated GPU node: N GPUs running an LLM inference workload, with
 * true power at 1 ms resolution, a thermal model with neighbour coupling,
 * and the sensors as NVML presents them. It is the embedded default backend
 * ("sim"), the model behind the test-only fake libnvidia-ml.so.1, and the
 * test oracle: everything true (power, energy, phase boundaries) can be
 * asked for. Deterministic from a seed.
 *
 * Time is "sim time" in ns from the node's start (t = 0). The model only
 * moves forward: fm_sim_advance(node, t) steps every GPU in 1 ms steps up to
 * t; queries about the past are answered from running sums and a recorded
 * history of phase boundaries, and a sensor read reports what the sensor
 * published at the current time. */
#ifndef FIRMUS_SIM_H
#define FIRMUS_SIM_H

#include "firmus/common.h"
#include "firmus/sensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The true workload phase at an instant. Numbers match the profile's names. */
typedef enum fm_phase {
    FM_PHASE_IDLE = 0,
    FM_PHASE_RAMP = 1,
    FM_PHASE_PREFILL = 2,
    FM_PHASE_DECODE = 3,
    FM_PHASE_FALL = 4,
    FM_PHASE_COUNT = 5,
} fm_phase;

/* "idle", "ramp", "prefill", "decode", "fall"; and the reverse (-1 if unknown). */
const char *fm_phase_name(fm_phase p);
int fm_phase_from_name(const char *name);

/* A preset: the original framework's measured H200 table (DESIGN.md). */
typedef struct fm_sim_preset {
    const char *name;    /* "Qwen3-235B" */
    double params;       /* model size, parameters */
    double ramp_w_per_s; /* true ramp rate into prefill */
    double fall_w_per_s; /* negative */
    double prefill_peak_w;
    double decode_avg_w;
    double decode_stdev_w; /* of the instant sensor during decode */
    double decode_cv;
} fm_sim_preset;

/* The six presets; *count receives how many. */
const fm_sim_preset *fm_sim_presets(int *count);
/* Case-insensitive lookup; NULL if unknown. */
const fm_sim_preset *fm_sim_preset_find(const char *name);

/* Sensor model parameters (defaults follow nvml.md for H100/H200). */
typedef struct fm_sim_sensor_params {
    int64_t publish_period_ns; /* instant and 1 s average republished every 100 ms */
    int64_t instant_window_ns; /* instant = mean of true power over the last 25 ms */
    int64_t average_window_ns; /* 1 s */
    int64_t energy_period_ns;  /* energy counter update period */
    int64_t publish_phase_ns;  /* offset of the publication grid from t = 0 */
    int64_t energy_phase_ns;
    uint64_t energy_offset_mj; /* counter value at t = 0 ("since driver load"), default 0 */
} fm_sim_sensor_params;

/* Thermal model of one GPU, first order with neighbour coupling:
 * tau * dT_i/dt = T_amb + r * P_i + k * sum_{j neighbour}(T_j - T_amb) - T_i.
 * Neighbours are i-1 and i+1 in index order. */
typedef struct fm_sim_thermal_params {
    double ambient_c;       /* inlet / coolant temperature */
    double r_c_per_w;       /* steady-state rise per watt */
    double tau_s;           /* time constant */
    double coupling;        /* k, dimensionless */
    double thermal_limit_c; /* SW thermal slowdown bit at or above this */
} fm_sim_thermal_params;

typedef enum fm_sim_pattern {
    FM_SIM_SINGLE = 0,  /* idle, one request (ramp, prefill, decode, fall), idle */
    FM_SIM_SERVING = 1, /* requests arrive at random; idle gaps between busy periods */
} fm_sim_pattern;

typedef struct fm_sim_config {
    int gpus; /* >= 1 */
    const fm_sim_preset *preset;
    uint64_t seed;
    fm_sim_pattern pattern;
    double idle_power_w;    /* default 65 */
    double power_limit_w;   /* default 700 (H200 SXM TDP) */
    double lead_idle_s;     /* single: idle before the request (default 2) */
    double prefill_s;       /* prefill plateau length (default 0.6) */
    double decode_s;        /* single: decode length (default 20) */
    double token_period_s;  /* decode step, default 0.025 */
    double request_rate_hz; /* serving: mean arrival rate */
    /* Added by the sim issue (defaults and meaning in docs/SIMULATOR.md): */
    double lead_idle_stagger_s; /* single: GPU i starts its request i * this later (0) */
    double serve_decode_mean_s; /* serving: mean decode length per request, exponential (4) */
    double decode_noise_tau_s;  /* correlation time of the slow decode noise (0.5) */
    double token_pulse_frac;    /* per-token pulse peak-to-trough / (decode avg - idle) (0.15) */
    double token_pulse_duty;    /* fraction of a decode step in the compute pulse (0.6) */
    double busy_noise_w;        /* white noise stdev per 1 ms step when not idle (2 W) */
    double idle_noise_w;        /* white noise stdev per 1 ms step when idle (0.5 W) */
    int shared_workload;        /* 1: all GPUs see the same request stream (one replica); 0 */
    fm_sim_sensor_params sensor;
    fm_sim_thermal_params thermal;
} fm_sim_config;

/* Fills a config with defaults for `gpus` GPUs running `preset`. */
void fm_sim_config_default(fm_sim_config *cfg, const fm_sim_preset *preset, int gpus);

typedef struct fm_sim fm_sim; /* opaque node */

int fm_sim_create(const fm_sim_config *cfg, fm_sim **out, fm_error *err);
void fm_sim_destroy(fm_sim *sim);
const fm_sim_config *fm_sim_get_config(const fm_sim *sim);

/* Advances the model to sim time t_ns (no-op if already there). */
void fm_sim_advance(fm_sim *sim, int64_t t_ns);
int64_t fm_sim_now_ns(const fm_sim *sim);

/* (Queries below with a GPU index out of range give NAN / nothing valid.) */
/* What the sensors publish at the current time, as NVML would give it
 * (instant held for a publication period, 1 s average, energy counter
 * quantised to mJ and updated on its own period, temperature, clocks,
 * utilisation, memory, clocks-event bits). All fields valid. */
void fm_sim_read_sensors(fm_sim *sim, int gpu, fm_sample *out);

/* ---- truth, for tests and validation ---- */
/* True power of a GPU at the last 1 ms step. */
double fm_sim_true_power_w(const fm_sim *sim, int gpu);
/* True energy of a GPU from t = 0 to the current time, J. */
double fm_sim_true_energy_j(const fm_sim *sim, int gpu);
/* True energy between two past instants (ns); they must lie within the
 * retained history (the whole run for runs up to 24 h of sim time). */
double fm_sim_true_energy_between_j(const fm_sim *sim, int gpu, int64_t t0_ns, int64_t t1_ns);
/* True phase of a GPU at the current time. */
fm_phase fm_sim_true_phase(const fm_sim *sim, int gpu);
double fm_sim_true_temp_c(const fm_sim *sim, int gpu);

/* A true phase segment [start, end). */
typedef struct fm_sim_segment {
    fm_phase phase;
    int64_t start_ns;
    int64_t end_ns;
    double energy_j; /* true energy in the segment */
    double tokens;   /* decode tokens produced in the segment */
} fm_sim_segment;

/* True segments of a GPU up to the current time (the last one ends now).
 * Returns the count; *out points into the sim (valid until the next advance). */
size_t fm_sim_true_segments(const fm_sim *sim, int gpu, const fm_sim_segment **out);
/* Decode tokens produced so far (all GPUs of one replica produce the same
 * tokens; this is per GPU). */
double fm_sim_true_tokens(const fm_sim *sim, int gpu);

/* ---- added by the sim issue ---- */
/* The publication instant of the instant/average values the sensors show
 * now (<= now), and the instant of the energy counter's last update. */
int64_t fm_sim_last_publish_ns(const fm_sim *sim);
int64_t fm_sim_last_energy_update_ns(const fm_sim *sim);
/* Stdev (W) of the slow decode noise chosen so that the instant sensor's
 * decode CV matches the preset (docs/SIMULATOR.md). */
double fm_sim_decode_noise_sigma_w(const fm_sim *sim);
/* True power of the 1 ms step containing t (0 <= t < now), W; NAN outside. */
double fm_sim_true_power_at_w(const fm_sim *sim, int gpu, int64_t t_ns);
/* Total memory of one simulated GPU (H200: 143771 MiB), bytes. */
uint64_t fm_sim_memory_total_bytes(const fm_sim *sim);
/* The simulated node behind a "sim" sensor; NULL for any other backend. */
fm_sim *fm_sensor_sim(fm_sensor *s);

#ifdef __cplusplus
}
#endif
#endif
