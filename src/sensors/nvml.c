/* The "nvml" sensor backend: NVIDIA GPUs through libnvidia-ml.so.1, loaded
 * at run time (src/sensors/nvml_load.c). At open it initialises NVML, finds
 * every GPU and probes once per GPU which readings work; read() then asks
 * only for readings that are both supported and requested.
 *
 * What each reading is and where it comes from (nvml.md; docs/NVML.md):
 *   power_instant_w  nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT=186,
 *                    scope GPU), value.uiVal mW, per-field status checked
 *   power_avg_w      nvmlDeviceGetPowerUsage, mW (a 1 s average on Ampere
 *                    except GA100 and newer; instantaneous on older GPUs)
 *   energy_j         nvmlDeviceGetTotalEnergyConsumption, mJ since driver load
 *   temp_c           nvmlDeviceGetTemperature(GPU) or ...TemperatureV
 *   sm_clock_mhz     nvmlDeviceGetClockInfo(SM)
 *   util_pct         nvmlDeviceGetUtilizationRates().gpu
 *   mem_used_bytes   nvmlDeviceGetMemoryInfo (v1 struct)
 *   clock_events     nvmlDeviceGetCurrentClocksEventReasons (or the older
 *                    ...ClocksThrottleReasons name)
 * A reading that fails this time (NOT_SUPPORTED, timeouts, a 0 mW power
 * value) is left missing in that sample, never 0. NVML_ERROR_GPU_IS_LOST
 * marks that GPU lost for good: read() returns FM_ERR_GPU_LOST for it from
 * then on while the other GPUs keep reading.
 *
 * Samples are stamped with CLOCK_MONOTONIC right after the power read.
 * All state lives in the backend struct (no globals); NVML itself is
 * thread-safe, and each GPU's state is touched only by reads of that GPU. */
#include "firmus/sensor.h"
#include "sensors/nvml_load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many times a capability is tried at open before it is declared
 * unsupported: readings can fail transiently (nvml.md 0.7), a capability
 * should not be switched off for a whole run because of one such failure. */
#define PROBE_ATTEMPTS 3

/* Which temperature call works on a GPU. */
enum temp_call { TEMP_CALL_NONE, TEMP_CALL_PLAIN, TEMP_CALL_V };

/* The outcome of reading a group of fields. */
enum reading { READING_OK, READING_LOST };

typedef struct nvml_gpu {
    nvml_device handle;
    int have_handle;
    int lost;           /* NVML_ERROR_GPU_IS_LOST seen: no more reads */
    char lost_call[48]; /* the call that reported it */
    enum temp_call temp_call;
    fm_device_info info;
} nvml_gpu;

struct fm_backend {
    fm_nvml_library lib;
    int initialized; /* nvmlInit succeeded: nvmlShutdown owed */
    int gpu_count;
    nvml_gpu *gpus;
    fm_backend_info info;
    fm_clock clock; /* CLOCK_MONOTONIC, never virtual */
};

/* ---------------------------------------------------------------- helpers */

/* A field value as a double, whatever type NVML chose for it. */
static double field_value_number(const nvml_field_value *fv)
{
    switch (fv->value_type) {
    case NVML_VALUE_DOUBLE:
        return fv->value.d_val;
    case NVML_VALUE_UINT:
        return (double)fv->value.ui_val;
    case NVML_VALUE_ULONG:
        return (double)fv->value.ul_val;
    case NVML_VALUE_ULONGLONG:
        return (double)fv->value.ull_val;
    case NVML_VALUE_SLONGLONG:
        return (double)fv->value.sll_val;
    case NVML_VALUE_SINT:
        return (double)fv->value.si_val;
    case NVML_VALUE_USHORT:
        return (double)fv->value.us_val;
    }
    return (double)fv->value.ui_val; /* power fields are uiVal (nvml.md 1.4) */
}

/* ---------------------------------------------------- one call per reading */

/* Instant power in mW. The call returns SUCCESS if any field was filled;
 * the field's own status says whether this one was. */
