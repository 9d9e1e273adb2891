/* Parser of per-phase marker CSVs written by pyJoules-style tools (the
 * A100 traces in ../shared/data/real-traces): a header with `Timestamp`
 * (Unix epoch seconds, UTC, the phase start), `Phase`, `Runtime (s)` and
 * `GPU-<k> Energy (mJ)` columns; other columns are ignored. Fields follow
 * RFC 4180 (quoted fields may hold commas, doubled quotes and newlines).
 * Each record gives one "start" marker per GPU carrying that GPU's NVML
 * energy (J) and one "end" marker for all GPUs at start + runtime. */
#include "import_common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MK_MAX_FIELDS 128
#define MK_MAX_GPUS 64

/* One CSV record: fields point into a scratch buffer (unquoted). */
typedef struct csv_record {
    char *buf;
    size_t cap;
    size_t off[MK_MAX_FIELDS];
    size_t n_fields;   /* may exceed MK_MAX_FIELDS: the rest are not stored */
    size_t first_line; /* physical line the record starts on */
    int terminated;    /* ended by a newline (not by the end of the data) */
} csv_record;

static int rec_putc(csv_record *r, size_t *len, char c)
{
    if (*len + 1 >= r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        char *b = realloc(r->buf, cap);
        if (!b)
            return -1;
        r->buf = b;
        r->cap = cap;
    }
    r->buf[(*len)++] = c;
    return 0;
}

/* Reads the next record from data at *pos. Returns 1 if one was read, 0 at
 * the end, -1 on a quoting error (*why set) or out of memory. */
static int next_record(const char *data, size_t len, size_t *pos, size_t *line, csv_record *r,
                       const char **why)
{
    if (*pos >= len)
        return 0;
    size_t blen = 0;
    int in_quotes = 0, field_started_quoted = 0;
    r->n_fields = 0;
    r->first_line = *line;
    r->terminated = 0;
    r->off[0] = 0;
    while (*pos < len) {
        char c = data[(*pos)++];
        if (in_quotes) {
            if (c == '"') {
                if (*pos < len && data[*pos] == '"') {
                    (*pos)++;
                    if (rec_putc(r, &blen, '"'))
                        return -1;
                } else {
                    in_quotes = 0;
                }
                continue;
            }
            if (c == '\n')
                (*line)++;
            if (rec_putc(r, &blen, c))
                return -1;
            continue;
        }
        if (c == '"' && !field_started_quoted) {
            size_t start = r->n_fields < MK_MAX_FIELDS ? r->off[r->n_fields] : 0;
            if (blen == start) {
                in_quotes = 1;
                field_started_quoted = 1;
                continue;
            }
            *why = "stray quote inside an unquoted field";
            return -1;
        }
        if (c == ',' || c == '\n') {
            if (rec_putc(r, &blen, '\0'))
                return -1;
            r->n_fields++;
            if (r->n_fields < MK_MAX_FIELDS)
                r->off[r->n_fields] = blen;
            field_started_quoted = 0;
            if (c == '\n') {
                (*line)++;
                r->terminated = 1;
                break;
            }
            continue;
        }
        if (c == '\r' && (*pos >= len || data[*pos] == '\n'))
            continue;
        if (c == '\0') {
            *why = "NUL byte in text";
            return -1;
        }
        if (rec_putc(r, &blen, c))
            return -1;
    }
    if (in_quotes) {
        *why = "quoted field not closed before the end of the file";
        return -1;
    }
    if (!r->terminated) {
        if (rec_putc(r, &blen, '\0'))
            return -1;
        r->n_fields++;
    }
    return 1;
}

static const char *field(const csv_record *r, size_t i)
{
    return i < r->n_fields && i < MK_MAX_FIELDS ? r->buf + r->off[i] : "";
}

/* "1712315871.7915397" -> ns, exactly (no double rounding). */
static int parse_epoch_ns(const char *s, int64_t *ns)
{
    while (*s == ' ')
        s++;
    int64_t sec = 0, frac = 0, scale = 100000000;
    int digits = 0;
    while (isdigit((unsigned char)*s)) {
        if (sec > 100000000000LL)
            return -1;
        sec = sec * 10 + (*s++ - '0');
        digits++;
    }
    if (!digits)
        return -1;
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) {
            frac += (*s++ - '0') * scale;
            scale /= 10;
        }
    }
    while (*s == ' ')
        s++;
    if (*s || sec < 0 || sec > 7258118400LL) /* up to year 2200 */
        return -1;
    *ns = sec * 1000000000LL + frac;
    return 0;
}

static int parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    while (*s == ' ')
        s++;
    if (!*s) {
        *v = NAN;
        return 0;
    }
    *v = strtod(s, &end);
    while (*end == ' ')
        end++;
    return (end == s || *end || errno || !isfinite(*v)) ? -1 : 0;
}

static int push_marker(fm_marker **out, size_t *count, size_t *cap, const fm_marker *m)
{
    if (*count == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        fm_marker *p = realloc(*out, c * sizeof *p);
        if (!p)
            return -1;
        *out = p;
        *cap = c;
    }
    (*out)[(*count)++] = *m;
    return 0;
}

/* Column positions found in the header. */
typedef struct marker_columns {
    long timestamp, phase, runtime;
    long energy[MK_MAX_GPUS];
    int gpus;
} marker_columns;

