/* GPU check of phase detection (not a speed benchmark): records one GPU
 * into a run store at a fixed tick while a workload runs, then adds the
 * workload's phase markers, so that `firmus export`/`show` can compare
 * power-only detection with the markers on real hardware. Used by
 * scripts/gpu_check_phases.sh with workloads/phases_workload.py.
 *   bench_phase_gpu --db FILE [--backend nvml|sim] [--seconds S]
 *                   [--period-ms P] [--markers FILE]
 * The marker file has lines "<CLOCK_MONOTONIC ns> start|end <phase>"
 * (Python: time.monotonic_ns()); sample times are CLOCK_MONOTONIC too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmus/sensor.h"
#include "firmus/store.h"

typedef struct args {
    const char *db, *backend, *markers;
    double seconds, period_ms;
} args;

static int parse(int argc, char **argv, args *a)
{
    a->db = NULL;
    a->backend = "nvml";
    a->markers = NULL;
    a->seconds = 60;
    a->period_ms = 25;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--db"))
            a->db = argv[i + 1];
        else if (!strcmp(argv[i], "--backend"))
            a->backend = argv[i + 1];
        else if (!strcmp(argv[i], "--markers"))
            a->markers = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds"))
            a->seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--period-ms"))
            a->period_ms = atof(argv[i + 1]);
        else
            return -1;
    }
    return a->db && a->seconds > 0 && a->period_ms >= 1 ? 0 : -1;
}

/* Adds "<t_ns> start|end <phase>" lines as markers; returns how many. */
static int add_markers(fm_store *st, const fm_run *run, const char *path, fm_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fm_fail(err, FM_ERR_IO, "%s: cannot read", path);
    char line[256], kind[16], name[64];
    long long t;
    int n = 0, rc = FM_OK;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lld %15s %63s", &t, kind, name) != 3)
            continue;
        fm_marker m;
        memset(&m, 0, sizeof m);
        m.t_ns = (int64_t)t;
        snprintf(m.kind, sizeof m.kind, "%s", kind);
        snprintf(m.name, sizeof m.name, "%s", name);
        m.tokens = m.request = -1;
        m.gpu = -1;
        m.energy_j = NAN;
        if ((rc = fm_store_add_marker(st, run->id, &m, err)))
            break;
        n++;
    }
    fclose(f);
    printf("markers: %d\n", n);
    return rc;
}

int main(int argc, char **argv)
{
    args a;
    if (parse(argc, argv, &a)) {
        fprintf(stderr, "usage: bench_phase_gpu --db FILE [--backend nvml|sim] [--seconds S] "
                        "[--period-ms P] [--markers FILE]\n");
        return 2;
    }
    fm_error err;
    fm_sensor sensor;
    fm_backend_options bo;
    memset(&bo, 0, sizeof bo);
    if (fm_sensor_open(a.backend, &bo, &sensor, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fm_store *st;
    if (fm_store_open(a.db, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fm_device_info dev;
    fm_backend_info bi;
    if (fm_sensor_device_info(&sensor, 0, &dev, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fm_sensor_backend_info(&sensor, &bi);
    fm_run run;
    memset(&run, 0, sizeof run);
    snprintf(run.name, sizeof run.name, "phase-check");
    snprintf(run.model, sizeof run.model, "matmul-workload");
    run.params = NAN;
    snprintf(run.backend, sizeof run.backend, "%s", bi.backend);
    snprintf(run.source, sizeof run.source, "record");
    run.gpus = 1;
    run.interval_ms = a.period_ms;
    run.tokens = -1;
    run.exit_code = -1;
    run.start_wall_ns = fm_realtime_ns();
    fm_clock *clk = fm_sensor_clock(&sensor);
    run.t0_ns = fm_clock_now_ns(clk);
    if (fm_store_run_begin(st, &run, &err) || fm_store_add_device(st, run.id, 0, &dev, &bi, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int64_t period = (int64_t)llround(a.period_ms * 1e6);
    int64_t end = run.t0_ns + (int64_t)llround(a.seconds * 1e9);
    size_t ticks = 0, errors = 0;
    for (int64_t next = run.t0_ns; next <= end; next += period) {
        fm_clock_sleep_until(clk, next);
        fm_sample s;
        if (fm_sensor_read(&sensor, 0, FM_F_POWER_ALL | FM_F_TEMP | FM_F_UTIL, &s, &err)) {
            errors++;
            continue;
        }
        if (fm_store_add_sample(st, run.id, 0, &s, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        ticks++;
    }
    run.end_ns = fm_clock_now_ns(clk);
    printf("%s: %zu ticks of %.1f ms, %zu read errors, GPU %s, driver %s\n", a.backend, ticks,
           a.period_ms, errors, dev.name, bi.driver_version);
    if (fm_store_run_finish(st, &run, &err) ||
        (a.markers && add_markers(st, &run, a.markers, &err)) || fm_store_flush(st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fm_store_close(st);
    fm_sensor_close(&sensor);
    return 0;
}
