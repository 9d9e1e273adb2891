/* The small part of the NVIDIA Management Library (NVML) C interface that
 * firmus uses, declared by hand from the facts in
 * ../shared/reference/nvml.md (sections 1.2-1.9; primary source there:
 * NVIDIA/go-nvml gen/nvml/nvml.h). No NVIDIA header is copied or needed:
 * the nvml backend loads libnvidia-ml.so.1 with dlopen at run time and
 * looks each function up by name. The test-only fake library
 * (tests/fakenvml) implements the same functions with these same types.
 *
 * Names here use a `nvml_` prefix in lower case so that they cannot clash
 * with the real header's `nvml...` names. */
#ifndef FIRMUS_NVML_API_H
#define FIRMUS_NVML_API_H

#include <assert.h>

/* nvmlReturn_t is a C enum: 4 bytes on x86_64/aarch64. */
typedef int nvml_return;

/* nvmlDevice_t is an opaque pointer. */
typedef struct nvml_device_opaque *nvml_device;

/* Return codes used by firmus (nvml.md 1.9). */
enum {
    NVML_RET_SUCCESS = 0,
    NVML_RET_UNINITIALIZED = 1,
    NVML_RET_INVALID_ARGUMENT = 2,
    NVML_RET_NOT_SUPPORTED = 3,
    NVML_RET_NO_PERMISSION = 4,
    NVML_RET_NOT_FOUND = 6,
    NVML_RET_INSUFFICIENT_SIZE = 7,
    NVML_RET_DRIVER_NOT_LOADED = 9,
    NVML_RET_TIMEOUT = 10,
    NVML_RET_LIBRARY_NOT_FOUND = 12,
    NVML_RET_FUNCTION_NOT_FOUND = 13,
    NVML_RET_GPU_IS_LOST = 15,
    NVML_RET_LIB_RM_VERSION_MISMATCH = 18,
    NVML_RET_NO_DATA = 21,
    NVML_RET_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_RET_UNKNOWN = 999,
};

/* Field ids for nvmlDeviceGetFieldValues (nvml.md 1.4). */
enum {
    NVML_FIELD_POWER_INSTANT = 186, /* NVML_FI_DEV_POWER_INSTANT: mW in value.uiVal */
};
#define NVML_POWER_SCOPE_GPU 0u

/* nvmlValueType_t (nvml.md 1.4). */
enum {
    NVML_VALUE_DOUBLE = 0,
    NVML_VALUE_UINT = 1,
    NVML_VALUE_ULONG = 2,
    NVML_VALUE_ULONGLONG = 3,
    NVML_VALUE_SLONGLONG = 4,
    NVML_VALUE_SINT = 5,
    NVML_VALUE_USHORT = 6,
};

/* nvmlValue_t: an 8-byte union. */
typedef union nvml_value {
    double d_val;
    int si_val;
    unsigned int ui_val;
    unsigned long ul_val;
    unsigned long long ull_val;
    long long sll_val;
    unsigned short us_val;
} nvml_value;

/* nvmlFieldValue_t: 40 bytes on x86_64, offsets in the comments. */
typedef struct nvml_field_value {
    unsigned int field_id;   /* @0  set by the caller */
    unsigned int scope_id;   /* @4  power fields: NVML_POWER_SCOPE_* */
    long long timestamp_us;  /* @8  CPU time of the value, us since 1970 */
    long long latency_us;    /* @16 how long the value took to update */
    int value_type;          /* @24 nvmlValueType_t */
    nvml_return nvml_return; /* @28 this field's own status: check it */
    nvml_value value;        /* @32 */
} nvml_field_value;

static_assert(sizeof(nvml_field_value) == 40, "nvmlFieldValue_t must be 40 bytes");
static_assert(sizeof(nvml_value) == 8, "nvmlValue_t must be 8 bytes");

/* nvmlPciInfo_t as returned by the _v2/_v3 functions (nvml.md 3b, nvtop's
 * declaration). The plain (v1) function writes its bus id in the first
 * 16 bytes, i.e. where bus_id_legacy is. */
