/* Exact tests of fm_record_run with the deterministic test backend
 * (tests/support/testbackend.h): deadlines exact in virtual time, the
 * stored energy counter equal to the analytic integral, slow fields only on
 * the sub-grid, a GPU lost mid-run while the other keeps recording, and a
 * real child (real time) that writes markers and tokens to the inherited
 * pipe, with pre-/post-roll and its exit code propagated. */
#include "firmus/record.h"
#include "firmus/store.h"
#include "testbackend.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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
    if (f->sensor.state)
        testbe_close(f->sensor.state);
    fmt_rmtree(f->dir);
    free(f);
    return 0;
}

/* Opens the test backend as a caller-owned sensor. */
static void open_testbe(fixture *f, int gpus, int real_time, int lose_gpu1_after_ms)
{
    fm_backend_options bo = {0};
    bo.sim_gpus = gpus;
    bo.sim_real_time = real_time;
    bo.sim_seed = (uint64_t)lose_gpu1_after_ms;
    f->sensor.ops = &testbe_ops;
    fm_error err = {0};
    assert_int_equal(testbe_open(&bo, &f->sensor.state, &err), FM_OK);
}

static void base_options(fixture *f, fm_record_options *o)
{
    fm_record_options_default(o);
    o->sensor = &f->sensor;
    o->db_path = f->db;
    o->name = "t";
}

static void load_samples(fixture *f, int64_t run_id, int gpu, fm_sample **out, size_t *n)
{
    fm_store *st = NULL;
    fm_error err = {0};
    assert_int_equal(fm_store_open(f->db, &st, &err), FM_OK);
    int rc = fm_store_load_samples(st, run_id, gpu, out, n, &err);
    if (rc != FM_OK)
        print_error("load samples: %s\n", err.msg);
    assert_int_equal(rc, FM_OK);
    fm_store_close(st);
}

static void load_markers(fixture *f, int64_t run_id, fm_marker **out, size_t *n)
{
    fm_store *st = NULL;
    fm_error err = {0};
    assert_int_equal(fm_store_open(f->db, &st, &err), FM_OK);
    assert_int_equal(fm_store_load_markers(st, run_id, out, n, &err), FM_OK);
    fm_store_close(st);
}

static void get_run(fixture *f, int64_t run_id, fm_run *run)
{
    fm_store *st = NULL;
    fm_error err = {0};
    assert_int_equal(fm_store_open(f->db, &st, &err), FM_OK);
    assert_int_equal(fm_store_get_run(st, run_id, run, &err), FM_OK);
    fm_store_close(st);
}

static void run_ok(const fm_record_options *o, fm_record_result *res)
{
    fm_error err = {0};
    int rc = fm_record_run(o, res, &err);
    if (rc != FM_OK)
        print_error("fm_record_run: %s\n", err.msg);
    assert_int_equal(rc, FM_OK);
    assert_true(res->run_id > 0);
}

static void test_virtual_deadlines_exact(void **state)
{
    fixture *f = *state;
    open_testbe(f, 2, 0, 0);
    fm_record_options o;
    base_options(f, &o);
    o.duration_s = 10.0;
    o.interval_ms = 25.0;
    fm_record_result res;
    run_ok(&o, &res);

    assert_int_equal(res.virtual_time, 1);
    assert_int_equal(res.ticks, 401); /* 0, 25 ms, ..., 10 s */
    assert_int_equal(res.missed_ticks, 0);
    assert_int_equal(res.samples, 802);
    assert_true(fabs(res.achieved_interval_ms - 25.0) < 1e-9);
    assert_true(res.jitter_max_us == 0.0);
    assert_true(fabs(res.duration_s - 10.0) < 1e-9);

    fm_run run;
    get_run(f, res.run_id, &run);
    assert_int_equal(run.status, FM_RUN_COMPLETE);
    assert_int_equal(run.gpus, 2);
    assert_int_equal(run.t0_ns, 0);
    for (int gpu = 0; gpu < 2; gpu++) {
        fm_sample *s = NULL;
        size_t n = 0;
        load_samples(f, res.run_id, gpu, &s, &n);
        assert_int_equal(n, 401);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(s[k].t_ns, run.t0_ns + (int64_t)k * 25000000);
        free(s);
    }
}

