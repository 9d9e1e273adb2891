/* Parser of `nvidia-smi dmon` text. Header lines start with '#': the first
 * names the columns (gpu, pwr, gtemp, sm, pclk, fb, ... and with -o DT also
 * Date and Time), the second gives units; dmon repeats them now and then.
 * Data lines are whitespace-separated, '-' is a missing value. With Date
 * and Time columns (1 s resolution) samples get wall times in the given
 * zone; without them, --interval S places poll k at k*S seconds (no wall
 * anchor). Bad lines are errors naming file and line; an unterminated,
 * incomplete last line is dropped and counted. */
#include "import_common.h"
#include "util/text_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DMON_MAX_COLUMNS 40

typedef struct token {
    const char *s;
    size_t n;
} token;

static size_t tokenize(const char *s, size_t n, token *t, size_t max)
{
    size_t count = 0, i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n)
            break;
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        if (count < max) {
            t[count].s = s + start;
            t[count].n = i - start;
        }
        count++;
    }
    return count;
}

static int token_is(const token *t, const char *word)
{
    return t->n == strlen(word) && !strncasecmp(t->s, word, t->n);
}

static int token_number(const token *t, double *v)
{
    if (t->n == 1 && t->s[0] == '-') {
        *v = NAN;
        return 0;
    }
    char buf[48];
    if (t->n >= sizeof buf)
        return -1;
    memcpy(buf, t->s, t->n);
    buf[t->n] = '\0';
    char *end;
    errno = 0;
    *v = strtod(buf, &end);
    return (end == buf || *end || errno || !isfinite(*v)) ? -1 : 0;
}

enum dmon_col { D_IGNORE, D_DATE, D_TIME, D_GPU, D_PWR, D_TEMP, D_SM, D_PCLK, D_FB };

static enum dmon_col dmon_kind(const token *t)
{
    if (token_is(t, "Date"))
        return D_DATE;
    if (token_is(t, "Time"))
        return D_TIME;
    if (token_is(t, "gpu"))
        return D_GPU;
    if (token_is(t, "pwr"))
        return D_PWR;
    if (token_is(t, "gtemp"))
        return D_TEMP;
    if (token_is(t, "sm"))
        return D_SM;
    if (token_is(t, "pclk"))
        return D_PCLK;
    if (token_is(t, "fb"))
        return D_FB;
    return D_IGNORE;
}

/* Reads one data line; 0 or -1 with *why and *bad (token index). */
static int dmon_row(const token *t, size_t nt, const enum dmon_col *kinds, const char *tz,
                    int power_field, fm_sample *s, int *gpu, const char **why, size_t *bad)
{
    const token *date = NULL, *time = NULL;
    fm_sample_clear(s, 0);
    *gpu = -1;
    for (size_t i = 0; i < nt; i++) {
        double v;
        *bad = i;
        if (kinds[i] == D_DATE) {
            date = &t[i];
            continue;
        }
        if (kinds[i] == D_TIME) {
            time = &t[i];
            continue;
        }
        if (kinds[i] == D_IGNORE)
            continue;
        if (token_number(&t[i], &v)) {
            *why = "expected a number or '-'";
            return -1;
        }
        if (isnan(v))
            continue;
        switch (kinds[i]) {
        case D_GPU:
            if (v < 0 || v >= 256 || v != floor(v)) {
                *why = "GPU index must be an integer 0..255";
                return -1;
            }
            *gpu = (int)v;
            break;
        case D_PWR:
            fm_sample_store(s, fm_power_field_flag(power_field), v);
            break;
        case D_TEMP:
            fm_sample_store(s, FM_F_TEMP, v);
            break;
        case D_SM:
            fm_sample_store(s, FM_F_UTIL, v);
            break;
        case D_PCLK:
            fm_sample_store(s, FM_F_SM_CLOCK, v);
            break;
        case D_FB:
            if (v < 0 || v > 1e12) {
                *why = "fb out of range";
                return -1;
            }
            fm_sample_store(s, FM_F_MEM_USED, v * 1048576.0);
            break;
        default:
            break;
        }
    }
    if (*gpu < 0) {
        *why = "missing GPU index";
        return -1;
    }
    if (date && time) {
        char buf[40];
        if (date->n != 8 || time->n != 8) {
            *bad = (size_t)(date - t);
            *why = "expected Date YYYYMMDD and Time HH:MM:SS";
            return -1;
        }
        snprintf(buf, sizeof buf, "%.4s-%.2s-%.2s %.8s", date->s, date->s + 4, date->s + 6,
                 time->s);
        if (fm_parse_local_time(buf, strlen(buf), tz, &s->t_ns, why)) {
            *bad = (size_t)(date - t);
            return -1;
        }
    }
    return 0;
}

