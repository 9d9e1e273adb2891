/* Tests of phase detection against the simulator's truth: all six presets,
 * one request and serving (many requests, idle gaps, falls cut short by a
 * new request). Checks the targets: median boundary error <= one
 * sensor period (100 ms), >= 95 % of time labelled with the true phase,
 * per-phase energy against the true energy; markers as truth; the thermal
 * time constant fit against the sim's tau. */
#include "testutil.h"

#include "firmus/phases.h"
#include "firmus/profile.h"
#include "firmus/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A simulated run: the instant power series sampled every 25 ms, the true
 * segments (with true energy) and the temperature series. */
typedef struct sim_run {
    fm_series power;
    fm_series temp;
    fm_segment *truth;
    size_t n_truth;
} sim_run;

static void simulate(const fm_sim_preset *preset, fm_sim_pattern pattern, uint64_t seed,
                     double duration_s, double decode_s, sim_run *out)
{
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, preset, 1);
    cfg.seed = seed;
    cfg.pattern = pattern;
    if (decode_s > 0)
        cfg.decode_s = decode_s;
    fm_sim *sim;
    fm_error err;
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_OK);
    fm_series_init(&out->power);
    fm_series_init(&out->temp);
    int64_t end = (int64_t)(duration_s * 1e9);
    for (int64_t t = 0; t <= end; t += 25000000) {
        fm_sim_advance(sim, t);
        fm_sample s;
        fm_sim_read_sensors(sim, 0, &s);
        assert_int_equal(fm_series_push(&out->power, t, s.power_instant_w), FM_OK);
        assert_int_equal(fm_series_push(&out->temp, t, s.temp_c), FM_OK);
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
        g->energy_j = fm_sim_true_energy_between_j(sim, 0, a, b);
    }
    fm_sim_destroy(sim);
}

static void sim_run_free(sim_run *r)
{
    fm_series_free(&r->power);
    fm_series_free(&r->temp);
    free(r->truth);
}

static double rel_err(double a, double b)
{
    return fabs(a - b) / fabs(b);
}

/* Per-phase energy limits (relative): ramp, idle and decode to the issue's
 * 2 %; prefill and fall are limited by the sensor (see the guide: a step in
 * the 75 ms the instant sensor does not see, and the decode level the fall
 * starts from, known only to the slow decode noise). */
typedef struct limits {
    double labelled, boundary_s, e_idle, e_ramp, e_prefill, e_decode, e_fall;
} limits;

static void check_run(const char *what, const sim_run *r, const limits *lim)
{
    fm_segment *seg;
    size_t n;
    fm_error err;
    assert_int_equal(fm_phases_detect(&r->power, NULL, &seg, &n, &err), FM_OK);
    /* Segments tile the trace without gaps. */
    assert_true(seg[0].start_ns == r->power.t_ns[0]);
    assert_true(seg[n - 1].end_ns == r->power.t_ns[r->power.n - 1]);
    for (size_t i = 1; i < n; i++)
        assert_true(seg[i].start_ns == seg[i - 1].end_ns);
    fm_phase_agreement ag;
    fm_phases_compare(seg, n, r->truth, r->n_truth, &ag);
    double e_lim[FM_PHASE_COUNT] = {lim->e_idle, lim->e_ramp, lim->e_prefill, lim->e_decode,
                                    lim->e_fall};
    int bad = ag.labelled_fraction < lim->labelled || ag.median_boundary_err_s > lim->boundary_s;
    char energies[256] = "";
    for (int p = 0; p < FM_PHASE_COUNT; p++) {
        if (ag.energy_true_j[p] <= 0)
            continue;
        double e = rel_err(ag.energy_detected_j[p], ag.energy_true_j[p]);
        char one[48];
        snprintf(one, sizeof one, " %s %+.2f%%", fm_phase_name((fm_phase)p), 100 * e);
        strncat(energies, one, sizeof energies - strlen(energies) - 1);
        bad |= e > e_lim[p];
    }
    print_message("%-34s labelled %.4f, median boundary error %.3f s,%s\n", what,
                  ag.labelled_fraction, ag.median_boundary_err_s, energies);
    if (bad)
        fail_msg("%s: outside the limits", what);
    free(seg);
}

