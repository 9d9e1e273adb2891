/* Tests of the nvml sensor backend (src/sensors/nvml.c) run through the
 * fake libnvidia-ml.so.1 (tests/fakenvml), whose readings come from the
 * simulated node: what the backend reports must equal what the model's
 * sensors publish at the same moment, the energy counter must follow the
 * true energy, and injected faults must give missing readings (never 0 W)
 * or a lost GPU (never a crash). */
#include "testutil.h"

#include "fakenvml/fakenvml_hooks.h"
#include "firmus/sensor.h"
#include "firmus/sim.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ fixture */

static const char *const fake_env_names[] = {"FAKENVML_GPUS",
                                             "FAKENVML_PRESET",
                                             "FAKENVML_SEED",
                                             "FAKENVML_PATTERN",
                                             "FAKENVML_LEAD_IDLE_S",
                                             "FAKENVML_DECODE_S",
                                             "FAKENVML_DRIVER_VERSION",
                                             "FAKENVML_NVML_VERSION",
                                             "FAKENVML_NAME",
                                             "FAKENVML_ARCH",
                                             "FAKENVML_NO_INSTANT",
                                             "FAKENVML_NO_AVG",
                                             "FAKENVML_NO_ENERGY",
                                             "FAKENVML_NO_TEMP",
                                             "FAKENVML_NO_TEMP_V",
                                             "FAKENVML_TRANSIENT_PROB",
                                             "FAKENVML_ZERO_PROB",
                                             "FAKENVML_FAULT_SEED",
                                             "FAKENVML_LOST_GPU",
                                             "FAKENVML_LOST_AFTER_MS",
                                             "FAKENVML_SLOW_US",
                                             "FAKENVML_ENERGY_SLOW_US",
                                             "FAKENVML_INIT_ERROR",
                                             "FIRMUS_NVML_LIBRARY",
                                             NULL};

/* The backend opened on the fake, plus the fake's test hooks. */
typedef struct fake_run {
    fm_sensor sensor;
    void *dl;
    fakenvml_t0_ns_fn t0_ns;
    fakenvml_sim_now_ns_fn sim_now_ns;
    fakenvml_read_sensors_fn read_sensors;
    fakenvml_true_energy_between_j_fn true_energy_between_j;
    fakenvml_config_fn config;
    fakenvml_call_count_fn call_count;
} fake_run;

/* The run a test has open, so the teardown can close it when an assertion
 * ended the test early (otherwise the fake would stay initialised with
 * that test's environment). */
static fake_run *open_run;

static char fake_library[1024];

static const char *fake_library_path(void)
{
    const char *dir = fmt_env("FIRMUS_FAKENVML_DIR");
    if (!dir)
        return NULL;
    snprintf(fake_library, sizeof fake_library, "%s/libnvidia-ml.so.1", dir);
    return fake_library;
}

/* Sets the fake's environment: `settings` is "NAME=VALUE" strings, NULL-ended. */
static void set_fake_env(const char *const *settings)
{
    for (size_t i = 0; fake_env_names[i]; i++)
        unsetenv(fake_env_names[i]);
    for (size_t i = 0; settings && settings[i]; i++) {
        char name[128];
        const char *eq = strchr(settings[i], '=');
        assert_non_null(eq);
        snprintf(name, sizeof name, "%.*s", (int)(eq - settings[i]), settings[i]);
        setenv(name, eq + 1, 1);
    }
}

static void *hook(void *dl, const char *name)
{
    void *fn = dlsym(dl, name);
    assert_non_null(fn);
    return fn;
}

