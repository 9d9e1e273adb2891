/* Tests of the economics arithmetic (src/econ/economics.c, econ_json.c)
 * against hand-computed cases: the seed's calculate_economics (workflow 3),
 * PUE, carbon, the GPU-hour rental share, projections at a utilisation,
 * unknown tokens (null, never 0) and the JSON object. */
#include "testutil.h"

#include "firmus/econ.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS INT64_C(1000000000)

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-12 * fmax(1.0, fabs(b));
}
#define assert_close(a, b)                                                                         \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!close_to(a_, b_))                                                                     \
            fail_msg("%s = %.15g, want %.15g", #a, a_, b_);                                        \
    } while (0)

/* A qualification with a given tier and discount. */
static fm_qualification qualified(int tier, double discount_pct)
{
    fm_qualification q;
    memset(&q, 0, sizeof q);
    q.tier = tier;
    q.discount_percentage = discount_pct;
    q.qualified = discount_pct > 0;
    q.power_cv = 0.05;
    snprintf(q.tier_name, sizeof q.tier_name, "Tier %d", tier);
    snprintf(q.policy, sizeof q.policy, "m2g-cv-only");
    return q;
}

static fm_econ_input run(double energy_j, int64_t tokens, double duration_s)
{
    fm_econ_input in;
    memset(&in, 0, sizeof in);
    in.energy_j = energy_j;
    in.tokens = tokens;
    in.duration_s = duration_s;
    in.gpus = 1;
    in.wall_t0_ns = -1;
    in.idle_power_w = NAN;
    snprintf(in.energy_source, sizeof in.energy_source, "energy_counter");
    return in;
}

/* Seed workflow 3: 18 MJ = 5 kWh, 1,000,000 tokens, 0.12 USD/kWh, tier 1:
 * cost 0.60 USD, 0.60 USD per million tokens, 20 % -> 0.48. */
static void test_seed_workflow3(void **state)
{
    (void)state;
    fm_econ_input in = run(18e6, 1000000, 3600);
    fm_qualification q = qualified(1, 20);
    fm_econ_options o;
    fm_econ_options_default(&o);
    o.qualification = &q;
    fm_econ_result r;
    fm_error err = {0};
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_string_equal(r.currency, "USD");
    assert_non_null(strstr(r.tariff_source, "unsourced"));
    assert_close(r.gpu_energy_kwh, 5.0);
    assert_close(r.energy_cost, 0.60);
    assert_close(r.cost_per_million_tokens, 0.60);
    assert_close(r.discount_pct, 20);
    assert_close(r.discounted_cost_per_million_tokens, 0.48);
    assert_int_equal(r.discount_applied, 1);
    /* --no-discount */
    o.apply_discount = 0;
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_close(r.discount_pct, 0);
    assert_close(r.discounted_cost_per_million_tokens, 0.60);
    assert_non_null(strstr(r.discount_basis, "not applied"));
}

/* PUE 1.3 and a tier-2 discount: facility 6.5 kWh, cost 0.78, 10 % ->
 * 0.702 per million tokens. Carbon at Singapore's 405.7 g/kWh:
 * 6.5 * 405.7 = 2637.05 g = 2.63705 kg. */
static void test_pue_and_carbon(void **state)
{
    (void)state;
    fm_econ_input in = run(18e6, 1000000, 3600);
    fm_qualification q = qualified(2, 10);
    fm_econ_options o;
    fm_econ_options_default(&o);
    o.qualification = &q;
    o.pue = 1.3;
    o.carbon_region = "singapore";
    fm_econ_result r;
    fm_error err = {0};
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_close(r.facility_energy_kwh, 6.5);
    assert_close(r.energy_cost, 0.78);
    assert_close(r.discounted_cost_per_million_tokens, 0.702);
    assert_close(r.kwh_per_million_tokens, 6.5);
    assert_close(r.carbon_g_per_kwh, 405.7);
    assert_close(r.emissions_kg, 2.63705);
    assert_close(r.emissions_kg_per_million_tokens, 2.63705);
    /* an explicit intensity wins over the region */
    o.carbon_g_per_kwh = 150;
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_close(r.emissions_kg, 0.975);
    /* unknown region: one clear error */
    o.carbon_g_per_kwh = NAN;
    o.carbon_region = "atlantis";
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "atlantis"));
}

/* economics.md's example: 0.60 kW, PUE 1.0, 0.12 USD/kWh, 2.50 USD/GPU-h
 * -> 0.072 USD per GPU-hour = 2.88 % of the rent. 1,000,000 tokens in 1 h
 * on 1 GPU: rent 2.50 per million tokens. */
