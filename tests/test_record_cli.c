/* End-to-end tests of `firmus record` and `firmus mark` (the binary named
 * by FIRMUS_BIN), checked through the store API:
 *   - SIGKILL mid-run: the run reads as incomplete, samples reach to within
 *     1 s of the kill, the database passes PRAGMA integrity_check, metrics
 *     are computable;
 *   - a real child writing markers and tokens through `firmus mark` (pipe
 *     and socket) and raw writes to the pipe: order, timestamps, tokens sum,
 *     exit code propagated, pre-/post-roll present;
 *   - SIGTERM to firmus is forwarded to the child;
 *   - SIGINT without a command ends the recording cleanly (exit 0, complete);
 *     a marker sent by an unrelated process to --mark-socket is stored.
 * Real time, a few seconds each. */
#include "firmus/metrics.h"
#include "firmus/store.h"
#include "testutil.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct fixture {
    char *dir;
    char db[600];
    const char *bin;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->bin = fmt_env("FIRMUS_BIN");
    f->dir = fmt_tmpdir();
    snprintf(f->db, sizeof f->db, "%s/runs.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fmt_rmtree(f->dir);
    free(f);
    return 0;
}

static int64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Starts firmus with argv (argv[0] ignored) and FIRMUS_BIN in its env. */
static pid_t start_firmus(fixture *f, char **argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        argv[0] = (char *)f->bin;
        setenv("FIRMUS_BIN", f->bin, 1);
        setenv("TESTDIR", f->dir, 1);
        unsetenv("FIRMUS_MARK_FD");
        unsetenv("FIRMUS_MARK_SOCKET");
        execv(f->bin, argv);
        _exit(126);
    }
    return pid;
}

static int wait_exit_code(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static int wait_for_file(const char *path, int timeout_ms)
{
    struct stat st;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (stat(path, &st) == 0)
            return 0;
        fmt_sleep_ms(20);
    }
    return -1;
}

static void find_last_run(fixture *f, fm_store **st, fm_run *run)
{
    fm_error err = {0};
    assert_int_equal(fm_store_open(f->db, st, &err), FM_OK);
    int rc = fm_store_find_run(*st, "last", run, &err);
    if (rc != FM_OK)
        print_error("find run: %s\n", err.msg);
    assert_int_equal(rc, FM_OK);
}

