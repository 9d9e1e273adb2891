/* Private structures of the simulated node, shared by the sim_*.c files:
 * the random number generator, the per-GPU workload and power state, the
 * true-energy history, and the node itself. Not part of the public API. */
#ifndef FIRMUS_SIM_INTERNAL_H
#define FIRMUS_SIM_INTERNAL_H

#include "firmus/sim.h"

#include <stdint.h>

#define SIM_STEP_NS 1000000LL     /* the model's time step: 1 ms */
#define SIM_POWER_UNITS_PER_W 64  /* true power is held in 1/64 W units */
#define SIM_POWER_MAX_UNITS 65535 /* so one step fits a uint16_t: max 1023.98 W */
#define SIM_ANCHOR_STEPS 100      /* cumulative energy anchor every 100 ms */
#define SIM_CHUNK_STEPS 65536     /* per-ms history is kept in chunks of ~65.5 s */
#define SIM_THERMAL_STEPS 10      /* thermal model updated every 10 ms */
#define SIM_UTIL_STEPS 1000       /* utilisation averaged over the last 1 s */
/* H200 memory as nvidia-smi reports it ("143771 MiB") */
#define SIM_H200_MEMORY_BYTES (143771ull * 1024 * 1024)

/* xoshiro256** state (seeded through splitmix64). */
typedef struct sim_rng {
    uint64_t s[4];
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
double sim_rng_uniform(sim_rng *r);     /* [0, 1) */
double sim_rng_gauss(sim_rng *r);       /* standard normal */
double sim_rng_exponential(sim_rng *r); /* mean 1 */

/* True energy history of one GPU: power of every 1 ms step (uint16, 1/64 W
 * units) in chunks, plus the exact cumulative energy at every 100 ms.
 * Energy units: 1/64 W * 1 ms = 1/64 mJ, summed in an int64 (exact). */
typedef struct sim_history {
    uint16_t **chunks;
    size_t n_chunks, cap_chunks;
    int64_t *anchors; /* anchors[a] = cumulative units before step a*100 */
    size_t n_anchors, cap_anchors;
    int64_t steps;     /* steps stored */
    int64_t cum_units; /* cumulative units through all stored steps */
} sim_history;

int sim_history_push(sim_history *h, uint16_t power_units);
void sim_history_free(sim_history *h);
uint16_t sim_history_step(const sim_history *h, int64_t step);
/* Cumulative units before step k (0 <= k <= steps). */
int64_t sim_history_cum_before(const sim_history *h, int64_t k);

/* Workload and power state of one GPU. */
typedef struct sim_gpu {
    sim_rng work_rng;  /* arrivals and request lengths */
    sim_rng noise_rng; /* power noise */
    fm_phase phase;
    int64_t phase_start_step;
    int64_t phase_end_step; /* ramp, prefill, fall: first step of the next phase */
    double line_from_w;     /* ramp / fall: power at the phase start */
    double line_slope_w_per_step;
    /* decode */
    int64_t token_elapsed_ns; /* time into the current decode step */
    double slow_noise_w;      /* AR(1) level, redrawn each decode step */
    int decode_done;          /* all requests finished: fall starts next step */
    int64_t *req_tokens_left; /* active requests */
    int n_req, cap_req;
    /* workload pattern */
    int single_issued;
    int64_t single_start_step;
    int64_t next_arrival_step; /* serving */
    /* outputs */
    uint16_t last_units;
    double tokens;
    sim_history hist;
    fm_sim_segment *segs; /* closed segments, plus the open one last */
    size_t n_segs, cap_segs;
    int64_t seg_start_units;
    double seg_tokens;
    /* thermal and utilisation */
    double temp_c;
    int64_t block_units; /* energy in the current thermal block */
    uint8_t busy_ring[SIM_UTIL_STEPS];
    int busy_count;
    /* sensor values of the last publication / counter update read (they
     * only change every 100 ms; the history they come from never changes) */
    int64_t cached_publish_ns, cached_energy_ns;
    double cached_instant_w, cached_average_w, cached_energy_j;
} sim_gpu;

struct fm_sim {
    fm_sim_config cfg;
    fm_sim_preset preset; /* a copy: the config points at it */
    int64_t now_ns;
    int64_t steps_done; /* steps [0, steps_done) computed */
    int64_t token_period_ns;
    double slow_sigma_w;  /* calibrated slow decode noise */
    double slow_rho;      /* AR(1) coefficient per decode step */
    double thermal_decay; /* exp(-block / tau) */
    uint64_t mem_used_bytes;
    int oom; /* history allocation failed: advancing stops */
    sim_gpu *gpus;
};

/* sim_config.c: configuration checks and the modelled memory footprint. */
int sim_check_config(const fm_sim_config *c, fm_error *err);
uint64_t sim_model_memory_bytes(const fm_sim_preset *p);

/* sim_model.c: one GPU's initial state, one 1 ms step, segment storage. */
void sim_gpu_init(fm_sim *sim, int index);
void sim_gpu_step(fm_sim *sim, sim_gpu *g, int64_t step);
int sim_reserve_segments(sim_gpu *g, size_t need);

/* sim_thermal.c: initial (idle steady) temperatures; one 10 ms block. */
void sim_thermal_init_idle(fm_sim *sim);
void sim_thermal_update(fm_sim *sim);

/* sim_calibrate.c: chooses slow_sigma_w and slow_rho. */
void sim_calibrate_decode_noise(fm_sim *sim);

/* sim_truth.c: cumulative true energy of a GPU at any instant <= now, in
 * energy units (1/64 mJ), as a double (exact integer when ns is on the
 * 1 ms grid). Before t = 0 the GPU is taken to have been idle. */
double sim_energy_units_at(const fm_sim *sim, const sim_gpu *g, int64_t t_ns);

#endif