static void test_rental_share(void **state)
{
    (void)state;
    fm_econ_input in = run(0.6 * 3.6e6, 1000000, 3600);
    fm_econ_options o;
    fm_econ_options_default(&o);
    o.gpu_hour_price = 2.50;
    fm_econ_result r;
    fm_error err = {0};
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_close(r.avg_power_w, 600);
    assert_close(r.energy_cost_per_gpu_hour, 0.072);
    assert_close(r.energy_share_of_rental, 0.0288);
    assert_close(r.rent_per_million_tokens, 2.50);
    /* 8 GPUs, same energy in total: per GPU-hour a eighth */
    in.gpus = 8;
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_close(r.energy_cost_per_gpu_hour, 0.009);
    assert_close(r.rent_per_million_tokens, 20.0);
}

/* Projection at 50 % utilisation with 60 W idle, 0.12 USD/kWh, tier 1:
 * active 365 h * 600 W = 219 kWh, idle 365 h * 60 W = 21.9 kWh; 240.9 kWh
 * * 0.12 = 28.908; -20 % = 23.1264 per month, 277.5168 per year. Tokens:
 * 1e6 per hour * 365 h = 365e6; all-in 23.1264 / 365 = 0.0633600 per M. */
static void test_projection(void **state)
{
    (void)state;
    fm_econ_input in = run(0.6 * 3.6e6, 1000000, 3600);
    in.idle_power_w = 60;
    fm_qualification q = qualified(1, 20);
    fm_econ_options o;
    fm_econ_options_default(&o);
    o.qualification = &q;
    o.utilisation = 0.5;
    o.carbon_g_per_kwh = 500;
    fm_econ_result r;
    fm_error err = {0};
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_close(r.month_facility_kwh, 240.9);
    assert_close(r.month_energy_cost, 28.908);
    assert_close(r.month_energy_cost_discounted, 23.1264);
    assert_close(r.month_total, 23.1264);
    assert_close(r.year_total, 277.5168);
    assert_close(r.month_tokens, 365e6);
    assert_close(r.all_in_cost_per_million_tokens, 23.1264 / 365);
    /* 240.9 kWh * 12 * 500 g = 1.4454 t per year */
    assert_close(r.year_emissions_t, 1.4454);
    assert_non_null(strstr(r.assumptions, "50 %"));
    assert_non_null(strstr(r.assumptions, "60.0 W idle"));
    /* idle unknown: not counted, and said */
    in.idle_power_w = NAN;
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_close(r.month_facility_kwh, 219);
    assert_non_null(strstr(r.assumptions, "idle time not counted"));
}

/* Fixed fee and demand charge in the month: US example tariff, a 1 h run
 * at a constant 700 W (no trace): demand peak = run mean 0.7 kW (flagged),
 * 0.7 * 15 = 10.5 per month; fixed 500. */
static void test_month_with_demand_and_fixed(void **state)
{
    (void)state;
    const char *src = fmt_env("FIRMUS_SOURCE_DIR");
    if (!src)
        skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/tariffs/us-tou-demand-example.json", src);
    fm_tariff t;
    fm_error err = {0};
    assert_int_equal(fm_tariff_load_file(path, &t, &err), FM_OK);
    fm_econ_input in = run(0.7 * 3.6e6, 1000000, 3600);
    in.wall_t0_ns = INT64_C(1795896000) * NS; /* Saturday 12:00 UTC-8: off-peak 0.08 */
    fm_econ_options o;
    fm_econ_options_default(&o);
    o.tariff = &t;
    fm_econ_result r;
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_string_equal(r.time_of_use_basis, "constant power over the run (no trace)");
    assert_close(r.energy_cost, 0.7 * 0.08);
    assert_int_equal(r.demand_peak_short, 1);
    assert_close(r.demand_charge_per_month, 10.5);
    /* month: 0.7 kW * 730 h = 511 kWh at the week mean 22.04/168 */
    assert_close(r.month_energy_cost, 511 * 22.04 / 168);
    assert_close(r.month_total, 511 * 22.04 / 168 + 10.5 + 500);
    /* a TOU tariff without the wall-clock start is an error, not a guess */
    in.wall_t0_ns = -1;
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "wall-clock"));
}

