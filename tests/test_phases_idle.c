/* Tests of the automatic idle threshold of phase detection
 * (fm_idle_threshold_rule, fm_phases_idle_threshold): the rule on known
 * idle and busy levels, its derivation on synthetic signals with known
 * levels (one and two idle levels, busy from start to end, idle only), and
 * on the simulator: at the sim's default 65 W idle it is the seed's 100 W,
 * and with the idle raised to 120 W (an H100 with a CUDA context idles at
 * 109-125 W) the fixed 100 W labels every idle second busy while the
 * automatic threshold meets the phase targets. */
#include "testutil.h"

#include "firmus/phases.h"
#include "firmus/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the rule ---- */

static void test_rule_known_levels(void **state)
{
    (void)state;
    double margin;
    /* The sim: 65 W idle, 700 W busy: 65 + max(20, 31.75) = 96.75 -> the floor. */
    assert_float_equal(fm_idle_threshold_rule(65.0, 700.0, 100.0, 20.0, &margin), 100.0, 1e-12);
    assert_float_equal(margin, 31.75, 1e-12);
    /* An H100 idling at 120 W, busy at 700 W: 120 + 0.05 x 580 = 149. */
    assert_float_equal(fm_idle_threshold_rule(120.0, 700.0, 100.0, 20.0, &margin), 149.0, 1e-12);
    assert_float_equal(margin, 29.0, 1e-12);
    /* A low busy level: the 20 W minimum margin. */
    assert_float_equal(fm_idle_threshold_rule(120.0, 200.0, 100.0, 20.0, &margin), 140.0, 1e-12);
    assert_float_equal(margin, 20.0, 1e-12);
    /* The threshold stays below the busy level: at most half way up. */
    assert_float_equal(fm_idle_threshold_rule(120.0, 160.0, 100.0, 20.0, &margin), 140.0, 1e-12);
    assert_true(140.0 < 160.0);
    /* No busy level 2 x 20 W above the idle: idle + 20 W. */
    assert_float_equal(fm_idle_threshold_rule(121.0, 130.0, 100.0, 20.0, &margin), 141.0, 1e-12);
    /* An 8-GPU aggregate (floor and minimum margin x 8). */
    assert_float_equal(fm_idle_threshold_rule(960.0, 5600.0, 800.0, 160.0, &margin), 1192.0, 1e-9);
}

/* ---- derivation on synthetic signals ---- */

/* A signal with one publication every 0.1 s; level(i) gives its value. */
typedef double (*level_fn)(size_t i);

static void make_signal(size_t n, level_fn level, fm_phase_signal *sig)
{
    memset(sig, 0, sizeof *sig);
    sig->n = n;
    sig->t_ns = malloc(n * sizeof *sig->t_ns);
    sig->v = malloc(n * sizeof *sig->v);
    assert_non_null(sig->t_ns);
    assert_non_null(sig->v);
    for (size_t i = 0; i < n; i++) {
        sig->t_ns[i] = (int64_t)i * 100000000LL;
        sig->v[i] = level(i);
    }
    sig->t_first_ns = sig->t_ns[0];
    sig->t_last_ns = sig->t_ns[n - 1];
    sig->poll_ns = sig->period_ns = 100000000LL;
}

/* Busy: 700 +- 30 W, alternating every publication (decode-like noise). */
static double busy_w(size_t i)
{
    return i % 2 ? 730.0 : 670.0;
}

/* 10 s idle at 120 W, 10 s busy, 10 s idle. */
static double one_idle_level(size_t i)
{
    return i >= 100 && i < 200 ? busy_w(i) : 120.0;
}

/* 5 s at 72 W (no CUDA context yet), then as above at 120 W, and 15 s more idle. */
static double two_idle_levels(size_t i)
{
    if (i < 50)
        return 72.0;
    return i >= 150 && i < 250 ? busy_w(i) : 120.0;
}

static double busy_throughout(size_t i)
{
    return busy_w(i);
}

static double idle_only(size_t i)
{
    (void)i;
    return 121.0;
}

static fm_idle_threshold derive_on(size_t n, level_fn level)
{
    fm_phase_signal sig;
    make_signal(n, level, &sig);
    fm_idle_threshold th;
    fm_error err;
    assert_int_equal(fm_phases_idle_threshold(&sig, NULL, &th, &err), FM_OK);
    print_message("%s\n", th.source);
    fm_phase_signal_free(&sig);
    return th;
}

