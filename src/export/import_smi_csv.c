/* Parser of `nvidia-smi --query-gpu=<fields> --format=csv[,noheader][,nounits]`
 * logs. The header names the columns (units in brackets); values may carry
 * units ("558.58 W", "41285 MiB") or be "[N/A]"/"[Not Supported]" (missing).
 * Without an `index` column, rows are GPUs 0..N-1 in order (N from
 * --gpus): each row keeps its own timestamp. An unterminated last line that
 * does not parse is a truncated write and is dropped (counted); any other bad
 * line is an error naming the file and line. */
#include "import_common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLUMNS 64
#define MAX_GPUS 256

typedef enum column_kind {
    COL_IGNORE = 0,
    COL_TIME,
    COL_INDEX,
    COL_NAME,
    COL_UUID,
    COL_PCI,
    COL_POWER_DRAW,
    COL_POWER_INSTANT,
    COL_POWER_AVG,
    COL_POWER_LIMIT,
    COL_TEMP,
    COL_UTIL,
    COL_MEM_USED,
    COL_SM_CLOCK,
    COL_CLOCK_EVENTS,
} column_kind;

typedef struct column {
    column_kind kind;
    char name[48];
    char unit[16]; /* from "[W]" in the header; "" if none */
} column;

static const struct {
    const char *name;
    column_kind kind;
} known_columns[] = {
    {"timestamp", COL_TIME},
    {"index", COL_INDEX},
    {"name", COL_NAME},
    {"gpu_name", COL_NAME},
    {"uuid", COL_UUID},
    {"gpu_uuid", COL_UUID},
    {"pci.bus_id", COL_PCI},
    {"gpu_bus_id", COL_PCI},
    {"power.draw", COL_POWER_DRAW},
    {"power.draw.instant", COL_POWER_INSTANT},
    {"gpu.power.draw.instant", COL_POWER_INSTANT},
    {"power.draw.average", COL_POWER_AVG},
    {"gpu.power.draw.average", COL_POWER_AVG},
    {"power.limit", COL_POWER_LIMIT},
    {"enforced.power.limit", COL_POWER_LIMIT},
    {"temperature.gpu", COL_TEMP},
    {"utilization.gpu", COL_UTIL},
    {"memory.used", COL_MEM_USED},
    {"clocks.sm", COL_SM_CLOCK},
    {"clocks.current.sm", COL_SM_CLOCK},
    {"clocks_event_reasons.active", COL_CLOCK_EVENTS},
    {"clocks_throttle_reasons.active", COL_CLOCK_EVENTS},
};

/* Splits a line on commas into at most max fields (trimmed). Returns the
 * number of fields found (may exceed max: the rest are not stored). */
static size_t split_fields(const char *s, size_t n, const char **f, size_t *fl, size_t max)
{
    size_t count = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ',') {
            if (count < max) {
                f[count] = s + start;
                fl[count] = i - start;
                fm_trim(&f[count], &fl[count]);
            }
            count++;
            start = i + 1;
        }
    }
    return count;
}

static int parse_header(const char **f, const size_t *fl, size_t nf, column *cols, const char *name,
                        fm_error *err)
{
    int have_time = 0, have_power = 0;
    for (size_t i = 0; i < nf; i++) {
        const char *s = f[i];
        size_t n = fl[i];
        const char *br = memchr(s, '[', n);
        size_t name_len = br ? (size_t)(br - s) : n;
        fm_trim(&s, &name_len);
        fm_copy_field(cols[i].name, sizeof cols[i].name, s, name_len);
        cols[i].unit[0] = '\0';
        if (br) {
            const char *end = memchr(br, ']', n - (size_t)(br - f[i]));
            if (!end)
                return fm_fail(err, FM_ERR_PARSE, "%s:1: header column '%.*s' has no closing ']'",
                               name, (int)fl[i], f[i]);
            fm_copy_field(cols[i].unit, sizeof cols[i].unit, br + 1, (size_t)(end - br - 1));
        }
        cols[i].kind = COL_IGNORE;
        for (size_t k = 0; k < sizeof known_columns / sizeof known_columns[0]; k++)
            if (!strcmp(cols[i].name, known_columns[k].name))
                cols[i].kind = known_columns[k].kind;
        have_time |= cols[i].kind == COL_TIME;
        have_power |= cols[i].kind == COL_POWER_DRAW || cols[i].kind == COL_POWER_INSTANT ||
                      cols[i].kind == COL_POWER_AVG;
    }
    if (!have_time || !have_power)
        return fm_fail(err, FM_ERR_PARSE,
                       "%s:1: header needs a 'timestamp' and a power column (power.draw, "
                       "power.draw.instant or power.draw.average); was the log written with "
                       "--format=csv without noheader?",
                       name);
    return FM_OK;
}

