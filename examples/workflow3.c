/* Seed workflow 3 ("Economic Analysis with Discounts") in C: record a
 * workload, then compute the cost per million tokens with the Model-to-Grid
 * discount, as the seed's
 *     monitor.calculate_economics(tokens_generated=1_000_000,
 *                                 kwh_rate_usd=0.12, apply_discount=True)
 * does. Without a GPU it records the built-in simulated H200 (backend
 * "sim"); give "nvml" as the first argument to measure a real GPU.
 *
 * usage: workflow3 [sim|nvml] [preset] [database]   (default: sim Qwen3-235B workflow3.db) */
#include <firmus/firmus.h>

#include <math.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    const char *backend = argc > 1 ? argv[1] : "sim";
    const char *preset = argc > 2 ? argv[2] : "Qwen3-235B";
    const char *db = argc > 3 ? argv[3] : "workflow3.db";
    fm_error err = {0};

    /* monitor.start_monitoring(); ... run inference ... */
    fm_record_options rec;
    fm_record_options_default(&rec);
    rec.backend = backend;
    rec.backend_opt.sim_preset = preset;
    rec.duration_s = 30; /* the original's ~30 s micro-benchmark */
    rec.db_path = db;
    rec.name = "workflow3";
    rec.model = preset;
    fm_record_result recorded;
    if (fm_record_run(&rec, &recorded, &err) != FM_OK) {
        fprintf(stderr, "workflow3: %s\n", err.msg);
        return 1;
    }

    /* metrics = monitor.calculate_economics(tokens_generated=1_000_000,
     *                                       kwh_rate_usd=0.12, apply_discount=True) */
    fm_store *st = NULL;
    if (fm_store_open(db, &st, &err) != FM_OK) {
        fprintf(stderr, "workflow3: %s\n", err.msg);
        return 1;
    }
    fm_econ_options opt;
    fm_econ_options_default(&opt);
    opt.kwh_rate = 0.12;
    opt.apply_discount = 1;
    fm_econ_result r;
    fm_qualification q;
    int rc =
        fm_econ_run(st, recorded.run_id, 1000000, NULL /* default policy */, &opt, &r, &q, &err);
    fm_store_close(st);
    if (rc != FM_OK) {
        fprintf(stderr, "workflow3: %s\n", err.msg);
        return 1;
    }

    printf("Run %lld: %.4f kWh (%s) in %.1f s; tokens %lld (given, as in the seed); %s\n",
           (long long)recorded.run_id, r.gpu_energy_kwh, r.energy_source, r.duration_s,
           (long long)r.tokens, q.tier > 0 ? q.reasoning : r.discount_basis);
    printf("Base cost: $%.6f/M tokens\n", r.cost_per_million_tokens);
    printf("Discount: %g%%\n", r.discount_pct);
    printf("Final cost: $%.6f/M tokens\n", r.discounted_cost_per_million_tokens);
    return isfinite(r.discounted_cost_per_million_tokens) ? 0 : 1;
}
