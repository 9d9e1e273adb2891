/* The sensor layer: one sample format, one device description, and one small
 * table of function pointers per backend (like nvtop's vendor files).
 * Backends: "nvml" (libnvidia-ml.so.1 opened with dlopen at run time) and
 * "sim" (built-in simulated GPUs: the embedded default and the test oracle).
 * Adding a backend means one new file in src/sensors/ and one line in the
 * backend list of src/sensors/sensor.c; nothing else changes. */
#ifndef FIRMUS_SENSOR_H
#define FIRMUS_SENSOR_H

#include "firmus/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which readings a sample (or a device) has. One bit per reading. */
enum fm_field {
    FM_F_POWER_INSTANT = 1u << 0, /* W, NVML_FI_DEV_POWER_INSTANT (186) */
    FM_F_POWER_AVG = 1u << 1,     /* W, nvmlDeviceGetPowerUsage: 1 s average on Ampere(!GA100)+ */
    FM_F_ENERGY = 1u << 2,        /* J, cumulative counter (nvmlDeviceGetTotalEnergyConsumption) */
    FM_F_TEMP = 1u << 3,          /* degrees C, GPU core */
    FM_F_SM_CLOCK = 1u << 4,      /* MHz */
    FM_F_UTIL = 1u << 5,          /* %, GPU utilisation */
    FM_F_MEM_USED = 1u << 6,      /* bytes */
    FM_F_CLOCK_EVENTS = 1u << 7,  /* NVML clocks-event ("throttle") reason bits */
};
#define FM_F_POWER_ALL (FM_F_POWER_INSTANT | FM_F_POWER_AVG | FM_F_ENERGY)
#define FM_F_SLOW (FM_F_TEMP | FM_F_SM_CLOCK | FM_F_UTIL | FM_F_MEM_USED | FM_F_CLOCK_EVENTS)
#define FM_F_ALL (FM_F_POWER_ALL | FM_F_SLOW)

/* NVML clocks-event reason bits we interpret (nvml.md section 1.7). */
#define FM_CLOCK_EVENT_GPU_IDLE 0x001ull
#define FM_CLOCK_EVENT_SW_POWER_CAP 0x004ull
#define FM_CLOCK_EVENT_HW_SLOWDOWN 0x008ull
#define FM_CLOCK_EVENT_SW_THERMAL 0x020ull
#define FM_CLOCK_EVENT_HW_THERMAL 0x040ull
#define FM_CLOCK_EVENT_HW_POWER_BRAKE 0x080ull
#define FM_CLOCK_EVENTS_POWER (FM_CLOCK_EVENT_SW_POWER_CAP | FM_CLOCK_EVENT_HW_POWER_BRAKE)
#define FM_CLOCK_EVENTS_THERMAL (FM_CLOCK_EVENT_SW_THERMAL | FM_CLOCK_EVENT_HW_THERMAL)

/* One reading of one GPU at one tick. A field is meaningful only when its
 * bit is set in `valid`; unset fields hold NAN (or 0 for the integer ones)
 * and must be treated as missing, never as zero. */
typedef struct fm_sample {
    int64_t t_ns;   /* when it was read: the backend clock (CLOCK_MONOTONIC, or virtual time) */
    uint32_t valid; /* enum fm_field bits */
    double power_instant_w;
    double power_avg_w;
    double energy_j; /* cumulative since driver load (or sim start) */
    double temp_c;
    double sm_clock_mhz;
    double util_pct;
    uint64_t mem_used_bytes;
    uint64_t clock_events;
} fm_sample;

/* Resets a sample to "nothing valid" (doubles NAN). */
void fm_sample_clear(fm_sample *s, int64_t t_ns);

/* What a device is and what it can report (probed once when opened). */
typedef struct fm_device_info {
    int index;
    char name[96]; /* "NVIDIA H100 80GB HBM3" */
    char uuid[96];
    char pci_bus_id[32];
    char arch[24];        /* "hopper", "ampere", ... or "unknown" */
    double power_limit_w; /* enforced limit; NAN if unknown */
    double idle_power_w;  /* sim only (its model); NAN on real GPUs */
    uint32_t supported;   /* enum fm_field bits that worked at probe time */
    char
        power_instant_source[64]; /* e.g. "nvmlDeviceGetFieldValues(186)" or "sim instant sensor" */
    char power_avg_source[64];
    char energy_source[64];
} fm_device_info;

