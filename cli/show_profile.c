/* The "Workload profile" section of `firmus show`: what `firmus export`
 * would write for the run, summarised (phases per type, tier, thermal
 * time constant, detection against markers). */
#include "show_profile.h"

#include <stdio.h>
#include <stdlib.h>

#include "firmus/profile.h"

void fm_show_profile_text(fm_store *st, int64_t run_id)
{
    fm_profile *p;
    fm_error err;
    if (fm_profile_build(st, run_id, NULL, &p, &err) != FM_OK) {
        printf("Workload profile\n  none: %s\n", err.msg);
        return;
    }
    fm_profile_print_summary(p, stdout);
    fm_profile_free(p);
}

json_t *fm_show_profile_json(fm_store *st, int64_t run_id)
{
    fm_profile *p;
    fm_error err;
    if (fm_profile_build(st, run_id, NULL, &p, &err) != FM_OK)
        return json_pack("{ss}", "error", err.msg);
    char *text = fm_profile_json_text(p);
    fm_profile_free(p);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!root)
        return json_pack("{ss}", "error", "profile could not be built");
    json_object_del(root, "power_trace");
    json_t *x = json_object_get(root, "x_firmus");
    if (x) {
        json_object_del(x, "aggregate_power_trace");
        json_t *ph = json_object_get(x, "phases");
        if (ph)
            json_object_del(ph, "segments");
    }
    return root;
}
