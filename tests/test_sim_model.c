/* Tests of the simulator's true workload model: ramp and fall rates equal
 * the preset's, the instant sensor's decode CV matches each preset, tokens
 * follow the documented definition, runs are deterministic from the seed
 * and independent of how time is advanced, the serving pattern makes many
 * busy periods whose segments tile time, and bad configurations fail. */
#include "testutil.h"

#include "firmus/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

/* Finds the first segment of a phase; fails the test if there is none. */
static fm_sim_segment find_segment(fm_sim *sim, int gpu, fm_phase phase)
{
    const fm_sim_segment *segs;
    size_t n = fm_sim_true_segments(sim, gpu, &segs);
    for (size_t i = 0; i < n; i++)
        if (segs[i].phase == phase)
            return segs[i];
    fail_msg("no %s segment", fm_phase_name(phase));
    return segs[0];
}

/* Least-squares slope (W/s) of true power over [t0, t1), one point per ms. */
static double true_power_slope(fm_sim *sim, int64_t t0, int64_t t1)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int n = 0;
    for (int64_t t = t0 + MS; t <= t1; t += MS) {
        fm_sim_advance(sim, t);
        double x = (double)t / 1e9, y = fm_sim_true_power_w(sim, 0);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        n++;
    }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

static void test_ramp_and_fall_rates(void **state)
{
    (void)state;
    int count;
    const fm_sim_preset *presets = fm_sim_presets(&count);
    assert_int_equal(count, 6);
    for (int i = 0; i < count; i++) {
        fm_sim_config cfg;
        fm_sim_config_default(&cfg, &presets[i], 1);
        cfg.decode_s = 3;
        fm_sim *sim = fmt_make_sim(&cfg);
        fm_sim_advance(sim, 12000 * MS);
        fm_sim_segment ramp = find_segment(sim, 0, FM_PHASE_RAMP);
        fm_sim_segment fall = find_segment(sim, 0, FM_PHASE_FALL);
        fm_sim_destroy(sim);
        /* duration = (peak - idle) / rate, to the 1 ms step */
        double ramp_s = (double)(ramp.end_ns - ramp.start_ns) / 1e9;
        double expect_s = (presets[i].prefill_peak_w - cfg.idle_power_w) / presets[i].ramp_w_per_s;
        assert_true(fabs(ramp_s - expect_s) <= 0.0011);

        sim = fmt_make_sim(&cfg); /* same seed: same run; fit the slopes */
        double ramp_rate = true_power_slope(sim, ramp.start_ns, ramp.end_ns - 2 * MS);
        fm_sim_advance(sim, fall.start_ns);
        double fall_rate = true_power_slope(sim, fall.start_ns, fall.end_ns - 2 * MS);
        fm_sim_destroy(sim);
        assert_true(fmt_rel_err(ramp_rate, presets[i].ramp_w_per_s) < 0.01);
        assert_true(fmt_rel_err(fall_rate, presets[i].fall_w_per_s) < 0.01);
    }
}

/* CV of the instant sensor (25 ms window every 100 ms) over a long decode
 * is the preset's CV within 15 %, and its mean is the preset's average. */
static void test_decode_cv_matches_presets(void **state)
{
    (void)state;
    int count;
    const fm_sim_preset *presets = fm_sim_presets(&count);
    for (int i = 0; i < count; i++) {
        fm_sim_config cfg;
        fm_sim_config_default(&cfg, &presets[i], 1);
        cfg.lead_idle_s = 1;
        cfg.decode_s = 300;
        cfg.seed = 7 + (uint64_t)i;
        fm_sim *sim = fmt_make_sim(&cfg);
        fm_sim_advance(sim, 2000 * MS);
        double sum = 0, sum2 = 0;
        int n = 0;
        for (int64_t t = 3000 * MS; t < 300000 * MS; t += 100 * MS) {
            fm_sim_advance(sim, t);
            assert_int_equal(fm_sim_true_phase(sim, 0), FM_PHASE_DECODE);
            fm_sample s;
            fm_sim_read_sensors(sim, 0, &s);
            sum += s.power_instant_w;
            sum2 += s.power_instant_w * s.power_instant_w;
            n++;
        }
        double mean = sum / n;
        double cv = sqrt(sum2 / n - mean * mean) / mean;
        print_message("%-24s mean %.1f W (preset %.1f) cv %.4f (preset %.4f)\n", presets[i].name,
                      mean, presets[i].decode_avg_w, cv, presets[i].decode_cv);
        assert_true(fmt_rel_err(mean, presets[i].decode_avg_w) < 0.02);
        assert_true(fmt_rel_err(cv, presets[i].decode_cv) < 0.15);
        fm_sim_destroy(sim);
    }
}

