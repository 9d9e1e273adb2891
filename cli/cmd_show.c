/* firmus show — everything known about one stored run: identity, devices,
 * energy and per-token figures, the three-source energy cross-check,
 * power and sensor periods, temperature and throttling, marker-based
 * prefill/decode energy, and the recorder's metadata. Text or JSON
 * (docs/LS_SHOW.md). Each part of the report is one entry of the
 * `sections` table below: a new section is a text function, a JSON
 * function and one line in that table. */
#include "cli.h"
#include "common_opts.h"
#include "cli_format.h"
#include "show_profile.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmus/metrics.h"
#include "firmus/store.h"

/* Everything a section may print, loaded once. */
typedef struct show_context {
    fm_store *st;
    fm_run run;
    fm_run_metrics metrics;
    fm_device_info *devices;
    size_t device_count;
    fm_backend_info backend; /* backend[0] == 0 when the run has no devices */
    fm_meta_entry *meta;
    size_t meta_count;
} show_context;

typedef struct show_section {
    const char *json_key;
    const char *title;
    void (*text)(const show_context *c);
    json_t *(*json)(const show_context *c);
} show_section;

/* Small text helpers: "  label            value". */
static void line(const char *label, const char *value)
{
    printf("  %-22s %s\n", label, value);
}

static const char *energy_str(double energy_j, char *buf, size_t len)
{
    return fm_cli_format_energy(energy_j, buf, len);
}

static const char *yes_no_unknown(int flag)
{
    return flag < 0 ? FM_CLI_UNAVAILABLE : flag ? "yes" : "no";
}

static json_t *json_flag(int flag)
{
    return flag < 0 ? json_null() : json_boolean(flag);
}

static json_t *json_text_or_null(const char *text)
{
    return text && *text ? json_string(text) : json_null();
}

static json_t *json_source_or_null(fm_source source)
{
    return source == FM_SRC_NONE ? json_null() : json_string(fm_source_name(source));
}

/* ---- run ---- */

static double run_duration_s(const show_context *c)
{
    return c->metrics.duration_s;
}

static void run_text(const show_context *c)
{
    const fm_run *r = &c->run;
    char buf[128], when[64];
    printf("Run %lld \"%s\" (%s)\n", (long long)r->id, r->name, fm_run_status_name(r->status));
    line("model", r->model[0] ? r->model : FM_CLI_UNAVAILABLE);
    line("parameters", r->params >= 1e9
                           ? fm_cli_format_value(r->params / 1e9, "%.4g billion", buf, sizeof buf)
                           : fm_cli_format_value(r->params, "%.4g", buf, sizeof buf));
    line("tags", r->tags[0] ? r->tags : "-");
    line("source", r->source[0] ? r->source : FM_CLI_UNAVAILABLE);
    line("start", fm_cli_format_wall_time(r->start_wall_ns, when, sizeof when));
    line("duration", fm_cli_format_duration(run_duration_s(c), buf, sizeof buf));
    snprintf(buf, sizeof buf, "%d", r->gpus);
    line("GPUs", buf);
    line("tick interval", fm_cli_format_value(r->interval_ms > 0 ? r->interval_ms : NAN, "%.3g ms",
                                              buf, sizeof buf));
    if (r->exit_code >= 0)
        snprintf(buf, sizeof buf, "%d", r->exit_code);
    line("command exit code", r->exit_code >= 0 ? buf : "none");
}

static json_t *run_json(const show_context *c)
{
    const fm_run *r = &c->run;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "status", json_string(fm_run_status_name(r->status)));
    json_object_set_new(o, "model", json_text_or_null(r->model));
    json_object_set_new(o, "params", fm_cli_json_real(r->params));
    json_object_set_new(o, "tags", json_string(r->tags));
    json_object_set_new(o, "source", json_text_or_null(r->source));
    json_object_set_new(o, "backend", json_text_or_null(r->backend));
    fm_cli_json_set_run_timing(o, r, run_duration_s(c));
    json_object_set_new(o, "exit_code", fm_cli_json_int(r->exit_code, -1));
    json_object_set_new(o, "writer_pid", json_integer(r->writer_pid));
    return o;
}

/* ---- devices ---- */

