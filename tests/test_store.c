/* The run store against what was written: a full round trip (NULL stays
 * NULL / NAN, never 0), batch commits visible to a second connection
 * within a second without an explicit flush, a second writer process on
 * the same database, a SIGKILLed writer's run reading as INCOMPLETE with
 * its committed samples intact, and clear errors for bad database paths. */
#include "testutil.h"

#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "firmus/store.h"

#define MS 1000000LL

typedef struct fixture {
    char *dir;
    char path[600];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = fmt_tmpdir();
    if (!f->dir)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/runs.db", f->dir);
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

static fm_store *open_or_fail(const char *path)
{
    fm_store *st = NULL;
    fm_error err = {0};
    int rc = fm_store_open(path, &st, &err);
    if (rc)
        fail_msg("open %s: %s", path, err.msg);
    return st;
}

static int64_t begin_run(fm_store *st, const char *name, int gpus)
{
    fm_run run;
    fm_run_init(&run);
    snprintf(run.name, sizeof run.name, "%s", name);
    snprintf(run.model, sizeof run.model, "Qwen3-32B");
    snprintf(run.backend, sizeof run.backend, "sim");
    snprintf(run.source, sizeof run.source, "record");
    run.params = 32e9;
    run.gpus = gpus;
    run.interval_ms = 25;
    run.start_wall_ns = 1700000000LL * 1000000000LL;
    run.t0_ns = 5 * MS;
    fm_error err = {0};
    if (fm_store_run_begin(st, &run, &err))
        fail_msg("run_begin: %s", err.msg);
    return run.id;
}

/* A sample with every field valid, values derived from k. */
static fm_sample full_sample(int64_t t_ns, int k)
{
    fm_sample s;
    fm_sample_clear(&s, t_ns);
    s.valid = FM_F_ALL;
    s.power_instant_w = 100.0 + k;
    s.power_avg_w = 90.0 + k;
    s.energy_j = 1000.0 + 0.001 * k; /* mJ steps */
    s.temp_c = 40.5;
    s.sm_clock_mhz = 1980;
    s.util_pct = 97;
    s.mem_used_bytes = 80ull << 30;
    s.clock_events = FM_CLOCK_EVENT_SW_POWER_CAP;
    return s;
}

static void add_or_fail(fm_store *st, int64_t run_id, int gpu, const fm_sample *s)
{
    fm_error err = {0};
    if (fm_store_add_sample(st, run_id, gpu, s, &err))
        fail_msg("add_sample: %s", err.msg);
}

/* Counts rows of an SQL query's single integer answer, on its own connection. */
static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    fm_store *st = open_or_fail(f->path);
    fm_error err = {0};
    int64_t id = begin_run(st, "rt", 2);

    fm_device_info dev = {.index = 3,
                          .power_limit_w = 700,
                          .idle_power_w = NAN,
                          .supported = FM_F_POWER_INSTANT | FM_F_ENERGY | FM_F_TEMP};
    snprintf(dev.name, sizeof dev.name, "NVIDIA H200");
    snprintf(dev.arch, sizeof dev.arch, "hopper");
    snprintf(dev.power_instant_source, sizeof dev.power_instant_source,
             "nvmlDeviceGetFieldValues(186)");
    fm_backend_info bi = {0};
    snprintf(bi.backend, sizeof bi.backend, "nvml");
    snprintf(bi.driver_version, sizeof bi.driver_version, "550.54.15");
    snprintf(bi.nvml_version, sizeof bi.nvml_version, "12.550.54.15");
    assert_int_equal(fm_store_add_device(st, id, 0, &dev, &bi, &err), FM_OK);
    dev.index = 5;
    assert_int_equal(fm_store_add_device(st, id, 1, &dev, &bi, &err), FM_OK);

    /* GPU 0: all valid; sample 1 has power missing; sample 2 has a valid
     * 0 W reading (a real zero must stay a zero). GPU 1: only energy. */
    for (int k = 0; k < 4; k++) {
        fm_sample s = full_sample(5 * MS + k * 25 * MS, k);
        if (k == 1)
            s.valid &= ~(uint32_t)(FM_F_POWER_INSTANT | FM_F_POWER_AVG | FM_F_CLOCK_EVENTS);
        if (k == 2)
            s.power_instant_w = 0.0;
        add_or_fail(st, id, 0, &s);
        fm_sample e;
        fm_sample_clear(&e, 6 * MS + k * 25 * MS);
        e.valid = FM_F_ENERGY;
        e.energy_j = 500.0 + k;
        add_or_fail(st, id, 1, &e);
    }
    fm_marker m;
    fm_marker_init(&m, 30 * MS); /* nothing known: -1, -1, all GPUs, NAN */
    assert_true(m.t_ns == 30 * MS && m.tokens == -1 && m.request == -1 && m.gpu == -1);
    assert_true(isnan(m.energy_j) && m.kind[0] == '\0' && m.name[0] == '\0');
    m.request = 7;
    snprintf(m.kind, sizeof m.kind, "start");
    snprintf(m.name, sizeof m.name, "prefill");
    assert_int_equal(fm_store_add_marker(st, id, &m, &err), FM_OK);
    fm_marker tok = {.t_ns = 80 * MS, .tokens = 42, .request = -1, .gpu = 1, .energy_j = 3.5};
    snprintf(tok.kind, sizeof tok.kind, "tokens");
    assert_int_equal(fm_store_add_marker(st, id, &tok, &err), FM_OK);
    assert_int_equal(fm_store_set_meta(st, id, "interval.jitter_p99_us", "41.5", &err), FM_OK);
    assert_int_equal(fm_store_set_meta(st, id, "interval.jitter_p99_us", "42.5", &err), FM_OK);

    /* Samples, read back. */
    fm_sample *got;
    size_t n;
    assert_int_equal(fm_store_load_samples(st, id, 0, &got, &n, &err), FM_OK);
    assert_int_equal(n, 4);
    assert_int_equal(got[0].valid, FM_F_ALL);
    assert_true(got[0].power_instant_w == 100.0 && got[0].energy_j == 1000.0);
    assert_true(got[0].mem_used_bytes == 80ull << 30);
    assert_true(got[0].clock_events == FM_CLOCK_EVENT_SW_POWER_CAP);
    assert_false(got[1].valid & (FM_F_POWER_INSTANT | FM_F_POWER_AVG | FM_F_CLOCK_EVENTS));
    assert_true(isnan(got[1].power_instant_w) && isnan(got[1].power_avg_w));
    assert_true(got[2].valid & FM_F_POWER_INSTANT);
    assert_true(got[2].power_instant_w == 0.0);
    assert_int_equal(got[3].t_ns, 5 * MS + 75 * MS);
    free(got);

    fm_series ser;
    assert_int_equal(fm_store_load_series(st, id, 1, FM_F_POWER_INSTANT, &ser, &err), FM_OK);
    assert_int_equal(ser.n, 4);
    for (size_t i = 0; i < ser.n; i++)
        assert_true(isnan(ser.v[i]));
    fm_series_free(&ser);
    assert_int_equal(fm_store_load_series(st, id, 1, FM_F_ENERGY, &ser, &err), FM_OK);
    assert_true(ser.n == 4 && ser.v[3] == 503.0 && ser.t_ns[0] == 6 * MS);
    fm_series_free(&ser);
    assert_int_equal(fm_store_load_series(st, id, 0, FM_F_POWER_ALL, &ser, &err), FM_ERR_USAGE);

    /* In the database itself: missing is NULL, never 0. */
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM samples WHERE run_id=%lld AND power_instant_w IS NULL",
             (long long)id);
    assert_int_equal(query_int(f->path, sql), 5); /* GPU 0 sample 1 + 4 of GPU 1 */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM samples WHERE run_id=%lld AND power_instant_w = 0",
             (long long)id);
    assert_int_equal(query_int(f->path, sql), 1); /* the one real zero */

    /* Devices, backend, markers, metadata. */
    fm_device_info *devs;
    assert_int_equal(fm_store_load_devices(st, id, &devs, &n, &err), FM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(devs[1].index, 5);
    assert_string_equal(devs[0].name, "NVIDIA H200");
    assert_true(devs[0].power_limit_w == 700 && isnan(devs[0].idle_power_w));
    assert_int_equal(devs[0].supported, FM_F_POWER_INSTANT | FM_F_ENERGY | FM_F_TEMP);
    free(devs);
    fm_backend_info bi2;
    assert_int_equal(fm_store_load_backend_info(st, id, &bi2, &err), FM_OK);
    assert_string_equal(bi2.driver_version, "550.54.15");
    fm_marker *marks;
    assert_int_equal(fm_store_load_markers(st, id, &marks, &n, &err), FM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(marks[0].name, "prefill");
    assert_true(marks[0].tokens == -1 && marks[0].request == 7 && marks[0].gpu == -1);
    assert_true(isnan(marks[0].energy_j));
    assert_true(marks[1].tokens == 42 && marks[1].gpu == 1 && marks[1].energy_j == 3.5);
    free(marks);
    char value[64];
    assert_int_equal(fm_store_get_meta(st, id, "interval.jitter_p99_us", value, sizeof value, &err),
                     FM_OK);
    assert_string_equal(value, "42.5");
    assert_int_equal(fm_store_get_meta(st, id, "nope", value, sizeof value, &err),
                     FM_ERR_NOT_FOUND);

    /* The run: RECORDING (we are alive), end_ns follows committed samples. */
    fm_run run;
    assert_int_equal(fm_store_find_run(st, "rt", &run, &err), FM_OK);
    assert_int_equal(run.id, id);
    assert_int_equal(run.status, FM_RUN_RECORDING);
    assert_int_equal(run.end_ns, 6 * MS + 75 * MS);
    assert_true(run.params == 32e9 && run.tokens == -1 && run.exit_code == -1);
    assert_true(run.interval_ms == 25 && run.gpus == 2);
    run.tokens = 1234;
    run.exit_code = 0;
    run.end_ns = 0; /* keep the last sample's time */
    assert_int_equal(fm_store_run_finish(st, &run, &err), FM_OK);

    int64_t id2 = begin_run(st, "", 1); /* unnamed: gets run-<id> */
    fm_run last;
    assert_int_equal(fm_store_find_run(st, "last", &last, &err), FM_OK);
    assert_int_equal(last.id, id2);
    char expect[32];
    snprintf(expect, sizeof expect, "run-%lld", (long long)id2);
    assert_string_equal(last.name, expect);
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%lld", (long long)id);
    assert_int_equal(fm_store_find_run(st, id_text, &run, &err), FM_OK);
    assert_int_equal(run.status, FM_RUN_COMPLETE);
    assert_true(run.tokens == 1234 && run.exit_code == 0 && run.end_ns == 81 * MS);
    assert_int_equal(fm_store_find_run(st, "no-such-run", &run, &err), FM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "no-such-run"));
    /* By numeric id: the same run; an id no run has is NOT_FOUND, named. */
    assert_int_equal(fm_store_get_run(st, id, &run, &err), FM_OK);
    assert_true(run.id == id && run.status == FM_RUN_COMPLETE && run.tokens == 1234);
    assert_int_equal(fm_store_get_run(st, id2 + 100, &run, &err), FM_ERR_NOT_FOUND);
    snprintf(expect, sizeof expect, "'%lld'", (long long)(id2 + 100));
    assert_non_null(strstr(err.msg, expect));

    fm_run *runs;
    assert_int_equal(fm_store_list_runs(st, &runs, &n, &err), FM_OK);
    assert_int_equal(n, 2);
    assert_true(runs[0].id == id2 && runs[1].id == id); /* newest first */
    free(runs);

    /* Out-of-order samples are accepted and read back in time order; a
     * second sample at the same time merges into the row (its valid
     * readings replace, its missing ones leave the stored values). */
    fm_sample late = full_sample(2 * MS, 9); /* before everything stored */
    late.valid = FM_F_ENERGY;
    add_or_fail(st, id, 0, &late);
    fm_sample same_time;
    fm_sample_clear(&same_time, 5 * MS); /* the time of GPU 0's first sample */
    same_time.valid = FM_F_POWER_AVG | FM_F_UTIL;
    same_time.power_avg_w = 321.0;
    same_time.util_pct = 12.0;
    add_or_fail(st, id, 0, &same_time);
    assert_int_equal(fm_store_load_samples(st, id, 0, &got, &n, &err), FM_OK);
    assert_int_equal(n, 5);
    assert_int_equal(got[0].t_ns, 2 * MS);
    assert_int_equal(got[0].valid, FM_F_ENERGY);
    assert_int_equal(got[1].t_ns, 5 * MS);
    assert_int_equal(got[1].valid, FM_F_ALL);
    assert_true(got[1].power_instant_w == 100.0 && got[1].power_avg_w == 321.0);
    assert_true(got[1].util_pct == 12.0 && got[1].energy_j == 1000.0);
    free(got);

    assert_int_equal(fm_store_delete_run(st, id, &err), FM_OK);
    assert_int_equal(fm_store_find_run(st, id_text, &run, &err), FM_ERR_NOT_FOUND);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM samples WHERE run_id=%lld", (long long)id);
    assert_int_equal(query_int(f->path, sql), 0);
    assert_int_equal(fm_store_delete_run(st, id, &err), FM_ERR_NOT_FOUND);
    fm_store_close(st);
}

