/* Tariffs (see firmus/econ.h): reading a tariff file strictly (every
 * minute of the week must fall in exactly one energy period; errors name
 * file, line and key path), the rate at a wall-clock instant, the energy
 * of a power trace split by time-of-use period, and the demand peak (the
 * highest mean power over a sliding window). Format documented in
 * docs/ECONOMIC_ANALYSIS.md. */
#include "firmus/econ.h"

#include "econ/econ_doc.h"
#include "util/text_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARIFF_FORMAT "firmus-tariff/1"
#define MINUTES_PER_DAY 1440
#define MINUTES_PER_WEEK (7 * MINUTES_PER_DAY)
#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MIN (60 * NS_PER_S)
#define J_PER_KWH 3.6e6

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* ---- the week map ---- */

static int period_covers(const fm_tariff_period *p, int day, int minute)
{
    if (!(p->days & (1u << day)))
        return 0;
    if (p->start_min < p->end_min)
        return minute >= p->start_min && minute < p->end_min;
    return minute >= p->start_min || minute < p->end_min; /* crosses midnight */
}

/* Fills week_map; on a gap or an overlap reports the first minute found. */
static int build_week_map(fm_tariff *t, int *gap_minute, int *overlap_minute, size_t *first,
                          size_t *second)
{
    *gap_minute = *overlap_minute = -1;
    for (int m = 0; m < MINUTES_PER_WEEK; m++) {
        int day = m / MINUTES_PER_DAY, minute = m % MINUTES_PER_DAY;
        int found = -1;
        for (size_t p = 0; p < t->n_periods; p++) {
            if (!period_covers(&t->period[p], day, minute))
                continue;
            if (found >= 0) {
                *overlap_minute = m;
                *first = (size_t)found;
                *second = p;
                return FM_ERR_PARSE;
            }
            found = (int)p;
        }
        if (found < 0) {
            *gap_minute = m;
            return FM_ERR_PARSE;
        }
        t->week_map[m] = (signed char)found;
    }
    return FM_OK;
}

void fm_tariff_flat(fm_tariff *t, double rate_per_kwh, const char *currency, const char *source)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "flat %g %s/kWh", rate_per_kwh, currency);
    snprintf(t->currency, sizeof t->currency, "%s", currency);
    snprintf(t->source, sizeof t->source, "%s", source ? source : "given rate");
    t->n_periods = 1;
    snprintf(t->period[0].name, sizeof t->period[0].name, "flat");
    t->period[0].rate_per_kwh = rate_per_kwh;
    t->period[0].days = FM_DAYS_ALL;
    t->period[0].start_min = 0;
    t->period[0].end_min = MINUTES_PER_DAY;
    t->demand_window_s = 15 * 60;
    /* all minutes belong to period 0: week_map is already zero */
}

/* ---- parsing ---- */

/* "HH:MM" (00:00 to 24:00) into minutes; -1 if malformed. */
static int parse_clock(const char *s)
{
    int h, m;
    char tail;
    if (strlen(s) != 5 || sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || s[2] != ':')
        return -1;
    if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

static int parse_days(const econ_doc *d, json_t *v, const char *path, unsigned *days)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "all"))
            *days = FM_DAYS_ALL;
        else if (!strcmp(s, "weekdays"))
            *days = FM_DAYS_WEEKDAYS;
        else if (!strcmp(s, "weekends"))
            *days = FM_DAYS_WEEKENDS;
        else
            return econ_doc_fail(d, path,
                                 "\"%s\" is not all, weekdays, weekends or a list of "
                                 "days",
                                 s);
        return FM_OK;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return econ_doc_fail(d, path,
                             "must be \"all\", \"weekdays\", \"weekends\" or a list such "
                             "as [\"sat\", \"sun\"]");
    *days = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *item = json_array_get(v, i);
        int day = -1;
        for (int k = 0; k < 7 && json_is_string(item); k++)
            if (!strcmp(json_string_value(item), day_names[k]))
                day = k;
        if (day < 0) {
            char sub[256];
            econ_path_index(sub, sizeof sub, path, i);
            return econ_doc_fail(d, sub, "must be one of mon, tue, wed, thu, fri, sat, sun");
        }
        *days |= 1u << day;
    }
    return FM_OK;
}

