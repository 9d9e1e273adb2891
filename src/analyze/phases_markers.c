/* Phases from workload markers (the truth when a run has them), and the
 * comparison of two segmentations (how far power-only detection is from
 * the markers, or from the simulator's truth). */
#include "firmus/phases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9

/* A phase interval taken from the markers. */
typedef struct interval {
    fm_phase phase;
    int64_t start_ns, end_ns;
} interval;

static int cmp_interval(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

/* Pairs "start NAME" with the next "end NAME" (or the next start of any
 * phase, or the end of the trace). Only names that are phase names count;
 * per-GPU duplicates (same name and time) collapse. */
static int marker_intervals(const fm_marker *m, size_t n, int64_t t_end, interval **out,
                            size_t *count)
{
    interval *iv = malloc((n ? n : 1) * sizeof *iv);
    if (!iv)
        return FM_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].kind, "start"))
            continue;
        int ph = fm_phase_from_name(m[i].name);
        if (ph < 0)
            continue;
        if (k > 0 && iv[k - 1].start_ns == m[i].t_ns && (int)iv[k - 1].phase == ph)
            continue;
        int64_t end = t_end;
        for (size_t j = i + 1; j < n; j++) {
            if (!strcmp(m[j].kind, "end") && !strcmp(m[j].name, m[i].name)) {
                end = m[j].t_ns;
                break;
            }
            if (!strcmp(m[j].kind, "start") && fm_phase_from_name(m[j].name) >= 0 &&
                m[j].t_ns > m[i].t_ns) {
                end = m[j].t_ns;
                break;
            }
        }
        iv[k].phase = (fm_phase)ph;
        iv[k].start_ns = m[i].t_ns;
        iv[k].end_ns = end;
        k++;
    }
    qsort(iv, k, sizeof *iv, cmp_interval);
    *out = iv;
    *count = k;
    return FM_OK;
}

static int push_segment(fm_segment **seg, size_t *n, size_t *cap, fm_phase phase, int64_t start,
                        int64_t end)
{
    if (end <= start)
        return FM_OK;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 32;
        fm_segment *p = realloc(*seg, c * sizeof *p);
        if (!p)
            return FM_ERR_NOMEM;
        *seg = p;
        *cap = c;
    }
    fm_segment *s = &(*seg)[(*n)++];
    memset(s, 0, sizeof *s);
    s->phase = phase;
    s->start_ns = start;
    s->end_ns = end;
    return FM_OK;
}

int fm_markers_have_phases(const fm_marker *markers, size_t n_markers)
{
    for (size_t i = 0; i < n_markers; i++)
        if (!strcmp(markers[i].kind, "start") && fm_phase_from_name(markers[i].name) >= 0)
            return 1;
    return 0;
}

int fm_phases_from_markers_signal(const fm_phase_signal *sig, const fm_marker *markers,
                                  size_t n_markers, int gpu, fm_segment **out, size_t *count,
                                  fm_error *err)
{
    *out = NULL;
    *count = 0;
    int rc = FM_OK;
    fm_marker *mine = malloc((n_markers ? n_markers : 1) * sizeof *mine);
    interval *iv = NULL;
    size_t n_mine = 0, n_iv = 0, n = 0, cap = 0;
    fm_segment *seg = NULL;
    if (!mine) {
        rc = FM_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n_markers; i++)
        if (gpu < 0 || markers[i].gpu < 0 || markers[i].gpu == gpu)
            mine[n_mine++] = markers[i];
    if ((rc = marker_intervals(mine, n_mine, sig->t_last_ns, &iv, &n_iv)))
        goto done;
    if (n_iv == 0) {
        rc = fm_fail(err, FM_ERR_NOT_FOUND,
                     "no phase markers (start/end of idle, ramp, "
                     "prefill, decode or fall)");
        goto done;
    }
    int64_t cursor = sig->t_first_ns;
    for (size_t i = 0; i < n_iv; i++) {
        int64_t s = iv[i].start_ns < cursor ? cursor : iv[i].start_ns;
        int64_t e = iv[i].end_ns > sig->t_last_ns ? sig->t_last_ns : iv[i].end_ns;
        if (s > sig->t_last_ns)
            s = sig->t_last_ns;
        /* A gap under 1 ms between one marker's end and the next one's start
         * is the workload's own bookkeeping, not idle time. */
        if (s - cursor < 1000000 && n > 0)
            s = cursor;
        if ((rc = push_segment(&seg, &n, &cap, FM_PHASE_IDLE, cursor, s)) ||
            (rc = push_segment(&seg, &n, &cap, iv[i].phase, s, e)))
            goto done;
        if (e > cursor)
            cursor = e;
    }
    if ((rc = push_segment(&seg, &n, &cap, FM_PHASE_IDLE, cursor, sig->t_last_ns)))
        goto done;
    for (size_t i = 0; i < n; i++)
        fm_segment_measure(sig, seg[i].phase, seg[i].start_ns, seg[i].end_ns, &seg[i]);
    *out = seg;
    *count = n;
    seg = NULL;
done:
    if (rc == FM_ERR_NOMEM)
        fm_fail(err, rc, "phases from markers: out of memory");
    free(seg);
    free(iv);
    free(mine);
    return rc;
}

