/* firmus import — turns logs users already have into runs: nvidia-smi
 * --query-gpu CSV or dmon text, and pyJoules-style marker CSVs (phase
 * start, runtime, per-GPU NVML energy). Argument parsing only; the work is
 * in src/export/import_*.c (docs/WORKLOAD_EXPORT_GUIDE.md). */
#include "cli.h"
#include "common_opts.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmus/import.h"
#include "firmus/store.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: firmus import [options] LOG\n"
                 "       firmus import --markers FILE --run RUN [options]\n\n"
                 "Imports an nvidia-smi log as a run (then ls/show/export work on it), and/or\n"
                 "phase markers with their NVML energy.\n\n"
                 "LOG formats:\n"
                 "  nvidia-smi --query-gpu=timestamp,[index,name,]power.draw[,...] --format=csv\n"
                 "      units in header and values, [N/A] = missing; without an index column\n"
                 "      rows are GPUs 0..N-1 in order (--gpus N)\n"
                 "  nvidia-smi dmon [-o DT]   (without Date/Time columns: --interval S)\n\n"
                 "options:\n"
                 "  --gpus N             GPUs per poll when the log has no index column\n"
                 "  --tz ZONE            zone of the log's timestamps: UTC (default), an offset\n"
                 "                       like -05:00, or an IANA name like America/Chicago\n"
                 "  --power-field F      what power.draw means: instant, avg, or auto (default:\n"
                 "                       from the GPU name column: A100/GA100 and older instant,\n"
                 "                       newer the 1 s average; no name column: 1 s average)\n"
                 "  --interval S         dmon without timestamps: seconds between polls\n"
                 "  --name NAME          run name (default: the file name)\n"
                 "  --model NAME         model name of the run\n"
                 "  --params N           model size in parameters, e.g. 70e9\n"
                 "  --markers FILE       marker CSV (Timestamp = epoch UTC, Phase, Runtime (s),\n"
                 "                       GPU-<k> Energy (mJ)); added to the imported run, or to\n"
                 "                       --run RUN\n"
                 "  --run RUN            existing run for --markers (an id, a name, or \"last\")\n"
                 "  --db FILE            run store (default $FIRMUS_DB or ./firmus.db)\n"
                 "  -h, --help           this help\n\n"
                 "Malformed input stops the import with one message naming file and line\n"
                 "(exit 5); a truncated last line is dropped and reported.\n");
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Reads the options; returns -1 (exit code in *code) to stop. */
typedef struct import_args {
    fm_import_options opt;
    const char *db_path, *markers, *run, *name, *model, *log;
    double params;
} import_args;

static int parse_args(int argc, char **argv, import_args *a, int *code)
{
    static const struct option options[] = {
        {"gpus", required_argument, NULL, 'g'},
        {"tz", required_argument, NULL, 'z'},
        {"power-field", required_argument, NULL, 'p'},
        {"interval", required_argument, NULL, 'i'},
        {"name", required_argument, NULL, 'n'},
        {"model", required_argument, NULL, 'm'},
        {"params", required_argument, NULL, 'P'},
        {"markers", required_argument, NULL, 'M'},
        {"run", required_argument, NULL, 'r'},
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'g': {
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || v < 1 || v > 256) {
                fm_cli_error("import", "--gpus wants 1..256, not '%s'", optarg);
                return *code = FM_EXIT_USAGE, -1;
            }
            a->opt.gpus = (int)v;
            break;
        }
        case 'z':
            a->opt.tz = optarg;
            break;
        case 'p':
            if (!strcmp(optarg, "instant"))
                a->opt.power_field = FM_PF_INSTANT;
            else if (!strcmp(optarg, "avg"))
                a->opt.power_field = FM_PF_AVG;
            else if (!strcmp(optarg, "auto"))
                a->opt.power_field = FM_PF_AUTO;
            else {
                fm_cli_error("import", "--power-field wants instant, avg or auto, not '%s'",
                             optarg);
                return *code = FM_EXIT_USAGE, -1;
            }
            break;
        case 'i':
            if (fm_cli_parse_double(optarg, 0, &a->opt.interval_s) != 0 ||
                !(a->opt.interval_s > 0) || a->opt.interval_s > 3600) {
                fm_cli_error("import", "--interval wants seconds > 0, not '%s'", optarg);
                return *code = FM_EXIT_USAGE, -1;
            }
            break;
        case 'n':
            a->name = optarg;
            break;
        case 'm':
            a->model = optarg;
            break;
        case 'P':
            a->params = strtod(optarg, &end);
            if (*optarg == '\0' || *end || !(a->params > 0) || !isfinite(a->params)) {
                fm_cli_error("import", "--params wants a number > 0, not '%s'", optarg);
                return *code = FM_EXIT_USAGE, -1;
            }
            break;
        case 'M':
            a->markers = optarg;
            break;
        case 'r':
            a->run = optarg;
            break;
        case 'd':
            a->db_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return *code = FM_EXIT_OK, -1;
        default:
            usage(stderr);
            return *code = FM_EXIT_USAGE, -1;
        }
    }
    if (argc - optind > 1) {
        fm_cli_error("import", "one log at a time (firmus import --help)");
        return *code = FM_EXIT_USAGE, -1;
    }
    a->log = argc - optind == 1 ? argv[optind] : NULL;
    if (!a->log && !a->markers) {
        fm_cli_error("import", "what to import? a log file and/or --markers FILE");
        return *code = FM_EXIT_USAGE, -1;
    }
    if (!a->log && !a->run) {
        fm_cli_error("import", "--markers without a log needs --run RUN");
        return *code = FM_EXIT_USAGE, -1;
    }
    if (a->log && a->run) {
        fm_cli_error("import", "--run is for markers alone; a log makes a new run");
        return *code = FM_EXIT_USAGE, -1;
    }
    fm_error err;
    if (a->opt.tz && fm_tz_check(a->opt.tz, &err)) {
        fm_cli_error("import", "%s", err.msg);
        return *code = FM_EXIT_USAGE, -1;
    }
    return 0;
}