typedef struct nvml_pci_info {
    char bus_id_legacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pci_device_id;
    unsigned int pci_subsystem_id;
    char bus_id[32];
} nvml_pci_info;

/* nvmlUtilization_t: percent of the sample period the GPU / memory was busy. */
typedef struct nvml_utilization {
    unsigned int gpu_pct;
    unsigned int memory_pct;
} nvml_utilization;

/* nvmlMemory_t (version 1): bytes. */
typedef struct nvml_memory_v1 {
    unsigned long long total_bytes;
    unsigned long long free_bytes;
    unsigned long long used_bytes;
} nvml_memory_v1;

/* nvmlTemperature_v1_t for nvmlDeviceGetTemperatureV. */
typedef struct nvml_temperature_v1 {
    unsigned int version; /* NVML_TEMPERATURE_V1_VERSION */
    int sensor_type;      /* NVML_TEMPERATURE_GPU */
    int temperature_c;
} nvml_temperature_v1;

/* NVML_STRUCT_VERSION(Temperature, 1) = sizeof | 1 << 24 (nvml.md 1.2). */
#define NVML_TEMPERATURE_V1_VERSION ((unsigned int)(sizeof(nvml_temperature_v1) | (1u << 24)))
#define NVML_TEMPERATURE_GPU 0 /* nvmlTemperatureSensors_t */
#define NVML_CLOCK_SM 1        /* nvmlClockType_t */

/* nvmlDeviceArchitecture_t values (nvml.md 1.2; Kepler 2, Maxwell 3 and
 * Pascal 4 from the same header). */
#define NVML_ARCH_KEPLER 2u
#define NVML_ARCH_MAXWELL 3u
#define NVML_ARCH_PASCAL 4u
#define NVML_ARCH_VOLTA 5u
#define NVML_ARCH_TURING 6u
#define NVML_ARCH_AMPERE 7u
#define NVML_ARCH_ADA 8u
#define NVML_ARCH_HOPPER 9u
#define NVML_ARCH_BLACKWELL 10u
#define NVML_ARCH_RUBIN 13u

/* Buffer sizes NVML asks for (NVML_*_BUFFER_SIZE are 80/96/32 or less). */
#define NVML_VERSION_BUFFER 80
#define NVML_NAME_BUFFER 96
#define NVML_UUID_BUFFER 96

/* Function types, one per NVML entry point used. */
typedef nvml_return (*nvml_init_fn)(void);
typedef nvml_return (*nvml_shutdown_fn)(void);
typedef const char *(*nvml_error_string_fn)(nvml_return result);
typedef nvml_return (*nvml_system_string_fn)(char *buffer, unsigned int length);
typedef nvml_return (*nvml_get_count_fn)(unsigned int *count);
typedef nvml_return (*nvml_get_handle_fn)(unsigned int index, nvml_device *device);
typedef nvml_return (*nvml_device_string_fn)(nvml_device device, char *buffer, unsigned int length);
typedef nvml_return (*nvml_get_pci_info_fn)(nvml_device device, nvml_pci_info *pci);
typedef nvml_return (*nvml_get_uint_fn)(nvml_device device, unsigned int *value);
typedef nvml_return (*nvml_get_ull_fn)(nvml_device device, unsigned long long *value);
typedef nvml_return (*nvml_get_field_values_fn)(nvml_device device, int count,
                                                nvml_field_value *values);
typedef nvml_return (*nvml_get_temperature_fn)(nvml_device device, int sensor,
                                               unsigned int *temp_c);
typedef nvml_return (*nvml_get_temperature_v_fn)(nvml_device device, nvml_temperature_v1 *temp);
typedef nvml_return (*nvml_get_clock_fn)(nvml_device device, int clock_type, unsigned int *mhz);
typedef nvml_return (*nvml_get_utilization_fn)(nvml_device device, nvml_utilization *util);
typedef nvml_return (*nvml_get_memory_fn)(nvml_device device, nvml_memory_v1 *memory);

#endif