int fm_phases_from_markers(const fm_series *power_w, const fm_marker *markers, size_t n_markers,
                           fm_segment **out, size_t *count, fm_error *err)
{
    fm_phase_signal sig;
    int rc = fm_phase_signal_prepare(power_w, &sig, err);
    if (rc)
        return rc;
    rc = fm_phases_from_markers_signal(&sig, markers, n_markers, -1, out, count, err);
    fm_phase_signal_free(&sig);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Boundaries (start of each segment whose phase differs from the previous). */
static size_t boundaries(const fm_segment *s, size_t n, int64_t *out)
{
    size_t k = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i].phase != s[i - 1].phase)
            out[k++] = s[i].start_ns;
    return k;
}

void fm_phases_compare(const fm_segment *det, size_t n_det, const fm_segment *truth, size_t n_truth,
                       fm_phase_agreement *out)
{
    memset(out, 0, sizeof *out);
    out->median_boundary_err_s = out->p95_boundary_err_s = NAN;
    /* Labelled time: sweep both lists. */
    double total = 0, same = 0;
    size_t j = 0;
    for (size_t i = 0; i < n_truth; i++) {
        total += (double)(truth[i].end_ns - truth[i].start_ns);
        out->energy_true_j[truth[i].phase] += truth[i].energy_j;
        while (j < n_det && det[j].end_ns <= truth[i].start_ns)
            j++;
        for (size_t k = j; k < n_det && det[k].start_ns < truth[i].end_ns; k++) {
            if (det[k].phase != truth[i].phase)
                continue;
            int64_t lo = det[k].start_ns > truth[i].start_ns ? det[k].start_ns : truth[i].start_ns;
            int64_t hi = det[k].end_ns < truth[i].end_ns ? det[k].end_ns : truth[i].end_ns;
            if (hi > lo)
                same += (double)(hi - lo);
        }
    }
    for (size_t k = 0; k < n_det; k++)
        out->energy_detected_j[det[k].phase] += det[k].energy_j;
    out->labelled_fraction = total > 0 ? same / total : NAN;
    int64_t *tb = malloc((n_truth + 1) * sizeof *tb);
    int64_t *db = malloc((n_det + 1) * sizeof *db);
    double *errs = malloc((n_truth + 1) * sizeof *errs);
    if (!tb || !db || !errs)
        goto done;
    size_t nt = boundaries(truth, n_truth, tb), nd = boundaries(det, n_det, db);
    out->true_boundaries = nt;
    out->detected_boundaries = nd;
    if (nt == 0 || nd == 0)
        goto done;
    size_t q = 0;
    for (size_t i = 0; i < nt; i++) {
        while (q + 1 < nd && db[q + 1] <= tb[i])
            q++;
        double e = fabs((double)(db[q] - tb[i]));
        if (q + 1 < nd)
            e = fmin(e, fabs((double)(db[q + 1] - tb[i])));
        errs[i] = e / NS_PER_S;
    }
    qsort(errs, nt, sizeof *errs, cmp_double);
    out->median_boundary_err_s = errs[nt / 2];
    out->p95_boundary_err_s = errs[(size_t)floor(0.95 * (double)(nt - 1))];
done:
    free(tb);
    free(db);
    free(errs);
}
