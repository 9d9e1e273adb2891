/* The NVML functions the fake libnvidia-ml.so.1 exports (test-only), with
 * the real library's names - versioned and plain where the real one has
 * both (nvml.md 1.2) - and signatures built from src/sensors/nvml_api.h.
 * Values come from the simulated node's sensors (fake_state.c) converted
 * to NVML units (mW, mJ, degrees C, MHz, %, bytes); faults are injected
 * as configured by the FAKENVML_* environment variables. */
#include "fake.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Total memory the fake reports: the H200's nominal 141 GB. */
#define FAKE_MEMORY_TOTAL_BYTES 141000000000ull

static void copy_out(char *dst, unsigned int length, const char *src, nvml_return *r)
{
    if (!dst || length == 0 || strlen(src) + 1 > length) {
        *r = NVML_RET_INSUFFICIENT_SIZE;
        return;
    }
    memcpy(dst, src, strlen(src) + 1);
}

static unsigned int watts_to_mw(double power_w)
{
    return power_w > 0 ? (unsigned int)llround(power_w * 1000.0) : 0;
}

/* The sensors of a GPU now (lock held). */
static void sensors_now(int gpu, fm_sample *out)
{
    fm_sim_read_sensors(fake_get()->sim, gpu, out);
}

/* ------------------------------------------------------------- system */

nvml_return nvmlInit_v2(void)
{
    return fake_init();
}

nvml_return nvmlInit(void)
{
    return fake_init();
}

nvml_return nvmlShutdown(void)
{
    return fake_shutdown();
}

const char *nvmlErrorString(nvml_return result)
{
    switch (result) {
    case NVML_RET_SUCCESS:
        return "Success";
    case NVML_RET_UNINITIALIZED:
        return "Uninitialized";
    case NVML_RET_INVALID_ARGUMENT:
        return "Invalid Argument";
    case NVML_RET_NOT_SUPPORTED:
        return "Not Supported";
    case NVML_RET_DRIVER_NOT_LOADED:
        return "Driver Not Loaded";
    case NVML_RET_GPU_IS_LOST:
        return "GPU is lost";
    case NVML_RET_LIB_RM_VERSION_MISMATCH:
        return "RM has detected an NVML/RM version mismatch";
    }
    return "Unknown Error";
}

static nvml_return system_text(char *buffer, unsigned int length, int nvml_not_driver)
{
    nvml_return r = fake_begin_system();
    if (r != NVML_RET_SUCCESS)
        return r;
    const fake_config *cfg = &fake_get()->cfg;
    copy_out(buffer, length, nvml_not_driver ? cfg->nvml_version : cfg->driver_version, &r);
    fake_end();
    return r;
}

nvml_return nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    return system_text(version, length, 0);
}

nvml_return nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    return system_text(version, length, 1);
}

