/* firmus devices — lists the GPUs a sensor backend sees and which readings
 * each can give (probed when the backend opens), as a table or as JSON.
 * Output formats: docs/NVML.md ("firmus devices"). */
#include "cli.h"
#include "common_opts.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "devices"

/* Every reading, in report order, split into power and the rest. */
static const enum fm_field power_fields[] = {FM_F_POWER_INSTANT, FM_F_POWER_AVG, FM_F_ENERGY};
static const enum fm_field other_fields[] = {FM_F_TEMP, FM_F_SM_CLOCK, FM_F_UTIL, FM_F_MEM_USED,
                                             FM_F_CLOCK_EVENTS};
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: firmus devices [--backend nvml|sim] [--json] [--library PATH]\n"
                 "                      [--gpus N] [--preset NAME] [--seed N] [--pattern NAME]\n\n"
                 "Lists the GPUs of a sensor backend: index, name, architecture, enforced\n"
                 "power limit (W) and the readings each supports (probed once at open),\n"
                 "then the driver and NVML versions. --json prints the same as a JSON\n"
                 "document (format in docs/NVML.md).\n\noptions:\n"
                 "  --json            print JSON instead of the table\n");
    fm_cli_backend_options_help(out, "nvml");
    fprintf(out, "  --help            this text\n\n"
                 "exit codes: 0 ok, 2 bad option, 3 NVIDIA library not found, 1 other failure\n");
}

/* "a,b,c" of the supported fields in `list`, or "none". */
static void field_list(uint32_t supported, const enum fm_field *list, size_t n, char *out,
                       size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!(supported & list[i]))
            continue;
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s", used ? "," : "", fm_field_name(list[i]));
    }
    if (!out[0])
        snprintf(out, size, "none");
}

static int name_width(const fm_device_info *infos, int count)
{
    int width = 4;
    for (int i = 0; i < count; i++)
        if ((int)strlen(infos[i].name) > width)
            width = (int)strlen(infos[i].name);
    return width;
}

static void print_table(const fm_backend_info *backend, const fm_device_info *infos, int count)
{
    int width = name_width(infos, count);
    printf("%-3s  %-*s  %-9s  %7s  %-42s  %s\n", "GPU", width, "NAME", "ARCH", "LIMIT",
           "POWER READINGS", "OTHER READINGS");
    for (int i = 0; i < count; i++) {
        const fm_device_info *d = &infos[i];
        char limit[16], power[96], other[128];
        if (isnan(d->power_limit_w))
            snprintf(limit, sizeof limit, "n/a");
        else
            snprintf(limit, sizeof limit, "%.0f W", d->power_limit_w);
        field_list(d->supported, power_fields, COUNT_OF(power_fields), power, sizeof power);
        field_list(d->supported, other_fields, COUNT_OF(other_fields), other, sizeof other);
        printf("%-3d  %-*s  %-9s  %7s  %-42s  %s\n", d->index, width, d->name, d->arch, limit,
               power, other);
    }
    if (count == 0)
        printf("(no GPUs)\n");
    for (int i = 0; i < count; i++)
        if (!(infos[i].supported & FM_F_POWER_INSTANT))
            printf("note: GPU %d gives no instant power; phase edges are limited to what %s "
                   "shows\n",
                   infos[i].index,
                   (infos[i].supported & FM_F_POWER_AVG) ? "the 1 s average"
                                                         : "the energy counter");
    printf("backend %s: driver %s, NVML %s%s%s\n", backend->backend,
           backend->driver_version[0] ? backend->driver_version : "n/a",
           backend->nvml_version[0] ? backend->nvml_version : "n/a",
           backend->library_path[0] ? ", library " : "", backend->library_path);
}

static json_t *text_or_null(const char *text)
{
    return text[0] ? json_string(text) : json_null();
}

static json_t *number_or_null(double x)
{
    return isnan(x) ? json_null() : json_real(x);
}

