/* firmus: entry point. Finds the command named by argv[1] and runs it;
 * every command lives in its own cmd_<name>.c and only parses arguments
 * and calls libfirmus. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const fm_command commands[] = {
    {"devices", "list GPUs and what their sensors support", fm_cmd_devices},
    {"record", "sample GPU power while a command runs (or for a duration)", fm_cmd_record},
    {"mark", "send a phase/token marker to the running recorder", fm_cmd_mark},
    {"ls", "list recorded and imported runs", fm_cmd_ls},
    {"show", "energy metrics, sensor cross-check and phases of a run", fm_cmd_show},
    {"export", "write a workload profile (JSON) and trace (CSV) of a run", fm_cmd_export},
    {"import", "import nvidia-smi logs and marker files as runs", fm_cmd_import},
    {"cost", "energy cost per million tokens with Model-to-Grid discount", fm_cmd_cost},
    {"qualify", "Model-to-Grid tier of a run (or of a command it records)", fm_cmd_qualify},
};
static const size_t command_count = sizeof commands / sizeof commands[0];

void fm_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "firmus %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int fm_cli_exit_code(int status)
{
    switch (status) {
    case FM_OK:
        return FM_EXIT_OK;
    case FM_ERR_USAGE:
        return FM_EXIT_USAGE;
    case FM_ERR_NO_LIBRARY:
        return FM_EXIT_NO_NVML;
    case FM_ERR_GPU_LOST:
        return FM_EXIT_GPU_LOST;
    case FM_ERR_PARSE:
        return FM_EXIT_INPUT;
    default:
        return FM_EXIT_FAIL;
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: firmus <command> [options]   (firmus <command> --help)\n\n"
                 "Measures the energy of GPU model inference and turns it into workload\n"
                 "profiles, cost per token and Model-to-Grid tiers.\n\ncommands:\n");
    for (size_t i = 0; i < command_count; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nfirmus --version prints the version. See firmus(1) and docs/.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FM_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return FM_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("firmus %s\n", fm_version());
        return FM_EXIT_OK;
    }
    for (size_t i = 0; i < command_count; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "firmus: unknown command '%s' (firmus --help lists them)\n", argv[1]);
    return FM_EXIT_USAGE;
}
