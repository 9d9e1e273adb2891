/* Error records and the library version (see firmus/common.h). */
#include "firmus/common.h"

#include <stdarg.h>
#include <stdio.h>

int fm_fail(fm_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *fm_version(void)
{
    return FIRMUS_VERSION;
}