/* Opens the nvml backend on the fake with the given environment. */
static void open_fake(fake_run *run, const char *const *settings)
{
    const char *path = fake_library_path();
    if (!path)
        skip();
    set_fake_env(settings);
    memset(run, 0, sizeof *run);
    fm_backend_options opt = {.library_path = path};
    fm_error err = {0};
    int rc = fm_sensor_open("nvml", &opt, &run->sensor, &err);
    if (rc != FM_OK)
        fail_msg("opening the fake NVML failed: %s", err.msg);
    open_run = run;
    run->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(run->dl);
    *(void **)&run->t0_ns = hook(run->dl, "fakenvml_t0_ns");
    *(void **)&run->sim_now_ns = hook(run->dl, "fakenvml_sim_now_ns");
    *(void **)&run->read_sensors = hook(run->dl, "fakenvml_read_sensors");
    *(void **)&run->true_energy_between_j = hook(run->dl, "fakenvml_true_energy_between_j");
    *(void **)&run->config = hook(run->dl, "fakenvml_config");
    *(void **)&run->call_count = hook(run->dl, "fakenvml_call_count");
    open_run = run;
}

static void close_fake(fake_run *run)
{
    fm_sensor_close(&run->sensor);
    dlclose(run->dl);
    set_fake_env(NULL);
    open_run = NULL;
}

static int teardown_fake(void **state)
{
    (void)state;
    if (open_run)
        close_fake(open_run);
    set_fake_env(NULL);
    return 0;
}

