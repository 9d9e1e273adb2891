/* Benchmark of the simulated node: wall time to advance N GPUs by H hours
 * of sim time in 1 ms steps, and the process's peak memory (the true-energy
 * history is 2 bytes per GPU per ms). Usage: bench_sim [gpus] [hours]
 * [single|serving]; default 1 GPU, 10 minutes (1/6 h), serving. */
#include "firmus/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Peak resident memory in MiB (VmHWM from /proc/self/status), or -1. */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    double kib = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kib = atof(line + 6);
    fclose(f);
    return kib / 1024.0;
}

int main(int argc, char **argv)
{
    int gpus = argc > 1 ? atoi(argv[1]) : 1;
    double hours = argc > 2 ? atof(argv[2]) : 1.0 / 6.0;
    const char *pattern = argc > 3 ? argv[3] : "serving";
    fm_sim_config cfg;
    fm_sim_config_default(&cfg, fm_sim_preset_find("Qwen3-32B"), gpus);
    cfg.pattern = strcmp(pattern, "single") ? FM_SIM_SERVING : FM_SIM_SINGLE;
    fm_sim *sim;
    fm_error err;
    if (fm_sim_create(&cfg, &sim, &err) != FM_OK) {
        fprintf(stderr, "bench_sim: %s\n", err.msg);
        return 1;
    }
    int64_t end_ns = (int64_t)(hours * 3600e9);
    double t0 = now_s();
    for (int64_t t = 0; t < end_ns;) { /* advance in 100 ms reads, like a recorder */
        t += 100000000;
        fm_sim_advance(sim, t < end_ns ? t : end_ns);
        for (int g = 0; g < gpus; g++) {
            fm_sample s;
            fm_sim_read_sensors(sim, g, &s);
        }
    }
    double wall = now_s() - t0;
    double steps = (double)gpus * (double)end_ns / 1e6;
    printf("bench_sim: %d GPU(s) x %.3f h (%s): %.3f s wall, %.1f ns per GPU-step, "
           "peak RSS %.0f MiB, energy GPU0 %.0f J\n",
           gpus, hours, pattern, wall, wall * 1e9 / steps, peak_rss_mib(),
           fm_sim_true_energy_j(sim, 0));
    fm_sim_destroy(sim);
    return 0;
}
