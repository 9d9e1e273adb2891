/* Tests of the importers: nvidia-smi CSV (units, [N/A], no index column,
 * local-time zones, truncated last line), dmon text, marker CSVs with
 * quoted multi-line fields, and one clear error (file:line) for malformed
 * input. Real traces from ../shared/data/real-traces are checked against
 * the facts stated in its README; those tests skip when it is absent. */
#include "testutil.h"

#include "firmus/import.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fm_import_options options(int gpus, const char *tz, int power_field)
{
    fm_import_options o = {0};
    o.gpus = gpus;
    o.tz = tz;
    o.power_field = power_field;
    return o;
}

static void test_time_zones(void **state)
{
    (void)state;
    const char *why;
    int64_t a, b, c;
    const char *s = "2024/04/05 06:32:24.091";
    assert_int_equal(fm_parse_local_time(s, strlen(s), "-05:00", &a, &why), 0);
    assert_int_equal(fm_parse_local_time(s, strlen(s), "America/Chicago", &b, &why), 0);
    assert_int_equal(fm_parse_local_time(s, strlen(s), "UTC", &c, &why), 0);
    /* 2024-04-05 11:32:24.091 UTC = 1712316744.091 */
    assert_true(a == 1712316744091000000LL);
    assert_true(a == b);
    assert_true(c == a - 5 * 3600LL * 1000000000LL);
    /* January: Chicago is UTC-6 (DST handled by the zone database). */
    const char *w = "2024-01-05 06:00:00";
    assert_int_equal(fm_parse_local_time(w, strlen(w), "America/Chicago", &b, &why), 0);
    assert_int_equal(fm_parse_local_time(w, strlen(w), "+00:00", &c, &why), 0);
    assert_true(b - c == 6 * 3600LL * 1000000000LL);
    const char *bad[] = {"2024/13/05 06:32:24",   "2024/04/05 06:32",   "2024/04/05 06:32:24.", "x",
                         "2024/04/05 06:32:24 W", "1969/01/01 00:00:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(fm_parse_local_time(bad[i], strlen(bad[i]), "UTC", &a, &why), -1);
    fm_error err;
    assert_int_equal(fm_tz_check("America/Chicago", &err), FM_OK);
    assert_int_equal(fm_tz_check("+0530", &err), FM_OK);
    assert_int_not_equal(fm_tz_check("Mars/Olympus", &err), FM_OK);
    assert_int_not_equal(fm_tz_check("../../etc/passwd", &err), FM_OK);
}

static void test_csv_with_index_units_na(void **state)
{
    (void)state;
    const char *csv =
        "timestamp, index, name, power.draw [W], power.draw.instant [W], temperature.gpu, "
        "utilization.gpu [%], memory.used [MiB], clocks_event_reasons.active\n"
        "2025/01/02 03:04:05.000, 0, NVIDIA H100 80GB HBM3, 100.50 W, 120.25 W, 40, 10 %, "
        "1024 MiB, 0x0000000000000004\n"
        "2025/01/02 03:04:05.001, 1, NVIDIA H100 80GB HBM3, [N/A], 130.00 W, 41, [N/A], 2 "
        "MiB, 0x0000000000000000\n"
        "2025/01/02 03:04:05.100, 0, NVIDIA H100 80GB HBM3, 101.00 W, 125.00 W, 40, 11 %, "
        "1024 MiB, [Not Supported]\n";
    fm_import_options o = options(0, NULL, FM_PF_AUTO);
    fm_import_log log;
    fm_error err;
    assert_int_equal(fm_import_smi_csv(csv, strlen(csv), "t.csv", &o, &log, &err), FM_OK);
    assert_int_equal(log.gpus, 2);
    assert_int_equal(log.gpu[0].n, 2);
    assert_int_equal(log.gpu[1].n, 1);
    assert_int_equal(log.power_field, FM_PF_AVG); /* H100: power.draw is the 1 s average */
    assert_string_equal(log.gpu[0].info.arch, "hopper");
    const fm_sample *s0 = &log.gpu[0].samples[0];
    assert_true(s0->valid & FM_F_POWER_INSTANT);
    assert_true(s0->valid & FM_F_POWER_AVG);
    assert_true(fabs(s0->power_avg_w - 100.5) < 1e-9);
    assert_true(fabs(s0->power_instant_w - 120.25) < 1e-9);
    assert_true(s0->mem_used_bytes == 1024ull * 1048576ull);
    assert_true(s0->clock_events == 4);
    const fm_sample *s1 = &log.gpu[1].samples[0];
    assert_false(s1->valid & FM_F_POWER_AVG); /* [N/A] is missing, not 0 */
    assert_true(isnan(s1->power_avg_w));
    assert_false(s1->valid & FM_F_UTIL);
    assert_false(log.gpu[0].samples[1].valid & FM_F_CLOCK_EVENTS);
    assert_true(log.gpu[0].samples[1].t_ns - s0->t_ns == 100000000LL);
    fm_import_log_free(&log);
}

static void test_csv_row_order_and_truncation(void **state)
{
    (void)state;
    const char *csv = "timestamp, power.draw [W], utilization.gpu [%]\n"
                      "2024/04/05 06:00:00.000, 50.00 W, 0 %\n"
                      "2024/04/05 06:00:00.004, 60.00 W, 0 %\n"
                      "2024/04/05 06:00:00.100, 51.00 W, 0 %\n"
                      "2024/04/05 06:00:00.104, 61.00 W, 0 %\n"
                      "2024/04/05 06:00:00.200, 52.00";
    fm_import_options o = options(2, "America/Chicago", FM_PF_INSTANT);
    fm_import_log log;
    fm_error err;
    assert_int_equal(fm_import_smi_csv(csv, strlen(csv), "t.csv", &o, &log, &err), FM_OK);
    assert_int_equal(log.gpus, 2);
    assert_int_equal(log.truncated_lines, 1);
    assert_int_equal(log.gpu[0].n, 2);
    assert_int_equal(log.gpu[1].n, 2);
    assert_true(fabs(log.gpu[1].samples[1].power_instant_w - 61.0) < 1e-9);
    assert_true(log.gpu[0].samples[0].t_ns == 1712314800000000000LL); /* 11:00 UTC */
    fm_import_log_free(&log);

    /* No index column and no --gpus: a usage error that says what to do. */
    o.gpus = 0;
    assert_int_equal(fm_import_smi_csv(csv, strlen(csv), "t.csv", &o, &log, &err), FM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "--gpus"));
}