/* With a token period longer than the sensor window the per-token pulse is
 * visible to the instant sensor; the calibration accounts for it. */
static void test_decode_cv_with_visible_pulse(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    cfg.lead_idle_s = 1;
    cfg.decode_s = 300;
    cfg.token_period_s = 0.043;
    cfg.token_pulse_frac = 0.25;
    fm_sim *sim = fmt_make_sim(&cfg);
    double sigma_default;
    {
        fm_sim_config plain;
        fm_sim_config_default(&plain, fm_sim_preset_find("Qwen3-32B"), 1);
        fm_sim *ref = fmt_make_sim(&plain);
        sigma_default = fm_sim_decode_noise_sigma_w(ref);
        fm_sim_destroy(ref);
    }
    /* part of the target variance is now the pulse: less slow noise needed */
    assert_true(fm_sim_decode_noise_sigma_w(sim) < sigma_default - 1.0);
    double sum = 0, sum2 = 0;
    int n = 0;
    for (int64_t t = 3000 * MS; t < 300000 * MS; t += 100 * MS) {
        fm_sim_advance(sim, t);
        fm_sample s;
        fm_sim_read_sensors(sim, 0, &s);
        sum += s.power_instant_w;
        sum2 += s.power_instant_w * s.power_instant_w;
        n++;
    }
    double mean = sum / n, cv = sqrt(sum2 / n - mean * mean) / mean;
    assert_true(fmt_rel_err(cv, 0.0739) < 0.15);
    fm_sim_destroy(sim);
}

/* Single pattern: idle, ramp, prefill, decode, fall, idle; one token per
 * decode step of the one request: decode_s / token_period tokens. */
static void test_single_pattern_and_tokens(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    fm_sim *sim = fmt_make_sim(&cfg);
    fm_sim_advance(sim, 40000 * MS);
    const fm_sim_segment *segs;
    size_t n = fm_sim_true_segments(sim, 0, &segs);
    assert_int_equal(n, 6);
    const fm_phase order[] = {FM_PHASE_IDLE,   FM_PHASE_RAMP, FM_PHASE_PREFILL,
                              FM_PHASE_DECODE, FM_PHASE_FALL, FM_PHASE_IDLE};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(segs[i].phase, order[i]);
    assert_int_equal(segs[0].end_ns, 2000 * MS);
    assert_int_equal(segs[2].end_ns - segs[2].start_ns, 600 * MS);
    assert_int_equal(segs[3].end_ns - segs[3].start_ns, 20000 * MS);
    assert_true(segs[3].tokens == 800.0);
    assert_true(fm_sim_true_tokens(sim, 0) == 800.0);
    assert_int_equal(segs[5].end_ns, 40000 * MS);
    assert_true(fmt_rel_err(segs[3].energy_j / 20.0, 492.9) < 0.03);
    fm_sim_destroy(sim);
}

static void read_series(fm_sim *sim, int gpus, int64_t end, int64_t dt, double *out)
{
    size_t k = 0;
    for (int64_t t = dt; t <= end; t += dt) {
        fm_sim_advance(sim, t);
        for (int g = 0; g < gpus; g++) {
            fm_sample s;
            fm_sim_read_sensors(sim, g, &s);
            out[k++] = s.power_instant_w;
            out[k++] = s.power_avg_w;
            out[k++] = s.energy_j;
            out[k++] = s.temp_c;
        }
    }
}

/* Same seed: identical samples; another seed: different ones; GPUs of a
 * node have their own streams unless shared_workload is set. */
