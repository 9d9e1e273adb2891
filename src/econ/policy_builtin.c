/* The built-in Model-to-Grid policies: the exact bytes of
 * policies/m2g-cv-only.json and policies/m2g-original-code.json, so the
 * installed CLI needs no data files. tests/test_econ_policy.c checks that
 * these texts and the files stay identical. */
#include "econ/econ_builtin.h"

#include <stddef.h>
#include <string.h>

static const char cv_only_text[] =
    "{\n"
    "  \"format\": \"firmus-m2g-policy/1\",\n"
    "  \"name\": \"m2g-cv-only\",\n"
    "  \"description\": \"Model-to-Grid tiers by power variability alone: CV <= 0.10 tier 1 (20 "
    "%), CV <= 0.15 tier 2 (10 %), else tier 3 (0 %). The firmus default.\",\n"
    "  \"source\": \"firmus-model-evaluation notebooks/POWER_VARIANCE_RESULTS.md and "
    "firmus-ai-factory BENCHMARK_MODELS (CV only); discounts 20/10/0 % as applied by the "
    "firmus-ai-factory simulations (economics.md 5.3)\",\n"
    "  \"measurement\": {\n"
    "    \"window\": \"decode\",\n"
    "    \"resolution_s\": 0\n"
    "  },\n"
    "  \"tiers\": [\n"
    "    {\n"
    "      \"tier\": 1,\n"
    "      \"name\": \"Tier 1 (efficient)\",\n"
    "      \"profile_tier\": \"tier_1_efficient\",\n"
    "      \"discount_percent\": 20,\n"
    "      \"when\": { \"power_cv_at_most\": 0.10 }\n"
    "    },\n"
    "    {\n"
    "      \"tier\": 2,\n"
    "      \"name\": \"Tier 2 (standard)\",\n"
    "      \"profile_tier\": \"tier_2_standard\",\n"
    "      \"discount_percent\": 10,\n"
    "      \"when\": { \"power_cv_at_most\": 0.15 }\n"
    "    },\n"
    "    {\n"
    "      \"tier\": 3,\n"
    "      \"name\": \"Tier 3 (high variance)\",\n"
    "      \"profile_tier\": \"tier_3_high_variance\",\n"
    "      \"discount_percent\": 0,\n"
    "      \"when\": {}\n"
    "    }\n"
    "  ]\n"
    "}\n";

static const char original_code_text[] =
    "{\n"
    "  \"format\": \"firmus-m2g-policy/1\",\n"
    "  \"name\": \"m2g-original-code\",\n"
    "  \"description\": \"Model-to-Grid tiers as the original code's qualify_for_discount: CV < "
    "0.10 and average power < 150 W tier 1 (20 %), CV < 0.15 and average power < 200 W tier 2 (10 "
    "%), else tier 3 (0 %). Every H100/H200 LLM workload (400-700 W per GPU) is tier 3 under "
    "it.\",\n"
    "  \"source\": \"firmus-model-evaluation qualify_for_discount and firmus-ai-factory ModelTier "
    "comments (economics.md 5.3)\",\n"
    "  \"measurement\": {\n"
    "    \"window\": \"decode\",\n"
    "    \"resolution_s\": 0\n"
    "  },\n"
    "  \"tiers\": [\n"
    "    {\n"
    "      \"tier\": 1,\n"
    "      \"name\": \"Tier 1 (efficient)\",\n"
    "      \"profile_tier\": \"tier_1_efficient\",\n"
    "      \"discount_percent\": 20,\n"
    "      \"when\": { \"power_cv_below\": 0.10, \"avg_power_below_w\": 150 }\n"
    "    },\n"
    "    {\n"
    "      \"tier\": 2,\n"
    "      \"name\": \"Tier 2 (standard)\",\n"
    "      \"profile_tier\": \"tier_2_standard\",\n"
    "      \"discount_percent\": 10,\n"
    "      \"when\": { \"power_cv_below\": 0.15, \"avg_power_below_w\": 200 }\n"
    "    },\n"
    "    {\n"
    "      \"tier\": 3,\n"
    "      \"name\": \"Tier 3 (high variance)\",\n"
    "      \"profile_tier\": \"tier_3_high_variance\",\n"
    "      \"discount_percent\": 0,\n"
    "      \"when\": {}\n"
    "    }\n"
    "  ]\n"
    "}\n";

static const struct {
    const char *name;
    const char *text;
} builtin_policies[] = {
    {"m2g-cv-only", cv_only_text},
    {"m2g-original-code", original_code_text},
};

const char *econ_builtin_policy(const char *name)
{
    for (size_t i = 0; i < sizeof builtin_policies / sizeof builtin_policies[0]; i++)
        if (!strcmp(name, builtin_policies[i].name))
            return builtin_policies[i].text;
    return NULL;
}