static nvml_return call_instant_mw(const fm_nvml_library *lib, nvml_device dev, double *mw)
{
    nvml_field_value fv;
    memset(&fv, 0, sizeof fv);
    fv.field_id = NVML_FIELD_POWER_INSTANT;
    fv.scope_id = NVML_POWER_SCOPE_GPU;
    nvml_return r = lib->get_field_values(dev, 1, &fv);
    if (r != NVML_RET_SUCCESS)
        return r;
    if (fv.nvml_return != NVML_RET_SUCCESS)
        return fv.nvml_return;
    *mw = field_value_number(&fv);
    return NVML_RET_SUCCESS;
}

static nvml_return call_avg_mw(const fm_nvml_library *lib, nvml_device dev, double *mw)
{
    unsigned int value = 0;
    nvml_return r = lib->get_power_usage(dev, &value);
    *mw = value;
    return r;
}

static nvml_return call_energy_mj(const fm_nvml_library *lib, nvml_device dev, double *mj)
{
    unsigned long long value = 0;
    nvml_return r = lib->get_total_energy(dev, &value);
    *mj = (double)value;
    return r;
}

static nvml_return call_temp_c(const fm_nvml_library *lib, nvml_device dev, enum temp_call how,
                               double *temp_c)
{
    if (how == TEMP_CALL_PLAIN) {
        unsigned int value = 0;
        nvml_return r = lib->get_temperature(dev, NVML_TEMPERATURE_GPU, &value);
        *temp_c = value;
        return r;
    }
    if (how == TEMP_CALL_V) {
        nvml_temperature_v1 t = {.version = NVML_TEMPERATURE_V1_VERSION,
                                 .sensor_type = NVML_TEMPERATURE_GPU};
        nvml_return r = lib->get_temperature_v(dev, &t);
        *temp_c = t.temperature_c;
        return r;
    }
    return NVML_RET_NOT_SUPPORTED;
}

static nvml_return call_sm_clock(const fm_nvml_library *lib, nvml_device dev, double *mhz)
{
    unsigned int value = 0;
    nvml_return r = lib->get_clock_info(dev, NVML_CLOCK_SM, &value);
    *mhz = value;
    return r;
}

static nvml_return call_util(const fm_nvml_library *lib, nvml_device dev, double *pct)
{
    nvml_utilization u = {0, 0};
    nvml_return r = lib->get_utilization(dev, &u);
    *pct = u.gpu_pct;
    return r;
}

static nvml_return call_mem_used(const fm_nvml_library *lib, nvml_device dev, uint64_t *bytes)
{
    nvml_memory_v1 m = {0, 0, 0};
    nvml_return r = lib->get_memory_info(dev, &m);
    *bytes = m.used_bytes;
    return r;
}

static nvml_return call_clock_events(const fm_nvml_library *lib, nvml_device dev, uint64_t *bits)
{
    unsigned long long value = 0;
    nvml_return r = lib->get_clock_events(dev, &value);
    *bits = value;
    return r;
}

/* ------------------------------------------------------------- probing */

/* Calls the NVML function behind one reading once; FUNCTION_NOT_FOUND when
 * the library lacks it. The value read is thrown away. */
