/* Tests of the simulator's sensor model against its own truth: the instant
 * reading is the 25 ms mean at the last publication and held between
 * publications, the 1 s average lags a step by about a second, and the
 * energy counter is the floor of the true energy in mJ at its own updates. */
#include "testutil.h"

#include "firmus/sim.h"

#include <math.h>
#include <stdlib.h>

#define MS 1000000LL

/* Instant = mean true power over [t_p - 25 ms, t_p] at the last
 * publication t_p, to the mW the sensor reports; held until the next. */
static void test_instant_is_window_mean_and_held(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    cfg.lead_idle_s = 0.5;
    cfg.decode_s = 4.0;
    fm_sim *sim = fmt_make_sim(&cfg);
    int64_t prev_pub = -1;
    double prev_value = NAN;
    int checked = 0, held = 0;
    for (int64_t t = 130 * MS; t < 8000 * MS; t += 7 * MS + 123) {
        fm_sim_advance(sim, t);
        fm_sample s;
        fm_sim_read_sensors(sim, 0, &s);
        int64_t pub = fm_sim_last_publish_ns(sim);
        assert_true(pub <= t && t - pub < 100 * MS);
        assert_int_equal(pub % (100 * MS), 0);
        double expect_w = fm_sim_true_energy_between_j(sim, 0, pub - 25 * MS, pub) / 0.025;
        assert_true(fabs(s.power_instant_w - expect_w) <= 0.0005 + 1e-9);
        if (pub == prev_pub) {
            assert_true(s.power_instant_w == prev_value);
            held++;
        }
        prev_pub = pub;
        prev_value = s.power_instant_w;
        checked++;
    }
    assert_true(checked > 1000 && held > 900);
    fm_sim_destroy(sim);
}

/* The publication grid follows publish_phase_ns. */
static void test_publication_phase(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    cfg.sensor.publish_phase_ns = 37 * MS;
    cfg.sensor.energy_phase_ns = 81 * MS;
    fm_sim *sim = fmt_make_sim(&cfg);
    for (int64_t t = 1 * MS; t < 3000 * MS; t += 13 * MS) {
        fm_sim_advance(sim, t);
        int64_t pub = fm_sim_last_publish_ns(sim);
        int64_t upd = fm_sim_last_energy_update_ns(sim);
        assert_int_equal(((pub % (100 * MS)) + 100 * MS) % (100 * MS), 37 * MS);
        assert_int_equal(((upd % (100 * MS)) + 100 * MS) % (100 * MS), 81 * MS);
        assert_true(pub <= t && t - pub < 100 * MS && upd <= t && t - upd < 100 * MS);
    }
    fm_sim_destroy(sim);
}

/* A step in true power (ramp made instantaneous, no noise): the instant
 * value follows within one publication, the 1 s average needs ~0.9 s to
 * reach 90 % of the step. */
static void test_average_lags_a_step(void **state)
{
    (void)state;
    fm_sim_preset step = *fm_sim_preset_find("Qwen3-32B");
    step.ramp_w_per_s = 1e9; /* one 1 ms step */
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, &step, 1);
    cfg.lead_idle_s = 2.0;
    cfg.prefill_s = 3.0;
    cfg.busy_noise_w = 0;
    cfg.idle_noise_w = 0;
    fm_sim *sim = fmt_make_sim(&cfg);
    double idle = cfg.idle_power_w, peak = step.prefill_peak_w;
    int64_t t_step = 2000 * MS;
    int64_t t90_avg = -1, t99_inst = -1;
    for (int64_t t = t_step; t < t_step + 2500 * MS; t += 1 * MS) {
        fm_sim_advance(sim, t);
        fm_sample s;
        fm_sim_read_sensors(sim, 0, &s);
        if (t99_inst < 0 && s.power_instant_w >= idle + 0.99 * (peak - idle))
            t99_inst = t - t_step;
        if (t90_avg < 0 && s.power_avg_w >= idle + 0.9 * (peak - idle) - 1e-6)
            t90_avg = t - t_step;
        if (t == t_step + 500 * MS) /* half the window has seen the step */
            assert_true(fabs(s.power_avg_w - (idle + 0.5 * (peak - idle))) < 0.02 * (peak - idle));
    }
    assert_true(t99_inst > 0 && t99_inst <= 100 * MS);
    assert_true(t90_avg >= 850 * MS && t90_avg <= 1000 * MS);
    fm_sim_destroy(sim);
}