static int read_header(const csv_record *r, const char *name, marker_columns *c, fm_error *err)
{
    c->timestamp = c->phase = c->runtime = -1;
    c->gpus = 0;
    for (int g = 0; g < MK_MAX_GPUS; g++)
        c->energy[g] = -1;
    size_t n = r->n_fields < MK_MAX_FIELDS ? r->n_fields : MK_MAX_FIELDS;
    for (size_t i = 0; i < n; i++) {
        const char *h = field(r, i);
        int g;
        char tail[32];
        if (!strcmp(h, "Timestamp"))
            c->timestamp = (long)i;
        else if (!strcmp(h, "Phase"))
            c->phase = (long)i;
        else if (!strcmp(h, "Runtime (s)"))
            c->runtime = (long)i;
        else if (sscanf(h, "GPU-%d Energy (mJ%31s", &g, tail) == 2 && !strcmp(tail, ")") &&
                 g >= 0 && g < MK_MAX_GPUS) {
            c->energy[g] = (long)i;
            if (g + 1 > c->gpus)
                c->gpus = g + 1;
        }
    }
    if (c->timestamp < 0 || c->phase < 0 || c->runtime < 0)
        return fm_fail(err, FM_ERR_PARSE,
                       "%s:1: marker header needs 'Timestamp', 'Phase' and 'Runtime (s)' columns",
                       name);
    for (int g = 0; g < c->gpus; g++)
        if (c->energy[g] < 0)
            return fm_fail(err, FM_ERR_PARSE, "%s:1: column 'GPU-%d Energy (mJ)' is missing", name,
                           g);
    return FM_OK;
}

int fm_import_markers_csv(const char *data, size_t len, const char *name, fm_marker **out,
                          size_t *count, fm_error *err)
{
    *out = NULL;
    *count = 0;
    size_t cap = 0, pos = 0, line = 1, header_fields = 0;
    csv_record r = {0};
    marker_columns cols = {0};
    int have_header = 0, rc = FM_OK;
    const char *why = "";
    for (;;) {
        int got = next_record(data, len, &pos, &line, &r, &why);
        if (got == 0)
            break;
        if (got < 0) {
            rc = *why ? fm_fail(err, FM_ERR_PARSE, "%s:%zu: %s", name, r.first_line, why)
                      : fm_fail(err, FM_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (r.n_fields == 1 && field(&r, 0)[0] == '\0')
            continue; /* blank line */
        if (!have_header) {
            if ((rc = read_header(&r, name, &cols, err)))
                goto fail;
            header_fields = r.n_fields;
            have_header = 1;
            continue;
        }
        if (r.n_fields != header_fields) {
            if (!r.terminated)
                break; /* truncated last record */
            rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: expected %zu fields, found %zu", name,
                         r.first_line, header_fields, r.n_fields);
            goto fail;
        }
        int64_t start_ns;
        double runtime_s;
        if (parse_epoch_ns(field(&r, (size_t)cols.timestamp), &start_ns)) {
            rc = fm_fail(err, FM_ERR_PARSE,
                         "%s:%zu: Timestamp: expected Unix seconds, found '%.40s'", name,
                         r.first_line, field(&r, (size_t)cols.timestamp));
            goto fail;
        }
        if (parse_double(field(&r, (size_t)cols.runtime), &runtime_s) || isnan(runtime_s) ||
            runtime_s < 0 || runtime_s > 1e7) {
            rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: Runtime (s): expected seconds, found '%.40s'",
                         name, r.first_line, field(&r, (size_t)cols.runtime));
            goto fail;
        }
        const char *phase = field(&r, (size_t)cols.phase);
        if (!*phase) {
            rc = fm_fail(err, FM_ERR_PARSE, "%s:%zu: empty Phase", name, r.first_line);
            goto fail;
        }
        fm_marker m;
        fm_marker_init(&m, start_ns);
        snprintf(m.kind, sizeof m.kind, "start");
        snprintf(m.name, sizeof m.name, "%s", phase);
        for (int g = 0; g < (cols.gpus ? cols.gpus : 1); g++) {
            double mj = NAN;
            if (cols.gpus && parse_double(field(&r, (size_t)cols.energy[g]), &mj)) {
                rc = fm_fail(err, FM_ERR_PARSE,
                             "%s:%zu: GPU-%d Energy (mJ): expected a number, found '%.40s'", name,
                             r.first_line, g, field(&r, (size_t)cols.energy[g]));
                goto fail;
            }
            m.gpu = cols.gpus ? g : -1;
            m.energy_j = mj / 1000.0;
            if (push_marker(out, count, &cap, &m))
                goto nomem;
        }
        snprintf(m.kind, sizeof m.kind, "end");
        m.gpu = -1;
        m.energy_j = NAN;
        m.t_ns = start_ns + (int64_t)llround(runtime_s * 1e9);
        if (push_marker(out, count, &cap, &m))
            goto nomem;
    }
    if (!have_header) {
        rc = fm_fail(err, FM_ERR_PARSE, "%s: empty file (no header)", name);
        goto fail;
    }
    if (*count == 0) {
        rc = fm_fail(err, FM_ERR_PARSE, "%s: no marker rows after the header", name);
        goto fail;
    }
    free(r.buf);
    return FM_OK;
nomem:
    rc = fm_fail(err, FM_ERR_NOMEM, "out of memory");
fail:
    free(r.buf);
    free(*out);
    *out = NULL;
    *count = 0;
    return rc;
}
