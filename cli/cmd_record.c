/* firmus record — samples GPU power while a command runs (or for a
 * duration) and stores the run: `perf stat` for GPU energy. This file only
 * parses options, calls fm_record_run and prints the summary; the
 * recorder is src/record/. Options: `firmus record --help`,
 * docs/RECORDING.md. */
#include "cli.h"
#include "common_opts.h"
#include "record_export.h"
#include "firmus/metrics.h"
#include "firmus/record.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_GPUS 1024

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: firmus record [options] -- CMD [ARGS...]\n"
        "       firmus record [options] --duration S\n\n"
        "Samples GPU power on a fixed tick grid while CMD runs (with a pre-roll before it\n"
        "and a post-roll after it), or for S seconds (or until Ctrl-C), and stores the run.\n"
        "CMD's stdout/stderr are untouched; firmus exits with CMD's exit code.\n"
        "CMD may send phase/token markers: see `firmus mark --help` and docs/MARKERS.md.\n\n"
        "sensors:\n"
        "  --backend nvml|sim     sensor backend (default nvml)\n"
        "  --gpus LIST|all        GPUs to sample, e.g. 0,2-3 (default all)\n"
        "  --library PATH         nvml: load this libnvidia-ml.so.1 instead of the system's\n"
        "  --preset NAME          sim: model preset (default Qwen3-32B)\n"
        "  --seed N               sim: random seed (default 1)\n"
        "  --pattern single|serving  sim: workload pattern (default single)\n"
        "  --sim-gpus N           sim: number of simulated GPUs (default 1)\n"
        "  --request-rate HZ      sim serving: mean request arrivals per second\n"
        "  --sim-real-time        sim without CMD: run in real time (default: virtual time,\n"
        "                         a 10-minute run takes well under a second)\n"
        "timing:\n"
        "  --interval MS          tick interval (default 25 ms)\n"
        "  --high-res             10 ms ticks\n"
        "  --slow-interval MS     temperature/clocks/utilisation/memory/throttle (default 100)\n"
        "  --energy-interval MS   energy counter (default 100; nvml reads it in a thread)\n"
        "  --duration S           without CMD: record S seconds (default: until Ctrl-C)\n"
        "  --preroll S            with CMD: idle sampling before it starts (default 1)\n"
        "  --postroll S           with CMD: sampling after it exits (default 2)\n"
        "run description:\n"
        "  --db FILE              run store (default $FIRMUS_DB, else ./firmus.db)\n"
        "  --name NAME            run name\n"
        "  --tag T                tag (repeatable)\n"
        "  --model NAME           model name\n"
        "  --params N             model size in parameters: 32e9, 32B, 500M, 1.5T\n"
        "  --tokens N             tokens produced (default: the sum of marker tokens)\n"
        "  --mark-socket PATH     put the marker socket here (default: a temp dir)\n"
        "output:\n"
        "  --quiet                no live status and no summary\n"
        "  --no-export            no workload profile (JSON) and trace (CSV) after the run\n"
        "  --export-dir DIR       where they go (default: workload_profiles/ beside the\n"
        "                         store; docs/WORKLOAD_EXPORT_GUIDE.md)\n"
        "  --help                 this text\n\n"
        "The summary (stderr) gives energy per GPU and its source, the achieved interval,\n"
        "tick jitter, missed ticks and recorder CPU per sample. Exit codes: CMD's code\n"
        "(128+signal if it was killed); without CMD 0, 4 if a GPU was lost; 2 bad options;\n"
        "3 NVML missing; 127 CMD not found; 1 other failures.\n");
}

typedef struct record_args {
    fm_record_options o;
    const char *sim_option; /* first sim-only option given, to refuse it with nvml */
    int gpus[MAX_GPUS];
    char tags[256];
    int quiet;
    int duration_given;
    int no_export;          /* --no-export */
    const char *export_dir; /* --export-dir; NULL: workload_profiles/ beside the store */
} record_args;

static int parse_double(const char *opt, const char *text, double min, double *out)
{
    if (fm_cli_parse_double(text, min, out) != 0) {
        fm_cli_error("record", "--%s needs a number >= %g, not '%s'", opt, min, text);
        return -1;
    }
    return 0;
}

