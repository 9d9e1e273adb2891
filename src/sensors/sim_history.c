/* The true-energy history of one simulated GPU: the power of every 1 ms
 * step as a uint16_t (1/64 W units) in chunks of 65536 steps, plus the
 * exact cumulative energy every 100 ms. Any cumulative energy is then one
 * anchor plus at most 99 step sums, exact in integer units (1/64 mJ).
 * Memory: 2 bytes per GPU per ms (7.2 MB per GPU-hour; 10 h x 8 GPUs =
 * 576 MB) plus 8 bytes per 100 ms for the anchors. */
#include "sensors/sim_internal.h"

#include <stdlib.h>

static int grow(void **array, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t new_cap = *cap ? *cap * 2 : 64;
    while (new_cap < need)
        new_cap *= 2;
    void *p = realloc(*array, new_cap * elem);
    if (!p)
        return -1;
    *array = p;
    *cap = new_cap;
    return 0;
}

int sim_history_push(sim_history *h, uint16_t power_units)
{
    int64_t step = h->steps;
    if (step % SIM_ANCHOR_STEPS == 0) {
        if (grow((void **)&h->anchors, &h->cap_anchors, h->n_anchors + 1, sizeof *h->anchors))
            return -1;
        h->anchors[h->n_anchors++] = h->cum_units;
    }
    size_t chunk = (size_t)(step / SIM_CHUNK_STEPS);
    if (chunk >= h->n_chunks) {
        if (grow((void **)&h->chunks, &h->cap_chunks, chunk + 1, sizeof *h->chunks))
            return -1;
        h->chunks[chunk] = malloc(SIM_CHUNK_STEPS * sizeof(uint16_t));
        if (!h->chunks[chunk])
            return -1;
        h->n_chunks = chunk + 1;
    }
    h->chunks[chunk][step % SIM_CHUNK_STEPS] = power_units;
    h->cum_units += power_units;
    h->steps++;
    return 0;
}

void sim_history_free(sim_history *h)
{
    for (size_t i = 0; i < h->n_chunks; i++)
        free(h->chunks[i]);
    free(h->chunks);
    free(h->anchors);
    *h = (sim_history){0};
}

uint16_t sim_history_step(const sim_history *h, int64_t step)
{
    return h->chunks[step / SIM_CHUNK_STEPS][step % SIM_CHUNK_STEPS];
}

int64_t sim_history_cum_before(const sim_history *h, int64_t k)
{
    if (k >= h->steps)
        return h->cum_units;
    if (k <= 0)
        return 0;
    int64_t a = k / SIM_ANCHOR_STEPS;
    int64_t cum = h->anchors[a];
    for (int64_t i = a * SIM_ANCHOR_STEPS; i < k; i++)
        cum += sim_history_step(h, i);
    return cum;
}
