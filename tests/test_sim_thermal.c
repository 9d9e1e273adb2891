/* Tests of the simulator's thermal model and clocks-event bits: the steady
 * state and time constant follow the formula in sim.h, coupling raises an
 * idle neighbour by the predicted amount, and the power-cap, thermal and
 * idle bits appear exactly when their conditions hold. */
#include "testutil.h"

#include "firmus/sim.h"

#include <math.h>

#define MS 1000000LL

/* A noise-free preset: decode power is exactly the average. */
static fm_sim_preset quiet_preset(void)
{
    fm_sim_preset p = *fm_sim_preset_find("Qwen3-32B");
    p.decode_stdev_w = 0;
    p.decode_cv = 0;
    return p;
}

static void quiet_config(fm_sim_config *cfg, const fm_sim_preset *p, int gpus)
{
    fm_sim_config_default(cfg, p, gpus);
    cfg->busy_noise_w = 0;
    cfg->idle_noise_w = 0;
    cfg->token_pulse_frac = 0;
    cfg->lead_idle_s = 1;
    cfg->decode_s = 900;
}

/* One GPU, no coupling: exponential approach with tau to amb + r * P. */
static void test_time_constant_and_steady_state(void **state)
{
    (void)state;
    fm_sim_preset p = quiet_preset();
    fm_sim_config cfg;
    quiet_config(&cfg, &p, 1);
    cfg.thermal.coupling = 0;
    fm_sim *sim = fmt_make_sim(&cfg);
    const fm_sim_thermal_params *th = &cfg.thermal;
    assert_true(fabs(fm_sim_true_temp_c(sim, 0) - (th->ambient_c + th->r_c_per_w * 65.0)) < 1e-6);
    fm_sim_advance(sim, 5000 * MS); /* decode starts at 1 + ramp 1.06 + prefill 0.6 s */
    assert_int_equal(fm_sim_true_phase(sim, 0), FM_PHASE_DECODE);
    double t0 = fm_sim_true_temp_c(sim, 0);
    double t_inf = th->ambient_c + th->r_c_per_w * p.decode_avg_w;
    fm_sim_advance(sim, 5000 * MS + (int64_t)(th->tau_s * 1e9));
    double fraction = (fm_sim_true_temp_c(sim, 0) - t0) / (t_inf - t0);
    assert_true(fabs(fraction - (1 - exp(-1.0))) < 0.005);
    fm_sim_advance(sim, 5000 * MS + (int64_t)(15 * th->tau_s * 1e9));
    assert_true(fabs(fm_sim_true_temp_c(sim, 0) - t_inf) < 0.01);
    fm_sim_destroy(sim);
}

/* GPU 0 busy, GPU 1 idle (its request staggered far away): the steady state
 * solves x0 = r P0 + k x1, x1 = r P1 + k x0 (x = T - ambient). */
static void test_coupling_raises_neighbour(void **state)
{
    (void)state;
    fm_sim_preset p = quiet_preset();
    fm_sim_config cfg;
    quiet_config(&cfg, &p, 2);
    cfg.lead_idle_stagger_s = 100000;
    fm_sim *sim = fmt_make_sim(&cfg);
    fm_sim_advance(sim, 800000 * MS);
    assert_int_equal(fm_sim_true_phase(sim, 0), FM_PHASE_DECODE);
    assert_int_equal(fm_sim_true_phase(sim, 1), FM_PHASE_IDLE);
    double r = cfg.thermal.r_c_per_w, k = cfg.thermal.coupling, amb = cfg.thermal.ambient_c;
    double p0 = p.decode_avg_w, p1 = cfg.idle_power_w;
    double x0 = (r * p0 + k * r * p1) / (1 - k * k);
    double x1 = (r * p1 + k * r * p0) / (1 - k * k);
    assert_true(fabs(fm_sim_true_temp_c(sim, 0) - (amb + x0)) < 0.01);
    assert_true(fabs(fm_sim_true_temp_c(sim, 1) - (amb + x1)) < 0.01);
    /* without the busy neighbour GPU 1 would sit at amb + r P1 / (1 - k) */
    assert_true(fm_sim_true_temp_c(sim, 1) - (amb + r * p1 / (1 - k)) > 1.0);
    fm_sim_destroy(sim);
}

/* Power limit below the prefill peak: SW power cap bit and a lower SM clock
 * during prefill, not during idle; idle bit only when idle. */
static void test_power_cap_bit(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    cfg.power_limit_w = 600; /* prefill peak 647.2 W, decode 492.9 W */
    fm_sim *sim = fmt_make_sim(&cfg);
    fm_sample s;
    fm_sim_advance(sim, 1000 * MS);
    fm_sim_read_sensors(sim, 0, &s);
    assert_int_equal(s.clock_events, FM_CLOCK_EVENT_GPU_IDLE);
    fm_sim_advance(sim, 3400 * MS);
    assert_int_equal(fm_sim_true_phase(sim, 0), FM_PHASE_PREFILL);
    fm_sim_read_sensors(sim, 0, &s);
    assert_int_equal(s.clock_events, FM_CLOCK_EVENT_SW_POWER_CAP);
    assert_true(s.sm_clock_mhz < 1980 && s.sm_clock_mhz > 1700);
    fm_sim_advance(sim, 10000 * MS);
    assert_int_equal(fm_sim_true_phase(sim, 0), FM_PHASE_DECODE);
    fm_sim_read_sensors(sim, 0, &s);
    assert_int_equal(s.clock_events & FM_CLOCK_EVENT_GPU_IDLE, 0);
    fm_sim_destroy(sim);
    /* the default 700 W limit is never reached by this preset's prefill */
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    sim = fmt_make_sim(&cfg);
    fm_sim_advance(sim, 3400 * MS);
    fm_sim_read_sensors(sim, 0, &s);
    assert_int_equal(s.clock_events, 0);
    fm_sim_destroy(sim);
}

/* SW thermal bit once the temperature reaches the limit. */
static void test_thermal_bit(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    cfg.thermal.thermal_limit_c = 45;
    cfg.decode_s = 120;
    fm_sim *sim = fmt_make_sim(&cfg);
    int64_t t_hot = -1;
    for (int64_t t = 100 * MS; t < 60000 * MS; t += 100 * MS) {
        fm_sim_advance(sim, t);
        fm_sample s;
        fm_sim_read_sensors(sim, 0, &s);
        int hot = fm_sim_true_temp_c(sim, 0) >= 45.0;
        assert_int_equal((s.clock_events & FM_CLOCK_EVENT_SW_THERMAL) != 0, hot);
        if (hot && t_hot < 0)
            t_hot = t;
    }
    /* idle 33.9 C -> 59.6 C with tau 45 s: 45 C after about 25 s of work */
    assert_true(t_hot > 20000 * MS && t_hot < 35000 * MS);
    fm_sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_constant_and_steady_state),
        cmocka_unit_test(test_coupling_raises_neighbour),
        cmocka_unit_test(test_power_cap_bit),
        cmocka_unit_test(test_thermal_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
