/* libfirmus: measure the energy of GPU model inference and turn it into
 * workload profiles, cost per token and Model-to-Grid tiers. This umbrella
 * header includes the whole public API. */
#ifndef FIRMUS_FIRMUS_H
#define FIRMUS_FIRMUS_H

#include "firmus/common.h"
#include "firmus/sensor.h"
#include "firmus/sim.h"
#include "firmus/trace.h"
#include "firmus/store.h"
#include "firmus/record.h"
#include "firmus/metrics.h"
#include "firmus/phases.h"
#include "firmus/profile.h"
#include "firmus/import.h"
#include "firmus/econ.h"

#endif