static int parse_period(const econ_doc *d, json_t *obj, const char *path, fm_tariff_period *p)
{
    static const char *const keys[] = {"name", "rate_per_kwh", "days", "from", "to", NULL};
    if (!json_is_object(obj))
        return econ_doc_fail(d, path, "each energy period must be an object");
    char from[16] = "", to[16] = "", sub[256];
    int rc = econ_doc_check_keys(d, obj, path, keys);
    if (rc == FM_OK)
        rc = econ_doc_string(d, obj, path, "name", 1, p->name, sizeof p->name);
    if (rc == FM_OK)
        rc = econ_doc_number(d, obj, path, "rate_per_kwh", 1, 0, 100, &p->rate_per_kwh);
    if (rc == FM_OK)
        rc = econ_doc_string(d, obj, path, "from", 1, from, sizeof from);
    if (rc == FM_OK)
        rc = econ_doc_string(d, obj, path, "to", 1, to, sizeof to);
    if (rc != FM_OK)
        return rc;
    json_t *days = json_object_get(obj, "days");
    if (!days)
        return econ_doc_fail(d, path, "missing required key \"days\"");
    econ_path_key(sub, sizeof sub, path, "days");
    rc = parse_days(d, days, sub, &p->days);
    if (rc != FM_OK)
        return rc;
    p->start_min = parse_clock(from);
    p->end_min = parse_clock(to);
    const char *bad = p->start_min < 0 || p->start_min == MINUTES_PER_DAY ? "from"
                      : p->end_min < 0                                    ? "to"
                                                                          : NULL;
    if (bad) {
        econ_path_key(sub, sizeof sub, path, bad);
        return econ_doc_fail(d, sub,
                             "must be a local time \"HH:MM\" (from 00:00-23:59, to "
                             "00:01-24:00)");
    }
    if (p->end_min == 0)
        p->end_min = MINUTES_PER_DAY; /* "to": "00:00" means midnight at the end of the day */
    if (p->start_min == p->end_min) {
        econ_path_key(sub, sizeof sub, path, "to");
        return econ_doc_fail(d, sub, "equals \"from\": use 00:00 to 24:00 for a whole day");
    }
    return FM_OK;
}

static int parse_periods(const econ_doc *d, json_t *root, fm_tariff *t)
{
    json_t *periods = json_object_get(root, "energy_periods");
    if (!periods)
        return econ_doc_fail(d, "", "missing required key \"energy_periods\"");
    if (!json_is_array(periods) || json_array_size(periods) == 0 ||
        json_array_size(periods) > FM_TARIFF_MAX_PERIODS)
        return econ_doc_fail(d, "energy_periods", "must be an array of 1 to %d periods",
                             FM_TARIFF_MAX_PERIODS);
    t->n_periods = json_array_size(periods);
    for (size_t i = 0; i < t->n_periods; i++) {
        char sub[64];
        econ_path_index(sub, sizeof sub, "energy_periods", i);
        int rc = parse_period(d, json_array_get(periods, i), sub, &t->period[i]);
        if (rc != FM_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->period[j].name, t->period[i].name) &&
                t->period[j].rate_per_kwh != t->period[i].rate_per_kwh)
                return econ_doc_fail(d, sub, "period \"%s\" appears again with a different rate",
                                     t->period[i].name);
    }
    int gap, overlap;
    size_t first = 0, second = 0;
    if (build_week_map(t, &gap, &overlap, &first, &second) == FM_OK)
        return FM_OK;
    char sub[64];
    if (overlap >= 0) {
        econ_path_index(sub, sizeof sub, "energy_periods", second);
        return econ_doc_fail(d, sub, "overlaps energy_periods[%zu] on %s %02d:%02d", first,
                             day_names[overlap / MINUTES_PER_DAY], overlap % MINUTES_PER_DAY / 60,
                             overlap % 60);
    }
    return econ_doc_fail(d, "energy_periods",
                         "no period covers %s %02d:%02d (every minute of the week needs "
                         "exactly one period)",
                         day_names[gap / MINUTES_PER_DAY], gap % MINUTES_PER_DAY / 60, gap % 60);
}

static int parse_adders(const econ_doc *d, json_t *root, fm_tariff *t)
{
    static const char *const keys[] = {"name", "per_kwh", NULL};
    json_t *adders = json_object_get(root, "adders");
    if (!adders)
        return FM_OK;
    if (!json_is_array(adders) || json_array_size(adders) > FM_TARIFF_MAX_ADDERS)
        return econ_doc_fail(d, "adders", "must be an array of at most %d adders",
                             FM_TARIFF_MAX_ADDERS);
    t->n_adders = json_array_size(adders);
    for (size_t i = 0; i < t->n_adders; i++) {
        char sub[64];
        econ_path_index(sub, sizeof sub, "adders", i);
        json_t *a = json_array_get(adders, i);
        if (!json_is_object(a))
            return econ_doc_fail(d, sub, "each adder must be an object");
        int rc = econ_doc_check_keys(d, a, sub, keys);
        if (rc == FM_OK)
            rc = econ_doc_string(d, a, sub, "name", 1, t->adder[i].name, sizeof t->adder[i].name);
        if (rc == FM_OK)
            rc = econ_doc_number(d, a, sub, "per_kwh", 1, -100, 100, &t->adder[i].per_kwh);
        if (rc != FM_OK)
            return rc;
    }
    return FM_OK;
}