/* How a device read one quantity: its recorded source, or why there is none. */
static const char *source_text(const fm_device_info *d, uint32_t field, const char *source)
{
    if (!(d->supported & field))
        return "not supported";
    return source[0] ? source : "supported (source not recorded)";
}

static void devices_text(const show_context *c)
{
    char buf[64];
    printf("Devices\n");
    if (c->device_count == 0)
        printf("  %s\n", FM_CLI_UNAVAILABLE);
    for (size_t i = 0; i < c->device_count; i++) {
        const fm_device_info *d = &c->devices[i];
        printf("  GPU %zu: %s (%s), device index %d, power limit %s\n", i,
               d->name[0] ? d->name : FM_CLI_UNAVAILABLE, d->arch[0] ? d->arch : "unknown",
               d->index, fm_cli_format_value(d->power_limit_w, "%.0f W", buf, sizeof buf));
        if (d->uuid[0] || d->pci_bus_id[0])
            printf("         uuid %s, PCI %s\n", d->uuid[0] ? d->uuid : "-",
                   d->pci_bus_id[0] ? d->pci_bus_id : "-");
        printf("         instant power: %s\n",
               source_text(d, FM_F_POWER_INSTANT, d->power_instant_source));
        printf("         1 s average:   %s\n", source_text(d, FM_F_POWER_AVG, d->power_avg_source));
        printf("         energy:        %s\n", source_text(d, FM_F_ENERGY, d->energy_source));
    }
    if (c->backend.backend[0])
        printf("  backend %s, driver %s, NVML %s%s%s\n", c->backend.backend,
               c->backend.driver_version[0] ? c->backend.driver_version : "-",
               c->backend.nvml_version[0] ? c->backend.nvml_version : "-",
               c->backend.library_path[0] ? ", library " : "", c->backend.library_path);
}

static json_t *supported_fields_json(uint32_t supported)
{
    json_t *a = json_array();
    for (int bit = 0; bit < 8; bit++)
        if (supported & (1u << bit))
            json_array_append_new(a, json_string(fm_field_name((enum fm_field)(1u << bit))));
    return a;
}

static json_t *devices_json(const show_context *c)
{
    json_t *o = json_object();
    json_t *list = json_array();
    for (size_t i = 0; i < c->device_count; i++) {
        const fm_device_info *d = &c->devices[i];
        json_t *dj = json_object();
        json_object_set_new(dj, "gpu", json_integer((json_int_t)i));
        json_object_set_new(dj, "device_index", json_integer(d->index));
        json_object_set_new(dj, "name", json_text_or_null(d->name));
        json_object_set_new(dj, "uuid", json_text_or_null(d->uuid));
        json_object_set_new(dj, "pci_bus_id", json_text_or_null(d->pci_bus_id));
        json_object_set_new(dj, "arch", json_text_or_null(d->arch));
        json_object_set_new(dj, "power_limit_w", fm_cli_json_real(d->power_limit_w));
        json_object_set_new(dj, "supported", supported_fields_json(d->supported));
        json_object_set_new(dj, "power_instant_source", json_text_or_null(d->power_instant_source));
        json_object_set_new(dj, "power_avg_source", json_text_or_null(d->power_avg_source));
        json_object_set_new(dj, "energy_source", json_text_or_null(d->energy_source));
        json_array_append_new(list, dj);
    }
    json_object_set_new(o, "gpus", list);
    json_object_set_new(o, "backend", json_text_or_null(c->backend.backend));
    json_object_set_new(o, "driver_version", json_text_or_null(c->backend.driver_version));
    json_object_set_new(o, "nvml_version", json_text_or_null(c->backend.nvml_version));
    json_object_set_new(o, "library_path", json_text_or_null(c->backend.library_path));
    return o;
}

/* ---- energy and tokens ---- */

static const char *run_energy_source(const fm_run_metrics *m)
{
    return isnan(m->total_energy_j)          ? "none"
           : m->energy_source == FM_SRC_NONE ? "mixed: see the cross-check"
                                             : fm_source_name(m->energy_source);
}

