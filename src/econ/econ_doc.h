/* Private helpers of src/econ: reading the small JSON files (policies and
 * tariffs) strictly, with errors that name the file, the line and the key
 * path. Jansson parses; a tiny scanner finds the line of a key path in the
 * text, because Jansson keeps no positions for values. */
#ifndef FIRMUS_ECON_DOC_H
#define FIRMUS_ECON_DOC_H

#include "firmus/common.h"

#include <jansson.h>

/* One document being read. */
typedef struct econ_doc {
    const char *text;  /* the whole file */
    const char *label; /* file path (or a name) for messages */
    fm_error *err;
} econ_doc;

/* Parses text (duplicate keys rejected). Syntax errors: "label:line:col: ...". */
int econ_doc_parse(const econ_doc *d, json_t **root);

/* Line (1-based) of the value at a key path such as "tiers[1].discount_percent"
 * in the text; the deepest part of the path that exists decides; 1 if none. */
int econ_doc_line(const char *text, const char *path);

/* Fails with FM_ERR_PARSE: "label:line: path: message". */
int econ_doc_fail(const econ_doc *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes parent.key (or key at the top) into buf. */
void econ_path_key(char *buf, size_t len, const char *parent, const char *key);
/* Writes parent[index] into buf. */
void econ_path_index(char *buf, size_t len, const char *parent, size_t index);

/* Fails on any key of obj not in the NULL-terminated list `allowed`. */
int econ_doc_check_keys(const econ_doc *d, json_t *obj, const char *path,
                        const char *const *allowed);
/* Reads obj[key] as a string into buf. Missing: error if required, else
 * buf untouched. */
int econ_doc_string(const econ_doc *d, json_t *obj, const char *path, const char *key, int required,
                    char *buf, size_t len);
/* Reads obj[key] as a finite number within [min, max]. Missing: error if
 * required, else *out untouched. */
int econ_doc_number(const econ_doc *d, json_t *obj, const char *path, const char *key, int required,
                    double min, double max, double *out);
/* Reads obj[key] as a boolean. */
int econ_doc_bool(const econ_doc *d, json_t *obj, const char *path, const char *key, int required,
                  int *out);

#endif
