/* Recorder benchmark (not a test): records for S seconds in real time at
 * 10 ms and 25 ms ticks with 1 and 8 GPUs, through the nvml backend (point
 * it at the fake libnvidia-ml.so.1 with --lib) or the real-time simulator,
 * and reports the achieved interval, tick jitter p50/p99/max, missed ticks
 * and recorder CPU time per GPU sample: the median of R repeats per
 * configuration, as a Markdown table for docs/BENCHMARKS.md.
 *
 *   bench_record --backend nvml --lib build/fakenvml/libnvidia-ml.so.1 [--seconds 20] [--repeats 3]
 *   bench_record --backend sim [--seconds 20] [--repeats 3]
 *   bench_record --backend testbe ...   (the recorder alone: a backend that costs nothing)
 *
 * GPU counts reach the fake NVML through its own environment variable
 * (--gpus-env FAKENVML_GPUS); the simulator through sim_gpus. On a real
 * GPU machine use --gpu-counts with the number of GPUs it has.
 * --energy-thread 0 forces the energy counter into the sampling loop (to
 * show what the energy thread saves on real NVML). */
#include "firmus/record.h"
/* The deterministic test backend (header-only): with it the benchmark
 * measures the recorder's own cost, with a backend that costs ~nothing. */
#include "../tests/support/testbackend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bench_args {
    const char *backend;
    const char *lib;
    const char *gpus_env;
    double seconds;
    int repeats;
    int gpu_counts[8];
    int gpu_count_n;
    int energy_thread; /* -1 auto, 0 in the loop, 1 thread */
} bench_args;

typedef struct bench_result {
    double interval_ms, p50_us, p99_us, max_us, missed, cpu_us;
} bench_result;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int record_once(const bench_args *a, double interval_ms, int gpus, const char *db,
                       fm_record_result *res)
{
    fm_record_options o;
    fm_record_options_default(&o);
    fm_sensor testbe = {&testbe_ops, NULL};
    if (!strcmp(a->backend, "testbe")) {
        fm_backend_options bo = {.sim_gpus = gpus, .sim_real_time = 1};
        fm_error err = {0};
        if (testbe_open(&bo, &testbe.state, &err) != FM_OK) {
            fprintf(stderr, "bench_record: %s\n", err.msg);
            return FM_ERR;
        }
        o.sensor = &testbe;
    }
    o.backend = a->backend;
    o.backend_opt.library_path = a->lib;
    o.backend_opt.sim_gpus = gpus;
    o.backend_opt.sim_real_time = 1;
    o.interval_ms = interval_ms;
    o.duration_s = a->seconds;
    o.energy_thread = a->energy_thread;
    o.db_path = db;
    o.name = "bench";
    char count[16];
    snprintf(count, sizeof count, "%d", gpus);
    if (a->gpus_env)
        setenv(a->gpus_env, count, 1);
    fm_error err = {0};
    int rc = fm_record_run(&o, res, &err);
    if (testbe.state)
        testbe_close(testbe.state);
    if (rc != FM_OK)
        fprintf(stderr, "bench_record: %s\n", err.msg);
    else if (res->gpus != gpus)
        fprintf(stderr, "bench_record: asked for %d GPUs, the backend has %d\n", gpus, res->gpus);
    return rc;
}

static int bench_config(const bench_args *a, double interval_ms, int gpus, const char *db,
                        bench_result *out)
{
    double iv[32], p50[32], p99[32], mx[32], missed[32], cpu[32];
    for (int r = 0; r < a->repeats; r++) {
        fm_record_result res;
        if (record_once(a, interval_ms, gpus, db, &res) != FM_OK)
            return -1;
        iv[r] = res.achieved_interval_ms;
        p50[r] = res.jitter_p50_us;
        p99[r] = res.jitter_p99_us;
        mx[r] = res.jitter_max_us;
        missed[r] = (double)res.missed_ticks;
        cpu[r] = res.cpu_us_per_sample;
        fprintf(stderr,
                "  %s %2.0f ms x %d GPU, repeat %d: interval %.4f ms, jitter p50 %.0f "
                "p99 %.0f max %.0f us, missed %lld, CPU %.1f us/sample\n",
                a->backend, interval_ms, gpus, r + 1, iv[r], p50[r], p99[r], mx[r],
                (long long)res.missed_ticks, cpu[r]);
    }
    out->interval_ms = median(iv, a->repeats);
    out->p50_us = median(p50, a->repeats);
    out->p99_us = median(p99, a->repeats);
    out->max_us = median(mx, a->repeats);
    out->missed = median(missed, a->repeats);
    out->cpu_us = median(cpu, a->repeats);
    return 0;
}

static int parse_args(int argc, char **argv, bench_args *a)
{
    a->backend = "nvml";
    a->lib = getenv("FIRMUS_FAKENVML_LIB");
    a->gpus_env = NULL;
    a->seconds = 20;
    a->repeats = 3;
    a->gpu_counts[0] = 1;
    a->gpu_counts[1] = 8;
    a->gpu_count_n = 2;
    a->energy_thread = -1;
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--backend") && next)
            a->backend = argv[++i];
        else if (!strcmp(argv[i], "--lib") && next)
            a->lib = argv[++i];
        else if (!strcmp(argv[i], "--gpus-env") && next)
            a->gpus_env = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && next)
            a->seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && next)
            a->repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--energy-thread") && next)
            a->energy_thread = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gpu-counts") && next) {
            a->gpu_count_n = 0;
            for (char *tok = strtok(argv[++i], ","); tok && a->gpu_count_n < 8;
                 tok = strtok(NULL, ","))
                a->gpu_counts[a->gpu_count_n++] = atoi(tok);
        } else {
            fprintf(stderr, "usage: bench_record [--backend nvml|sim|testbe] [--lib PATH] "
                            "[--gpus-env NAME] [--seconds S] [--repeats R] [--gpu-counts 1,8] "
                            "[--energy-thread -1|0|1]\n");
            return -1;
        }
    }
    if (a->seconds <= 0 || a->repeats < 1 || a->repeats > 32) {
        fprintf(stderr, "bench_record: --seconds > 0 and --repeats 1..32\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_args a;
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    char db[] = "/tmp/firmus-bench-XXXXXX";
    int fd = mkstemp(db);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    unlink(db);

    printf("| backend | interval | GPUs | achieved interval | jitter p50 | jitter p99 | "
           "jitter max | missed ticks | CPU per sample |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    const double intervals[] = {10, 25};
    int failed = 0;
    for (int i = 0; i < 2; i++)
        for (int g = 0; g < a.gpu_count_n; g++) {
            bench_result br;
            if (bench_config(&a, intervals[i], a.gpu_counts[g], db, &br) != 0) {
                failed = 1;
                continue;
            }
            printf("| %s | %.0f ms | %d | %.4f ms | %.0f us | %.0f us | %.0f us | %.0f | "
                   "%.1f us |\n",
                   a.backend, intervals[i], a.gpu_counts[g], br.interval_ms, br.p50_us, br.p99_us,
                   br.max_us, br.missed, br.cpu_us);
            fflush(stdout);
        }
    printf("\n(%s: %.0f s per repeat, median of %d repeats; energy counter read %s)\n", a.backend,
           a.seconds, a.repeats,
           a.energy_thread < 0   ? "as the recorder decides (nvml: thread)"
           : a.energy_thread > 0 ? "by the energy thread"
                                 : "in the sampling loop");
    char path[64];
    unlink(db);
    snprintf(path, sizeof path, "%s-wal", db);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", db);
    unlink(path);
    return failed;
}