static void energy_text(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    char buf[96], num[64];
    printf("Energy (all GPUs)\n");
    snprintf(buf, sizeof buf, "%s  (%s)", energy_str(m->total_energy_j, num, sizeof num),
             run_energy_source(m));
    line("total energy", buf);
    line("average power", fm_cli_format_value(m->avg_power_w, "%.1f W", buf, sizeof buf));
    if (!isnan(m->peak_power_w))
        snprintf(buf, sizeof buf, "%.1f W  (sum of GPUs on a %.0f ms grid)", m->peak_power_w,
                 m->peak_grid_s * 1e3);
    line("aggregate peak power", isnan(m->peak_power_w) ? FM_CLI_UNAVAILABLE : buf);
    if (m->tokens >= 0)
        snprintf(buf, sizeof buf, "%lld  (%s)", (long long)m->tokens, m->tokens_source);
    line("tokens", m->tokens >= 0 ? buf : FM_CLI_UNAVAILABLE);
    line("energy per token",
         fm_cli_format_value(m->joules_per_token, "%.4g J/token", buf, sizeof buf));
    line("tokens per joule",
         fm_cli_format_value(m->tokens_per_joule, "%.4g tokens/J", buf, sizeof buf));
    char label[48];
    snprintf(label, sizeof label, "Wh per 1k queries");
    if (!isnan(m->wh_per_1k_queries))
        snprintf(buf, sizeof buf, "%.4g Wh  (%g tokens per query)", m->wh_per_1k_queries,
                 m->tokens_per_query);
    line(label, isnan(m->wh_per_1k_queries) ? FM_CLI_UNAVAILABLE : buf);
}

static json_t *energy_json(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    json_t *o = json_object();
    json_object_set_new(o, "total_energy_j", fm_cli_json_real(m->total_energy_j));
    json_object_set_new(o, "energy_source",
                        isnan(m->total_energy_j) ? json_null()
                        : m->energy_source == FM_SRC_NONE
                            ? json_string("mixed")
                            : json_string(fm_source_name(m->energy_source)));
    json_object_set_new(o, "duration_s", fm_cli_json_real(m->duration_s));
    json_object_set_new(o, "avg_power_w", fm_cli_json_real(m->avg_power_w));
    json_object_set_new(o, "peak_power_w", fm_cli_json_real(m->peak_power_w));
    json_object_set_new(o, "peak_grid_s", fm_cli_json_real(m->peak_grid_s));
    json_object_set_new(o, "tokens", fm_cli_json_int(m->tokens, -1));
    json_object_set_new(o, "tokens_source", json_string(m->tokens_source));
    json_object_set_new(o, "joules_per_token", fm_cli_json_real(m->joules_per_token));
    json_object_set_new(o, "tokens_per_joule", fm_cli_json_real(m->tokens_per_joule));
    json_object_set_new(o, "tokens_per_query", fm_cli_json_real(m->tokens_per_query));
    json_object_set_new(o, "wh_per_1k_queries", fm_cli_json_real(m->wh_per_1k_queries));
    return o;
}

/* ---- the three-source cross-check ---- */

static void cross_check_row(const char *who, double counter_j, double instant_j, double avg_j,
                            double r_instant, double r_avg)
{
    char a[32], b[32], c3[32], d[32], e[32];
    printf("  %-5s %14s %14s %14s %14s %14s\n", who, energy_str(counter_j, a, sizeof a),
           energy_str(instant_j, b, sizeof b), energy_str(avg_j, c3, sizeof c3),
           fm_cli_format_value(r_instant, "%.4f", d, sizeof d),
           fm_cli_format_value(r_avg, "%.4f", e, sizeof e));
}

static void cross_check_text(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    printf("Energy sources cross-check\n");
    printf("  %-5s %14s %14s %14s %14s %14s\n", "GPU", "counter", "instant", "1 s average",
           "instant/cntr", "avg/cntr");
    for (int i = 0; i < m->gpus; i++) {
        const fm_gpu_metrics *g = &m->gpu[i];
        char who[16];
        snprintf(who, sizeof who, "%d", i);
        cross_check_row(who, g->energy_counter_j, g->energy_instant_j, g->energy_avg_1s_j,
                        g->ratio_instant_to_counter, g->ratio_avg_to_counter);
    }
    if (m->gpus > 1)
        cross_check_row("all", m->energy_counter_j, m->energy_instant_j, m->energy_avg_1s_j,
                        m->ratio_instant_to_counter, m->ratio_avg_to_counter);
    printf("  (counter: energy counter steps; instant, 1 s average: held integrals of the\n"
           "   deduplicated sensor updates over each GPU's sample window)\n");
}

