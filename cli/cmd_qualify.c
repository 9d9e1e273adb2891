/* firmus qualify: the Model-to-Grid tier of a recorded run, or of a command
 * it records first (the original framework's ~30 s micro-benchmark, but
 * measuring a real workload). Parses arguments and calls fm_record_run and
 * fm_econ_qualify_run; output format in docs/ECONOMIC_ANALYSIS.md. */
#include "cli.h"
#include "common_opts.h"

#include "firmus/econ.h"
#include "firmus/record.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void qualify_usage(FILE *out)
{
    fprintf(out, "usage: firmus qualify RUN [options]\n"
                 "       firmus qualify [--duration S] [record options] -- CMD [ARGS...]\n"
                 "       firmus qualify --duration S [record options]\n\n"
                 "Model-to-Grid tier of a run: the power CV over the steady decode phase\n"
                 "(markers, else detected, else the run minus idle), at the policy's\n"
                 "resolution, judged by a policy. With -- CMD, records CMD first and\n"
                 "qualifies that run (--duration S stops CMD after S seconds, with\n"
                 "timeout(1)); with --duration S alone, records S seconds of whatever the\n"
                 "GPUs are running (the original framework's ~30 s micro-benchmark).\n\n"
                 "  --policy NAME|FILE    m2g-cv-only (default), m2g-original-code, or a file\n"
                 "  --resolution S        CV resolution in seconds, overriding the policy's\n"
                 "                        (0 = the sensor's own publications, as both shipped\n"
                 "                        policies; 1 = 1 s means, like the original framework's\n"
                 "                        1 s-average readings)\n"
                 "  --show-policy         print the policy's text and exit\n"
                 "  --json                print the result as JSON\n"
                 "  --db PATH             run store (default $FIRMUS_DB or ./firmus.db)\n"
                 "record options (without RUN):\n"
                 "  --duration S          seconds to record (with CMD: stop CMD after S s)\n"
                 "  --backend nvml|sim    sensor backend (default nvml)\n"
                 "  --preset NAME         sim: model preset (default Qwen3-32B)\n"
                 "  --seed N              sim: random seed (default 1)\n"
                 "  --sim-gpus N          sim: number of simulated GPUs (default 1)\n"
                 "  --name NAME           name of the recorded run\n"
                 "  -h, --help            this help\n");
}

typedef struct qualify_args {
    const char *run;
    const char *policy;
    const char *db;
    const char *backend;
    const char *sim_preset;
    const char *name;
    long long seed;
    int sim_gpus;
    double duration_s;
    double resolution_s; /* NAN: the policy's */
    int duration_given;  /* --duration without RUN or CMD: record that long */
    int json;
    int show_policy;
    char **command;
} qualify_args;

enum {
    OPT_POLICY = 256,
    OPT_RESOLUTION,
    OPT_SHOW,
    OPT_JSON,
    OPT_DB,
    OPT_DURATION,
    OPT_BACKEND,
    OPT_PRESET,
    OPT_NAME,
    OPT_SEED,
    OPT_SIM_GPUS
};

static int parse_args(int argc, char **argv, qualify_args *a)
{
    static const struct option options[] = {
        {"policy", required_argument, NULL, OPT_POLICY},
        {"show-policy", no_argument, NULL, OPT_SHOW},
        {"resolution", required_argument, NULL, OPT_RESOLUTION},
        {"json", no_argument, NULL, OPT_JSON},
        {"db", required_argument, NULL, OPT_DB},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"preset", required_argument, NULL, OPT_PRESET},
        {"seed", required_argument, NULL, OPT_SEED},
        {"sim-gpus", required_argument, NULL, OPT_SIM_GPUS},
        {"name", required_argument, NULL, OPT_NAME},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    a->duration_s = NAN;
    a->resolution_s = NAN;
    a->backend = "nvml";
    opterr = 0;
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            qualify_usage(stdout);
            return 1;
        case OPT_POLICY:
            a->policy = optarg;
            break;
        case OPT_RESOLUTION:
            if (fm_cli_parse_double(optarg, 0, &a->resolution_s) != 0 || a->resolution_s > 60) {
                fm_cli_error("qualify", "--resolution needs seconds in [0, 60], not '%s'", optarg);
                return FM_ERR_USAGE;
            }
            break;
        case OPT_SHOW:
            a->show_policy = 1;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_DB:
            a->db = optarg;
            break;
        case OPT_DURATION:
            errno = 0;
            a->duration_s = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(a->duration_s > 0) ||
                !isfinite(a->duration_s)) {
                fm_cli_error("qualify", "--duration needs seconds > 0, not '%s'", optarg);
                return FM_ERR_USAGE;
            }
            a->duration_given = 1;
            break;
        case OPT_BACKEND:
            a->backend = optarg;
            break;
        case OPT_PRESET:
            a->sim_preset = optarg;
            break;
        case OPT_SEED:
        case OPT_SIM_GPUS: {
            int64_t v;
            if (fm_cli_parse_int64(optarg, c == OPT_SEED ? 0 : 1, &v) != 0 ||
                (c == OPT_SIM_GPUS && v > 1024)) {
                fm_cli_error("qualify", "--%s needs a whole number, not '%s'",
                             c == OPT_SEED ? "seed" : "sim-gpus", optarg);
                return FM_ERR_USAGE;
            }
            if (c == OPT_SEED)
                a->seed = v;
            else
                a->sim_gpus = (int)v;
            break;
        }
        case OPT_NAME:
            a->name = optarg;
            break;
        default:
            fm_cli_error("qualify", "unknown or incomplete option '%s' (firmus qualify --help)",
                         argv[optind - 1]);
            return FM_ERR_USAGE;
        }
    }
    int dashdash = optind > 1 && !strcmp(argv[optind - 1], "--");
    if (a->show_policy)
        return FM_OK;
    if (dashdash && optind < argc) {
        a->command = argv + optind;
        return FM_OK;
    }
    if (!dashdash && optind == argc - 1) {
        a->run = argv[optind];
        return FM_OK;
    }
    if (optind == argc && a->duration_given)
        return FM_OK; /* record S seconds of whatever the GPUs run, then qualify */
    fm_cli_error("qualify", "give one RUN, or -- CMD to record (firmus qualify --help)");
    return FM_ERR_USAGE;
}

