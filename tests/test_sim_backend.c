/* Tests of the "sim" sensor backend: options and their errors, device and
 * backend info, virtual time (reads stamped on the virtual clock and equal
 * to the model's sensors), field masks, and real-time mode. */
#include "testutil.h"

#include "firmus/sensor.h"
#include "firmus/sim.h"

#include <math.h>
#include <string.h>

#define MS 1000000LL

static void test_defaults_and_info(void **state)
{
    (void)state;
    fm_sensor s;
    fm_error err = {0};
    assert_int_equal(fm_sensor_open("sim", NULL, &s, &err), FM_OK);
    assert_int_equal(fm_sensor_device_count(&s), 1);
    fm_device_info info;
    assert_int_equal(fm_sensor_device_info(&s, 0, &info, &err), FM_OK);
    assert_string_equal(info.name, "Simulated H200 (Qwen3-32B)");
    assert_string_equal(info.arch, "hopper");
    assert_true(info.power_limit_w == 700.0 && info.idle_power_w == 65.0);
    assert_int_equal(info.supported, FM_F_ALL);
    assert_non_null(strstr(info.power_instant_source, "25 ms"));
    fm_backend_info binfo;
    fm_sensor_backend_info(&s, &binfo);
    assert_string_equal(binfo.backend, "sim");
    assert_string_equal(binfo.driver_version, "");
    assert_string_equal(binfo.nvml_version, "");
    assert_int_equal(fm_sensor_device_info(&s, 1, &info, &err), FM_ERR_NOT_FOUND);
    fm_sample smp;
    assert_int_equal(fm_sensor_read(&s, -1, FM_F_ALL, &smp, &err), FM_ERR_NOT_FOUND);
    fm_sensor_close(&s);
}

/* Virtual time: sleeping jumps the clock; a read advances the model to it,
 * is stamped with it, and equals the model's own sensor reading. */
static void test_virtual_time_read(void **state)
{
    (void)state;
    fm_backend_options opt = {0};
    opt.sim_gpus = 4;
    opt.sim_preset = "llama-4-scout";
    opt.sim_pattern = "serving";
    opt.sim_seed = 9;
    fm_sensor s;
    fm_error err = {0};
    assert_int_equal(fm_sensor_open("sim", &opt, &s, &err), FM_OK);
    fm_clock *clock = fm_sensor_clock(&s);
    assert_int_equal(clock->virtual_time, 1);
    assert_int_equal(fm_clock_now_ns(clock), 0);
    fm_sim *sim = fm_sensor_sim(&s);
    assert_non_null(sim);
    assert_int_equal(fm_sim_get_config(sim)->gpus, 4);
    assert_true(fm_sim_get_config(sim)->request_rate_hz == 0.2);
    for (int64_t t = 10 * MS; t <= 60000 * MS; t += 10 * MS) {
        fm_clock_sleep_until(clock, t);
        for (int gpu = 0; gpu < 4; gpu++) {
            fm_sample got, want;
            assert_int_equal(fm_sensor_read(&s, gpu, FM_F_ALL, &got, &err), FM_OK);
            assert_int_equal(got.t_ns, t);
            assert_int_equal(fm_sim_now_ns(sim), t);
            fm_sim_read_sensors(sim, gpu, &want);
            assert_memory_equal(&got, &want, sizeof got);
        }
    }
    /* only the fields asked for are valid; the rest are NAN, not 0 */
    fm_sample part;
    assert_int_equal(fm_sensor_read(&s, 2, FM_F_POWER_INSTANT | FM_F_ENERGY, &part, &err), FM_OK);
    assert_int_equal(part.valid, FM_F_POWER_INSTANT | FM_F_ENERGY);
    assert_true(part.power_instant_w > 0 && part.energy_j > 0);
    assert_true(isnan(part.power_avg_w) && isnan(part.temp_c) && isnan(part.util_pct));
    fm_sensor_close(&s);
}

static void expect_open_error(const fm_backend_options *opt, const char *needle)
{
    fm_sensor s;
    fm_error err = {0};
    assert_int_equal(fm_sensor_open("sim", opt, &s, &err), FM_ERR_USAGE);
    assert_int_equal(err.code, FM_ERR_USAGE);
    assert_non_null(strstr(err.msg, needle));
    assert_null(strchr(err.msg, '\n'));
}

static void test_bad_options(void **state)
{
    (void)state;
    fm_backend_options opt = {0};
    opt.sim_preset = "GPT-5";
    expect_open_error(&opt, "unknown preset 'GPT-5'");
    opt = (fm_backend_options){0};
    opt.sim_gpus = 65;
    expect_open_error(&opt, "1..64");
    opt.sim_gpus = -2;
    expect_open_error(&opt, "1..64");
    opt = (fm_backend_options){0};
    opt.sim_pattern = "bursty";
    expect_open_error(&opt, "unknown pattern 'bursty'");
    opt = (fm_backend_options){0};
    opt.sim_request_rate_hz = -1;
    expect_open_error(&opt, "request rate");
}

/* Real time: the clock is CLOCK_MONOTONIC and sim time is time since open. */
static void test_real_time(void **state)
{
    (void)state;
    fm_backend_options opt = {0};
    opt.sim_real_time = 1;
    fm_sensor s;
    fm_error err = {0};
    assert_int_equal(fm_sensor_open("sim", &opt, &s, &err), FM_OK);
    fm_clock *clock = fm_sensor_clock(&s);
    assert_int_equal(clock->virtual_time, 0);
    int64_t start = fm_monotonic_ns();
    fm_clock_sleep_until(clock, start + 30 * MS);
    fm_sample smp;
    assert_int_equal(fm_sensor_read(&s, 0, FM_F_ALL, &smp, &err), FM_OK);
    int64_t after = fm_monotonic_ns();
    assert_true(smp.t_ns >= start + 30 * MS && smp.t_ns <= after);
    int64_t sim_now = fm_sim_now_ns(fm_sensor_sim(&s));
    assert_true(sim_now >= 30 * MS && sim_now < 30 * MS + (after - start));
    fm_sensor_close(&s);
}

static void test_sensor_sim_other_backend(void **state)
{
    (void)state;
    fm_sensor other = {.ops = fm_backend_find("nvml"), .state = NULL};
    assert_null(fm_sensor_sim(&other));
    assert_null(fm_sensor_sim(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_info),
        cmocka_unit_test(test_virtual_time_read),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_real_time),
        cmocka_unit_test(test_sensor_sim_other_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