static json_t *cross_check_entry(int gpu, double counter_j, double instant_j, double avg_j,
                                 double r_instant, double r_avg)
{
    json_t *o = json_object();
    json_object_set_new(o, "gpu", gpu < 0 ? json_string("all") : json_integer(gpu));
    json_object_set_new(o, "energy_counter_j", fm_cli_json_real(counter_j));
    json_object_set_new(o, "energy_instant_j", fm_cli_json_real(instant_j));
    json_object_set_new(o, "energy_avg_1s_j", fm_cli_json_real(avg_j));
    json_object_set_new(o, "ratio_instant_to_counter", fm_cli_json_real(r_instant));
    json_object_set_new(o, "ratio_avg_to_counter", fm_cli_json_real(r_avg));
    return o;
}

static json_t *cross_check_json(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    json_t *list = json_array();
    for (int i = 0; i < m->gpus; i++) {
        const fm_gpu_metrics *g = &m->gpu[i];
        json_array_append_new(
            list, cross_check_entry(i, g->energy_counter_j, g->energy_instant_j, g->energy_avg_1s_j,
                                    g->ratio_instant_to_counter, g->ratio_avg_to_counter));
    }
    json_array_append_new(list, cross_check_entry(-1, m->energy_counter_j, m->energy_instant_j,
                                                  m->energy_avg_1s_j, m->ratio_instant_to_counter,
                                                  m->ratio_avg_to_counter));
    return list;
}

/* ---- per-GPU power and sensors ---- */

static void power_text(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    printf("Power and sensors (per GPU)\n");
    for (int i = 0; i < m->gpus; i++) {
        const fm_gpu_metrics *g = &m->gpu[i];
        char num[48], text[128];
        printf("  GPU %d\n", i);
        snprintf(text, sizeof text, "%s  (%s)", energy_str(g->energy_j, num, sizeof num),
                 fm_source_name(g->energy_source));
        line("energy", isnan(g->energy_j) ? FM_CLI_UNAVAILABLE : text);
        line("average power", fm_cli_format_value(g->avg_power_w, "%.1f W", num, sizeof num));
        line("peak power", fm_cli_format_value(g->peak_power_w, "%.1f W", num, sizeof num));
        line("power CV", fm_cli_format_value(g->power_cv, "%.4f", num, sizeof num));
        line("power source", fm_source_name(g->power_source));
        line("sensor update period",
             fm_cli_format_value(g->sensor_period_s * 1e3, "%.1f ms", num, sizeof num));
        line("counter update period",
             fm_cli_format_value(g->counter_period_s * 1e3, "%.1f ms", num, sizeof num));
        snprintf(text, sizeof text, "%s over %.0f ms",
                 fm_cli_format_value(g->max_rise_w_per_s, "%+.0f W/s", num, sizeof num),
                 g->ramp_window_s * 1e3);
        line("steepest rise", isnan(g->max_rise_w_per_s) ? FM_CLI_UNAVAILABLE : text);
        snprintf(text, sizeof text, "%s over %.0f ms",
                 fm_cli_format_value(g->max_fall_w_per_s, "%+.0f W/s", num, sizeof num),
                 g->ramp_window_s * 1e3);
        line("steepest fall", isnan(g->max_fall_w_per_s) ? FM_CLI_UNAVAILABLE : text);
        snprintf(text, sizeof text, "%zu (%zu without power)", g->samples,
                 g->missing_power_samples);
        line("samples", text);
        if (g->counter_resets > 0) {
            snprintf(text, sizeof text, "%d (skipped)", g->counter_resets);
            line("energy counter resets", text);
        }
    }
}

