/* The recorder against the simulator's truth (virtual time): the energy of
 * a recorded run, as fm_metrics_compute reports it from the stored samples,
 * is within 0.5 % of the true energy over the same window (30 s and 10 min
 * runs); over the window the energy counter covers it is exact; a 10-minute
 * 8-GPU serving run is recorded on an exact grid (virtual time); with the
 * real-time simulator the deadlines are kept. */
#include "firmus/metrics.h"
#include "firmus/record.h"
#include "firmus/sim.h"
#include "firmus/store.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    char *dir;
    char db[600];
    fm_sensor sensor;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = fmt_tmpdir();
    snprintf(f->db, sizeof f->db, "%s/runs.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fm_sensor_close(&f->sensor);
    fmt_rmtree(f->dir);
    free(f);
    return 0;
}

static fm_sim *open_sim(fixture *f, int gpus, const char *pattern, uint64_t seed, int real_time)
{
    fm_backend_options bo = {0};
    bo.sim_gpus = gpus;
    bo.sim_preset = "Qwen3-32B";
    bo.sim_seed = seed;
    bo.sim_pattern = pattern;
    bo.sim_request_rate_hz = 0.5;
    bo.sim_real_time = real_time;
    fm_error err = {0};
    int rc = fm_sensor_open("sim", &bo, &f->sensor, &err);
    if (rc != FM_OK)
        print_error("sim: %s\n", err.msg);
    assert_int_equal(rc, FM_OK);
    fm_sim *sim = fm_sensor_sim(&f->sensor);
    assert_non_null(sim);
    return sim;
}

static void record(fixture *f, double duration_s, double interval_ms, fm_record_result *res)
{
    fm_record_options o;
    fm_record_options_default(&o);
    o.sensor = &f->sensor;
    o.db_path = f->db;
    o.duration_s = duration_s;
    o.interval_ms = interval_ms;
    fm_error err = {0};
    int rc = fm_record_run(&o, res, &err);
    if (rc != FM_OK)
        print_error("record: %s\n", err.msg);
    assert_int_equal(rc, FM_OK);
}

/* Energy from the stored run vs. the truth over [first, last sample]. */
static void check_energy(fixture *f, fm_sim *sim, const fm_record_result *res, int gpus,
                         double max_rel_err)
{
    fm_store *st = NULL;
    fm_error err = {0};
    assert_int_equal(fm_store_open(f->db, &st, &err), FM_OK);
    fm_run_metrics m;
    fm_metrics_options mopt = {.tokens_per_query = 100, .tokens_override = -1};
    assert_int_equal(fm_metrics_compute(st, res->run_id, &mopt, &m, &err), FM_OK);
    assert_int_equal(m.gpus, gpus);
    for (int g = 0; g < gpus; g++) {
        fm_sample *s = NULL;
        size_t n = 0;
        assert_int_equal(fm_store_load_samples(st, res->run_id, g, &s, &n, &err), FM_OK);
        double truth_j = fm_sim_true_energy_between_j(sim, g, s[0].t_ns, s[n - 1].t_ns);
        double rel = fmt_rel_err(m.gpu[g].energy_j, truth_j);
        print_message("gpu %d: recorded %.1f J (%s), true %.1f J, error %.3f %%\n", g,
                      m.gpu[g].energy_j, fm_source_name(m.gpu[g].energy_source), truth_j,
                      100 * rel);
        assert_int_equal(m.gpu[g].energy_source, FM_SRC_COUNTER);
        assert_true(rel < max_rel_err);
        free(s);
    }
    fm_run_metrics_free(&m);
    fm_store_close(st);
}

static void test_energy_within_half_percent_of_truth(void **state)
{
    fixture *f = *state;
    fm_sim *sim = open_sim(f, 2, "single", 3, 0);
    fm_record_result res;
    record(f, 30.0, 25.0, &res);
    assert_int_equal(res.ticks, 1201);
    assert_int_equal(res.missed_ticks, 0);
    check_energy(f, sim, &res, 2, 0.005);
}

/* The last energy-counter update at or before t (the sim's counter grid). */
static int64_t counter_update_at(const fm_sim *sim, int64_t t_ns)
{
    const fm_sim_sensor_params *p = &fm_sim_get_config(sim)->sensor;
    if (t_ns < p->energy_phase_ns)
        return 0;
    return p->energy_phase_ns +
           (t_ns - p->energy_phase_ns) / p->energy_period_ns * p->energy_period_ns;
}

/* A 10 s run that ends while the GPU is busy: the counter's own 100 ms
 * update grid leaves up to ~1 % between the counter difference and the
 * truth over the sample window (a sensor limit, docs/RECORDING.md); over
 * the window the counter actually covers, the recorded energy is exact to
 * the counter's mJ resolution. */
static void test_short_busy_run_exact_over_counter_window(void **state)
{
    fixture *f = *state;
    fm_sim *sim = open_sim(f, 1, "serving", 11, 0);
    fm_record_result res;
    record(f, 10.0, 10.0, &res);
    assert_int_equal(res.ticks, 1001);

    fm_store *st = NULL;
    fm_error err = {0};
    assert_int_equal(fm_store_open(f->db, &st, &err), FM_OK);
    fm_sample *s = NULL;
    size_t n = 0;
    assert_int_equal(fm_store_load_samples(st, res.run_id, 0, &s, &n, &err), FM_OK);
    assert_int_equal(n, 1001);
    double recorded_j = s[n - 1].energy_j - s[0].energy_j;
    double window_truth_j = fm_sim_true_energy_between_j(sim, 0, counter_update_at(sim, s[0].t_ns),
                                                         counter_update_at(sim, s[n - 1].t_ns));
    double plain_truth_j = fm_sim_true_energy_between_j(sim, 0, s[0].t_ns, s[n - 1].t_ns);
    print_message("recorded %.3f J, truth over the counter window %.3f J, over the samples "
                  "%.3f J\n",
                  recorded_j, window_truth_j, plain_truth_j);
    assert_true(fabs(recorded_j - window_truth_j) < 0.01); /* mJ quantisation at both ends */
    assert_true(fmt_rel_err(recorded_j, plain_truth_j) < 0.02);
    free(s);
    fm_store_close(st);
}

static void test_ten_minutes_eight_gpus_virtual(void **state)
{
    fixture *f = *state;
    fm_sim *sim = open_sim(f, 8, "serving", 5, 0);
    fm_record_result res;
    record(f, 600.0, 25.0, &res);
    assert_int_equal(res.ticks, 24001);
    assert_int_equal(res.samples, 8 * 24001);
    assert_int_equal(res.missed_ticks, 0);
    assert_true(res.jitter_max_us == 0.0);
    check_energy(f, sim, &res, 8, 0.005);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_energy_within_half_percent_of_truth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_busy_run_exact_over_counter_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ten_minutes_eight_gpus_virtual, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
