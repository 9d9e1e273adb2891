/* Model-to-Grid policies (see firmus/econ.h): reading a policy file
 * strictly (unknown keys, wrong types, unreachable tiers and a missing
 * catch-all are errors naming file, line and key path) and classifying a
 * measured power window into a tier with its discount and reasoning. The
 * file format is documented in docs/ECONOMIC_ANALYSIS.md. */
#include "firmus/econ.h"

#include "econ/econ_builtin.h"
#include "econ/econ_doc.h"
#include "util/text_file.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_FORMAT "firmus-m2g-policy/1"

/* The condition keys of a tier's "when" object. */
static const struct {
    const char *key;
    fm_policy_quantity quantity;
    int inclusive;
} condition_keys[] = {
    {"power_cv_below", FM_POLICY_POWER_CV, 0},
    {"power_cv_at_most", FM_POLICY_POWER_CV, 1},
    {"avg_power_below_w", FM_POLICY_AVG_POWER_W, 0},
    {"avg_power_at_most_w", FM_POLICY_AVG_POWER_W, 1},
    {"peak_power_below_w", FM_POLICY_PEAK_POWER_W, 0},
    {"peak_power_at_most_w", FM_POLICY_PEAK_POWER_W, 1},
};
#define N_CONDITION_KEYS (sizeof condition_keys / sizeof condition_keys[0])

static const char *const profile_tiers[] = {"tier_1_efficient", "tier_2_standard",
                                            "tier_3_high_variance"};

static const char *quantity_label(fm_policy_quantity q)
{
    switch (q) {
    case FM_POLICY_POWER_CV:
        return "power CV";
    case FM_POLICY_AVG_POWER_W:
        return "average power";
    case FM_POLICY_PEAK_POWER_W:
        return "peak power";
    }
    return "?";
}

const char *fm_policy_default_name(void)
{
    return "m2g-cv-only";
}

const char *fm_policy_builtin_text(const char *name)
{
    return name ? econ_builtin_policy(name) : NULL;
}

/* ---- parsing ---- */

static int parse_conditions(const econ_doc *d, json_t *when, const char *path, fm_policy_tier *t)
{
    if (!json_is_object(when))
        return econ_doc_fail(d, path, "must be an object of conditions (may be empty)");
    const char *key;
    json_t *value;
    t->n_conditions = 0;
    json_object_foreach(when, key, value)
    {
        char sub[256];
        econ_path_key(sub, sizeof sub, path, key);
        size_t k = 0;
        while (k < N_CONDITION_KEYS && strcmp(key, condition_keys[k].key))
            k++;
        if (k == N_CONDITION_KEYS)
            return econ_doc_fail(d, sub,
                                 "unknown condition (allowed: power_cv_below, power_cv_at_most, "
                                 "avg_power_below_w, avg_power_at_most_w, peak_power_below_w, "
                                 "peak_power_at_most_w)");
        for (size_t c = 0; c < t->n_conditions; c++)
            if (t->cond[c].quantity == condition_keys[k].quantity)
                return econ_doc_fail(d, sub, "a second condition on %s in the same tier",
                                     quantity_label(condition_keys[k].quantity));
        double limit = 0;
        int rc = econ_doc_number(d, when, path, key, 1, 0.0, 1e9, &limit);
        if (rc != FM_OK)
            return rc;
        fm_policy_condition *c = &t->cond[t->n_conditions++];
        c->quantity = condition_keys[k].quantity;
        c->limit = limit;
        c->inclusive = condition_keys[k].inclusive;
    }
    return FM_OK;
}

