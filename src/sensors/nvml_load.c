/* Loads the NVIDIA Management Library at run time (no build dependency on
 * CUDA or the driver): picks the file, dlopens it, and binds each NVML
 * function by name, versioned names first (a dlopen loader must ask for
 * nvmlInit_v2 etc. itself, nvml.md 1.2). Optional functions stay NULL when
 * the library lacks them. */
#include "sensors/nvml_load.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *fm_nvml_library_choice(const char *requested)
{
    if (requested && *requested)
        return requested;
    const char *from_env = getenv(FM_NVML_LIBRARY_ENV);
    if (from_env && *from_env)
        return from_env;
    return FM_NVML_DEFAULT_LIBRARY;
}

/* Returns the first of `names` (NULL-terminated) the library exports. */
static void *bind_first(void *dl, const char *const *names, const char **bound_name)
{
    for (size_t i = 0; names[i]; i++) {
        void *fn = dlsym(dl, names[i]);
        if (fn) {
            if (bound_name)
                *bound_name = names[i];
            return fn;
        }
    }
    return NULL;
}

static void *bind_one(void *dl, const char *name)
{
    return dlsym(dl, name);
}

/* The path the dynamic loader really used (so reports can name the file). */
static void remember_loaded_path(fm_nvml_library *lib, const char *asked)
{
    struct link_map *map = NULL;
    const char *path = asked;
    if (dlinfo(lib->dl, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && map->l_name[0])
        path = map->l_name;
    char *absolute = realpath(path, NULL);
    snprintf(lib->path, sizeof lib->path, "%s", absolute ? absolute : path);
    free(absolute);
}

/* POSIX function pointers from dlsym: cast through a union-free assignment
 * (dlsym returns void *, which POSIX guarantees converts to a function). */
#define BIND(lib, member, name) (*(void **)&(lib)->member = bind_one((lib)->dl, (name)))

static int bind_required(fm_nvml_library *lib, fm_error *err)
{
    static const char *const init_names[] = {"nvmlInit_v2", "nvmlInit", NULL};
    static const char *const count_names[] = {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount", NULL};
    static const char *const handle_names[] = {"nvmlDeviceGetHandleByIndex_v2",
                                               "nvmlDeviceGetHandleByIndex", NULL};
    *(void **)&lib->init = bind_first(lib->dl, init_names, &lib->init_name);
    *(void **)&lib->get_count = bind_first(lib->dl, count_names, NULL);
    *(void **)&lib->get_handle_by_index = bind_first(lib->dl, handle_names, NULL);
    BIND(lib, shutdown, "nvmlShutdown");
    const char *missing = !lib->init                  ? "nvmlInit_v2"
                          : !lib->get_count           ? "nvmlDeviceGetCount_v2"
                          : !lib->get_handle_by_index ? "nvmlDeviceGetHandleByIndex_v2"
                          : !lib->shutdown            ? "nvmlShutdown"
                                                      : NULL;
    if (missing)
        return fm_fail(err, FM_ERR_NO_LIBRARY,
                       "%s is not a usable NVIDIA driver library (it lacks %s); try --backend sim",
                       lib->path, missing);
    return FM_OK;
}

static void bind_optional(fm_nvml_library *lib)
{
    static const char *const pci_names[] = {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2",
                                            "nvmlDeviceGetPciInfo", NULL};
    static const char *const event_names[] = {"nvmlDeviceGetCurrentClocksEventReasons",
                                              "nvmlDeviceGetCurrentClocksThrottleReasons", NULL};
    const char *pci_name = NULL;
    *(void **)&lib->get_pci_info = bind_first(lib->dl, pci_names, &pci_name);
    lib->pci_info_version = !pci_name                         ? 0
                            : strstr(pci_name, "_v3") != NULL ? 3
                            : strstr(pci_name, "_v2") != NULL ? 2
                                                              : 1;
    *(void **)&lib->get_clock_events = bind_first(lib->dl, event_names, &lib->clock_events_name);
    BIND(lib, error_string, "nvmlErrorString");
    BIND(lib, get_driver_version, "nvmlSystemGetDriverVersion");
    BIND(lib, get_nvml_version, "nvmlSystemGetNVMLVersion");
    BIND(lib, get_name, "nvmlDeviceGetName");
    BIND(lib, get_uuid, "nvmlDeviceGetUUID");
    BIND(lib, get_architecture, "nvmlDeviceGetArchitecture");
    BIND(lib, get_enforced_power_limit, "nvmlDeviceGetEnforcedPowerLimit");
    BIND(lib, get_field_values, "nvmlDeviceGetFieldValues");
    BIND(lib, get_power_usage, "nvmlDeviceGetPowerUsage");
    BIND(lib, get_total_energy, "nvmlDeviceGetTotalEnergyConsumption");
    BIND(lib, get_temperature, "nvmlDeviceGetTemperature");
    BIND(lib, get_temperature_v, "nvmlDeviceGetTemperatureV");
    BIND(lib, get_clock_info, "nvmlDeviceGetClockInfo");
    BIND(lib, get_utilization, "nvmlDeviceGetUtilizationRates");
    BIND(lib, get_memory_info, "nvmlDeviceGetMemoryInfo");
}

/* True when dlopen failed because the file is not there at all (as opposed
 * to being there but unloadable). */
static int library_is_absent(const char *name, const char *dl_message)
{
    if (strchr(name, '/'))
        return access(name, F_OK) != 0;
    return dl_message && strstr(dl_message, "No such file") != NULL;
}

int fm_nvml_library_load(const char *requested, fm_nvml_library *lib, fm_error *err)
{
    memset(lib, 0, sizeof *lib);
    const char *name = fm_nvml_library_choice(requested);
    snprintf(lib->path, sizeof lib->path, "%s", name);
    dlerror();
    lib->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib->dl) {
        const char *why = dlerror();
        if (library_is_absent(name, why))
            return fm_fail(err, FM_ERR_NO_LIBRARY,
                           "NVIDIA driver library %s not found (no NVIDIA driver on this "
                           "machine?); try --backend sim",
                           name);
        return fm_fail(err, FM_ERR_NO_LIBRARY,
                       "cannot load NVIDIA driver library %s: %s; try --backend sim", name,
                       why ? why : "unknown dlopen error");
    }
    remember_loaded_path(lib, name);
    int rc = bind_required(lib, err);
    if (rc != FM_OK) {
        fm_nvml_library_unload(lib);
        return rc;
    }
    bind_optional(lib);
    return FM_OK;
}

void fm_nvml_library_unload(fm_nvml_library *lib)
{
    if (lib->dl)
        dlclose(lib->dl);
    lib->dl = NULL;
}

const char *fm_nvml_return_name(nvml_return r)
{
    switch (r) {
    case NVML_RET_SUCCESS:
        return "NVML_SUCCESS";
    case NVML_RET_UNINITIALIZED:
        return "NVML_ERROR_UNINITIALIZED";
    case NVML_RET_INVALID_ARGUMENT:
        return "NVML_ERROR_INVALID_ARGUMENT";
    case NVML_RET_NOT_SUPPORTED:
        return "NVML_ERROR_NOT_SUPPORTED";
    case NVML_RET_NO_PERMISSION:
        return "NVML_ERROR_NO_PERMISSION";
    case NVML_RET_NOT_FOUND:
        return "NVML_ERROR_NOT_FOUND";
    case NVML_RET_INSUFFICIENT_SIZE:
        return "NVML_ERROR_INSUFFICIENT_SIZE";
    case NVML_RET_DRIVER_NOT_LOADED:
        return "NVML_ERROR_DRIVER_NOT_LOADED";
    case NVML_RET_TIMEOUT:
        return "NVML_ERROR_TIMEOUT";
    case NVML_RET_LIBRARY_NOT_FOUND:
        return "NVML_ERROR_LIBRARY_NOT_FOUND";
    case NVML_RET_FUNCTION_NOT_FOUND:
        return "NVML_ERROR_FUNCTION_NOT_FOUND";
    case NVML_RET_GPU_IS_LOST:
        return "NVML_ERROR_GPU_IS_LOST";
    case NVML_RET_LIB_RM_VERSION_MISMATCH:
        return "NVML_ERROR_LIB_RM_VERSION_MISMATCH";
    case NVML_RET_NO_DATA:
        return "NVML_ERROR_NO_DATA";
    case NVML_RET_ARGUMENT_VERSION_MISMATCH:
        return "NVML_ERROR_ARGUMENT_VERSION_MISMATCH";
    case NVML_RET_UNKNOWN:
        return "NVML_ERROR_UNKNOWN";
    }
    return "NVML_ERROR_(unlisted)";
}
