/* firmus ls — lists the runs of a run store, newest first: id, name,
 * model, start time, duration, GPUs, energy (the quick counter total of
 * fm_metrics_quick_energy) and status. Text table or JSON (docs/CLI.md). */
#include "cli.h"
#include "cli_format.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmus/metrics.h"
#include "firmus/store.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: firmus ls [--db FILE] [--json]\n\n"
                 "Lists the runs in the run store, newest first: id, name, model, start\n"
                 "time (local), duration, GPUs, energy and status (complete, recording, or\n"
                 "incomplete when the recorder died before finishing).\n\n"
                 "  --db FILE   run store (default: $FIRMUS_DB, else ./firmus.db)\n"
                 "  --json      JSON array instead of a table (docs/CLI.md)\n"
                 "  -h, --help  this help\n");
}

/* Duration of a run: first tick to last committed sample; NAN if unknown. */
static double run_duration_s(const fm_run *run)
{
    if (run->end_ns <= 0 || run->end_ns < run->t0_ns)
        return NAN;
    return (double)(run->end_ns - run->t0_ns) / 1e9;
}

static json_t *run_json(const fm_run *run, double energy_j, fm_source source)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(run->id));
    json_object_set_new(o, "name", json_string(run->name));
    json_object_set_new(o, "model", run->model[0] ? json_string(run->model) : json_null());
    json_object_set_new(o, "params", fm_cli_json_real(run->params));
    json_object_set_new(o, "tags", json_string(run->tags));
    json_object_set_new(o, "backend", json_string(run->backend));
    json_object_set_new(o, "source", json_string(run->source));
    fm_cli_json_set_run_timing(o, run, run_duration_s(run));
    json_object_set_new(o, "tokens", fm_cli_json_int(run->tokens, -1));
    json_object_set_new(o, "energy_j", fm_cli_json_real(energy_j));
    json_object_set_new(o, "energy_source",
                        isnan(energy_j) ? json_null() : json_string(fm_source_name(source)));
    json_object_set_new(o, "status", json_string(fm_run_status_name(run->status)));
    json_object_set_new(o, "exit_code", fm_cli_json_int(run->exit_code, -1));
    return o;
}

static void print_row(const fm_run *run, double energy_j)
{
    char when[64], duration[32], energy[32];
    fm_cli_format_wall_time(run->start_wall_ns, when, sizeof when);
    fm_cli_format_duration(run_duration_s(run), duration, sizeof duration);
    fm_cli_format_energy(energy_j, energy, sizeof energy);
    printf("%6lld  %-24.24s %-20.20s %-24s %11s %4d %12s  %s\n", (long long)run->id, run->name,
           run->model[0] ? run->model : "-", when, duration, run->gpus, energy,
           fm_run_status_name(run->status));
}

static int list_runs(fm_store *st, const char *db_path, int as_json)
{
    fm_error err = {0};
    fm_run *runs;
    size_t count;
    int rc = fm_store_list_runs(st, &runs, &count, &err);
    if (rc) {
        fm_cli_error("ls", "%s", err.msg);
        return fm_cli_exit_code(rc);
    }
    json_t *array = as_json ? json_array() : NULL;
    if (!as_json && count == 0)
        printf("no runs in %s\n", db_path);
    else if (!as_json)
        printf("%6s  %-24s %-20s %-24s %11s %4s %12s  %s\n", "ID", "NAME", "MODEL", "START",
               "DURATION", "GPUS", "ENERGY", "STATUS");
    for (size_t i = 0; i < count && rc == FM_OK; i++) {
        double energy_j;
        fm_source source;
        rc = fm_metrics_quick_energy(st, &runs[i], &energy_j, &source, &err);
        if (rc)
            break;
        if (as_json)
            json_array_append_new(array, run_json(&runs[i], energy_j, source));
        else
            print_row(&runs[i], energy_j);
    }
    free(runs);
    if (rc) {
        json_decref(array);
        fm_cli_error("ls", "%s", err.msg);
        return fm_cli_exit_code(rc);
    }
    int write_failed = as_json ? fm_cli_json_print(array) : 0;
    json_decref(array);
    return write_failed ? FM_EXIT_FAIL : FM_EXIT_OK;
}

int fm_cmd_ls(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db_path = fm_store_default_path();
    int as_json = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            db_path = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            usage(stdout);
            return FM_EXIT_OK;
        default:
            usage(stderr);
            return FM_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fm_cli_error("ls", "unexpected argument '%s' (firmus ls --help)", argv[optind]);
        return FM_EXIT_USAGE;
    }
    fm_store *st;
    int code =
        fm_cli_open_existing_store("ls", db_path, "record a run first, or pass --db FILE", &st);
    if (code != FM_EXIT_OK)
        return code;
    code = list_runs(st, db_path, as_json);
    fm_store_close(st);
    return code;
}