static nvml_return try_field_once(const fm_nvml_library *lib, const nvml_gpu *gpu, uint32_t field)
{
    double number = 0;
    uint64_t bits = 0;
    switch (field) {
    case FM_F_POWER_INSTANT:
        return lib->get_field_values ? call_instant_mw(lib, gpu->handle, &number)
                                     : NVML_RET_FUNCTION_NOT_FOUND;
    case FM_F_POWER_AVG:
        return lib->get_power_usage ? call_avg_mw(lib, gpu->handle, &number)
                                    : NVML_RET_FUNCTION_NOT_FOUND;
    case FM_F_ENERGY:
        return lib->get_total_energy ? call_energy_mj(lib, gpu->handle, &number)
                                     : NVML_RET_FUNCTION_NOT_FOUND;
    case FM_F_TEMP:
        return call_temp_c(lib, gpu->handle, gpu->temp_call, &number);
    case FM_F_SM_CLOCK:
        return lib->get_clock_info ? call_sm_clock(lib, gpu->handle, &number)
                                   : NVML_RET_FUNCTION_NOT_FOUND;
    case FM_F_UTIL:
        return lib->get_utilization ? call_util(lib, gpu->handle, &number)
                                    : NVML_RET_FUNCTION_NOT_FOUND;
    case FM_F_MEM_USED:
        return lib->get_memory_info ? call_mem_used(lib, gpu->handle, &bits)
                                    : NVML_RET_FUNCTION_NOT_FOUND;
    case FM_F_CLOCK_EVENTS:
        return lib->get_clock_events ? call_clock_events(lib, gpu->handle, &bits)
                                     : NVML_RET_FUNCTION_NOT_FOUND;
    }
    return NVML_RET_NOT_SUPPORTED;
}

/* Tries one reading up to PROBE_ATTEMPTS times. Returns SUCCESS as soon as
 * one works, GPU_IS_LOST or FUNCTION_NOT_FOUND at once, else the last
 * failure. */
static nvml_return probe_field(const fm_nvml_library *lib, const nvml_gpu *gpu, uint32_t field)
{
    nvml_return r = NVML_RET_NOT_SUPPORTED;
    for (int attempt = 0; attempt < PROBE_ATTEMPTS; attempt++) {
        r = try_field_once(lib, gpu, field);
        if (r == NVML_RET_SUCCESS || r == NVML_RET_GPU_IS_LOST || r == NVML_RET_FUNCTION_NOT_FOUND)
            return r;
    }
    return r;
}

/* Chooses the temperature call: the plain one (deprecated in NVML 13 but
 * still exported), else the versioned-struct one (NVML 12.8+). */
static void choose_temp_call(const fm_nvml_library *lib, nvml_gpu *gpu)
{
    static const enum temp_call order[] = {TEMP_CALL_PLAIN, TEMP_CALL_V};
    gpu->temp_call = TEMP_CALL_NONE;
    for (size_t i = 0; i < 2; i++) {
        if (order[i] == TEMP_CALL_PLAIN && !lib->get_temperature)
            continue;
        if (order[i] == TEMP_CALL_V && !lib->get_temperature_v)
            continue;
        gpu->temp_call = order[i];
        if (probe_field(lib, gpu, FM_F_TEMP) == NVML_RET_SUCCESS)
            return;
    }
    gpu->temp_call = TEMP_CALL_NONE;
}

static const char *arch_name(unsigned int arch)
{
    switch (arch) {
    case NVML_ARCH_KEPLER:
        return "kepler";
    case NVML_ARCH_MAXWELL:
        return "maxwell";
    case NVML_ARCH_PASCAL:
        return "pascal";
    case NVML_ARCH_VOLTA:
        return "volta";
    case NVML_ARCH_TURING:
        return "turing";
    case NVML_ARCH_AMPERE:
        return "ampere";
    case NVML_ARCH_ADA:
        return "ada";
    case NVML_ARCH_HOPPER:
        return "hopper";
    case NVML_ARCH_BLACKWELL:
        return "blackwell";
    case NVML_ARCH_RUBIN:
        return "rubin";
    }
    return "unknown";
}

/* What nvmlDeviceGetPowerUsage means on this GPU (nvml.md 0.1): a 1 s
 * average on Ampere except GA100 (A100, A30) and newer, instantaneous on
 * GA100 and older architectures. */
static const char *power_usage_meaning(const fm_device_info *info)
{
    const char *arch = info->arch;
    if (!strcmp(arch, "hopper") || !strcmp(arch, "ada") || !strcmp(arch, "blackwell") ||
        !strcmp(arch, "rubin"))
        return "nvmlDeviceGetPowerUsage (1 s average)";
    if (!strcmp(arch, "ampere"))
        return (strstr(info->name, "A100") || strstr(info->name, "A30"))
                   ? "nvmlDeviceGetPowerUsage (instantaneous on GA100)"
                   : "nvmlDeviceGetPowerUsage (1 s average)";
    if (!strcmp(arch, "unknown"))
        return "nvmlDeviceGetPowerUsage (averaging unknown)";
    return "nvmlDeviceGetPowerUsage (instantaneous before Ampere)";
}

