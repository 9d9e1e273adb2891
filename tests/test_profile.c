/* Tests of the workload profile export: a sim run written to a store is
 * exported and the JSON is checked against the digital twin's contract
 * (exact key sets and types inside phases, energy_metrics and
 * thermal_profile; decode present; power_trace of one GPU on a uniform
 * grid; durations equal) and against the sim's truth (energy, tokens).
 * Also the CSV trace and the auto-export. */
#include "testutil.h"

#include "firmus/profile.h"
#include "firmus/sim.h"
#include "firmus/store.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct recorded {
    char *dir;
    fm_store *st;
    int64_t run_id;
    double true_energy_j[4];
    double true_tokens;
} recorded;

/* Records `gpus` simulated GPUs (sensors every 25 ms) into a new store. */
static void record_sim(const char *preset, int gpus, fm_sim_pattern pattern, double seconds,
                       double decode_s, int with_tokens, recorded *out)
{
    memset(out, 0, sizeof *out);
    out->dir = fmt_tmpdir();
    assert_non_null(out->dir);
    char path[512];
    snprintf(path, sizeof path, "%s/firmus.db", out->dir);
    fm_error err;
    assert_int_equal(fm_store_open(path, &out->st, &err), FM_OK);
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find(preset), gpus);
    cfg.pattern = pattern;
    cfg.shared_workload = 1;
    if (decode_s > 0)
        cfg.decode_s = decode_s;
    fm_sim *sim;
    assert_int_equal(fm_sim_create(&cfg, &sim, &err), FM_OK);
    fm_run run;
    memset(&run, 0, sizeof run);
    snprintf(run.name, sizeof run.name, "test-%s", preset);
    snprintf(run.model, sizeof run.model, "%s", preset);
    run.params = fm_sim_preset_find(preset)->params;
    snprintf(run.backend, sizeof run.backend, "sim");
    snprintf(run.source, sizeof run.source, "record");
    run.gpus = gpus;
    run.interval_ms = 25;
    run.tokens = -1;
    run.exit_code = -1;
    run.start_wall_ns = 1700000000000000000LL;
    assert_int_equal(fm_store_run_begin(out->st, &run, &err), FM_OK);
    fm_backend_info bi = {0};
    snprintf(bi.backend, sizeof bi.backend, "sim");
    for (int g = 0; g < gpus; g++) {
        fm_device_info dev = {0};
        dev.index = g;
        snprintf(dev.name, sizeof dev.name, "Simulated H200 (%s)", preset);
        snprintf(dev.arch, sizeof dev.arch, "hopper");
        dev.power_limit_w = 700;
        dev.idle_power_w = 65;
        dev.supported = FM_F_ALL;
        snprintf(dev.power_instant_source, sizeof dev.power_instant_source, "sim instant");
        snprintf(dev.power_avg_source, sizeof dev.power_avg_source, "sim average");
        snprintf(dev.energy_source, sizeof dev.energy_source, "sim energy counter");
        assert_int_equal(fm_store_add_device(out->st, run.id, g, &dev, &bi, &err), FM_OK);
    }
    int64_t end = (int64_t)(seconds * 1e9);
    for (int64_t t = 0; t <= end; t += 25000000) {
        fm_sim_advance(sim, t);
        for (int g = 0; g < gpus; g++) {
            fm_sample s;
            fm_sim_read_sensors(sim, g, &s);
            s.t_ns = t;
            assert_int_equal(fm_store_add_sample(out->st, run.id, g, &s, &err), FM_OK);
        }
    }
    for (int g = 0; g < gpus && g < 4; g++)
        out->true_energy_j[g] = fm_sim_true_energy_j(sim, g);
    out->true_tokens = fm_sim_true_tokens(sim, 0);
    if (with_tokens)
        run.tokens = (int64_t)llround(out->true_tokens);
    run.end_ns = end;
    assert_int_equal(fm_store_run_finish(out->st, &run, &err), FM_OK);
    out->run_id = run.id;
    fm_sim_destroy(sim);
}

static void recorded_free(recorded *r)
{
    fm_store_close(r->st);
    fmt_rmtree(r->dir);
}

/* The object has exactly these keys. */
static void assert_exact_keys(json_t *o, const char *const *keys, size_t n, const char *what)
{
    assert_true(json_is_object(o));
    if (json_object_size(o) != n)
        fail_msg("%s has %zu keys, the contract says %zu", what, json_object_size(o), n);
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(o, keys[i]))
            fail_msg("%s lacks key '%s'", what, keys[i]);
}

