/* Energy metrics of runs recorded from the simulated GPU node, against the
 * sim's truth: samples are read through the sim backend on a 25 ms virtual
 * tick grid, stored in a temporary run store, and analysed with
 * fm_metrics_compute.
 *  - A whole single-request run (30 s, 2 GPUs): total energy within 0.5 %
 *    of the true energy, every source within its modelled error.
 *  - A run cut off mid-decode (1 s .. 6 s): the three sources differ as the
 *    sensor model says. The 1 s average (1 s window, republished every
 *    100 ms and held) integrates the truth delayed by 0.55 s; the instant
 *    reading (25 ms window, held 100 ms) by 62.5 ms; the counter is the true
 *    energy between its own update instants, floored to whole mJ. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmus/metrics.h"
#include "firmus/sim.h"

#define MS 1000000LL
#define TICK_NS (25 * MS)

typedef struct recording {
    char *dir;
    fm_store *st;
    fm_sensor sensor;
    fm_sim *sim;
    int64_t run_id;
    int64_t first_t_ns, last_t_ns;
    int64_t counter_first_update_ns, counter_last_update_ns;
} recording;

/* Opens a 2-GPU Qwen3-32B sim and records ticks t0 .. t1 (inclusive) into
 * a new store. */
static void record_sim(recording *r, int64_t t0_ns, int64_t t1_ns)
{
    memset(r, 0, sizeof *r);
    r->dir = fmt_tmpdir();
    assert_non_null(r->dir);
    char path[600];
    snprintf(path, sizeof path, "%s/sim.db", r->dir);
    fm_error err = {0};
    assert_int_equal(fm_store_open(path, &r->st, &err), FM_OK);
    fm_backend_options opt = {.sim_gpus = 2, .sim_preset = "Qwen3-32B", .sim_seed = 7};
    if (fm_sensor_open("sim", &opt, &r->sensor, &err))
        fail_msg("sim: %s", err.msg);
    r->sim = fm_sensor_sim(&r->sensor);
    assert_non_null(r->sim);

    fm_run run;
    fm_run_init(&run);
    snprintf(run.name, sizeof run.name, "sim");
    run.gpus = 2;
    run.interval_ms = 25;
    run.t0_ns = t0_ns;
    assert_int_equal(fm_store_run_begin(r->st, &run, &err), FM_OK);
    r->run_id = run.id;
    fm_clock *clock = fm_sensor_clock(&r->sensor);
    for (int64_t t = t0_ns; t <= t1_ns; t += TICK_NS) {
        fm_clock_sleep_until(clock, t);
        for (int gpu = 0; gpu < 2; gpu++) {
            fm_sample s;
            assert_int_equal(fm_sensor_read(&r->sensor, gpu, FM_F_ALL, &s, &err), FM_OK);
            assert_int_equal(s.t_ns, t);
            assert_int_equal(fm_store_add_sample(r->st, run.id, gpu, &s, &err), FM_OK);
        }
        if (t == t0_ns)
            r->counter_first_update_ns = fm_sim_last_energy_update_ns(r->sim);
        r->counter_last_update_ns = fm_sim_last_energy_update_ns(r->sim);
    }
    r->first_t_ns = t0_ns;
    r->last_t_ns = t0_ns + (t1_ns - t0_ns) / TICK_NS * TICK_NS;
    assert_int_equal(fm_store_run_finish(r->st, &run, &err), FM_OK);
}

static void recording_free(recording *r)
{
    fm_sensor_close(&r->sensor);
    fm_store_close(r->st);
    fmt_rmtree(r->dir);
}

static double true_j(const recording *r, int gpu, int64_t t0_ns, int64_t t1_ns)
{
    return fm_sim_true_energy_between_j(r->sim, gpu, t0_ns, t1_ns);
}