static int parse_demand(const econ_doc *d, json_t *root, fm_tariff *t)
{
    static const char *const keys[] = {"per_kw_month", "window_minutes", NULL};
    json_t *demand = json_object_get(root, "demand_charge");
    if (!demand)
        return FM_OK;
    if (!json_is_object(demand))
        return econ_doc_fail(d, "demand_charge", "must be an object");
    double window_min = 15;
    int rc = econ_doc_check_keys(d, demand, "demand_charge", keys);
    if (rc == FM_OK)
        rc = econ_doc_number(d, demand, "demand_charge", "per_kw_month", 1, 0, 1e4,
                             &t->demand_per_kw_month);
    if (rc == FM_OK)
        rc = econ_doc_number(d, demand, "demand_charge", "window_minutes", 1, 1.0 / 60, 1440,
                             &window_min);
    t->demand_window_s = window_min * 60;
    return rc;
}

static int parse_tariff(const econ_doc *d, json_t *root, fm_tariff *t)
{
    static const char *const keys[] = {
        "format",         "name",   "currency",      "source",          "utc_offset_hours",
        "energy_periods", "adders", "demand_charge", "fixed_per_month", NULL};
    char format[64] = "";
    int rc = econ_doc_check_keys(d, root, "", keys);
    if (rc == FM_OK)
        rc = econ_doc_string(d, root, "", "format", 1, format, sizeof format);
    if (rc == FM_OK && strcmp(format, TARIFF_FORMAT))
        rc = econ_doc_fail(d, "format", "\"%s\" is not \"%s\"", format, TARIFF_FORMAT);
    if (rc == FM_OK)
        rc = econ_doc_string(d, root, "", "name", 1, t->name, sizeof t->name);
    if (rc == FM_OK)
        rc = econ_doc_string(d, root, "", "currency", 1, t->currency, sizeof t->currency);
    if (rc == FM_OK)
        rc = econ_doc_string(d, root, "", "source", 1, t->source, sizeof t->source);
    if (rc == FM_OK)
        rc = econ_doc_number(d, root, "", "utc_offset_hours", 1, -12, 14, &t->utc_offset_h);
    if (rc == FM_OK)
        rc = econ_doc_number(d, root, "", "fixed_per_month", 0, 0, 1e9, &t->fixed_per_month);
    if (rc == FM_OK)
        rc = parse_periods(d, root, t);
    if (rc == FM_OK)
        rc = parse_adders(d, root, t);
    if (rc == FM_OK)
        rc = parse_demand(d, root, t);
    return rc;
}

int fm_tariff_parse(const char *text, const char *label, fm_tariff *out, fm_error *err)
{
    memset(out, 0, sizeof *out);
    out->demand_window_s = 15 * 60;
    econ_doc d = {.text = text, .label = label ? label : "tariff", .err = err};
    json_t *root;
    int rc = econ_doc_parse(&d, &root);
    if (rc != FM_OK)
        return rc;
    rc = parse_tariff(&d, root, out);
    json_decref(root);
    return rc;
}

int fm_tariff_load_file(const char *path, fm_tariff *out, fm_error *err)
{
    char *text;
    int rc = fm_read_text_file(path, &text, NULL, err);
    if (rc != FM_OK)
        return rc;
    rc = fm_tariff_parse(text, path, out, err);
    free(text);
    return rc;
}

/* ---- rates ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Minute of the local week (0 = Monday 00:00) at a wall-clock instant. */
static int week_minute(const fm_tariff *t, int64_t wall_ns)
{
    int64_t offset_ns = (int64_t)llround(t->utc_offset_h * 3600.0 * 1e9);
    int64_t minutes = floor_div(wall_ns + offset_ns, NS_PER_MIN);
    /* Day 0 of the epoch, 1970-01-01, was a Thursday (index 3). */
    int64_t m = (minutes + 3 * MINUTES_PER_DAY) % MINUTES_PER_WEEK;
    return (int)(m < 0 ? m + MINUTES_PER_WEEK : m);
}

int fm_tariff_period_at(const fm_tariff *t, int64_t wall_ns)
{
    return t->week_map[week_minute(t, wall_ns)];
}

double fm_tariff_rate(const fm_tariff *t, int period)
{
    double rate = t->period[period].rate_per_kwh;
    for (size_t a = 0; a < t->n_adders; a++)
        rate += t->adder[a].per_kwh;
    return rate;
}

double fm_tariff_week_mean_rate(const fm_tariff *t)
{
    double sum = 0;
    for (int m = 0; m < MINUTES_PER_WEEK; m++)
        sum += fm_tariff_rate(t, t->week_map[m]);
    return sum / MINUTES_PER_WEEK;
}

