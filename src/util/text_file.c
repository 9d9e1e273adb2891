/* Reading a whole text file into memory (see text_file.h). */
#include "util/text_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fm_read_text_file(const char *path, char **text, size_t *len, fm_error *err)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fm_fail(err, FM_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (got == 0)
            break;
        if (used + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf)
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory", path);
    if (failed) {
        free(buf);
        return fm_fail(err, FM_ERR_IO, "%s: read error", path);
    }
    buf[used] = '\0';
    *text = buf;
    if (len)
        *len = used;
    return FM_OK;
}