static void test_whole_run_energy(void **state)
{
    (void)state;
    recording r;
    record_sim(&r, 1000 * MS, 31000 * MS);
    fm_run_metrics m;
    fm_error err = {0};
    assert_int_equal(fm_metrics_compute(r.st, r.run_id, NULL, &m, &err), FM_OK);
    double truth_total = 0;
    for (int gpu = 0; gpu < 2; gpu++) {
        const fm_gpu_metrics *g = &m.gpu[gpu];
        double truth = true_j(&r, gpu, r.first_t_ns, r.last_t_ns);
        truth_total += truth;
        print_message("GPU %d: truth %.1f J, counter %.1f, instant %.1f, avg %.1f, period %.3f s,"
                      " counter period %.3f s\n",
                      gpu, truth, g->energy_counter_j, g->energy_instant_j, g->energy_avg_1s_j,
                      g->sensor_period_s, g->counter_period_s);
        assert_int_equal(g->energy_source, FM_SRC_COUNTER);
        assert_true(fmt_rel_err(g->energy_j, truth) < 0.005);
        /* Idle at both ends, so the sensors' delays cancel over the run;
         * what remains is the instant sensor seeing 25 % of the time. */
        assert_true(fmt_rel_err(g->energy_instant_j, truth) < 0.01);
        assert_true(fmt_rel_err(g->energy_avg_1s_j, truth) < 0.005);
        /* The sensors' update periods as modelled: 100 ms each. */
        assert_true(fabs(g->sensor_period_s - 0.1) < 1e-9);
        assert_true(fabs(g->counter_period_s - 0.1) < 1e-9);
        assert_int_equal(g->missing_power_samples, 0);
        assert_true(g->peak_power_w > 600 && g->peak_power_w < 700); /* prefill peak 647 W */
        assert_true(g->temp_peak_c > g->temp_avg_c);
    }
    assert_true(fmt_rel_err(m.total_energy_j, truth_total) < 0.005);
    fm_run_metrics_free(&m);
    recording_free(&r);
}

static void test_sources_differ_as_modelled(void **state)
{
    (void)state;
    recording r;
    record_sim(&r, 1000 * MS, 6000 * MS); /* idle, ramp, prefill, then cut mid-decode */
    fm_run_metrics m;
    fm_error err = {0};
    assert_int_equal(fm_metrics_compute(r.st, r.run_id, NULL, &m, &err), FM_OK);
    const int64_t avg_lag_ns = 550 * MS;     /* 1 s window / 2 + 100 ms hold / 2 */
    const int64_t instant_lag_ns = 62500000; /* 25 ms window / 2 + 100 ms hold / 2 */
    for (int gpu = 0; gpu < 2; gpu++) {
        const fm_gpu_metrics *g = &m.gpu[gpu];
        double truth = true_j(&r, gpu, r.first_t_ns, r.last_t_ns);
        double truth_avg_lag = true_j(&r, gpu, r.first_t_ns - avg_lag_ns, r.last_t_ns - avg_lag_ns);
        double truth_instant_lag =
            true_j(&r, gpu, r.first_t_ns - instant_lag_ns, r.last_t_ns - instant_lag_ns);
        double truth_counter = true_j(&r, gpu, r.counter_first_update_ns, r.counter_last_update_ns);
        print_message("GPU %d: truth %.1f J; avg %.1f vs lagged truth %.1f; instant %.1f vs"
                      " lagged %.1f; counter %.3f vs %.3f\n",
                      gpu, truth, g->energy_avg_1s_j, truth_avg_lag, g->energy_instant_j,
                      truth_instant_lag, g->energy_counter_j, truth_counter);
        /* Counter: exact up to the mJ floor at each end. */
        assert_true(fabs(g->energy_counter_j - truth_counter) <= 0.002);
        /* 1 s average: it reports the power of about half a second ago, so
         * cut off while power is high it falls well short of the truth... */
        assert_true(g->energy_avg_1s_j < 0.95 * truth);
        assert_true(g->ratio_avg_to_counter < 0.95);
        /* ...and matches the truth delayed by its modelled lag. */
        assert_true(fmt_rel_err(g->energy_avg_1s_j, truth_avg_lag) < 0.01);
        /* Instant: the same with a 62.5 ms lag, and the 25 % duty. */
        assert_true(fmt_rel_err(g->energy_instant_j, truth_instant_lag) < 0.01);
        assert_true(fmt_rel_err(g->energy_instant_j, truth_instant_lag) <
                    fmt_rel_err(g->energy_instant_j, truth_avg_lag));
    }
    fm_run_metrics_free(&m);
    recording_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_run_energy),
        cmocka_unit_test(test_sources_differ_as_modelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
