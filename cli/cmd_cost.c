/* firmus cost: energy cost per million tokens of a recorded run, with the
 * Model-to-Grid discount (seed workflow 3), plus PUE, time-of-use tariff,
 * demand charge, carbon, GPU-hour rental share and projections. Parses
 * arguments and calls fm_econ_run; output format in
 * docs/ECONOMIC_ANALYSIS.md. */
#include "cli.h"
#include "common_opts.h"

#include "firmus/econ.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cost_usage(FILE *out)
{
    fprintf(out,
            "usage: firmus cost RUN [options]\n\n"
            "Energy cost of a run per million tokens, with the Model-to-Grid discount.\n"
            "RUN is a run id, a run name, or 'last'.\n\n"
            "  --tokens N            tokens generated (replaces the run's count)\n"
            "  --kwh-rate X          flat energy rate, USD/kWh (default 0.12: the seed's\n"
            "                        'Singapore avg', unsourced and low; see the docs)\n"
            "  --tariff FILE         tariff file: time-of-use rates, adders, demand charge,\n"
            "                        fixed fee (tariffs/*.json); excludes --kwh-rate\n"
            "  --pue X               facility overhead, 1.0-3.0 (default 1.0 = GPU energy only)\n"
            "  --no-discount         do not apply the Model-to-Grid discount\n"
            "  --policy NAME|FILE    qualification policy (default m2g-cv-only;\n"
            "                        built in: m2g-cv-only, m2g-original-code)\n"
            "  --carbon-region KEY   grid carbon intensity from the built-in table\n"
            "  --carbon-intensity G  grid carbon intensity, g CO2/kWh\n"
            "  --gpu-hour-price X    rental price per GPU-hour (tariff currency)\n"
            "  --utilisation U       share of the month the workload runs, (0, 1] (default 1)\n"
            "  --list-regions        print the carbon table with sources and exit\n"
            "  --db PATH             run store (default $FIRMUS_DB or ./firmus.db)\n"
            "  --json                print the economics object as JSON\n"
            "  -h, --help            this help\n");
}

/* Parses a finite number or fails with a usage message. */
static int parse_number(const char *flag, const char *text, double *out)
{
    if (fm_cli_parse_double(text, -INFINITY, out) != 0) {
        fm_cli_error("cost", "%s needs a number, not '%s'", flag, text);
        return FM_ERR_USAGE;
    }
    return FM_OK;
}

static void list_regions(void)
{
    size_t n;
    const fm_carbon_region *r = fm_carbon_regions(&n);
    printf("%-18s %9s  %s\n", "region", "g CO2/kWh", "basis; source");
    for (size_t i = 0; i < n; i++)
        printf("%-18s %9.1f  %s; %s\n", r[i].key, r[i].g_per_kwh, r[i].basis, r[i].source);
}

static void print_money(const char *label, double v, const char *currency, const char *unit)
{
    if (isfinite(v))
        printf("%-22s %.6g %s%s\n", label, v, currency, unit);
    else
        printf("%-22s unavailable\n", label);
}