/* Copies a string, cut to fit (always NUL-terminated). */
static void copy_text(char *dst, size_t size, const char *src)
{
    size_t length = strlen(src);
    if (length >= size)
        length = size - 1;
    memcpy(dst, src, length);
    dst[length] = '\0';
}

/* Name, UUID, PCI bus id, architecture and power limit of one GPU. */
static void probe_identity(const fm_nvml_library *lib, nvml_gpu *gpu)
{
    fm_device_info *info = &gpu->info;
    char text[NVML_NAME_BUFFER];
    copy_text(info->name, sizeof info->name, "unknown");
    copy_text(info->uuid, sizeof info->uuid, "");
    copy_text(info->pci_bus_id, sizeof info->pci_bus_id, "");
    copy_text(info->arch, sizeof info->arch, "unknown");
    info->power_limit_w = NAN;
    info->idle_power_w = NAN; /* only the simulator knows its idle power */

    memset(text, 0, sizeof text);
    if (lib->get_name && lib->get_name(gpu->handle, text, sizeof text - 1) == NVML_RET_SUCCESS)
        copy_text(info->name, sizeof info->name, text);
    memset(text, 0, sizeof text);
    if (lib->get_uuid && lib->get_uuid(gpu->handle, text, sizeof text - 1) == NVML_RET_SUCCESS)
        copy_text(info->uuid, sizeof info->uuid, text);
    nvml_pci_info pci;
    memset(&pci, 0, sizeof pci);
    if (lib->get_pci_info && lib->get_pci_info(gpu->handle, &pci) == NVML_RET_SUCCESS) {
        pci.bus_id_legacy[sizeof pci.bus_id_legacy - 1] = '\0';
        pci.bus_id[sizeof pci.bus_id - 1] = '\0';
        copy_text(info->pci_bus_id, sizeof info->pci_bus_id,
                  lib->pci_info_version >= 2 ? pci.bus_id : pci.bus_id_legacy);
    }
    unsigned int value = 0;
    if (lib->get_architecture && lib->get_architecture(gpu->handle, &value) == NVML_RET_SUCCESS)
        copy_text(info->arch, sizeof info->arch, arch_name(value));
    if (lib->get_enforced_power_limit &&
        lib->get_enforced_power_limit(gpu->handle, &value) == NVML_RET_SUCCESS && value > 0)
        info->power_limit_w = value / 1000.0;
}

static void mark_lost(nvml_gpu *gpu, const char *call)
{
    gpu->lost = 1;
    copy_text(gpu->lost_call, sizeof gpu->lost_call, call);
}

/* Probes every reading of one GPU once and records the sources. */
static void probe_capabilities(const fm_nvml_library *lib, nvml_gpu *gpu)
{
    static const uint32_t fields[] = {FM_F_POWER_INSTANT, FM_F_POWER_AVG, FM_F_ENERGY,
                                      FM_F_SM_CLOCK,      FM_F_UTIL,      FM_F_MEM_USED,
                                      FM_F_CLOCK_EVENTS};
    fm_device_info *info = &gpu->info;
    info->supported = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !gpu->lost; i++) {
        nvml_return r = probe_field(lib, gpu, fields[i]);
        if (r == NVML_RET_SUCCESS)
            info->supported |= fields[i];
        else if (r == NVML_RET_GPU_IS_LOST)
            mark_lost(gpu, "probing at open");
    }
    if (!gpu->lost) {
        choose_temp_call(lib, gpu);
        if (gpu->temp_call != TEMP_CALL_NONE)
            info->supported |= FM_F_TEMP;
    }
    if (info->supported & FM_F_POWER_INSTANT)
        copy_text(info->power_instant_source, sizeof info->power_instant_source,
                  "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT=186)");
    if (info->supported & FM_F_POWER_AVG)
        copy_text(info->power_avg_source, sizeof info->power_avg_source, power_usage_meaning(info));
    if (info->supported & FM_F_ENERGY)
        copy_text(info->energy_source, sizeof info->energy_source,
                  "nvmlDeviceGetTotalEnergyConsumption (mJ)");
}

