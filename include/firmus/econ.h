/* Economics and Model-to-Grid qualification: energy cost, cost per million
 * tokens and the Model-to-Grid discount (seed proposal section 4), plus what
 * a GPU cloud's pricing team needs beyond it: facility overhead (PUE),
 * time-of-use energy rates and demand charges from a tariff file, carbon
 * emissions from a table of sourced grid intensities, energy as a share of
 * the GPU-hour rental price, and monthly/yearly projections at a stated
 * utilisation.
 *
 * Qualification is a policy, not code: tiers with names, conditions and
 * discounts are read from a small JSON file (format in
 * docs/ECONOMIC_ANALYSIS.md). Two policies are built in: "m2g-cv-only"
 * (the default) and "m2g-original-code".
 *
 * The core is pure functions on plain inputs (energy in J, tokens, a power
 * series, a tariff, a policy); fm_econ_run() wires them to a stored run.
 * Every result carries the assumptions it was computed under. Money is in
 * the tariff's currency (the built-in flat tariff: USD). A value that cannot
 * be computed (unknown tokens, no GPU-hour price) is NAN, never 0. */
#ifndef FIRMUS_ECON_H
#define FIRMUS_ECON_H

#include "firmus/common.h"
#include "firmus/store.h"
#include "firmus/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Model-to-Grid policy                                                */
/* ------------------------------------------------------------------ */

#define FM_POLICY_MAX_TIERS 8
#define FM_POLICY_MAX_CONDITIONS 4

/* What a tier condition tests. */
typedef enum fm_policy_quantity {
    FM_POLICY_POWER_CV = 0, /* CV of per-GPU power in the window (dimensionless) */
    FM_POLICY_AVG_POWER_W,  /* time-weighted mean per-GPU power in the window, W */
    FM_POLICY_PEAK_POWER_W, /* highest per-GPU power sample in the window, W */
} fm_policy_quantity;

/* quantity < limit (inclusive = 0) or quantity <= limit (inclusive = 1). */
typedef struct fm_policy_condition {
    fm_policy_quantity quantity;
    double limit;
    int inclusive;
} fm_policy_condition;

typedef struct fm_policy_tier {
    int tier;              /* 1, 2, 3, ... */
    char name[64];         /* human name, e.g. "Tier 1 (efficient)" */
    char profile_tier[32]; /* profile contract string: "tier_1_efficient", ... */
    double discount_pct;   /* 0..100 */
    size_t n_conditions;   /* 0 = catch-all (must be the last tier) */
    fm_policy_condition cond[FM_POLICY_MAX_CONDITIONS];
} fm_policy_tier;

typedef struct fm_policy {
    char name[64];
    char description[256];
    char source[256];
    char window[16];     /* where the CV is taken: "decode" (steady decode phase) */
    double resolution_s; /* CV over bins of this length (s); 0 = the sensor's publications */
    size_t n_tiers;      /* tiers in evaluation order: the first whose conditions all hold wins */
    fm_policy_tier tier[FM_POLICY_MAX_TIERS];
} fm_policy;

/* Name of the default built-in policy ("m2g-cv-only"). */
const char *fm_policy_default_name(void);
/* Text of a built-in policy (the same bytes as policies/<name>.json), or NULL. */
const char *fm_policy_builtin_text(const char *name);
/* Parses a policy from JSON text; `label` names it in error messages
 * (usually the file path). Syntax errors name label:line:column; semantic
 * errors name label:line and the key path (e.g. tiers[1].conditions). */
int fm_policy_parse(const char *text, const char *label, fm_policy *out, fm_error *err);
int fm_policy_load_file(const char *path, fm_policy *out, fm_error *err);
/* A built-in name ("m2g-cv-only", "m2g-original-code") or a file path. */
int fm_policy_load(const char *name_or_path, fm_policy *out, fm_error *err);

/* What a window of power says about a workload (the policy's inputs), and
 * where it came from. */
