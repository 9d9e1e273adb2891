/* Tests of tariffs (src/econ/tariff.c): time-of-use periods crossing
 * midnight and weekends, adders, the demand peak on a known trace, the
 * shipped tariff files, and clear errors (file and line) for malformed
 * files. Every expected value is computed by hand in the comments. */
#include "testutil.h"

#include "firmus/econ.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS INT64_C(1000000000)
#define HOUR (3600 * NS)

/* Wall-clock instants (UTC ns) checked with Python's datetime. */
#define MON_2026_11_23_2100_SGT (INT64_C(1795438800) * NS) /* Monday 21:00 UTC+8 */
#define MON_2026_11_23_2300_SGT (INT64_C(1795446000) * NS) /* Monday 23:00 UTC+8 */
#define FRI_2026_11_27_1700_PST (INT64_C(1795827600) * NS) /* Friday 17:00 UTC-8 */
#define FRI_2026_11_27_2200_PST (INT64_C(1795845600) * NS) /* Friday 22:00 UTC-8 */
#define SAT_2026_11_28_1200_PST (INT64_C(1795896000) * NS) /* Saturday 12:00 UTC-8 */
#define SUN_2026_11_29_2300_PST (INT64_C(1796022000) * NS) /* Sunday 23:00 UTC-8 */

static char *shipped(const char *name)
{
    const char *src = fmt_env("FIRMUS_SOURCE_DIR");
    if (!src)
        return NULL;
    char *path = malloc(strlen(src) + strlen(name) + 16);
    sprintf(path, "%s/tariffs/%s", src, name);
    return path;
}

static void load_shipped(const char *name, fm_tariff *t)
{
    char *path = shipped(name);
    assert_non_null(path);
    fm_error err = {0};
    int rc = fm_tariff_load_file(path, t, &err);
    if (rc != FM_OK)
        fail_msg("%s", err.msg);
    free(path);
}

/* A constant power from wall time a for `hours`, as a 2-point series. */
static double split_cost(const fm_tariff *t, double power_w, int64_t wall_ns, double hours)
{
    int64_t times[2] = {0, (int64_t)(hours * (double)HOUR)};
    double values[2] = {power_w, NAN};
    fm_series s = {.n = 2, .cap = 2, .t_ns = times, .v = values};
    fm_tariff_split split;
    fm_error err = {0};
    assert_int_equal(fm_tariff_split_series(t, &s, 0, wall_ns, &split, &err), FM_OK);
    double cost = 0;
    for (size_t p = 0; p < t->n_periods; p++)
        cost += split.kwh[p] * fm_tariff_rate(t, (int)p);
    assert_true(fabs(split.total_kwh - power_w * hours / 1000) < 1e-9);
    return cost;
}

static void test_singapore_crossing_midnight(void **state)
{
    (void)state;
    fm_tariff t;
    load_shipped("firmus-singapore-tou.json", &t);
    /* Rates with adders 0.04 + 0.02 + 0.005 = 0.065: off-peak 0.245,
     * standard 0.305, peak 0.365 SGD/kWh. */
    assert_true(fabs(fm_tariff_rate(&t, 0) - 0.245) < 1e-12);
    assert_true(fabs(fm_tariff_rate(&t, 2) - 0.365) < 1e-12);
    /* 1 kW, Monday 21:00-23:00 local: 1 kWh standard + 1 kWh off-peak
     * = 0.305 + 0.245 = 0.550 SGD. */
    assert_true(fabs(split_cost(&t, 1000, MON_2026_11_23_2100_SGT, 2) - 0.550) < 1e-9);
    /* 1 kW, 23:00-01:00 (crosses midnight): 2 kWh off-peak = 0.490. */
    assert_true(fabs(split_cost(&t, 1000, MON_2026_11_23_2300_SGT, 2) - 0.490) < 1e-9);
    /* 2 kW for 24 h from 21:00: off-peak 9 h, standard 2 + 4 = 6 h, peak 9 h:
     * 2 * (9*0.245 + 6*0.305 + 9*0.365) = 2 * 7.32 = 14.64 SGD. */
    assert_true(fabs(split_cost(&t, 2000, MON_2026_11_23_2100_SGT, 24) - 14.64) < 1e-9);
    /* Week mean: (9*0.245 + 6*0.305 + 9*0.365) / 24 = 0.305. */
    assert_true(fabs(fm_tariff_week_mean_rate(&t) - 0.305) < 1e-12);
}