/* Each malformed input gives FM_ERR_PARSE and a message naming file:line. */
static void test_csv_malformed(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *where;
    } cases[] = {
        {"", "bad.csv: empty"},
        {"timestamp, power.draw [W]\n", "bad.csv: no data"},
        {"foo, bar\n1, 2\n", "bad.csv:1:"},
        {"timestamp, power.draw [W]\n2024/04/05 06:00:00.000, 5x W\n", "bad.csv:2:"},
        {"timestamp, power.draw [W]\n2024/04/05 06:00:00.000, 50 W, 3\n"
         "2024/04/05 06:00:00.100, 50 W\n",
         "bad.csv:2:"},
        {"timestamp, power.draw [W]\n2024/04/05 06:00:00.000, 50 W\n\n"
         "2024/99/05 06:00:00.100, 50 W\n",
         "bad.csv:4:"},
        {"timestamp, power.draw [W]\n2024/04/05 06:00:00.000, 50 kW\n", "bad.csv:2:"},
        {"timestamp, power.draw [W\n", "bad.csv:1:"},
        {"timestamp, index, power.draw [W]\n2024/04/05 06:00:00.000, -1, 50 W\n", "bad.csv:2:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fm_import_options o = options(1, NULL, FM_PF_AUTO);
        fm_import_log log;
        fm_error err = {0};
        int rc = fm_import_smi_csv(cases[i].text, strlen(cases[i].text), "bad.csv", &o, &log, &err);
        if (rc != FM_ERR_PARSE || !strstr(err.msg, cases[i].where))
            fail_msg("case %zu: rc %d, message '%s'", i, rc, err.msg);
    }
}

/* An index column that lists GPUs 2 and 3 only (CUDA_VISIBLE_DEVICES). */
static void test_csv_sparse_index(void **state)
{
    (void)state;
    const char *csv = "timestamp, index, power.draw [W]\n"
                      "2025/01/02 03:04:05.000, 2, 100 W\n"
                      "2025/01/02 03:04:05.001, 3, 200 W\n"
                      "2025/01/02 03:04:05.100, 2, 110 W\n";
    fm_import_options o = options(0, NULL, FM_PF_AVG);
    fm_import_log log;
    fm_error err;
    assert_int_equal(fm_import_smi_csv(csv, strlen(csv), "s.csv", &o, &log, &err), FM_OK);
    assert_int_equal(log.gpus, 2);
    assert_int_equal(log.gpu[0].info.index, 2);
    assert_int_equal(log.gpu[1].info.index, 3);
    assert_int_equal(log.gpu[0].n, 2);
    assert_true(fabs(log.gpu[1].samples[0].power_avg_w - 200) < 1e-9);
    fm_import_log_free(&log);
}

