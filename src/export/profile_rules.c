/* Small rules of the profile export that a policy may replace: the trace
 * resolution for a run's length, and the Model-to-Grid tier by the CV-only
 * rule (economics.md §5.3). */
#include "firmus/profile.h"

#include <math.h>

double fm_profile_auto_resolution_s(double duration_s, size_t max_points)
{
    static const double steps[] = {0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600};
    if (max_points < 2)
        max_points = 2;
    if (duration_s <= 3600.0)
        return 0.1;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (duration_s / steps[i] <= (double)max_points)
            return steps[i];
    return 600;
}

const char *fm_tier_cv_only(double decode_cv)
{
    if (isnan(decode_cv))
        return NULL;
    if (decode_cv <= 0.10)
        return "tier_1_efficient";
    if (decode_cv <= 0.15)
        return "tier_2_standard";
    return "tier_3_high_variance";
}
