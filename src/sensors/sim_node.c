/* The simulated node as a whole: creating and destroying it, and moving
 * sim time forward. Every GPU is stepped in 1 ms steps within 10 ms blocks;
 * after each block the thermal model is updated for all GPUs together
 * (neighbour coupling), so results do not depend on how time is advanced. */
#include "sensors/sim_internal.h"

#include <math.h>
#include <stdlib.h>

int fm_sim_create(const fm_sim_config *cfg, fm_sim **out, fm_error *err)
{
    *out = NULL;
    int rc = sim_check_config(cfg, err);
    if (rc != FM_OK)
        return rc;
    fm_sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return fm_fail(err, FM_ERR_NOMEM, "sim: out of memory");
    sim->cfg = *cfg;
    sim->preset = *cfg->preset;
    sim->cfg.preset = &sim->preset;
    sim->gpus = calloc((size_t)cfg->gpus, sizeof *sim->gpus);
    if (!sim->gpus) {
        free(sim);
        return fm_fail(err, FM_ERR_NOMEM, "sim: out of memory");
    }
    sim->token_period_ns = llround(cfg->token_period_s * 1e9);
    sim->thermal_decay = exp(-(SIM_THERMAL_STEPS * 1e-3) / cfg->thermal.tau_s);
    sim->mem_used_bytes = sim_model_memory_bytes(&sim->preset);
    sim_calibrate_decode_noise(sim);
    for (int i = 0; i < cfg->gpus; i++)
        sim_gpu_init(sim, i);
    sim_thermal_init_idle(sim);
    for (int i = 0; i < cfg->gpus; i++) {
        if (sim_reserve_segments(&sim->gpus[i], 2)) {
            fm_sim_destroy(sim);
            return fm_fail(err, FM_ERR_NOMEM, "sim: out of memory");
        }
    }
    *out = sim;
    return FM_OK;
}

void fm_sim_destroy(fm_sim *sim)
{
    if (!sim)
        return;
    for (int i = 0; i < sim->cfg.gpus; i++) {
        sim_history_free(&sim->gpus[i].hist);
        free(sim->gpus[i].segs);
        free(sim->gpus[i].req_tokens_left);
    }
    free(sim->gpus);
    free(sim);
}

const fm_sim_config *fm_sim_get_config(const fm_sim *sim)
{
    return &sim->cfg;
}

int64_t fm_sim_now_ns(const fm_sim *sim)
{
    return sim->now_ns;
}

/* Writes each GPU's open segment (ending now) after its closed ones. */
static void refresh_open_segments(fm_sim *sim)
{
    for (int i = 0; i < sim->cfg.gpus; i++) {
        sim_gpu *g = &sim->gpus[i];
        fm_sim_segment *s = &g->segs[g->n_segs]; /* capacity >= n_segs + 1 */
        s->phase = g->phase;
        s->start_ns = g->phase_start_step * SIM_STEP_NS;
        s->end_ns = sim->now_ns;
        s->energy_j = (sim_energy_units_at(sim, g, sim->now_ns) - (double)g->seg_start_units) /
                      (SIM_POWER_UNITS_PER_W * 1000.0);
        s->tokens = g->seg_tokens;
    }
}

void fm_sim_advance(fm_sim *sim, int64_t t_ns)
{
    if (t_ns <= sim->now_ns || sim->oom)
        return;
    /* every step that starts before t_ns is computed, so energy up to t_ns is known */
    int64_t target = (t_ns + SIM_STEP_NS - 1) / SIM_STEP_NS;
    while (sim->steps_done < target && !sim->oom) {
        int64_t block_end = (sim->steps_done / SIM_THERMAL_STEPS + 1) * SIM_THERMAL_STEPS;
        if (block_end > target)
            block_end = target;
        for (int i = 0; i < sim->cfg.gpus; i++)
            for (int64_t k = sim->steps_done; k < block_end; k++)
                sim_gpu_step(sim, &sim->gpus[i], k);
        if (sim->oom)
            break;
        sim->steps_done = block_end;
        if (block_end % SIM_THERMAL_STEPS == 0)
            sim_thermal_update(sim);
    }
    /* Out of memory: time stops where every GPU's history is complete
     * (steps_done * 1 ms >= the previous now); later advances are no-ops. */
    sim->now_ns = sim->oom ? sim->steps_done * SIM_STEP_NS : t_ns;
    refresh_open_segments(sim);
}

double fm_sim_decode_noise_sigma_w(const fm_sim *sim)
{
    return sim->slow_sigma_w;
}