/* System-wide facts of a backend. */
typedef struct fm_backend_info {
    char backend[16];        /* "nvml", "sim" */
    char driver_version[32]; /* "" when not applicable */
    char nvml_version[32];
    char library_path[256]; /* the library actually loaded ("" for sim) */
} fm_backend_info;

/* The clock a backend's samples are stamped with. Real backends use
 * CLOCK_MONOTONIC; the simulator may run in virtual time, where sleeping
 * just advances the clock (a 10-minute run simulates in well under 1 s). */
typedef struct fm_clock {
    int virtual_time; /* 1: now_ns/sleep_until are virtual */
    int64_t virtual_now_ns;
} fm_clock;

int64_t fm_clock_now_ns(const fm_clock *c);
/* Sleeps until the absolute deadline (or advances virtual time to it). */
void fm_clock_sleep_until(fm_clock *c, int64_t deadline_ns);
/* CLOCK_MONOTONIC and CLOCK_REALTIME in ns. */
int64_t fm_monotonic_ns(void);
int64_t fm_realtime_ns(void);

/* Options for opening a backend; a zeroed struct means defaults. */
typedef struct fm_backend_options {
    const char *library_path; /* nvml: dlopen this instead of "libnvidia-ml.so.1" */
    /* sim: */
    int sim_gpus;               /* number of simulated GPUs, default 1 */
    const char *sim_preset;     /* preset name, default "Qwen3-32B" */
    uint64_t sim_seed;          /* default 1 */
    const char *sim_pattern;    /* "single" (default) or "serving" */
    double sim_request_rate_hz; /* serving: mean arrivals per second (default 0.2) */
    int sim_real_time;          /* 1: sim runs in real time (needed with a child command) */
} fm_backend_options;

typedef struct fm_backend fm_backend; /* opaque per-backend state */

/* The table each backend file provides. */
typedef struct fm_backend_ops {
    const char *name;
    const char *description;
    int (*open)(const fm_backend_options *opt, fm_backend **out, fm_error *err);
    void (*close)(fm_backend *b);
    int (*device_count)(fm_backend *b);
    void (*backend_info)(fm_backend *b, fm_backend_info *out);
    int (*device_info)(fm_backend *b, int index, fm_device_info *out, fm_error *err);
    /* Reads the fields asked for (enum fm_field bits) of one device now.
     * Fields the device cannot give this time are left invalid.
     * Returns FM_OK (even if some fields are missing), FM_ERR_GPU_LOST
     * when the device is gone for good, or another error. */
    int (*read)(fm_backend *b, int index, uint32_t fields, fm_sample *out, fm_error *err);
    fm_clock *(*clock)(fm_backend *b);
} fm_backend_ops;

/* A handle: the ops plus the backend's state. */
typedef struct fm_sensor {
    const fm_backend_ops *ops;
    fm_backend *state;
} fm_sensor;

/* Looks a backend up by name ("nvml", "sim"); NULL if unknown. */
const fm_backend_ops *fm_backend_find(const char *name);
/* NULL-terminated list of all backends. */
const fm_backend_ops *const *fm_backend_list(void);

/* Opens a backend by name. On failure err says why in one line; NVML
 * missing gives FM_ERR_NO_LIBRARY with a hint to use --backend sim. */
int fm_sensor_open(const char *backend, const fm_backend_options *opt, fm_sensor *out,
                   fm_error *err);
void fm_sensor_close(fm_sensor *s);

/* Convenience wrappers over the ops table. */
int fm_sensor_device_count(fm_sensor *s);
int fm_sensor_device_info(fm_sensor *s, int index, fm_device_info *out, fm_error *err);
void fm_sensor_backend_info(fm_sensor *s, fm_backend_info *out);
int fm_sensor_read(fm_sensor *s, int index, uint32_t fields, fm_sample *out, fm_error *err);
fm_clock *fm_sensor_clock(fm_sensor *s);

/* Names of fields for reports: "power_instant", "energy", ... */
const char *fm_field_name(enum fm_field f);

#ifdef __cplusplus
}
#endif
#endif
