/* Common definitions of libfirmus: return codes, the error record every
 * fallible function fills, and the library version. Every public function
 * of libfirmus starts with fm_. Units live in names (power_w, energy_j,
 * t_ns). A reading that is missing is NAN in memory and NULL in the store;
 * it is never 0. */
#ifndef FIRMUS_COMMON_H
#define FIRMUS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes: 0 is success, failures are negative. */
enum fm_status {
    FM_OK = 0,
    FM_ERR = -1,             /* generic failure; the message says what */
    FM_ERR_USAGE = -2,       /* bad argument or option */
    FM_ERR_NO_LIBRARY = -3,  /* libnvidia-ml.so.1 (or another backend library) not found */
    FM_ERR_IO = -4,          /* file or database I/O */
    FM_ERR_PARSE = -5,       /* malformed input file; the message names file and line */
    FM_ERR_NOT_FOUND = -6,   /* no such run, device, preset, ... */
    FM_ERR_UNSUPPORTED = -7, /* the hardware or backend cannot give this */
    FM_ERR_GPU_LOST = -8,    /* the device fell off the bus */
    FM_ERR_NOMEM = -9,
    FM_ERR_AGAIN = -10, /* transient: reading missing this time */
};

/* Error record: a one-line, human-readable message naming the file/line or
 * device. Functions that take an fm_error * fill it on failure. */
typedef struct fm_error {
    int code;
    char msg[512];
} fm_error;

/* Sets err (if not NULL) and returns code, so callers can
 * `return fm_fail(err, FM_ERR_IO, "%s: %s", path, strerror(errno));`. */
int fm_fail(fm_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Library version string, e.g. "0.1.0". */
const char *fm_version(void);

#ifdef __cplusplus
}
#endif
#endif
