/* bench_nvml — measures a sensor backend (normally nvml on a real GPU, or
 * the fake libnvidia-ml.so.1 with --library) as the recorder would use it:
 *  1. latency of one read() per reading, N back-to-back calls each;
 *  2. a timed trace at a fixed period on absolute CLOCK_MONOTONIC deadlines:
 *     tick jitter, how often each published value really changes (the
 *     sensor's update period), missing readings, and the energy counter
 *     against the integral of the instant and 1 s average power.
 * Output: a plain-text report on stdout; --csv FILE also writes the trace
 * (t_s, power_instant_w, power_avg_w, energy_j, read_us; empty = missing).
 * Figures measured with it are in docs/BENCHMARKS.md and docs/NVML.md. */
#include "firmus/sensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_opts {
    const char *backend;
    const char *library;
    int gpu;
    int latency_reads;
    double seconds;
    double period_ms;
    const char *csv_path;
} bench_opts;

typedef struct tick {
    int64_t deadline_ns;
    int64_t start_ns;
    int64_t end_ns;
    fm_sample s;
} tick;

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile (0..100) of n values, sorting them in place. NAN if n == 0. */
static double percentile(double *v, size_t n, double pct)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, compare_double);
    size_t i = (size_t)floor(pct / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.backend = "nvml", .latency_reads = 1000, .seconds = 5, .period_ms = 10};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            printf("usage: bench_nvml [--backend nvml|sim] [--library PATH] [--gpu N]\n"
                   "                  [--latency N] [--seconds S] [--period-ms P] [--csv FILE]\n");
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "bench_nvml: %s needs a value (or is unknown)\n", a);
            return -1;
        }
        if (!strcmp(a, "--backend"))
            o->backend = v;
        else if (!strcmp(a, "--library"))
            o->library = v;
        else if (!strcmp(a, "--gpu"))
            o->gpu = atoi(v);
        else if (!strcmp(a, "--latency"))
            o->latency_reads = atoi(v);
        else if (!strcmp(a, "--seconds"))
            o->seconds = atof(v);
        else if (!strcmp(a, "--period-ms"))
            o->period_ms = atof(v);
        else if (!strcmp(a, "--csv"))
            o->csv_path = v;
        else {
            fprintf(stderr, "bench_nvml: unknown option %s\n", a);
            return -1;
        }
        i++;
    }
    if (o->period_ms <= 0 || o->seconds < 0 || o->latency_reads < 0) {
        fprintf(stderr, "bench_nvml: bad --period-ms, --seconds or --latency\n");
        return -1;
    }
    return 0;
}

/* Part 1: N back-to-back reads of one reading; prints median/p99/max. */
static void latency_of(fm_sensor *s, int gpu, uint32_t fields, const char *label, int n)
{
    double *us = malloc(sizeof *us * (size_t)(n > 0 ? n : 1));
    if (!us)
        return;
    int valid = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        fm_sample sample;
        fm_error err = {0};
        int64_t t0 = fm_monotonic_ns();
        int rc = fm_sensor_read(s, gpu, fields, &sample, &err);
        us[i] = (double)(fm_monotonic_ns() - t0) / 1000.0;
        failed += rc != FM_OK;
        valid += rc == FM_OK && (sample.valid & fields) == fields;
    }
    double med = percentile(us, (size_t)n, 50), p99 = percentile(us, (size_t)n, 99);
    double max = percentile(us, (size_t)n, 100);
    printf("  %-28s median %8.1f us  p99 %8.1f us  max %8.1f us  complete %d/%d  errors %d\n",
           label, med, p99, max, valid, n, failed);
    free(us);
}

static void run_latency(fm_sensor *s, const fm_device_info *d, const bench_opts *o)
{
    static const enum fm_field fields[] = {FM_F_POWER_INSTANT, FM_F_POWER_AVG,   FM_F_ENERGY,
                                           FM_F_TEMP,          FM_F_SM_CLOCK,    FM_F_UTIL,
                                           FM_F_MEM_USED,      FM_F_CLOCK_EVENTS};
    printf("read() latency, %d back-to-back calls each:\n", o->latency_reads);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (d->supported & fields[i])
            latency_of(s, o->gpu, fields[i], fm_field_name(fields[i]), o->latency_reads);
    latency_of(s, o->gpu, d->supported & FM_F_POWER_ALL, "all power readings", o->latency_reads);
    latency_of(s, o->gpu, d->supported, "all supported readings", o->latency_reads);
}