static void test_dmon(void **state)
{
    (void)state;
    const char *dmon = "#Date       Time        gpu    pwr  gtemp  mtemp     sm    mem   pclk\n"
                       "#YYYYMMDD   HH:MM:SS    Idx      W      C      C      %      %    MHz\n"
                       " 20240405   06:00:00      0     72     35      -      0      0   1980\n"
                       " 20240405   06:00:00      1     75     36      -      1      0   1980\n"
                       " 20240405   06:00:01      0    400     40      -     99     30   1980\n"
                       "#Date       Time        gpu    pwr  gtemp  mtemp     sm    mem   pclk\n"
                       " 20240405   06:00:01      1    410     41      -     98     30   1980\n";
    fm_import_options o = options(0, "UTC", FM_PF_AUTO);
    fm_import_log log;
    fm_error err;
    assert_int_equal(fm_import_smi_dmon(dmon, strlen(dmon), "d.txt", &o, &log, &err), FM_OK);
    assert_int_equal(log.gpus, 2);
    assert_int_equal(log.gpu[1].n, 2);
    assert_true(fabs(log.gpu[1].samples[1].power_avg_w - 410) < 1e-9);
    assert_true(log.gpu[0].samples[1].t_ns - log.gpu[0].samples[0].t_ns == 1000000000LL);
    fm_import_log_free(&log);

    const char *plain = "# gpu    pwr  gtemp\n# Idx      W      C\n    0     72     35\n"
                        "    0     80     35\n    0     9x     35\n";
    assert_int_equal(fm_import_smi_dmon(plain, strlen(plain), "d.txt", &o, &log, &err),
                     FM_ERR_USAGE); /* needs --interval */
    o.interval_s = 1.0;
    assert_int_equal(fm_import_smi_dmon(plain, strlen(plain), "d.txt", &o, &log, &err),
                     FM_ERR_PARSE);
    assert_non_null(strstr(err.msg, "d.txt:5:"));
}

static void test_markers_quoted(void **state)
{
    (void)state;
    const char *csv = "Timestamp,Phase,Runtime (s),GPU-0 Energy (mJ),GPU-1 Energy (mJ),Prompt\n"
                      "1712315871.7915397,tokenizer,0.5,15710,15970,startup\n"
                      "1712316137.25,start-inference-A-0,10.0,793775,774898,\"What, is\n"
                      "the \"\"largest\"\" city?\"\n"
                      "1712316150.0,broken,1.0,12,x,y\n";
    fm_marker *m;
    size_t n;
    fm_error err;
    assert_int_equal(fm_import_markers_csv(csv, strlen(csv), "m.csv", &m, &n, &err), FM_ERR_PARSE);
    assert_non_null(strstr(err.msg, "m.csv:5:")); /* the physical line of the bad record */
    size_t good_len = strstr(csv, "1712316150") - csv;
    assert_int_equal(fm_import_markers_csv(csv, good_len, "m.csv", &m, &n, &err), FM_OK);
    assert_int_equal(n, 6); /* 2 records x (2 GPU starts + 1 end) */
    assert_string_equal(m[0].kind, "start");
    assert_true(m[0].t_ns == 1712315871791539700LL);
    assert_true(fabs(m[0].energy_j - 15.710) < 1e-12);
    assert_int_equal(m[1].gpu, 1);
    assert_string_equal(m[2].kind, "end");
    assert_true(m[2].t_ns == 1712315872291539700LL);
    assert_string_equal(m[3].name, "start-inference-A-0");
    free(m);
}

/* 8xH100 log: 45,632 rows = 5,704 samples x 8 GPUs (README); the sums of
 * each 8-row block must match the authors' aggregate file. */