static json_t *power_json(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    json_t *list = json_array();
    for (int i = 0; i < m->gpus; i++) {
        const fm_gpu_metrics *g = &m->gpu[i];
        json_t *o = json_object();
        json_object_set_new(o, "gpu", json_integer(i));
        json_object_set_new(o, "duration_s", fm_cli_json_real(g->duration_s));
        json_object_set_new(o, "energy_j", fm_cli_json_real(g->energy_j));
        json_object_set_new(o, "energy_source", json_source_or_null(g->energy_source));
        json_object_set_new(o, "avg_power_w", fm_cli_json_real(g->avg_power_w));
        json_object_set_new(o, "peak_power_w", fm_cli_json_real(g->peak_power_w));
        json_object_set_new(o, "power_cv", fm_cli_json_real(g->power_cv));
        json_object_set_new(o, "power_source", json_source_or_null(g->power_source));
        json_object_set_new(o, "sensor_period_s", fm_cli_json_real(g->sensor_period_s));
        json_object_set_new(o, "counter_period_s", fm_cli_json_real(g->counter_period_s));
        json_object_set_new(o, "max_rise_w_per_s", fm_cli_json_real(g->max_rise_w_per_s));
        json_object_set_new(o, "max_fall_w_per_s", fm_cli_json_real(g->max_fall_w_per_s));
        json_object_set_new(o, "ramp_window_s", fm_cli_json_real(g->ramp_window_s));
        json_object_set_new(o, "samples", json_integer((json_int_t)g->samples));
        json_object_set_new(o, "missing_power_samples",
                            json_integer((json_int_t)g->missing_power_samples));
        json_object_set_new(o, "counter_resets", json_integer(g->counter_resets));
        json_array_append_new(list, o);
    }
    return list;
}

/* ---- temperature and throttling ---- */

static void thermal_text(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    printf("Temperature and throttling (clocks-event reasons)\n");
    printf("  %-5s %12s %12s %12s %12s %14s %14s\n", "GPU", "temp avg", "temp peak", "thermal",
           "power", "thermal time", "power time");
    for (int i = 0; i < m->gpus; i++) {
        const fm_gpu_metrics *g = &m->gpu[i];
        char a[32], b[32], d[32], e[32];
        printf("  %-5d %12s %12s %12s %12s %14s %14s\n", i,
               fm_cli_format_value(g->temp_avg_c, "%.1f C", a, sizeof a),
               fm_cli_format_value(g->temp_peak_c, "%.1f C", b, sizeof b),
               yes_no_unknown(g->thermal_throttled), yes_no_unknown(g->power_throttled),
               fm_cli_format_value(g->thermal_throttled_s, "%.2f s", d, sizeof d),
               fm_cli_format_value(g->power_throttled_s, "%.2f s", e, sizeof e));
    }
}

static json_t *thermal_json(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    json_t *list = json_array();
    for (int i = 0; i < m->gpus; i++) {
        const fm_gpu_metrics *g = &m->gpu[i];
        json_t *o = json_object();
        json_object_set_new(o, "gpu", json_integer(i));
        json_object_set_new(o, "temp_avg_c", fm_cli_json_real(g->temp_avg_c));
        json_object_set_new(o, "temp_peak_c", fm_cli_json_real(g->temp_peak_c));
        json_object_set_new(o, "thermal_throttled", json_flag(g->thermal_throttled));
        json_object_set_new(o, "power_throttled", json_flag(g->power_throttled));
        json_object_set_new(o, "throttled_s", fm_cli_json_real(g->throttled_s));
        json_object_set_new(o, "thermal_throttled_s", fm_cli_json_real(g->thermal_throttled_s));
        json_object_set_new(o, "power_throttled_s", fm_cli_json_real(g->power_throttled_s));
        json_array_append_new(list, o);
    }
    return list;
}

/* ---- marker-based prefill / decode ---- */