/* Records the command; fills *run_id. */
static int record_command(const qualify_args *a, const char *db, int64_t *run_id, fm_error *err)
{
    fm_record_options o;
    fm_record_options_default(&o);
    o.backend = a->backend;
    o.backend_opt.sim_preset = a->sim_preset;
    if (a->seed > 0)
        o.backend_opt.sim_seed = (uint64_t)a->seed;
    if (a->sim_gpus > 0)
        o.backend_opt.sim_gpus = a->sim_gpus;
    /* with a command and a duration: timeout(1) stops the command */
    char seconds[32];
    char **argv = NULL;
    if (a->command && a->duration_given) {
        size_t n = 0;
        while (a->command[n])
            n++;
        argv = calloc(n + 4, sizeof *argv);
        if (!argv)
            return fm_fail(err, FM_ERR_NOMEM, "out of memory");
        snprintf(seconds, sizeof seconds, "%g", a->duration_s);
        argv[0] = "timeout";
        argv[1] = seconds;
        for (size_t i = 0; i < n; i++)
            argv[i + 2] = a->command[i];
    }
    if (!a->command)
        o.duration_s = a->duration_s;
    o.command = argv ? argv : a->command;
    o.db_path = db;
    o.name = a->name;
    fm_record_result res;
    int rc = fm_record_run(&o, &res, err);
    int limited = argv != NULL;
    free(argv);
    if (rc != FM_OK)
        return rc;
    if (limited && res.child_exit_code == 124)
        fprintf(stderr, "firmus qualify: stopped the command after %g s\n", a->duration_s);
    else if (res.child_exit_code > 0)
        fprintf(stderr, "firmus qualify: note: the command exited with %d\n", res.child_exit_code);
    *run_id = res.run_id;
    return FM_OK;
}

static int qualify(const qualify_args *a, const fm_policy *p, fm_qualification *q, fm_error *err)
{
    const char *db = a->db ? a->db : fm_store_default_path();
    int64_t run_id = -1;
    int rc = FM_OK;
    if (!a->run)
        rc = record_command(a, db, &run_id, err);
    fm_store *st = NULL;
    if (rc == FM_OK)
        rc = fm_store_open(db, &st, err);
    if (rc == FM_OK && a->run) {
        fm_run run;
        rc = fm_store_find_run(st, a->run, &run, err);
        run_id = run.id;
    }
    if (rc == FM_OK)
        rc = fm_econ_qualify_run(st, run_id, p, q, err);
    if (st)
        fm_store_close(st);
    return rc;
}

int fm_cmd_qualify(int argc, char **argv)
{
    qualify_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc == 1)
        return FM_EXIT_OK;
    if (rc != FM_OK)
        return FM_EXIT_USAGE;
    fm_error err = {0};
    fm_policy p;
    rc = fm_policy_load(a.policy, &p, &err);
    if (rc == FM_OK && a.show_policy) {
        const char *text = fm_policy_builtin_text(a.policy ? a.policy : fm_policy_default_name());
        if (text)
            fputs(text, stdout);
        else
            printf("policy %s (from %s): %zu tiers, CV over %s at %g s\n", p.name, a.policy,
                   p.n_tiers, p.window, p.resolution_s);
        return FM_EXIT_OK;
    }
    if (!isnan(a.resolution_s))
        p.resolution_s = a.resolution_s;
    fm_qualification q;
    if (rc == FM_OK)
        rc = qualify(&a, &p, &q, &err);
    if (rc != FM_OK) {
        fm_cli_error("qualify", "%s", err.msg);
        return fm_cli_exit_code(rc);
    }
    if (a.json) {
        char *json = NULL;
        rc = fm_qualification_to_json(&q, &json, &err);
        if (rc != FM_OK) {
            fm_cli_error("qualify", "%s", err.msg);
            return fm_cli_exit_code(rc);
        }
        printf("%s\n", json);
        free(json);
        return FM_EXIT_OK;
    }
    printf("tier: %d (%s, %s)\n", q.tier, q.tier_name, q.profile_tier);
    printf("discount_percentage: %g\n", q.discount_percentage);
    printf("qualified: %s\n", q.qualified ? "yes" : "no");
    printf("power_cv: %.4f\n", q.power_cv);
    printf("avg_power_watts: %.1f\n", q.avg_power_watts);
    printf("peak_power_watts: %.1f\n", q.peak_power_watts);
    printf("policy: %s\n", q.policy);
    char resolution[48];
    if (q.measured.resolution_s > 0)
        snprintf(resolution, sizeof resolution, "%g s means", q.measured.resolution_s);
    else
        snprintf(resolution, sizeof resolution, "sensor publications");
    printf("window: %s, %.2f-%.2f s, %zu points (%s), source %s, GPU %d\n", q.measured.window,
           q.measured.start_s, q.measured.end_s, q.measured.points, resolution,
           q.measured.power_source, q.measured.gpu);
    printf("reasoning: %s\n", q.reasoning);
    return FM_EXIT_OK;
}