/* Sim time of a sample stamped on CLOCK_MONOTONIC. */
static int64_t sample_sim_ns(const fake_run *run, const fm_sample *s)
{
    return s->t_ns - run->t0_ns();
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The last energy-counter update instant at or before sim time t (the
 * counter updates on the grid phase + n * period; before its first update
 * it holds the value of t = 0). */
static int64_t last_energy_update_ns(const fm_sim_config *cfg, int64_t t_ns)
{
    int64_t phase = cfg->sensor.energy_phase_ns;
    int64_t period = cfg->sensor.energy_period_ns;
    int64_t update_ns = phase + floor_div(t_ns - phase, period) * period;
    return update_ns > 0 ? update_ns : 0;
}

/* A backend reading bracketed by two reads of the model's sensors: when
 * both brackets show the same published value, the backend (which read in
 * between) must have returned exactly it. */
typedef struct bracketed {
    fm_sample got, before, after;
    int64_t before_ns, after_ns;
    int rc;
} bracketed;

static void read_bracketed(fake_run *run, int gpu, uint32_t fields, bracketed *b)
{
    fm_error err = {0};
    assert_int_equal(run->read_sensors(gpu, &b->before, &b->before_ns), 0);
    b->rc = fm_sensor_read(&run->sensor, gpu, fields, &b->got, &err);
    assert_int_equal(run->read_sensors(gpu, &b->after, &b->after_ns), 0);
}

/* ------------------------------------------------------------ tests */

static void test_library_missing(void **state)
{
    (void)state;
    set_fake_env(NULL);
    fm_backend_options opt = {.library_path = "/nonexistent/dir/libnvidia-ml.so.1"};
    fm_sensor s;
    fm_error err = {0};
    assert_int_equal(fm_sensor_open("nvml", &opt, &s, &err), FM_ERR_NO_LIBRARY);
    assert_int_equal(err.code, FM_ERR_NO_LIBRARY);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/libnvidia-ml.so.1 not found"));
    assert_non_null(strstr(err.msg, "try --backend sim"));
    assert_null(strchr(err.msg, '\n'));

    /* the same through the environment variable */
    setenv("FIRMUS_NVML_LIBRARY", "/nonexistent/other/libnvidia-ml.so.1", 1);
    fm_backend_options defaults = {0};
    assert_int_equal(fm_sensor_open("nvml", &defaults, &s, &err), FM_ERR_NO_LIBRARY);
    assert_non_null(strstr(err.msg, "/nonexistent/other/libnvidia-ml.so.1 not found"));
    unsetenv("FIRMUS_NVML_LIBRARY");

    /* a file that exists but is no NVML library at all */
    const char *source = fmt_env("FIRMUS_SOURCE_DIR");
    if (source) {
        char path[1024];
        snprintf(path, sizeof path, "%s/CMakeLists.txt", source);
        opt.library_path = path;
        assert_int_equal(fm_sensor_open("nvml", &opt, &s, &err), FM_ERR_NO_LIBRARY);
        assert_non_null(strstr(err.msg, "cannot load NVIDIA driver library"));
        assert_null(strchr(err.msg, '\n'));
    }
}

static void test_init_errors(void **state)
{
    (void)state;
    const char *path = fake_library_path();
    if (!path)
        skip();
    fm_backend_options opt = {.library_path = path};
    fm_sensor s;
    fm_error err = {0};
    set_fake_env((const char *const[]){"FAKENVML_INIT_ERROR=9", NULL});
    assert_int_equal(fm_sensor_open("nvml", &opt, &s, &err), FM_ERR_NO_LIBRARY);
    assert_non_null(strstr(err.msg, "NVML_ERROR_DRIVER_NOT_LOADED"));
    set_fake_env((const char *const[]){"FAKENVML_INIT_ERROR=18", NULL});
    assert_int_equal(fm_sensor_open("nvml", &opt, &s, &err), FM_ERR);
    assert_non_null(strstr(err.msg, "NVML_ERROR_LIB_RM_VERSION_MISMATCH"));
    set_fake_env(NULL);
}

static void test_device_info(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_GPUS=2", "FAKENVML_DRIVER_VERSION=590.48.01",
                                          "FAKENVML_NAME=NVIDIA H100 80GB HBM3", NULL});
    assert_int_equal(fm_sensor_device_count(&run.sensor), 2);
    fm_backend_info bi;
    fm_sensor_backend_info(&run.sensor, &bi);
    assert_string_equal(bi.backend, "nvml");
    assert_string_equal(bi.driver_version, "590.48.01");
    assert_string_equal(bi.nvml_version, "13.999.99-fakenvml");
    assert_non_null(strstr(bi.library_path, "libnvidia-ml.so"));
    assert_int_equal(bi.library_path[0], '/');

    for (int i = 0; i < 2; i++) {
        fm_device_info d;
        fm_error err = {0};
        assert_int_equal(fm_sensor_device_info(&run.sensor, i, &d, &err), FM_OK);
        assert_int_equal(d.index, i);
        assert_string_equal(d.name, "NVIDIA H100 80GB HBM3");
        assert_string_equal(d.arch, "hopper");
        assert_true(fabs(d.power_limit_w - 700.0) < 1e-9);
        assert_true(isnan(d.idle_power_w));
        assert_int_equal(d.supported, FM_F_ALL);
        assert_string_equal(d.power_instant_source,
                            "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT=186)");
        assert_string_equal(d.power_avg_source, "nvmlDeviceGetPowerUsage (1 s average)");
        assert_string_equal(d.energy_source, "nvmlDeviceGetTotalEnergyConsumption (mJ)");
        assert_non_null(strstr(d.uuid, "GPU-"));
        assert_string_equal(d.pci_bus_id, i == 0 ? "00000000:18:00.0" : "00000000:19:00.0");
    }
    fm_device_info d;
    fm_error err = {0};
    assert_int_equal(fm_sensor_device_info(&run.sensor, 2, &d, &err), FM_ERR_NOT_FOUND);
    fm_sample s;
    assert_int_equal(fm_sensor_read(&run.sensor, -1, FM_F_ALL, &s, &err), FM_ERR_NOT_FOUND);
    assert_false(fm_sensor_clock(&run.sensor)->virtual_time);
    close_fake(&run);
}

/* Older architectures: GetPowerUsage is instantaneous there (nvml.md 0.1)
 * and the source string says so. */
