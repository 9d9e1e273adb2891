/* The firmus command-line programs: one file per command (cmd_<name>.c),
 * each only parsing arguments and calling libfirmus. Shared here: exit
 * codes and small helpers for messages. */
#ifndef FIRMUS_CLI_H
#define FIRMUS_CLI_H

#include "firmus/common.h"
#include "firmus/store.h"

/* Exit codes of firmus (documented in firmus(1)). `record -- CMD` exits
 * with the child's code instead. */
enum fm_exit {
    FM_EXIT_OK = 0,
    FM_EXIT_FAIL = 1,     /* the operation failed; the message says why */
    FM_EXIT_USAGE = 2,    /* wrong flags or arguments */
    FM_EXIT_NO_NVML = 3,  /* libnvidia-ml.so.1 not found */
    FM_EXIT_GPU_LOST = 4, /* a GPU fell off the bus during the command */
    FM_EXIT_INPUT = 5,    /* malformed input file (the message names file and line) */
};

/* Prints "firmus <cmd>: <message>" to stderr. */
void fm_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Maps a library status code to an exit code. */
int fm_cli_exit_code(int status);

/* Opens the run store at db_path for a command that reads runs; the store
 * is never created. When it is missing prints "firmus <cmd>: <db_path>: no
 * run store here (<missing_hint>)" and returns FM_EXIT_FAIL; when it cannot
 * be opened prints the reason and returns its exit code. FM_EXIT_OK with
 * *st open otherwise (cli_store.c). */
int fm_cli_open_existing_store(const char *cmd, const char *db_path, const char *missing_hint,
                               fm_store **st);

/* One entry per command. */
typedef struct fm_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} fm_command;

int fm_cmd_devices(int argc, char **argv);
int fm_cmd_record(int argc, char **argv);
int fm_cmd_mark(int argc, char **argv);
int fm_cmd_ls(int argc, char **argv);
int fm_cmd_show(int argc, char **argv);
int fm_cmd_export(int argc, char **argv);
int fm_cmd_import(int argc, char **argv);
int fm_cmd_cost(int argc, char **argv);
int fm_cmd_qualify(int argc, char **argv);

#endif
