/* Running energy of one GPU during a recording and the live status line
 * (internal to src/record; see live.c). */
#ifndef FIRMUS_RECORD_LIVE_H
#define FIRMUS_RECORD_LIVE_H

#include "firmus/sensor.h"

#include <stdio.h>

typedef struct fm_live_energy {
    double first_counter_j, last_counter_j; /* NAN until the counter was seen */
    double instant_j;                       /* held instant power, integrated */
    int64_t last_t_ns;
    int have_last;
    double last_power_w; /* last instant power, NAN if missing */
    double last_avg_w;   /* last 1 s average */
} fm_live_energy;

void fm_live_energy_init(fm_live_energy *e);
void fm_live_energy_add(fm_live_energy *e, const fm_sample *s);
/* Energy so far: the counter difference when the counter works, else the
 * integrated instant power; *source names which. */
double fm_live_energy_j(const fm_live_energy *e, const char **source);
/* Latest power: instant, else the 1 s average; NAN if neither. */
double fm_live_power_w(const fm_live_energy *e);

/* One status line (carriage return, no newline): elapsed, power per GPU
 * (up to 8 shown), total power and energy so far. */
void fm_live_print(FILE *out, double elapsed_s, const fm_live_energy *gpus, const int *active,
                   int n);
void fm_live_clear(FILE *out);

#endif