static void test_arch_and_avg_meaning(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_ARCH=7", "FAKENVML_NAME=NVIDIA A100-SXM4-40GB",
                                          NULL});
    fm_device_info d;
    fm_error err = {0};
    assert_int_equal(fm_sensor_device_info(&run.sensor, 0, &d, &err), FM_OK);
    assert_string_equal(d.arch, "ampere");
    assert_string_equal(d.power_avg_source, "nvmlDeviceGetPowerUsage (instantaneous on GA100)");
    close_fake(&run);
    open_fake(&run, (const char *const[]){"FAKENVML_ARCH=5", NULL});
    assert_int_equal(fm_sensor_device_info(&run.sensor, 0, &d, &err), FM_OK);
    assert_string_equal(d.arch, "volta");
    assert_string_equal(d.power_avg_source,
                        "nvmlDeviceGetPowerUsage (instantaneous before Ampere)");
    close_fake(&run);
    open_fake(&run, (const char *const[]){"FAKENVML_ARCH=77", NULL});
    assert_int_equal(fm_sensor_device_info(&run.sensor, 0, &d, &err), FM_OK);
    assert_string_equal(d.arch, "unknown");
    close_fake(&run);
}

/* Every reading equals what the model's sensors publish at that moment;
 * the timestamp lies between the two bracketing reads. */
static void test_readings_match_sensors(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_GPUS=2", "FAKENVML_LEAD_IDLE_S=0.1", NULL});
    int compared_instant = 0, compared_energy = 0;
    for (int tick = 0; tick < 40; tick++) {
        for (int gpu = 0; gpu < 2; gpu++) {
            bracketed b;
            read_bracketed(&run, gpu, FM_F_ALL, &b);
            assert_int_equal(b.rc, FM_OK);
            assert_int_equal(b.got.valid, FM_F_ALL);
            int64_t t = sample_sim_ns(&run, &b.got);
            assert_true(t >= b.before_ns && t <= b.after_ns);
            assert_true(b.got.power_instant_w > 0);
            if (b.before.power_instant_w == b.after.power_instant_w &&
                b.before.power_avg_w == b.after.power_avg_w) {
                assert_true(fabs(b.got.power_instant_w - b.after.power_instant_w) <= 0.0005);
                assert_true(fabs(b.got.power_avg_w - b.after.power_avg_w) <= 0.0005);
                compared_instant++;
            }
            if (b.before.energy_j == b.after.energy_j) {
                assert_true(fabs(b.got.energy_j - b.after.energy_j) <= 0.0005);
                compared_energy++;
            }
            /* the slow readings, in NVML's whole units (rounding: 0.5) */
            if (b.before.temp_c == b.after.temp_c)
                assert_true(fabs(b.got.temp_c - b.after.temp_c) <= 0.5 + 1e-9);
            if (b.before.sm_clock_mhz == b.after.sm_clock_mhz)
                assert_true(fabs(b.got.sm_clock_mhz - b.after.sm_clock_mhz) <= 0.5 + 1e-9);
            if (b.before.util_pct == b.after.util_pct)
                assert_true(fabs(b.got.util_pct - b.after.util_pct) <= 0.5 + 1e-9);
            if (b.before.mem_used_bytes == b.after.mem_used_bytes)
                assert_true(b.got.mem_used_bytes == b.after.mem_used_bytes);
            if (b.before.clock_events == b.after.clock_events)
                assert_true(b.got.clock_events == b.after.clock_events);
        }
        fmt_sleep_ms(10);
    }
    /* most ticks fall inside one publication period: the check really ran */
    assert_true(compared_instant >= 60);
    assert_true(compared_energy >= 60);
    close_fake(&run);
}

/* The energy counter (mJ) follows the true energy between its update
 * instants to its 1 mJ quantisation. */
