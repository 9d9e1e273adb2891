/* Loading libnvidia-ml.so.1 at run time: which file, dlopen, and the table
 * of NVML function pointers looked up by name (versioned names first).
 * Private to the nvml backend (src/sensors/nvml.c). */
#ifndef FIRMUS_NVML_LOAD_H
#define FIRMUS_NVML_LOAD_H

#include "firmus/common.h"
#include "sensors/nvml_api.h"

/* The library name dlopen searches for when nothing else is asked for. */
#define FM_NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"
/* Environment variable naming another library file. */
#define FM_NVML_LIBRARY_ENV "FIRMUS_NVML_LIBRARY"

/* The loaded library. Required functions are never NULL once loaded;
 * optional ones are NULL when the library does not export them (that
 * capability is then off). `*_name` says which symbol was bound. */
typedef struct fm_nvml_library {
    void *dl;       /* dlopen handle */
    char path[256]; /* the file actually loaded (or the name asked for) */
    /* required */
    nvml_init_fn init;
    nvml_shutdown_fn shutdown;
    nvml_get_count_fn get_count;
    nvml_get_handle_fn get_handle_by_index;
    /* optional: system */
    nvml_error_string_fn error_string;
    nvml_system_string_fn get_driver_version;
    nvml_system_string_fn get_nvml_version;
    /* optional: identity */
    nvml_device_string_fn get_name;
    nvml_device_string_fn get_uuid;
    nvml_get_pci_info_fn get_pci_info;
    int pci_info_version; /* 3, 2 or 1 (plain): where the bus id is written */
    nvml_get_uint_fn get_architecture;
    nvml_get_uint_fn get_enforced_power_limit;
    /* optional: readings */
    nvml_get_field_values_fn get_field_values;
    nvml_get_uint_fn get_power_usage;
    nvml_get_ull_fn get_total_energy;
    nvml_get_temperature_fn get_temperature;
    nvml_get_temperature_v_fn get_temperature_v;
    nvml_get_clock_fn get_clock_info;
    nvml_get_utilization_fn get_utilization;
    nvml_get_memory_fn get_memory_info;
    nvml_get_ull_fn get_clock_events;
    const char *clock_events_name; /* which of the two names was bound */
    const char *init_name;
} fm_nvml_library;

/* Chooses the file: `requested` if not NULL/empty, else $FIRMUS_NVML_LIBRARY
 * if set, else "libnvidia-ml.so.1". */
const char *fm_nvml_library_choice(const char *requested);

/* dlopens the library and binds its functions. Does not call nvmlInit.
 * Library absent or unusable -> FM_ERR_NO_LIBRARY with one line. */
int fm_nvml_library_load(const char *requested, fm_nvml_library *lib, fm_error *err);
void fm_nvml_library_unload(fm_nvml_library *lib);

/* "NVML_ERROR_GPU_IS_LOST"-style name of a return code (callers print the
 * number beside it). */
const char *fm_nvml_return_name(nvml_return r);

#endif