static void test_determinism(void **state)
{
    (void)state;
    enum { N = 2 * 4 * 300 };
    double *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b), *c = calloc(N, sizeof *c);
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Llama-4-Scout"), 2);
    cfg.pattern = FM_SIM_SERVING;
    cfg.request_rate_hz = 0.5;
    cfg.seed = 42;
    fm_sim *s1 = fmt_make_sim(&cfg), *s2 = fmt_make_sim(&cfg);
    read_series(s1, 2, 30000 * MS, 100 * MS, a);
    read_series(s2, 2, 30000 * MS, 100 * MS, b);
    assert_memory_equal(a, b, N * sizeof *a);
    /* GPU 0 and GPU 1 differ */
    int same = 0;
    for (int k = 0; k < N; k += 8)
        same += a[k] == a[k + 4];
    assert_true(same < N / 8 / 2);
    cfg.seed = 43;
    fm_sim *s3 = fmt_make_sim(&cfg);
    read_series(s3, 2, 30000 * MS, 100 * MS, c);
    assert_true(memcmp(a, c, N * sizeof *a) != 0);
    fm_sim_destroy(s1);
    fm_sim_destroy(s2);
    fm_sim_destroy(s3);
    /* shared workload: same segments on both GPUs, different noise */
    cfg.shared_workload = 1;
    fm_sim *s4 = fmt_make_sim(&cfg);
    fm_sim_advance(s4, 60000 * MS);
    const fm_sim_segment *g0, *g1;
    size_t n0 = fm_sim_true_segments(s4, 0, &g0), n1 = fm_sim_true_segments(s4, 1, &g1);
    assert_int_equal(n0, n1);
    assert_true(n0 > 3);
    for (size_t i = 0; i < n0; i++) {
        assert_int_equal(g0[i].start_ns, g1[i].start_ns);
        assert_true(g0[i].tokens == g1[i].tokens);
    }
    assert_true(fm_sim_true_energy_j(s4, 0) != fm_sim_true_energy_j(s4, 1));
    fm_sim_destroy(s4);
    free(a);
    free(b);
    free(c);
}

/* Advancing in different increments gives the same truth and samples. */
static void test_advance_granularity(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-235B"), 3);
    cfg.pattern = FM_SIM_SERVING;
    fm_sim *coarse = fmt_make_sim(&cfg), *fine = fmt_make_sim(&cfg);
    fm_sim_advance(coarse, 20000 * MS);
    for (int64_t t = 0; t < 20000 * MS; t += 333 * MS + 4567)
        fm_sim_advance(fine, t);
    fm_sim_advance(fine, 20000 * MS);
    for (int g = 0; g < 3; g++) {
        fm_sample a, b;
        fm_sim_read_sensors(coarse, g, &a);
        fm_sim_read_sensors(fine, g, &b);
        assert_memory_equal(&a, &b, sizeof a);
        assert_true(fm_sim_true_energy_j(coarse, g) == fm_sim_true_energy_j(fine, g));
        assert_true(fm_sim_true_temp_c(coarse, g) == fm_sim_true_temp_c(fine, g));
        assert_true(fm_sim_true_power_w(coarse, g) == fm_sim_true_power_w(fine, g));
    }
    fm_sim_destroy(coarse);
    fm_sim_destroy(fine);
}

static int allowed_transition(fm_phase from, fm_phase to)
{
    switch (from) {
    case FM_PHASE_IDLE:
        return to == FM_PHASE_RAMP;
    case FM_PHASE_RAMP:
        return to == FM_PHASE_PREFILL;
    case FM_PHASE_PREFILL:
        return to == FM_PHASE_DECODE;
    case FM_PHASE_DECODE:
        return to == FM_PHASE_FALL;
    case FM_PHASE_FALL:
        return to == FM_PHASE_IDLE || to == FM_PHASE_RAMP;
    default:
        return 0;
    }
}

/* Serving: many busy periods with idle gaps; segments tile [0, now] with
 * valid transitions; their energies and tokens add up to the totals. */
