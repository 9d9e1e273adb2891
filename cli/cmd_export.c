/* firmus export — writes the workload profile (JSON, the digital twin's
 * contract) and the power trace (CSV) of a stored run. Argument parsing
 * only; the work is fm_profile_build / fm_profile_write_json /
 * fm_trace_write_csv (docs/WORKLOAD_EXPORT_GUIDE.md). */
#include "cli.h"
#include "common_opts.h"

#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmus/profile.h"
#include "firmus/store.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: firmus export RUN [options]\n\n"
            "Writes the workload profile (JSON for firmus-ai-factory's\n"
            "WorkloadProfile.from_json) and the power trace (CSV) of a run. RUN is an id,\n"
            "a name, or \"last\". Without --json/--csv both go to --dir (default\n"
            "workload_profiles/ beside the run store) as <name>-<id>.json and .csv.\n\n"
            "options:\n"
            "  --json FILE          profile JSON to FILE (\"-\" = stdout)\n"
            "  --csv FILE           trace CSV to FILE (\"-\" = stdout): time_s, gpu<i>_power_w,\n"
            "                       total_power_w, phase\n"
            "  --dir DIR            folder for the default file names (default\n"
            "                       workload_profiles/ beside the store)\n"
            "  --resolution S       trace grid in seconds (default: 0.1 s up to 1 h, coarser\n"
            "                       for longer runs so the profile keeps <= 36000 points)\n"
            "  --gpu N|mean         GPU whose watts form power_trace (default 0); mean: the\n"
            "                       node's power / GPU count (GPUs that take turns)\n"
            "  --model NAME         model_name (default: the run's model)\n"
            "  --params N           model_size_params, e.g. 32e9 (default: the run's)\n"
            "  --platform NAME      gpu_platform (default: from the GPU name, e.g. H200)\n"
            "  --cooling TYPE       cooling_type (default: unknown)\n"
            "  --no-markers         phases from power only, even if the run has markers\n"
            "  --idle-below W|auto  idle below this power per GPU (default auto: the run's\n"
            "                       idle level + max(20 W, 5 %% of the way to its busy\n"
            "                       level), at least 100 W; a number is used as given)\n"
            "  --ramp-above W/S     ramp when rising faster (default 100)\n"
            "  --fall-below W/S     fall when falling faster, negative (default -100)\n"
            "  --min-segment S      shortest idle gap / busy blip kept (default 0.3)\n"
            "  --smooth S           running-median width (default 0.5)\n"
            "  --tokens-per-query N for wh_per_1k_queries (default 100)\n"
            "  --db FILE            run store (default $FIRMUS_DB or ./firmus.db)\n"
            "  --quiet              no summary on stderr\n"
            "  -h, --help           this help\n");
}

static int number(const char *opt, const char *text, double min, double *out)
{
    if (fm_cli_parse_double(text, min, out) != 0) {
        fm_cli_error("export", "%s wants a number >= %g, not '%s'", opt, min, text);
        return -1;
    }
    return 0;
}

