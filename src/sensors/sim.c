/* The "sim" sensor backend: simulated H200 GPUs (sim_model.c) behind the
 * same ops table as NVML. Virtual time by default: the backend clock starts
 * at 0 and only moves when the recorder "sleeps" (fm_clock_sleep_until),
 * and a read advances the model to the clock's now. In real-time mode sim
 * time is CLOCK_MONOTONIC minus the open time, and samples carry
 * CLOCK_MONOTONIC stamps like a real backend. Reads are serialised by a
 * mutex, so sampling threads may read different GPUs concurrently. */
#include "sensors/sim_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SIM_DEFAULT_PRESET "Qwen3-32B"
#define SIM_DEFAULT_RATE_HZ 0.2
#define SIM_MAX_GPUS 64

struct fm_backend {
    fm_sim *sim;
    pthread_mutex_t lock; /* guards sim: a read advances the whole node */
    fm_clock clock;
    int real_time;
    int64_t open_monotonic_ns;
};

extern const fm_backend_ops fm_backend_sim;

static int parse_pattern(const char *name, fm_sim_pattern *out, fm_error *err)
{
    if (!name || !strcasecmp(name, "single")) {
        *out = FM_SIM_SINGLE;
        return FM_OK;
    }
    if (!strcasecmp(name, "serving")) {
        *out = FM_SIM_SERVING;
        return FM_OK;
    }
    return fm_fail(err, FM_ERR_USAGE, "sim: unknown pattern '%s' (use single or serving)", name);
}

static int unknown_preset(const char *name, fm_error *err)
{
    char known[256] = "";
    int count = 0;
    const fm_sim_preset *p = fm_sim_presets(&count);
    for (int i = 0; i < count; i++) {
        strncat(known, p[i].name, sizeof known - strlen(known) - 1);
        if (i + 1 < count)
            strncat(known, ", ", sizeof known - strlen(known) - 1);
    }
    return fm_fail(err, FM_ERR_USAGE, "sim: unknown preset '%s' (known: %s)", name, known);
}

/* Turns backend options (zero = default) into a sim configuration. */
static int config_from_options(const fm_backend_options *opt, fm_sim_config *cfg, fm_error *err)
{
    const char *preset_name = opt->sim_preset ? opt->sim_preset : SIM_DEFAULT_PRESET;
    const fm_sim_preset *preset = fm_sim_preset_find(preset_name);
    if (!preset)
        return unknown_preset(preset_name, err);
    int gpus = opt->sim_gpus == 0 ? 1 : opt->sim_gpus;
    if (gpus < 1 || gpus > SIM_MAX_GPUS)
        return fm_fail(err, FM_ERR_USAGE, "sim: number of GPUs must be 1..%d (got %d)",
                       SIM_MAX_GPUS, opt->sim_gpus);
    fm_sim_config_default(cfg, preset, gpus);
    int rc = parse_pattern(opt->sim_pattern, &cfg->pattern, err);
    if (rc != FM_OK)
        return rc;
    if (opt->sim_seed)
        cfg->seed = opt->sim_seed;
    if (opt->sim_request_rate_hz < 0 || opt->sim_request_rate_hz != opt->sim_request_rate_hz)
        return fm_fail(err, FM_ERR_USAGE, "sim: request rate must be > 0 Hz (got %g)",
                       opt->sim_request_rate_hz);
    cfg->request_rate_hz =
        opt->sim_request_rate_hz > 0 ? opt->sim_request_rate_hz : SIM_DEFAULT_RATE_HZ;
    return FM_OK;
}

static int sim_open(const fm_backend_options *opt, fm_backend **out, fm_error *err)
{
    *out = NULL;
    fm_sim_config cfg;
    int rc = config_from_options(opt, &cfg, err);
    if (rc != FM_OK)
        return rc;
    fm_backend *b = calloc(1, sizeof *b);
    if (!b)
        return fm_fail(err, FM_ERR_NOMEM, "sim: out of memory");
    rc = fm_sim_create(&cfg, &b->sim, err);
    if (rc != FM_OK) {
        free(b);
        return rc;
    }
    pthread_mutex_init(&b->lock, NULL);
    b->real_time = opt->sim_real_time ? 1 : 0;
    b->clock.virtual_time = !b->real_time;
    b->clock.virtual_now_ns = 0;
    b->open_monotonic_ns = fm_monotonic_ns();
    *out = b;
    return FM_OK;
}