static void markers_text(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    char a[48], b[96];
    printf("Prefill / decode energy (from markers)\n");
    if (strcmp(m->phase_source, "markers") != 0) {
        printf("  %s (no complete start/end prefill or decode markers)\n", FM_CLI_UNAVAILABLE);
        return;
    }
    snprintf(b, sizeof b, "%s  (%d window%s)", energy_str(m->prefill_energy_j, a, sizeof a),
             m->prefill_windows, m->prefill_windows == 1 ? "" : "s");
    line("prefill", m->prefill_windows ? b : FM_CLI_UNAVAILABLE);
    snprintf(b, sizeof b, "%s  (%d window%s)", energy_str(m->decode_energy_j, a, sizeof a),
             m->decode_windows, m->decode_windows == 1 ? "" : "s");
    line("decode", m->decode_windows ? b : FM_CLI_UNAVAILABLE);
    for (int i = 0; i < m->gpus && m->gpus > 1; i++) {
        char p[32], d[32], label[16];
        snprintf(label, sizeof label, "GPU %d", i);
        snprintf(b, sizeof b, "prefill %s, decode %s",
                 energy_str(m->gpu[i].prefill_energy_j, p, sizeof p),
                 energy_str(m->gpu[i].decode_energy_j, d, sizeof d));
        line(label, b);
    }
    printf("  (held integral of each GPU's power source between the markers)\n");
}

static json_t *markers_json(const show_context *c)
{
    const fm_run_metrics *m = &c->metrics;
    json_t *o = json_object();
    json_object_set_new(o, "source", json_string(m->phase_source));
    json_object_set_new(o, "prefill_energy_j", fm_cli_json_real(m->prefill_energy_j));
    json_object_set_new(o, "decode_energy_j", fm_cli_json_real(m->decode_energy_j));
    json_object_set_new(o, "prefill_windows", json_integer(m->prefill_windows));
    json_object_set_new(o, "decode_windows", json_integer(m->decode_windows));
    json_t *per_gpu = json_array();
    for (int i = 0; i < m->gpus; i++) {
        json_t *g = json_object();
        json_object_set_new(g, "gpu", json_integer(i));
        json_object_set_new(g, "prefill_energy_j", fm_cli_json_real(m->gpu[i].prefill_energy_j));
        json_object_set_new(g, "decode_energy_j", fm_cli_json_real(m->gpu[i].decode_energy_j));
        json_array_append_new(per_gpu, g);
    }
    json_object_set_new(o, "gpus", per_gpu);
    return o;
}

/* ---- recorder metadata ---- */

static void recording_text(const show_context *c)
{
    printf("Recording metadata\n");
    if (c->meta_count == 0)
        printf("  %s (none stored)\n", FM_CLI_UNAVAILABLE);
    int width = 22; /* as the other sections, wider for long keys */
    for (size_t i = 0; i < c->meta_count; i++)
        width = (int)strlen(c->meta[i].key) > width ? (int)strlen(c->meta[i].key) : width;
    for (size_t i = 0; i < c->meta_count; i++)
        printf("  %-*s %s\n", width, c->meta[i].key, c->meta[i].value);
}

static json_t *recording_json(const show_context *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < c->meta_count; i++)
        json_object_set_new(o, c->meta[i].key, json_string(c->meta[i].value));
    return o;
}

/* The report, in order. Add a section here. */
/* ---- workload profile (cli/show_profile.c) ---- */

static void profile_text(const show_context *c)
{
    fm_show_profile_text(c->st, c->run.id);
}

static json_t *profile_json(const show_context *c)
{
    return fm_show_profile_json(c->st, c->run.id);
}

static const show_section sections[] = {
    {"run", "Run", run_text, run_json},
    {"devices", "Devices", devices_text, devices_json},
    {"energy", "Energy", energy_text, energy_json},
    {"energy_cross_check", "Energy sources cross-check", cross_check_text, cross_check_json},
    {"gpus", "Power and sensors", power_text, power_json},
    {"thermal", "Temperature and throttling", thermal_text, thermal_json},
    {"markers", "Prefill / decode (markers)", markers_text, markers_json},
    {"recording", "Recording metadata", recording_text, recording_json},
    {"profile", "Workload profile", profile_text, profile_json},
};
static const size_t section_count = sizeof sections / sizeof sections[0];