/* Intervals (ms) between changes of one reading in the trace. */
static void change_intervals(const tick *t, size_t n, uint32_t bit, const char *label)
{
    double *ms = malloc(sizeof *ms * (n ? n : 1));
    if (!ms)
        return;
    size_t count = 0, valid = 0;
    double last_value = NAN;
    int64_t last_change_ns = -1;
    for (size_t i = 0; i < n; i++) {
        if (!(t[i].s.valid & bit))
            continue;
        valid++;
        double v = bit == FM_F_POWER_INSTANT ? t[i].s.power_instant_w
                   : bit == FM_F_POWER_AVG   ? t[i].s.power_avg_w
                                             : t[i].s.energy_j;
        if (isnan(last_value) || v != last_value) {
            if (last_change_ns >= 0 && !isnan(last_value))
                ms[count++] = (double)(t[i].s.t_ns - last_change_ns) / 1e6;
            last_change_ns = t[i].s.t_ns;
            last_value = v;
        }
    }
    double p10 = percentile(ms, count, 10), p50 = percentile(ms, count, 50);
    double p90 = percentile(ms, count, 90);
    printf("  %-16s valid %zu/%zu  changes %zu  interval between changes: p10 %.1f  median %.1f "
           " p90 %.1f ms\n",
           label, valid, n, count, p10, p50, p90);
    free(ms);
}

/* Zero-order-hold integral (J) of one power reading over [from, to]. */
static double integral_j(const tick *t, size_t n, uint32_t bit, int64_t from_ns, int64_t to_ns)
{
    double energy_j = 0, held_w = NAN;
    int64_t held_since = from_ns;
    for (size_t i = 0; i < n; i++) {
        if (!(t[i].s.valid & bit))
            continue;
        double w = bit == FM_F_POWER_INSTANT ? t[i].s.power_instant_w : t[i].s.power_avg_w;
        int64_t ts = t[i].s.t_ns < from_ns ? from_ns : (t[i].s.t_ns > to_ns ? to_ns : t[i].s.t_ns);
        if (!isnan(held_w))
            energy_j += held_w * (double)(ts - held_since) / 1e9;
        held_w = w;
        held_since = ts;
    }
    if (!isnan(held_w))
        energy_j += held_w * (double)(to_ns - held_since) / 1e9;
    return energy_j;
}

static void energy_check(const tick *t, size_t n)
{
    const tick *first = NULL, *last = NULL;
    for (size_t i = 0; i < n; i++)
        if (t[i].s.valid & FM_F_ENERGY) {
            if (!first)
                first = &t[i];
            last = &t[i];
        }
    if (!first || first == last) {
        printf("  energy counter: not enough readings\n");
        return;
    }
    double counter_j = last->s.energy_j - first->s.energy_j;
    double instant_j = integral_j(t, n, FM_F_POWER_INSTANT, first->s.t_ns, last->s.t_ns);
    double avg_j = integral_j(t, n, FM_F_POWER_AVG, first->s.t_ns, last->s.t_ns);
    double span_s = (double)(last->s.t_ns - first->s.t_ns) / 1e9;
    printf("  energy over %.3f s: counter %.3f J, integral of instant %.3f J (ratio %.4f), "
           "integral of 1 s avg %.3f J (ratio %.4f)\n",
           span_s, counter_j, instant_j, instant_j / counter_j, avg_j, avg_j / counter_j);
}

