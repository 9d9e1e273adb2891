/* Energy metrics against exact known truth: synthetic runs in a temporary
 * store whose instant power is held for 100 ms periods (polled every
 * 25 ms), whose energy counter (mJ) advances every 100 ms with a known
 * gain, and whose markers, temperatures and clocks-event bits are placed
 * at known times. Every expected figure is computed here independently,
 * from the period values, not from the library's trace maths. Also the
 * power derivatives and ramp extremes on a known step. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmus/metrics.h"

#define MS 1000000LL
#define TICKS 401   /* 0 .. 10 s every 25 ms */
#define PERIODS 101 /* 100 ms periods 0 .. 100 (the last one starts at 10 s) */
#define COUNTER_GAIN 1.02

/* Instant power of 100 ms period k: a level with +3 W on odd periods, so
 * consecutive periods always differ (every period is one sensor update). */
static double period_power_w(int k)
{
    double level = k < 20 ? 100.0 : k < 50 ? 500.0 : 300.0;
    return level + (k % 2 ? 3.0 : 0.0);
}

/* 1 s average published each period: mean of the last 10 periods. */
static double period_avg_w(int k)
{
    double sum = 0;
    for (int j = k - 9; j <= k; j++)
        sum += period_power_w(j < 0 ? 0 : j);
    return sum / 10.0;
}

/* Energy counter at period k: gain x true energy of periods 0..k-1, mJ. */
static double counter_j(int k)
{
    double e = 0;
    for (int j = 0; j < k; j++)
        e += period_power_w(j) * 0.1;
    return 5000.0 + round(COUNTER_GAIN * e * 1000.0) / 1000.0;
}

typedef struct gpu_plan {
    int shift_periods; /* this GPU's power is period_power_w(k - shift) */
    int has_counter;
    int has_avg;
} gpu_plan;

static double gpu_power_w(const gpu_plan *p, int k)
{
    int j = k - p->shift_periods;
    return period_power_w(j < 0 ? 0 : j);
}

static fm_sample make_sample(const gpu_plan *p, int i)
{
    int k = i / 4;
    int64_t t = (int64_t)i * 25 * MS;
    fm_sample s;
    fm_sample_clear(&s, t);
    s.valid = FM_F_POWER_INSTANT;
    s.power_instant_w = gpu_power_w(p, k);
    if (i == 241 || i == 242) /* 6.025 s, 6.05 s: polls that failed */
        s.valid &= ~(uint32_t)FM_F_POWER_INSTANT;
    if (p->has_avg) {
        s.valid |= FM_F_POWER_AVG;
        s.power_avg_w = period_avg_w(k);
    }
    if (p->has_counter) {
        s.valid |= FM_F_ENERGY;
        s.energy_j = counter_j(k);
    }
    if (i % 4 == 0) { /* slow fields on the 100 ms sub-grid */
        s.valid |= FM_F_TEMP | FM_F_CLOCK_EVENTS;
        s.temp_c = t < 5000 * MS ? 50.0 : 60.0;
        s.clock_events = FM_CLOCK_EVENT_GPU_IDLE;
        if (t >= 3000 * MS && t < 4000 * MS)
            s.clock_events |= FM_CLOCK_EVENT_SW_POWER_CAP;
        if (t >= 8000 * MS && t < 8500 * MS)
            s.clock_events |= FM_CLOCK_EVENT_HW_THERMAL;
    }
    return s;
}

static void add_marker(fm_store *st, int64_t run_id, int64_t t_ns, const char *kind,
                       const char *name, int64_t tokens, int gpu)
{
    fm_marker m = {.t_ns = t_ns, .tokens = tokens, .request = -1, .gpu = gpu, .energy_j = NAN};
    snprintf(m.kind, sizeof m.kind, "%s", kind);
    snprintf(m.name, sizeof m.name, "%s", name);
    fm_error err = {0};
    assert_int_equal(fm_store_add_marker(st, run_id, &m, &err), FM_OK);
}