nvml_return nvmlDeviceGetCount_v2(unsigned int *count)
{
    nvml_return r = fake_begin_system();
    if (r != NVML_RET_SUCCESS)
        return r;
    if (count)
        *count = (unsigned int)fake_get()->cfg.gpus;
    else
        r = NVML_RET_INVALID_ARGUMENT;
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetCount(unsigned int *count)
{
    return nvmlDeviceGetCount_v2(count);
}

nvml_return nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvml_device *device)
{
    nvml_return r = fake_begin_system();
    if (r != NVML_RET_SUCCESS)
        return r;
    fake_state *s = fake_get();
    if (!device || index >= (unsigned int)s->cfg.gpus)
        r = NVML_RET_INVALID_ARGUMENT;
    else
        *device = (nvml_device)&s->gpus[index];
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetHandleByIndex(unsigned int index, nvml_device *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

/* ------------------------------------------------------------- identity */

nvml_return nvmlDeviceGetName(nvml_device device, char *name, unsigned int length)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    copy_out(name, length, fake_get()->cfg.name, &r);
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetUUID(nvml_device device, char *uuid, unsigned int length)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    char text[NVML_UUID_BUFFER];
    snprintf(text, sizeof text, "GPU-fa4e0000-0000-4000-8000-%012d", gpu);
    copy_out(uuid, length, text, &r);
    fake_end();
    return r;
}

static nvml_return pci_info(nvml_device device, nvml_pci_info *pci, int version)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    if (!pci) {
        fake_end();
        return NVML_RET_INVALID_ARGUMENT;
    }
    unsigned int bus = 0x18 + (unsigned int)gpu;
    if (version == 1) {
        /* v1 layout: the bus id is the first 16 bytes, then the numbers. */
        memset(pci, 0, offsetof(nvml_pci_info, bus_id));
        snprintf(pci->bus_id_legacy, sizeof pci->bus_id_legacy, "0000:%02X:00.0", bus);
    } else {
        memset(pci, 0, sizeof *pci);
        snprintf(pci->bus_id_legacy, sizeof pci->bus_id_legacy, "0000:%02X:00.0", bus);
        snprintf(pci->bus_id, sizeof pci->bus_id, "00000000:%02X:00.0", bus);
    }
    pci->bus = bus;
    pci->pci_device_id = 0x233510de; /* an NVIDIA vendor id in the low half */
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetPciInfo_v3(nvml_device device, nvml_pci_info *pci)
{
    return pci_info(device, pci, 3);
}

nvml_return nvmlDeviceGetPciInfo_v2(nvml_device device, nvml_pci_info *pci)
{
    return pci_info(device, pci, 2);
}

nvml_return nvmlDeviceGetPciInfo(nvml_device device, nvml_pci_info *pci)
{
    return pci_info(device, pci, 1);
}

nvml_return nvmlDeviceGetArchitecture(nvml_device device, unsigned int *arch)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    *arch = fake_get()->cfg.arch;
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetEnforcedPowerLimit(nvml_device device, unsigned int *limit_mw)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    *limit_mw = watts_to_mw(fm_sim_get_config(fake_get()->sim)->power_limit_w);
    fake_end();
    return r;
}

/* ------------------------------------------------------------- power */

/* Fills one field value (lock held). Only NVML_FI_DEV_POWER_INSTANT is
 * served; other ids answer NOT_SUPPORTED in their own status. */
static void fill_field(int gpu, nvml_field_value *fv)
{
    const fake_config *cfg = &fake_get()->cfg;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fv->timestamp_us = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    fv->latency_us = 0;
    fv->value_type = NVML_VALUE_UINT;
    fv->value.ull_val = 0;
    if (fv->field_id != NVML_FIELD_POWER_INSTANT || fv->scope_id != NVML_POWER_SCOPE_GPU ||
        cfg->no_instant) {
        fv->nvml_return = NVML_RET_NOT_SUPPORTED;
        return;
    }
    enum fake_fault fault = fake_draw_fault(1);
    if (fault == FAKE_FAULT_TRANSIENT) {
        fv->nvml_return = NVML_RET_NOT_SUPPORTED; /* what high-rate polling gives (nvml.md 0.7) */
        return;
    }
    fm_sample s;
    sensors_now(gpu, &s);
    fv->nvml_return = NVML_RET_SUCCESS;
    fv->value.ui_val = fault == FAKE_FAULT_ZERO ? 0 : watts_to_mw(s.power_instant_w);
}

nvml_return nvmlDeviceGetFieldValues(nvml_device device, int count, nvml_field_value *values)
{
    fake_slow_call(0);
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    fake_count(FAKENVML_CALL_FIELD_VALUES);
    if (count <= 0 || !values) {
        fake_end();
        return NVML_RET_INVALID_ARGUMENT;
    }
    for (int i = 0; i < count; i++)
        fill_field(gpu, &values[i]);
    fake_end();
    return NVML_RET_SUCCESS;
}

/* The outcome of a power or energy read under the configured faults (lock
 * held): NOT_SUPPORTED when the config turns the reading off, a transient
 * error code when one is drawn, else SUCCESS, with *read_zero set when the
 * reading must come back as 0 (only if zero_allowed). */
static nvml_return draw_read_outcome(int turned_off, int zero_allowed, int *read_zero)
{
    *read_zero = 0;
    if (turned_off)
        return NVML_RET_NOT_SUPPORTED;
    enum fake_fault fault = fake_draw_fault(zero_allowed);
    if (fault == FAKE_FAULT_TRANSIENT)
        return fake_transient_code();
    *read_zero = fault == FAKE_FAULT_ZERO;
    return NVML_RET_SUCCESS;
}

