/* Thermal model of the simulated GPUs (first order with nearest-neighbour
 * coupling, the formula in firmus/sim.h), integrated every 10 ms block with
 * the exact exponential solution for the block's mean power. */
#include "sensors/sim_internal.h"

/* Steady-state temperature targets of all GPUs for the given mean powers,
 * using the current neighbour temperatures (sim.h formula). */
static double thermal_target(const fm_sim *sim, int i, double power_w)
{
    const fm_sim_thermal_params *t = &sim->cfg.thermal;
    double neighbours = 0;
    if (i > 0)
        neighbours += sim->gpus[i - 1].temp_c - t->ambient_c;
    if (i + 1 < sim->cfg.gpus)
        neighbours += sim->gpus[i + 1].temp_c - t->ambient_c;
    return t->ambient_c + t->r_c_per_w * power_w + t->coupling * neighbours;
}

/* One thermal block (10 ms): exact exponential approach to the target over
 * the block, neighbours taken at the block start (Jacobi). */
void sim_thermal_update(fm_sim *sim)
{
    double targets[64];
    for (int i = 0; i < sim->cfg.gpus; i++) {
        double mean_w =
            (double)sim->gpus[i].block_units / (SIM_POWER_UNITS_PER_W * SIM_THERMAL_STEPS);
        targets[i] = thermal_target(sim, i, mean_w);
    }
    for (int i = 0; i < sim->cfg.gpus; i++) {
        sim_gpu *g = &sim->gpus[i];
        g->temp_c = targets[i] + (g->temp_c - targets[i]) * sim->thermal_decay;
        g->block_units = 0;
    }
}

void sim_thermal_init_idle(fm_sim *sim)
{
    for (int i = 0; i < sim->cfg.gpus; i++)
        sim->gpus[i].temp_c = sim->cfg.thermal.ambient_c;
    for (int iter = 0; iter < 400; iter++) /* coupled steady state; coupling < 0.5 converges */
        for (int i = 0; i < sim->cfg.gpus; i++)
            sim->gpus[i].temp_c = thermal_target(sim, i, sim->cfg.idle_power_w);
}