static void test_energy_counter_is_exact(void **state)
{
    fixture *f = *state;
    open_testbe(f, 2, 0, 0);
    fm_record_options o;
    base_options(f, &o);
    o.duration_s = 12.0;
    o.energy_interval_ms = 300; /* the final tick (12 s) is off this grid: read anyway */
    fm_record_result res;
    run_ok(&o, &res);

    double total_j = 0;
    for (int gpu = 0; gpu < 2; gpu++) {
        fm_sample *s = NULL;
        size_t n = 0;
        load_samples(f, res.run_id, gpu, &s, &n);
        assert_int_equal(n, 481);
        assert_true(s[0].valid & FM_F_ENERGY);
        assert_true(s[n - 1].valid & FM_F_ENERGY);
        assert_false(s[n - 2].valid & FM_F_ENERGY);
        double t_first = (double)s[0].t_ns / 1e9, t_last = (double)s[n - 1].t_ns / 1e9;
        double truth_j = testbe_energy_j(gpu, t_last) - testbe_energy_j(gpu, t_first);
        double stored_j = s[n - 1].energy_j - s[0].energy_j;
        /* The store keeps the counter; a mJ is the counter's resolution. */
        assert_true(fabs(stored_j - truth_j) < 1e-3);
        /* Instant power at a tick is P(t). */
        assert_true(fabs(s[7].power_instant_w - testbe_power_w(gpu, (double)s[7].t_ns / 1e9)) <
                    1e-6);
        total_j += truth_j;
        free(s);
    }
    /* The running estimate in the result agrees as well. */
    assert_true(fmt_rel_err(res.energy_j, total_j) < 1e-9);
}

/* 10 ms ticks, slow fields every 100 ms: fields only on every 10th tick. */
static void test_slow_fields_on_subgrid(void **state)
{
    fixture *f = *state;
    open_testbe(f, 1, 0, 0);
    fm_record_options o;
    base_options(f, &o);
    o.duration_s = 2.0;
    o.interval_ms = 10.0;
    o.slow_interval_ms = 100.0;
    fm_record_result res;
    run_ok(&o, &res);
    assert_int_equal(res.ticks, 201);

    fm_sample *s = NULL;
    size_t n = 0;
    load_samples(f, res.run_id, 0, &s, &n);
    assert_int_equal(n, 201);
    size_t slow = 0;
    for (size_t k = 0; k < n; k++) {
        int want_slow = k % 10 == 0;
        assert_int_equal((s[k].valid & FM_F_TEMP) != 0, want_slow);
        assert_int_equal((s[k].valid & FM_F_SM_CLOCK) != 0, want_slow);
        assert_true((s[k].valid & FM_F_POWER_INSTANT) && (s[k].valid & FM_F_POWER_AVG));
        /* The energy counter is on its own 100 ms sub-grid too (it only
         * changes every 100 ms on H100/H200 and costs ms to read). */
        assert_int_equal((s[k].valid & FM_F_ENERGY) != 0, k % 10 == 0);
        if (want_slow) {
            assert_true(fabs(s[k].temp_c - 40.0) < 1e-9);
            slow++;
        } else {
            assert_true(isnan(s[k].temp_c)); /* missing, never 0 */
        }
    }
    assert_int_equal(slow, 21);
    free(s);
    /* The backend was asked for slow fields exactly on those ticks. */
    assert_int_equal(f->sensor.state->slow_reads[0], 21);
    assert_int_equal(f->sensor.state->fast_reads[0], 201);
}