static void sim_close(fm_backend *b)
{
    if (!b)
        return;
    fm_sim_destroy(b->sim);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static int sim_device_count(fm_backend *b)
{
    return fm_sim_get_config(b->sim)->gpus;
}

static void sim_backend_info(fm_backend *b, fm_backend_info *out)
{
    (void)b;
    memset(out, 0, sizeof *out);
    snprintf(out->backend, sizeof out->backend, "sim");
}

static int check_index(fm_backend *b, int index, fm_error *err)
{
    if (index < 0 || index >= sim_device_count(b))
        return fm_fail(err, FM_ERR_NOT_FOUND, "sim: no GPU %d (have %d)", index,
                       sim_device_count(b));
    return FM_OK;
}

static int ns_to_ms(int64_t ns)
{
    int64_t ms = ns / 1000000;
    return ms > 999999 ? 999999 : (int)ms;
}

static int sim_device_info(fm_backend *b, int index, fm_device_info *out, fm_error *err)
{
    int rc = check_index(b, index, err);
    if (rc != FM_OK)
        return rc;
    const fm_sim_config *cfg = fm_sim_get_config(b->sim);
    memset(out, 0, sizeof *out);
    out->index = index;
    snprintf(out->name, sizeof out->name, "Simulated H200 (%s)", cfg->preset->name);
    snprintf(out->uuid, sizeof out->uuid, "SIM-%016llx-%04d", (unsigned long long)cfg->seed, index);
    snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "00000000:%02X:00.0", index + 1);
    snprintf(out->arch, sizeof out->arch, "hopper");
    out->power_limit_w = cfg->power_limit_w;
    out->idle_power_w = cfg->idle_power_w;
    out->supported = FM_F_ALL;
    snprintf(out->power_instant_source, sizeof out->power_instant_source,
             "sim: instant sensor (%d ms window / %d ms)", ns_to_ms(cfg->sensor.instant_window_ns),
             ns_to_ms(cfg->sensor.publish_period_ns));
    snprintf(out->power_avg_source, sizeof out->power_avg_source,
             "sim: average sensor (%d ms window / %d ms)", ns_to_ms(cfg->sensor.average_window_ns),
             ns_to_ms(cfg->sensor.publish_period_ns));
    snprintf(out->energy_source, sizeof out->energy_source, "sim: energy counter (mJ, every %d ms)",
             ns_to_ms(cfg->sensor.energy_period_ns));
    return FM_OK;
}

/* Sim time of "now" on the backend clock, and the stamp a sample gets. */
static int64_t sim_time_now(fm_backend *b, int64_t *stamp_ns)
{
    if (b->real_time) {
        int64_t mono = fm_monotonic_ns();
        *stamp_ns = mono;
        int64_t t = mono - b->open_monotonic_ns;
        return t > 0 ? t : 0;
    }
    *stamp_ns = b->clock.virtual_now_ns;
    return b->clock.virtual_now_ns;
}

static void keep_fields(fm_sample *s, uint32_t fields)
{
    fm_sample full = *s;
    fm_sample_clear(s, full.t_ns);
    s->valid = full.valid & fields;
    if (s->valid & FM_F_POWER_INSTANT)
        s->power_instant_w = full.power_instant_w;
    if (s->valid & FM_F_POWER_AVG)
        s->power_avg_w = full.power_avg_w;
    if (s->valid & FM_F_ENERGY)
        s->energy_j = full.energy_j;
    if (s->valid & FM_F_TEMP)
        s->temp_c = full.temp_c;
    if (s->valid & FM_F_SM_CLOCK)
        s->sm_clock_mhz = full.sm_clock_mhz;
    if (s->valid & FM_F_UTIL)
        s->util_pct = full.util_pct;
    if (s->valid & FM_F_MEM_USED)
        s->mem_used_bytes = full.mem_used_bytes;
    if (s->valid & FM_F_CLOCK_EVENTS)
        s->clock_events = full.clock_events;
}

static int sim_read(fm_backend *b, int index, uint32_t fields, fm_sample *out, fm_error *err)
{
    int rc = check_index(b, index, err);
    if (rc != FM_OK)
        return rc;
    int64_t stamp_ns;
    pthread_mutex_lock(&b->lock);
    int64_t t = sim_time_now(b, &stamp_ns);
    fm_sim_advance(b->sim, t);
    fm_sim_read_sensors(b->sim, index, out);
    pthread_mutex_unlock(&b->lock);
    out->t_ns = stamp_ns;
    keep_fields(out, fields);
    return FM_OK;
}

static fm_clock *sim_clock(fm_backend *b)
{
    return &b->clock;
}

fm_sim *fm_sensor_sim(fm_sensor *s)
{
    if (!s || s->ops != &fm_backend_sim || !s->state)
        return NULL;
    return s->state->sim;
}

const fm_backend_ops fm_backend_sim = {
    .name = "sim",
    .description = "simulated H200 GPUs running LLM inference (virtual time by default)",
    .open = sim_open,
    .close = sim_close,
    .device_count = sim_device_count,
    .backend_info = sim_backend_info,
    .device_info = sim_device_info,
    .read = sim_read,
    .clock = sim_clock,
};
