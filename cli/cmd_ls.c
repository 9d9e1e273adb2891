/* firmus ls — placeholder until its issue lands; replace this file. */
#include "cli.h"

int fm_cmd_ls(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fm_cli_error("ls", "not built yet");
    return FM_EXIT_FAIL;
}