static void test_us_weekends_and_periods(void **state)
{
    (void)state;
    fm_tariff t;
    load_shipped("us-tou-demand-example.json", &t);
    /* Friday 17:00-19:00: 1 kWh on-peak 0.25 + 1 kWh mid-peak 0.15 = 0.40. */
    assert_true(fabs(split_cost(&t, 1000, FRI_2026_11_27_1700_PST, 2) - 0.40) < 1e-9);
    /* Saturday 12:00-14:00 is off-peak all day: 2 * 0.08 = 0.16. */
    assert_true(fabs(split_cost(&t, 1000, SAT_2026_11_28_1200_PST, 2) - 0.16) < 1e-9);
    assert_int_equal(t.demand_window_s, 900);
    assert_true(t.demand_per_kw_month == 15 && t.fixed_per_month == 500);
    /* Week mean: weekdays 8 h*0.08 + 10 h*0.15 + 6 h*0.25 = 3.64 per day,
     * weekends 24*0.08 = 1.92: (5*3.64 + 2*1.92) / 168 = 22.04/168. */
    assert_true(fabs(fm_tariff_week_mean_rate(&t) - 22.04 / 168) < 1e-12);
}

/* Weekday nights (crossing midnight) and weekends at different rates show
 * the day rule: each instant belongs to its own local calendar day. */
static const char night_weekend_tariff[] =
    "{\"format\": \"firmus-tariff/1\", \"name\": \"test\", \"currency\": \"USD\",\n"
    " \"source\": \"test\", \"utc_offset_hours\": -8,\n"
    " \"energy_periods\": [\n"
    "  {\"name\": \"night\", \"rate_per_kwh\": 0.10, \"days\": \"weekdays\", \"from\": \"23:00\","
    "   \"to\": \"07:00\"},\n"
    "  {\"name\": \"day\", \"rate_per_kwh\": 0.15, \"days\": [\"mon\",\"tue\",\"wed\",\"thu\","
    "\"fri\"], \"from\": \"07:00\", \"to\": \"23:00\"},\n"
    "  {\"name\": \"weekend\", \"rate_per_kwh\": 0.05, \"days\": \"weekends\", \"from\": \"00:00\","
    "   \"to\": \"24:00\"}]}\n";

static void test_night_crossing_into_weekend(void **state)
{
    (void)state;
    fm_tariff t;
    fm_error err = {0};
    assert_int_equal(fm_tariff_parse(night_weekend_tariff, "test.json", &t, &err), FM_OK);
    /* Fri 22:00-Sat 02:00 at 1 kW: Fri 22-23 day 0.15, Fri 23-24 night 0.10,
     * Sat 00-02 weekend 2*0.05: 0.35 (Saturday 00-07 is not "night"). */
    assert_true(fabs(split_cost(&t, 1000, FRI_2026_11_27_2200_PST, 4) - 0.35) < 1e-9);
    /* Sun 23:00-Mon 01:00: Sunday weekend 0.05 + Monday night 0.10 = 0.15. */
    assert_true(fabs(split_cost(&t, 1000, SUN_2026_11_29_2300_PST, 2) - 0.15) < 1e-9);
    assert_string_equal(t.period[fm_tariff_period_at(&t, SUN_2026_11_29_2300_PST)].name, "weekend");
    assert_string_equal(t.period[fm_tariff_period_at(&t, SUN_2026_11_29_2300_PST + 2 * HOUR)].name,
                        "night");
}

/* 500 W for 30 min, 1500 W for 10 min, 500 W for 30 min (1 s samples).
 * Best 15-min window: the 10 min at 1500 W plus 5 min at 500 W:
 * (1500*10 + 500*5) / 15 = 1166.667 W. */