static void print_text(const fm_econ_result *r, const fm_qualification *q)
{
    printf("Energy: %.4f kWh GPU (%s) x PUE %g = %.4f kWh facility over %.1f s, %d GPU(s)\n",
           r->gpu_energy_kwh, r->energy_source, r->pue, r->facility_energy_kwh, r->duration_s,
           r->gpus);
    if (r->tokens >= 0)
        printf("Tokens: %lld\n", (long long)r->tokens);
    else
        printf("Tokens: unknown (give --tokens N)\n");
    printf("Tariff: %s (%s)\n", r->tariff_name, r->tariff_source);
    print_money("Energy cost:", r->energy_cost, r->currency, "");
    print_money("Base cost:", r->cost_per_million_tokens, r->currency, "/M tokens");
    printf("%-22s %g%% (%s)\n", "Discount:", r->discount_pct, r->discount_basis);
    print_money("Final cost:", r->discounted_cost_per_million_tokens, r->currency, "/M tokens");
    if (q && q->tier > 0)
        printf("Model-to-Grid: %s\n", q->reasoning);
    if (r->n_periods > 1)
        for (size_t i = 0; i < r->n_periods; i++)
            printf("  %-12s %.4f kWh at %.4f %s/kWh = %.4f %s\n", r->period[i].name,
                   r->period[i].facility_kwh, r->period[i].rate_per_kwh, r->currency,
                   r->period[i].cost, r->currency);
    printf("Demand peak: %.3f kW facility (%g min window%s); charge %.2f %s/month\n",
           r->demand_peak_kw, r->demand_window_s / 60, r->demand_peak_short ? ", run mean" : "",
           r->demand_charge_per_month, r->currency);
    if (isfinite(r->carbon_g_per_kwh))
        printf("Carbon: %.1f g/kWh (%s): %.4f kg, %.4f kg/M tokens, %.3f t/year\n",
               r->carbon_g_per_kwh, r->carbon_region, r->emissions_kg,
               r->emissions_kg_per_million_tokens, r->year_emissions_t);
    if (isfinite(r->gpu_hour_price))
        printf("Rental: energy %.4f %s per GPU-hour = %.2f %% of %.2f %s/GPU-h; rent %.4f "
               "%s/M tokens\n",
               r->energy_cost_per_gpu_hour, r->currency, r->energy_share_of_rental * 100,
               r->gpu_hour_price, r->currency, r->rent_per_million_tokens, r->currency);
    printf("Projection at %g %% utilisation: %.1f kWh, %.2f %s per month (energy %.2f after "
           "discount, demand %.2f, fixed %.2f), %.2f %s per year",
           r->utilisation * 100, r->month_facility_kwh, r->month_total, r->currency,
           r->month_energy_cost_discounted, r->demand_charge_per_month, r->month_fixed,
           r->year_total, r->currency);
    if (isfinite(r->all_in_cost_per_million_tokens))
        printf("; all-in %.4f %s/M tokens", r->all_in_cost_per_million_tokens, r->currency);
    printf("\nAssumptions: %s\n", r->assumptions);
}

typedef struct cost_args {
    const char *run;
    const char *db;
    const char *tariff_path;
    const char *policy;
    int64_t tokens;
    int json;
    fm_econ_options opt;
} cost_args;

enum {
    OPT_TOKENS = 256,
    OPT_KWH_RATE,
    OPT_TARIFF,
    OPT_PUE,
    OPT_NO_DISCOUNT,
    OPT_POLICY,
    OPT_REGION,
    OPT_INTENSITY,
    OPT_GPU_HOUR,
    OPT_UTIL,
    OPT_LIST,
    OPT_DB,
    OPT_JSON,
};