static int64_t count_samples(fm_store *reader, int64_t run_id)
{
    fm_series s;
    fm_error err = {0};
    assert_int_equal(fm_store_load_series(reader, run_id, 0, FM_F_POWER_INSTANT, &s, &err), FM_OK);
    int64_t n = (int64_t)s.n;
    fm_series_free(&s);
    return n;
}

/* Samples reach the database within a second without fm_store_flush:
 * on age (>= 0.5 s) and on queue size. */
static void test_batch_commit_without_flush(void **state)
{
    fixture *f = *state;
    fm_store *writer = open_or_fail(f->path);
    fm_store *reader = open_or_fail(f->path);
    int64_t id = begin_run(writer, "batch", 1);
    fm_sample s = full_sample(0, 0);
    add_or_fail(writer, id, 0, &s);
    assert_int_equal(count_samples(reader, id), 0); /* queued, not committed yet */
    fmt_sleep_ms(600);
    s = full_sample(25 * MS, 1);
    add_or_fail(writer, id, 0, &s);
    assert_int_equal(count_samples(reader, id), 2); /* the old one forced a commit */

    /* A burst larger than the queue commits on size, long before 0.5 s. */
    for (int k = 0; k < 9000; k++) {
        s = full_sample(50 * MS + k * MS, k);
        add_or_fail(writer, id, 0, &s);
    }
    int64_t seen = count_samples(reader, id);
    assert_true(seen >= 8192 && seen < 9002);
    fm_store_close(writer); /* closing flushes the rest */
    assert_int_equal(count_samples(reader, id), 9002);
    fm_store_close(reader);
}

