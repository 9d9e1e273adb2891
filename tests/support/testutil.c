/* Shared helpers for the cmocka tests (see testutil.h). */
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char *fmt_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/firmus-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpl))
        return NULL;
    return strdup(tmpl);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fmt_rmtree(char *dir)
{
    if (!dir)
        return;
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

const char *fmt_env(const char *name)
{
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

char *fmt_shared_path(const char *relative)
{
    const char *shared = fmt_env("FIRMUS_SHARED_DIR");
    if (!shared)
        return NULL;
    char *path = malloc(strlen(shared) + strlen(relative) + 32);
    if (!path)
        return NULL;
    sprintf(path, "%s/data/real-traces/%s", shared, relative);
    if (access(path, R_OK) != 0) {
        free(path);
        return NULL;
    }
    return path;
}

double fmt_rel_err(double a, double b)
{
    return fabs(a - b) / fabs(b);
}

void fmt_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

fm_sim *fmt_make_sim(const fm_sim_config *cfg)
{
    fm_sim *sim = NULL;
    fm_error err = {0};
    int rc = fm_sim_create(cfg, &sim, &err);
    if (rc != FM_OK)
        fail_msg("fm_sim_create: %s", err.msg);
    return sim;
}