static void write_csv(const char *path, const tick *t, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return;
    }
    fprintf(f, "t_s,power_instant_w,power_avg_w,energy_j,read_us\n");
    int64_t t0 = n ? t[0].s.t_ns : 0;
    for (size_t i = 0; i < n; i++) {
        const fm_sample *s = &t[i].s;
        fprintf(f, "%.6f,", (double)(s->t_ns - t0) / 1e9);
        if (s->valid & FM_F_POWER_INSTANT)
            fprintf(f, "%.3f", s->power_instant_w);
        fputc(',', f);
        if (s->valid & FM_F_POWER_AVG)
            fprintf(f, "%.3f", s->power_avg_w);
        fputc(',', f);
        if (s->valid & FM_F_ENERGY)
            fprintf(f, "%.3f", s->energy_j);
        fprintf(f, ",%.1f\n", (double)(t[i].end_ns - t[i].start_ns) / 1000.0);
    }
    fclose(f);
}

static void run_trace(fm_sensor *s, const fm_device_info *d, const bench_opts *o)
{
    int64_t period_ns = (int64_t)(o->period_ms * 1e6);
    size_t n = (size_t)(o->seconds * 1e9 / (double)period_ns);
    tick *t = calloc(n ? n : 1, sizeof *t);
    double *jitter_us = malloc(sizeof *jitter_us * (n ? n : 1));
    if (!t || !jitter_us) {
        free(t);
        free(jitter_us);
        return;
    }
    uint32_t fields = d->supported & FM_F_POWER_ALL;
    fm_clock *clock = fm_sensor_clock(s);
    int64_t start_ns = fm_clock_now_ns(clock) + period_ns;
    int errors = 0;
    for (size_t i = 0; i < n; i++) {
        t[i].deadline_ns = start_ns + (int64_t)i * period_ns;
        fm_clock_sleep_until(clock, t[i].deadline_ns);
        fm_error err = {0};
        t[i].start_ns = fm_clock_now_ns(clock);
        errors += fm_sensor_read(s, o->gpu, fields, &t[i].s, &err) != FM_OK;
        t[i].end_ns = fm_clock_now_ns(clock);
        jitter_us[i] = (double)(t[i].start_ns - t[i].deadline_ns) / 1000.0;
    }
    printf("trace: %zu ticks of %.1f ms (%.1f s), power readings only, %d read errors\n", n,
           o->period_ms, o->seconds, errors);
    printf("  tick start after deadline: median %.1f us, p99 %.1f us, max %.1f us\n",
           percentile(jitter_us, n, 50), percentile(jitter_us, n, 99),
           percentile(jitter_us, n, 100));
    change_intervals(t, n, FM_F_POWER_INSTANT, "power_instant");
    change_intervals(t, n, FM_F_POWER_AVG, "power_avg_1s");
    change_intervals(t, n, FM_F_ENERGY, "energy_counter");
    energy_check(t, n);
    if (o->csv_path)
        write_csv(o->csv_path, t, n);
    free(t);
    free(jitter_us);
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    fm_backend_options opt = {.library_path = o.library, .sim_real_time = 1};
    fm_sensor s;
    fm_error err = {0};
    int64_t open_start_ns = fm_monotonic_ns();
    int rc = fm_sensor_open(o.backend, &opt, &s, &err);
    if (rc != FM_OK) {
        fprintf(stderr, "bench_nvml: %s\n", err.msg);
        return rc == FM_ERR_NO_LIBRARY ? 3 : 1;
    }
    double open_ms = (double)(fm_monotonic_ns() - open_start_ns) / 1e6;
    fm_backend_info bi;
    fm_sensor_backend_info(&s, &bi);
    fm_device_info d;
    if (fm_sensor_device_info(&s, o.gpu, &d, &err) != FM_OK) {
        fprintf(stderr, "bench_nvml: %s\n", err.msg);
        fm_sensor_close(&s);
        return 1;
    }
    printf("backend %s (driver %s, NVML %s, %s), opened and probed in %.1f ms\n", bi.backend,
           bi.driver_version, bi.nvml_version, bi.library_path, open_ms);
    printf("GPU %d: %s, %s, limit %.0f W, supported 0x%02x\n", d.index, d.name, d.arch,
           d.power_limit_w, d.supported);
    if (o.latency_reads > 0)
        run_latency(&s, &d, &o);
    if (o.seconds > 0)
        run_trace(&s, &d, &o);
    fm_sensor_close(&s);
    return 0;
}