static int64_t make_run(fm_store *st, const gpu_plan *plans, int gpus, int64_t run_tokens)
{
    fm_run run;
    fm_run_init(&run);
    snprintf(run.name, sizeof run.name, "synthetic-%d", gpus);
    run.gpus = gpus;
    run.interval_ms = 25;
    run.tokens = run_tokens;
    fm_error err = {0};
    assert_int_equal(fm_store_run_begin(st, &run, &err), FM_OK);
    for (int i = 0; i < TICKS; i++)
        for (int g = 0; g < gpus; g++) {
            fm_sample s = make_sample(&plans[g], i);
            assert_int_equal(fm_store_add_sample(st, run.id, g, &s, &err), FM_OK);
        }
    add_marker(st, run.id, 2000 * MS, "start", "prefill", -1, -1);
    add_marker(st, run.id, 2500 * MS, "end", "prefill", -1, -1);
    add_marker(st, run.id, 2500 * MS, "start", "decode", -1, -1);
    add_marker(st, run.id, 3000 * MS, "tokens", "", 300, -1);
    add_marker(st, run.id, 4900 * MS, "tokens", "", 200, -1);
    add_marker(st, run.id, 5000 * MS, "end", "decode", -1, -1);
    add_marker(st, run.id, 7000 * MS, "start", "decode", -1, -1); /* never ended: ignored */
    run.end_ns = 0;
    assert_int_equal(fm_store_run_finish(st, &run, &err), FM_OK);
    return run.id;
}

/* Sum of a GPU's period powers x 0.1 s over periods [k0, k1). */
static double held_energy_j(const gpu_plan *p, int k0, int k1)
{
    double e = 0;
    for (int k = k0; k < k1; k++)
        e += gpu_power_w(p, k) * 0.1;
    return e;
}

typedef struct fixture {
    char *dir;
    fm_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = fmt_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/m.db", f->dir);
    fm_error err = {0};
    if (fm_store_open(path, &f->st, &err))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fm_store_close(f->st);
    fmt_rmtree(f->dir);
    free(f);
    return 0;
}

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.9f, want %.9f (tolerance %g)", got, want, tol);
}