static void open_gpu(const fm_nvml_library *lib, int index, nvml_gpu *gpu)
{
    memset(gpu, 0, sizeof *gpu);
    gpu->info.index = index;
    nvml_return r = lib->get_handle_by_index((unsigned int)index, &gpu->handle);
    gpu->have_handle = (r == NVML_RET_SUCCESS);
    if (!gpu->have_handle) {
        copy_text(gpu->info.name, sizeof gpu->info.name, "unavailable");
        copy_text(gpu->info.arch, sizeof gpu->info.arch, "unknown");
        gpu->info.power_limit_w = NAN;
        gpu->info.idle_power_w = NAN;
        if (r == NVML_RET_GPU_IS_LOST)
            mark_lost(gpu, "nvmlDeviceGetHandleByIndex_v2");
        return;
    }
    probe_identity(lib, gpu);
    probe_capabilities(lib, gpu);
}

/* ------------------------------------------------------------ open/close */

static void read_system_text(nvml_system_string_fn fn, char *dst, size_t size)
{
    char text[NVML_VERSION_BUFFER];
    memset(text, 0, sizeof text);
    dst[0] = '\0';
    if (fn && fn(text, sizeof text - 1) == NVML_RET_SUCCESS)
        copy_text(dst, size, text);
}

static int init_error(fm_backend *b, nvml_return r, fm_error *err)
{
    const char *call = b->lib.init_name;
    const char *path = b->lib.path;
    if (r == NVML_RET_DRIVER_NOT_LOADED || r == NVML_RET_LIBRARY_NOT_FOUND)
        return fm_fail(err, FM_ERR_NO_LIBRARY,
                       "NVIDIA kernel driver not usable: %s in %s returned %s (%d); try "
                       "--backend sim",
                       call, path, fm_nvml_return_name(r), r);
    if (r == NVML_RET_LIB_RM_VERSION_MISMATCH)
        return fm_fail(err, FM_ERR,
                       "NVIDIA driver library %s does not match the loaded kernel driver (%s "
                       "returned %s (%d)); reload the driver or reboot",
                       path, call, fm_nvml_return_name(r), r);
    return fm_fail(err, FM_ERR, "%s in %s failed: %s (%d)%s%s", call, path, fm_nvml_return_name(r),
                   r, b->lib.error_string ? ": " : "",
                   b->lib.error_string ? b->lib.error_string(r) : "");
}

static void nvml_close(fm_backend *b)
{
    if (!b)
        return;
    if (b->initialized)
        b->lib.shutdown();
    fm_nvml_library_unload(&b->lib);
    free(b->gpus);
    free(b);
}

static int nvml_open(const fm_backend_options *opt, fm_backend **out, fm_error *err)
{
    *out = NULL;
    fm_backend *b = calloc(1, sizeof *b);
    if (!b)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory opening the nvml backend");
    int rc = fm_nvml_library_load(opt ? opt->library_path : NULL, &b->lib, err);
    if (rc != FM_OK) {
        free(b);
        return rc;
    }
    nvml_return r = b->lib.init();
    if (r != NVML_RET_SUCCESS) {
        rc = init_error(b, r, err);
        nvml_close(b);
        return rc;
    }
    b->initialized = 1;
    unsigned int count = 0;
    r = b->lib.get_count(&count);
    if (r != NVML_RET_SUCCESS) {
        rc = fm_fail(err, FM_ERR, "nvmlDeviceGetCount_v2 failed: %s (%d)", fm_nvml_return_name(r),
                     r);
        nvml_close(b);
        return rc;
    }
    b->gpus = calloc(count ? count : 1, sizeof *b->gpus);
    if (!b->gpus) {
        nvml_close(b);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory for %u GPUs", count);
    }
    b->gpu_count = (int)count;
    for (int i = 0; i < b->gpu_count; i++)
        open_gpu(&b->lib, i, &b->gpus[i]);

    copy_text(b->info.backend, sizeof b->info.backend, "nvml");
    read_system_text(b->lib.get_driver_version, b->info.driver_version,
                     sizeof b->info.driver_version);
    read_system_text(b->lib.get_nvml_version, b->info.nvml_version, sizeof b->info.nvml_version);
    copy_text(b->info.library_path, sizeof b->info.library_path, b->lib.path);
    b->clock.virtual_time = 0;
    *out = b;
    return FM_OK;
}

