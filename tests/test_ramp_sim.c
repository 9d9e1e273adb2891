/* Ramp rates (dP/dt) measured from the simulated sensors against the true
 * ramp of the model: taken from the instant source (25 ms window published
 * every 100 ms) the steepest sustained rise is within 10 % of the true ramp;
 * the 1 s average flattens a ramp shorter than its window to about
 * (swing / 1 s). Each case polls the sensors every 10 ms (--high-res) and
 * uses fm_power_ramp_extremes with its default window (2 sensor periods). */
#include "testutil.h"

#include <math.h>

#include "firmus/metrics.h"
#include "firmus/sim.h"

#define MS 1000000LL

typedef struct ramp_measure {
    double instant_rise_w_per_s;
    double avg_rise_w_per_s;
    double instant_fall_w_per_s;
} ramp_measure;

/* Steepest rise (or fall) of a polled series inside [t0, t1]. */
static fm_ramp_extremes extremes_in(const fm_series *s, int64_t t0_ns, int64_t t1_ns)
{
    fm_series part;
    fm_series_init(&part);
    for (size_t i = 0; i < s->n; i++)
        if (s->t_ns[i] >= t0_ns && s->t_ns[i] <= t1_ns)
            fm_series_push(&part, s->t_ns[i], s->v[i]);
    fm_ramp_extremes e;
    assert_int_equal(fm_power_ramp_extremes(&part, 0, &e), FM_OK);
    assert_int_equal(e.window_ns, 200 * MS); /* 2 x the 100 ms sensor period */
    fm_series_free(&part);
    return e;
}

/* Polls GPU 0 of a single-request run every 10 ms and measures the
 * steepest rise over the true ramp (widened by 1.2 s so the 1 s average's
 * lagging edge is included) and the steepest fall inside the true fall
 * (starting 100 ms in, so decode noise before it does not count). */
static ramp_measure measure(const fm_sim_preset *preset)
{
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, preset, 1);
    cfg.decode_s = 3;
    fm_sim *sim = NULL;
    fm_error err = {0};
    if (fm_sim_create(&cfg, &sim, &err) != FM_OK)
        fail_msg("sim: %s", err.msg);
    fm_series instant, avg;
    fm_series_init(&instant);
    fm_series_init(&avg);
    for (int64_t t = 0; t <= 12000 * MS; t += 10 * MS) {
        fm_sim_advance(sim, t);
        fm_sample s;
        fm_sim_read_sensors(sim, 0, &s);
        fm_series_push(&instant, t, s.power_instant_w);
        fm_series_push(&avg, t, s.power_avg_w);
    }
    const fm_sim_segment *seg = NULL;
    size_t nseg = fm_sim_true_segments(sim, 0, &seg);
    int64_t ramp0 = -1, ramp1 = -1, fall0 = -1, fall1 = -1;
    for (size_t i = 0; i < nseg; i++) {
        if (seg[i].phase == FM_PHASE_RAMP && ramp0 < 0) {
            ramp0 = seg[i].start_ns;
            ramp1 = seg[i].end_ns;
        }
        if (seg[i].phase == FM_PHASE_FALL && fall0 < 0) {
            fall0 = seg[i].start_ns;
            fall1 = seg[i].end_ns;
        }
    }
    assert_true(ramp0 >= 0 && fall0 >= 0);
    const int64_t widen_ns = 1200 * MS;
    ramp_measure m = {
        extremes_in(&instant, ramp0 - 100 * MS, ramp1 + widen_ns).max_rise_w_per_s,
        extremes_in(&avg, ramp0 - 100 * MS, ramp1 + widen_ns).max_rise_w_per_s,
        extremes_in(&instant, fall0 + 100 * MS, fall1).max_fall_w_per_s,
    };
    fm_series_free(&instant);
    fm_series_free(&avg);
    fm_sim_destroy(sim);
    return m;
}

/* The six presets: ramps of 1.0-1.4 s at 457-769 W/s. */
static void test_presets_instant_within_10_percent(void **state)
{
    (void)state;
    int count = 0;
    const fm_sim_preset *presets = fm_sim_presets(&count);
    assert_int_equal(count, 6);
    for (int i = 0; i < count; i++) {
        ramp_measure m = measure(&presets[i]);
        double rise_err = fmt_rel_err(m.instant_rise_w_per_s, presets[i].ramp_w_per_s);
        double fall_err = fmt_rel_err(m.instant_fall_w_per_s, presets[i].fall_w_per_s);
        print_message("%-24s true %6.1f W/s: instant %6.1f (%.1f %%), 1 s avg %6.1f; fall "
                      "true %6.1f, instant %6.1f\n",
                      presets[i].name, presets[i].ramp_w_per_s, m.instant_rise_w_per_s,
                      100 * rise_err, m.avg_rise_w_per_s, presets[i].fall_w_per_s,
                      m.instant_fall_w_per_s);
        assert_true(rise_err < 0.10);
        assert_true(fall_err < 0.10);
        /* A ramp of ~1 s is not steeper through a 1 s average. */
        assert_true(m.avg_rise_w_per_s <= m.instant_rise_w_per_s * 1.02);
    }
}

/* A fast ramp (2 kW/s: 0.38 s for the swing, still longer than the
 * 2-period window; the step seen on a real H100 was faster still): the
 * instant source gets it within 10 %, the 1 s average flattens it to about
 * swing / 1 s, the size of the original framework's "ramp rates". A ramp
 * shorter than 2 sensor periods can only be bounded from below. */
static void test_fast_ramp_flattened_by_1s_average(void **state)
{
    (void)state;
    fm_sim_preset fast = *fm_sim_preset_find("Qwen3-235B");
    fast.name = "fast-step";
    fast.ramp_w_per_s = 2000;
    fast.fall_w_per_s = -2000;
    ramp_measure m = measure(&fast);
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, &fast, 1);
    double swing_w = fast.prefill_peak_w - cfg.idle_power_w;
    print_message("fast ramp: true 2000 W/s, instant %.0f W/s, 1 s average %.0f W/s "
                  "(swing / 1 s = %.0f W/s)\n",
                  m.instant_rise_w_per_s, m.avg_rise_w_per_s, swing_w);
    assert_true(fmt_rel_err(m.instant_rise_w_per_s, 2000) < 0.10);
    assert_true(m.avg_rise_w_per_s < 0.5 * 2000);
    assert_true(m.avg_rise_w_per_s < swing_w * 1.05);
    assert_true(m.avg_rise_w_per_s > swing_w * 0.80);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_instant_within_10_percent),
        cmocka_unit_test(test_fast_ramp_flattened_by_1s_average),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