static void test_one_gpu_exact(void **state)
{
    fixture *f = *state;
    gpu_plan plan = {.shift_periods = 0, .has_counter = 1, .has_avg = 1};
    int64_t id = make_run(f->st, &plan, 1, -1);
    fm_run_metrics m;
    fm_error err = {0};
    assert_int_equal(fm_metrics_compute(f->st, id, NULL, &m, &err), FM_OK);
    const fm_gpu_metrics *g = &m.gpu[0];

    /* Truth from the period values: 100 periods of 0.1 s in [0, 10 s]. */
    double true_j = held_energy_j(&plan, 0, 100);
    double counter_true_j = counter_j(100) - counter_j(0);
    double avg_true_j = 0;
    for (int k = 0; k < 100; k++)
        avg_true_j += period_avg_w(k) * 0.1;
    assert_close(g->duration_s, 10.0, 1e-12);
    assert_close(g->energy_instant_j, true_j, 1e-9);
    assert_close(g->energy_counter_j, counter_true_j, 1e-9);
    assert_close(g->energy_counter_j, COUNTER_GAIN * true_j, 1e-3); /* mJ rounding */
    assert_close(g->energy_avg_1s_j, avg_true_j, 1e-9);
    assert_int_equal(g->energy_source, FM_SRC_COUNTER);
    assert_close(g->energy_j, counter_true_j, 1e-9);
    assert_close(g->ratio_instant_to_counter, true_j / counter_true_j, 1e-12);
    assert_close(g->ratio_avg_to_counter, avg_true_j / counter_true_j, 1e-12);
    assert_close(g->avg_power_w, counter_true_j / 10.0, 1e-9);

    /* Peak and population CV over the deduplicated updates (periods 0..100). */
    double sum = 0, sum2 = 0;
    for (int k = 0; k < PERIODS; k++)
        sum += period_power_w(k);
    double mean = sum / PERIODS;
    for (int k = 0; k < PERIODS; k++)
        sum2 += (period_power_w(k) - mean) * (period_power_w(k) - mean);
    assert_int_equal(g->power_source, FM_SRC_INSTANT);
    assert_close(g->peak_power_w, 503.0, 0);
    assert_close(g->power_cv, sqrt(sum2 / PERIODS) / mean, 1e-12);
    assert_close(g->sensor_period_s, 0.1, 1e-12);
    assert_close(g->counter_period_s, 0.1, 1e-12);
    assert_int_equal(g->samples, TICKS);
    assert_int_equal(g->missing_power_samples, 2);
    assert_int_equal(g->counter_resets, 0);
    assert_close(g->ramp_window_s, 0.2, 1e-12);
    assert_close(g->max_rise_w_per_s, 2000.0, 1e-9);
    assert_close(g->max_fall_w_per_s, -1000.0, 1e-9);

    /* Temperature: 50 C for 5 s then 60 C for 5 s, time-weighted. */
    assert_close(g->temp_avg_c, 55.0, 1e-9);
    assert_close(g->temp_peak_c, 60.0, 0);
    /* Throttling: power cap 3..4 s, HW thermal 8..8.5 s; idle bit ignored. */
    assert_int_equal(g->power_throttled, 1);
    assert_int_equal(g->thermal_throttled, 1);
    assert_close(g->power_throttled_s, 1.0, 1e-9);
    assert_close(g->thermal_throttled_s, 0.5, 1e-9);
    assert_close(g->throttled_s, 1.5, 1e-9);

    /* Marker windows: prefill 2.0..2.5 s = periods 20..24, decode
     * 2.5..5.0 s = periods 25..49; the unterminated decode is ignored. */
    assert_string_equal(m.phase_source, "markers");
    assert_int_equal(m.prefill_windows, 1);
    assert_int_equal(m.decode_windows, 1);
    assert_close(m.prefill_energy_j, held_energy_j(&plan, 20, 25), 1e-9);
    assert_close(m.decode_energy_j, held_energy_j(&plan, 25, 50), 1e-9);

    /* Tokens from the markers (300 + 200), and the per-token figures. */
    assert_string_equal(m.tokens_source, "markers");
    assert_int_equal(m.tokens, 500);
    assert_close(m.total_energy_j, counter_true_j, 1e-9);
    assert_close(m.joules_per_token, counter_true_j / 500, 1e-12);
    assert_close(m.tokens_per_joule, 500 / counter_true_j, 1e-12);
    assert_close(m.wh_per_1k_queries, counter_true_j / 500 * 100 * 1000 / 3600, 1e-9);
    assert_close(m.peak_power_w, 503.0, 0);
    assert_close(m.duration_s, 10.0, 1e-12);
    assert_int_equal(m.energy_source, FM_SRC_COUNTER);
    fm_run_metrics_free(&m);

    /* Override and tokens-per-query: 1000 tokens, 50 tokens per query. */
    fm_metrics_options opt;
    fm_metrics_options_default(&opt);
    opt.tokens_override = 1000;
    opt.tokens_per_query = 50;
    assert_int_equal(fm_metrics_compute(f->st, id, &opt, &m, &err), FM_OK);
    assert_string_equal(m.tokens_source, "override");
    assert_int_equal(m.tokens, 1000);
    assert_close(m.wh_per_1k_queries, counter_true_j / 1000 * 50 * 1000 / 3600, 1e-9);
    fm_run_metrics_free(&m);

    /* The quick total used by `firmus ls` agrees with the counter. */
    fm_run run;
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%lld", (long long)id);
    assert_int_equal(fm_store_find_run(f->st, id_text, &run, &err), FM_OK);
    double quick_j;
    fm_source quick_src;
    assert_int_equal(fm_metrics_quick_energy(f->st, &run, &quick_j, &quick_src, &err), FM_OK);
    assert_close(quick_j, counter_true_j, 1e-9);
    assert_int_equal(quick_src, FM_SRC_COUNTER);
}

/* Two GPUs, the second one period late and without counter or 1 s
 * average: mixed sources, the aggregate peak below the sum of peaks, the
 * run's tokens winning over markers, marker windows over both GPUs. */
