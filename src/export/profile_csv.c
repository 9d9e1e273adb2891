/* CSV export of a run's power on a uniform grid, for pandas and Excel:
 * one header row with units, one row per time, one column per GPU, the
 * aggregate, and the phase of the aggregate. Also the "auto-export" of a
 * run's profile and trace into a folder (the seed's workload_profiles/). */
#include "profile_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NS_PER_S 1e9
#define CSV_MAX_AUTO_POINTS 360000 /* 10 h at 0.1 s */

static void put_value(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.3f", v);
    else
        fputs(",", f); /* missing: an empty cell, never 0 */
}

int fm_trace_write_csv(fm_store *st, int64_t run_id, const char *path, double resolution_s,
                       const fm_profile_options *opt_in, fm_error *err)
{
    fm_profile_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        fm_profile_options_default(&opt);
    fm_run_data d;
    int rc = fm_run_data_load(st, run_id, &opt, &d, err);
    if (rc)
        return rc;
    double run_s = (double)(d.t1_ns - d.t0_ns) / NS_PER_S;
    double res =
        resolution_s > 0 ? resolution_s : fm_profile_auto_resolution_s(run_s, CSV_MAX_AUTO_POINTS);
    int64_t step = (int64_t)llround(res * NS_PER_S);
    if (step < 1000000)
        step = 1000000;
    size_t n = (size_t)ceil((double)(d.t1_ns - d.t0_ns) / (double)step);
    if (n < 1)
        n = 1;
    double *col = malloc(n * (size_t)(d.gpus + 1) * sizeof *col);
    if (!col) {
        fm_run_data_free(&d);
        return fm_fail(err, FM_ERR_NOMEM, "CSV: out of memory");
    }
    for (int g = 0; g < d.gpus; g++)
        fm_signal_bin_means(&d.gpu[g].sig, d.t0_ns, step, n, col + (size_t)g * n);
    fm_signal_bin_means(&d.agg, d.t0_ns, step, n, col + (size_t)d.gpus * n);
    int to_stdout = !strcmp(path, "-");
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (!f) {
        rc = fm_fail(err, FM_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    fputs("time_s", f);
    for (int g = 0; g < d.gpus; g++)
        fprintf(f, ",gpu%d_power_w", g);
    fputs(",total_power_w,phase\n", f);
    for (size_t k = 0; k < n; k++) {
        fprintf(f, "%.3f", (double)k * (double)step / NS_PER_S);
        for (int g = 0; g <= d.gpus; g++)
            put_value(f, col[(size_t)g * n + k]);
        int ph =
            fm_segments_phase_at(d.agg_seg, d.n_agg_seg, d.t0_ns + (int64_t)k * step + step / 2);
        fprintf(f, ",%s\n", ph >= 0 ? fm_phase_name((fm_phase)ph) : "");
    }
    int bad = ferror(f);
    if (to_stdout)
        bad |= fflush(f);
    else
        bad |= fclose(f);
    if (bad)
        rc = fm_fail(err, FM_ERR_IO, "%s: write failed", path);
done:
    free(col);
    fm_run_data_free(&d);
    return rc;
}

/* A file name from a run name: letters, digits, '-', '_', '.' kept. */
static void safe_name(const fm_run *run, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = run->name; *p && k + 1 < cap; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        out[k++] = ok ? c : '_';
    }
    out[k] = '\0';
    if (k == 0 || out[0] == '.')
        snprintf(out, cap, "run-%lld", (long long)run->id);
}

int fm_profile_default_paths(const fm_run *run, const char *dir, char *json_path, size_t json_cap,
                             char *csv_path, size_t csv_cap, fm_error *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fm_fail(err, FM_ERR_IO, "%s: %s", dir, strerror(errno));
    char name[160];
    safe_name(run, name, sizeof name);
    snprintf(json_path, json_cap, "%s/%s-%lld.json", dir, name, (long long)run->id);
    snprintf(csv_path, csv_cap, "%s/%s-%lld.csv", dir, name, (long long)run->id);
    return FM_OK;
}

int fm_profile_auto_export(fm_store *st, int64_t run_id, const char *dir, char *json_path,
                           size_t json_cap, char *csv_path, size_t csv_cap, fm_error *err)
{
    fm_run run;
    int rc = fm_store_get_run(st, run_id, &run, err);
    if (rc)
        return rc;
    char jp[512], cp[512];
    if ((rc = fm_profile_default_paths(&run, dir, jp, sizeof jp, cp, sizeof cp, err)))
        return rc;
    fm_profile *p;
    if ((rc = fm_profile_build(st, run_id, NULL, &p, err)))
        return rc;
    rc = fm_profile_write_json(p, jp, err);
    fm_profile_free(p);
    if (rc == FM_OK)
        rc = fm_trace_write_csv(st, run_id, cp, 0, NULL, err);
    if (rc == FM_OK && json_path)
        snprintf(json_path, json_cap, "%s", jp);
    if (rc == FM_OK && csv_path)
        snprintf(csv_path, csv_cap, "%s", cp);
    return rc;
}
