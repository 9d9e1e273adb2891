/* Internal state of the fake libnvidia-ml.so.1 (test-only). The fake
 * stands in for the NVIDIA driver library: like the real one it keeps one
 * process-wide state between nvmlInit and nvmlShutdown, so a single global
 * struct (fake_state.c) guarded by a mutex is unavoidable here.
 * Configuration comes from environment variables read at the first
 * nvmlInit (docs/NVML.md lists them). */
#ifndef FIRMUS_FAKE_H
#define FIRMUS_FAKE_H

#include "fakenvml_hooks.h"
#include "firmus/sim.h"
#include "sensors/nvml_api.h"

#include <pthread.h>

#define FAKE_MAX_GPUS 64

/* What the environment asked for. */
typedef struct fake_config {
    int gpus;                /* FAKENVML_GPUS (default 1, 0 allowed) */
    char preset[64];         /* FAKENVML_PRESET (default Qwen3-32B) */
    uint64_t seed;           /* FAKENVML_SEED (default 1) */
    fm_sim_pattern pattern;  /* FAKENVML_PATTERN single|serving */
    double lead_idle_s;      /* FAKENVML_LEAD_IDLE_S (NAN: model default) */
    double decode_s;         /* FAKENVML_DECODE_S (NAN: model default) */
    char driver_version[80]; /* FAKENVML_DRIVER_VERSION */
    char nvml_version[80];   /* FAKENVML_NVML_VERSION */
    char name[96];           /* FAKENVML_NAME */
    unsigned int arch;       /* FAKENVML_ARCH (nvmlDeviceArchitecture_t number) */
    int no_instant;          /* FAKENVML_NO_INSTANT: field 186 per-field NOT_SUPPORTED */
    int no_avg;              /* FAKENVML_NO_AVG: GetPowerUsage NOT_SUPPORTED */
    int no_energy;           /* FAKENVML_NO_ENERGY */
    int no_temp;             /* FAKENVML_NO_TEMP: plain GetTemperature NOT_SUPPORTED */
    int no_temp_v;           /* FAKENVML_NO_TEMP_V */
    double transient_prob;   /* FAKENVML_TRANSIENT_PROB: power call fails this time */
    double zero_prob;        /* FAKENVML_ZERO_PROB: power call returns 0 mW */
    uint64_t fault_seed;     /* FAKENVML_FAULT_SEED (default: the seed) */
    int lost_gpu;            /* FAKENVML_LOST_GPU (-1: none) */
    int64_t lost_after_ns;   /* FAKENVML_LOST_AFTER_MS */
    long slow_us;            /* FAKENVML_SLOW_US: sleep in each power call */
    long energy_slow_us;     /* FAKENVML_ENERGY_SLOW_US: extra sleep in the energy call */
    int init_error;          /* FAKENVML_INIT_ERROR: nvmlInit returns this code */
} fake_config;

/* One device; a handle (nvml_device) points at one of these. */
typedef struct fake_gpu {
    int index;
} fake_gpu;

typedef struct fake_state {
    pthread_mutex_t lock;
    int init_count; /* nvmlInit calls not yet matched by nvmlShutdown */
    fake_config cfg;
    fm_sim *sim;
    int64_t t0_ns; /* CLOCK_MONOTONIC of sim time 0 */
    uint64_t fault_rng;
    long calls[FAKENVML_CALL_COUNT];
    fake_gpu gpus[FAKE_MAX_GPUS];
} fake_state;

/* Fault decided for one power call. */
enum fake_fault { FAKE_FAULT_NONE, FAKE_FAULT_TRANSIENT, FAKE_FAULT_ZERO };

/* nvmlInit / nvmlShutdown behind the exported functions. */
nvml_return fake_init(void);
nvml_return fake_shutdown(void);

/* Starts a device call: locks, checks initialisation and the handle,
 * advances the model to now, and answers GPU_IS_LOST for a lost GPU. On
 * SUCCESS the lock is held and *gpu is the index: finish with fake_end().
 * On any other return the lock is already released. */
nvml_return fake_begin(nvml_device device, int *gpu);
void fake_end(void);
/* Starts a system-level call (no device): lock held on SUCCESS. */
nvml_return fake_begin_system(void);

/* The shared state (call only with the lock held). */
fake_state *fake_get(void);
/* Counts a call (lock held). */
void fake_count(enum fakenvml_counted_call which);
/* Draws the fault for one power call (lock held). `zero_allowed`: whether
 * a 0 mW reading is a possible fault of this call. */
enum fake_fault fake_draw_fault(int zero_allowed);
/* Error code of a transient failure (lock held): mostly NOT_SUPPORTED, as
 * seen in practice, sometimes UNKNOWN. */
nvml_return fake_transient_code(void);
/* Sleeps FAKENVML_SLOW_US, plus FAKENVML_ENERGY_SLOW_US when `energy_call`
 * (call without the lock). */
void fake_slow_call(int energy_call);

#endif