static void test_gpu_lost_others_continue(void **state)
{
    fixture *f = *state;
    open_testbe(f, 2, 0, 3000);
    fm_record_options o;
    base_options(f, &o);
    o.duration_s = 10.0;
    fm_record_result res;
    run_ok(&o, &res);
    assert_int_equal(res.gpus_lost, 1);
    assert_int_equal(res.gpus_lost_mask, 2);

    fm_sample *s0 = NULL, *s1 = NULL;
    size_t n0 = 0, n1 = 0;
    load_samples(f, res.run_id, 0, &s0, &n0);
    load_samples(f, res.run_id, 1, &s1, &n1);
    assert_int_equal(n0, 401);
    assert_int_equal(n1, 120); /* t = 0 .. 2.975 s */
    assert_int_equal(s1[n1 - 1].t_ns, 2975000000LL);
    assert_int_equal(s0[n0 - 1].t_ns, 10000000000LL);
    free(s0);
    free(s1);

    fm_marker *m = NULL;
    size_t nm = 0;
    load_markers(f, res.run_id, &m, &nm);
    int found = 0;
    for (size_t i = 0; i < nm; i++)
        if (!strcmp(m[i].name, "gpu_lost")) {
            assert_int_equal(m[i].gpu, 1);
            assert_int_equal(m[i].t_ns, 3000000000LL);
            found = 1;
        }
    assert_true(found);
    free(m);

    fm_store *st = NULL;
    fm_error err = {0};
    char buf[256];
    assert_int_equal(fm_store_open(f->db, &st, &err), FM_OK);
    assert_int_equal(fm_store_get_meta(st, res.run_id, "record.gpus_lost", buf, sizeof buf, &err),
                     FM_OK);
    assert_string_equal(buf, "1");
    fm_store_close(st);
}

/* Real time: a child writes markers to the inherited pipe. */
static void test_child_markers_and_exit_code(void **state)
{
    fixture *f = *state;
    open_testbe(f, 1, 1, 0);
    fm_record_options o;
    base_options(f, &o);
    o.preroll_s = 0.3;
    o.postroll_s = 0.3;
    o.interval_ms = 10;
    char *argv[] = {"sh", "-c",
                    "echo 'start prefill' >&$FIRMUS_MARK_FD; sleep 0.1;"
                    "echo 'end prefill' >&$FIRMUS_MARK_FD;"
                    "echo 'start decode' >&$FIRMUS_MARK_FD;"
                    "echo 'tokens 32' >&$FIRMUS_MARK_FD; echo 'this is junk' >&$FIRMUS_MARK_FD;"
                    "sleep 0.1; echo 'end decode tokens=96' >&$FIRMUS_MARK_FD;"
                    "test -n \"$FIRMUS_MARK_SOCKET\" && test -S \"$FIRMUS_MARK_SOCKET\" || exit 9;"
                    "exit 7",
                    NULL};
    o.command = argv;
    fm_record_result res;
    run_ok(&o, &res);
    assert_int_equal(res.child_exit_code, 7);
    assert_int_equal(res.tokens, 128);
    assert_int_equal(res.markers_malformed, 1);
    assert_int_equal(res.virtual_time, 0);

    fm_marker *m = NULL;
    size_t nm = 0;
    load_markers(f, res.run_id, &m, &nm);
    const char *want[][2] = {{"mark", "command_start"}, {"start", "prefill"}, {"end", "prefill"},
                             {"start", "decode"},       {"tokens", "tokens"}, {"end", "decode"},
                             {"mark", "command_end"}};
    assert_int_equal(nm, 7);
    for (size_t i = 0; i < nm; i++) {
        assert_string_equal(m[i].kind, want[i][0]);
        assert_string_equal(m[i].name, want[i][1]);
        if (i > 0)
            assert_true(m[i].t_ns >= m[i - 1].t_ns);
    }
    /* The prefill lasted about the child's 0.1 s sleep (stamped on receipt:
     * within a tick or two of 10 ms). */
    double prefill_s = (double)(m[2].t_ns - m[1].t_ns) / 1e9;
    assert_true(prefill_s > 0.08 && prefill_s < 1.0);

    fm_run run;
    get_run(f, res.run_id, &run);
    assert_int_equal(run.exit_code, 7);
    assert_int_equal(run.tokens, 128);
    /* Pre-roll before the command started and post-roll after it ended. */
    fm_sample *s = NULL;
    size_t n = 0;
    load_samples(f, res.run_id, 0, &s, &n);
    assert_true(n > 10);
    assert_true(m[0].t_ns - run.t0_ns >= 300000000); /* started at the first tick >= 0.3 s */
    assert_true(s[0].t_ns < m[0].t_ns - 200000000);
    assert_true(s[n - 1].t_ns - m[6].t_ns >= 300000000);
    free(s);
    free(m);
}

