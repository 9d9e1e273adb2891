/* JSON of the economics (see firmus/econ.h): the `economics` object of a
 * workload profile and the output of `firmus cost --json` / `firmus
 * qualify --json`. A value that could not be computed is null, never 0.
 * Field names and units are documented in docs/ECONOMIC_ANALYSIS.md. */
#include "econ/econ_json.h"

#include <math.h>
#include <stdlib.h>

/* A number, or null when it is not finite. */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *econ_qualification_json(const fm_qualification *q)
{
    const fm_power_window *w = &q->measured;
    return json_pack("{s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:s, s:{s:s, s:o, s:o, s:o, s:I, "
                     "s:s, s:o, s:o}, s:s}",
                     "tier", q->tier, "tier_name", q->tier_name, "profile_tier", q->profile_tier,
                     "discount_percentage", num(q->discount_percentage), "power_cv",
                     num(q->power_cv), "avg_power_watts", num(q->avg_power_watts),
                     "peak_power_watts", num(q->peak_power_watts), "qualified", q->qualified,
                     "policy", q->policy, "window", "name", w->window, "start_seconds",
                     num(w->start_s), "end_seconds", num(w->end_s), "resolution_seconds",
                     num(w->resolution_s), "points", (json_int_t)w->points, "power_source",
                     w->power_source, "gpu", w->gpu >= 0 ? json_integer(w->gpu) : json_null(),
                     "power_cv_raw_samples", num(w->power_cv_raw), "reasoning", q->reasoning);
}

static json_t *periods_json(const fm_econ_result *r)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < r->n_periods; i++)
        json_array_append_new(list, json_pack("{s:s, s:o, s:o, s:o}", "period", r->period[i].name,
                                              "rate_per_kwh", num(r->period[i].rate_per_kwh),
                                              "facility_kwh", num(r->period[i].facility_kwh),
                                              "cost", num(r->period[i].cost)));
    return list;
}

static json_t *assumptions_json(const fm_econ_result *r)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:s}", "currency", r->currency,
                     "tariff", r->tariff_name, "tariff_source", r->tariff_source, "pue",
                     num(r->pue), "energy_source", r->energy_source, "time_of_use_basis",
                     r->time_of_use_basis, "utilisation", num(r->utilisation), "hours_per_month",
                     num(FM_HOURS_PER_MONTH), "idle_power_watts", num(r->idle_power_w), "notes",
                     r->assumptions);
}

static json_t *run_json(const fm_econ_result *r)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:i, s:o}", "gpu_energy_joules", num(r->energy_j),
                     "gpu_energy_kwh", num(r->gpu_energy_kwh), "facility_energy_kwh",
                     num(r->facility_energy_kwh), "tokens_generated",
                     r->tokens >= 0 ? json_integer(r->tokens) : json_null(), "duration_seconds",
                     num(r->duration_s), "gpus", r->gpus, "avg_power_watts", num(r->avg_power_w));
}

static json_t *demand_json(const fm_econ_result *r)
{
    return json_pack("{s:o, s:o, s:b, s:o}", "window_seconds", num(r->demand_window_s),
                     "peak_facility_kw", num(r->demand_peak_kw), "peak_is_run_mean",
                     r->demand_peak_short, "charge_per_month", num(r->demand_charge_per_month));
}

static json_t *carbon_json(const fm_econ_result *r)
{
    if (!isfinite(r->carbon_g_per_kwh))
        return json_null();
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "region", r->carbon_region, "source",
                     r->carbon_source, "g_co2_per_kwh", num(r->carbon_g_per_kwh), "emissions_kg",
                     num(r->emissions_kg), "kg_per_million_tokens",
                     num(r->emissions_kg_per_million_tokens), "tonnes_per_year",
                     num(r->year_emissions_t));
}

static json_t *rental_json(const fm_econ_result *r)
{
    if (!isfinite(r->gpu_hour_price))
        return json_null();
    return json_pack("{s:o, s:o, s:o, s:o}", "gpu_hour_price", num(r->gpu_hour_price),
                     "energy_cost_per_gpu_hour", num(r->energy_cost_per_gpu_hour),
                     "energy_share_of_rental", num(r->energy_share_of_rental),
                     "rent_per_million_tokens", num(r->rent_per_million_tokens));
}

static json_t *projection_json(const fm_econ_result *r)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "utilisation",
                     num(r->utilisation), "facility_kwh_per_month", num(r->month_facility_kwh),
                     "energy_cost_per_month", num(r->month_energy_cost),
                     "energy_cost_per_month_discounted", num(r->month_energy_cost_discounted),
                     "demand_charge_per_month", num(r->demand_charge_per_month), "fixed_per_month",
                     num(r->month_fixed), "total_per_month", num(r->month_total), "total_per_year",
                     num(r->year_total), "tokens_per_month", num(r->month_tokens),
                     "all_in_cost_per_million_tokens", num(r->all_in_cost_per_million_tokens));
}

json_t *econ_result_json(const fm_econ_result *r, const fm_qualification *q)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o}",
        "schema", "firmus-economics/1", "currency", r->currency, "assumptions", assumptions_json(r),
        "run", run_json(r), "energy_cost", num(r->energy_cost), "effective_rate_per_kwh",
        num(r->effective_rate_per_kwh), "cost_per_million_tokens", num(r->cost_per_million_tokens),
        "model_to_grid_discount_pct", num(r->discount_pct), "discount_applied", r->discount_applied,
        "discount_basis", r->discount_basis, "discounted_cost_per_million_tokens",
        num(r->discounted_cost_per_million_tokens), "facility_kwh_per_million_tokens",
        num(r->kwh_per_million_tokens), "time_of_use", periods_json(r), "demand", demand_json(r),
        "carbon", carbon_json(r), "rental", rental_json(r), "projection", projection_json(r),
        "model_to_grid", q ? econ_qualification_json(q) : json_null());
    return o;
}

static int dump(json_t *o, char **json_out, fm_error *err)
{
    *json_out =
        o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(o);
    if (!*json_out)
        return fm_fail(err, FM_ERR_NOMEM, "economics: cannot build JSON");
    return FM_OK;
}

int fm_econ_to_json(const fm_econ_result *r, const fm_qualification *q, char **json_out,
                    fm_error *err)
{
    return dump(econ_result_json(r, q), json_out, err);
}

int fm_qualification_to_json(const fm_qualification *q, char **json_out, fm_error *err)
{
    return dump(econ_qualification_json(q), json_out, err);
}
