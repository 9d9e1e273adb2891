/* The economics of a run (see firmus/econ.h): the seed's
 * calculate_economics (energy cost, cost per million tokens, Model-to-Grid
 * discount) extended with PUE, time-of-use rates, the demand charge,
 * carbon, the share of the GPU-hour rental price, and monthly/yearly
 * projections. Pure arithmetic on plain inputs; every assumption is written
 * into the result. */
#include "firmus/econ.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define J_PER_KWH 3.6e6

void fm_econ_options_default(fm_econ_options *o)
{
    memset(o, 0, sizeof *o);
    o->kwh_rate = NAN;
    o->pue = 1.0;
    o->apply_discount = 1;
    o->carbon_g_per_kwh = NAN;
    o->gpu_hour_price = NAN;
    o->utilisation = 1.0;
}

static void note(fm_econ_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(fm_econ_result *r, const char *fmt, ...)
{
    size_t used = strlen(r->assumptions);
    if (used + 2 >= sizeof r->assumptions)
        return;
    if (used)
        r->assumptions[used++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->assumptions + used, sizeof r->assumptions - used, fmt, ap);
    va_end(ap);
}

static int check_inputs(const fm_econ_input *in, const fm_econ_options *o, fm_error *err)
{
    if (!(in->energy_j >= 0) || !isfinite(in->energy_j))
        return fm_fail(err, FM_ERR_USAGE, "cost: the run's energy is unknown");
    if (!(in->duration_s > 0))
        return fm_fail(err, FM_ERR_USAGE, "cost: the run's duration must be above 0 s");
    if (in->gpus < 1)
        return fm_fail(err, FM_ERR_USAGE, "cost: the run has no GPUs");
    if (!(o->pue >= 1.0 && o->pue <= 3.0))
        return fm_fail(err, FM_ERR_USAGE, "cost: PUE %g is outside [1, 3]", o->pue);
    if (!(o->utilisation > 0 && o->utilisation <= 1))
        return fm_fail(err, FM_ERR_USAGE, "cost: utilisation %g is outside (0, 1]", o->utilisation);
    if (!isnan(o->kwh_rate) && !(o->kwh_rate >= 0 && o->kwh_rate < 100))
        return fm_fail(err, FM_ERR_USAGE, "cost: energy rate %g per kWh is not plausible",
                       o->kwh_rate);
    if (!isnan(o->gpu_hour_price) && !(o->gpu_hour_price > 0))
        return fm_fail(err, FM_ERR_USAGE, "cost: the GPU-hour price must be above 0");
    return FM_OK;
}

/* Splits the facility energy across the tariff's periods. */
static int split_energy(const fm_econ_input *in, const fm_tariff *t, double facility_kwh,
                        fm_econ_result *r, double *kwh_per_period, fm_error *err)
{
    if (t->n_periods == 1) {
        kwh_per_period[0] = facility_kwh;
        snprintf(r->time_of_use_basis, sizeof r->time_of_use_basis, "single rate");
        return FM_OK;
    }
    if (in->wall_t0_ns < 0)
        return fm_fail(err, FM_ERR_USAGE,
                       "cost: a time-of-use tariff needs the run's wall-clock start time");
    fm_tariff_split split;
    int rc;
    if (in->power_w && in->power_w->n >= 2) {
        rc = fm_tariff_split_series(t, in->power_w, in->series_t0_ns, in->wall_t0_ns, &split, err);
        snprintf(r->time_of_use_basis, sizeof r->time_of_use_basis,
                 "split by the power trace, scaled to the measured energy");
    } else {
        /* no trace: constant power over the run */
        int64_t times_ns[2] = {0, (int64_t)llround(in->duration_s * 1e9)};
        double power_w[2] = {in->energy_j / in->duration_s, NAN};
        fm_series constant = {.n = 2, .cap = 2, .t_ns = times_ns, .v = power_w};
        rc = fm_tariff_split_series(t, &constant, 0, in->wall_t0_ns, &split, err);
        snprintf(r->time_of_use_basis, sizeof r->time_of_use_basis,
                 "constant power over the run (no trace)");
    }
    if (rc != FM_OK)
        return rc;
    if (!(split.total_kwh > 0)) {
        /* no energy in the trace: put it all in the period of the start */
        kwh_per_period[fm_tariff_period_at(t, in->wall_t0_ns)] = facility_kwh;
        return FM_OK;
    }
    for (size_t p = 0; p < t->n_periods; p++)
        kwh_per_period[p] = facility_kwh * split.kwh[p] / split.total_kwh;
    return FM_OK;
}

/* Energy cost by period name (entries with the same name are one period). */
static void cost_by_period(const fm_tariff *t, const double *kwh_per_period, fm_econ_result *r)
{
    r->n_periods = 0;
    r->energy_cost = 0;
    for (size_t p = 0; p < t->n_periods; p++) {
        size_t k = 0;
        while (k < r->n_periods && strcmp(r->period[k].name, t->period[p].name))
            k++;
        if (k == r->n_periods) {
            r->n_periods++;
            snprintf(r->period[k].name, sizeof r->period[k].name, "%s", t->period[p].name);
            r->period[k].rate_per_kwh = fm_tariff_rate(t, (int)p);
        }
        double cost = kwh_per_period[p] * fm_tariff_rate(t, (int)p);
        r->period[k].facility_kwh += kwh_per_period[p];
        r->period[k].cost += cost;
        r->energy_cost += cost;
    }
}

static void apply_discount(const fm_econ_options *o, fm_econ_result *r)
{
    r->discount_pct = 0;
    r->discount_applied = 0;
    if (!o->apply_discount) {
        snprintf(r->discount_basis, sizeof r->discount_basis, "not applied (no discount asked)");
    } else if (!o->qualification) {
        snprintf(r->discount_basis, sizeof r->discount_basis, "not applied (run not qualified)");
    } else {
        const fm_qualification *q = o->qualification;
        r->discount_pct = q->discount_percentage;
        r->discount_applied = 1;
        snprintf(r->discount_basis, sizeof r->discount_basis, "%s under policy %s (power CV %.4f)",
                 q->tier_name, q->policy, q->power_cv);
    }
    r->discounted_cost_per_million_tokens =
        r->cost_per_million_tokens * (1.0 - r->discount_pct / 100.0);
}

static int carbon(const fm_econ_options *o, fm_econ_result *r, fm_error *err)
{
    r->carbon_g_per_kwh = r->emissions_kg = r->emissions_kg_per_million_tokens = NAN;
    if (isfinite(o->carbon_g_per_kwh)) {
        if (o->carbon_g_per_kwh < 0)
            return fm_fail(err, FM_ERR_USAGE, "cost: carbon intensity must be 0 or more");
        r->carbon_g_per_kwh = o->carbon_g_per_kwh;
        snprintf(r->carbon_region, sizeof r->carbon_region, "given");
        snprintf(r->carbon_source, sizeof r->carbon_source, "given by the user");
    } else if (o->carbon_region) {
        const fm_carbon_region *c = fm_carbon_region_find(o->carbon_region);
        if (!c)
            return fm_fail(err, FM_ERR_NOT_FOUND,
                           "cost: unknown carbon region '%s' (firmus cost --help lists them)",
                           o->carbon_region);
        r->carbon_g_per_kwh = c->g_per_kwh;
        snprintf(r->carbon_region, sizeof r->carbon_region, "%s", c->key);
        snprintf(r->carbon_source, sizeof r->carbon_source, "%s; %s", c->basis, c->source);
    } else {
        return FM_OK;
    }
    r->emissions_kg = r->facility_energy_kwh * r->carbon_g_per_kwh / 1000.0;
    r->emissions_kg_per_million_tokens = r->kwh_per_million_tokens * r->carbon_g_per_kwh / 1000.0;
    return FM_OK;
}

static void rental(const fm_econ_options *o, fm_econ_result *r)
{
    r->gpu_hour_price = o->gpu_hour_price;
    r->energy_cost_per_gpu_hour = r->energy_cost / (r->duration_s / 3600.0 * r->gpus);
    r->energy_share_of_rental = r->energy_cost_per_gpu_hour / o->gpu_hour_price; /* NAN if none */
    r->rent_per_million_tokens =
        r->tokens > 0
            ? o->gpu_hour_price * r->gpus * (r->duration_s / 3600.0) / (double)r->tokens * 1e6
            : NAN;
}

static void demand(const fm_econ_input *in, const fm_tariff *t, fm_econ_result *r)
{
    r->demand_window_s = t->demand_window_s;
    double peak_w;
    if (in->power_w && in->power_w->n >= 2) {
        peak_w = fm_demand_peak_w(in->power_w, t->demand_window_s, &r->demand_peak_short);
    } else {
        peak_w = r->avg_power_w;
        r->demand_peak_short = 1;
    }
    r->demand_peak_kw = peak_w * r->pue / 1000.0;
    r->demand_charge_per_month =
        t->demand_per_kw_month > 0 ? r->demand_peak_kw * t->demand_per_kw_month : 0.0;
}

static void project(const fm_econ_input *in, const fm_tariff *t, const fm_econ_options *o,
                    fm_econ_result *r)
{
    double active_h = FM_HOURS_PER_MONTH * o->utilisation;
    double idle_h = FM_HOURS_PER_MONTH - active_h;
    r->utilisation = o->utilisation;
    r->idle_power_w = in->idle_power_w;
    double gpu_kwh = r->avg_power_w * active_h / 1000.0;
    if (isfinite(in->idle_power_w))
        gpu_kwh += in->idle_power_w * idle_h / 1000.0;
    r->month_facility_kwh = gpu_kwh * r->pue;
    r->month_energy_cost = r->month_facility_kwh * fm_tariff_week_mean_rate(t);
    r->month_energy_cost_discounted = r->month_energy_cost * (1.0 - r->discount_pct / 100.0);
    r->month_fixed = t->fixed_per_month;
    r->month_total = r->month_energy_cost_discounted + r->demand_charge_per_month + r->month_fixed;
    r->year_total = r->month_total * 12.0;
    r->month_tokens = r->tokens > 0 ? (double)r->tokens / r->duration_s * active_h * 3600.0 : NAN;
    r->all_in_cost_per_million_tokens = r->month_total / r->month_tokens * 1e6;
    r->year_emissions_t = r->month_facility_kwh * 12.0 * r->carbon_g_per_kwh / 1e6;
}

static void write_assumptions(const fm_econ_input *in, const fm_econ_options *o, fm_econ_result *r)
{
    note(r, "Energy is the GPUs' measured energy (%s) times PUE %g%s.", r->energy_source, r->pue,
         r->pue == 1.0 ? " (GPU energy only: no cooling, power conversion, CPU or network)" : "");
    note(r, "Rates from tariff '%s' (%s), in %s; time of use: %s.", r->tariff_name,
         r->tariff_source, r->currency, r->time_of_use_basis);
    if (r->demand_peak_short)
        note(r,
             "The run is shorter than the %g min demand window: the demand peak is the run's "
             "mean power (the workload assumed to repeat back to back).",
             r->demand_window_s / 60);
    note(r,
         "Projections: %g h per month, the workload running %g %% of the time, its energy "
         "spread evenly over the week;",
         FM_HOURS_PER_MONTH, o->utilisation * 100);
    if (o->utilisation >= 1.0)
        note(r, "no idle time.");
    else if (isfinite(in->idle_power_w))
        note(r, "the rest at %.1f W idle.", in->idle_power_w);
    else
        note(r, "idle time not counted (idle power unknown).");
    note(r, "The Model-to-Grid discount applies to energy charges only, not to demand or fixed "
            "charges.");
    if (r->tokens < 0)
        note(r, "Tokens unknown: per-token figures are unavailable.");
}

int fm_econ_compute(const fm_econ_input *in, const fm_econ_options *opt, fm_econ_result *out,
                    fm_error *err)
{
    memset(out, 0, sizeof *out);
    fm_econ_options defaults;
    if (!opt) {
        fm_econ_options_default(&defaults);
        opt = &defaults;
    }
    int rc = check_inputs(in, opt, err);
    if (rc != FM_OK)
        return rc;
    fm_tariff flat;
    const fm_tariff *t = opt->tariff;
    if (!t) {
        int seed = isnan(opt->kwh_rate);
        fm_tariff_flat(&flat, seed ? FM_ECON_SEED_RATE_USD_PER_KWH : opt->kwh_rate, "USD",
                       seed ? "seed default 'Singapore avg' 0.12 USD/kWh: unsourced and about half "
                              "the EMA regulated level (economics.md 3.1)"
                            : "rate given on the command line");
        t = &flat;
    }
    snprintf(out->currency, sizeof out->currency, "%s", t->currency);
    snprintf(out->tariff_name, sizeof out->tariff_name, "%s", t->name);
    snprintf(out->tariff_source, sizeof out->tariff_source, "%s", t->source);
    snprintf(out->energy_source, sizeof out->energy_source, "%s",
             in->energy_source[0] ? in->energy_source : "given");
    out->pue = opt->pue;
    out->energy_j = in->energy_j;
    out->gpu_energy_kwh = in->energy_j / J_PER_KWH;
    out->facility_energy_kwh = out->gpu_energy_kwh * opt->pue;
    out->tokens = in->tokens;
    out->duration_s = in->duration_s;
    out->gpus = in->gpus;
    out->avg_power_w = in->energy_j / in->duration_s;

    double kwh_per_period[FM_TARIFF_MAX_PERIODS] = {0};
    rc = split_energy(in, t, out->facility_energy_kwh, out, kwh_per_period, err);
    if (rc != FM_OK)
        return rc;
    cost_by_period(t, kwh_per_period, out);
    out->effective_rate_per_kwh =
        out->facility_energy_kwh > 0 ? out->energy_cost / out->facility_energy_kwh : NAN;
    double per_million = in->tokens > 0 ? 1e6 / (double)in->tokens : NAN;
    out->cost_per_million_tokens = out->energy_cost * per_million;
    out->kwh_per_million_tokens = out->facility_energy_kwh * per_million;
    apply_discount(opt, out);
    rc = carbon(opt, out, err);
    if (rc != FM_OK)
        return rc;
    rental(opt, out);
    demand(in, t, out);
    project(in, t, opt, out);
    write_assumptions(in, opt, out);
    return FM_OK;
}