static void test_energy_follows_truth(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_LEAD_IDLE_S=0.1", NULL});
    fm_sim_config cfg;
    assert_int_equal(run.config(&cfg), 0);
    fm_sample first, last;
    fm_error err = {0};
    assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_ENERGY, &first, &err), FM_OK);
    fmt_sleep_ms(400);
    assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_ENERGY, &last, &err), FM_OK);
    assert_true(first.valid & last.valid & FM_F_ENERGY);
    int64_t u0 = last_energy_update_ns(&cfg, sample_sim_ns(&run, &first));
    int64_t u1 = last_energy_update_ns(&cfg, sample_sim_ns(&run, &last));
    assert_true(u1 > u0);
    double counted_j = last.energy_j - first.energy_j;
    double true_j = run.true_energy_between_j(0, u0, u1);
    assert_true(true_j > 0);
    /* the counter is the floor of the true energy in mJ: a difference of
     * two such floors is within 1 mJ of the true difference */
    assert_true(fabs(counted_j - true_j) < 0.001 + 1e-9);
    close_fake(&run);
}

/* The 1 s average lags a rise: during the ramp it stays below the instant
 * value, and it equals the model's averaged sensor. */
static void test_average_lags_step(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_LEAD_IDLE_S=0.1", NULL});
    int lagging = 0;
    double first_avg_w = NAN, last_avg_w = NAN;
    while (run.sim_now_ns() < 900000000) {
        bracketed b;
        read_bracketed(&run, 0, FM_F_POWER_INSTANT | FM_F_POWER_AVG, &b);
        assert_int_equal(b.rc, FM_OK);
        assert_true(b.got.valid & FM_F_POWER_AVG);
        if (isnan(first_avg_w))
            first_avg_w = b.got.power_avg_w;
        last_avg_w = b.got.power_avg_w;
        if (b.before.power_avg_w == b.after.power_avg_w)
            assert_true(fabs(b.got.power_avg_w - b.after.power_avg_w) <= 0.0005);
        if (b.got.power_avg_w < b.got.power_instant_w - 20.0)
            lagging++;
        fmt_sleep_ms(20);
    }
    assert_true(lagging >= 5);
    assert_true(last_avg_w > first_avg_w + 20.0);
    close_fake(&run);
}

/* Readings the GPU does not support are never asked for and never valid. */
static void test_unsupported_fields(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_NO_INSTANT=1", "FAKENVML_NO_ENERGY=1",
                                          "FAKENVML_NO_TEMP=1", NULL});
    fm_device_info d;
    fm_error err = {0};
    assert_int_equal(fm_sensor_device_info(&run.sensor, 0, &d, &err), FM_OK);
    assert_false(d.supported & FM_F_POWER_INSTANT);
    assert_false(d.supported & FM_F_ENERGY);
    assert_true(d.supported & FM_F_POWER_AVG);
    assert_true(d.supported & FM_F_TEMP); /* through nvmlDeviceGetTemperatureV */
    assert_string_equal(d.power_instant_source, "");
    assert_string_equal(d.energy_source, "");

    long fields_before = run.call_count(FAKENVML_CALL_FIELD_VALUES);
    long energy_before = run.call_count(FAKENVML_CALL_TOTAL_ENERGY);
    long temp_before = run.call_count(FAKENVML_CALL_TEMPERATURE);
    long temp_v_before = run.call_count(FAKENVML_CALL_TEMPERATURE_V);
    for (int i = 0; i < 10; i++) {
        fm_sample s;
        assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_ALL, &s, &err), FM_OK);
        assert_int_equal(s.valid, FM_F_ALL & ~(FM_F_POWER_INSTANT | FM_F_ENERGY));
        assert_true(isnan(s.power_instant_w));
        assert_true(isnan(s.energy_j));
        assert_true(s.temp_c > 0);
    }
    assert_int_equal(run.call_count(FAKENVML_CALL_FIELD_VALUES), fields_before);
    assert_int_equal(run.call_count(FAKENVML_CALL_TOTAL_ENERGY), energy_before);
    assert_int_equal(run.call_count(FAKENVML_CALL_TEMPERATURE), temp_before);
    assert_int_equal(run.call_count(FAKENVML_CALL_TEMPERATURE_V), temp_v_before + 10);

    /* and a read asks only for what was requested */
    long avg_before = run.call_count(FAKENVML_CALL_POWER_USAGE);
    fm_sample s;
    assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_TEMP, &s, &err), FM_OK);
    assert_int_equal(s.valid, FM_F_TEMP);
    assert_int_equal(run.call_count(FAKENVML_CALL_POWER_USAGE), avg_before);
    close_fake(&run);
}

