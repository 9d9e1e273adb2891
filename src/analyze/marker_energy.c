/* Compares our integrated energy with the energy an external tool measured
 * per marker window (the A100 traces' pyJoules/NVML energy per phase). */
#include "firmus/phases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fm_marker_energy_compare(const fm_phase_signal *sig, int gpu, const fm_marker *m, size_t n,
                             fm_marker_energy **out, size_t *count, fm_error *err)
{
    *out = NULL;
    *count = 0;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].kind, "start") || !isfinite(m[i].energy_j) || m[i].gpu != gpu)
            continue;
        int64_t end = -1;
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp(m[j].kind, "end") && !strcmp(m[j].name, m[i].name) &&
                m[j].t_ns >= m[i].t_ns) {
                end = m[j].t_ns;
                break;
            }
        if (end < 0 || m[i].t_ns < sig->t_first_ns || end > sig->t_last_ns)
            continue; /* no end, or outside the trace */
        if (*count == cap) {
            size_t c = cap ? cap * 2 : 64;
            fm_marker_energy *p = realloc(*out, c * sizeof *p);
            if (!p) {
                free(*out);
                *out = NULL;
                *count = 0;
                return fm_fail(err, FM_ERR_NOMEM, "marker energy: out of memory");
            }
            *out = p;
            cap = c;
        }
        fm_marker_energy *e = &(*out)[(*count)++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", m[i].name);
        e->gpu = gpu;
        e->start_ns = m[i].t_ns;
        e->end_ns = end;
        e->marker_j = m[i].energy_j;
        e->integrated_j = fm_phase_signal_integrate(sig, m[i].t_ns, end);
        e->rel_diff = e->marker_j != 0 ? (e->integrated_j - e->marker_j) / e->marker_j : NAN;
    }
    return FM_OK;
}