static void usage(FILE *out)
{
    fprintf(out,
            "usage: firmus show RUN [--db FILE] [--json] [--tokens-per-query N] [--tokens N]\n\n"
            "Energy metrics of one stored run: total energy and its source, the energy\n"
            "counter / instant power / 1 s average cross-check with ratios, per-GPU\n"
            "power, sensor update periods, steepest ramps, temperature, throttling,\n"
            "prefill/decode energy from markers, J/token and Wh per 1k queries, and the\n"
            "recorder's metadata. Missing values print as \"unavailable\" (JSON null).\n\n"
            "  RUN                   run id, run name, or \"last\"\n"
            "  --db FILE             run store (default: $FIRMUS_DB, else ./firmus.db)\n"
            "  --json                one JSON object (docs/LS_SHOW.md)\n"
            "  --tokens-per-query N  tokens per query for Wh per 1k queries (default 100)\n"
            "  --tokens N            use N tokens instead of the run's count or markers\n"
            "  -h, --help            this help\n");
}

static void context_free(show_context *c)
{
    fm_run_metrics_free(&c->metrics);
    free(c->devices);
    free(c->meta);
}

/* Loads the run and everything the sections print. */
static int context_load(show_context *c, const char *run_ref, const fm_metrics_options *opt,
                        fm_error *err)
{
    int rc = fm_store_find_run(c->st, run_ref, &c->run, err);
    if (rc == FM_OK)
        rc = fm_metrics_compute(c->st, c->run.id, opt, &c->metrics, err);
    if (rc == FM_OK)
        rc = fm_store_load_devices(c->st, c->run.id, &c->devices, &c->device_count, err);
    if (rc == FM_OK) {
        rc = fm_store_load_backend_info(c->st, c->run.id, &c->backend, err);
        if (rc == FM_ERR_NOT_FOUND)
            rc = FM_OK; /* a run without devices (an import, say) */
    }
    if (rc == FM_OK)
        rc = fm_store_list_meta(c->st, c->run.id, &c->meta, &c->meta_count, err);
    return rc;
}

static int print_report(const show_context *c, int as_json)
{
    if (!as_json) {
        for (size_t i = 0; i < section_count; i++) {
            if (i > 0)
                putchar('\n');
            sections[i].text(c);
        }
        return ferror(stdout) ? FM_EXIT_FAIL : FM_EXIT_OK;
    }
    json_t *report = json_object();
    for (size_t i = 0; i < section_count; i++)
        json_object_set_new(report, sections[i].json_key, sections[i].json(c));
    int failed = fm_cli_json_print(report);
    json_decref(report);
    return failed ? FM_EXIT_FAIL : FM_EXIT_OK;
}

/* A whole number >= 0 (tokens) or a positive number (tokens per query). */
static int parse_count(const char *text, int64_t *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < 0)
        return 0;
    *out = v;
    return 1;
}

static int parse_positive(const char *text, double *out)
{
    double v;
    if (fm_cli_parse_double(text, 0, &v) != 0 || !(v > 0))
        return 0;
    *out = v;
    return 1;
}

int fm_cmd_show(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"tokens-per-query", required_argument, NULL, 'q'},
        {"tokens", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db_path = fm_store_default_path();
    fm_metrics_options mopt;
    fm_metrics_options_default(&mopt);
    int as_json = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            db_path = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'q':
            if (!parse_positive(optarg, &mopt.tokens_per_query)) {
                fm_cli_error("show", "--tokens-per-query wants a number > 0, not '%s'", optarg);
                return FM_EXIT_USAGE;
            }
            break;
        case 't':
            if (!parse_count(optarg, &mopt.tokens_override)) {
                fm_cli_error("show", "--tokens wants a whole number >= 0, not '%s'", optarg);
                return FM_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return FM_EXIT_OK;
        default:
            usage(stderr);
            return FM_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fm_cli_error("show", argc - optind == 0 ? "which run? (an id, a name, or \"last\")"
                                                : "one run at a time (firmus show --help)");
        return FM_EXIT_USAGE;
    }
    show_context c;
    memset(&c, 0, sizeof c);
    int code =
        fm_cli_open_existing_store("show", db_path, "record a run first, or pass --db FILE", &c.st);
    if (code != FM_EXIT_OK)
        return code;
    fm_error err = {0};
    int rc = context_load(&c, argv[optind], &mopt, &err);
    code = rc ? fm_cli_exit_code(rc) : print_report(&c, as_json);
    if (rc)
        fm_cli_error("show", "%s", err.msg);
    context_free(&c);
    fm_store_close(c.st);
    return code;
}