/* Energy counter: floor(true energy in mJ) at its last update, constant in
 * between; with an offset ("since driver load") added. */
static void test_energy_counter(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("DeepSeek-R1-Distill-32B"), 2);
    cfg.lead_idle_s = 0.3;
    cfg.decode_s = 3.0;
    cfg.sensor.energy_offset_mj = 123456789;
    fm_sim *sim = fmt_make_sim(&cfg);
    double prev = NAN;
    int64_t prev_upd = -1;
    int changes = 0;
    for (int64_t t = 1 * MS; t < 7000 * MS; t += 3 * MS + 777) {
        fm_sim_advance(sim, t);
        for (int gpu = 0; gpu < 2; gpu++) {
            fm_sample s;
            fm_sim_read_sensors(sim, gpu, &s);
            int64_t upd = fm_sim_last_energy_update_ns(sim);
            double counter_mj = s.energy_j * 1000.0 - 123456789.0;
            double true_mj = upd > 0 ? fm_sim_true_energy_between_j(sim, gpu, 0, upd) * 1000.0 : 0;
            assert_true(counter_mj <= true_mj + 1e-6);
            assert_true(counter_mj > true_mj - 1.0 - 1e-6);
            assert_true(counter_mj == floor(counter_mj));
            if (gpu == 0) {
                if (upd == prev_upd)
                    assert_true(s.energy_j == prev);
                else if (prev_upd >= 0)
                    changes++;
                prev = s.energy_j;
                prev_upd = upd;
            }
        }
    }
    assert_true(changes >= 65);
    /* over a long window the counter agrees with the truth to 1 mJ */
    fm_sim_destroy(sim);
}

/* All fields are valid and plausible; temperature and power in NVML units. */
static void test_all_fields_valid(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("GPT-OSS-20B"), 1);
    fm_sim *sim = fmt_make_sim(&cfg);
    fm_sim_advance(sim, 10000 * MS);
    fm_sample s;
    fm_sim_read_sensors(sim, 0, &s);
    assert_int_equal(s.valid, FM_F_ALL);
    assert_int_equal(s.t_ns, 10000 * MS);
    assert_true(s.temp_c == floor(s.temp_c));
    assert_true(s.util_pct == 100.0);
    assert_true(s.sm_clock_mhz == 1980.0);
    assert_true(s.mem_used_bytes > 42ull * 1000 * 1000 * 1000); /* 21e9 parameters in BF16 */
    assert_true(s.mem_used_bytes < 143771ull * 1024 * 1024);
    assert_int_equal(s.clock_events, 0);
    fm_sim_destroy(sim);
    /* a model too large for one GPU is sharded: 235e9 BF16 over 4 GPUs */
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-235B"), 1);
    sim = fmt_make_sim(&cfg);
    fm_sim_read_sensors(sim, 0, &s);
    assert_true(s.mem_used_bytes > 117ull * 1000 * 1000 * 1000);
    assert_true(s.mem_used_bytes < 143771ull * 1024 * 1024);
    assert_true(s.util_pct == 0.0 && s.sm_clock_mhz == 345.0);
    assert_int_equal(s.clock_events, FM_CLOCK_EVENT_GPU_IDLE);
    assert_true(fm_sim_memory_total_bytes(sim) == 143771ull * 1024 * 1024);
    /* a GPU index out of range gives nothing valid, not a crash */
    fm_sim_read_sensors(sim, 1, &s);
    assert_int_equal(s.valid, 0);
    assert_true(isnan(s.power_instant_w));
    assert_true(isnan(fm_sim_true_power_w(sim, -1)) && isnan(fm_sim_true_energy_j(sim, 1)));
    const fm_sim_segment *segs;
    assert_int_equal(fm_sim_true_segments(sim, 7, &segs), 0);
    fm_sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instant_is_window_mean_and_held),
        cmocka_unit_test(test_publication_phase),
        cmocka_unit_test(test_average_lags_a_step),
        cmocka_unit_test(test_energy_counter),
        cmocka_unit_test(test_all_fields_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