/* on_start: sends marker lines to the run's socket before the first tick. */
static void send_markers(void *ctx, int64_t run_id, const char *socket_path)
{
    (void)run_id;
    const char *lines = ctx;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path);
    ssize_t n = sendto(fd, lines, strlen(lines), 0, (struct sockaddr *)&addr, sizeof addr);
    close(fd);
    assert_int_equal(n, (ssize_t)strlen(lines));
}

/* Tokens: the sum of the markers' token counts, unless --tokens is given;
 * in virtual time a writer's t_ns is replaced by the receipt time. */
static void test_tokens_from_markers_or_option(void **state)
{
    fixture *f = *state;
    open_testbe(f, 1, 0, 0);
    char lines[] = "start decode t_ns=123456789\ntokens 7\nend decode tokens=5\nnonsense\n";
    for (int with_option = 0; with_option < 2; with_option++) {
        fm_record_options o;
        base_options(f, &o);
        o.duration_s = 1.0;
        o.on_start = send_markers;
        o.on_start_ctx = lines;
        o.tokens = with_option ? 1000 : -1;
        fm_record_result res;
        run_ok(&o, &res);
        assert_int_equal(res.markers, 3);
        assert_int_equal(res.markers_malformed, 1);
        assert_int_equal(res.tokens, with_option ? 1000 : 12);
        fm_run run;
        get_run(f, res.run_id, &run);
        assert_int_equal(run.tokens, with_option ? 1000 : 12);
        fm_marker *m = NULL;
        size_t nm = 0;
        load_markers(f, res.run_id, &m, &nm);
        assert_int_equal(nm, 3);
        assert_int_equal(m[0].t_ns, run.t0_ns); /* read on tick 0, virtual time */
        free(m);
        fm_store *st = NULL;
        fm_error err = {0};
        char buf[64];
        assert_int_equal(fm_store_open(f->db, &st, &err), FM_OK);
        assert_int_equal(
            fm_store_get_meta(st, res.run_id, "record.tokens_source", buf, sizeof buf, &err),
            FM_OK);
        assert_string_equal(buf, with_option ? "option" : "markers");
        fm_store_close(st);
    }
}

static void test_bad_options(void **state)
{
    fixture *f = *state;
    open_testbe(f, 2, 0, 0);
    fm_record_options o;
    fm_record_result res;
    fm_error err = {0};

    base_options(f, &o);
    o.duration_s = 1;
    int gpus[] = {0, 5};
    o.gpus = gpus;
    o.gpu_count = 2;
    assert_int_equal(fm_record_run(&o, &res, &err), FM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "GPU 5"));

    base_options(f, &o);
    o.duration_s = 0; /* virtual time needs a duration */
    assert_int_equal(fm_record_run(&o, &res, &err), FM_ERR_USAGE);

    base_options(f, &o);
    o.interval_ms = 0.5;
    assert_int_equal(fm_record_run(&o, &res, &err), FM_ERR_USAGE);

    base_options(f, &o);
    char *argv[] = {"/nonexistent/firmus-no-such-command", NULL};
    o.command = argv;
    assert_int_equal(fm_record_run(&o, &res, &err), FM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "firmus-no-such-command"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_virtual_deadlines_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_energy_counter_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_fields_on_subgrid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpu_lost_others_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_markers_and_exit_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_from_markers_or_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