static int nvml_device_count(fm_backend *b)
{
    return b->gpu_count;
}

static void nvml_backend_info(fm_backend *b, fm_backend_info *out)
{
    *out = b->info;
}

static int nvml_device_info(fm_backend *b, int index, fm_device_info *out, fm_error *err)
{
    if (index < 0 || index >= b->gpu_count)
        return fm_fail(err, FM_ERR_NOT_FOUND, "no GPU %d (NVML reports %d)", index, b->gpu_count);
    *out = b->gpus[index].info;
    return FM_OK;
}

/* ------------------------------------------------------------------ read */

static int lost_error(const nvml_gpu *gpu, fm_error *err)
{
    return fm_fail(err, FM_ERR_GPU_LOST,
                   "GPU %d (%s %s) fell off the bus: %s returned NVML_ERROR_GPU_IS_LOST (15)",
                   gpu->info.index, gpu->info.name, gpu->info.pci_bus_id, gpu->lost_call);
}

/* True (and the GPU marked lost) when `call` answered GPU_IS_LOST. */
static int lost_by(nvml_gpu *gpu, nvml_return r, const char *call)
{
    if (r != NVML_RET_GPU_IS_LOST)
        return 0;
    mark_lost(gpu, call);
    return 1;
}

/* Stores a power reading: a 0 mW value is a known transient glitch of
 * high-rate polling (nvml.md 0.7) and is treated as missing. */
static void store_power(nvml_return r, double mw, double *dst_w, uint32_t *valid, uint32_t bit)
{
    if (r == NVML_RET_SUCCESS && mw > 0) {
        *dst_w = mw / 1000.0;
        *valid |= bit;
    }
}

/* Reads the three power readings. Returns READING_LOST (with the call
 * named in gpu->lost_call) if the GPU fell off the bus. */
static enum reading read_power(const fm_nvml_library *lib, nvml_gpu *gpu, uint32_t want,
                               fm_sample *out)
{
    double number = 0;
    nvml_return r;
    if (want & FM_F_POWER_INSTANT) {
        r = call_instant_mw(lib, gpu->handle, &number);
        out->t_ns = fm_monotonic_ns();
        if (lost_by(gpu, r, "nvmlDeviceGetFieldValues"))
            return READING_LOST;
        store_power(r, number, &out->power_instant_w, &out->valid, FM_F_POWER_INSTANT);
    }
    if (want & FM_F_POWER_AVG) {
        r = call_avg_mw(lib, gpu->handle, &number);
        if (!(want & FM_F_POWER_INSTANT))
            out->t_ns = fm_monotonic_ns();
        if (lost_by(gpu, r, "nvmlDeviceGetPowerUsage"))
            return READING_LOST;
        store_power(r, number, &out->power_avg_w, &out->valid, FM_F_POWER_AVG);
    }
    if (want & FM_F_ENERGY) {
        r = call_energy_mj(lib, gpu->handle, &number);
        if (!(want & (FM_F_POWER_INSTANT | FM_F_POWER_AVG)))
            out->t_ns = fm_monotonic_ns();
        if (lost_by(gpu, r, "nvmlDeviceGetTotalEnergyConsumption"))
            return READING_LOST;
        if (r == NVML_RET_SUCCESS) {
            out->energy_j = number / 1000.0;
            out->valid |= FM_F_ENERGY;
        }
    }
    return READING_OK;
}

