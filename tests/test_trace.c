/* Trace maths against hand-computed truth: deduplication, held and
 * trapezoidal integration, gaps, derivatives, update period, resampling,
 * statistics and percentiles. */
#include "testutil.h"

#include <math.h>

#include "firmus/trace.h"

#define MS 1000000LL

/* A held 100 ms sensor polled every 25 ms: values 100,100,100,100,200,... */
static void make_held(fm_series *s)
{
    fm_series_init(s);
    const double values[] = {100, 200, 300, 200};
    for (int k = 0; k < 16; k++)
        fm_series_push(s, k * 25 * MS, values[k / 4]);
}

static void test_dedup_and_period(void **state)
{
    (void)state;
    fm_series s, d;
    make_held(&s);
    assert_int_equal(fm_series_dedup_held(&s, &d), FM_OK);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.t_ns[1], 100 * MS);
    assert_true(d.v[2] == 300.0);
    assert_int_equal(fm_series_update_period_ns(&s), 100 * MS);
    fm_series_free(&s);
    fm_series_free(&d);
}

static void test_integrate_held_exact(void **state)
{
    (void)state;
    fm_series s;
    make_held(&s);
    /* 0.1 s each of 100, 200, 300 and 200 W (last held to 400 ms) = 80 J. */
    double e = fm_series_integrate_held(&s, 0, 400 * MS, 0, NULL);
    assert_true(fabs(e - 80.0) < 1e-9);
    /* A window inside: 50..150 ms = 0.05*100 + 0.05*200 = 15 J. */
    e = fm_series_integrate_held(&s, 50 * MS, 150 * MS, 0, NULL);
    assert_true(fabs(e - 15.0) < 1e-9);
    /* Dedup does not change the held integral. */
    fm_series d;
    fm_series_dedup_held(&s, &d);
    assert_true(fabs(fm_series_integrate_held(&d, 0, 400 * MS, 0, NULL) - 80.0) < 1e-9);
    fm_series_free(&s);
    fm_series_free(&d);
}

static void test_integrate_gaps_and_missing(void **state)
{
    (void)state;
    fm_series s;
    fm_series_init(&s);
    fm_series_push(&s, 0, 100);
    fm_series_push(&s, 100 * MS, NAN); /* missing: previous value holds */
    fm_series_push(&s, 200 * MS, 300);
    fm_series_push(&s, 2200 * MS, 100); /* 2 s gap after 300 W */
    double gap = -1;
    double e = fm_series_integrate_held(&s, 0, 2300 * MS, 500 * MS, &gap);
    /* 0.2 s * 100 + (gap skipped) + 0.1 s * 100 = 30 J; 2 s of gap. */
    assert_true(fabs(e - 30.0) < 1e-9);
    assert_true(fabs(gap - 2.0) < 1e-9);
    /* Without a gap limit the 300 W holds for 2 s. */
    e = fm_series_integrate_held(&s, 0, 2300 * MS, 0, NULL);
    assert_true(fabs(e - (20.0 + 600.0 + 10.0)) < 1e-9);
    fm_series_free(&s);
}

static void test_trapz_vs_held_on_ramp(void **state)
{
    (void)state;
    fm_series s;
    fm_series_init(&s);
    fm_series_push(&s, 0, 0);
    fm_series_push(&s, 1000 * MS, 100);
    /* Trapezoid of a linear ramp 0..100 W over 1 s = 50 J; held = 0 J. */
    assert_true(fabs(fm_series_integrate_trapz(&s, 0, 1000 * MS) - 50.0) < 1e-9);
    assert_true(fabs(fm_series_integrate_trapz(&s, 500 * MS, 1000 * MS) - 37.5) < 1e-9);
    assert_true(fabs(fm_series_integrate_held(&s, 0, 1000 * MS, 0, NULL)) < 1e-12);
    fm_series_free(&s);
}

static void test_derivative(void **state)
{
    (void)state;
    fm_series s, d, dp;
    make_held(&s);
    fm_series_dedup_held(&s, &d);
    assert_int_equal(fm_series_derivative(&d, &dp), FM_OK);
    assert_int_equal(dp.n, 3);
    assert_true(fabs(dp.v[0] - 1000.0) < 1e-9); /* +100 W in 0.1 s */
    assert_true(fabs(dp.v[2] + 1000.0) < 1e-9);
    fm_series_free(&s);
    fm_series_free(&d);
    fm_series_free(&dp);
}

static void test_resample(void **state)
{
    (void)state;
    fm_series s, r, m;
    make_held(&s);
    assert_int_equal(fm_series_resample_held(&s, 0, 300 * MS, 50 * MS, &r), FM_OK);
    assert_int_equal(r.n, 7);
    assert_true(r.v[1] == 100.0 && r.v[2] == 200.0 && r.v[6] == 200.0);
    assert_int_equal(fm_series_resample_mean(&s, 0, 300 * MS, 200 * MS, &m), FM_OK);
    assert_int_equal(m.n, 2);
    assert_true(fabs(m.v[0] - 150.0) < 1e-9); /* mean of 100 and 200 */
    assert_true(fabs(m.v[1] - 250.0) < 1e-9); /* mean of 300 and 200 */
    fm_series_free(&r);
    assert_int_equal(fm_series_resample_held(&s, 10, 0, 1, &r), FM_ERR_USAGE);
    fm_series_free(&s);
    fm_series_free(&m);
}

static void test_stats_and_percentile(void **state)
{
    (void)state;
    fm_series s;
    fm_series_init(&s);
    const double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    for (int i = 0; i < 8; i++)
        fm_series_push(&s, i * MS, v[i]);
    fm_series_push(&s, 8 * MS, NAN);
    fm_stats st = fm_series_stats(&s, 0, 0);
    assert_int_equal(st.n, 8);
    assert_true(fabs(st.mean - 5.0) < 1e-12);
    assert_true(fabs(st.stdev - 2.0) < 1e-12); /* population stdev */
    assert_true(fabs(st.cv - 0.4) < 1e-12);
    assert_true(st.min == 2.0 && st.max == 9.0);
    st = fm_series_stats(&s, 6 * MS, 7 * MS);
    assert_int_equal(st.n, 2);
    assert_true(fabs(st.mean - 8.0) < 1e-12);
    assert_true(fabs(fm_percentile(v, 8, 50) - 4.5) < 1e-12);
    assert_true(fm_percentile(v, 8, 100) == 9.0);
    assert_true(isnan(fm_percentile(v, 0, 50)));
    /* Integer median: the upper one, input left as it was. */
    int64_t gaps[] = {40, 10, 30, 20};
    assert_int_equal(fm_median_i64(gaps, 4), 30);
    assert_int_equal(fm_median_i64(gaps, 3), 30); /* {10, 30, 40} */
    assert_int_equal(fm_median_i64(gaps, 0), 0);
    assert_true(gaps[0] == 40 && gaps[1] == 10 && gaps[2] == 30 && gaps[3] == 20);
    fm_series_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_and_period),
        cmocka_unit_test(test_integrate_held_exact),
        cmocka_unit_test(test_integrate_gaps_and_missing),
        cmocka_unit_test(test_trapz_vs_held_on_ramp),
        cmocka_unit_test(test_derivative),
        cmocka_unit_test(test_resample),
        cmocka_unit_test(test_stats_and_percentile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