static int parse_tier(const econ_doc *d, json_t *obj, const char *path, fm_policy_tier *t)
{
    static const char *const keys[] = {"tier", "name", "profile_tier", "discount_percent",
                                       "when", NULL};
    if (!json_is_object(obj))
        return econ_doc_fail(d, path, "each tier must be an object");
    int rc = econ_doc_check_keys(d, obj, path, keys);
    double tier_number = 0;
    if (rc == FM_OK)
        rc = econ_doc_number(d, obj, path, "tier", 1, 1, 99, &tier_number);
    if (rc == FM_OK)
        rc = econ_doc_string(d, obj, path, "name", 1, t->name, sizeof t->name);
    if (rc == FM_OK)
        rc = econ_doc_string(d, obj, path, "profile_tier", 1, t->profile_tier,
                             sizeof t->profile_tier);
    if (rc == FM_OK)
        rc = econ_doc_number(d, obj, path, "discount_percent", 1, 0, 100, &t->discount_pct);
    if (rc != FM_OK)
        return rc;
    char sub[256];
    if (tier_number != floor(tier_number)) {
        econ_path_key(sub, sizeof sub, path, "tier");
        return econ_doc_fail(d, sub, "must be a whole number");
    }
    t->tier = (int)tier_number;
    int known = 0;
    for (size_t i = 0; i < 3; i++)
        known |= !strcmp(t->profile_tier, profile_tiers[i]);
    if (!known) {
        econ_path_key(sub, sizeof sub, path, "profile_tier");
        return econ_doc_fail(d, sub,
                             "must be tier_1_efficient, tier_2_standard or tier_3_high_variance "
                             "(the workload-profile contract)");
    }
    json_t *when = json_object_get(obj, "when");
    if (!when)
        return econ_doc_fail(d, path, "missing required key \"when\" ({} for the catch-all tier)");
    econ_path_key(sub, sizeof sub, path, "when");
    return parse_conditions(d, when, sub, t);
}

/* Does every workload accepted by condition a also pass condition b (same
 * quantity)? */
static int bound_within(const fm_policy_condition *a, const fm_policy_condition *b)
{
    if (a->limit < b->limit)
        return 1;
    if (a->limit > b->limit)
        return 0;
    return !(a->inclusive && !b->inclusive);
}

/* Does tier `later` accept only workloads that tier `earlier` already takes? */
static int tier_covered(const fm_policy_tier *later, const fm_policy_tier *earlier)
{
    for (size_t j = 0; j < earlier->n_conditions; j++) {
        const fm_policy_condition *limit = &earlier->cond[j];
        const fm_policy_condition *own = NULL;
        for (size_t i = 0; i < later->n_conditions; i++)
            if (later->cond[i].quantity == limit->quantity)
                own = &later->cond[i];
        if (!own || !bound_within(own, limit))
            return 0;
    }
    return 1;
}

static int check_tiers(const econ_doc *d, const fm_policy *p)
{
    char sub[64];
    for (size_t i = 0; i < p->n_tiers; i++) {
        const fm_policy_tier *t = &p->tier[i];
        econ_path_index(sub, sizeof sub, "tiers", i);
        if (i > 0 && t->tier <= p->tier[i - 1].tier)
            return econ_doc_fail(d, sub, "tier numbers must increase in evaluation order");
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(t->name, p->tier[j].name))
                return econ_doc_fail(d, sub, "name \"%s\" is used twice", t->name);
            if (tier_covered(t, &p->tier[j]))
                return econ_doc_fail(d, sub,
                                     "tier %d can never match: every workload it accepts is "
                                     "already taken by tier %d (tiers[%zu]), which comes first",
                                     t->tier, p->tier[j].tier, j);
        }
    }
    const fm_policy_tier *last = &p->tier[p->n_tiers - 1];
    if (last->n_conditions != 0) {
        econ_path_index(sub, sizeof sub, "tiers", p->n_tiers - 1);
        return econ_doc_fail(d, sub,
                             "the last tier must be the catch-all (\"when\": {}) so that every "
                             "workload gets a tier");
    }
    return FM_OK;
}