typedef struct fm_power_window {
    double power_cv;       /* population stdev / mean of the binned power */
    double power_cv_raw;   /* the same over the sensor's publications (held repeats removed) */
    double avg_power_w;    /* time-weighted mean */
    double peak_power_w;   /* highest raw sample of the source in the window */
    size_t points;         /* bins (or publications) the CV is computed on */
    double resolution_s;   /* bin length; 0 = sensor publications */
    double start_s, end_s; /* window, seconds from the run's first sample */
    char window[48]; /* "decode (markers)", "decode (detected)", "run minus idle < 100 W", ... */
    char power_source[32]; /* "power_instant", "power_avg_1s", or what the caller says */
    int gpu;               /* GPU that decided the tier (-1: not applicable) */
} fm_power_window;

/* Statistics of one power series in [t0_ns, t1_ns) at a resolution: the
 * signal is held between samples (zero-order hold), averaged over
 * consecutive bins of resolution_s (only bins fully inside the window; a
 * bin with no data is skipped) and the CV taken over the bin means. With
 * resolution_s = 0 the sensor's own publications in the window are used:
 * the non-missing samples with held repeats removed (fm_series_dedup_held).
 * Bins (or publications) whose mean is below exclude_below_w are dropped (use 0
 * to keep all). Fills everything but window/power_source/gpu. */
int fm_power_window_stats(const fm_series *power_w, int64_t t0_ns, int64_t t1_ns,
                          double resolution_s, double exclude_below_w, fm_power_window *out,
                          fm_error *err);

/* The outcome of qualification: the seed's qualify_for_discount result,
 * plus the policy and the measurement it rests on. */
typedef struct fm_qualification {
    int tier;
    char tier_name[64];
    char profile_tier[32];
    double discount_percentage;
    double power_cv;
    double avg_power_watts;
    double peak_power_watts;
    int qualified; /* 1 when the discount is above 0 */
    char policy[64];
    fm_power_window measured; /* window, resolution, source, GPU */
    char reasoning[768];
} fm_qualification;

/* Applies a policy to a measured window (pure). */
int fm_policy_classify(const fm_policy *p, const fm_power_window *w, fm_qualification *out,
                       fm_error *err);

/* ------------------------------------------------------------------ */
/* Tariffs: flat or time-of-use energy rates, demand charge, fixed fee   */
/* ------------------------------------------------------------------ */

#define FM_TARIFF_MAX_PERIODS 16
#define FM_TARIFF_MAX_ADDERS 8

/* Day bits of fm_tariff_period.days: bit 0 = Monday ... bit 6 = Sunday. */
#define FM_DAYS_WEEKDAYS 0x1Fu
#define FM_DAYS_WEEKENDS 0x60u
#define FM_DAYS_ALL 0x7Fu

/* An energy-rate period: the local days it applies to and a daily time
 * range [start, end) in minutes from local midnight. start > end means the
 * range crosses midnight (22:00-07:00); the day test applies to the local
 * calendar day of each instant (so "weekdays 22:00-07:00" covers Monday
 * 00:00-07:00 and Friday 22:00-24:00, not Saturday 00:00-07:00). */
typedef struct fm_tariff_period {
    char name[32];
    double rate_per_kwh;
    unsigned days;
    int start_min, end_min; /* 0..1440 */
} fm_tariff_period;

typedef struct fm_tariff_adder {
    char name[32];
    double per_kwh; /* added to every period's rate */
} fm_tariff_adder;

typedef struct fm_tariff {
    char name[96];
    char currency[8]; /* "USD", "SGD", "AUD" */
    char source[512];
    double utc_offset_h; /* local time = UTC + offset (fixed; no daylight saving) */
    size_t n_periods;
    fm_tariff_period period[FM_TARIFF_MAX_PERIODS];
    size_t n_adders;
    fm_tariff_adder adder[FM_TARIFF_MAX_ADDERS];
    double demand_per_kw_month; /* charge on the month's peak kW; 0 = none */
    double demand_window_s;     /* the peak is the highest average over this window */
    double fixed_per_month;
    signed char week_map[7 * 1440]; /* period of each local minute of the week (built on load) */
} fm_tariff;

/* The seed's flat rate: 0.12 USD/kWh, "Singapore industrial rate" — not
 * sourced and about half the EMA regulated level (economics.md 3.1). */
#define FM_ECON_SEED_RATE_USD_PER_KWH 0.12

