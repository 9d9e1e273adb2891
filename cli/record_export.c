/* Auto-export after `firmus record`: the workload profile and the CSV trace
 * of the run just recorded, into workload_profiles/ beside the run store
 * (or --export-dir), unless --no-export (docs/WORKLOAD_EXPORT_GUIDE.md). */
#include "record_export.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "firmus/profile.h"
#include "firmus/store.h"

int fm_cli_record_export(const char *db_path, int64_t run_id, const char *dir, int quiet)
{
    char beside[1024];
    if (!dir) {
        char copy[1024];
        snprintf(copy, sizeof copy, "%s", db_path);
        snprintf(beside, sizeof beside, "%s/workload_profiles", dirname(copy));
        dir = beside;
    }
    fm_store *st;
    fm_error err = {0};
    char jp[600], cp[600];
    int rc = fm_store_open(db_path, &st, &err);
    if (rc == FM_OK) {
        rc = fm_profile_auto_export(st, run_id, dir, jp, sizeof jp, cp, sizeof cp, &err);
        fm_store_close(st);
    }
    if (quiet)
        return 0;
    if (rc == FM_OK)
        fprintf(stderr, "  profile       %s\n  trace         %s\n", jp, cp);
    else
        fprintf(stderr, "  profile       none: %s\n", err.msg);
    return 0;
}
