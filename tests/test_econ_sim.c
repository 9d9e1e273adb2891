/* End-to-end qualification of the six H200 presets on the simulated GPU
 * (the test oracle): sample the sim's instant power sensor at 25 ms as the
 * recorder does, take the true decode window, measure the CV and classify
 * it under both shipped policies.
 *
 * The sim calibrates its instant sensor to the preset CVs (docs/
 * SIMULATOR.md), and the shipped policies take the CV over the sensor's
 * publications (resolution_s = 0): the tiers the preset CVs imply must come
 * out. Averaging over 1 s can only lower the CV; the test checks that and
 * prints the values quoted in docs/ECONOMIC_ANALYSIS.md. */
#include "testutil.h"

#include "firmus/econ.h"
#include "firmus/sim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MS INT64_C(1000000)
#define DECODE_S 300.0

typedef struct preset_case {
    const char *name;
    int tier_cv_only, tier_original;
} preset_case;

static const preset_case cases[] = {
    {"Qwen3-235B", 1, 3},  {"DeepSeek-R1-Distill-32B", 3, 3}, {"Qwen3-32B", 1, 3},
    {"GPT-OSS-20B", 1, 3}, {"Llama-4-Maverick", 1, 3},        {"Llama-4-Scout", 2, 3},
};

/* Runs one preset through its single request; fills the instant power
 * series (25 ms ticks) and the true decode window. */
static void simulate(const fm_sim_preset *preset, fm_series *power, int64_t *t0, int64_t *t1)
{
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, preset, 1);
    cfg.decode_s = DECODE_S;
    fm_sim *sim = NULL;
    fm_error err = {0};
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_OK);
    fm_series_init(power);
    int64_t end = (int64_t)((cfg.lead_idle_s + DECODE_S + 8) * 1e3) * MS;
    for (int64_t t = 0; t <= end; t += 25 * MS) {
        fm_sim_advance(sim, t);
        fm_sample s;
        fm_sim_read_sensors(sim, 0, &s);
        assert_int_equal(fm_series_push(power, t, s.power_instant_w), FM_OK);
    }
    const fm_sim_segment *seg;
    size_t n = fm_sim_true_segments(sim, 0, &seg);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (seg[i].phase == FM_PHASE_DECODE) {
            *t0 = seg[i].start_ns;
            *t1 = seg[i].end_ns;
            found = 1;
        }
    assert_true(found);
    fm_sim_destroy(sim);
}

static int classify(const char *policy_name, double resolution_s, const fm_power_window *w)
{
    fm_policy p;
    fm_error err = {0};
    assert_int_equal(fm_policy_load(policy_name, &p, &err), FM_OK);
    p.resolution_s = resolution_s;
    fm_qualification q;
    assert_int_equal(fm_policy_classify(&p, w, &q, &err), FM_OK);
    return q.tier;
}

static void test_presets_on_sim(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const fm_sim_preset *preset = fm_sim_preset_find(cases[i].name);
        assert_non_null(preset);
        fm_series power;
        int64_t t0 = 0, t1 = 0;
        simulate(preset, &power, &t0, &t1);
        fm_power_window raw, binned;
        fm_error err = {0};
        assert_int_equal(fm_power_window_stats(&power, t0, t1, 0, 0, &raw, &err), FM_OK);
        assert_int_equal(fm_power_window_stats(&power, t0, t1, 1.0, 0, &binned, &err), FM_OK);
        printf("# %-24s preset CV %.4f  sim publications %.4f  sim 1 s %.4f  avg %.1f W (preset "
               "%.1f)\n",
               preset->name, preset->decode_cv, raw.power_cv, binned.power_cv, raw.avg_power_w,
               preset->decode_avg_w);
        /* the sim reproduces the preset's level and (instant) variability */
        assert_true(fabs(raw.avg_power_w - preset->decode_avg_w) < 0.02 * preset->decode_avg_w);
        assert_true(fabs(raw.power_cv - preset->decode_cv) < 0.08 * preset->decode_cv);
        /* averaging over 1 s can only remove variance */
        assert_true(binned.power_cv < raw.power_cv);
        fm_policy shipped;
        assert_int_equal(fm_policy_load("m2g-cv-only", &shipped, &err), FM_OK);
        assert_true(shipped.resolution_s == 0);
        int a = classify("m2g-cv-only", 0, &raw);
        int b = classify("m2g-original-code", 0, &raw);
        if (a != cases[i].tier_cv_only || b != cases[i].tier_original)
            fail_msg("%s: tiers %d/%d, want %d/%d", preset->name, a, b, cases[i].tier_cv_only,
                     cases[i].tier_original);
        /* the power-capped rule is tier 3 at any resolution */
        assert_int_equal(classify("m2g-original-code", 1.0, &binned), 3);
        fm_series_free(&power);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_on_sim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
