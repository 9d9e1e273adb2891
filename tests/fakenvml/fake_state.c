/* State of the fake libnvidia-ml.so.1 (test-only): configuration from the
 * environment, the simulated node behind it running in real time (sim time
 * = CLOCK_MONOTONIC - time of the first nvmlInit), fault injection, the
 * lock every call takes, and the test hooks of fakenvml_hooks.h. */
#include "fake.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* The library's one process-wide state (see fake.h). */
static fake_state state = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------ environment */

static const char *env_text(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return (v && *v) ? v : fallback;
}

static double env_number(const char *name, double fallback)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end) {
        fprintf(stderr, "fakenvml: %s=%s is not a number; using %g\n", name, v, fallback);
        return fallback;
    }
    return x;
}

static void copy_text(char *dst, size_t size, const char *src)
{
    size_t length = strlen(src);
    if (length >= size)
        length = size - 1;
    memcpy(dst, src, length);
    dst[length] = '\0';
}

static void read_config(fake_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->gpus = (int)env_number("FAKENVML_GPUS", 1);
    copy_text(cfg->preset, sizeof cfg->preset, env_text("FAKENVML_PRESET", "Qwen3-32B"));
    cfg->seed = (uint64_t)env_number("FAKENVML_SEED", 1);
    cfg->pattern = strcasecmp(env_text("FAKENVML_PATTERN", "single"), "serving") ? FM_SIM_SINGLE
                                                                                 : FM_SIM_SERVING;
    cfg->lead_idle_s = env_number("FAKENVML_LEAD_IDLE_S", NAN);
    cfg->decode_s = env_number("FAKENVML_DECODE_S", NAN);
    copy_text(cfg->driver_version, sizeof cfg->driver_version,
              env_text("FAKENVML_DRIVER_VERSION", "999.99.99-fakenvml"));
    copy_text(cfg->nvml_version, sizeof cfg->nvml_version,
              env_text("FAKENVML_NVML_VERSION", "13.999.99-fakenvml"));
    copy_text(cfg->name, sizeof cfg->name, env_text("FAKENVML_NAME", "NVIDIA H200 (fakenvml)"));
    cfg->arch = (unsigned int)env_number("FAKENVML_ARCH", NVML_ARCH_HOPPER);
    cfg->no_instant = env_number("FAKENVML_NO_INSTANT", 0) != 0;
    cfg->no_avg = env_number("FAKENVML_NO_AVG", 0) != 0;
    cfg->no_energy = env_number("FAKENVML_NO_ENERGY", 0) != 0;
    cfg->no_temp = env_number("FAKENVML_NO_TEMP", 0) != 0;
    cfg->no_temp_v = env_number("FAKENVML_NO_TEMP_V", 0) != 0;
    cfg->transient_prob = env_number("FAKENVML_TRANSIENT_PROB", 0);
    cfg->zero_prob = env_number("FAKENVML_ZERO_PROB", 0);
    cfg->fault_seed = (uint64_t)env_number("FAKENVML_FAULT_SEED", (double)cfg->seed);
    cfg->lost_gpu = (int)env_number("FAKENVML_LOST_GPU", -1);
    cfg->lost_after_ns = (int64_t)(env_number("FAKENVML_LOST_AFTER_MS", 0) * 1e6);
    cfg->slow_us = (long)env_number("FAKENVML_SLOW_US", 0);
    cfg->energy_slow_us = (long)env_number("FAKENVML_ENERGY_SLOW_US", 0);
    cfg->init_error = (int)env_number("FAKENVML_INIT_ERROR", 0);
}

/* ------------------------------------------------------ init/shutdown */

static nvml_return create_sim(fake_state *s)
{
    const fm_sim_preset *preset = fm_sim_preset_find(s->cfg.preset);
    if (!preset) {
        fprintf(stderr, "fakenvml: unknown FAKENVML_PRESET '%s'\n", s->cfg.preset);
        return NVML_RET_UNKNOWN;
    }
    if (s->cfg.gpus < 0 || s->cfg.gpus > FAKE_MAX_GPUS) {
        fprintf(stderr, "fakenvml: FAKENVML_GPUS must be 0..%d\n", FAKE_MAX_GPUS);
        return NVML_RET_UNKNOWN;
    }
    if (s->cfg.gpus == 0)
        return NVML_RET_SUCCESS; /* a driver with no GPUs: no model needed */
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, preset, s->cfg.gpus);
    cfg.seed = s->cfg.seed;
    cfg.pattern = s->cfg.pattern;
    if (!isnan(s->cfg.lead_idle_s))
        cfg.lead_idle_s = s->cfg.lead_idle_s;
    if (!isnan(s->cfg.decode_s))
        cfg.decode_s = s->cfg.decode_s;
    fm_error err = {0};
    if (fm_sim_create(&cfg, &s->sim, &err) != FM_OK) {
        fprintf(stderr, "fakenvml: cannot create the simulated node: %s\n", err.msg);
        return NVML_RET_UNKNOWN;
    }
    return NVML_RET_SUCCESS;
}

nvml_return fake_init(void)
{
    pthread_mutex_lock(&state.lock);
    nvml_return r = NVML_RET_SUCCESS;
    if (state.init_count == 0) {
        read_config(&state.cfg);
        if (state.cfg.init_error) {
            r = state.cfg.init_error;
        } else {
            r = create_sim(&state);
            state.t0_ns = monotonic_ns();
            state.fault_rng = state.cfg.fault_seed * 0x9E3779B97F4A7C15ull + 1;
            memset(state.calls, 0, sizeof state.calls);
            for (int i = 0; i < FAKE_MAX_GPUS; i++)
                state.gpus[i].index = i;
        }
    }
    if (r == NVML_RET_SUCCESS)
        state.init_count++;
    pthread_mutex_unlock(&state.lock);
    return r;
}