int fm_cmd_export(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", required_argument, NULL, 'j'},
        {"csv", required_argument, NULL, 'c'},
        {"dir", required_argument, NULL, 'D'},
        {"resolution", required_argument, NULL, 'r'},
        {"gpu", required_argument, NULL, 'g'},
        {"model", required_argument, NULL, 'm'},
        {"params", required_argument, NULL, 'p'},
        {"platform", required_argument, NULL, 'P'},
        {"cooling", required_argument, NULL, 'C'},
        {"no-markers", no_argument, NULL, 'n'},
        {"idle-below", required_argument, NULL, 'i'},
        {"ramp-above", required_argument, NULL, 'a'},
        {"fall-below", required_argument, NULL, 'f'},
        {"min-segment", required_argument, NULL, 's'},
        {"smooth", required_argument, NULL, 'S'},
        {"tokens-per-query", required_argument, NULL, 'q'},
        {"db", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'Q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    fm_profile_options po;
    fm_profile_options_default(&po);
    const char *db_path = fm_store_default_path(), *json_path = NULL, *csv_path = NULL;
    const char *dir = NULL; /* workload_profiles/ beside the store */
    char beside[1024];
    int quiet = 0, opt;
    double v = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case 'j':
            json_path = optarg;
            break;
        case 'c':
            csv_path = optarg;
            break;
        case 'D':
            dir = optarg;
            break;
        case 'r':
            bad = number("--resolution", optarg, 0.001, &po.resolution_s);
            break;
        case 'g':
            if (!strcmp(optarg, "mean")) {
                po.gpu = FM_PROFILE_GPU_MEAN;
                break;
            }
            bad = number("--gpu", optarg, 0, &v) || v != floor(v) || v > 1024;
            po.gpu = (int)v;
            if (bad)
                fm_cli_error("export", "--gpu wants a GPU index or \"mean\"");
            break;
        case 'm':
            po.model_name = optarg;
            break;
        case 'p':
            bad = number("--params", optarg, 0, &po.model_params);
            break;
        case 'P':
            po.gpu_platform = optarg;
            break;
        case 'C':
            po.cooling_type = optarg;
            break;
        case 'n':
            po.ignore_markers = 1;
            break;
        case 'i':
            if (!strcmp(optarg, "auto"))
                po.phases.idle_below_w = NAN; /* derived from the run */
            else
                bad = number("--idle-below (W, or \"auto\")", optarg, 0, &po.phases.idle_below_w);
            break;
        case 'a':
            bad = number("--ramp-above", optarg, 0, &po.phases.ramp_above_w_per_s);
            break;
        case 'f':
            bad = number("--fall-below", optarg, -1e9, &po.phases.fall_below_w_per_s);
            if (!bad && po.phases.fall_below_w_per_s >= 0) {
                fm_cli_error("export", "--fall-below wants a negative rate (W/s)");
                bad = 1;
            }
            break;
        case 's':
            bad = number("--min-segment", optarg, 0, &po.phases.min_segment_s);
            break;
        case 'S':
            bad = number("--smooth", optarg, 0, &po.phases.smooth_s);
            break;
        case 'q':
            bad = number("--tokens-per-query", optarg, 1e-9, &po.tokens_per_query);
            break;
        case 'd':
            db_path = optarg;
            break;
        case 'Q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return FM_EXIT_OK;
        default:
            usage(stderr);
            return FM_EXIT_USAGE;
        }
        if (bad)
            return FM_EXIT_USAGE;
    }
    if (argc - optind != 1) {
        fm_cli_error("export", "which run? (an id, a name, or \"last\"; firmus export --help)");
        return FM_EXIT_USAGE;
    }
    fm_store *st;
    int code =
        fm_cli_open_existing_store("export", db_path, "record or import a run, or pass --db", &st);
    if (code != FM_EXIT_OK)
        return code;
    fm_error err = {0};
    fm_run run;
    fm_profile *p = NULL;
    char jp[600], cp[600];
    int rc = fm_store_find_run(st, argv[optind], &run, &err);
    if (rc == FM_OK && !json_path && !csv_path) {
        if (!dir) {
            char copy[1024];
            snprintf(copy, sizeof copy, "%s", db_path);
            snprintf(beside, sizeof beside, "%s/workload_profiles", dirname(copy));
            dir = beside;
        }
        rc = fm_profile_default_paths(&run, dir, jp, sizeof jp, cp, sizeof cp, &err);
        json_path = jp;
        csv_path = cp;
    }
    if (rc == FM_OK) {
        if (json_path) {
            rc = fm_profile_build(st, run.id, &po, &p, &err);
            if (rc == FM_OK)
                rc = fm_profile_write_json(p, json_path, &err);
        }
        if (rc == FM_OK && csv_path)
            rc = fm_trace_write_csv(st, run.id, csv_path, po.resolution_s, &po, &err);
    }
    if (rc) {
        fm_cli_error("export", "%s", err.msg);
    } else if (!quiet) {
        if (p)
            fm_profile_print_summary(p, stderr);
        if (json_path && strcmp(json_path, "-"))
            fprintf(stderr, "profile: %s\n", json_path);
        if (csv_path && strcmp(csv_path, "-"))
            fprintf(stderr, "trace:   %s\n", csv_path);
    }
    fm_profile_free(p);
    fm_store_close(st);
    return fm_cli_exit_code(rc);
}