static void test_real_h100x8(void **state)
{
    (void)state;
    char *path = fmt_shared_path("h100x8-training-8b-gpt-fault-injection/"
                                 "power-trace_2025-07-26-23-32-09.csv");
    if (!path)
        skip();
    fm_import_options o = options(8, "UTC", FM_PF_AUTO);
    fm_import_log log;
    fm_error err;
    assert_int_equal(fm_import_smi_file(path, &o, &log, &err), FM_OK);
    assert_int_equal(log.gpus, 8);
    assert_int_equal(log.rows, 45632);
    assert_int_equal(log.dropped_rows, 0);
    for (int g = 0; g < 8; g++)
        assert_int_equal(log.gpu[g].n, 5704);
    char *agg = fmt_shared_path("h100x8-training-8b-gpt-fault-injection/"
                                "aggregated_power_data_200stepsync.csv");
    assert_non_null(agg);
    FILE *f = fopen(agg, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    size_t k = 0, mismatches = 0;
    double max_err = 0;
    while (fgets(line, sizeof line, f) && k < 5704) {
        const char *comma = strchr(line, ',');
        assert_non_null(comma);
        double want = atof(comma + 1), sum = 0;
        for (int g = 0; g < 8; g++)
            sum += log.gpu[g].samples[k].power_avg_w;
        if (fabs(sum - want) > 1e-6)
            mismatches++;
        max_err = fmax(max_err, fabs(sum - want));
        k++;
    }
    fclose(f);
    assert_int_equal(k, 5704);
    if (mismatches)
        fail_msg("%zu blocks differ from the authors' aggregate (max %.3g W)", mismatches, max_err);
    fm_import_log_free(&log);
    free(agg);
    free(path);
}

/* 4xA100 log: truncated last line; local time America/Chicago; markers. */
static void test_real_a100x4(void **state)
{
    (void)state;
    char *path = fmt_shared_path("a100x4-inference-llama2-70b/nvidia-smi.csv");
    char *mpath =
        fmt_shared_path("a100x4-inference-llama2-70b/Llama-2-70b-chat-hf-argonne-swing-4.csv");
    if (!path || !mpath)
        skip();
    fm_import_options o = options(4, "America/Chicago", FM_PF_INSTANT);
    fm_import_log log;
    fm_error err;
    assert_int_equal(fm_import_smi_file(path, &o, &log, &err), FM_OK);
    assert_int_equal(log.rows, 42962);
    assert_int_equal(log.truncated_lines, 1);
    /* first row 06:17:19.635 CDT = 11:17:19.635 UTC */
    const char *first = "2024-04-05 11:17:19.635";
    int64_t want;
    const char *why;
    assert_int_equal(fm_parse_local_time(first, strlen(first), "UTC", &want, &why), 0);
    assert_true(log.gpu[0].samples[0].t_ns == want);
    fm_marker *m;
    size_t n;
    assert_int_equal(fm_import_markers_file(mpath, &m, &n, &err), FM_OK);
    assert_int_equal(n, 66 * 5);
    /* All markers lie inside the trace once its local times are converted. */
    int64_t t_first = log.gpu[0].samples[0].t_ns;
    int64_t t_last = log.gpu[0].samples[log.gpu[0].n - 1].t_ns;
    for (size_t i = 0; i < n; i++)
        assert_true(m[i].t_ns >= t_first && m[i].t_ns <= t_last);
    assert_string_equal(m[4 + 1 + 0].name, "model load");
    assert_true(fabs(m[5].energy_j - 14818.317) < 1e-9);
    free(m);
    fm_import_log_free(&log);
    free(path);
    free(mpath);
}

/* 3xA100: odd GPU count, truncated last line, broken marker header. */
static void test_real_a100x3(void **state)
{
    (void)state;
    char *path = fmt_shared_path("a100x3-inference-mixtral-8x7b/nvidia-smi.csv");
    char *mpath =
        fmt_shared_path("a100x3-inference-mixtral-8x7b/Mixtral-8x7B-v0.1-argonne-swing-3.csv");
    if (!path || !mpath)
        skip();
    fm_import_options o = options(3, "-05:00", FM_PF_INSTANT);
    fm_import_log log;
    fm_error err;
    assert_int_equal(fm_import_smi_file(path, &o, &log, &err), FM_OK);
    assert_int_equal(log.rows, 18799);
    assert_int_equal(log.truncated_lines, 1);
    fm_marker *m;
    size_t n;
    assert_int_equal(fm_import_markers_file(mpath, &m, &n, &err), FM_OK);
    assert_int_equal(n, 65 * 4);
    free(m);
    fm_import_log_free(&log);
    free(path);
    free(mpath);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_zones),
        cmocka_unit_test(test_csv_with_index_units_na),
        cmocka_unit_test(test_csv_row_order_and_truncation),
        cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_csv_sparse_index),
        cmocka_unit_test(test_dmon),
        cmocka_unit_test(test_markers_quoted),
        cmocka_unit_test(test_real_h100x8),
        cmocka_unit_test(test_real_a100x4),
        cmocka_unit_test(test_real_a100x3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