static void assert_integrity_ok(const char *db)
{
    sqlite3 *s = NULL;
    assert_int_equal(sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(s, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(s);
}

static void test_sigkill_loses_at_most_a_second(void **state)
{
    fixture *f = *state;
    if (!f->bin)
        skip();
    char *argv[] = {"firmus", "record",          "--backend",  "sim",    "--sim-gpus",
                    "2",      "--sim-real-time", "--duration", "30",     "--db",
                    f->db,    "--quiet",         "--name",     "killed", NULL};
    pid_t pid = start_firmus(f, argv);
    fmt_sleep_ms(3000);
    int64_t kill_wall_ns = now_ns(CLOCK_REALTIME);
    kill(pid, SIGKILL);
    assert_int_equal(wait_exit_code(pid), 128 + SIGKILL);

    assert_integrity_ok(f->db);
    fm_store *st = NULL;
    fm_run run;
    find_last_run(f, &st, &run);
    assert_string_equal(run.name, "killed");
    assert_int_equal(run.status, FM_RUN_INCOMPLETE);
    /* Time from t0 to the kill, on the wall clock anchored at t0. */
    double recorded_for_s = (double)(kill_wall_ns - run.start_wall_ns) / 1e9;
    assert_true(recorded_for_s > 0.5 && recorded_for_s < 3.1);
    fm_error err = {0};
    for (int gpu = 0; gpu < 2; gpu++) {
        fm_sample *s = NULL;
        size_t n = 0;
        assert_int_equal(fm_store_load_samples(st, run.id, gpu, &s, &n, &err), FM_OK);
        assert_true(n > 0);
        double last_s = (double)(s[n - 1].t_ns - run.t0_ns) / 1e9;
        if (last_s < recorded_for_s - 1.0)
            print_error("gpu %d: last sample %.3f s, killed at %.3f s\n", gpu, last_s,
                        recorded_for_s);
        assert_true(last_s >= recorded_for_s - 1.0);
        for (size_t i = 1; i < n; i++)
            assert_true(s[i].t_ns > s[i - 1].t_ns);
        assert_true((s[n - 1].valid & FM_F_POWER_INSTANT) != 0);
        free(s);
    }
    fm_run_metrics m;
    fm_metrics_options mopt = {.tokens_per_query = 100, .tokens_override = -1};
    int rc = fm_metrics_compute(st, run.id, &mopt, &m, &err);
    if (rc != FM_OK)
        print_error("metrics: %s\n", err.msg);
    assert_int_equal(rc, FM_OK);
    assert_true(m.total_energy_j > 0);
    fm_run_metrics_free(&m);
    fm_store_close(st);
}

static void test_child_markers_tokens_exit_code(void **state)
{
    fixture *f = *state;
    if (!f->bin)
        skip();
    char *argv[] = {"firmus",
                    "record",
                    "--backend",
                    "sim",
                    "--db",
                    f->db,
                    "--quiet",
                    "--interval",
                    "10",
                    "--preroll",
                    "0.5",
                    "--postroll",
                    "0.5",
                    "--",
                    "sh",
                    "-c",
                    "\"$FIRMUS_BIN\" mark prefill --start && sleep 0.3 &&"
                    " \"$FIRMUS_BIN\" mark prefill --end &&"
                    " echo 'start decode' >&$FIRMUS_MARK_FD && sleep 0.05 &&"
                    " \"$FIRMUS_BIN\" mark --tokens 32 &&"
                    " env -u FIRMUS_MARK_FD \"$FIRMUS_BIN\" mark --tokens 8 &&"
                    " echo 'end decode tokens=88' >&$FIRMUS_MARK_FD &&"
                    " echo 'bogus line' >&$FIRMUS_MARK_FD; exit 7",
                    NULL};
    pid_t pid = start_firmus(f, argv);
    assert_int_equal(wait_exit_code(pid), 7);

    fm_store *st = NULL;
    fm_run run;
    find_last_run(f, &st, &run);
    assert_int_equal(run.status, FM_RUN_COMPLETE);
    assert_int_equal(run.exit_code, 7);
    assert_int_equal(run.tokens, 128);

    /* Raw echo lines are stamped on receipt (up to a tick late), so the
     * script leaves a pause after one before the next timed marker. */
    fm_error err = {0};
    fm_marker *m = NULL;
    size_t nm = 0;
    assert_int_equal(fm_store_load_markers(st, run.id, &m, &nm, &err), FM_OK);
    const char *want[][2] = {{"mark", "command_start"}, {"start", "prefill"},
                             {"end", "prefill"},        {"start", "decode"},
                             {"tokens", "tokens"},      {"tokens", "tokens"},
                             {"end", "decode"},         {"mark", "command_end"}};
    assert_int_equal(nm, 8);
    for (size_t i = 0; i < nm; i++) {
        assert_string_equal(m[i].kind, want[i][0]);
        assert_string_equal(m[i].name, want[i][1]);
    }
    /* firmus mark stamps its own CLOCK_MONOTONIC time: prefill spans the
     * 0.3 s sleep plus one `firmus mark` start-up. */
    double prefill_s = (double)(m[2].t_ns - m[1].t_ns) / 1e9;
    assert_true(prefill_s >= 0.3 && prefill_s < 1.5);

    char buf[64];
    assert_int_equal(
        fm_store_get_meta(st, run.id, "record.markers_malformed", buf, sizeof buf, &err), FM_OK);
    assert_string_equal(buf, "1");

    fm_sample *s = NULL;
    size_t n = 0;
    assert_int_equal(fm_store_load_samples(st, run.id, 0, &s, &n, &err), FM_OK);
    assert_true(n > 50);
    assert_true(m[0].t_ns - run.t0_ns >= 500000000);     /* pre-roll */
    assert_true(s[0].t_ns < m[0].t_ns - 400000000);      /* sampled during it */
    assert_true(s[n - 1].t_ns - m[7].t_ns >= 500000000); /* post-roll */
    free(s);
    free(m);
    fm_store_close(st);
}

static void test_sigterm_forwarded_to_child(void **state)
{
    fixture *f = *state;
    if (!f->bin)
        skip();
    char ready[700], got[700];
    snprintf(ready, sizeof ready, "%s/ready", f->dir);
    snprintf(got, sizeof got, "%s/got_term", f->dir);
    char *argv[] = {"firmus",
                    "record",
                    "--backend",
                    "sim",
                    "--db",
                    f->db,
                    "--quiet",
                    "--preroll",
                    "0.2",
                    "--postroll",
                    "0.2",
                    "--",
                    "sh",
                    "-c",
                    "trap 'echo term > \"$TESTDIR/got_term\"; exit 42' TERM;"
                    " echo > \"$TESTDIR/ready\"; while :; do sleep 0.05; done",
                    NULL};
    pid_t pid = start_firmus(f, argv);
    assert_int_equal(wait_for_file(ready, 10000), 0);
    kill(pid, SIGTERM);
    assert_int_equal(wait_exit_code(pid), 42);
    assert_int_equal(wait_for_file(got, 1000), 0);

    fm_store *st = NULL;
    fm_run run;
    find_last_run(f, &st, &run);
    assert_int_equal(run.status, FM_RUN_COMPLETE);
    assert_int_equal(run.exit_code, 42);
    fm_store_close(st);
}

static void test_sigint_without_command_finishes(void **state)
{
    fixture *f = *state;
    if (!f->bin)
        skip();
    char sock[700];
    snprintf(sock, sizeof sock, "%s/m.sock", f->dir);
    char *argv[] = {"firmus",          "record", "--backend", "sim",
                    "--sim-real-time", "--db",   f->db,       "--quiet",
                    "--mark-socket",   sock,     NULL};
    pid_t pid = start_firmus(f, argv);
    assert_int_equal(wait_for_file(sock, 5000), 0);
    /* Another process (not a child) sends a marker to the named socket. */
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "env -u FIRMUS_MARK_FD FIRMUS_MARK_SOCKET='%s' '%s' mark warm --tokens 5", sock,
             f->bin);
    assert_int_equal(system(cmd), 0);
    fmt_sleep_ms(1000);
    kill(pid, SIGINT);
    assert_int_equal(wait_exit_code(pid), 0);
    fm_store *st = NULL;
    fm_run run;
    find_last_run(f, &st, &run);
    assert_int_equal(run.status, FM_RUN_COMPLETE);
    fm_error err = {0};
    char buf[64];
    assert_int_equal(
        fm_store_get_meta(st, run.id, "record.stopped_by_signal", buf, sizeof buf, &err), FM_OK);
    assert_int_equal(atoi(buf), SIGINT);
    assert_int_equal(run.tokens, 5);
    fm_sample *s = NULL;
    size_t n = 0;
    assert_int_equal(fm_store_load_samples(st, run.id, 0, &s, &n, &err), FM_OK);
    assert_true(n > 10);
    free(s);
    fm_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigkill_loses_at_most_a_second, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_markers_tokens_exit_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_forwarded_to_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigint_without_command_finishes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