static int parse_int64(const char *opt, const char *text, int64_t min, int64_t *out)
{
    if (fm_cli_parse_int64(text, min, out) != 0) {
        fm_cli_error("record", "--%s needs an integer >= %" PRId64 ", not '%s'", opt, min, text);
        return -1;
    }
    return 0;
}

/* "32e9", "32B", "500M", "1.5T", "7b" -> parameters. */
static int parse_params(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    double scale = 1;
    if (!errno && end != text && *end && !end[1]) {
        switch (*end) {
        case 'k':
        case 'K':
            scale = 1e3;
            break;
        case 'm':
        case 'M':
            scale = 1e6;
            break;
        case 'b':
        case 'B':
        case 'g':
        case 'G':
            scale = 1e9;
            break;
        case 't':
        case 'T':
            scale = 1e12;
            break;
        default:
            scale = 0;
        }
        if (scale > 0)
            end++;
    }
    if (errno || end == text || *end || !isfinite(v) || v <= 0) {
        fm_cli_error("record", "--params needs a model size like 32e9, 32B or 500M, not '%s'",
                     text);
        return -1;
    }
    *out = v * scale;
    return 0;
}

/* "0,2-3" -> {0,2,3}; "all" -> NULL list. */
static int parse_gpu_list(const char *text, record_args *a)
{
    if (!strcmp(text, "all")) {
        a->o.gpus = NULL;
        a->o.gpu_count = 0;
        return 0;
    }
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        long first = strtol(p, &end, 10);
        long last = first;
        if (end == p || first < 0)
            goto bad;
        if (*end == '-') {
            const char *q = end + 1;
            last = strtol(q, &end, 10);
            if (end == q || last < first)
                goto bad;
        }
        if (*end && *end != ',')
            goto bad;
        for (long g = first; g <= last; g++) {
            if (n == MAX_GPUS)
                goto bad;
            a->gpus[n++] = (int)g;
        }
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p)
            goto bad;
    }
    if (n == 0)
        goto bad;
    a->o.gpus = a->gpus;
    a->o.gpu_count = n;
    return 0;
bad:
    fm_cli_error("record", "--gpus needs a list like 0,2-3 or 'all', not '%s'", text);
    return -1;
}

static void add_tag(record_args *a, const char *tag)
{
    size_t len = strlen(a->tags);
    snprintf(a->tags + len, sizeof a->tags - len, "%s%s", len ? "," : "", tag);
}

enum {
    OPT_GPUS = 256,
    OPT_BACKEND,
    OPT_NVML_LIB,
    OPT_PRESET,
    OPT_SEED,
    OPT_PATTERN,
    OPT_SIM_GPUS,
    OPT_RATE,
    OPT_SIM_REAL_TIME,
    OPT_INTERVAL,
    OPT_HIGH_RES,
    OPT_SLOW,
    OPT_ENERGY_INTERVAL,
    OPT_DURATION,
    OPT_PREROLL,
    OPT_POSTROLL,
    OPT_MODEL,
    OPT_PARAMS,
    OPT_TOKENS,
    OPT_DB,
    OPT_NAME,
    OPT_TAG,
    OPT_QUIET,
    OPT_SOCKET,
    OPT_NO_EXPORT,
    OPT_EXPORT_DIR,
};

static const struct option longopts[] = {
    {"gpus", required_argument, NULL, OPT_GPUS},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"library", required_argument, NULL, OPT_NVML_LIB},
    {"preset", required_argument, NULL, OPT_PRESET},
    {"seed", required_argument, NULL, OPT_SEED},
    {"pattern", required_argument, NULL, OPT_PATTERN},
    {"sim-gpus", required_argument, NULL, OPT_SIM_GPUS},
    {"request-rate", required_argument, NULL, OPT_RATE},
    {"sim-real-time", no_argument, NULL, OPT_SIM_REAL_TIME},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"high-res", no_argument, NULL, OPT_HIGH_RES},
    {"slow-interval", required_argument, NULL, OPT_SLOW},
    {"energy-interval", required_argument, NULL, OPT_ENERGY_INTERVAL},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"preroll", required_argument, NULL, OPT_PREROLL},
    {"postroll", required_argument, NULL, OPT_POSTROLL},
    {"model", required_argument, NULL, OPT_MODEL},
    {"params", required_argument, NULL, OPT_PARAMS},
    {"tokens", required_argument, NULL, OPT_TOKENS},
    {"db", required_argument, NULL, OPT_DB},
    {"name", required_argument, NULL, OPT_NAME},
    {"tag", required_argument, NULL, OPT_TAG},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"mark-socket", required_argument, NULL, OPT_SOCKET},
    {"no-export", no_argument, NULL, OPT_NO_EXPORT},
    {"export-dir", required_argument, NULL, OPT_EXPORT_DIR},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one option; 0, or -1 after printing why it is wrong. */