static void test_derived_one_level(void **state)
{
    (void)state;
    fm_idle_threshold th = derive_on(300, one_idle_level);
    assert_true(th.automatic);
    assert_false(th.fallback);
    /* idle 120 W; busy p95 = 730 W; 120 + max(20, 0.05 x 610) = 150.5 W. */
    assert_float_equal(th.idle_level_w, 120.0, 1e-12);
    assert_float_equal(th.busy_w, 730.0, 1e-12);
    assert_float_equal(th.threshold_w, 150.5, 1e-9);
    assert_non_null(strstr(th.source, "auto: idle level 120.0 W"));
}

static void test_derived_two_levels(void **state)
{
    (void)state;
    /* The lower (no-context) idle is not the idle between requests: the
     * idle level is the time-weighted median of the flat low stretches. */
    fm_idle_threshold th = derive_on(400, two_idle_levels);
    assert_false(th.fallback);
    assert_float_equal(th.idle_level_w, 120.0, 1e-12);
    assert_float_equal(th.threshold_w, 150.5, 1e-9);
}

static void test_busy_throughout_falls_back(void **state)
{
    (void)state;
    fm_idle_threshold th = derive_on(300, busy_throughout);
    assert_true(th.fallback);
    assert_true(isnan(th.idle_level_w));
    assert_float_equal(th.threshold_w, 100.0, 1e-12);
    assert_non_null(strstr(th.source, "no idle found"));
}

static void test_idle_only(void **state)
{
    (void)state;
    fm_idle_threshold th = derive_on(300, idle_only);
    assert_true(th.fallback);
    assert_float_equal(th.threshold_w, 141.0, 1e-12); /* all of it idle */
    fm_phase_signal sig;
    make_signal(300, idle_only, &sig);
    fm_segment *seg;
    size_t n;
    fm_error err;
    assert_int_equal(fm_phases_detect_signal(&sig, NULL, &seg, &n, &err), FM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(seg[0].phase, FM_PHASE_IDLE);
    free(seg);
    fm_phase_signal_free(&sig);
}

static void test_fixed_is_used_as_given(void **state)
{
    (void)state;
    fm_phase_signal sig;
    make_signal(300, one_idle_level, &sig);
    fm_phase_params p;
    fm_phase_params_default(&p);
    assert_true(isnan(p.idle_below_w)); /* automatic by default */
    p.idle_below_w = 200.0;
    fm_idle_threshold th;
    fm_error err;
    assert_int_equal(fm_phases_idle_threshold(&sig, &p, &th, &err), FM_OK);
    assert_false(th.automatic);
    assert_float_equal(th.threshold_w, 200.0, 0.0);
    fm_phase_signal_free(&sig);
}

/* ---- the simulator ---- */

typedef struct sim_run {
    fm_series power;
    fm_segment *truth;
    size_t n_truth;
} sim_run;

/* Instant power every 25 ms and the true segments. */
static void simulate(const fm_sim_preset *preset, fm_sim_pattern pattern, double idle_w,
                     double duration_s, sim_run *out)
{
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, preset, 1);
    cfg.seed = 1;
    cfg.pattern = pattern;
    cfg.idle_power_w = idle_w;
    fm_sim *sim;
    fm_error err;
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_OK);
    fm_series_init(&out->power);
    int64_t end = (int64_t)(duration_s * 1e9);
    for (int64_t t = 0; t <= end; t += 25000000) {
        fm_sim_advance(sim, t);
        fm_sample s;
        fm_sim_read_sensors(sim, 0, &s);
        assert_int_equal(fm_series_push(&out->power, t, s.power_instant_w), FM_OK);
    }
    const fm_sim_segment *ts;
    size_t nt = fm_sim_true_segments(sim, 0, &ts);
    out->truth = calloc(nt, sizeof *out->truth);
    out->n_truth = 0;
    for (size_t i = 0; i < nt; i++) {
        int64_t a = ts[i].start_ns, b = ts[i].end_ns < end ? ts[i].end_ns : end;
        if (b <= a)
            continue;
        fm_segment *g = &out->truth[out->n_truth++];
        g->phase = ts[i].phase;
        g->start_ns = a;
        g->end_ns = b;
    }
    fm_sim_destroy(sim);
}

static void sim_run_free(sim_run *r)
{
    fm_series_free(&r->power);
    free(r->truth);
}

static fm_phase_agreement agreement(const sim_run *r, double idle_below_w)
{
    fm_phase_params p;
    fm_phase_params_default(&p);
    p.idle_below_w = idle_below_w;
    fm_segment *seg;
    size_t n;
    fm_error err;
    assert_int_equal(fm_phases_detect(&r->power, &p, &seg, &n, &err), FM_OK);
    fm_phase_agreement ag;
    fm_phases_compare(seg, n, r->truth, r->n_truth, &ag);
    free(seg);
    return ag;
}