static int is_missing(const char *s, size_t n)
{
    return n == 0 || s[0] == '[' || (n == 3 && !memcmp(s, "N/A", 3));
}

/* Reads a number with an optional unit that must match the header's.
 * Returns 0 (value or NAN for missing) or -1. */
static int parse_number(const char *s, size_t n, const char *unit, double *out)
{
    if (is_missing(s, n)) {
        *out = NAN;
        return 0;
    }
    char buf[64];
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || errno == ERANGE || !isfinite(v))
        return -1;
    while (*end == ' ')
        end++;
    if (*end && (!*unit || strcmp(end, unit)))
        return -1;
    *out = v;
    return 0;
}

static int parse_hex(const char *s, size_t n, uint64_t *out, int *missing)
{
    *missing = is_missing(s, n);
    if (*missing)
        return 0;
    char buf[32];
    if (n >= sizeof buf || n == 0)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 16);
    if (end == buf || *end || errno)
        return -1;
    *out = v;
    return 0;
}

/* One data row into a sample; fills *gpu_index (-1 if no index column) and
 * the row's text fields into dev. Returns 0 or -1 with *why. */
static int parse_row(const char **f, const size_t *fl, size_t nf, const column *cols,
                     const char *tz, int power_field, fm_sample *s, int *gpu_index,
                     fm_device_info *dev, const char **why, int *bad_col)
{
    fm_sample_clear(s, 0);
    *gpu_index = -1;
    int have_time = 0;
    for (size_t i = 0; i < nf; i++) {
        double v = NAN;
        *bad_col = (int)i;
        switch (cols[i].kind) {
        case COL_TIME:
            if (fm_parse_local_time(f[i], fl[i], tz, &s->t_ns, why))
                return -1;
            have_time = 1;
            break;
        case COL_INDEX:
            if (parse_number(f[i], fl[i], "", &v) || isnan(v) || v < 0 || v >= MAX_GPUS ||
                v != floor(v)) {
                *why = "GPU index must be an integer 0..255";
                return -1;
            }
            *gpu_index = (int)v;
            break;
        case COL_NAME:
            fm_copy_field(dev->name, sizeof dev->name, f[i], fl[i]);
            break;
        case COL_UUID:
            fm_copy_field(dev->uuid, sizeof dev->uuid, f[i], fl[i]);
            break;
        case COL_PCI:
            fm_copy_field(dev->pci_bus_id, sizeof dev->pci_bus_id, f[i], fl[i]);
            break;
        case COL_CLOCK_EVENTS: {
            int missing;
            if (parse_hex(f[i], fl[i], &s->clock_events, &missing)) {
                *why = "expected a hexadecimal bit mask like 0x0000000000000004";
                return -1;
            }
            if (!missing)
                s->valid |= FM_F_CLOCK_EVENTS;
            break;
        }
        case COL_IGNORE:
            break;
        default:
            if (parse_number(f[i], fl[i], cols[i].unit, &v)) {
                *why = "expected a number (with the header's unit) or [N/A]";
                return -1;
            }
            if (isnan(v))
                break;
            switch (cols[i].kind) {
            case COL_POWER_DRAW: {
                /* A power.draw.instant/.average column of the same field
                 * wins, before or after power.draw in the row. */
                uint32_t field = fm_power_field_flag(power_field);
                if (!(s->valid & field))
                    fm_sample_store(s, field, v);
                break;
            }
            case COL_POWER_INSTANT:
                fm_sample_store(s, FM_F_POWER_INSTANT, v);
                break;
            case COL_POWER_AVG:
                fm_sample_store(s, FM_F_POWER_AVG, v);
                break;
            case COL_POWER_LIMIT:
                dev->power_limit_w = v;
                break;
            case COL_TEMP:
                fm_sample_store(s, FM_F_TEMP, v);
                break;
            case COL_UTIL:
                fm_sample_store(s, FM_F_UTIL, v);
                break;
            case COL_MEM_USED: {
                double scale = !strcmp(cols[i].unit, "MiB")   ? 1048576.0
                               : !strcmp(cols[i].unit, "GiB") ? 1073741824.0
                               : !strcmp(cols[i].unit, "KiB") ? 1024.0
                                                              : 1048576.0;
                if (v < 0 || v * scale > 1e18) {
                    *why = "memory.used out of range";
                    return -1;
                }
                fm_sample_store(s, FM_F_MEM_USED, v * scale);
                break;
            }
            case COL_SM_CLOCK:
                fm_sample_store(s, FM_F_SM_CLOCK, v);
                break;
            default:
                break;
            }
        }
    }
    if (!have_time) {
        *why = "no timestamp";
        return -1;
    }
    return 0;
}

