/* Internal to src/analyze/phases_*.c: the running median phase detection
 * smooths the publication signal with (shared by the detector and the
 * automatic idle threshold, so both see the same smoothed power). */
#ifndef FIRMUS_PHASES_SMOOTH_H
#define FIRMUS_PHASES_SMOOTH_H

#include <stddef.h>

#include "firmus/phases.h"

/* Half-width in points of a running median smooth_s wide on `sig` (one
 * point per sensor period; at most 15). */
size_t fm_phase_smooth_half_width(const fm_phase_signal *sig, double smooth_s);

/* out[i] = median of v[i - k .. i + k] (the window shrinks at the ends); k <= 31. */
void fm_phase_running_median(const double *v, size_t n, size_t k, double *out);

#endif
