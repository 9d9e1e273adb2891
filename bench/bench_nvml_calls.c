/* bench_nvml_calls — times raw NVML calls (no firmus backend in between) on
 * GPU 0, to choose how the nvml backend reads each value: the power and
 * energy functions and their nvmlDeviceGetFieldValues equivalents (186
 * instant, 185 average, 83 total energy, 191 energy with scope), alone and
 * batched, back to back and paced every 100 ms. Also checks that field 83
 * and nvmlDeviceGetTotalEnergyConsumption agree. Figures: docs/NVML.md. */
#include "firmus/sensor.h"
#include "sensors/nvml_load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIELD_POWER_AVERAGE 185
#define FIELD_TOTAL_ENERGY 83
#define FIELD_ENERGY 191

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *v, int n, double pct)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    int i = (int)floor(pct / 100.0 * (n - 1) + 0.5);
    return v[i];
}

typedef struct call_setup {
    const fm_nvml_library *lib;
    nvml_device dev;
    const unsigned int *fields; /* NULL: a function call instead */
    int field_count;
    int use_energy_function; /* 1: nvmlDeviceGetTotalEnergyConsumption, 0: PowerUsage */
} call_setup;

/* One call; returns its status (for field values: the first failing field's). */
static nvml_return call_once(const call_setup *c)
{
    if (c->fields) {
        nvml_field_value fv[8];
        memset(fv, 0, sizeof fv);
        for (int i = 0; i < c->field_count; i++)
            fv[i].field_id = c->fields[i];
        nvml_return r = c->lib->get_field_values(c->dev, c->field_count, fv);
        for (int i = 0; r == NVML_RET_SUCCESS && i < c->field_count; i++)
            if (fv[i].nvml_return != NVML_RET_SUCCESS)
                r = fv[i].nvml_return;
        return r;
    }
    if (c->use_energy_function) {
        unsigned long long mj;
        return c->lib->get_total_energy(c->dev, &mj);
    }
    unsigned int mw;
    return c->lib->get_power_usage(c->dev, &mw);
}

static void time_calls(const char *label, const call_setup *c, int n, int paced_ms)
{
    double *us = malloc(sizeof *us * (size_t)n);
    int errors = 0;
    nvml_return last_error = NVML_RET_SUCCESS;
    for (int i = 0; i < n; i++) {
        if (paced_ms) {
            struct timespec ts = {0, paced_ms * 1000000L};
            nanosleep(&ts, NULL);
        }
        int64_t t0 = fm_monotonic_ns();
        nvml_return r = call_once(c);
        us[i] = (double)(fm_monotonic_ns() - t0) / 1000.0;
        if (r != NVML_RET_SUCCESS) {
            errors++;
            last_error = r;
        }
    }
    printf("  %-44s n %4d%s  median %9.1f us  p99 %9.1f us  max %9.1f us  errors %d%s%s\n", label,
           n, paced_ms ? " paced" : "      ", percentile(us, n, 50), percentile(us, n, 99),
           percentile(us, n, 100), errors, errors ? " last " : "",
           errors ? fm_nvml_return_name(last_error) : "");
    free(us);
}

/* Reads field 83 and the function back to back a few times. */
static void compare_energy_sources(const fm_nvml_library *lib, nvml_device dev)
{
    for (int i = 0; i < 5; i++) {
        nvml_field_value fv;
        memset(&fv, 0, sizeof fv);
        fv.field_id = FIELD_TOTAL_ENERGY;
        nvml_return r = lib->get_field_values(dev, 1, &fv);
        unsigned long long mj = 0;
        nvml_return r2 = lib->get_total_energy(dev, &mj);
        printf("  field 83: call %d field %d type %d value %llu mJ | function: %d value %llu mJ\n",
               r, fv.nvml_return, fv.value_type, fv.value.ull_val, r2, mj);
        struct timespec ts = {0, 150000000L};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    fm_nvml_library lib;
    fm_error err = {0};
    if (fm_nvml_library_load(argc > 1 ? argv[1] : NULL, &lib, &err) != FM_OK) {
        fprintf(stderr, "bench_nvml_calls: %s\n", err.msg);
        return 3;
    }
    nvml_device dev;
    if (lib.init() != NVML_RET_SUCCESS || lib.get_handle_by_index(0, &dev) != NVML_RET_SUCCESS ||
        !lib.get_field_values || !lib.get_total_energy || !lib.get_power_usage) {
        fprintf(stderr, "bench_nvml_calls: NVML init / GPU 0 / functions unavailable\n");
        return 1;
    }
    static const unsigned int f186[] = {NVML_FIELD_POWER_INSTANT};
    static const unsigned int f185[] = {FIELD_POWER_AVERAGE};
    static const unsigned int f83[] = {FIELD_TOTAL_ENERGY};
    static const unsigned int f191[] = {FIELD_ENERGY};
    static const unsigned int f186_185[] = {NVML_FIELD_POWER_INSTANT, FIELD_POWER_AVERAGE};
    static const unsigned int f186_185_83[] = {NVML_FIELD_POWER_INSTANT, FIELD_POWER_AVERAGE,
                                               FIELD_TOTAL_ENERGY};
    struct {
        const char *label;
        call_setup c;
    } cases[] = {
        {"GetFieldValues(186 instant)", {&lib, dev, f186, 1, 0}},
        {"GetFieldValues(185 average)", {&lib, dev, f185, 1, 0}},
        {"GetFieldValues(83 total energy)", {&lib, dev, f83, 1, 0}},
        {"GetFieldValues(191 energy, scope 0)", {&lib, dev, f191, 1, 0}},
        {"GetFieldValues(186,185)", {&lib, dev, f186_185, 2, 0}},
        {"GetFieldValues(186,185,83)", {&lib, dev, f186_185_83, 3, 0}},
        {"GetPowerUsage", {&lib, dev, NULL, 0, 0}},
        {"GetTotalEnergyConsumption", {&lib, dev, NULL, 0, 1}},
    };
    printf("raw NVML calls on GPU 0, back to back:\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        time_calls(cases[i].label, &cases[i].c, 500, 0);
    printf("paced every ~100 ms:\n");
    time_calls("GetTotalEnergyConsumption", &cases[7].c, 20, 100);
    time_calls("GetFieldValues(83 total energy)", &cases[2].c, 20, 100);
    compare_energy_sources(&lib, dev);
    lib.shutdown();
    fm_nvml_library_unload(&lib);
    return 0;
}