static void test_demand_peak_known(void **state)
{
    (void)state;
    fm_series s;
    fm_series_init(&s);
    for (int i = 0; i <= 70 * 60; i++)
        assert_int_equal(fm_series_push(&s, (int64_t)i * NS, i >= 1800 && i < 2400 ? 1500 : 500),
                         FM_OK);
    int short_series = -1;
    double peak = fm_demand_peak_w(&s, 900, &short_series);
    assert_int_equal(short_series, 0);
    assert_true(fabs(peak - 3500.0 / 3) < 1e-6);
    /* A 60 s window sees the full 1500 W. */
    assert_true(fabs(fm_demand_peak_w(&s, 60, NULL) - 1500) < 1e-9);

    /* Demand charge through fm_econ_compute: 15 USD/kW-month, PUE 1.2:
     * 1.16667 kW * 1.2 = 1.4 kW -> 21.0 USD per month. */
    fm_tariff t;
    load_shipped("us-tou-demand-example.json", &t);
    fm_econ_input in = {.energy_j = 0,
                        .tokens = -1,
                        .gpus = 1,
                        .power_w = &s,
                        .series_t0_ns = 0,
                        .wall_t0_ns = SAT_2026_11_28_1200_PST,
                        .idle_power_w = NAN};
    /* energy of the trace: 500 W * 60 min + 1500 W * 10 min = 45 MJ... in W*s */
    in.energy_j = 500.0 * 3600 + 1500.0 * 600;
    in.duration_s = 4200;
    fm_econ_options o;
    fm_econ_options_default(&o);
    o.tariff = &t;
    o.pue = 1.2;
    fm_econ_result r;
    fm_error err = {0};
    assert_int_equal(fm_econ_compute(&in, &o, &r, &err), FM_OK);
    assert_true(fabs(r.demand_peak_kw - 1.4) < 1e-9);
    assert_true(fabs(r.demand_charge_per_month - 21.0) < 1e-9);
    /* Saturday: all off-peak 0.08: facility kWh = 2.7e6 J/3.6e6 * 1.2 = 0.9 kWh -> 0.072. */
    assert_true(fabs(r.energy_cost - 0.072) < 1e-12);
    fm_series_free(&s);
}

static void test_demand_short_run(void **state)
{
    (void)state;
    fm_series s;
    fm_series_init(&s);
    /* 10 minutes: 400 W then 800 W (5 min each): shorter than 15 min, so
     * the peak is the run mean 600 W and the result says so. */
    for (int i = 0; i <= 600; i++)
        assert_int_equal(fm_series_push(&s, (int64_t)i * NS, i < 300 ? 400 : 800), FM_OK);
    int short_series = 0;
    assert_true(fabs(fm_demand_peak_w(&s, 900, &short_series) - 600) < 1e-9);
    assert_int_equal(short_series, 1);
    fm_series_free(&s);
}

/* Each malformed tariff must fail with "file:line:" and the key path. */
static void expect_error(const char *text, const char *want_prefix, const char *want_part)
{
    fm_tariff t;
    fm_error err = {0};
    assert_int_equal(fm_tariff_parse(text, "bad.json", &t, &err), FM_ERR_PARSE);
    if (strncmp(err.msg, want_prefix, strlen(want_prefix)) || !strstr(err.msg, want_part))
        fail_msg("got \"%s\", want prefix \"%s\" and \"%s\"", err.msg, want_prefix, want_part);
}

