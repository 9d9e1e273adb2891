/* Shared helpers of the importers: line splitting, trimming, the per-GPU
 * sample arrays of an fm_import_log, and the power.draw meaning rule
 * (nvml.md §1: nvmlDeviceGetPowerUsage = nvidia-smi power.draw is a 1 s
 * average on Ampere-except-GA100 and newer, instantaneous on GA100 and older). */
#include "import_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fm_next_line(const char *data, size_t len, size_t *pos, fm_text_line *line)
{
    if (*pos >= len)
        return 0;
    const char *start = data + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - start) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    if (n > 0 && start[n - 1] == '\r')
        n--;
    line->start = start;
    line->len = n;
    line->terminated = nl != NULL;
    return 1;
}

void fm_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

void fm_copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

int fm_import_log_set_gpus(fm_import_log *log, int gpus, fm_error *err)
{
    if (gpus <= log->gpus)
        return FM_OK;
    fm_import_gpu *g = realloc(log->gpu, (size_t)gpus * sizeof *g);
    if (!g)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    memset(g + log->gpus, 0, (size_t)(gpus - log->gpus) * sizeof *g);
    for (int i = log->gpus; i < gpus; i++) {
        g[i].info.index = i;
        g[i].info.power_limit_w = NAN;
        g[i].info.idle_power_w = NAN;
        snprintf(g[i].info.arch, sizeof g[i].info.arch, "unknown");
    }
    log->gpu = g;
    log->gpus = gpus;
    return FM_OK;
}

int fm_import_log_push(fm_import_log *log, int gpu, const fm_sample *s, fm_error *err)
{
    fm_import_gpu *g = &log->gpu[gpu];
    if (g->n > 0 && s->t_ns <= g->samples[g->n - 1].t_ns) {
        log->dropped_rows++;
        return FM_OK;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        fm_sample *p = realloc(g->samples, cap * sizeof *p);
        if (!p)
            return fm_fail(err, FM_ERR_NOMEM, "out of memory");
        g->samples = p;
        g->cap = cap;
    }
    g->samples[g->n++] = *s;
    log->rows++;
    return FM_OK;
}

void fm_import_log_compact(fm_import_log *log)
{
    int k = 0;
    for (int g = 0; g < log->gpus; g++) {
        if (log->gpu[g].n == 0) {
            free(log->gpu[g].samples);
            continue;
        }
        log->gpu[k++] = log->gpu[g]; /* info.index keeps the log's own index */
    }
    log->gpus = k;
}

void fm_import_log_free(fm_import_log *log)
{
    if (!log)
        return;
    for (int i = 0; i < log->gpus; i++)
        free(log->gpu[i].samples);
    free(log->gpu);
    memset(log, 0, sizeof *log);
}

static int name_has(const char *name, const char *word)
{
    return strcasestr(name, word) != NULL;
}

int fm_power_draw_is_instant(const char *gpu_name)
{
    if (!gpu_name || !*gpu_name)
        return -1;
    /* GA100 parts (A100, A30) and everything before Ampere. */
    static const char *const instant[] = {"A100", "A30",     "V100",     "P100", "P40",
                                          "P4 ",  "T4",      "K80",      "K40",  "M60",
                                          "M40",  "Titan V", "Quadro GV"};
    for (size_t i = 0; i < sizeof instant / sizeof instant[0]; i++)
        if (name_has(gpu_name, instant[i]))
            return 1;
    return 0;
}

const char *fm_arch_from_name(const char *gpu_name)
{
    if (!gpu_name)
        return "unknown";
    if (name_has(gpu_name, "H100") || name_has(gpu_name, "H200") || name_has(gpu_name, "H800") ||
        name_has(gpu_name, "GH200"))
        return "hopper";
    if (name_has(gpu_name, "B200") || name_has(gpu_name, "B100") || name_has(gpu_name, "GB200") ||
        name_has(gpu_name, "B300"))
        return "blackwell";
    if (name_has(gpu_name, "L40") || name_has(gpu_name, "L4") || name_has(gpu_name, "RTX 40"))
        return "ada";
    if (name_has(gpu_name, "A100") || name_has(gpu_name, "A30") || name_has(gpu_name, "A10") ||
        name_has(gpu_name, "A40") || name_has(gpu_name, "RTX 30") || name_has(gpu_name, "A6000"))
        return "ampere";
    if (name_has(gpu_name, "V100") || name_has(gpu_name, "Titan V"))
        return "volta";
    return "unknown";
}

uint32_t fm_power_field_flag(int power_field)
{
    return power_field == FM_PF_INSTANT ? FM_F_POWER_INSTANT : FM_F_POWER_AVG;
}

void fm_sample_store(fm_sample *s, uint32_t field, double value)
{
    switch (field) {
    case FM_F_POWER_INSTANT:
        s->power_instant_w = value;
        break;
    case FM_F_POWER_AVG:
        s->power_avg_w = value;
        break;
    case FM_F_TEMP:
        s->temp_c = value;
        break;
    case FM_F_UTIL:
        s->util_pct = value;
        break;
    case FM_F_SM_CLOCK:
        s->sm_clock_mhz = value;
        break;
    case FM_F_MEM_USED:
        s->mem_used_bytes = (uint64_t)value;
        break;
    default:
        return;
    }
    s->valid |= field;
}

void fm_decide_power_field(fm_import_log *log, const fm_import_options *opt, const char *gpu_name)
{
    int flag = opt ? opt->power_field : FM_PF_AUTO;
    if (flag == FM_PF_INSTANT || flag == FM_PF_AVG) {
        log->power_field = flag;
        snprintf(log->power_rule, sizeof log->power_rule, "set by --power-field %s",
                 flag == FM_PF_INSTANT ? "instant" : "avg");
        return;
    }
    int instant = fm_power_draw_is_instant(gpu_name);
    if (instant == 1) {
        log->power_field = FM_PF_INSTANT;
        snprintf(log->power_rule, sizeof log->power_rule,
                 "GPU '%.60s' is GA100 or older: power.draw is instantaneous", gpu_name);
    } else if (instant == 0) {
        log->power_field = FM_PF_AVG;
        snprintf(log->power_rule, sizeof log->power_rule,
                 "GPU '%.60s' is Ampere (not GA100) or newer: power.draw is a 1 s average",
                 gpu_name);
    } else {
        log->power_field = FM_PF_AVG;
        snprintf(log->power_rule, sizeof log->power_rule,
                 "GPU model unknown: power.draw assumed to be the 1 s average (pass "
                 "--power-field instant for A100 and older)");
    }
}