static json_t *build_json(recorded *r, const fm_profile_options *opt)
{
    fm_profile *p;
    fm_error err;
    if (fm_profile_build(r->st, r->run_id, opt, &p, &err) != FM_OK)
        fail_msg("profile: %s", err.msg);
    char *text = fm_profile_json_text(p);
    assert_non_null(text);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    assert_non_null(root);
    free(text);
    fm_profile_free(p);
    return root;
}

/* What WorkloadProfile.from_json needs (economics.md §5.1-5.3). */
static void check_contract(json_t *root)
{
    assert_true(json_is_string(json_object_get(root, "model_name")));
    assert_true(json_is_integer(json_object_get(root, "model_size_params")));
    assert_true(json_is_string(json_object_get(root, "gpu_platform")));
    assert_true(json_is_string(json_object_get(root, "cooling_type")));
    json_t *dur = json_object_get(root, "duration_seconds");
    assert_true(json_is_number(dur));
    /* power_trace: [t, W] pairs, t from 0, uniform spacing. */
    json_t *tr = json_object_get(root, "power_trace");
    assert_true(json_is_array(tr) && json_array_size(tr) > 10);
    double dt = json_number_value(json_array_get(json_array_get(tr, 1), 0)) -
                json_number_value(json_array_get(json_array_get(tr, 0), 0));
    assert_true(dt > 0);
    assert_true(json_number_value(json_array_get(json_array_get(tr, 0), 0)) == 0.0);
    for (size_t i = 0; i < json_array_size(tr); i++) {
        json_t *pt = json_array_get(tr, i);
        assert_true(json_is_array(pt) && json_array_size(pt) == 2);
        double t = json_number_value(json_array_get(pt, 0));
        assert_true(fabs(t - (double)i * dt) < 1e-6);
        assert_true(json_is_number(json_array_get(pt, 1)));
    }
    double last_t =
        json_number_value(json_array_get(json_array_get(tr, json_array_size(tr) - 1), 0));
    assert_true(fabs(last_t - json_number_value(dur)) < 1e-6);
    /* phases */
    static const char *const phase_keys[] = {"phase",     "start_time",   "end_time",
                                             "avg_power", "peak_power",   "power_stdev",
                                             "power_cv",  "energy_joules"};
    json_t *phases = json_object_get(root, "phases");
    assert_true(json_is_object(phases));
    assert_non_null(json_object_get(phases, "decode"));
    const char *name;
    json_t *ph;
    json_object_foreach(phases, name, ph)
    {
        int rampy = !strcmp(name, "ramp") || !strcmp(name, "fall");
        if (rampy) {
            static const char *const k9[] = {"phase",     "start_time",    "end_time",
                                             "avg_power", "peak_power",    "power_stdev",
                                             "power_cv",  "energy_joules", "ramp_rate_ws"};
            assert_exact_keys(ph, k9, 9, name);
        } else {
            assert_exact_keys(ph, phase_keys, 8, name);
        }
        assert_string_equal(json_string_value(json_object_get(ph, "phase")), name);
        for (size_t k = 1; k < 8; k++)
            assert_true(json_is_number(json_object_get(ph, phase_keys[k])));
        double s = json_number_value(json_object_get(ph, "start_time"));
        double e = json_number_value(json_object_get(ph, "end_time"));
        assert_true(s >= 0 && e >= s && e <= json_number_value(dur) + 1e-9);
        /* energy_joules = avg_power x (end - start) (consumer convention) */
        double avg = json_number_value(json_object_get(ph, "avg_power"));
        assert_true(fabs(json_number_value(json_object_get(ph, "energy_joules")) - avg * (e - s)) <
                    0.01 + 1e-6 * avg * (e - s));
    }
    /* energy_metrics: exactly the 8 keys, tokens an int, durations equal */
    static const char *const em_keys[] = {
        "total_energy_joules", "tokens_generated", "joules_per_token", "tokens_per_joule",
        "avg_power_watts",     "peak_power_watts", "duration_seconds", "wh_per_1k_queries"};
    json_t *em = json_object_get(root, "energy_metrics");
    assert_exact_keys(em, em_keys, 8, "energy_metrics");
    assert_true(json_is_integer(json_object_get(em, "tokens_generated")));
    assert_true(json_number_value(json_object_get(em, "duration_seconds")) ==
                json_number_value(dur));
    const char *tier = json_string_value(json_object_get(root, "tier"));
    assert_non_null(tier);
    assert_true(!strcmp(tier, "tier_1_efficient") || !strcmp(tier, "tier_2_standard") ||
                !strcmp(tier, "tier_3_high_variance"));
    json_t *th = json_object_get(root, "thermal_profile");
    assert_non_null(th); /* the key must exist */
    if (!json_is_null(th)) {
        static const char *const th_keys[] = {"avg_temp_celsius", "peak_temp_celsius",
                                              "temp_rise_rate", "thermal_time_constant"};
        assert_exact_keys(th, th_keys, 4, "thermal_profile");
        for (size_t k = 0; k < 4; k++)
            assert_true(json_is_number(json_object_get(th, th_keys[k])));
    }
}

