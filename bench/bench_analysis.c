/* Benchmark: analysis and export of a long run (issue: 10 h x 100 Hz x 8
 * GPUs = 28.8 M samples). Phase 1 simulates the run (serving pattern,
 * virtual time) and writes every sample through fm_store_add_sample into a
 * fresh store; phase 2, in a child process so that its peak RSS is its own,
 * opens the store and builds the workload profile (all GPUs and the
 * aggregate: load, publication signals, phase detection, metrics, thermal
 * fit), writes the JSON and the CSV trace. Prints wall times, rates and
 * peak RSS of both phases.
 *   bench_analysis [--hours H] [--gpus N] [--hz F] [--dir DIR] [--keep]
 * Figures: docs/BENCHMARKS.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "firmus/profile.h"
#include "firmus/sim.h"
#include "firmus/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rss_mib(const struct rusage *ru)
{
    return (double)ru->ru_maxrss / 1024.0; /* Linux: KiB */
}

static int generate(const char *db, int gpus, double hours, double hz, size_t *samples)
{
    fm_error err;
    fm_store *st;
    if (fm_store_open(db, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), gpus);
    cfg.pattern = FM_SIM_SERVING;
    fm_sim *sim;
    if (fm_sim_create(&cfg, &sim, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fm_run run;
    memset(&run, 0, sizeof run);
    snprintf(run.name, sizeof run.name, "bench-%gh-%dgpu", hours, gpus);
    snprintf(run.model, sizeof run.model, "Qwen3-32B");
    run.params = 32e9;
    snprintf(run.backend, sizeof run.backend, "sim");
    snprintf(run.source, sizeof run.source, "record");
    run.gpus = gpus;
    run.interval_ms = 1000.0 / hz;
    run.tokens = -1;
    run.exit_code = -1;
    if (fm_store_run_begin(st, &run, &err))
        goto fail;
    fm_backend_info bi = {0};
    snprintf(bi.backend, sizeof bi.backend, "sim");
    for (int g = 0; g < gpus; g++) {
        fm_device_info dev = {0};
        dev.index = g;
        snprintf(dev.name, sizeof dev.name, "Simulated H200 (Qwen3-32B)");
        snprintf(dev.arch, sizeof dev.arch, "hopper");
        dev.power_limit_w = 700;
        dev.idle_power_w = 65;
        dev.supported = FM_F_ALL;
        snprintf(dev.power_instant_source, sizeof dev.power_instant_source, "sim instant");
        if (fm_store_add_device(st, run.id, g, &dev, &bi, &err))
            goto fail;
    }
    int64_t step = (int64_t)llround(1e9 / hz), end = (int64_t)(hours * 3600e9);
    *samples = 0;
    for (int64_t t = 0; t <= end; t += step) {
        fm_sim_advance(sim, t);
        for (int g = 0; g < gpus; g++) {
            fm_sample s;
            fm_sim_read_sensors(sim, g, &s);
            s.t_ns = t;
            if (fm_store_add_sample(st, run.id, g, &s, &err))
                goto fail;
            (*samples)++;
        }
    }
    run.tokens = (int64_t)llround(fm_sim_true_tokens(sim, 0) * gpus);
    run.end_ns = end;
    if (fm_store_run_finish(st, &run, &err))
        goto fail;
    fm_sim_destroy(sim);
    fm_store_close(st);
    return 0;
fail:
    fprintf(stderr, "%s\n", err.msg);
    return 1;
}

static int analyze(const char *db, const char *dir)
{
    fm_error err;
    fm_store *st;
    if (fm_store_open(db, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t0 = now_s();
    fm_profile *p;
    if (fm_profile_build(st, 1, NULL, &p, &err)) {
        fprintf(stderr, "profile: %s\n", err.msg);
        return 1;
    }
    double t1 = now_s();
    char jp[1100], cp[1100];
    snprintf(jp, sizeof jp, "%.1000s/profile.json", dir);
    snprintf(cp, sizeof cp, "%.1000s/trace.csv", dir);
    if (fm_profile_write_json(p, jp, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t2 = now_s();
    if (fm_trace_write_csv(st, 1, cp, 0, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t3 = now_s();
    fm_profile_print_summary(p, stdout);
    struct stat sj, sc;
    stat(jp, &sj);
    stat(cp, &sc);
    printf("profile build (load, signals, phases per GPU + aggregate, metrics, thermal fit): "
           "%.1f s\nwrite JSON: %.2f s (%.1f MB)\nCSV trace (reloads the run): %.1f s (%.1f MB)\n",
           t1 - t0, t2 - t1, (double)sj.st_size / 1e6, t3 - t2, (double)sc.st_size / 1e6);
    fm_profile_free(p);
    fm_store_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    double hours = 10, hz = 100;
    int gpus = 8, keep = 0;
    const char *dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--hours") && i + 1 < argc)
            hours = atof(argv[++i]);
        else if (!strcmp(argv[i], "--gpus") && i + 1 < argc)
            gpus = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hz") && i + 1 < argc)
            hz = atof(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else {
            fprintf(stderr, "usage: bench_analysis [--hours H] [--gpus N] [--hz F] [--dir DIR] "
                            "[--keep]\n");
            return 2;
        }
    }
    if (!(hours > 0) || gpus < 1 || gpus > 64 || !(hz > 0)) {
        fprintf(stderr, "bench_analysis: bad arguments\n");
        return 2;
    }
    char work[600], db[700];
    snprintf(work, sizeof work, "%s/bench-analysis-XXXXXX", dir);
    if (!mkdtemp(work)) {
        perror(work);
        return 1;
    }
    snprintf(db, sizeof db, "%s/firmus.db", work);
    printf("bench_analysis: %g h x %g Hz x %d GPUs (sim serving, Qwen3-32B), store %s\n", hours, hz,
           gpus, db);
    size_t samples = 0;
    fflush(stdout); /* or the children print the header again */
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        int rc = generate(db, gpus, hours, hz, &samples);
        fflush(stdout);
        _exit(rc ? 1 : 0);
    }
    int status;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "generation failed\n");
        return 1;
    }
    double t1 = now_s();
    samples = (size_t)(hours * 3600 * hz + 1) * (size_t)gpus;
    struct stat sdb;
    stat(db, &sdb);
    printf(
        "phase 1, simulate + insert: %.1f s (%.0f samples/s), peak RSS %.0f MiB, store %.2f GB\n",
        t1 - t0, (double)samples / (t1 - t0), rss_mib(&ru), (double)sdb.st_size / 1e9);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int rc = analyze(db, work);
        fflush(stdout);
        _exit(rc ? 1 : 0);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "analysis failed\n");
        return 1;
    }
    double t2 = now_s();
    printf("phase 2, analysis + export: %.1f s wall (%.0f samples/s), user %.1f s, peak RSS %.0f "
           "MiB\n",
           t2 - t1, (double)samples / (t2 - t1),
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6, rss_mib(&ru));
    if (!keep) {
        char cmd[800];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", work);
    } else {
        printf("kept %s\n", work);
    }
    return 0;
}
