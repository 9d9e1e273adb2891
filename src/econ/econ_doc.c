/* Strict reading of the policy and tariff JSON files (see econ_doc.h):
 * Jansson for parsing, typed getters that reject unknown keys and wrong
 * types, and a small scanner that maps a key path back to a line of the
 * file so every error names file and line. */
#include "econ/econ_doc.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int econ_doc_parse(const econ_doc *d, json_t **root)
{
    json_error_t jerr;
    *root = json_loads(d->text, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root)
        return fm_fail(d->err, FM_ERR_PARSE, "%s:%d:%d: %s", d->label, jerr.line, jerr.column,
                       jerr.text);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return fm_fail(d->err, FM_ERR_PARSE, "%s:1: the top level must be a JSON object", d->label);
    }
    return FM_OK;
}

/* ---- the line scanner: walks already-valid JSON text ---- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* p at '"': returns the character after the closing quote. */
static const char *skip_string(const char *p)
{
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
            p++;
    return *p ? p + 1 : p;
}

static const char *skip_value(const char *p)
{
    p = skip_ws(p);
    if (*p == '"')
        return skip_string(p);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; *p; p++) {
            if (*p == '"') {
                p = skip_string(p) - 1;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return p;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\t' &&
           *p != '\r')
        p++;
    return p;
}

/* Next path segment: a key (is_index = 0) or [index]. Returns the rest. */
static const char *next_segment(const char *path, char *key, size_t len, int *is_index, long *index)
{
    if (*path == '.')
        path++;
    if (*path == '[') {
        *is_index = 1;
        *index = strtol(path + 1, (char **)&path, 10);
        return *path == ']' ? path + 1 : path;
    }
    *is_index = 0;
    size_t n = 0;
    while (*path && *path != '.' && *path != '[') {
        if (n + 1 < len)
            key[n++] = *path;
        path++;
    }
    key[n] = '\0';
    return path;
}

/* Finds the value at `path` starting from the value at p; returns the
 * deepest position reached. */
static const char *find_path(const char *p, const char *path)
{
    p = skip_ws(p);
    if (!*path)
        return p;
    char key[128];
    int is_index = 0;
    long index = 0;
    const char *rest = next_segment(path, key, sizeof key, &is_index, &index);
    if ((is_index && *p != '[') || (!is_index && *p != '{'))
        return p;
    const char *q = skip_ws(p + 1);
    for (long i = 0; *q && *q != '}' && *q != ']'; i++) {
        if (is_index) {
            if (i == index)
                return find_path(q, rest);
        } else {
            const char *name = q + 1;
            const char *after = skip_string(q);
            size_t name_len = (size_t)(after - 1 - name);
            q = skip_ws(after);
            if (*q == ':')
                q = skip_ws(q + 1);
            if (name_len == strlen(key) && !strncmp(name, key, name_len))
                return *rest ? find_path(q, rest) : name - 1;
        }
        q = skip_ws(skip_value(q));
        if (*q == ',')
            q = skip_ws(q + 1);
    }
    return p;
}

int econ_doc_line(const char *text, const char *path)
{
    const char *at = find_path(text, path ? path : "");
    int line = 1;
    for (const char *c = text; c < at && *c; c++)
        if (*c == '\n')
            line++;
    return line;
}

/* ---- errors and getters ---- */

int econ_doc_fail(const econ_doc *d, const char *path, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = econ_doc_line(d->text, path);
    if (path && *path)
        return fm_fail(d->err, FM_ERR_PARSE, "%s:%d: %s: %s", d->label, line, path, msg);
    return fm_fail(d->err, FM_ERR_PARSE, "%s:%d: %s", d->label, line, msg);
}

void econ_path_key(char *buf, size_t len, const char *parent, const char *key)
{
    if (parent && *parent)
        snprintf(buf, len, "%s.%s", parent, key);
    else
        snprintf(buf, len, "%s", key);
}

void econ_path_index(char *buf, size_t len, const char *parent, size_t index)
{
    snprintf(buf, len, "%s[%zu]", parent ? parent : "", index);
}

int econ_doc_check_keys(const econ_doc *d, json_t *obj, const char *path,
                        const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        int known = 0;
        for (size_t i = 0; allowed[i]; i++)
            if (!strcmp(key, allowed[i]))
                known = 1;
        if (!known) {
            char sub[256];
            econ_path_key(sub, sizeof sub, path, key);
            char list[256] = "";
            for (size_t i = 0; allowed[i]; i++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
            }
            return econ_doc_fail(d, sub, "unknown key (allowed: %s)", list);
        }
    }
    return FM_OK;
}

/* obj[key], or an error when it is missing and required; *value NULL when
 * it is missing and optional. */
static int get_member(const econ_doc *d, json_t *obj, const char *path, const char *key,
                      int required, json_t **value)
{
    *value = json_object_get(obj, key);
    if (!*value && required)
        return econ_doc_fail(d, path, "missing required key \"%s\"", key);
    return FM_OK;
}

int econ_doc_string(const econ_doc *d, json_t *obj, const char *path, const char *key, int required,
                    char *buf, size_t len)
{
    json_t *v;
    int rc = get_member(d, obj, path, key, required, &v);
    if (rc != FM_OK || !v)
        return rc;
    char sub[256];
    econ_path_key(sub, sizeof sub, path, key);
    if (!json_is_string(v))
        return econ_doc_fail(d, sub, "must be a string");
    if (json_string_length(v) >= len)
        return econ_doc_fail(d, sub, "longer than %zu characters", len - 1);
    snprintf(buf, len, "%s", json_string_value(v));
    return FM_OK;
}

int econ_doc_number(const econ_doc *d, json_t *obj, const char *path, const char *key, int required,
                    double min, double max, double *out)
{
    json_t *v;
    int rc = get_member(d, obj, path, key, required, &v);
    if (rc != FM_OK || !v)
        return rc;
    char sub[256];
    econ_path_key(sub, sizeof sub, path, key);
    if (!json_is_number(v))
        return econ_doc_fail(d, sub, "must be a number");
    double x = json_number_value(v);
    if (!isfinite(x) || x < min || x > max)
        return econ_doc_fail(d, sub, "%g is out of range [%g, %g]", x, min, max);
    *out = x;
    return FM_OK;
}

int econ_doc_bool(const econ_doc *d, json_t *obj, const char *path, const char *key, int required,
                  int *out)
{
    json_t *v;
    int rc = get_member(d, obj, path, key, required, &v);
    if (rc != FM_OK || !v)
        return rc;
    char sub[256];
    econ_path_key(sub, sizeof sub, path, key);
    if (!json_is_boolean(v))
        return econ_doc_fail(d, sub, "must be true or false");
    *out = json_is_true(v);
    return FM_OK;
}