static int apply_option(int opt, const char *arg, record_args *a)
{
    fm_record_options *o = &a->o;
    int64_t v = 0;
    switch (opt) {
    case OPT_GPUS:
        return parse_gpu_list(arg, a);
    case OPT_BACKEND:
        if (strcmp(arg, "nvml") && strcmp(arg, "sim")) {
            fm_cli_error("record", "--backend must be nvml or sim, not '%s'", arg);
            return -1;
        }
        o->backend = arg;
        return 0;
    case OPT_NVML_LIB:
        o->backend_opt.library_path = arg;
        return 0;
    case OPT_PRESET:
        a->sim_option = a->sim_option ? a->sim_option : "--preset";
        o->backend_opt.sim_preset = arg;
        return 0;
    case OPT_SEED:
        a->sim_option = a->sim_option ? a->sim_option : "--seed";
        if (parse_int64("seed", arg, 0, &v) != 0)
            return -1;
        o->backend_opt.sim_seed = (uint64_t)v;
        return 0;
    case OPT_PATTERN:
        a->sim_option = a->sim_option ? a->sim_option : "--pattern";
        if (strcmp(arg, "single") && strcmp(arg, "serving")) {
            fm_cli_error("record", "--pattern must be single or serving, not '%s'", arg);
            return -1;
        }
        o->backend_opt.sim_pattern = arg;
        return 0;
    case OPT_SIM_GPUS:
        a->sim_option = a->sim_option ? a->sim_option : "--sim-gpus";
        if (parse_int64("sim-gpus", arg, 1, &v) != 0)
            return -1;
        if (v > 64) {
            fm_cli_error("record", "--sim-gpus is at most 64, not %s", arg);
            return -1;
        }
        o->backend_opt.sim_gpus = (int)v;
        return 0;
    case OPT_RATE:
        a->sim_option = a->sim_option ? a->sim_option : "--request-rate";
        return parse_double("request-rate", arg, 1e-9, &o->backend_opt.sim_request_rate_hz);
    case OPT_SIM_REAL_TIME:
        a->sim_option = a->sim_option ? a->sim_option : "--sim-real-time";
        o->backend_opt.sim_real_time = 1;
        return 0;
    case OPT_INTERVAL:
        return parse_double("interval", arg, 1, &o->interval_ms);
    case OPT_HIGH_RES:
        o->interval_ms = 10;
        return 0;
    case OPT_SLOW:
        return parse_double("slow-interval", arg, 1, &o->slow_interval_ms);
    case OPT_ENERGY_INTERVAL:
        return parse_double("energy-interval", arg, 1, &o->energy_interval_ms);
    case OPT_DURATION:
        a->duration_given = 1;
        if (parse_double("duration", arg, 0, &o->duration_s) != 0)
            return -1;
        if (o->duration_s <= 0) {
            fm_cli_error("record", "--duration must be positive");
            return -1;
        }
        return 0;
    case OPT_PREROLL:
        return parse_double("preroll", arg, 0, &o->preroll_s);
    case OPT_POSTROLL:
        return parse_double("postroll", arg, 0, &o->postroll_s);
    case OPT_MODEL:
        o->model = arg;
        return 0;
    case OPT_PARAMS:
        return parse_params(arg, &o->params);
    case OPT_TOKENS:
        return parse_int64("tokens", arg, 0, &o->tokens);
    case OPT_DB:
        o->db_path = arg;
        return 0;
    case OPT_NAME:
        o->name = arg;
        return 0;
    case OPT_TAG:
        if (!*arg || strchr(arg, ',')) {
            fm_cli_error("record", "--tag needs a non-empty tag without commas, not '%s'", arg);
            return -1;
        }
        add_tag(a, arg);
        return 0;
    case OPT_NO_EXPORT:
        a->no_export = 1;
        return 0;
    case OPT_EXPORT_DIR:
        a->export_dir = arg;
        return 0;
    case OPT_QUIET:
        a->quiet = 1;
        return 0;
    case OPT_SOCKET:
        o->mark_socket_path = arg;
        return 0;
    }
    return -1;
}