static fm_idle_threshold sim_threshold(const sim_run *r)
{
    fm_phase_signal sig;
    fm_error err;
    assert_int_equal(fm_phase_signal_prepare(&r->power, &sig, &err), FM_OK);
    fm_idle_threshold th;
    assert_int_equal(fm_phases_idle_threshold(&sig, NULL, &th, &err), FM_OK);
    fm_phase_signal_free(&sig);
    return th;
}

/* At the sim's 65 W idle the automatic threshold is the seed's 100 W. */
static void test_sim_default_idle_gives_seed_threshold(void **state)
{
    (void)state;
    int np;
    const fm_sim_preset *ps = fm_sim_presets(&np);
    for (int i = 0; i < np; i++)
        for (int pattern = 0; pattern < 2; pattern++) {
            sim_run r;
            simulate(&ps[i], (fm_sim_pattern)pattern, 65.0, pattern ? 300.0 : 30.0, &r);
            fm_idle_threshold th = sim_threshold(&r);
            assert_false(th.fallback);
            assert_true(fabs(th.idle_level_w - 65.0) < 2.0);
            /* 65 W + max(20 W, 5 % of the swing): the floor, or up to ~2 W above
             * it for the presets whose p95 is above 765 W. */
            assert_float_equal(
                th.threshold_w,
                fm_idle_threshold_rule(th.idle_level_w, th.busy_w, 100.0, 20.0, NULL), 1e-9);
            print_message("%-8s %-24s idle %.1f W, p95 %.1f W: threshold %.2f W\n",
                          pattern ? "serving" : "single", ps[i].name, th.idle_level_w, th.busy_w,
                          th.threshold_w);
            assert_true(th.threshold_w >= 100.0 && th.threshold_w < 103.0);
            sim_run_free(&r);
        }
}

/* Idle at 120 W: the fixed 100 W fails, the automatic threshold passes. */
static void test_sim_idle_120w(void **state)
{
    (void)state;
    int np;
    const fm_sim_preset *ps = fm_sim_presets(&np);
    for (int i = 0; i < np; i++)
        for (int pattern = 0; pattern < 2; pattern++) {
            sim_run r;
            simulate(&ps[i], (fm_sim_pattern)pattern, 120.0, pattern ? 600.0 : 30.0, &r);
            fm_idle_threshold th = sim_threshold(&r);
            fm_phase_agreement fixed = agreement(&r, 100.0);
            fm_phase_agreement autom = agreement(&r, NAN);
            print_message("%-8s %-24s fixed 100 W: labelled %.4f, median boundary error %.3f "
                          "s; auto %.1f W (idle %.1f W, p95 %.1f W): labelled %.4f, %.3f s\n",
                          pattern ? "serving" : "single", ps[i].name, fixed.labelled_fraction,
                          fixed.median_boundary_err_s, th.threshold_w, th.idle_level_w, th.busy_w,
                          autom.labelled_fraction, autom.median_boundary_err_s);
            assert_true(fabs(th.idle_level_w - 120.0) < 2.0);
            assert_float_equal(
                th.threshold_w,
                fm_idle_threshold_rule(th.idle_level_w, th.busy_w, 100.0, 20.0, NULL), 1e-9);
            assert_true(fixed.labelled_fraction < 0.70); /* every idle second is "busy" */
            assert_true(autom.median_boundary_err_s <= 0.100);
            if (pattern == FM_SIM_SINGLE && !strcmp(ps[i].name, "DeepSeek-R1-Distill-32B")) {
                /* The noisiest preset's one fall (515 W -> 120 W) is taken for
                 * decode: a limit of the fall fit, not of the threshold (any
                 * fixed threshold from 125 to 200 W gives the same 94.15 %). */
                assert_true(autom.labelled_fraction >= 0.94);
                assert_float_equal(agreement(&r, 200.0).labelled_fraction, autom.labelled_fraction,
                                   1e-6);
            } else {
                assert_true(autom.labelled_fraction >= 0.95);
            }
            sim_run_free(&r);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_known_levels),
        cmocka_unit_test(test_derived_one_level),
        cmocka_unit_test(test_derived_two_levels),
        cmocka_unit_test(test_busy_throughout_falls_back),
        cmocka_unit_test(test_idle_only),
        cmocka_unit_test(test_fixed_is_used_as_given),
        cmocka_unit_test(test_sim_default_idle_gives_seed_threshold),
        cmocka_unit_test(test_sim_idle_120w),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