static void test_two_gpus_aggregate(void **state)
{
    fixture *f = *state;
    gpu_plan plans[2] = {{.shift_periods = 0, .has_counter = 1, .has_avg = 1},
                         {.shift_periods = 1, .has_counter = 0, .has_avg = 0}};
    int64_t id = make_run(f->st, plans, 2, 4000);
    fm_run_metrics m;
    fm_error err = {0};
    assert_int_equal(fm_metrics_compute(f->st, id, NULL, &m, &err), FM_OK);
    assert_int_equal(m.gpus, 2);
    const fm_gpu_metrics *g1 = &m.gpu[1];
    assert_true(isnan(g1->energy_counter_j) && isnan(g1->energy_avg_1s_j));
    assert_true(isnan(g1->ratio_instant_to_counter));
    assert_int_equal(g1->energy_source, FM_SRC_INSTANT);
    assert_close(g1->energy_j, held_energy_j(&plans[1], 0, 100), 1e-9);
    assert_int_equal(m.energy_source, FM_SRC_NONE); /* mixed */
    assert_true(isnan(m.energy_counter_j));         /* GPU 1 has none */
    assert_close(m.energy_instant_j,
                 held_energy_j(&plans[0], 0, 100) + held_energy_j(&plans[1], 0, 100), 1e-9);
    assert_close(m.total_energy_j, m.gpu[0].energy_counter_j + g1->energy_instant_j, 1e-9);

    /* Aggregate: GPU0 503 W at odd periods in 20..49, GPU1 then shows the
     * even period before (500 W): peak 1003 W, not 503 + 503. */
    assert_close(m.peak_power_w, 1003.0, 0);
    assert_close(m.gpu[0].peak_power_w + g1->peak_power_w, 1006.0, 0);
    assert_close(m.peak_grid_s, 0.025, 1e-12);

    assert_string_equal(m.tokens_source, "run");
    assert_int_equal(m.tokens, 4000);
    assert_close(m.joules_per_token, m.total_energy_j / 4000, 1e-12);
    assert_close(m.prefill_energy_j,
                 held_energy_j(&plans[0], 20, 25) + held_energy_j(&plans[1], 20, 25), 1e-9);
    assert_close(g1->decode_energy_j, held_energy_j(&plans[1], 25, 50), 1e-9);
    fm_run_metrics_free(&m);
}

/* Markers of concurrent requests: pairs are matched by name, GPU and
 * request; overlapping windows of one GPU count once (their union). */
static void test_marker_windows_requests_overlap(void **state)
{
    fixture *f = *state;
    gpu_plan plans[2] = {{.shift_periods = 0, .has_counter = 1, .has_avg = 1},
                         {.shift_periods = 1, .has_counter = 0, .has_avg = 0}};
    int64_t id = make_run(f->st, plans, 2, -1);
    fm_error err = {0};
    const struct {
        int64_t t_ms;
        const char *kind;
        int64_t request;
    } extra[] = {{6000, "start", 1},
                 {6500, "start", 2},
                 {7000, "end", 1},
                 {7500, "end", 2},
                 {8000, "start", 3}};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        fm_marker m = {.t_ns = extra[i].t_ms * MS,
                       .tokens = -1,
                       .request = extra[i].request,
                       .gpu = 0,
                       .energy_j = NAN};
        snprintf(m.kind, sizeof m.kind, "%s", extra[i].kind);
        snprintf(m.name, sizeof m.name, "decode");
        assert_int_equal(fm_store_add_marker(f->st, id, &m, &err), FM_OK);
    }
    fm_run_metrics m;
    assert_int_equal(fm_metrics_compute(f->st, id, NULL, &m, &err), FM_OK);
    assert_int_equal(m.decode_windows, 3); /* 2.5..5 (all), request 1, request 2 */
    double gpu0 = held_energy_j(&plans[0], 25, 50) + held_energy_j(&plans[0], 60, 75);
    double gpu1 = held_energy_j(&plans[1], 25, 50);
    assert_close(m.gpu[0].decode_energy_j, gpu0, 1e-9);
    assert_close(m.gpu[1].decode_energy_j, gpu1, 1e-9);
    assert_close(m.decode_energy_j, gpu0 + gpu1, 1e-9);
    fm_run_metrics_free(&m);
}

/* A GPU with no power data at all: energies unavailable (NAN), never 0;
 * no markers: phase energies unavailable; no tokens: per-token NAN. */
