/* `firmus record` through the nvml backend and the fake libnvidia-ml.so.1
 * (tests/fakenvml, real time): a GPU that falls off the bus mid-run stops
 * being sampled, a marker and the metadata note it, the other GPU keeps
 * recording to the end, firmus exits 4; the energy counter (read by the
 * energy thread) reaches the samples every ~100 ms; a missing NVML library exits 3 with
 * one line. Skips when the fake library is not built. */
#include "firmus/store.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fixture {
    char *dir;
    char db[600];
    char lib[600];
    const char *bin;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->bin = fmt_env("FIRMUS_BIN");
    const char *libdir = fmt_env("FIRMUS_FAKENVML_DIR");
    if (libdir)
        snprintf(f->lib, sizeof f->lib, "%s/libnvidia-ml.so.1", libdir);
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

/* Runs firmus with argv (argv[0] replaced) and the fake's environment;
 * stderr goes to dir/stderr. Returns the exit code. */
static int run_firmus(fixture *f, char **argv, const char *lost_gpu, const char *lost_after_ms)
{
    pid_t pid = fork();
    if (pid == 0) {
        char errpath[700];
        snprintf(errpath, sizeof errpath, "%s/stderr", f->dir);
        if (!freopen(errpath, "w", stderr))
            _exit(125);
        setenv("FAKENVML_GPUS", "2", 1);
        setenv("FAKENVML_LOST_GPU", lost_gpu, 1);
        setenv("FAKENVML_LOST_AFTER_MS", lost_after_ms, 1);
        argv[0] = (char *)f->bin;
        execv(f->bin, argv);
        _exit(126);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void read_stderr(fixture *f, char *buf, size_t len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/stderr", f->dir);
    FILE *in = fopen(path, "r");
    size_t n = in ? fread(buf, 1, len - 1, in) : 0;
    buf[n] = '\0';
    if (in)
        fclose(in);
}

static void test_gpu_lost_other_keeps_recording(void **state)
{
    fixture *f = *state;
    if (!f->bin || access(f->lib, R_OK) != 0)
        skip();
    char *argv[] = {"firmus",     "record",     "--backend", "nvml", "--library",
                    f->lib,       "--duration", "2.5",       "--db", f->db,
                    "--interval", "10",         NULL};
    assert_int_equal(run_firmus(f, argv, "1", "1000"), 4);
    char err_text[4096];
    read_stderr(f, err_text, sizeof err_text);
    assert_non_null(strstr(err_text, "GPU lost"));

    fm_store *st = NULL;
    fm_error err = {0};
    fm_run run;
    assert_int_equal(fm_store_open(f->db, &st, &err), FM_OK);
    assert_int_equal(fm_store_find_run(st, "last", &run, &err), FM_OK);
    assert_int_equal(run.status, FM_RUN_COMPLETE);
    assert_int_equal(run.gpus, 2);
    fm_sample *s0 = NULL, *s1 = NULL;
    size_t n0 = 0, n1 = 0;
    assert_int_equal(fm_store_load_samples(st, run.id, 0, &s0, &n0, &err), FM_OK);
    assert_int_equal(fm_store_load_samples(st, run.id, 1, &s1, &n1, &err), FM_OK);
    assert_true(n0 > 0 && n1 > 0);
    double end0_s = (double)(s0[n0 - 1].t_ns - run.t0_ns) / 1e9;
    double end1_s = (double)(s1[n1 - 1].t_ns - run.t0_ns) / 1e9;
    print_message("gpu0 sampled to %.3f s (%zu samples), gpu1 to %.3f s (%zu samples)\n", end0_s,
                  n0, end1_s, n1);
    assert_true(end0_s > 2.4); /* the survivor recorded to the end */
    assert_true(end1_s < 1.6); /* lost 1 s after NVML init, which precedes t0 */
    assert_true(n0 > n1 + 50);
    /* The energy thread's counter values reach the samples about every
     * 100 ms; the final tick reads the counter itself. */
    size_t with_energy = 0;
    for (size_t i = 0; i < n0; i++)
        with_energy += (s0[i].valid & FM_F_ENERGY) != 0;
    print_message("gpu0: %zu of %zu samples carry the energy counter\n", with_energy, n0);
    assert_true(with_energy >= 15 && with_energy <= 30);
    assert_true(s0[n0 - 1].valid & FM_F_ENERGY);
    free(s0);
    free(s1);

    fm_marker *m = NULL;
    size_t nm = 0;
    assert_int_equal(fm_store_load_markers(st, run.id, &m, &nm, &err), FM_OK);
    int lost_markers = 0;
    for (size_t i = 0; i < nm; i++)
        if (!strcmp(m[i].name, "gpu_lost")) {
            assert_int_equal(m[i].gpu, 1);
            lost_markers++;
        }
    assert_int_equal(lost_markers, 1);
    free(m);
    char buf[512];
    assert_int_equal(fm_store_get_meta(st, run.id, "record.gpus_lost", buf, sizeof buf, &err),
                     FM_OK);
    assert_string_equal(buf, "1");
    assert_int_equal(
        fm_store_get_meta(st, run.id, "record.gpus_lost_detail", buf, sizeof buf, &err), FM_OK);
    assert_non_null(strstr(buf, "gpu1"));
    fm_store_close(st);
}

static void test_missing_nvml_exits_3(void **state)
{
    fixture *f = *state;
    if (!f->bin)
        skip();
    char missing[700];
    snprintf(missing, sizeof missing, "%s/no/libnvidia-ml.so.1", f->dir);
    char *argv[] = {"firmus",     "record", "--backend", "nvml", "--library", missing,
                    "--duration", "1",      "--db",      f->db,  NULL};
    assert_int_equal(run_firmus(f, argv, "-1", "0"), 3);
    char err_text[4096];
    read_stderr(f, err_text, sizeof err_text);
    assert_non_null(strstr(err_text, "firmus record:"));
    size_t lines = 0;
    for (const char *c = err_text; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gpu_lost_other_keeps_recording, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_nvml_exits_3, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