static void test_single_all_presets(void **state)
{
    (void)state;
    int np;
    const fm_sim_preset *ps = fm_sim_presets(&np);
    limits lim = {0.95, 0.100, 0.02, 0.02, 0.06, 0.02, 0.12};
    for (int i = 0; i < np; i++) {
        sim_run r;
        simulate(&ps[i], FM_SIM_SINGLE, 1, 30.0, 0, &r);
        char what[96];
        snprintf(what, sizeof what, "single %s", ps[i].name);
        check_run(what, &r, &lim);
        sim_run_free(&r);
    }
}

static void test_serving_all_presets(void **state)
{
    (void)state;
    int np;
    const fm_sim_preset *ps = fm_sim_presets(&np);
    limits lim = {0.95, 0.100, 0.02, 0.02, 0.06, 0.02, 0.06};
    for (int i = 0; i < np; i++) {
        sim_run r;
        simulate(&ps[i], FM_SIM_SERVING, 1, 600.0, 0, &r);
        char what[96];
        snprintf(what, sizeof what, "serving 600 s %s", ps[i].name);
        check_run(what, &r, &lim);
        sim_run_free(&r);
    }
}

/* The targets (>= 95 % of time labelled, median boundary error <=
 * 100 ms) on more request streams; energy limits looser (the guide gives
 * the measured spread: short falls cut by a new request and prefills after
 * very short decodes are the misses). */
static void test_serving_more_seeds(void **state)
{
    (void)state;
    int np;
    const fm_sim_preset *ps = fm_sim_presets(&np);
    limits lim = {0.95, 0.100, 0.02, 0.08, 0.20, 0.05, 0.15};
    for (uint64_t seed = 2; seed <= 5; seed++)
        for (int i = 0; i < np; i++) {
            sim_run r;
            simulate(&ps[i], FM_SIM_SERVING, seed, 600.0, 0, &r);
            char what[96];
            snprintf(what, sizeof what, "serving seed %d %s", (int)seed, ps[i].name);
            check_run(what, &r, &lim);
            sim_run_free(&r);
        }
}

/* The noisiest preset still gives exactly idle, ramp, prefill, decode,
 * fall, idle: raw per-sample dP/dt would flag ramps all over its decode. */
static void test_noise_and_held_values(void **state)
{
    (void)state;
    sim_run r;
    simulate(fm_sim_preset_find("DeepSeek-R1-Distill-32B"), FM_SIM_SINGLE, 2, 30.0, 0, &r);
    fm_series d;
    assert_int_equal(fm_series_derivative(&r.power, &d), FM_OK);
    size_t raw_ramps = 0;
    for (size_t i = 0; i < d.n; i++)
        raw_ramps += d.v[i] > 100.0;
    fm_series_free(&d);
    assert_true(raw_ramps > 20); /* the naive rule would see many */
    fm_segment *seg;
    size_t n;
    fm_error err;
    assert_int_equal(fm_phases_detect(&r.power, NULL, &seg, &n, &err), FM_OK);
    fm_phase want[] = {FM_PHASE_IDLE,   FM_PHASE_RAMP, FM_PHASE_PREFILL,
                       FM_PHASE_DECODE, FM_PHASE_FALL, FM_PHASE_IDLE};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seg[i].phase, want[i]);
    /* Ramp rate = the preset's true rate (W/s). */
    assert_true(rel_err(seg[1].ramp_rate_w_per_s, 576.9) < 0.02);
    assert_true(rel_err(seg[4].ramp_rate_w_per_s, -232.6) < 0.03);
    /* Decode CV close to the preset's (the sim calibrates the instant sensor to it). */
    assert_true(rel_err(seg[3].power_cv, 0.1672) < 0.25);
    free(seg);
    sim_run_free(&r);
}