static void test_single_gpu_contract_and_truth(void **state)
{
    (void)state;
    recorded r;
    record_sim("Qwen3-32B", 1, FM_SIM_SINGLE, 30.0, 0, 1, &r);
    json_t *root = build_json(&r, NULL);
    check_contract(root);
    json_t *em = json_object_get(root, "energy_metrics");
    double e = json_number_value(json_object_get(em, "total_energy_joules"));
    assert_true(fmt_rel_err(e, r.true_energy_j[0]) < 0.01);
    assert_int_equal(json_integer_value(json_object_get(em, "tokens_generated")),
                     (json_int_t)llround(r.true_tokens));
    double jpt = json_number_value(json_object_get(em, "joules_per_token"));
    assert_true(fmt_rel_err(jpt, e / r.true_tokens) < 1e-9);
    assert_true(fmt_rel_err(json_number_value(json_object_get(em, "wh_per_1k_queries")),
                            jpt * 100 * 1000 / 3600) < 1e-9);
    assert_string_equal(json_string_value(json_object_get(root, "gpu_platform")), "H200");
    assert_int_equal(json_integer_value(json_object_get(root, "model_size_params")), 32000000000LL);
    /* Qwen3-32B decode CV 0.0739 -> tier 1 by the CV-only rule. */
    assert_string_equal(json_string_value(json_object_get(root, "tier")), "tier_1_efficient");
    json_t *phases = json_object_get(root, "phases");
    for (const char *k = "ramp"; k; k = !strcmp(k, "ramp")      ? "prefill"
                                        : !strcmp(k, "prefill") ? "fall"
                                                                : NULL)
        assert_non_null(json_object_get(phases, k));
    double rr = json_number_value(json_object_get(json_object_get(phases, "ramp"), "ramp_rate_ws"));
    assert_true(fmt_rel_err(rr, 546.9) < 0.02);
    /* 0.1 s grid for a 30 s run. */
    json_t *x = json_object_get(root, "x_firmus");
    assert_true(json_number_value(
                    json_object_get(json_object_get(x, "power_trace"), "resolution_s")) == 0.1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(x, "phases"), "source")),
                        "detected");
    assert_non_null(json_object_get(x, "measurement"));
    assert_non_null(json_object_get(x, "per_gpu"));
    json_decref(root);
    recorded_free(&r);
}

static void test_tokens_unknown_and_options(void **state)
{
    (void)state;
    recorded r;
    record_sim("DeepSeek-R1-Distill-32B", 2, FM_SIM_SERVING, 120.0, 0, 0, &r);
    fm_profile_options o;
    fm_profile_options_default(&o);
    o.gpu = 1;
    o.resolution_s = 0.5;
    o.cooling_type = "immersion";
    o.gpu_platform = "GB300";
    json_t *root = build_json(&r, &o);
    check_contract(root);
    json_t *em = json_object_get(root, "energy_metrics");
    assert_int_equal(json_integer_value(json_object_get(em, "tokens_generated")), 0);
    assert_true(json_is_null(json_object_get(em, "joules_per_token"))); /* never invented */
    assert_true(fmt_rel_err(json_number_value(json_object_get(em, "total_energy_joules")),
                            r.true_energy_j[1]) < 0.01);
    assert_string_equal(json_string_value(json_object_get(root, "cooling_type")), "immersion");
    assert_string_equal(json_string_value(json_object_get(root, "gpu_platform")), "GB300");
    json_t *x = json_object_get(root, "x_firmus");
    assert_false(json_boolean_value(json_object_get(json_object_get(x, "tokens"), "known")));
    json_t *tr = json_object_get(root, "power_trace");
    assert_true(fabs(json_number_value(json_array_get(json_array_get(tr, 1), 0)) - 0.5) < 1e-9);
    /* aggregate ~ 2x one GPU; per_gpu has both */
    assert_int_equal(json_array_size(json_object_get(x, "per_gpu")), 2);
    json_t *agg = json_object_get(x, "aggregate_power_trace");
    assert_int_equal(json_array_size(agg), json_array_size(tr));
    /* DeepSeek decode CV 0.167 -> tier 3 */
    assert_string_equal(json_string_value(json_object_get(root, "tier")), "tier_3_high_variance");
    /* Bad GPU index: a usage error. */
    o.gpu = 5;
    fm_profile *p;
    fm_error err;
    assert_int_equal(fm_profile_build(r.st, r.run_id, &o, &p, &err), FM_ERR_USAGE);
    json_decref(root);
    recorded_free(&r);
}

