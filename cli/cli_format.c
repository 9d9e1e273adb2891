/* Shared formatting for commands that print stored runs (see
 * cli_format.h): units, durations, times, and missing values. */
#include "cli_format.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

const char *fm_cli_format_energy(double energy_j, char *buf, size_t len)
{
    double magnitude = fabs(energy_j);
    if (isnan(energy_j))
        snprintf(buf, len, "%s", FM_CLI_UNAVAILABLE);
    else if (magnitude >= 1e6)
        snprintf(buf, len, "%.3f MJ", energy_j / 1e6);
    else if (magnitude >= 1e3)
        snprintf(buf, len, "%.2f kJ", energy_j / 1e3);
    else
        snprintf(buf, len, "%.1f J", energy_j);
    return buf;
}

const char *fm_cli_format_duration(double seconds, char *buf, size_t len)
{
    if (isnan(seconds) || seconds < 0) {
        snprintf(buf, len, "%s", FM_CLI_UNAVAILABLE);
    } else if (seconds < 60) {
        snprintf(buf, len, "%.1f s", seconds);
    } else if (seconds < 3600) {
        long s = lround(seconds);
        snprintf(buf, len, "%ldm %02lds", s / 60, s % 60);
    } else {
        long m = lround(seconds / 60);
        snprintf(buf, len, "%ldh %02ldm", m / 60, m % 60);
    }
    return buf;
}

const char *fm_cli_format_wall_time(int64_t wall_ns, char *buf, size_t len)
{
    time_t secs = (time_t)(wall_ns / 1000000000);
    struct tm local;
    if (wall_ns <= 0 || !localtime_r(&secs, &local) ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%S%z", &local) == 0)
        snprintf(buf, len, "%s", FM_CLI_UNAVAILABLE);
    return buf;
}

const char *fm_cli_format_value(double v, const char *fmt, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "%s", FM_CLI_UNAVAILABLE);
    else
        snprintf(buf, len, fmt, v);
    return buf;
}

json_t *fm_cli_json_real(double v)
{
    return (isnan(v) || isinf(v)) ? json_null() : json_real(v);
}

json_t *fm_cli_json_int(int64_t v, int64_t missing)
{
    return v == missing ? json_null() : json_integer((json_int_t)v);
}

void fm_cli_json_set_run_timing(json_t *run_obj, const fm_run *run, double duration_s)
{
    char when[64];
    fm_cli_format_wall_time(run->start_wall_ns, when, sizeof when);
    json_object_set_new(run_obj, "start_time",
                        run->start_wall_ns > 0 ? json_string(when) : json_null());
    json_object_set_new(run_obj, "start_wall_ns", fm_cli_json_int(run->start_wall_ns, 0));
    json_object_set_new(run_obj, "duration_s", fm_cli_json_real(duration_s));
    json_object_set_new(run_obj, "gpus", json_integer(run->gpus));
    json_object_set_new(run_obj, "interval_ms",
                        fm_cli_json_real(run->interval_ms > 0 ? run->interval_ms : NAN));
}

int fm_cli_json_print(json_t *value)
{
    int rc = json_dumpf(value, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    fputc('\n', stdout);
    return (rc != 0 || ferror(stdout)) ? 1 : 0;
}
