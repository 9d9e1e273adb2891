/* firmus cost — placeholder until its issue lands; replace this file. */
#include "cli.h"

int fm_cmd_cost(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fm_cli_error("cost", "not built yet");
    return FM_EXIT_FAIL;
}
