/* firmus qualify — placeholder until its issue lands; replace this file. */
#include "cli.h"

int fm_cmd_qualify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fm_cli_error("qualify", "not built yet");
    return FM_EXIT_FAIL;
}
