/* Benchmark of the run store: how fast samples go in (fm_store_add_sample
 * with its batched commits) and come back out (fm_store_load_series, one
 * quantity of one GPU; fm_store_load_samples, whole rows), the metrics of
 * the whole run (fm_metrics_compute), plus the same
 * insert/load on the alternative layout (a rowid table with a secondary
 * index on (run_id, gpu, t_ns)) to justify the WITHOUT ROWID choice.
 * Figures go to docs/BENCHMARKS.md, section "Run store".
 *
 * usage: bench_store [--gpus N] [--samples-per-gpu N] [--dir DIR] */
#include "firmus/metrics.h"
#include "firmus/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS 1000000LL

static double seconds_since(int64_t start_ns)
{
    return (double)(fm_monotonic_ns() - start_ns) / 1e9;
}

/* A realistic sample: 10 ms ticks, instant power held for 100 ms, slow
 * fields every 4th tick only (the others NULL). */
static fm_sample make_sample(int64_t k, int gpu)
{
    fm_sample s;
    fm_sample_clear(&s, k * 10 * MS);
    s.valid = FM_F_POWER_INSTANT | FM_F_POWER_AVG | FM_F_ENERGY;
    s.power_instant_w = 400.0 + (double)((k / 10 * 37 + gpu * 11) % 300);
    s.power_avg_w = 500.0 + (double)((k / 10) % 50);
    s.energy_j = 1e6 + 0.005 * (double)k;
    if (k % 4 == 0) {
        s.valid |= FM_F_SLOW;
        s.temp_c = 55;
        s.sm_clock_mhz = 1980;
        s.util_pct = 99;
        s.mem_used_bytes = 70ull << 30;
        s.clock_events = 0;
    }
    return s;
}

static int bench_firmus_store(const char *path, int gpus, int64_t per_gpu)
{
    fm_store *st;
    fm_error err = {0};
    if (fm_store_open(path, &st, &err)) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        return 1;
    }
    fm_run run;
    fm_run_init(&run);
    snprintf(run.name, sizeof run.name, "bench");
    run.gpus = gpus;
    if (fm_store_run_begin(st, &run, &err))
        goto fail;
    int64_t start = fm_monotonic_ns();
    for (int64_t k = 0; k < per_gpu; k++)
        for (int gpu = 0; gpu < gpus; gpu++) {
            fm_sample s = make_sample(k, gpu);
            if (fm_store_add_sample(st, run.id, gpu, &s, &err))
                goto fail;
        }
    if (fm_store_flush(st, &err))
        goto fail;
    double insert_s = seconds_since(start);
    int64_t total = per_gpu * gpus;
    printf("firmus store (WITHOUT ROWID, PK run_id,gpu,t_ns)\n");
    printf("  insert: %lld samples in %.2f s = %.0f samples/s\n", (long long)total, insert_s,
           (double)total / insert_s);

    start = fm_monotonic_ns();
    size_t loaded = 0;
    for (int gpu = 0; gpu < gpus; gpu++) {
        fm_series ser;
        if (fm_store_load_series(st, run.id, gpu, FM_F_POWER_INSTANT, &ser, &err))
            goto fail;
        loaded += ser.n;
        fm_series_free(&ser);
    }
    double load_s = seconds_since(start);
    printf("  load_series (power_instant, all GPUs): %zu points in %.2f s = %.0f points/s\n",
           loaded, load_s, (double)loaded / load_s);

    start = fm_monotonic_ns();
    loaded = 0;
    for (int gpu = 0; gpu < gpus; gpu++) {
        fm_sample *samples;
        size_t n;
        if (fm_store_load_samples(st, run.id, gpu, &samples, &n, &err))
            goto fail;
        loaded += n;
        free(samples);
    }
    load_s = seconds_since(start);
    printf("  load_samples (whole rows, all GPUs): %zu rows in %.2f s = %.0f rows/s\n", loaded,
           load_s, (double)loaded / load_s);
    start = fm_monotonic_ns();
    fm_run_metrics metrics;
    if (fm_metrics_compute(st, run.id, NULL, &metrics, &err))
        goto fail;
    double metrics_s = seconds_since(start);
    printf("  fm_metrics_compute (whole run): %.2f s = %.0f samples/s (total %.0f J)\n", metrics_s,
           (double)total / metrics_s, metrics.total_energy_j);
    fm_run_metrics_free(&metrics);
    fm_store_close(st);
    struct stat sb;
    if (stat(path, &sb) == 0)
        printf("  database file: %.1f MB = %.1f bytes/sample\n", (double)sb.st_size / 1e6,
               (double)sb.st_size / (double)total);
    return 0;