/* 0 to go on, -1 for --help, or an exit code. */
static int parse_args(int argc, char **argv, record_args *a)
{
    memset(a, 0, sizeof *a);
    fm_record_options_default(&a->o);
    a->o.db_path = fm_store_default_path();
    optind = 1;
    opterr = 0;
    int c;
    /* "+": stop at the first non-option, so CMD's own options stay CMD's. */
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return -1;
        }
        if (c == '?' || c == ':') {
            fm_cli_error("record", "unknown option or missing value: '%s' (firmus record --help)",
                         argv[optind - 1]);
            return FM_EXIT_USAGE;
        }
        if (apply_option(c, optarg, a) != 0)
            return FM_EXIT_USAGE;
    }
    if (optind < argc) {
        if (strcmp(argv[optind - 1], "--") != 0) {
            fm_cli_error("record", "put the command after '--': firmus record [options] -- %s ...",
                         argv[optind]);
            return FM_EXIT_USAGE;
        }
        a->o.command = argv + optind;
    } else if (optind > 1 && !strcmp(argv[optind - 1], "--")) {
        fm_cli_error("record", "no command after '--'");
        return FM_EXIT_USAGE;
    }
    if (a->o.command && a->duration_given) {
        fm_cli_error("record", "--duration is for recording without a command (the command's "
                               "own run time decides)");
        return FM_EXIT_USAGE;
    }
    if (a->o.slow_interval_ms < a->o.interval_ms) {
        fm_cli_error("record", "--slow-interval (%g ms) must be at least --interval (%g ms)",
                     a->o.slow_interval_ms, a->o.interval_ms);
        return FM_EXIT_USAGE;
    }
    if (a->o.energy_interval_ms < a->o.interval_ms) {
        fm_cli_error("record", "--energy-interval (%g ms) must be at least --interval (%g ms)",
                     a->o.energy_interval_ms, a->o.interval_ms);
        return FM_EXIT_USAGE;
    }
    int is_sim = !strcmp(a->o.backend, "sim");
    if (!is_sim && a->sim_option) {
        fm_cli_error("record", "%s applies to --backend sim only", a->sim_option);
        return FM_EXIT_USAGE;
    }
    if (is_sim && a->o.backend_opt.library_path) {
        fm_cli_error("record", "--library applies to --backend nvml only");
        return FM_EXIT_USAGE;
    }
    if (a->tags[0])
        a->o.tags = a->tags;
    a->o.live = !a->quiet;
    return 0;
}

static void print_wall_time(FILE *out, int64_t wall_ns)
{
    time_t secs = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(out, "%s.%03dZ", buf, (int)((wall_ns / 1000000) % 1000));
}

/* Energy per GPU from the stored samples (the authoritative figures). */
static void print_energy(FILE *out, const char *db_path, const fm_record_result *res)
{
    fm_store *st = NULL;
    fm_error err = {0};
    fm_run_metrics m;
    memset(&m, 0, sizeof m);
    fm_metrics_options mopt = {.tokens_per_query = 100, .tokens_override = -1};
    if (fm_store_open(db_path, &st, &err) != FM_OK ||
        fm_metrics_compute(st, res->run_id, &mopt, &m, &err) != FM_OK) {
        fprintf(out, "  energy        %.1f J total (running estimate; metrics failed: %s)\n",
                res->energy_j, err.msg);
        if (st)
            fm_store_close(st);
        return;
    }
    for (int g = 0; g < m.gpus; g++) {
        const fm_gpu_metrics *gm = &m.gpu[g];
        if (isnan(gm->energy_j))
            fprintf(out, "  energy gpu%-3d unavailable\n", g);
        else
            fprintf(out, "  energy gpu%-3d %10.1f J  avg %6.1f W  (%s)%s\n", g, gm->energy_j,
                    gm->avg_power_w, fm_source_name(gm->energy_source),
                    (res->gpus_lost_mask >> (g < 64 ? g : 63)) & 1 ? "  LOST during the run" : "");
    }
    fprintf(out, "  energy total  %10.1f J  avg %6.1f W\n", m.total_energy_j, m.avg_power_w);
    if (m.tokens > 0 && !isnan(m.joules_per_token))
        fprintf(out, "  per token     %10.4f J/token\n", m.joules_per_token);
    fm_run_metrics_free(&m);
    fm_store_close(st);
}