nvml_return fake_shutdown(void)
{
    pthread_mutex_lock(&state.lock);
    nvml_return r = NVML_RET_SUCCESS;
    if (state.init_count == 0) {
        r = NVML_RET_UNINITIALIZED;
    } else if (--state.init_count == 0) {
        fm_sim_destroy(state.sim);
        state.sim = NULL;
        state.t0_ns = 0;
    }
    pthread_mutex_unlock(&state.lock);
    return r;
}

/* ------------------------------------------------------ per call */

/* Advances the model to the present (lock held). */
static int64_t advance_to_now(fake_state *s)
{
    int64_t t_ns = monotonic_ns() - s->t0_ns;
    if (s->sim)
        fm_sim_advance(s->sim, t_ns);
    return t_ns;
}

nvml_return fake_begin_system(void)
{
    pthread_mutex_lock(&state.lock);
    if (state.init_count == 0) {
        pthread_mutex_unlock(&state.lock);
        return NVML_RET_UNINITIALIZED;
    }
    return NVML_RET_SUCCESS;
}

nvml_return fake_begin(nvml_device device, int *gpu)
{
    nvml_return r = fake_begin_system();
    if (r != NVML_RET_SUCCESS)
        return r;
    fake_gpu *g = (fake_gpu *)device;
    if (!g || g < state.gpus || g >= state.gpus + state.cfg.gpus) {
        pthread_mutex_unlock(&state.lock);
        return NVML_RET_INVALID_ARGUMENT;
    }
    *gpu = g->index;
    int64_t t_ns = advance_to_now(&state);
    if (g->index == state.cfg.lost_gpu && t_ns >= state.cfg.lost_after_ns) {
        pthread_mutex_unlock(&state.lock);
        return NVML_RET_GPU_IS_LOST;
    }
    return NVML_RET_SUCCESS;
}

void fake_end(void)
{
    pthread_mutex_unlock(&state.lock);
}

fake_state *fake_get(void)
{
    return &state;
}

void fake_count(enum fakenvml_counted_call which)
{
    state.calls[which]++;
}

/* splitmix64: a small, good, seedable generator. */
static double next_uniform(uint64_t *rng)
{
    uint64_t z = (*rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

enum fake_fault fake_draw_fault(int zero_allowed)
{
    if (state.cfg.transient_prob <= 0 && (state.cfg.zero_prob <= 0 || !zero_allowed))
        return FAKE_FAULT_NONE;
    double u = next_uniform(&state.fault_rng);
    if (u < state.cfg.transient_prob)
        return FAKE_FAULT_TRANSIENT;
    if (zero_allowed && u < state.cfg.transient_prob + state.cfg.zero_prob)
        return FAKE_FAULT_ZERO;
    return FAKE_FAULT_NONE;
}

nvml_return fake_transient_code(void)
{
    return next_uniform(&state.fault_rng) < 2.0 / 3.0 ? NVML_RET_NOT_SUPPORTED : NVML_RET_UNKNOWN;
}

void fake_slow_call(int energy_call)
{
    pthread_mutex_lock(&state.lock);
    long slow_us = state.cfg.slow_us + (energy_call ? state.cfg.energy_slow_us : 0);
    pthread_mutex_unlock(&state.lock);
    if (slow_us > 0)
        usleep((useconds_t)slow_us);
}

/* ------------------------------------------------------ test hooks */

int64_t fakenvml_t0_ns(void)
{
    pthread_mutex_lock(&state.lock);
    int64_t t0 = state.init_count ? state.t0_ns : 0;
    pthread_mutex_unlock(&state.lock);
    return t0;
}

fm_sim *fakenvml_sim(void)
{
    return state.sim;
}

int64_t fakenvml_sim_now_ns(void)
{
    pthread_mutex_lock(&state.lock);
    int64_t t_ns = state.init_count ? advance_to_now(&state) : -1;
    pthread_mutex_unlock(&state.lock);
    return t_ns;
}

int fakenvml_read_sensors(int gpu, fm_sample *out, int64_t *sim_t_ns)
{
    int rc = -1;
    pthread_mutex_lock(&state.lock);
    if (state.init_count && state.sim && gpu >= 0 && gpu < state.cfg.gpus) {
        int64_t t_ns = advance_to_now(&state);
        fm_sim_read_sensors(state.sim, gpu, out);
        if (sim_t_ns)
            *sim_t_ns = t_ns;
        rc = 0;
    }
    pthread_mutex_unlock(&state.lock);
    return rc;
}

double fakenvml_true_energy_between_j(int gpu, int64_t t0_ns, int64_t t1_ns)
{
    double energy_j = NAN;
    pthread_mutex_lock(&state.lock);
    if (state.init_count && state.sim && gpu >= 0 && gpu < state.cfg.gpus) {
        advance_to_now(&state);
        energy_j = fm_sim_true_energy_between_j(state.sim, gpu, t0_ns, t1_ns);
    }
    pthread_mutex_unlock(&state.lock);
    return energy_j;
}

int fakenvml_config(fm_sim_config *out)
{
    int rc = -1;
    pthread_mutex_lock(&state.lock);
    if (state.init_count && state.sim) {
        *out = *fm_sim_get_config(state.sim);
        rc = 0;
    }
    pthread_mutex_unlock(&state.lock);
    return rc;
}

long fakenvml_call_count(enum fakenvml_counted_call which)
{
    if ((int)which < 0 || which >= FAKENVML_CALL_COUNT)
        return -1;
    pthread_mutex_lock(&state.lock);
    long n = state.calls[which];
    pthread_mutex_unlock(&state.lock);
    return n;
}