/* Reads the slow readings (temperature, clocks, utilisation, memory,
 * clocks-event reasons). */
static enum reading read_slow(const fm_nvml_library *lib, nvml_gpu *gpu, uint32_t want,
                              fm_sample *out)
{
    double number = 0;
    uint64_t bits = 0;
    nvml_return r;
    if (want & FM_F_TEMP) {
        r = call_temp_c(lib, gpu->handle, gpu->temp_call, &number);
        if (lost_by(gpu, r, "nvmlDeviceGetTemperature"))
            return READING_LOST;
        if (r == NVML_RET_SUCCESS) {
            out->temp_c = number;
            out->valid |= FM_F_TEMP;
        }
    }
    if (want & FM_F_SM_CLOCK) {
        r = call_sm_clock(lib, gpu->handle, &number);
        if (lost_by(gpu, r, "nvmlDeviceGetClockInfo"))
            return READING_LOST;
        if (r == NVML_RET_SUCCESS) {
            out->sm_clock_mhz = number;
            out->valid |= FM_F_SM_CLOCK;
        }
    }
    if (want & FM_F_UTIL) {
        r = call_util(lib, gpu->handle, &number);
        if (lost_by(gpu, r, "nvmlDeviceGetUtilizationRates"))
            return READING_LOST;
        if (r == NVML_RET_SUCCESS) {
            out->util_pct = number;
            out->valid |= FM_F_UTIL;
        }
    }
    if (want & FM_F_MEM_USED) {
        r = call_mem_used(lib, gpu->handle, &bits);
        if (lost_by(gpu, r, "nvmlDeviceGetMemoryInfo"))
            return READING_LOST;
        if (r == NVML_RET_SUCCESS) {
            out->mem_used_bytes = bits;
            out->valid |= FM_F_MEM_USED;
        }
    }
    if (want & FM_F_CLOCK_EVENTS) {
        r = call_clock_events(lib, gpu->handle, &bits);
        if (lost_by(gpu, r, lib->clock_events_name))
            return READING_LOST;
        if (r == NVML_RET_SUCCESS) {
            out->clock_events = bits;
            out->valid |= FM_F_CLOCK_EVENTS;
        }
    }
    return READING_OK;
}

static int nvml_read(fm_backend *b, int index, uint32_t fields, fm_sample *out, fm_error *err)
{
    if (index < 0 || index >= b->gpu_count)
        return fm_fail(err, FM_ERR_NOT_FOUND, "no GPU %d (NVML reports %d)", index, b->gpu_count);
    nvml_gpu *gpu = &b->gpus[index];
    fm_sample_clear(out, 0);
    if (gpu->lost) {
        out->t_ns = fm_monotonic_ns();
        return lost_error(gpu, err);
    }
    if (!gpu->have_handle)
        return fm_fail(err, FM_ERR, "GPU %d: NVML gave no handle for it at open", index);
    uint32_t want = fields & gpu->info.supported;
    if (read_power(&b->lib, gpu, want & FM_F_POWER_ALL, out) == READING_LOST ||
        read_slow(&b->lib, gpu, want & FM_F_SLOW, out) == READING_LOST) {
        fm_sample_clear(out, out->t_ns);
        return lost_error(gpu, err);
    }
    if (!(want & FM_F_POWER_ALL))
        out->t_ns = fm_monotonic_ns();
    return FM_OK;
}

static fm_clock *nvml_clock(fm_backend *b)
{
    return &b->clock;
}

const fm_backend_ops fm_backend_nvml = {
    .name = "nvml",
    .description = "NVIDIA GPUs through libnvidia-ml.so.1 (NVML), loaded at run time",
    .open = nvml_open,
    .close = nvml_close,
    .device_count = nvml_device_count,
    .backend_info = nvml_backend_info,
    .device_info = nvml_device_info,
    .read = nvml_read,
    .clock = nvml_clock,
};