/* Fills the device description of each GPU from what the log said. */
static void describe_devices(fm_import_log *log, const column *cols, size_t ncols)
{
    uint32_t seen = 0;
    for (size_t i = 0; i < ncols; i++) {
        switch (cols[i].kind) {
        case COL_POWER_DRAW:
            seen |= fm_power_field_flag(log->power_field);
            break;
        case COL_POWER_INSTANT:
            seen |= FM_F_POWER_INSTANT;
            break;
        case COL_POWER_AVG:
            seen |= FM_F_POWER_AVG;
            break;
        case COL_TEMP:
            seen |= FM_F_TEMP;
            break;
        case COL_UTIL:
            seen |= FM_F_UTIL;
            break;
        case COL_MEM_USED:
            seen |= FM_F_MEM_USED;
            break;
        case COL_SM_CLOCK:
            seen |= FM_F_SM_CLOCK;
            break;
        case COL_CLOCK_EVENTS:
            seen |= FM_F_CLOCK_EVENTS;
            break;
        default:
            break;
        }
    }
    for (int g = 0; g < log->gpus; g++) {
        fm_device_info *d = &log->gpu[g].info;
        d->supported = seen;
        if (!d->name[0])
            snprintf(d->name, sizeof d->name, "unknown (nvidia-smi log)");
        snprintf(d->arch, sizeof d->arch, "%s", fm_arch_from_name(d->name));
        if (seen & FM_F_POWER_INSTANT)
            snprintf(d->power_instant_source, sizeof d->power_instant_source, "nvidia-smi %s",
                     log->power_field == FM_PF_INSTANT ? "power.draw (instant)"
                                                       : "power.draw.instant");
        if (seen & FM_F_POWER_AVG)
            snprintf(d->power_avg_source, sizeof d->power_avg_source, "nvidia-smi %s",
                     log->power_field == FM_PF_AVG ? "power.draw (1 s average)"
                                                   : "power.draw.average");
    }
}