static json_t *device_json(const fm_device_info *d)
{
    json_t *caps = json_object();
    for (size_t i = 0; i < COUNT_OF(power_fields); i++)
        json_object_set_new(caps, fm_field_name(power_fields[i]),
                            json_boolean(d->supported & power_fields[i]));
    for (size_t i = 0; i < COUNT_OF(other_fields); i++)
        json_object_set_new(caps, fm_field_name(other_fields[i]),
                            json_boolean(d->supported & other_fields[i]));
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(d->index));
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "uuid", text_or_null(d->uuid));
    json_object_set_new(o, "pci_bus_id", text_or_null(d->pci_bus_id));
    json_object_set_new(o, "arch", json_string(d->arch));
    json_object_set_new(o, "power_limit_w", number_or_null(d->power_limit_w));
    json_object_set_new(o, "idle_power_w", number_or_null(d->idle_power_w));
    json_object_set_new(o, "power_instant_source", text_or_null(d->power_instant_source));
    json_object_set_new(o, "power_avg_source", text_or_null(d->power_avg_source));
    json_object_set_new(o, "energy_source", text_or_null(d->energy_source));
    json_object_set_new(o, "capabilities", caps);
    return o;
}

static int print_json(const fm_backend_info *backend, const fm_device_info *infos, int count)
{
    json_t *root = json_object();
    json_object_set_new(root, "backend", json_string(backend->backend));
    json_object_set_new(root, "driver_version", text_or_null(backend->driver_version));
    json_object_set_new(root, "nvml_version", text_or_null(backend->nvml_version));
    json_object_set_new(root, "library_path", text_or_null(backend->library_path));
    json_t *devices = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(devices, device_json(&infos[i]));
    json_object_set_new(root, "devices", devices);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) {
        fm_cli_error(CMD, "cannot format the JSON output");
        return FM_EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return FM_EXIT_OK;
}

/* Opens the backend, collects what it knows and prints it. */
static int list_devices(const fm_cli_backend_opts *o, int as_json)
{
    fm_sensor sensor;
    fm_error err = {0};
    int rc = fm_sensor_open(o->backend, &o->open, &sensor, &err);
    if (rc != FM_OK) {
        fm_cli_error(CMD, "%s", err.msg);
        return fm_cli_exit_code(rc);
    }
    fm_backend_info backend;
    fm_sensor_backend_info(&sensor, &backend);
    int count = fm_sensor_device_count(&sensor);
    fm_device_info *infos = calloc(count > 0 ? (size_t)count : 1, sizeof *infos);
    if (!infos) {
        fm_sensor_close(&sensor);
        fm_cli_error(CMD, "out of memory");
        return FM_EXIT_FAIL;
    }
    for (int i = 0; i < count && rc == FM_OK; i++)
        rc = fm_sensor_device_info(&sensor, i, &infos[i], &err);
    int exit_code;
    if (rc != FM_OK) {
        fm_cli_error(CMD, "%s", err.msg);
        exit_code = fm_cli_exit_code(rc);
    } else if (as_json) {
        exit_code = print_json(&backend, infos, count);
    } else {
        print_table(&backend, infos, count);
        exit_code = FM_EXIT_OK;
    }
    free(infos);
    fm_sensor_close(&sensor);
    return exit_code;
}

int fm_cmd_devices(int argc, char **argv)
{
    fm_cli_backend_opts opts;
    fm_cli_backend_opts_init(&opts, "nvml");
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return FM_EXIT_OK;
        }
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
            continue;
        }
        int found = fm_cli_backend_option(CMD, argc, argv, &i, &opts);
        if (found < 0)
            return FM_EXIT_USAGE;
        if (found == 0) {
            fm_cli_error(CMD, "unknown argument '%s' (firmus devices --help)", argv[i]);
            return FM_EXIT_USAGE;
        }
    }
    if (fm_cli_backend_opts_check(CMD, &opts) != FM_OK)
        return FM_EXIT_USAGE;
    return list_devices(&opts, as_json);
}