/* Transient failures and 0 mW readings become missing readings, never 0 W. */
static void test_transient_faults(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_TRANSIENT_PROB=0.3", "FAKENVML_ZERO_PROB=0.2",
                                          "FAKENVML_FAULT_SEED=7", NULL});
    fm_device_info d;
    fm_error err = {0};
    assert_int_equal(fm_sensor_device_info(&run.sensor, 0, &d, &err), FM_OK);
    /* probing retries, so a transient failure does not switch a reading off */
    assert_true((d.supported & FM_F_POWER_ALL) == FM_F_POWER_ALL);
    int missing_instant = 0, missing_avg = 0, missing_energy = 0;
    const int reads = 400;
    for (int i = 0; i < reads; i++) {
        fm_sample s;
        assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_POWER_ALL, &s, &err), FM_OK);
        if (s.valid & FM_F_POWER_INSTANT) {
            assert_true(s.power_instant_w > 0);
        } else {
            assert_true(isnan(s.power_instant_w));
            missing_instant++;
        }
        if (s.valid & FM_F_POWER_AVG) {
            assert_true(s.power_avg_w > 0);
        } else {
            assert_true(isnan(s.power_avg_w));
            missing_avg++;
        }
        if (!(s.valid & FM_F_ENERGY)) {
            assert_true(isnan(s.energy_j));
            missing_energy++;
        }
    }
    /* power: 30 % transient + 20 % zero = half missing; energy: 30 % */
    assert_in_range(missing_instant, reads * 35 / 100, reads * 65 / 100);
    assert_in_range(missing_avg, reads * 35 / 100, reads * 65 / 100);
    assert_in_range(missing_energy, reads * 18 / 100, reads * 42 / 100);
    close_fake(&run);
}

/* A GPU that falls off the bus is reported lost for good; the other GPU
 * keeps reading. */
static void test_gpu_lost(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_GPUS=2", "FAKENVML_LOST_GPU=1",
                                          "FAKENVML_LOST_AFTER_MS=150", NULL});
    int ok_before = 0, lost_after = 0;
    while (run.sim_now_ns() < 350000000) {
        fm_sample s0, s1;
        fm_error err = {0};
        int64_t before_ns = run.sim_now_ns();
        assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_ALL, &s0, &err), FM_OK);
        assert_true(s0.valid & FM_F_POWER_INSTANT);
        int rc = fm_sensor_read(&run.sensor, 1, FM_F_ALL, &s1, &err);
        if (run.sim_now_ns() < 150000000) {
            assert_int_equal(rc, FM_OK);
            ok_before++;
        } else if (before_ns >= 150000000) {
            assert_int_equal(rc, FM_ERR_GPU_LOST);
            assert_int_equal(s1.valid, 0);
            assert_non_null(strstr(err.msg, "GPU 1"));
            assert_non_null(strstr(err.msg, "NVML_ERROR_GPU_IS_LOST"));
            lost_after++;
        }
        fmt_sleep_ms(10);
    }
    assert_true(ok_before >= 3);
    assert_true(lost_after >= 5);
    close_fake(&run);

    /* a GPU lost before the backend opens is reported lost at once */
    open_fake(&run, (const char *const[]){"FAKENVML_GPUS=2", "FAKENVML_LOST_GPU=0", NULL});
    fm_sample s;
    fm_error err = {0};
    assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_ALL, &s, &err), FM_ERR_GPU_LOST);
    assert_int_equal(fm_sensor_read(&run.sensor, 1, FM_F_ALL, &s, &err), FM_OK);
    close_fake(&run);
}