static int import_log(fm_store *st, const import_args *a, fm_run *run, fm_error *err)
{
    fm_import_log log;
    int rc = fm_import_smi_file(a->log, &a->opt, &log, err);
    if (rc)
        return rc;
    memset(run, 0, sizeof *run);
    snprintf(run->name, sizeof run->name, "%s", a->name ? a->name : base_name(a->log));
    snprintf(run->model, sizeof run->model, "%s", a->model ? a->model : "");
    run->params = a->params;
    rc = fm_import_log_to_store(st, &log, run, err);
    if (rc == FM_OK)
        rc = fm_store_set_meta(st, run->id, "import_file", a->log, err);
    if (rc == FM_OK) {
        double dur = (double)run->end_ns / 1e9;
        printf("imported run %lld \"%s\" from %s (%s): %d GPU%s, %zu rows, %.1f s\n",
               (long long)run->id, run->name, a->log, log.format, log.gpus,
               log.gpus == 1 ? "" : "s", log.rows, dur);
        printf("  power: %s\n", log.power_rule);
        if (log.truncated_lines)
            printf("  dropped a truncated last line\n");
        if (log.dropped_rows)
            printf("  dropped %zu rows whose time did not advance for their GPU\n",
                   log.dropped_rows);
    }
    fm_import_log_free(&log);
    return rc;
}

static int import_markers(fm_store *st, const import_args *a, const fm_run *run, fm_error *err)
{
    fm_marker *m;
    size_t n;
    int rc = fm_import_markers_file(a->markers, &m, &n, err);
    if (rc)
        return rc;
    rc = fm_import_markers_to_store(st, run, m, n, err);
    if (rc == FM_OK) {
        rc = fm_store_flush(st, err);
        printf("added %zu markers from %s to run %lld\n", n, a->markers, (long long)run->id);
    }
    free(m);
    return rc;
}

int fm_cmd_import(int argc, char **argv)
{
    import_args a;
    memset(&a, 0, sizeof a);
    a.db_path = fm_store_default_path();
    a.params = NAN;
    int code = 0;
    if (parse_args(argc, argv, &a, &code))
        return code;
    fm_store *st;
    fm_error err = {0};
    int rc = fm_store_open(a.db_path, &st, &err);
    if (rc) {
        fm_cli_error("import", "%s", err.msg);
        return fm_cli_exit_code(rc);
    }
    fm_run run;
    if (a.log)
        rc = import_log(st, &a, &run, &err);
    else
        rc = fm_store_find_run(st, a.run, &run, &err);
    if (rc == FM_OK && a.markers)
        rc = import_markers(st, &a, &run, &err);
    if (rc)
        fm_cli_error("import", "%s", err.msg);
    fm_store_close(st);
    return fm_cli_exit_code(rc);
}
