/* Reading a whole text file into memory: shared by the nvidia-smi and
 * marker importers and the policy/tariff loaders. Internal header. */
#ifndef FIRMUS_UTIL_TEXT_FILE_H
#define FIRMUS_UTIL_TEXT_FILE_H

#include "firmus/common.h"

#include <stddef.h>

/* Reads the file at path into a malloc'ed, NUL-terminated *text (free()
 * it); *len (if not NULL) gets its size in bytes. Errors name the path:
 * "<path>: <strerror>" (FM_ERR_IO) when it cannot be opened, "<path>: read
 * error" (FM_ERR_IO), "<path>: out of memory" (FM_ERR_NOMEM). */
int fm_read_text_file(const char *path, char **text, size_t *len, fm_error *err);

#endif