/* A long request: the thermal profile is present with the sim's tau. */
static void test_thermal_profile(void **state)
{
    (void)state;
    recorded r;
    record_sim("Qwen3-235B", 1, FM_SIM_SINGLE, 200.0, 190.0, 0, &r);
    json_t *root = build_json(&r, NULL);
    check_contract(root);
    json_t *th = json_object_get(root, "thermal_profile");
    assert_true(json_is_object(th));
    double tau = json_number_value(json_object_get(th, "thermal_time_constant"));
    print_message("profile thermal_time_constant %.2f s (sim tau 45 s)\n", tau);
    assert_true(fmt_rel_err(tau, 45.0) < 0.15);
    json_decref(root);
    recorded_free(&r);
}

static void test_idle_run_has_no_profile(void **state)
{
    (void)state;
    recorded r;
    record_sim("Qwen3-32B", 1, FM_SIM_SINGLE, 1.5, 0, 0, &r); /* idle only (request at 2 s) */
    fm_profile *p;
    fm_error err;
    assert_int_equal(fm_profile_build(r.st, r.run_id, NULL, &p, &err), FM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "decode"));
    recorded_free(&r);
}

static void test_csv_and_auto_export(void **state)
{
    (void)state;
    recorded r;
    record_sim("GPT-OSS-20B", 2, FM_SIM_SINGLE, 30.0, 0, 0, &r);
    char path[600];
    snprintf(path, sizeof path, "%s/trace.csv", r.dir);
    fm_error err;
    assert_int_equal(fm_trace_write_csv(r.st, r.run_id, path, 1.0, NULL, &err), FM_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "time_s,gpu0_power_w,gpu1_power_w,total_power_w,phase\n");
    size_t rows = 0;
    double energy = 0;
    while (fgets(line, sizeof line, f)) {
        double t, a, b, tot;
        assert_int_equal(sscanf(line, "%lf,%lf,%lf,%lf,", &t, &a, &b, &tot), 4);
        assert_true(fabs(t - (double)rows) < 1e-9);
        assert_true(fabs(a + b - tot) < 0.01);
        energy += tot * 1.0;
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 30);
    assert_true(fmt_rel_err(energy, r.true_energy_j[0] + r.true_energy_j[1]) < 0.02);
    char dir[600], jp[600], cp[600];
    snprintf(dir, sizeof dir, "%s/workload_profiles", r.dir);
    assert_int_equal(
        fm_profile_auto_export(r.st, r.run_id, dir, jp, sizeof jp, cp, sizeof cp, &err), FM_OK);
    json_error_t jerr;
    json_t *root = json_load_file(jp, 0, &jerr);
    assert_non_null(root);
    check_contract(root);
    json_decref(root);
    recorded_free(&r);
}

/* --gpu mean: the node's power / GPU count, so trace x GPUs = node. */
static void test_mean_gpu(void **state)
{
    (void)state;
    recorded r;
    record_sim("Llama-4-Scout", 2, FM_SIM_SERVING, 120.0, 0, 1, &r);
    fm_profile_options o;
    fm_profile_options_default(&o);
    o.gpu = FM_PROFILE_GPU_MEAN;
    json_t *root = build_json(&r, &o);
    check_contract(root);
    json_t *em = json_object_get(root, "energy_metrics");
    double mean_true = 0.5 * (r.true_energy_j[0] + r.true_energy_j[1]);
    assert_true(fmt_rel_err(json_number_value(json_object_get(em, "total_energy_joules")),
                            mean_true) < 0.01);
    json_t *x = json_object_get(root, "x_firmus");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(x, "power_trace"), "gpu")), "mean");
    /* Each trace point is half the aggregate's. */
    json_t *tr = json_object_get(root, "power_trace");
    json_t *agg = json_object_get(x, "aggregate_power_trace");
    for (size_t i = 0; i < json_array_size(tr); i += 97) {
        double a = json_number_value(json_array_get(json_array_get(tr, i), 1));
        double b = json_number_value(json_array_get(json_array_get(agg, i), 1));
        assert_true(fabs(2 * a - b) < 0.01);
    }
    json_decref(root);
    recorded_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_gpu_contract_and_truth),
        cmocka_unit_test(test_tokens_unknown_and_options),
        cmocka_unit_test(test_thermal_profile),
        cmocka_unit_test(test_idle_run_has_no_profile),
        cmocka_unit_test(test_csv_and_auto_export),
        cmocka_unit_test(test_mean_gpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
