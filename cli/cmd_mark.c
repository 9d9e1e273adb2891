/* firmus mark — placeholder until its issue lands; replace this file. */
#include "cli.h"

int fm_cmd_mark(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fm_cli_error("mark", "not built yet");
    return FM_EXIT_FAIL;
}