nvml_return nvmlDeviceGetPowerUsage(nvml_device device, unsigned int *power_mw)
{
    fake_slow_call(0);
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    fake_count(FAKENVML_CALL_POWER_USAGE);
    int read_zero;
    r = draw_read_outcome(fake_get()->cfg.no_avg, 1, &read_zero);
    if (r == NVML_RET_SUCCESS) {
        fm_sample s;
        sensors_now(gpu, &s);
        *power_mw = read_zero ? 0 : watts_to_mw(s.power_avg_w);
    }
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetTotalEnergyConsumption(nvml_device device, unsigned long long *energy_mj)
{
    fake_slow_call(1);
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    fake_count(FAKENVML_CALL_TOTAL_ENERGY);
    int read_zero; /* never set: a counter read is not faulted to 0 */
    r = draw_read_outcome(fake_get()->cfg.no_energy, 0, &read_zero);
    if (r == NVML_RET_SUCCESS) {
        fm_sample s;
        sensors_now(gpu, &s);
        *energy_mj = (unsigned long long)llround(s.energy_j * 1000.0);
    }
    fake_end();
    return r;
}

/* ------------------------------------------------------------- the rest */

nvml_return nvmlDeviceGetTemperature(nvml_device device, int sensor, unsigned int *temp_c)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    fake_count(FAKENVML_CALL_TEMPERATURE);
    if (sensor != NVML_TEMPERATURE_GPU || fake_get()->cfg.no_temp) {
        r = NVML_RET_NOT_SUPPORTED;
    } else {
        fm_sample s;
        sensors_now(gpu, &s);
        *temp_c = (unsigned int)llround(s.temp_c);
    }
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetTemperatureV(nvml_device device, nvml_temperature_v1 *temp)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    fake_count(FAKENVML_CALL_TEMPERATURE_V);
    if (!temp) {
        r = NVML_RET_INVALID_ARGUMENT;
    } else if (temp->version != NVML_TEMPERATURE_V1_VERSION) {
        r = NVML_RET_ARGUMENT_VERSION_MISMATCH;
    } else if (temp->sensor_type != NVML_TEMPERATURE_GPU || fake_get()->cfg.no_temp_v) {
        r = NVML_RET_NOT_SUPPORTED;
    } else {
        fm_sample s;
        sensors_now(gpu, &s);
        temp->temperature_c = (int)lround(s.temp_c);
    }
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetClockInfo(nvml_device device, int clock_type, unsigned int *mhz)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    if (clock_type != NVML_CLOCK_SM) {
        r = NVML_RET_NOT_SUPPORTED;
    } else {
        fm_sample s;
        sensors_now(gpu, &s);
        *mhz = (unsigned int)llround(s.sm_clock_mhz);
    }
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetUtilizationRates(nvml_device device, nvml_utilization *util)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    fm_sample s;
    sensors_now(gpu, &s);
    util->gpu_pct = (unsigned int)llround(s.util_pct);
    util->memory_pct = 0; /* the model has no memory-bandwidth utilisation */
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetMemoryInfo(nvml_device device, nvml_memory_v1 *memory)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    fm_sample s;
    sensors_now(gpu, &s);
    memory->total_bytes = FAKE_MEMORY_TOTAL_BYTES;
    memory->used_bytes =
        s.mem_used_bytes < FAKE_MEMORY_TOTAL_BYTES ? s.mem_used_bytes : FAKE_MEMORY_TOTAL_BYTES;
    memory->free_bytes = memory->total_bytes - memory->used_bytes;
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetCurrentClocksEventReasons(nvml_device device, unsigned long long *reasons)
{
    int gpu;
    nvml_return r = fake_begin(device, &gpu);
    if (r != NVML_RET_SUCCESS)
        return r;
    fm_sample s;
    sensors_now(gpu, &s);
    *reasons = s.clock_events;
    fake_end();
    return r;
}

nvml_return nvmlDeviceGetCurrentClocksThrottleReasons(nvml_device device,
                                                      unsigned long long *reasons)
{
    return nvmlDeviceGetCurrentClocksEventReasons(device, reasons);
}