static void test_unknown_tokens_and_json(void **state)
{
    (void)state;
    fm_econ_input in = run(18e6, -1, 3600);
    fm_econ_options o;
    fm_econ_options_default(&o);
    fm_econ_result r;
    fm_error err = {0};
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_true(isnan(r.cost_per_million_tokens));
    assert_true(isnan(r.discounted_cost_per_million_tokens));
    assert_true(isnan(r.all_in_cost_per_million_tokens));
    assert_close(r.energy_cost, 0.60);
    char *json = NULL;
    assert_int_equal(fm_econ_to_json(&r, NULL, &json, &err), FM_OK);
    const char *must[] = {"\"schema\": \"firmus-economics/1\"",
                          "\"cost_per_million_tokens\": null",
                          "\"tokens_generated\": null",
                          "\"energy_cost\": 0.6",
                          "\"pue\": 1",
                          "\"model_to_grid\": null",
                          "\"carbon\": null",
                          "\"rental\": null"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!strstr(json, must[i]))
            fail_msg("JSON lacks %s:\n%s", must[i], json);
    assert_null(strstr(json, "energy_metrics"));
    free(json);
}

/* Every documented key is present, with the right value where known. */
static void test_json_structure(void **state)
{
    (void)state;
    fm_econ_input in = run(18e6, 1000000, 3600);
    fm_qualification q = qualified(1, 20);
    fm_econ_options o;
    fm_econ_options_default(&o);
    o.qualification = &q;
    o.carbon_region = "au-tas";
    o.gpu_hour_price = 2.5;
    fm_econ_result r;
    fm_error err = {0};
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    char *text = NULL;
    assert_int_equal(fm_econ_to_json(&r, &q, &text, &err), FM_OK);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    assert_non_null(root);
    static const char *const top[] = {"schema",
                                      "currency",
                                      "assumptions",
                                      "run",
                                      "energy_cost",
                                      "effective_rate_per_kwh",
                                      "cost_per_million_tokens",
                                      "model_to_grid_discount_pct",
                                      "discount_applied",
                                      "discount_basis",
                                      "discounted_cost_per_million_tokens",
                                      "facility_kwh_per_million_tokens",
                                      "time_of_use",
                                      "demand",
                                      "carbon",
                                      "rental",
                                      "projection",
                                      "model_to_grid"};
    assert_int_equal(json_object_size(root), sizeof top / sizeof top[0]);
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!json_object_get(root, top[i]))
            fail_msg("missing %s", top[i]);
    assert_close(json_real_value(json_object_get(root, "discounted_cost_per_million_tokens")),
                 0.48);
    json_t *carbon = json_object_get(root, "carbon");
    assert_close(json_real_value(json_object_get(carbon, "g_co2_per_kwh")), 150);
    assert_close(json_real_value(json_object_get(carbon, "emissions_kg")), 0.75);
    json_t *rental = json_object_get(root, "rental");
    assert_close(json_real_value(json_object_get(rental, "gpu_hour_price")), 2.5);
    json_t *proj = json_object_get(root, "projection");
    assert_int_equal(json_object_size(proj), 10);
    json_t *m2g = json_object_get(root, "model_to_grid");
    assert_int_equal(json_integer_value(json_object_get(m2g, "tier")), 1);
    assert_true(json_is_true(json_object_get(m2g, "qualified")));
    assert_int_equal(json_object_size(json_object_get(m2g, "window")), 8);
    assert_string_equal(json_string_value(json_object_get(root, "currency")), "USD");
    json_decref(root);
    free(text);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    fm_econ_options o;
    fm_econ_options_default(&o);
    fm_econ_result r;
    fm_error err = {0};
    fm_econ_input in = run(NAN, 10, 10);
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_ERR_USAGE);
    in = run(100, 10, 0);
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_ERR_USAGE);
    in = run(100, 10, 10);
    o.pue = 0.9;
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "PUE"));
    o.pue = 1;
    o.utilisation = 0;
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_ERR_USAGE);
}

static void test_carbon_table_sourced(void **state)
{
    (void)state;
    size_t n = 0;
    const fm_carbon_region *regions = fm_carbon_regions(&n);
    assert_true(n >= 8);
    for (size_t i = 0; i < n; i++) {
        assert_true(regions[i].g_per_kwh > 0 && regions[i].g_per_kwh < 1200);
        assert_non_null(strstr(regions[i].source, "economics.md"));
        assert_true(strlen(regions[i].basis) > 0);
    }
    assert_close(fm_carbon_region_find("AU-TAS")->g_per_kwh, 150);
    assert_null(fm_carbon_region_find("nowhere"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_workflow3),
        cmocka_unit_test(test_pue_and_carbon),
        cmocka_unit_test(test_rental_share),
        cmocka_unit_test(test_projection),
        cmocka_unit_test(test_month_with_demand_and_fixed),
        cmocka_unit_test(test_unknown_tokens_and_json),
        cmocka_unit_test(test_json_structure),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_carbon_table_sourced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
