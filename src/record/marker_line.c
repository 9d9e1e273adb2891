/* The marker line protocol (docs/MARKERS.md): parsing a line a workload
 * wrote into an fm_marker, and formatting an fm_marker as a line. Strict:
 * anything unexpected is a parse error with a one-line reason, never a
 * guess. */
#include "firmus/record.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 16

/* Parses a non-negative decimal integer that fills the whole word. */
static int parse_count(const char *word, int64_t *out)
{
    if (!isdigit((unsigned char)word[0]))
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(word, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Splits line in place at blanks; returns the number of words. */
static int split_words(char *line, char **words, int max_words)
{
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
        if (n == max_words)
            return -1;
        words[n++] = w;
    }
    return n;
}

static int valid_name(const char *name)
{
    if (!*name || strlen(name) >= sizeof(((fm_marker *)0)->name) || strchr(name, '='))
        return 0;
    for (const char *c = name; *c; c++)
        if (!isgraph((unsigned char)*c))
            return 0;
    return 1;
}

/* Applies one key=value word to the marker. */
static int apply_field(char *word, fm_marker *m, int *t_ns_given, fm_error *err)
{
    char *eq = strchr(word, '=');
    if (!eq)
        return fm_fail(err, FM_ERR_PARSE, "unexpected word '%s' (fields are key=value)", word);
    *eq = '\0';
    const char *key = word, *value = eq + 1;
    int64_t v = 0;
    if (parse_count(value, &v) != 0)
        return fm_fail(err, FM_ERR_PARSE, "field %s: '%s' is not a non-negative integer", key,
                       value);
    if (!strcmp(key, "t_ns")) {
        if (v == 0)
            return fm_fail(err, FM_ERR_PARSE, "t_ns must be positive");
        m->t_ns = v;
        *t_ns_given = 1;
    } else if (!strcmp(key, "tokens")) {
        m->tokens = v;
    } else if (!strcmp(key, "gpu")) {
        if (v > 65535)
            return fm_fail(err, FM_ERR_PARSE, "gpu=%" PRId64 " is out of range", v);
        m->gpu = (int)v;
    } else if (!strcmp(key, "request")) {
        m->request = v;
    } else {
        return fm_fail(err, FM_ERR_PARSE, "unknown field '%s' (t_ns, tokens, gpu, request)", key);
    }
    return FM_OK;
}

/* Fills kind/name (and the count or id of tokens/request lines) from the
 * verb and its argument. */
static int apply_verb(const char *verb, const char *arg, fm_marker *m, fm_error *err)
{
    int is_named = !strcmp(verb, "start") || !strcmp(verb, "end") || !strcmp(verb, "mark");
    int is_request = !strcmp(verb, "request_start") || !strcmp(verb, "request_end");
    if (!is_named && !is_request && strcmp(verb, "tokens"))
        return fm_fail(err, FM_ERR_PARSE,
                       "unknown marker '%.40s' (start, end, mark, tokens, request_start, "
                       "request_end)",
                       verb);
    if (!arg)
        return fm_fail(err, FM_ERR_PARSE, "'%s' needs %s", verb,
                       is_named     ? "a name"
                       : is_request ? "a request id"
                                    : "a count");
    snprintf(m->kind, sizeof m->kind, "%s", verb);
    if (is_named) {
        if (!valid_name(arg))
            return fm_fail(err, FM_ERR_PARSE,
                           "bad marker name '%.80s' (1-63 printable chars, no '=')", arg);
        snprintf(m->name, sizeof m->name, "%s", arg);
        return FM_OK;
    }
    int64_t v = 0;
    if (parse_count(arg, &v) != 0)
        return fm_fail(err, FM_ERR_PARSE, "'%s': '%.40s' is not a non-negative integer", verb, arg);
    if (is_request) {
        snprintf(m->name, sizeof m->name, "request");
        m->request = v;
    } else {
        snprintf(m->name, sizeof m->name, "tokens");
        m->tokens = v;
    }
    return FM_OK;
}

int fm_marker_parse_line(const char *line, int64_t receipt_ns, fm_marker *out, int *t_ns_given,
                         fm_error *err)
{
    fm_marker_init(out, receipt_ns);
    *t_ns_given = 0;

    size_t len = strlen(line);
    if (len > FM_MARK_LINE_MAX)
        return fm_fail(err, FM_ERR_PARSE, "line longer than %d bytes", FM_MARK_LINE_MAX);
    char copy[FM_MARK_LINE_MAX + 1];
    memcpy(copy, line, len + 1);
    char *words[MAX_WORDS];
    int n = split_words(copy, words, MAX_WORDS);
    if (n < 0)
        return fm_fail(err, FM_ERR_PARSE, "more than %d words", MAX_WORDS);
    if (n == 0 || words[0][0] == '#')
        return 1; /* blank line or comment: nothing to store */

    int first_field = 2;
    const char *arg = (n >= 2 && !strchr(words[1], '=')) ? words[1] : NULL;
    if (!arg)
        first_field = 1;
    int rc = apply_verb(words[0], arg, out, err);
    if (rc != FM_OK)
        return rc;
    for (int i = first_field; i < n; i++) {
        rc = apply_field(words[i], out, t_ns_given, err);
        if (rc != FM_OK)
            return rc;
    }
    return FM_OK;
}

int fm_marker_format_line(const fm_marker *m, int with_t_ns, char *buf, size_t len)
{
    char head[128];
    int is_request = !strcmp(m->kind, "request_start") || !strcmp(m->kind, "request_end");
    if (is_request)
        snprintf(head, sizeof head, "%s %" PRId64, m->kind, m->request);
    else if (!strcmp(m->kind, "tokens"))
        snprintf(head, sizeof head, "tokens %" PRId64, m->tokens);
    else
        snprintf(head, sizeof head, "%s %s", m->kind, m->name);

    int n = snprintf(buf, len, "%s", head);
    if (strcmp(m->kind, "tokens") && m->tokens >= 0 && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " tokens=%" PRId64, m->tokens);
    if (!is_request && m->request >= 0 && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " request=%" PRId64, m->request);
    if (m->gpu >= 0 && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " gpu=%d", m->gpu);
    if (with_t_ns && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " t_ns=%" PRId64, m->t_ns);
    if (n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, "\n");
    if (n < 0 || (size_t)n >= len || n > FM_MARK_LINE_MAX)
        return -1;
    return n;
}