int fm_import_smi_dmon(const char *data, size_t len, const char *name, const fm_import_options *opt,
                       fm_import_log *out, fm_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->format, sizeof out->format, "nvidia-smi-dmon");
    const char *tz = opt && opt->tz ? opt->tz : "UTC";
    fm_decide_power_field(out, opt, NULL);
    snprintf(out->power_column, sizeof out->power_column, "pwr");
    enum dmon_col kinds[DMON_MAX_COLUMNS];
    token t[DMON_MAX_COLUMNS];
    size_t ncols = 0, pos = 0;
    int have_time = 0, have_pwr = 0, prev_gpu = 1 << 30, rc = FM_OK;
    int64_t poll = -1;
    fm_text_line line;
    while (fm_next_line(data, len, &pos, &line)) {
        out->lines++;
        const char *s = line.start;
        size_t n = line.len;
        fm_trim(&s, &n);
        if (n == 0)
            continue;
        if (s[0] == '#') {
            size_t nt = tokenize(s + 1, n - 1, t, DMON_MAX_COLUMNS);
            if (nt == 0 || nt > DMON_MAX_COLUMNS ||
                (dmon_kind(&t[0]) != D_GPU && dmon_kind(&t[0]) != D_DATE))
                continue; /* the units line or a comment */
            size_t first_ncols = ncols;
            ncols = nt;
            have_time = have_pwr = 0;
            int have_gpu = 0;
            for (size_t i = 0; i < nt; i++) {
                kinds[i] = dmon_kind(&t[i]);
                have_time |= kinds[i] == D_TIME;
                have_pwr |= kinds[i] == D_PWR;
                have_gpu |= kinds[i] == D_GPU;
            }
            if (!have_gpu || !have_pwr) {
                rc = fm_fail(err, FM_ERR_PARSE,
                             "%s:%zu: dmon header needs 'gpu' and 'pwr' columns (run dmon "
                             "with -s p or the default selection)",
                             name, out->lines);
                goto fail;
            }
            if (first_ncols && first_ncols != ncols) {
                rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: header changed its columns", name,
                             out->lines);
                goto fail;
            }
            if (!have_time && (!opt || !(opt->interval_s > 0))) {
                rc = fm_fail(err, FM_ERR_USAGE,
                             "%s: dmon log without Date/Time columns: pass --interval S (the "
                             "dmon -d delay) or record with -o DT",
                             name);
                goto fail;
            }
            continue;
        }
        if (ncols == 0) {
            rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: data before the '# gpu ...' header", name,
                         out->lines);
            goto fail;
        }
        size_t nt = tokenize(s, n, t, DMON_MAX_COLUMNS);
        const char *why = "";
        size_t bad = 0;
        fm_sample smp;
        int gpu;
        int row_bad = nt != ncols;
        if (row_bad)
            why = "wrong number of fields";
        else if (dmon_row(t, nt, kinds, tz, out->power_field, &smp, &gpu, &why, &bad))
            row_bad = 1;
        if (row_bad) {
            if (!line.terminated) {
                out->truncated_lines++;
                break;
            }
            if (nt != ncols)
                rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: expected %zu fields, found %zu", name,
                             out->lines, ncols, nt);
            else
                rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: field %zu: %s (found '%.*s')", name,
                             out->lines, bad + 1, why, (int)(t[bad].n > 40 ? 40 : t[bad].n),
                             t[bad].s);
            goto fail;
        }
        if (gpu <= prev_gpu)
            poll++;
        prev_gpu = gpu;
        if (!have_time) {
            double t_s = (double)poll * opt->interval_s;
            if (t_s > 1e9) {
                rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: time out of range", name, out->lines);
                goto fail;
            }
            smp.t_ns = (int64_t)(t_s * 1e9);
        }
        if ((rc = fm_import_log_set_gpus(out, gpu + 1, err)) ||
            (rc = fm_import_log_push(out, gpu, &smp, err)))
            goto fail;
    }
    if (out->rows == 0) {
        rc = fm_fail(err, FM_ERR_PARSE, "%s: no dmon data rows", name);
        goto fail;
    }
    for (int g = 0; g < out->gpus; g++) {
        fm_device_info *d = &out->gpu[g].info;
        snprintf(d->name, sizeof d->name, "unknown (nvidia-smi dmon log)");
        d->supported = fm_power_field_flag(out->power_field);
        snprintf(out->power_field == FM_PF_INSTANT ? d->power_instant_source : d->power_avg_source,
                 sizeof d->power_avg_source, "nvidia-smi dmon pwr");
    }
    fm_import_log_compact(out);
    return FM_OK;
fail:
    fm_import_log_free(out);
    return rc;
}

int fm_import_smi_file(const char *path, const fm_import_options *opt, fm_import_log *out,
                       fm_error *err)
{
    char *buf;
    size_t len;
    int rc = fm_read_text_file(path, &buf, &len, err);
    if (rc)
        return rc;
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
        i++;
    if (i < len && buf[i] == '#')
        rc = fm_import_smi_dmon(buf, len, path, opt, out, err);
    else
        rc = fm_import_smi_csv(buf, len, path, opt, out, err);
    free(buf);
    return rc;
}

int fm_import_markers_file(const char *path, fm_marker **out, size_t *count, fm_error *err)
{
    char *buf;
    size_t len;
    int rc = fm_read_text_file(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = fm_import_markers_csv(buf, len, path, out, count, err);
    free(buf);
    return rc;
}
