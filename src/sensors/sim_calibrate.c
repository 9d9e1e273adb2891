/* Calibration of the slow decode noise. The instant sensor averages the
 * last W ms of true power; during decode its variance is
 *     pulse part + white variance / W + sigma^2 * f,
 * where the pulse part is the variance of the boxcar-averaged per-token
 * pulse and f is the share of the slow noise's variance (an AR(1) level
 * per decode step) that survives the boxcar. Both are computed numerically
 * over many window positions; sigma is then chosen so that the total equals
 * the preset's stdev (hence its CV). See docs/SIMULATOR.md section 2. */
#include "sensors/sim_internal.h"

#include <math.h>
#include <stdlib.h>

#define CALIBRATION_WINDOWS 4000

/* Pulse deviation from the decode level during each 1 ms step, and the
 * index of the decode step each 1 ms step belongs to (the model's rule). */
static void pulse_pattern(const fm_sim *sim, int steps, double *pulse_w, int64_t *token)
{
    double period_ns = (double)sim->token_period_ns;
    double duty = sim->cfg.token_pulse_duty;
    double amp_w = sim->cfg.token_pulse_frac * (sim->preset.decode_avg_w - sim->cfg.idle_power_w);
    int64_t elapsed_ns = 0, index = 0;
    for (int k = 0; k < steps; k++) {
        pulse_w[k] = (double)elapsed_ns < duty * period_ns ? amp_w * (1.0 - duty) : -amp_w * duty;
        token[k] = index;
        elapsed_ns += SIM_STEP_NS;
        while (elapsed_ns >= sim->token_period_ns) {
            elapsed_ns -= sim->token_period_ns;
            index++;
        }
    }
}

/* sum_a sum_b w_a w_b rho^|a-b| in O(n): with F_a = w_a + rho F_{a-1},
 * the double sum is sum_a w_a (2 F_a - w_a). */
static double ar1_boxcar_share(const double *weight, int n, double rho)
{
    double forward = 0, share = 0;
    for (int a = 0; a < n; a++) {
        forward = weight[a] + rho * forward;
        share += weight[a] * (2.0 * forward - weight[a]);
    }
    return share;
}

void sim_calibrate_decode_noise(fm_sim *sim)
{
    int w_steps = (int)(sim->cfg.sensor.instant_window_ns / SIM_STEP_NS);
    int total = CALIBRATION_WINDOWS + w_steps;
    sim->slow_rho = exp(-sim->cfg.token_period_s / sim->cfg.decode_noise_tau_s);
    double *pulse_w = malloc((size_t)total * sizeof *pulse_w);
    int64_t *token = malloc((size_t)total * sizeof *token);
    double *weight = calloc((size_t)w_steps + 1, sizeof *weight);
    if (!pulse_w || !token || !weight) {
        free(pulse_w);
        free(token);
        free(weight);
        sim->slow_sigma_w = sim->preset.decode_stdev_w; /* uncorrected, documented */
        return;
    }
    pulse_pattern(sim, total, pulse_w, token);
    double sum = 0, sum2 = 0, share_sum = 0;
    for (int end = w_steps; end < total; end++) {
        int first = end - w_steps;
        double mean = 0;
        int n_tokens = (int)(token[end - 1] - token[first] + 1); /* <= w_steps */
        for (int a = 0; a < n_tokens; a++)
            weight[a] = 0;
        for (int k = first; k < end; k++) {
            mean += pulse_w[k];
            weight[token[k] - token[first]] += 1.0 / w_steps;
        }
        mean /= w_steps;
        sum += mean;
        sum2 += mean * mean;
        share_sum += ar1_boxcar_share(weight, n_tokens, sim->slow_rho);
    }
    free(pulse_w);
    free(token);
    free(weight);
    double pulse_mean = sum / CALIBRATION_WINDOWS;
    double pulse_var = sum2 / CALIBRATION_WINDOWS - pulse_mean * pulse_mean;
    double white_var = sim->cfg.busy_noise_w * sim->cfg.busy_noise_w / w_steps;
    double target_var = sim->preset.decode_stdev_w * sim->preset.decode_stdev_w;
    double slow_var = (target_var - pulse_var - white_var) / (share_sum / CALIBRATION_WINDOWS);
    sim->slow_sigma_w = slow_var > 0 ? sqrt(slow_var) : 0.0;
}