static void test_thresholds_configurable(void **state)
{
    (void)state;
    sim_run r;
    simulate(fm_sim_preset_find("Qwen3-32B"), FM_SIM_SINGLE, 1, 30.0, 0, &r);
    fm_phase_params p;
    fm_phase_params_default(&p);
    p.idle_below_w = 700.0; /* above everything this preset draws */
    fm_segment *seg;
    size_t n;
    fm_error err;
    assert_int_equal(fm_phases_detect(&r.power, &p, &seg, &n, &err), FM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(seg[0].phase, FM_PHASE_IDLE);
    free(seg);
    p.idle_below_w = 100.0;
    p.ramp_above_w_per_s = 2000.0; /* faster than its ramp: no ramp, no prefill */
    assert_int_equal(fm_phases_detect(&r.power, &p, &seg, &n, &err), FM_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(seg[i].phase, FM_PHASE_RAMP);
    free(seg);
    sim_run_free(&r);
}

/* Markers are truth: segments from start/end markers reproduce the true
 * boundaries exactly, and the measured energy in them is within 2 %. */
static void test_markers_are_truth(void **state)
{
    (void)state;
    sim_run r;
    simulate(fm_sim_preset_find("Llama-4-Scout"), FM_SIM_SERVING, 4, 300.0, 0, &r);
    fm_marker *m = calloc(2 * r.n_truth, sizeof *m);
    size_t nm = 0;
    for (size_t i = 0; i < r.n_truth; i++) {
        if (r.truth[i].phase == FM_PHASE_IDLE)
            continue;
        for (int k = 0; k < 2; k++) {
            fm_marker *x = &m[nm++];
            x->t_ns = k ? r.truth[i].end_ns : r.truth[i].start_ns;
            snprintf(x->kind, sizeof x->kind, "%s", k ? "end" : "start");
            snprintf(x->name, sizeof x->name, "%s", fm_phase_name(r.truth[i].phase));
            x->gpu = -1;
            x->tokens = x->request = -1;
            x->energy_j = NAN;
        }
    }
    fm_segment *seg;
    size_t n;
    fm_error err;
    assert_int_equal(fm_phases_from_markers(&r.power, m, nm, &seg, &n, &err), FM_OK);
    fm_phase_agreement ag;
    fm_phases_compare(seg, n, r.truth, r.n_truth, &ag);
    assert_true(ag.labelled_fraction > 0.999);
    assert_true(ag.median_boundary_err_s < 1e-9);
    for (int p = 0; p < FM_PHASE_COUNT; p++)
        if (ag.energy_true_j[p] > 0 && rel_err(ag.energy_detected_j[p], ag.energy_true_j[p]) > 0.02)
            fail_msg("%s energy %.1f J vs true %.1f J", fm_phase_name((fm_phase)p),
                     ag.energy_detected_j[p], ag.energy_true_j[p]);
    /* Power-only detection compared with the markers. */
    fm_segment *det;
    size_t nd;
    assert_int_equal(fm_phases_detect(&r.power, NULL, &det, &nd, &err), FM_OK);
    fm_phases_compare(det, nd, seg, n, &ag);
    assert_true(ag.labelled_fraction > 0.9);
    free(det);
    free(seg);
    free(m);
    sim_run_free(&r);
}

static void test_summary(void **state)
{
    (void)state;
    sim_run r;
    simulate(fm_sim_preset_find("GPT-OSS-20B"), FM_SIM_SERVING, 1, 300.0, 0, &r);
    fm_segment *seg;
    size_t n;
    fm_error err;
    assert_int_equal(fm_phases_detect(&r.power, NULL, &seg, &n, &err), FM_OK);
    fm_phase_summary s[FM_PHASE_COUNT];
    fm_phases_summarize(seg, n, s);
    size_t count = 0;
    double energy = 0, seg_energy = 0;
    for (int p = 0; p < FM_PHASE_COUNT; p++) {
        count += s[p].count;
        energy += s[p].energy_j;
    }
    for (size_t i = 0; i < n; i++)
        seg_energy += seg[i].energy_j;
    assert_int_equal(count, n);
    assert_true(fabs(energy - seg_energy) < 1e-6 * seg_energy);
    assert_true(s[FM_PHASE_DECODE].count > 10);
    assert_true(s[FM_PHASE_RAMP].ramp_rate_w_per_s > 400 &&
                s[FM_PHASE_RAMP].ramp_rate_w_per_s < 700);
    assert_true(s[FM_PHASE_FALL].ramp_rate_w_per_s < -150);
    free(seg);
    sim_run_free(&r);
}

/* A long request heats the GPU with the sim's first-order model (tau 45 s):
 * the fitted time constant matches. */
static void test_thermal_time_constant(void **state)
{
    (void)state;
    sim_run r;
    simulate(fm_sim_preset_find("Qwen3-235B"), FM_SIM_SINGLE, 1, 260.0, 240.0, &r);
    fm_segment *seg;
    size_t n;
    fm_error err;
    assert_int_equal(fm_phases_detect(&r.power, NULL, &seg, &n, &err), FM_OK);
    /* Fit over the decode (constant power after the short prefill). */
    const fm_segment *dec = NULL;
    for (size_t i = 0; i < n; i++)
        if (seg[i].phase == FM_PHASE_DECODE)
            dec = &seg[i];
    assert_non_null(dec);
    fm_thermal_fit fit;
    fm_thermal_fit_step(&r.temp, dec->start_ns, dec->end_ns, &fit);
    print_message("thermal fit: tau %.2f s (sim 45 s), T_inf %.2f C, r2 %.4f\n", fit.tau_s,
                  fit.t_inf_c, fit.r2);
    assert_true(fit.ok);
    assert_true(rel_err(fit.tau_s, 45.0) < 0.10);
    /* Steady state of the sim: ambient 30 + 0.06 C/W x 680.7 W = 70.8 C. */
    assert_true(fabs(fit.t_inf_c - 70.8) < 1.5);
    /* Too short a window: no fit. */
    fm_thermal_fit_step(&r.temp, dec->start_ns, dec->start_ns + 3000000000LL, &fit);
    assert_false(fit.ok);
    free(seg);
    sim_run_free(&r);
}

static void test_tier_and_resolution(void **state)
{
    (void)state;
    assert_string_equal(fm_tier_cv_only(0.0293), "tier_1_efficient");
    assert_string_equal(fm_tier_cv_only(0.10), "tier_1_efficient");
    assert_string_equal(fm_tier_cv_only(0.1227), "tier_2_standard");
    assert_string_equal(fm_tier_cv_only(0.1672), "tier_3_high_variance");
    assert_null(fm_tier_cv_only(NAN));
    assert_true(fm_profile_auto_resolution_s(600, 36000) == 0.1);
    assert_true(fm_profile_auto_resolution_s(3600, 36000) == 0.1);
    assert_true(fm_profile_auto_resolution_s(7200, 36000) == 0.2);
    assert_true(fm_profile_auto_resolution_s(36000, 36000) == 1.0);
    assert_true(fm_profile_auto_resolution_s(10 * 3600, 36000) == 1.0);
}

/* Odd inputs: no crash, and the segments still tile the trace in order. */
static void test_odd_inputs(void **state)
{
    (void)state;
    fm_segment *seg;
    size_t n;
    fm_error err;
    fm_series s;
    fm_series_init(&s);
    assert_int_not_equal(fm_phases_detect(&s, NULL, &seg, &n, &err), FM_OK); /* empty */
    assert_int_equal(fm_series_push(&s, 0, NAN), FM_OK);
    assert_int_not_equal(fm_phases_detect(&s, NULL, &seg, &n, &err), FM_OK); /* all missing */
    fm_series_free(&s);
    uint64_t x = 12345;
    for (int shape = 0; shape < 6; shape++) {
        fm_series_init(&s);
        for (int i = 0; i < 3000; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            double r = (double)(x >> 11) / 9007199254740992.0;
            double v = shape == 0   ? 300.0                            /* constant busy */
                       : shape == 1 ? 50.0 + 800.0 * r                 /* white noise */
                       : shape == 2 ? (i % 40 < 20 ? 60.0 : 700.0)     /* square wave */
                       : shape == 3 ? (r < 0.1 ? NAN : 400.0 * r)      /* gaps */
                       : shape == 4 ? 65.0 + (i > 1500 ? 5000.0 : 0.0) /* one step */
                                    : (i % 7 == 0 ? 900.0 : 70.0);     /* spikes */
            int64_t t = (int64_t)i * 25000000 + (shape == 3 ? (int64_t)(r * 1e6) : 0);
            assert_int_equal(fm_series_push(&s, t, v), FM_OK);
        }
        assert_int_equal(fm_phases_detect(&s, NULL, &seg, &n, &err), FM_OK);
        assert_true(n >= 1);
        for (size_t i = 0; i < n; i++) {
            assert_true(seg[i].end_ns > seg[i].start_ns);
            if (i > 0)
                assert_true(seg[i].start_ns == seg[i - 1].end_ns);
            assert_true(isfinite(seg[i].energy_j));
        }
        free(seg);
        fm_series_free(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_all_presets),
        cmocka_unit_test(test_serving_all_presets),
        cmocka_unit_test(test_serving_more_seeds),
        cmocka_unit_test(test_noise_and_held_values),
        cmocka_unit_test(test_thresholds_configurable),
        cmocka_unit_test(test_markers_are_truth),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_thermal_time_constant),
        cmocka_unit_test(test_tier_and_resolution),
        cmocka_unit_test(test_odd_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