static void test_serving_segments_tile_time(void **state)
{
    (void)state;
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("GPT-OSS-20B"), 1);
    cfg.pattern = FM_SIM_SERVING;
    cfg.request_rate_hz = 0.2;
    cfg.seed = 5;
    fm_sim *sim = fmt_make_sim(&cfg);
    int64_t end = 1800000 * MS + 12345; /* 30 min, not on the ms grid */
    fm_sim_advance(sim, end);
    const fm_sim_segment *segs;
    size_t n = fm_sim_true_segments(sim, 0, &segs);
    double energy = 0, tokens = 0;
    int idle_gaps = 0, busy_periods = 0, fall_to_ramp = 0;
    assert_int_equal(segs[0].start_ns, 0);
    assert_int_equal(segs[n - 1].end_ns, end);
    for (size_t i = 0; i < n; i++) {
        assert_true(segs[i].end_ns > segs[i].start_ns);
        if (i > 0) {
            assert_int_equal(segs[i].start_ns, segs[i - 1].end_ns);
            assert_true(allowed_transition(segs[i - 1].phase, segs[i].phase));
        }
        assert_true(segs[i].tokens == 0 || segs[i].phase == FM_PHASE_DECODE);
        if (segs[i].phase == FM_PHASE_DECODE)
            assert_true(segs[i].tokens >= 1);
        if (i > 0 && segs[i - 1].phase == FM_PHASE_FALL && segs[i].phase == FM_PHASE_RAMP) {
            /* a request during the fall: the ramp starts from the fall's power */
            double before = fm_sim_true_power_at_w(sim, 0, segs[i].start_ns - MS);
            double after = fm_sim_true_power_at_w(sim, 0, segs[i].start_ns);
            assert_true(fabs(after - before) < 10.0);
            assert_true(before > cfg.idle_power_w + 10.0);
            fall_to_ramp++;
        }
        idle_gaps += segs[i].phase == FM_PHASE_IDLE && i > 0;
        busy_periods += segs[i].phase == FM_PHASE_RAMP;
        energy += segs[i].energy_j;
        tokens += segs[i].tokens;
    }
    assert_true(idle_gaps >= 50);
    assert_true(busy_periods >= idle_gaps);
    assert_true(fall_to_ramp >= 5);
    assert_true(fabs(energy - fm_sim_true_energy_j(sim, 0)) < 1e-6 * energy);
    assert_true(tokens == fm_sim_true_tokens(sim, 0));
    /* ~360 requests x 4 s mean / 25 ms = ~57600 tokens */
    assert_true(tokens > 0.6 * 57600 && tokens < 1.4 * 57600);
    /* energy between two instants is additive and exact at the ms grid */
    double a = fm_sim_true_energy_between_j(sim, 0, 0, 1000000 * MS);
    double b = fm_sim_true_energy_between_j(sim, 0, 1000000 * MS, end);
    assert_true(fabs(a + b - fm_sim_true_energy_j(sim, 0)) < 1e-6);
    assert_true(isnan(fm_sim_true_energy_between_j(sim, 0, 0, end + 1)));
    /* the 1 ms power history integrates to the energy */
    double sum_j = 0;
    for (int64_t t = 500000 * MS; t < 510000 * MS; t += MS)
        sum_j += fm_sim_true_power_at_w(sim, 0, t + MS / 2) * 1e-3;
    double between_j = fm_sim_true_energy_between_j(sim, 0, 500000 * MS, 510000 * MS);
    assert_true(fabs(sum_j - between_j) < 1e-6);
    assert_true(isnan(fm_sim_true_power_at_w(sim, 0, end)));
    assert_true(fm_sim_true_power_at_w(sim, 0, end - 1) == fm_sim_true_power_w(sim, 0));
    fm_sim_destroy(sim);
}

static void test_bad_configs(void **state)
{
    (void)state;
    assert_null(fm_sim_preset_find("GPT-5"));
    assert_non_null(fm_sim_preset_find("qwen3-32b"));
    assert_int_equal(fm_phase_from_name("decode"), FM_PHASE_DECODE);
    assert_int_equal(fm_phase_from_name("bogus"), -1);
    assert_string_equal(fm_phase_name(FM_PHASE_FALL), "fall");
    fm_sim_config cfg;
    fm_sim *sim = NULL;
    fm_error err = {0};
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 0);
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_ERR_USAGE);
    assert_null(sim);
    assert_non_null(strstr(err.msg, "gpus"));
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 65);
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_ERR_USAGE);
    fm_sim_config_default(&cfg, NULL, 1);
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_ERR_USAGE);
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    cfg.thermal.tau_s = 0;
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_ERR_USAGE);
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    cfg.sensor.publish_period_ns = 0;
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_ERR_USAGE);
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), 1);
    cfg.pattern = FM_SIM_SERVING;
    cfg.request_rate_hz = 0;
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_ERR_USAGE);
    assert_null(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ramp_and_fall_rates),
        cmocka_unit_test(test_decode_cv_matches_presets),
        cmocka_unit_test(test_decode_cv_with_visible_pulse),
        cmocka_unit_test(test_single_pattern_and_tokens),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_advance_granularity),
        cmocka_unit_test(test_serving_segments_tile_time),
        cmocka_unit_test(test_bad_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