/* Writes one run of `count` samples, flushing every 200 so the two
 * writers' transactions interleave. Returns 0 on success. */
static int write_run(const char *path, const char *name, int count, int64_t *id_out)
{
    fm_store *st;
    fm_error err = {0};
    if (fm_store_open(path, &st, &err))
        return 1;
    fm_run run;
    fm_run_init(&run);
    snprintf(run.name, sizeof run.name, "%s", name);
    run.gpus = 1;
    if (fm_store_run_begin(st, &run, &err))
        return 2;
    for (int k = 0; k < count; k++) {
        fm_sample s = full_sample(k * MS, k);
        if (fm_store_add_sample(st, run.id, 0, &s, &err))
            return 3;
        if (k % 200 == 199 && fm_store_flush(st, &err))
            return 4;
    }
    if (fm_store_run_finish(st, &run, &err))
        return 5;
    fm_store_close(st);
    if (id_out)
        *id_out = run.id;
    return 0;
}

static void test_two_writers(void **state)
{
    fixture *f = *state;
    fm_store_close(open_or_fail(f->path)); /* create the schema first */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(write_run(f->path, "child", 20000, NULL));
    int64_t parent_id;
    assert_int_equal(write_run(f->path, "parent", 20000, &parent_id), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    fm_store *st = open_or_fail(f->path);
    fm_error err = {0};
    fm_run a, b;
    assert_int_equal(fm_store_find_run(st, "parent", &a, &err), FM_OK);
    assert_int_equal(fm_store_find_run(st, "child", &b, &err), FM_OK);
    assert_int_equal(a.status, FM_RUN_COMPLETE);
    assert_int_equal(b.status, FM_RUN_COMPLETE);
    assert_int_equal(count_samples(st, a.id), 20000);
    assert_int_equal(count_samples(st, b.id), 20000);
    fm_store_close(st);
}

/* A writer killed with SIGKILL: its run stays RECORDING in the database,
 * reads as INCOMPLETE, and the committed samples are all there. */
static void test_killed_writer_reads_incomplete(void **state)
{
    fixture *f = *state;
    fm_store_close(open_or_fail(f->path));
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        fm_store *st;
        fm_error err = {0};
        if (fm_store_open(f->path, &st, &err))
            _exit(1);
        fm_run run;
        fm_run_init(&run);
        snprintf(run.name, sizeof run.name, "killed");
        run.gpus = 1;
        if (fm_store_run_begin(st, &run, &err))
            _exit(2);
        for (int k = 0; k < 100; k++) {
            fm_sample s = full_sample(k * 25 * MS, k);
            if (fm_store_add_sample(st, run.id, 0, &s, &err))
                _exit(3);
        }
        if (fm_store_flush(st, &err))
            _exit(4);
        fm_sample lost = full_sample(100 * 25 * MS, 100); /* queued only */
        fm_store_add_sample(st, run.id, 0, &lost, &err);
        raise(SIGKILL);
        _exit(5);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    fm_store *st = open_or_fail(f->path);
    fm_error err = {0};
    fm_run run;
    assert_int_equal(fm_store_find_run(st, "killed", &run, &err), FM_OK);
    assert_int_equal(run.writer_pid, child);
    assert_int_equal(run.status, FM_RUN_INCOMPLETE);
    assert_int_equal(run.end_ns, 99 * 25 * MS);
    assert_int_equal(count_samples(st, run.id), 100);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT status FROM runs WHERE id=%lld", (long long)run.id);
    assert_int_equal(query_int(f->path, sql), FM_RUN_RECORDING); /* the db is not rewritten */

    /* A live pid that is not the writer (pid reuse): our own pid with a
     * different start time reads as INCOMPLETE too; with the right start
     * time, RECORDING. */
    int64_t mine = begin_run(st, "mine", 1);
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%lld", (long long)mine);
    assert_int_equal(fm_store_find_run(st, id_text, &run, &err), FM_OK);
    assert_int_equal(run.status, FM_RUN_RECORDING);
    assert_true(run.writer_start_ticks > 0);
    run.writer_start_ticks += 1;
    assert_true(fm_store_run_is_stale(&run));
    fm_store_close(st);
}

static void test_bad_paths(void **state)
{
    fixture *f = *state;
    fm_store *st = NULL;
    fm_error err = {0};
    char path[700];
    snprintf(path, sizeof path, "%s/no/such/dir/runs.db", f->dir);
    assert_int_equal(fm_store_open(path, &st, &err), FM_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(err.msg, path));

    snprintf(path, sizeof path, "%s/garbage.db", f->dir);
    FILE *g = fopen(path, "w");
    assert_non_null(g);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database, just text\n", g);
    fclose(g);
    assert_int_equal(fm_store_open(path, &st, &err), FM_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "not a database"));

    assert_int_equal(fm_store_open("", &st, &err), FM_ERR_USAGE);

    /* A directory where the file should be. */
    assert_int_equal(fm_store_open(f->dir, &st, &err), FM_ERR_IO);
    assert_non_null(strstr(err.msg, f->dir));
}

/* A reader opens and reads a store while another connection holds the
 * write lock (a recorder mid-commit): opening needs no write lock. And a
 * store written by a newer schema is refused with a clear message. */
static void test_open_while_locked_and_schema_version(void **state)
{
    fixture *f = *state;
    fm_store *st = open_or_fail(f->path);
    int64_t id = begin_run(st, "locked", 1);
    fm_store_close(st);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE runs SET tokens = 5", NULL, NULL, NULL),
        SQLITE_OK);
    fm_error err = {0};
    fm_store *reader = NULL;
    assert_int_equal(fm_store_open(f->path, &reader, &err), FM_OK);
    fm_run run;
    assert_int_equal(fm_store_find_run(reader, "locked", &run, &err), FM_OK);
    assert_int_equal(run.id, id);
    assert_int_equal(run.tokens, -1); /* the uncommitted change is not seen */
    fm_store_close(reader);
    assert_int_equal(
        sqlite3_exec(db, "COMMIT; UPDATE schema_version SET version = 2", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(fm_store_open(f->path, &reader, &err), FM_ERR_IO);
    assert_null(reader);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "schema version 2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_commit_without_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_writer_reads_incomplete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_while_locked_and_schema_version, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