static void print_summary(FILE *out, const record_args *a, const fm_record_result *res)
{
    fprintf(out, "firmus record: run %" PRId64 "%s%s%s stored in %s\n", res->run_id,
            a->o.name ? " \"" : "", a->o.name ? a->o.name : "", a->o.name ? "\"" : "",
            a->o.db_path);
    fprintf(out, "  duration      %10.3f s  (%d GPU%s, %s clock)\n", res->duration_s, res->gpus,
            res->gpus == 1 ? "" : "s", res->virtual_time ? "virtual" : "CLOCK_MONOTONIC");
    fprintf(out, "  started       ");
    print_wall_time(out, res->start_wall_ns);
    fprintf(out, " (UTC, wall-clock anchor of t0)\n");
    print_energy(out, a->o.db_path, res);
    fprintf(out,
            "  interval      %10.3f ms achieved (%.3g ms asked), %" PRId64 " ticks, %" PRId64
            " missed\n",
            res->achieved_interval_ms, a->o.interval_ms, res->ticks, res->missed_ticks);
    if (res->virtual_time)
        fprintf(out, "  jitter        0 (virtual time: deadlines are exact by construction)\n");
    else
        fprintf(out, "  jitter        p50 %.0f us  p99 %.0f us  max %.0f us\n", res->jitter_p50_us,
                res->jitter_p99_us, res->jitter_max_us);
    fprintf(out, "  recorder CPU  %10.2f us per sample (%.3f s for %" PRId64 " samples)\n",
            res->cpu_us_per_sample, res->cpu_s, res->samples);
    fprintf(out, "  markers       %" PRId64 " stored, %" PRId64 " malformed (ignored)\n",
            res->markers, res->markers_malformed);
    if (res->tokens >= 0)
        fprintf(out, "  tokens        %" PRId64 " (%s)\n", res->tokens, res->tokens_source);
    else
        fprintf(out, "  tokens        unknown (no --tokens, no token markers)\n");
    if (res->read_errors)
        fprintf(out, "  read errors   %" PRId64 " (stored as missing readings)\n",
                res->read_errors);
    if (res->gpus_lost)
        fprintf(out, "  GPUs lost     %d (the others kept recording)\n", res->gpus_lost);
    if (a->o.command)
        fprintf(out, "  command       exit code %d\n", res->child_exit_code);
}

/* Without a command, other processes need the socket to send markers. */
static void announce_start(void *ctx, int64_t run_id, const char *mark_socket_path)
{
    (void)ctx;
    fprintf(stderr, "firmus record: recording run %" PRId64 "; markers: %s=%s\n", run_id,
            FM_MARK_ENV_SOCKET, mark_socket_path);
}

int fm_cmd_record(int argc, char **argv)
{
    record_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? FM_EXIT_OK : rc;
    if (!a.o.command && !a.quiet)
        a.o.on_start = announce_start;

    fm_record_result res;
    fm_error err = {0};
    rc = fm_record_run(&a.o, &res, &err);
    if (rc != FM_OK && res.run_id <= 0) {
        /* Nothing was recorded. */
        fm_cli_error("record", "%s", err.msg);
        if (rc == FM_ERR_NOT_FOUND && a.o.command)
            return 127;
        return fm_cli_exit_code(rc);
    }
    if (!a.quiet)
        print_summary(stderr, &a, &res);
    if (rc != FM_OK) {
        fm_cli_error("record", "%s", err.msg);
        if (rc == FM_ERR_NOT_FOUND && a.o.command)
            return 127;
        return fm_cli_exit_code(rc);
    }
    if (!a.no_export)
        fm_cli_record_export(a.o.db_path, res.run_id, a.export_dir, a.quiet);
    if (res.gpus_lost)
        fm_cli_error("record",
                     "warning: %d GPU%s lost during the run (see `firmus show %" PRId64 "`)",
                     res.gpus_lost, res.gpus_lost == 1 ? "" : "s", res.run_id);
    if (a.o.command)
        return res.child_exit_code;
    return res.gpus_lost ? FM_EXIT_GPU_LOST : FM_EXIT_OK;
}
