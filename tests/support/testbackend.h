/* A deterministic sensor backend for exact recorder tests ("testbe"): N GPUs
 * whose power is a known function of time, an energy counter that is its
 * exact integral, a virtual clock (or CLOCK_MONOTONIC), counters of how
 * often each field was read, and a GPU that can be made to fall off the bus.
 * Header-only so that only the tests that use it compile it. Options, read
 * from fm_backend_options (this backend has no options of its own):
 *   sim_gpus        number of GPUs (default 1)
 *   sim_real_time   1: CLOCK_MONOTONIC instead of virtual time
 *   sim_seed        > 0: GPU 1 is lost this many ms after the backend opened
 * Power of GPU i at t seconds after opening:
 *   P_i(t) = 100 + 50 i + 40 sin(pi t)                  (W)
 *   E_i(t) = (100 + 50 i) t + (40/pi) (1 - cos(pi t))   (J, exact integral) */
#ifndef FIRMUS_TESTBACKEND_H
#define FIRMUS_TESTBACKEND_H

#include "firmus/sensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTBE_MAX_GPUS 16

struct fm_backend {
    fm_clock clock;
    int gpus;
    int64_t start_ns;
    int64_t lose_gpu1_after_ns; /* 0 = never */
    int64_t slow_reads[TESTBE_MAX_GPUS];
    int64_t fast_reads[TESTBE_MAX_GPUS];
};

static double testbe_power_w(int gpu, double t_s)
{
    return 100.0 + 50.0 * gpu + 40.0 * sin(M_PI * t_s);
}

static double testbe_energy_j(int gpu, double t_s)
{
    return (100.0 + 50.0 * gpu) * t_s + 40.0 / M_PI * (1.0 - cos(M_PI * t_s));
}

static int testbe_open(const fm_backend_options *opt, fm_backend **out, fm_error *err)
{
    fm_backend *b = calloc(1, sizeof *b);
    if (!b)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    b->gpus = opt->sim_gpus > 0 ? opt->sim_gpus : 1;
    if (b->gpus > TESTBE_MAX_GPUS) {
        free(b);
        return fm_fail(err, FM_ERR_USAGE, "testbe: at most %d GPUs", TESTBE_MAX_GPUS);
    }
    b->clock.virtual_time = !opt->sim_real_time;
    b->clock.virtual_now_ns = 0;
    b->start_ns = fm_clock_now_ns(&b->clock);
    b->lose_gpu1_after_ns = (int64_t)opt->sim_seed * 1000000;
    *out = b;
    return FM_OK;
}

static void testbe_close(fm_backend *b)
{
    free(b);
}

static int testbe_count(fm_backend *b)
{
    return b->gpus;
}

static void testbe_backend_info(fm_backend *b, fm_backend_info *out)
{
    (void)b;
    snprintf(out->backend, sizeof out->backend, "testbe");
    snprintf(out->driver_version, sizeof out->driver_version, "test-1.0");
}

static int testbe_device_info(fm_backend *b, int index, fm_device_info *out, fm_error *err)
{
    if (index < 0 || index >= b->gpus)
        return fm_fail(err, FM_ERR_NOT_FOUND, "testbe: no GPU %d", index);
    memset(out, 0, sizeof *out);
    out->index = index;
    snprintf(out->name, sizeof out->name, "Test GPU %d", index);
    snprintf(out->uuid, sizeof out->uuid, "GPU-test-%d", index);
    snprintf(out->arch, sizeof out->arch, "unknown");
    out->power_limit_w = 700;
    out->idle_power_w = NAN;
    out->supported = FM_F_ALL;
    snprintf(out->power_instant_source, sizeof out->power_instant_source, "testbe P(t)");
    snprintf(out->power_avg_source, sizeof out->power_avg_source, "testbe P(t)");
    snprintf(out->energy_source, sizeof out->energy_source, "testbe E(t)");
    return FM_OK;
}

static int testbe_read(fm_backend *b, int index, uint32_t fields, fm_sample *out, fm_error *err)
{
    int64_t now_ns = fm_clock_now_ns(&b->clock);
    int64_t since_ns = now_ns - b->start_ns;
    if (index == 1 && b->lose_gpu1_after_ns > 0 && since_ns >= b->lose_gpu1_after_ns)
        return fm_fail(err, FM_ERR_GPU_LOST, "testbe: GPU 1 fell off the bus");
    double t_s = (double)since_ns / 1e9;
    fm_sample_clear(out, now_ns);
    if (fields & FM_F_POWER_INSTANT) {
        out->power_instant_w = testbe_power_w(index, t_s);
        out->valid |= FM_F_POWER_INSTANT;
    }
    if (fields & FM_F_POWER_AVG) {
        out->power_avg_w = testbe_power_w(index, t_s);
        out->valid |= FM_F_POWER_AVG;
    }
    if (fields & FM_F_ENERGY) {
        out->energy_j = testbe_energy_j(index, t_s);
        out->valid |= FM_F_ENERGY;
    }
    if (fields & FM_F_SLOW) {
        out->temp_c = 40.0 + index;
        out->sm_clock_mhz = 1980;
        out->util_pct = 50;
        out->mem_used_bytes = 1u << 30;
        out->clock_events = 0;
        out->valid |= fields & FM_F_SLOW;
        b->slow_reads[index]++;
    }
    b->fast_reads[index]++;
    return FM_OK;
}

static fm_clock *testbe_clock(fm_backend *b)
{
    return &b->clock;
}

static const fm_backend_ops testbe_ops = {
    .name = "testbe",
    .description = "deterministic test backend",
    .open = testbe_open,
    .close = testbe_close,
    .device_count = testbe_count,
    .backend_info = testbe_backend_info,
    .device_info = testbe_device_info,
    .read = testbe_read,
    .clock = testbe_clock,
};

#endif
