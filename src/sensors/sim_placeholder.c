/* Placeholder for the sim backend until its issue lands; delete this file
 * when src/sensors/sim*.c defines fm_backend_sim. */
#include "firmus/sensor.h"

static int open_unavailable(const fm_backend_options *opt, fm_backend **out, fm_error *err)
{
    (void)opt;
    *out = NULL;
    return fm_fail(err, FM_ERR_UNSUPPORTED, "sim backend not built yet");
}

const fm_backend_ops fm_backend_sim = {
    .name = "sim", .description = "not built yet", .open = open_unavailable};
