/* Command-line options shared by commands that open a sensor backend (see
 * common_opts.h). Only argument parsing: no measurement logic. */
#include "common_opts.h"
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void fm_cli_backend_opts_init(fm_cli_backend_opts *o, const char *default_backend)
{
    memset(o, 0, sizeof *o);
    o->backend = default_backend;
}

int fm_cli_parse_int(const char *text, int min, int max, int *out)
{
    if (!text || !*text)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

int fm_cli_parse_u64(const char *text, uint64_t *out)
{
    if (!text || !*text || *text == '-')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int fm_cli_parse_int64(const char *text, int64_t min, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min)
        return -1;
    *out = v;
    return 0;
}

int fm_cli_parse_double(const char *text, double min, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < min)
        return -1;
    *out = v;
    return 0;
}

int fm_cli_option_value(const char *cmd, const char *name, int argc, char **argv, int *i,
                        const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fm_cli_error(cmd, "%s needs a value", name);
        return -1;
    }
    *i += 1;
    *value = argv[*i];
    return 1;
}

static int bad_value(const char *cmd, const char *name, const char *value, const char *expected)
{
    fm_cli_error(cmd, "%s '%s': expected %s", name, value, expected);
    return FM_ERR_USAGE;
}

int fm_cli_backend_option(const char *cmd, int argc, char **argv, int *i, fm_cli_backend_opts *o)
{
    const char *value = NULL;
    int found;
    if ((found = fm_cli_option_value(cmd, "--backend", argc, argv, i, &value)) != 0) {
        if (found < 0)
            return FM_ERR_USAGE;
        if (!fm_backend_find(value))
            return bad_value(cmd, "--backend", value, "nvml or sim");
        o->backend = value;
        return 1;
    }
    if ((found = fm_cli_option_value(cmd, "--library", argc, argv, i, &value)) != 0) {
        if (found < 0)
            return FM_ERR_USAGE;
        o->open.library_path = value;
        return 1;
    }
    if ((found = fm_cli_option_value(cmd, "--gpus", argc, argv, i, &value)) != 0) {
        if (found < 0)
            return FM_ERR_USAGE;
        if (!o->sim_option)
            o->sim_option = "--gpus";
        if (fm_cli_parse_int(value, 1, 64, &o->open.sim_gpus) != 0)
            return bad_value(cmd, "--gpus", value, "a whole number from 1 to 64");
        return 1;
    }
    if ((found = fm_cli_option_value(cmd, "--preset", argc, argv, i, &value)) != 0) {
        if (found < 0)
            return FM_ERR_USAGE;
        if (!o->sim_option)
            o->sim_option = "--preset";
        o->open.sim_preset = value;
        return 1;
    }
    if ((found = fm_cli_option_value(cmd, "--seed", argc, argv, i, &value)) != 0) {
        if (found < 0)
            return FM_ERR_USAGE;
        if (!o->sim_option)
            o->sim_option = "--seed";
        if (fm_cli_parse_u64(value, &o->open.sim_seed) != 0)
            return bad_value(cmd, "--seed", value, "a non-negative whole number");
        return 1;
    }
    if ((found = fm_cli_option_value(cmd, "--pattern", argc, argv, i, &value)) != 0) {
        if (found < 0)
            return FM_ERR_USAGE;
        if (!o->sim_option)
            o->sim_option = "--pattern";
        if (strcasecmp(value, "single") && strcasecmp(value, "serving"))
            return bad_value(cmd, "--pattern", value, "single or serving");
        o->open.sim_pattern = value;
        return 1;
    }
    return 0;
}

int fm_cli_backend_opts_check(const char *cmd, const fm_cli_backend_opts *o)
{
    int is_sim = !strcasecmp(o->backend, "sim");
    if (is_sim && o->open.library_path) {
        fm_cli_error(cmd, "--library applies to --backend nvml only");
        return FM_ERR_USAGE;
    }
    if (!is_sim && o->sim_option) {
        fm_cli_error(cmd, "%s applies to --backend sim only", o->sim_option);
        return FM_ERR_USAGE;
    }
    return FM_OK;
}

void fm_cli_backend_options_help(FILE *out, const char *default_backend)
{
    fprintf(out,
            "  --backend NAME    nvml (NVIDIA GPUs through libnvidia-ml.so.1) or sim\n"
            "                    (built-in simulated GPUs); default %s\n"
            "  --library PATH    nvml: load this NVML library instead of libnvidia-ml.so.1\n"
            "                    (also: environment variable FIRMUS_NVML_LIBRARY)\n"
            "  --gpus N          sim: number of simulated GPUs (default 1)\n"
            "  --preset NAME     sim: model preset (default Qwen3-32B)\n"
            "  --seed N          sim: random seed (default 1)\n"
            "  --pattern NAME    sim: single (one request) or serving (random arrivals)\n",
            default_backend);
}