static int parse_measurement(const econ_doc *d, json_t *root, fm_policy *p)
{
    static const char *const keys[] = {"window", "resolution_s", NULL};
    json_t *m = json_object_get(root, "measurement");
    if (!m)
        return econ_doc_fail(d, "", "missing required key \"measurement\"");
    if (!json_is_object(m))
        return econ_doc_fail(d, "measurement", "must be an object");
    int rc = econ_doc_check_keys(d, m, "measurement", keys);
    if (rc == FM_OK)
        rc = econ_doc_string(d, m, "measurement", "window", 1, p->window, sizeof p->window);
    if (rc == FM_OK)
        rc = econ_doc_number(d, m, "measurement", "resolution_s", 1, 0, 60, &p->resolution_s);
    if (rc != FM_OK)
        return rc;
    if (strcmp(p->window, "decode"))
        return econ_doc_fail(d, "measurement.window",
                             "\"%s\" is not supported (only \"decode\": the steady decode phase)",
                             p->window);
    return FM_OK;
}

static int parse_policy(const econ_doc *d, json_t *root, fm_policy *p)
{
    static const char *const keys[] = {"format",      "name",  "description", "source",
                                       "measurement", "tiers", NULL};
    char format[64] = "";
    int rc = econ_doc_check_keys(d, root, "", keys);
    if (rc == FM_OK)
        rc = econ_doc_string(d, root, "", "format", 1, format, sizeof format);
    if (rc == FM_OK && strcmp(format, POLICY_FORMAT))
        rc = econ_doc_fail(d, "format", "\"%s\" is not \"%s\"", format, POLICY_FORMAT);
    if (rc == FM_OK)
        rc = econ_doc_string(d, root, "", "name", 1, p->name, sizeof p->name);
    if (rc == FM_OK)
        rc = econ_doc_string(d, root, "", "description", 0, p->description, sizeof p->description);
    if (rc == FM_OK)
        rc = econ_doc_string(d, root, "", "source", 0, p->source, sizeof p->source);
    if (rc == FM_OK)
        rc = parse_measurement(d, root, p);
    if (rc != FM_OK)
        return rc;
    json_t *tiers = json_object_get(root, "tiers");
    if (!tiers)
        return econ_doc_fail(d, "", "missing required key \"tiers\"");
    if (!json_is_array(tiers) || json_array_size(tiers) == 0 ||
        json_array_size(tiers) > FM_POLICY_MAX_TIERS)
        return econ_doc_fail(d, "tiers", "must be an array of 1 to %d tiers", FM_POLICY_MAX_TIERS);
    p->n_tiers = json_array_size(tiers);
    for (size_t i = 0; i < p->n_tiers; i++) {
        char sub[64];
        econ_path_index(sub, sizeof sub, "tiers", i);
        rc = parse_tier(d, json_array_get(tiers, i), sub, &p->tier[i]);
        if (rc != FM_OK)
            return rc;
    }
    return check_tiers(d, p);
}

int fm_policy_parse(const char *text, const char *label, fm_policy *out, fm_error *err)
{
    memset(out, 0, sizeof *out);
    econ_doc d = {.text = text, .label = label ? label : "policy", .err = err};
    json_t *root;
    int rc = econ_doc_parse(&d, &root);
    if (rc != FM_OK)
        return rc;
    rc = parse_policy(&d, root, out);
    json_decref(root);
    return rc;
}

int fm_policy_load_file(const char *path, fm_policy *out, fm_error *err)
{
    char *text;
    int rc = fm_read_text_file(path, &text, NULL, err);
    if (rc != FM_OK)
        return rc;
    rc = fm_policy_parse(text, path, out, err);
    free(text);
    return rc;
}

int fm_policy_load(const char *name_or_path, fm_policy *out, fm_error *err)
{
    const char *name = name_or_path ? name_or_path : fm_policy_default_name();
    const char *text = econ_builtin_policy(name);
    if (text) {
        char label[96];
        snprintf(label, sizeof label, "built-in policy %s", name);
        return fm_policy_parse(text, label, out, err);
    }
    return fm_policy_load_file(name, out, err);
}

/* ---- classification ---- */