int fm_import_smi_csv(const char *data, size_t len, const char *name, const fm_import_options *opt,
                      fm_import_log *out, fm_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->format, sizeof out->format, "nvidia-smi-csv");
    const char *tz = opt && opt->tz ? opt->tz : "UTC";
    column cols[MAX_COLUMNS];
    const char *f[MAX_COLUMNS];
    size_t fl[MAX_COLUMNS];
    size_t ncols = 0, pos = 0, row_no = 0;
    int have_index = 0, decided = 0, rc = FM_OK;
    fm_text_line line;
    fm_device_info row_dev;
    while (fm_next_line(data, len, &pos, &line)) {
        out->lines++;
        const char *s = line.start;
        size_t n = line.len;
        fm_trim(&s, &n);
        if (n == 0)
            continue;
        if (memchr(s, '\0', n)) {
            rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: NUL byte in text", name, out->lines);
            goto fail;
        }
        size_t nf = split_fields(s, n, f, fl, MAX_COLUMNS);
        if (ncols == 0) {
            if (nf > MAX_COLUMNS) {
                rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: more than %d columns", name, out->lines,
                             MAX_COLUMNS);
                goto fail;
            }
            if ((rc = parse_header(f, fl, nf, cols, name, err)))
                goto fail;
            ncols = nf;
            for (size_t i = 0; i < ncols; i++)
                have_index |= cols[i].kind == COL_INDEX;
            if (!have_index && (!opt || opt->gpus <= 0)) {
                rc = fm_fail(err, FM_ERR_USAGE,
                             "%s: the log has no 'index' column: pass --gpus N (rows are "
                             "then GPUs 0..N-1 in order)",
                             name);
                goto fail;
            }
            if (!have_index && opt->gpus > MAX_GPUS) {
                rc = fm_fail(err, FM_ERR_USAGE, "--gpus %d: at most %d", opt->gpus, MAX_GPUS);
                goto fail;
            }
            continue;
        }
        int last_line = !line.terminated;
        if (nf != ncols) {
            if (last_line) {
                out->truncated_lines++;
                break;
            }
            rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: expected %zu fields, found %zu", name,
                         out->lines, ncols, nf);
            goto fail;
        }
        memset(&row_dev, 0, sizeof row_dev);
        row_dev.power_limit_w = NAN;
        /* The first row's GPU name decides what power.draw means. */
        if (!decided) {
            for (size_t i = 0; i < ncols; i++)
                if (cols[i].kind == COL_NAME)
                    fm_copy_field(row_dev.name, sizeof row_dev.name, f[i], fl[i]);
            fm_decide_power_field(out, opt, row_dev.name);
            decided = 1;
        }
        fm_sample smp;
        int gpu, bad_col;
        const char *why = "";
        if (parse_row(f, fl, nf, cols, tz, out->power_field, &smp, &gpu, &row_dev, &why,
                      &bad_col)) {
            if (last_line) {
                out->truncated_lines++;
                break;
            }
            rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: column '%s': %s (found '%.*s')", name,
                         out->lines, cols[bad_col].name, why,
                         (int)(fl[bad_col] > 40 ? 40 : fl[bad_col]), f[bad_col]);
            goto fail;
        }
        if (gpu < 0)
            gpu = (int)(row_no % (size_t)opt->gpus);
        row_no++;
        if ((rc = fm_import_log_set_gpus(out, have_index ? gpu + 1 : opt->gpus, err)))
            goto fail;
        fm_device_info *d = &out->gpu[gpu].info;
        if (row_dev.name[0] && !d->name[0])
            snprintf(d->name, sizeof d->name, "%s", row_dev.name);
        if (row_dev.uuid[0] && !d->uuid[0])
            snprintf(d->uuid, sizeof d->uuid, "%s", row_dev.uuid);
        if (row_dev.pci_bus_id[0] && !d->pci_bus_id[0])
            snprintf(d->pci_bus_id, sizeof d->pci_bus_id, "%s", row_dev.pci_bus_id);
        if (!isnan(row_dev.power_limit_w))
            d->power_limit_w = row_dev.power_limit_w;
        if ((rc = fm_import_log_push(out, gpu, &smp, err)))
            goto fail;
    }
    if (ncols == 0) {
        rc = fm_fail(err, FM_ERR_PARSE, "%s: empty file (no header line)", name);
        goto fail;
    }
    if (out->rows == 0) {
        rc = fm_fail(err, FM_ERR_PARSE, "%s: no data rows after the header", name);
        goto fail;
    }
    for (size_t i = 0; i < ncols; i++)
        if (cols[i].kind == COL_POWER_INSTANT ||
            (cols[i].kind == COL_POWER_DRAW && !out->power_column[0]))
            snprintf(out->power_column, sizeof out->power_column, "%s", cols[i].name);
    describe_devices(out, cols, ncols);
    fm_import_log_compact(out);
    return FM_OK;
fail:
    fm_import_log_free(out);
    return rc;
}