static void test_malformed_tariffs(void **state)
{
    (void)state;
    const char *head = "{\"format\": \"firmus-tariff/1\", \"name\": \"x\", \"currency\": \"USD\",\n"
                       " \"source\": \"s\", \"utc_offset_hours\": 0,\n";
    char text[1024];
    /* syntax error on line 3, column of the stray comma */
    snprintf(text, sizeof text, "%s \"energy_periods\": [,]}\n", head);
    expect_error(text, "bad.json:3:", "");
    /* gap: nothing covers 07:00 onwards */
    snprintf(text, sizeof text,
             "%s \"energy_periods\": [\n"
             "  {\"name\": \"n\", \"rate_per_kwh\": 0.1, \"days\": \"all\", \"from\": \"22:00\", "
             "\"to\": \"07:00\"}]}\n",
             head);
    expect_error(text, "bad.json:3:", "no period covers mon 07:00");
    /* overlap: 08:00 in both */
    snprintf(text, sizeof text,
             "%s \"energy_periods\": [\n"
             "  {\"name\": \"a\", \"rate_per_kwh\": 0.1, \"days\": \"all\", \"from\": \"00:00\", "
             "\"to\": \"24:00\"},\n"
             "  {\"name\": \"b\", \"rate_per_kwh\": 0.2, \"days\": \"weekdays\", \"from\": "
             "\"08:00\", \"to\": \"09:00\"}]}\n",
             head);
    expect_error(text, "bad.json:5: energy_periods[1]:", "overlaps energy_periods[0] on mon 08:00");
    /* bad clock */
    snprintf(text, sizeof text,
             "%s \"energy_periods\": [\n"
             "  {\"name\": \"a\", \"rate_per_kwh\": 0.1, \"days\": \"all\", \"from\": \"0:00\", "
             "\"to\": \"24:00\"}]}\n",
             head);
    expect_error(text, "bad.json:4: energy_periods[0].from:", "HH:MM");
    /* unknown key */
    snprintf(text, sizeof text,
             "%s \"energy_periods\": [\n"
             "  {\"name\": \"a\", \"rate_per_kwh\": 0.1, \"days\": \"all\", \"from\": \"00:00\", "
             "\"to\": \"24:00\"}],\n"
             " \"demand_charge\": {\"per_kw_month\": 15,\n"
             "                   \"window_minute\": 15}}\n",
             head);
    expect_error(text, "bad.json:6: demand_charge.window_minute:", "unknown key");
    /* wrong type */
    snprintf(text, sizeof text,
             "%s \"energy_periods\": [\n"
             "  {\"name\": \"a\", \"rate_per_kwh\": \"0.1\", \"days\": \"all\", \"from\": "
             "\"00:00\", \"to\": \"24:00\"}]}\n",
             head);
    expect_error(text, "bad.json:4: energy_periods[0].rate_per_kwh:", "must be a number");
    /* bad day name */
    snprintf(text, sizeof text,
             "%s \"energy_periods\": [\n"
             "  {\"name\": \"a\", \"rate_per_kwh\": 0.1, \"days\": [\"mon\", \"funday\"], "
             "\"from\": \"00:00\", \"to\": \"24:00\"}]}\n",
             head);
    expect_error(text, "bad.json:4: energy_periods[0].days[1]:", "mon, tue");
}

static void test_missing_file(void **state)
{
    (void)state;
    fm_tariff t;
    fm_error err = {0};
    assert_int_equal(fm_tariff_load_file("/nonexistent/tariff.json", &t, &err), FM_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/tariff.json"));
}

static void test_shipped_flat(void **state)
{
    (void)state;
    fm_tariff t;
    load_shipped("flat-seed-0.12-usd.json", &t);
    assert_true(fabs(fm_tariff_week_mean_rate(&t) - 0.12) < 1e-12);
    assert_non_null(strstr(t.source, "UNSOURCED"));
}

/* Every single-character corruption of a valid tariff is either still
 * valid or refused with one "bad.json:LINE:" message; never a crash. */
static void test_mutations_never_crash(void **state)
{
    (void)state;
    size_t n = strlen(night_weekend_tariff);
    char *text = malloc(n + 1);
    const char replacements[] = {'}', '"', '9', ',', ':', ']', 'x', '-'};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof replacements; k++) {
            memcpy(text, night_weekend_tariff, n + 1);
            text[i] = replacements[k];
            fm_tariff *t = malloc(sizeof *t);
            fm_error err = {0};
            int rc = fm_tariff_parse(text, "bad.json", t, &err);
            free(t);
            if (rc == FM_OK)
                continue;
            assert_int_equal(rc, FM_ERR_PARSE);
            if (strncmp(err.msg, "bad.json:", 9) || err.msg[9] < '1' || err.msg[9] > '9')
                fail_msg("mutation at %zu: unclear message \"%s\"", i, err.msg);
        }
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_singapore_crossing_midnight),
        cmocka_unit_test(test_us_weekends_and_periods),
        cmocka_unit_test(test_night_crossing_into_weekend),
        cmocka_unit_test(test_demand_peak_known),
        cmocka_unit_test(test_demand_short_run),
        cmocka_unit_test(test_malformed_tariffs),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_shipped_flat),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