/* A flat tariff: one all-week period, no demand charge, no fixed fee. */
void fm_tariff_flat(fm_tariff *t, double rate_per_kwh, const char *currency, const char *source);
int fm_tariff_parse(const char *text, const char *label, fm_tariff *out, fm_error *err);
int fm_tariff_load_file(const char *path, fm_tariff *out, fm_error *err);

/* Period index at a wall-clock instant (ns since the Unix epoch, UTC). */
int fm_tariff_period_at(const fm_tariff *t, int64_t wall_ns);
/* Energy rate plus adders of a period, per kWh. */
double fm_tariff_rate(const fm_tariff *t, int period);
/* Time-weighted mean rate (with adders) over a whole week: the rate of a
 * load spread evenly over the week. */
double fm_tariff_week_mean_rate(const fm_tariff *t);

/* Energy of a power series split by tariff period. The series is held
 * between samples; missing samples are not integrated. Series time
 * series_t0_ns corresponds to wall time wall_t0_ns. kwh[i] is the
 * integral in period i (no PUE, no scaling). */
typedef struct fm_tariff_split {
    double kwh[FM_TARIFF_MAX_PERIODS];
    double total_kwh;
} fm_tariff_split;
int fm_tariff_split_series(const fm_tariff *t, const fm_series *power_w, int64_t series_t0_ns,
                           int64_t wall_t0_ns, fm_tariff_split *out, fm_error *err);

/* Demand peak: the highest mean of the held power over any window of
 * window_s (sliding, evaluated at every sample edge). If the series is
 * shorter than the window, *short_series is set to 1 and the mean over the
 * whole series is returned. NAN when there is no data. */
double fm_demand_peak_w(const fm_series *power_w, double window_s, int *short_series);

/* ------------------------------------------------------------------ */
/* Carbon intensity table                                               */
/* ------------------------------------------------------------------ */

typedef struct fm_carbon_region {
    const char *key; /* "singapore", "au-tas", ... */
    const char *label;
    double g_per_kwh;  /* g CO2 (or CO2e) per kWh */
    const char *basis; /* what it counts, e.g. "operating margin, CO2 only" */
    const char *source;
} fm_carbon_region;

const fm_carbon_region *fm_carbon_regions(size_t *count);
const fm_carbon_region *fm_carbon_region_find(const char *key); /* NULL if unknown */

/* ------------------------------------------------------------------ */
/* Economics                                                            */
/* ------------------------------------------------------------------ */

#define FM_HOURS_PER_MONTH 730.0 /* 8760 / 12 */
#define FM_HOURS_PER_YEAR 8760.0

/* A run, as the economics see it. */
typedef struct fm_econ_input {
    double energy_j;        /* measured GPU energy of the run, all GPUs */
    char energy_source[32]; /* "energy_counter", "power_instant", ... */
    int64_t tokens;         /* -1 unknown */
    double duration_s;
    int gpus;
    /* Optional: aggregate power of all GPUs (W) for the time-of-use split
     * and the demand peak; NULL = constant power energy_j / duration_s. */
    const fm_series *power_w;
    int64_t series_t0_ns; /* series time of the run's start */
    int64_t wall_t0_ns;   /* wall-clock start (ns since epoch, UTC); -1 unknown */
    double idle_power_w;  /* all GPUs, for projections; NAN = unknown (idle not counted) */
} fm_econ_input;

typedef struct fm_econ_options {
    const fm_tariff *tariff; /* NULL = flat seed rate (kwh_rate, USD) */
    double kwh_rate;         /* used only without a tariff; NAN = seed 0.12 USD */
    double pue;              /* facility overhead multiplier, default 1.0 (GPU energy only) */
    int apply_discount;      /* the seed's apply_discount */
    const fm_qualification *qualification; /* gives the discount; NULL = none */
    double carbon_g_per_kwh;               /* NAN = use carbon_region */
    const char *carbon_region;             /* key in the table; NULL = no carbon figures */
    double gpu_hour_price; /* rental price per GPU-hour, tariff currency; NAN = none */
    double utilisation;    /* share of the month the workload runs (0..1], default 1 */
} fm_econ_options;

void fm_econ_options_default(fm_econ_options *o);

typedef struct fm_econ_period_cost {
    char name[32];
    double rate_per_kwh; /* with adders */
    double facility_kwh;
    double cost;
} fm_econ_period_cost;