/* ---- energy split by period ---- */

/* Adds power_w held over wall-clock [a_ns, b_ns) to the periods it covers. */
static void add_held(const fm_tariff *t, double power_w, int64_t a_ns, int64_t b_ns,
                     fm_tariff_split *out)
{
    int64_t offset_ns = (int64_t)llround(t->utc_offset_h * 3600.0 * 1e9);
    while (a_ns < b_ns) {
        int64_t next_minute =
            (floor_div(a_ns + offset_ns, NS_PER_MIN) + 1) * NS_PER_MIN - offset_ns;
        int64_t end = next_minute < b_ns ? next_minute : b_ns;
        double kwh = power_w * (double)(end - a_ns) / 1e9 / J_PER_KWH;
        out->kwh[fm_tariff_period_at(t, a_ns)] += kwh;
        out->total_kwh += kwh;
        a_ns = end;
    }
}

int fm_tariff_split_series(const fm_tariff *t, const fm_series *power_w, int64_t series_t0_ns,
                           int64_t wall_t0_ns, fm_tariff_split *out, fm_error *err)
{
    memset(out, 0, sizeof *out);
    if (!power_w || power_w->n < 2)
        return fm_fail(err, FM_ERR_USAGE, "tariff: a power series of at least 2 samples is needed");
    for (size_t i = 0; i + 1 < power_w->n; i++) {
        if (isnan(power_w->v[i]))
            continue;
        int64_t a = wall_t0_ns + (power_w->t_ns[i] - series_t0_ns);
        int64_t b = wall_t0_ns + (power_w->t_ns[i + 1] - series_t0_ns);
        add_held(t, power_w->v[i], a, b, out);
    }
    return FM_OK;
}

/* ---- demand peak ---- */

/* Energy (W*s) and covered time (s) of the held signal from the first
 * sample to t, using prefix sums at the samples. */
static void prefix_at(const fm_series *s, const double *e_ws, const double *cov_s, int64_t t,
                      double *energy_ws, double *covered_s)
{
    size_t lo = 0, hi = s->n - 1; /* last sample at or before t */
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        if (s->t_ns[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    double dt = (double)(t - s->t_ns[lo]) / 1e9;
    int held = lo + 1 < s->n && !isnan(s->v[lo]);
    *energy_ws = e_ws[lo] + (held ? s->v[lo] * dt : 0.0);
    *covered_s = cov_s[lo] + (held ? dt : 0.0);
}

static double window_mean(const fm_series *s, const double *e, const double *c, int64_t a,
                          int64_t b)
{
    double ea, ca, eb, cb;
    prefix_at(s, e, c, a, &ea, &ca);
    prefix_at(s, e, c, b, &eb, &cb);
    return cb - ca > 0 ? (eb - ea) / (cb - ca) : NAN;
}

double fm_demand_peak_w(const fm_series *power_w, double window_s, int *short_series)
{
    if (short_series)
        *short_series = 0;
    if (!power_w || power_w->n < 2 || !(window_s > 0))
        return NAN;
    size_t n = power_w->n;
    double *e = malloc(n * sizeof *e), *c = malloc(n * sizeof *c);
    if (!e || !c) {
        free(e);
        free(c);
        return NAN;
    }
    e[0] = c[0] = 0;
    for (size_t i = 1; i < n; i++) {
        double dt = (double)(power_w->t_ns[i] - power_w->t_ns[i - 1]) / 1e9;
        int ok = !isnan(power_w->v[i - 1]);
        e[i] = e[i - 1] + (ok ? power_w->v[i - 1] * dt : 0.0);
        c[i] = c[i - 1] + (ok ? dt : 0.0);
    }
    int64_t first = power_w->t_ns[0], last = power_w->t_ns[n - 1];
    int64_t w_ns = (int64_t)llround(window_s * 1e9);
    double peak = NAN;
    if (last - first <= w_ns) {
        if (short_series)
            *short_series = 1;
        peak = c[n - 1] > 0 ? e[n - 1] / c[n - 1] : NAN;
    } else {
        /* The mean of a piecewise-constant signal over a sliding window is
         * largest with one window edge on a sample time. */
        for (size_t i = 0; i < n; i++) {
            int64_t starts[2] = {power_w->t_ns[i], power_w->t_ns[i] - w_ns};
            for (int k = 0; k < 2; k++) {
                int64_t a = starts[k];
                if (a < first || a + w_ns > last)
                    continue;
                double m = window_mean(power_w, e, c, a, a + w_ns);
                if (!isnan(m) && (isnan(peak) || m > peak))
                    peak = m;
            }
        }
    }
    free(e);
    free(c);
    return peak;
}
