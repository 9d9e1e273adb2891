/* libFuzzer target for the importers: every input is fed to the
 * nvidia-smi CSV parser (with and without --gpus, in UTC and in an IANA
 * zone), the dmon parser and the marker CSV parser, and its first line to
 * the timestamp parser. The parsers must never crash, leak or read out of
 * bounds, and must either succeed or fail with a message naming the input.
 * Built outside the normal build by scripts/fuzz.sh (clang
 * -fsanitize=fuzzer,address,undefined). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmus/import.h"

static void check_error(int rc, const fm_error *err)
{
    /* A failure must say where: the message starts with the input's name. */
    if (rc != FM_OK && rc != FM_ERR_NOMEM && strncmp(err->msg, "fuzz", 4) &&
        strncmp(err->msg, "--gpus", 6))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    fm_import_log log;
    fm_error err;
    fm_import_options o = {0};
    int rc;

    o.gpus = 3;
    rc = fm_import_smi_csv(text, size, "fuzz.csv", &o, &log, &err);
    check_error(rc, &err);
    if (rc == FM_OK)
        fm_import_log_free(&log);

    o.gpus = 0;
    o.tz = "America/Chicago";
    o.power_field = FM_PF_AUTO;
    rc = fm_import_smi_csv(text, size, "fuzz.csv", &o, &log, &err);
    if (rc == FM_OK)
        fm_import_log_free(&log);

    o.interval_s = 1.0;
    rc = fm_import_smi_dmon(text, size, "fuzz.txt", &o, &log, &err);
    check_error(rc, &err);
    if (rc == FM_OK)
        fm_import_log_free(&log);

    fm_marker *m;
    size_t n;
    rc = fm_import_markers_csv(text, size, "fuzz-markers.csv", &m, &n, &err);
    check_error(rc, &err);
    if (rc == FM_OK)
        free(m);

    const char *nl = memchr(text, '\n', size);
    size_t line = nl ? (size_t)(nl - text) : size;
    int64_t t;
    const char *why;
    (void)fm_parse_local_time(text, line, "-05:00", &t, &why);
    return 0;
}
