/* The sensor layer's front door: the list of backends, opening one by name,
 * thin wrappers over a backend's ops table, and the sample helpers. */
#include "firmus/sensor.h"

#include <math.h>
#include <string.h>
#include <strings.h>

extern const fm_backend_ops fm_backend_nvml;
extern const fm_backend_ops fm_backend_sim;

static const fm_backend_ops *const backends[] = {&fm_backend_nvml, &fm_backend_sim, NULL};

const fm_backend_ops *const *fm_backend_list(void)
{
    return backends;
}

const fm_backend_ops *fm_backend_find(const char *name)
{
    for (size_t i = 0; backends[i]; i++)
        if (!strcasecmp(backends[i]->name, name))
            return backends[i];
    return NULL;
}

int fm_sensor_open(const char *backend, const fm_backend_options *opt, fm_sensor *out,
                   fm_error *err)
{
    static const fm_backend_options defaults;
    const fm_backend_ops *ops = fm_backend_find(backend);
    if (!ops)
        return fm_fail(err, FM_ERR_USAGE, "unknown backend '%s' (use nvml or sim)", backend);
    out->ops = ops;
    out->state = NULL;
    int rc = ops->open(opt ? opt : &defaults, &out->state, err);
    if (rc != FM_OK)
        out->ops = NULL;
    return rc;
}

void fm_sensor_close(fm_sensor *s)
{
    if (s && s->ops && s->state)
        s->ops->close(s->state);
    if (s) {
        s->ops = NULL;
        s->state = NULL;
    }
}

int fm_sensor_device_count(fm_sensor *s)
{
    return s->ops->device_count(s->state);
}

int fm_sensor_device_info(fm_sensor *s, int index, fm_device_info *out, fm_error *err)
{
    return s->ops->device_info(s->state, index, out, err);
}

void fm_sensor_backend_info(fm_sensor *s, fm_backend_info *out)
{
    memset(out, 0, sizeof *out);
    s->ops->backend_info(s->state, out);
}

int fm_sensor_read(fm_sensor *s, int index, uint32_t fields, fm_sample *out, fm_error *err)
{
    return s->ops->read(s->state, index, fields, out, err);
}

fm_clock *fm_sensor_clock(fm_sensor *s)
{
    return s->ops->clock(s->state);
}

void fm_sample_clear(fm_sample *s, int64_t t_ns)
{
    memset(s, 0, sizeof *s);
    s->t_ns = t_ns;
    s->power_instant_w = NAN;
    s->power_avg_w = NAN;
    s->energy_j = NAN;
    s->temp_c = NAN;
    s->sm_clock_mhz = NAN;
    s->util_pct = NAN;
}

const char *fm_field_name(enum fm_field f)
{
    switch (f) {
    case FM_F_POWER_INSTANT:
        return "power_instant";
    case FM_F_POWER_AVG:
        return "power_avg_1s";
    case FM_F_ENERGY:
        return "energy_counter";
    case FM_F_TEMP:
        return "temperature";
    case FM_F_SM_CLOCK:
        return "sm_clock";
    case FM_F_UTIL:
        return "utilization";
    case FM_F_MEM_USED:
        return "memory_used";
    case FM_F_CLOCK_EVENTS:
        return "clock_events";
    }
    return "unknown";
}