static double measured_value(const fm_power_window *w, fm_policy_quantity q)
{
    switch (q) {
    case FM_POLICY_POWER_CV:
        return w->power_cv;
    case FM_POLICY_AVG_POWER_W:
        return w->avg_power_w;
    case FM_POLICY_PEAK_POWER_W:
        return w->peak_power_w;
    }
    return NAN;
}

static void append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static void format_value(char *buf, size_t len, fm_policy_quantity q, double v)
{
    if (isnan(v))
        snprintf(buf, len, "unavailable");
    else if (q == FM_POLICY_POWER_CV)
        snprintf(buf, len, "%.4f", v);
    else
        snprintf(buf, len, "%.1f W", v);
}

/* Tests one condition; appends why it failed to `why`. */
static int condition_holds(const fm_policy_condition *c, const fm_power_window *w, char *why,
                           size_t len)
{
    double v = measured_value(w, c->quantity);
    int ok = !isnan(v) && (c->inclusive ? v <= c->limit : v < c->limit);
    if (!ok) {
        char value[32];
        format_value(value, sizeof value, c->quantity, v);
        append(why, len, "%s%s %s %s %g", why[0] ? ", " : "", quantity_label(c->quantity), value,
               c->inclusive ? ">" : ">=", c->limit);
    }
    return ok;
}

int fm_policy_classify(const fm_policy *p, const fm_power_window *w, fm_qualification *out,
                       fm_error *err)
{
    memset(out, 0, sizeof *out);
    if (!p || !w || p->n_tiers == 0)
        return fm_fail(err, FM_ERR_USAGE, "qualify: no policy or no measurement");
    char rejected[384] = "";
    const fm_policy_tier *chosen = NULL;
    for (size_t i = 0; i < p->n_tiers && !chosen; i++) {
        char why[192] = "";
        int all = 1;
        for (size_t c = 0; c < p->tier[i].n_conditions; c++)
            all &= condition_holds(&p->tier[i].cond[c], w, why, sizeof why);
        if (all)
            chosen = &p->tier[i];
        else
            append(rejected, sizeof rejected, "not tier %d (%s); ", p->tier[i].tier, why);
    }
    if (!chosen) /* cannot happen with a parsed policy: the last tier is a catch-all */
        return fm_fail(err, FM_ERR, "policy %s: no tier matched", p->name);
    out->tier = chosen->tier;
    snprintf(out->tier_name, sizeof out->tier_name, "%s", chosen->name);
    snprintf(out->profile_tier, sizeof out->profile_tier, "%s", chosen->profile_tier);
    out->discount_percentage = chosen->discount_pct;
    out->power_cv = w->power_cv;
    out->avg_power_watts = w->avg_power_w;
    out->peak_power_watts = w->peak_power_w;
    out->qualified = chosen->discount_pct > 0;
    snprintf(out->policy, sizeof out->policy, "%s", p->name);
    out->measured = *w;

    char cv[32], avg[32], resolution[48];
    format_value(cv, sizeof cv, FM_POLICY_POWER_CV, w->power_cv);
    format_value(avg, sizeof avg, FM_POLICY_AVG_POWER_W, w->avg_power_w);
    if (w->resolution_s > 0)
        snprintf(resolution, sizeof resolution, "%g s means", w->resolution_s);
    else
        snprintf(resolution, sizeof resolution, "sensor publications");
    out->reasoning[0] = '\0';
    append(out->reasoning, sizeof out->reasoning,
           "%s%s under policy %s (%g %% discount): power CV %s, average %s over %s "
           "(%.1f-%.1f s, %zu points of %s of %s",
           rejected, chosen->name, p->name, chosen->discount_pct, cv, avg, w->window, w->start_s,
           w->end_s, w->points, resolution, w->power_source);
    if (w->gpu >= 0)
        append(out->reasoning, sizeof out->reasoning, ", GPU %d", w->gpu);
    append(out->reasoning, sizeof out->reasoning, ")");
    return FM_OK;
}