/* The timestamp is taken right after the (first) power read: a slow call
 * shows up in it, a slow later call does not. */
static void test_stamp_after_slow_read(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_SLOW_US=30000", NULL});
    fm_sample s;
    fm_error err = {0};
    int64_t start_ns = fm_monotonic_ns();
    assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_POWER_INSTANT, &s, &err), FM_OK);
    assert_true(s.t_ns - start_ns >= 30000000);
    assert_true(s.valid & FM_F_POWER_INSTANT);
    close_fake(&run);

    /* the stamp belongs to the instant read, not to a slow energy read after it */
    open_fake(&run, (const char *const[]){"FAKENVML_ENERGY_SLOW_US=30000", NULL});
    assert_int_equal(fm_sensor_read(&run.sensor, 0, FM_F_POWER_INSTANT | FM_F_ENERGY, &s, &err),
                     FM_OK);
    int64_t end_ns = fm_monotonic_ns();
    assert_true(end_ns - s.t_ns >= 30000000);
    assert_true((s.valid & (FM_F_POWER_INSTANT | FM_F_ENERGY)) ==
                (FM_F_POWER_INSTANT | FM_F_ENERGY));
    close_fake(&run);
}

/* The library can also be named by FIRMUS_NVML_LIBRARY; no GPUs is fine. */
static void test_env_library_and_no_gpus(void **state)
{
    (void)state;
    const char *path = fake_library_path();
    if (!path)
        skip();
    set_fake_env((const char *const[]){"FAKENVML_GPUS=0", NULL});
    setenv("FIRMUS_NVML_LIBRARY", path, 1);
    fm_sensor s;
    fm_error err = {0};
    fm_backend_options defaults = {0};
    assert_int_equal(fm_sensor_open("nvml", &defaults, &s, &err), FM_OK);
    assert_int_equal(fm_sensor_device_count(&s), 0);
    fm_sensor_close(&s);
    set_fake_env(NULL);
}

/* One thread per GPU, as a recorder might do: no errors, all values real. */
typedef struct reader_job {
    fm_sensor *sensor;
    int gpu;
    int failures;
} reader_job;

static void *read_many(void *arg)
{
    reader_job *job = arg;
    for (int i = 0; i < 300; i++) {
        fm_sample s;
        fm_error err = {0};
        if (fm_sensor_read(job->sensor, job->gpu, FM_F_ALL, &s, &err) != FM_OK ||
            !(s.valid & FM_F_POWER_INSTANT) || !(s.power_instant_w > 0))
            job->failures++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    fake_run run;
    open_fake(&run, (const char *const[]){"FAKENVML_GPUS=3", NULL});
    pthread_t threads[3];
    reader_job jobs[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (reader_job){.sensor = &run.sensor, .gpu = i};
        assert_int_equal(pthread_create(&threads[i], NULL, read_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    close_fake(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_library_missing, teardown_fake),
        cmocka_unit_test_teardown(test_init_errors, teardown_fake),
        cmocka_unit_test_teardown(test_device_info, teardown_fake),
        cmocka_unit_test_teardown(test_arch_and_avg_meaning, teardown_fake),
        cmocka_unit_test_teardown(test_readings_match_sensors, teardown_fake),
        cmocka_unit_test_teardown(test_energy_follows_truth, teardown_fake),
        cmocka_unit_test_teardown(test_average_lags_step, teardown_fake),
        cmocka_unit_test_teardown(test_unsupported_fields, teardown_fake),
        cmocka_unit_test_teardown(test_transient_faults, teardown_fake),
        cmocka_unit_test_teardown(test_gpu_lost, teardown_fake),
        cmocka_unit_test_teardown(test_stamp_after_slow_read, teardown_fake),
        cmocka_unit_test_teardown(test_env_library_and_no_gpus, teardown_fake),
        cmocka_unit_test_teardown(test_threads, teardown_fake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