typedef struct fm_econ_result {
    /* assumptions */
    char currency[8];
    char tariff_name[96];
    char tariff_source[512];
    double pue;
    char energy_source[32];
    char time_of_use_basis[96]; /* how energy was split across periods */
    /* the run */
    double energy_j; /* GPU energy */
    double gpu_energy_kwh;
    double facility_energy_kwh; /* gpu_energy_kwh * pue */
    int64_t tokens;
    double duration_s;
    int gpus;
    double avg_power_w; /* all GPUs */
    /* seed section 4 */
    double energy_cost; /* facility kWh at the tariff's energy rates and adders */
    double effective_rate_per_kwh;
    double cost_per_million_tokens;
    double discount_pct; /* 0 when not applied */
    int discount_applied;
    char discount_basis[160];
    double discounted_cost_per_million_tokens;
    double kwh_per_million_tokens; /* facility */
    size_t n_periods;
    fm_econ_period_cost period[FM_TARIFF_MAX_PERIODS];
    /* demand charge */
    double demand_window_s;
    double
        demand_peak_kw; /* facility kW (GPU peak * PUE) over the window; NAN if no tariff demand */
    int demand_peak_short; /* run shorter than the window: peak = run mean */
    double demand_charge_per_month;
    /* carbon */
    char carbon_region[32];
    char carbon_source[256];
    double carbon_g_per_kwh; /* NAN when not asked */
    double emissions_kg;
    double emissions_kg_per_million_tokens;
    /* rental */
    double gpu_hour_price;
    double energy_cost_per_gpu_hour;
    double energy_share_of_rental; /* fraction 0..1 */
    double rent_per_million_tokens;
    /* projection: the workload repeats at `utilisation`; the rest of the
     * time the GPUs idle at idle_power_w (not counted when unknown) */
    double utilisation;
    double idle_power_w;
    double month_facility_kwh;
    double month_energy_cost; /* at the week-mean rate, before discount */
    double month_energy_cost_discounted;
    double month_fixed;
    double month_total; /* discounted energy + demand + fixed */
    double year_total;
    double month_tokens;
    double all_in_cost_per_million_tokens; /* month_total / month_tokens */
    double year_emissions_t;
    char assumptions[1024]; /* one sentence per assumption */
} fm_econ_result;

/* The seed's calculate_economics, extended (pure). */
int fm_econ_compute(const fm_econ_input *in, const fm_econ_options *opt, fm_econ_result *out,
                    fm_error *err);

/* The `economics` object of a workload profile (and `firmus cost --json`)
 * as a malloc'ed JSON text: {"assumptions": {...}, "run": {...},
 * "cost": {...}, "model_to_grid": {...}, ...}; NAN becomes null. q may be
 * NULL. Put it at the profile's top level, never inside energy_metrics. */
int fm_econ_to_json(const fm_econ_result *r, const fm_qualification *q, char **json_out,
                    fm_error *err);
/* The qualification alone as JSON text (for `firmus qualify --json`). */
int fm_qualification_to_json(const fm_qualification *q, char **json_out, fm_error *err);

/* ------------------------------------------------------------------ */
/* Wiring to a stored run                                               */
/* ------------------------------------------------------------------ */

/* Measures the qualification window of every GPU of a stored run and
 * classifies it; the GPU with the highest tier number (then the highest
 * CV) decides. The window is the decode phase: from markers when the run
 * has "start decode"/"end decode", else detected phases, else the whole
 * run minus idle bins (< 100 W); the result says which. */
int fm_econ_qualify_run(fm_store *st, int64_t run_id, const fm_policy *p, fm_qualification *out,
                        fm_error *err);

/* Economics of a stored run: fills the input from fm_metrics_compute and
 * the aggregate power (tokens_override >= 0 replaces the run's tokens),
 * qualifies it when opt->apply_discount (policy p, NULL = default) and
 * computes. q may be NULL; q->tier is 0 when the run was not qualified
 * (discount off, or no usable window: out->discount_basis says why). */
int fm_econ_run(fm_store *st, int64_t run_id, int64_t tokens_override, const fm_policy *p,
                const fm_econ_options *opt, fm_econ_result *out, fm_qualification *q,
                fm_error *err);

#ifdef __cplusplus
}
#endif
#endif