/* Returns FM_OK, FM_ERR_USAGE, or 1 when the command is done (help/list). */
static int parse_args(int argc, char **argv, cost_args *a)
{
    static const struct option options[] = {
        {"tokens", required_argument, NULL, OPT_TOKENS},
        {"kwh-rate", required_argument, NULL, OPT_KWH_RATE},
        {"tariff", required_argument, NULL, OPT_TARIFF},
        {"pue", required_argument, NULL, OPT_PUE},
        {"no-discount", no_argument, NULL, OPT_NO_DISCOUNT},
        {"policy", required_argument, NULL, OPT_POLICY},
        {"carbon-region", required_argument, NULL, OPT_REGION},
        {"carbon-intensity", required_argument, NULL, OPT_INTENSITY},
        {"gpu-hour-price", required_argument, NULL, OPT_GPU_HOUR},
        {"utilisation", required_argument, NULL, OPT_UTIL},
        {"utilization", required_argument, NULL, OPT_UTIL},
        {"list-regions", no_argument, NULL, OPT_LIST},
        {"db", required_argument, NULL, OPT_DB},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    fm_econ_options_default(&a->opt);
    a->tokens = -1;
    opterr = 0;
    optind = 1;
    int c, rc = FM_OK;
    double tokens;
    while (rc == FM_OK && (c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            cost_usage(stdout);
            return 1;
        case OPT_TOKENS:
            rc = parse_number("--tokens", optarg, &tokens);
            if (rc == FM_OK && (tokens < 0 || tokens != floor(tokens) || tokens > 9e15)) {
                fm_cli_error("cost", "--tokens needs a whole number >= 0");
                rc = FM_ERR_USAGE;
            }
            a->tokens = (int64_t)tokens;
            break;
        case OPT_KWH_RATE:
            rc = parse_number("--kwh-rate", optarg, &a->opt.kwh_rate);
            break;
        case OPT_TARIFF:
            a->tariff_path = optarg;
            break;
        case OPT_PUE:
            rc = parse_number("--pue", optarg, &a->opt.pue);
            break;
        case OPT_NO_DISCOUNT:
            a->opt.apply_discount = 0;
            break;
        case OPT_POLICY:
            a->policy = optarg;
            break;
        case OPT_REGION:
            a->opt.carbon_region = optarg;
            break;
        case OPT_INTENSITY:
            rc = parse_number("--carbon-intensity", optarg, &a->opt.carbon_g_per_kwh);
            break;
        case OPT_GPU_HOUR:
            rc = parse_number("--gpu-hour-price", optarg, &a->opt.gpu_hour_price);
            break;
        case OPT_UTIL:
            rc = parse_number("--utilisation", optarg, &a->opt.utilisation);
            break;
        case OPT_LIST:
            list_regions();
            return 1;
        case OPT_DB:
            a->db = optarg;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        default:
            fm_cli_error("cost", "unknown or incomplete option '%s' (firmus cost --help)",
                         argv[optind - 1]);
            rc = FM_ERR_USAGE;
        }
    }
    if (rc != FM_OK)
        return rc;
    if (a->tariff_path && !isnan(a->opt.kwh_rate)) {
        fm_cli_error("cost", "--kwh-rate and --tariff exclude each other");
        return FM_ERR_USAGE;
    }
    if (optind != argc - 1) {
        fm_cli_error("cost", "give exactly one RUN (firmus cost --help)");
        return FM_ERR_USAGE;
    }
    a->run = argv[optind];
    return FM_OK;
}

static int compute(cost_args *a, fm_econ_result *r, fm_qualification *q, fm_error *err)
{
    fm_tariff *tariff = NULL;
    fm_policy policy;
    int rc = fm_policy_load(a->policy, &policy, err);
    if (rc == FM_OK && a->tariff_path) {
        tariff = malloc(sizeof *tariff);
        rc = tariff ? fm_tariff_load_file(a->tariff_path, tariff, err)
                    : fm_fail(err, FM_ERR_NOMEM, "out of memory");
        a->opt.tariff = tariff;
    }
    fm_store *st = NULL;
    if (rc == FM_OK)
        rc = fm_store_open(a->db ? a->db : fm_store_default_path(), &st, err);
    fm_run run;
    if (rc == FM_OK)
        rc = fm_store_find_run(st, a->run, &run, err);
    if (rc == FM_OK)
        rc = fm_econ_run(st, run.id, a->tokens, &policy, &a->opt, r, q, err);
    if (st)
        fm_store_close(st);
    free(tariff);
    return rc;
}

int fm_cmd_cost(int argc, char **argv)
{
    cost_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc == 1)
        return FM_EXIT_OK;
    if (rc != FM_OK)
        return FM_EXIT_USAGE;
    fm_econ_result r;
    fm_qualification q;
    fm_error err = {0};
    rc = compute(&a, &r, &q, &err);
    if (rc != FM_OK) {
        fm_cli_error("cost", "%s", err.msg);
        return fm_cli_exit_code(rc);
    }
    if (!a.json) {
        print_text(&r, &q);
        return FM_EXIT_OK;
    }
    char *json = NULL;
    rc = fm_econ_to_json(&r, q.tier > 0 ? &q : NULL, &json, &err);
    if (rc != FM_OK) {
        fm_cli_error("cost", "%s", err.msg);
        return fm_cli_exit_code(rc);
    }
    printf("%s\n", json);
    free(json);
    return FM_EXIT_OK;
}
