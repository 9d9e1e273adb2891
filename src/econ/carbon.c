/* Grid carbon intensities (see firmus/econ.h): a small constant table of
 * regions, each with its value, what it counts and where it comes from.
 * Every figure is carried over from ../shared/reference/economics.md
 * section 2 with the source named there; none is invented. */
#include "firmus/econ.h"

#include <string.h>
#include <strings.h>

static const fm_carbon_region regions[] = {
    {"singapore", "Singapore (EMA grid emission factor 2021)", 405.7, "operating margin, CO2 only",
     "EMA Grid Emission Factor 2021, 0.4057 kg CO2/kWh, via the Matcha Initiative citing EMA "
     "(economics.md 2.4, confidence M)"},
    {"singapore-2017", "Singapore (EMA grid emission factor 2017)", 419.2,
     "operating margin, CO2 only",
     "EMA Singapore Energy Statistics 2018: 0.4192 kg CO2/kWh (economics.md 2.4, confidence H)"},
    {"singapore-owid", "Singapore (OWID 2023, CodeCarbon)", 470.783, "lifecycle CO2e",
     "mlco2/codecarbon v3.3.0 data/private_infra/global_energy_mix.json, SGP 2023 from Our World "
     "in Data (economics.md 2.1)"},
    {"australia", "Australia, national (NGA 2024)", 630.0, "scope 2, consumption-based CO2e",
     "National Greenhouse Accounts Factors 2024, national scope 2 (economics.md 2.4, confidence "
     "M)"},
    {"au-nsw", "Australia NEM: NSW + ACT (NGA 2024)", 660.0, "scope 2, consumption-based CO2e",
     "National Greenhouse Accounts Factors 2024 (economics.md 2.4, confidence M)"},
    {"au-vic", "Australia NEM: Victoria (NGA 2024)", 770.0, "scope 2, consumption-based CO2e",
     "National Greenhouse Accounts Factors 2024 (economics.md 2.4, confidence M)"},
    {"au-qld", "Australia NEM: Queensland (NGA 2024)", 710.0, "scope 2, consumption-based CO2e",
     "National Greenhouse Accounts Factors 2024 (economics.md 2.4, confidence M)"},
    {"au-sa", "Australia NEM: South Australia (NGA 2024)", 230.0, "scope 2, consumption-based CO2e",
     "National Greenhouse Accounts Factors 2024 (economics.md 2.4, confidence M)"},
    {"au-tas", "Australia NEM: Tasmania (NGA 2024)", 150.0,
     "scope 2, consumption-based CO2e (includes Basslink imports)",
     "National Greenhouse Accounts Factors 2024 (economics.md 2.4, confidence M)"},
    {"au-tas-generation", "Tasmania, generation-based (firmus site model)", 30.0,
     "generation-based (hydro 82 %), excludes imports",
     "firmus-ai-factory environment/site_conditions.py carbon_intensity_kg_mwh (economics.md 2.4; "
     "not verified externally)"},
    {"usa", "United States (OWID 2023, CodeCarbon)", 369.473, "lifecycle CO2e",
     "mlco2/codecarbon v3.3.0 global_energy_mix.json, USA 2023 (economics.md 2.1)"},
    {"world", "World average (CodeCarbon default)", 475.0, "CO2e",
     "mlco2/codecarbon carbon_intensity_per_source.json, citing the IEA 2019 report "
     "(economics.md 2.1)"},
};

const fm_carbon_region *fm_carbon_regions(size_t *count)
{
    if (count)
        *count = sizeof regions / sizeof regions[0];
    return regions;
}

const fm_carbon_region *fm_carbon_region_find(const char *key)
{
    if (!key)
        return NULL;
    for (size_t i = 0; i < sizeof regions / sizeof regions[0]; i++)
        if (!strcasecmp(key, regions[i].key))
            return &regions[i];
    return NULL;
}