fail:
    fprintf(stderr, "bench_store: %s\n", err.msg);
    fm_store_close(st);
    return 1;
}

/* The alternative layout, with plain SQLite calls: rowid table plus an
 * index on (run_id, gpu, t_ns), same batching (8192 rows per transaction). */
static int bench_rowid_layout(const char *path, int gpus, int64_t per_gpu)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "CREATE TABLE samples (run_id INTEGER NOT NULL, gpu INTEGER NOT NULL,"
                 " t_ns INTEGER NOT NULL, power_instant_w REAL, power_avg_w REAL, energy_j REAL,"
                 " temp_c REAL, sm_clock_mhz REAL, util_pct REAL, mem_used_bytes INTEGER,"
                 " clock_events INTEGER);"
                 "CREATE INDEX samples_key ON samples(run_id, gpu, t_ns);",
                 NULL, NULL, NULL);
    sqlite3_stmt *ins, *sel;
    sqlite3_prepare_v2(db, "INSERT INTO samples VALUES (1,?,?,?,?,?,?,?,?,?,?)", -1, &ins, NULL);
    int64_t start = fm_monotonic_ns(), rows = 0;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int64_t k = 0; k < per_gpu; k++)
        for (int gpu = 0; gpu < gpus; gpu++) {
            fm_sample s = make_sample(k, gpu);
            sqlite3_bind_int(ins, 1, gpu);
            sqlite3_bind_int64(ins, 2, s.t_ns);
            sqlite3_bind_double(ins, 3, s.power_instant_w);
            sqlite3_bind_double(ins, 4, s.power_avg_w);
            sqlite3_bind_double(ins, 5, s.energy_j);
            for (int c = 6; c <= 10; c++)
                if (s.valid & FM_F_TEMP)
                    sqlite3_bind_double(ins, c, 1.0);
                else
                    sqlite3_bind_null(ins, c);
            sqlite3_step(ins);
            sqlite3_reset(ins);
            if (++rows % 8192 == 0) {
                sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
                sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
            }
        }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    double insert_s = seconds_since(start);
    printf("alternative: rowid table + index (run_id,gpu,t_ns)\n");
    printf("  insert: %lld samples in %.2f s = %.0f samples/s\n", (long long)rows, insert_s,
           (double)rows / insert_s);
    sqlite3_prepare_v2(db,
                       "SELECT t_ns, power_instant_w FROM samples WHERE run_id = 1 AND gpu = ?"
                       " ORDER BY t_ns",
                       -1, &sel, NULL);
    start = fm_monotonic_ns();
    int64_t loaded = 0;
    double sum = 0;
    for (int gpu = 0; gpu < gpus; gpu++) {
        sqlite3_bind_int(sel, 1, gpu);
        while (sqlite3_step(sel) == SQLITE_ROW) {
            sum += sqlite3_column_double(sel, 1);
            loaded++;
        }
        sqlite3_reset(sel);
    }
    double load_s = seconds_since(start);
    printf("  load one column (all GPUs): %lld points in %.2f s = %.0f points/s (checksum %.0f)\n",
           (long long)loaded, load_s, (double)loaded / load_s, sum);
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    sqlite3_close(db);
    struct stat sb;
    if (stat(path, &sb) == 0)
        printf("  database file: %.1f MB = %.1f bytes/sample\n", (double)sb.st_size / 1e6,
               (double)sb.st_size / (double)rows);
    return 0;
}

int main(int argc, char **argv)
{
    int gpus = 8;
    int64_t per_gpu = 250000;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gpus") && i + 1 < argc)
            gpus = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--samples-per-gpu") && i + 1 < argc)
            per_gpu = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_store [--gpus N] [--samples-per-gpu N] [--dir DIR]\n");
            return 2;
        }
    }
    if (gpus < 1 || per_gpu < 1) {
        fprintf(stderr, "bench_store: --gpus and --samples-per-gpu must be >= 1\n");
        return 2;
    }
    char path[512], alt[512];
    snprintf(path, sizeof path, "%s/bench_store_%d.db", dir, (int)getpid());
    snprintf(alt, sizeof alt, "%s/bench_store_rowid_%d.db", dir, (int)getpid());
    printf("bench_store: %d GPUs x %lld samples = %lld samples\n", gpus, (long long)per_gpu,
           (long long)per_gpu * gpus);
    int rc = bench_firmus_store(path, gpus, per_gpu);
    if (rc == 0)
        rc = bench_rowid_layout(alt, gpus, per_gpu);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[560];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s%s", alt, suffixes[i]);
        unlink(p);
    }
    return rc;
}
