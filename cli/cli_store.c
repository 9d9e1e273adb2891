/* Opening the run store for the commands that read runs (ls, show,
 * export): the store must already exist - a typo in --db must not create
 * an empty database - and failures are one-line messages. */
#include "cli.h"

#include <unistd.h>

int fm_cli_open_existing_store(const char *cmd, const char *db_path, const char *missing_hint,
                               fm_store **st)
{
    *st = NULL;
    if (access(db_path, F_OK) != 0) {
        fm_cli_error(cmd, "%s: no run store here (%s)", db_path, missing_hint);
        return FM_EXIT_FAIL;
    }
    fm_error err = {0};
    int rc = fm_store_open(db_path, st, &err);
    if (rc) {
        fm_cli_error(cmd, "%s", err.msg);
        return fm_cli_exit_code(rc);
    }
    return FM_EXIT_OK;
}
