/* Shared helpers for the cmocka tests: temporary paths, environment lookups,
 * a "skip" for tests whose inputs (../shared, the fake NVML) are absent,
 * sleeping, and making a simulated node. */
#ifndef FIRMUS_TESTUTIL_H
#define FIRMUS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "firmus/sim.h"

/* A fresh empty directory under $TMPDIR (or /tmp); removed by the caller. */
char *fmt_tmpdir(void);
/* Recursively removes a directory made by fmt_tmpdir and frees the string. */
void fmt_rmtree(char *dir);
/* Value of an environment variable set by CTest, or NULL. */
const char *fmt_env(const char *name);
/* Path to a file under ../shared/data/real-traces; NULL when absent. Caller frees. */
char *fmt_shared_path(const char *relative);
/* Relative error |a-b|/|b|. */
double fmt_rel_err(double a, double b);
/* Sleeps ms milliseconds of wall-clock time. */
void fmt_sleep_ms(long ms);
/* A simulated node made from cfg; fails the test with the library's
 * message if fm_sim_create refuses it. Free with fm_sim_destroy. */
fm_sim *fmt_make_sim(const fm_sim_config *cfg);

#endif
