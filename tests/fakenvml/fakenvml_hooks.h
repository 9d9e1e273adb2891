/* Test-only entry points of the fake libnvidia-ml.so.1 (tests/fakenvml):
 * functions that are NOT part of NVML and let a test that dlopens the fake
 * reach the simulated node behind it and compare what the nvml backend
 * reported with the model's sensors and truth. A test looks them up with
 * dlsym on the same library file the backend loaded (dlopen returns the
 * same, already loaded, instance), after the backend has called nvmlInit.
 *
 * Sim time is CLOCK_MONOTONIC minus fakenvml_t0_ns(). Every hook below
 * takes the fake's lock and first advances the model to "now", exactly as
 * the NVML functions do. */
#ifndef FIRMUS_FAKENVML_HOOKS_H
#define FIRMUS_FAKENVML_HOOKS_H

#include "firmus/sim.h"

/* Counted NVML entry points (see fakenvml_call_count). */
enum fakenvml_counted_call {
    FAKENVML_CALL_FIELD_VALUES = 0, /* nvmlDeviceGetFieldValues */
    FAKENVML_CALL_POWER_USAGE,      /* nvmlDeviceGetPowerUsage */
    FAKENVML_CALL_TOTAL_ENERGY,     /* nvmlDeviceGetTotalEnergyConsumption */
    FAKENVML_CALL_TEMPERATURE,      /* nvmlDeviceGetTemperature */
    FAKENVML_CALL_TEMPERATURE_V,    /* nvmlDeviceGetTemperatureV */
    FAKENVML_CALL_COUNT
};

/* CLOCK_MONOTONIC (ns) of sim time 0, i.e. of the first nvmlInit; 0 when
 * NVML is not initialised. */
int64_t fakenvml_t0_ns(void);
/* The simulated node (NULL when not initialised). Not locked: use it only
 * while no other thread calls into the fake. */
fm_sim *fakenvml_sim(void);
/* Advances the model to now; returns the sim time (ns), or -1. */
int64_t fakenvml_sim_now_ns(void);
/* Advances to now and reads what the sensors of `gpu` publish (the values
 * the NVML functions return now, before fault injection). *sim_t_ns gets the
 * sim time of the read. Returns 0, or -1 (not initialised / no such GPU). */
int fakenvml_read_sensors(int gpu, fm_sample *out, int64_t *sim_t_ns);
/* True energy of `gpu` between two past sim instants (J). */
double fakenvml_true_energy_between_j(int gpu, int64_t t0_ns, int64_t t1_ns);
/* The model's configuration (sensor periods and phases). 0 or -1. */
int fakenvml_config(fm_sim_config *out);
/* How many times an NVML entry point was called since nvmlInit. */
long fakenvml_call_count(enum fakenvml_counted_call which);

typedef int64_t (*fakenvml_t0_ns_fn)(void);
typedef fm_sim *(*fakenvml_sim_fn)(void);
typedef int64_t (*fakenvml_sim_now_ns_fn)(void);
typedef int (*fakenvml_read_sensors_fn)(int gpu, fm_sample *out, int64_t *sim_t_ns);
typedef double (*fakenvml_true_energy_between_j_fn)(int gpu, int64_t t0_ns, int64_t t1_ns);
typedef int (*fakenvml_config_fn)(fm_sim_config *out);
typedef long (*fakenvml_call_count_fn)(enum fakenvml_counted_call which);

#endif