static void test_missing_everything(void **state)
{
    fixture *f = *state;
    fm_run run;
    fm_run_init(&run);
    run.gpus = 1;
    fm_error err = {0};
    assert_int_equal(fm_store_run_begin(f->st, &run, &err), FM_OK);
    for (int i = 0; i < 40; i++) {
        fm_sample s;
        fm_sample_clear(&s, i * 25 * MS);
        s.valid = FM_F_TEMP;
        s.temp_c = 40;
        assert_int_equal(fm_store_add_sample(f->st, run.id, 0, &s, &err), FM_OK);
    }
    fm_run_metrics m;
    assert_int_equal(fm_metrics_compute(f->st, run.id, NULL, &m, &err), FM_OK);
    const fm_gpu_metrics *g = &m.gpu[0];
    assert_true(isnan(g->energy_j) && isnan(g->energy_instant_j) && isnan(g->energy_counter_j));
    assert_int_equal(g->energy_source, FM_SRC_NONE);
    assert_true(isnan(g->peak_power_w) && isnan(g->power_cv) && isnan(g->sensor_period_s));
    assert_int_equal(g->missing_power_samples, 40);
    assert_int_equal(g->thermal_throttled, -1);
    assert_true(isnan(g->throttled_s));
    assert_close(g->temp_avg_c, 40, 0);
    assert_true(isnan(m.total_energy_j) && isnan(m.avg_power_w) && isnan(m.peak_power_w));
    assert_true(isnan(m.prefill_energy_j) && isnan(m.decode_energy_j));
    assert_string_equal(m.phase_source, "none");
    assert_int_equal(m.tokens, -1);
    assert_true(isnan(m.joules_per_token) && isnan(m.wh_per_1k_queries));
    fm_run_metrics_free(&m);
    assert_int_equal(fm_metrics_compute(f->st, 999999, NULL, &m, &err), FM_ERR_NOT_FOUND);
}

/* A counter that resets mid-run (driver reload): the backward step is
 * skipped and counted, the rest summed. */
static void test_counter_reset(void **state)
{
    fixture *f = *state;
    fm_run run;
    fm_run_init(&run);
    run.gpus = 1;
    fm_error err = {0};
    assert_int_equal(fm_store_run_begin(f->st, &run, &err), FM_OK);
    const double counter[] = {100.0, 110.0, 120.0, 3.0, 13.0, 23.0};
    for (int i = 0; i < 6; i++) {
        fm_sample s;
        fm_sample_clear(&s, i * 100 * MS);
        s.valid = FM_F_ENERGY;
        s.energy_j = counter[i];
        assert_int_equal(fm_store_add_sample(f->st, run.id, 0, &s, &err), FM_OK);
    }
    fm_run_metrics m;
    assert_int_equal(fm_metrics_compute(f->st, run.id, NULL, &m, &err), FM_OK);
    assert_close(m.gpu[0].energy_counter_j, 40.0, 1e-12);
    assert_int_equal(m.gpu[0].counter_resets, 1);
    fm_run_metrics_free(&m);
}

static void test_power_derivatives_and_ramps(void **state)
{
    (void)state;
    gpu_plan plan = {0};
    fm_series p;
    fm_series_init(&p);
    for (int i = 0; i < TICKS; i++)
        fm_series_push(&p, (int64_t)i * 25 * MS, gpu_power_w(&plan, i / 4));
    fm_series d;
    double resolution_s;
    assert_int_equal(fm_power_derivatives(&p, &d, &resolution_s), FM_OK);
    assert_close(resolution_s, 0.1, 1e-12);
    assert_int_equal(d.n, PERIODS - 1); /* one slope per update, none per repeated poll */
    /* The step 103 W (1.9 s) -> 500 W (2.0 s): 3970 W/s stamped at 2.0 s. */
    assert_int_equal(d.t_ns[19], 2000 * MS);
    assert_close(d.v[19], 3970.0, 1e-9);
    fm_series_free(&d);

    fm_ramp_extremes r;
    assert_int_equal(fm_power_ramp_extremes(&p, 0, &r), FM_OK);
    assert_int_equal(r.window_ns, 200 * MS);        /* 2 sensor periods */
    assert_close(r.max_rise_w_per_s, 2000.0, 1e-9); /* +400 W over 0.2 s */
    assert_int_equal(r.rise_at_ns, 1800 * MS);
    assert_close(r.max_fall_w_per_s, -1000.0, 1e-9); /* -200 W over 0.2 s */
    assert_int_equal(r.fall_at_ns, 4800 * MS);
    /* A window longer than the data: nothing to say. */
    assert_int_equal(fm_power_ramp_extremes(&p, 20000 * MS, &r), FM_OK);
    assert_true(isnan(r.max_rise_w_per_s));
    fm_series_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_gpu_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_gpus_aggregate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marker_windows_requests_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_reset, setup, teardown),
        cmocka_unit_test(test_power_derivatives_and_ramps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
