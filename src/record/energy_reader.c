/* The energy-counter thread. On a real H100 one
 * nvmlDeviceGetTotalEnergyConsumption call takes 2.8 ms (median) and up to
 * 15-18 ms (docs/NVML.md), while the power readings take under 1 us; read
 * in the sampling loop it would make 10-25 ms ticks late. The counter only
 * changes every 100 ms, so this thread reads it on its own grid (default
 * every 100 ms, on absolute deadlines from the run's t0), GPU after GPU,
 * and leaves each value in a per-GPU mailbox. The sampling loop attaches
 * the newest value to that GPU's next sample (rows of one GPU must stay in
 * time order in the store, so the thread writes no rows of its own): the
 * value in a row was read at most one tick (plus one counter read) before
 * the row's time stamp; how much is recorded (record.energy_max_age_ms).
 * Used only with backends that may be read from two threads at once (nvml). */
#include "record/record_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void timespec_at(struct timespec *ts, int64_t t_ns)
{
    ts->tv_sec = t_ns / 1000000000;
    ts->tv_nsec = t_ns % 1000000000;
}

/* Reads the counter of every GPU not lost into its mailbox. */
static void read_round(fm_energy_reader *er)
{
    for (int i = 0; i < er->gpus; i++) {
        if (er->lost[i])
            continue;
        fm_sample s;
        fm_sample_clear(&s, 0);
        fm_error rerr = {0};
        int rc = fm_sensor_read(er->sensor, er->dev_index[i], FM_F_ENERGY, &s, &rerr);
        int64_t read_ns = fm_monotonic_ns();
        if (rc == FM_ERR_GPU_LOST) {
            er->lost[i] = 1; /* the sampling loop notes it and stores the marker */
            continue;
        }
        if (rc != FM_OK || !(s.valid & FM_F_ENERGY)) {
            er->read_errors += rc != FM_OK;
            continue; /* the sample goes without a counter value this time */
        }
        pthread_mutex_lock(&er->mu);
        er->box[i].energy_j = s.energy_j;
        er->box[i].read_ns = read_ns;
        er->box[i].fresh = 1;
        pthread_mutex_unlock(&er->mu);
    }
    er->rounds++;
}

static void *energy_main(void *arg)
{
    fm_energy_reader *er = arg;
    int64_t j = 0;
    pthread_mutex_lock(&er->mu);
    while (!er->stop) {
        struct timespec until;
        timespec_at(&until, er->t0_ns + j * er->interval_ns);
        while (!er->stop && pthread_cond_timedwait(&er->wake, &er->mu, &until) == 0)
            ;
        if (er->stop)
            break;
        pthread_mutex_unlock(&er->mu);
        read_round(er);
        j = fm_tick_next(er->t0_ns, er->interval_ns, j, fm_monotonic_ns(), &er->missed_rounds);
        pthread_mutex_lock(&er->mu);
    }
    pthread_mutex_unlock(&er->mu);
    return NULL;
}

int fm_energy_reader_start(fm_energy_reader *er, fm_sensor *sensor, int gpus, const int *dev_index,
                           int64_t t0_ns, int64_t interval_ns, fm_error *err)
{
    memset(er, 0, sizeof *er);
    er->sensor = sensor;
    er->gpus = gpus;
    er->dev_index = dev_index;
    er->t0_ns = t0_ns;
    er->interval_ns = interval_ns;
    er->lost = calloc((size_t)gpus, sizeof *er->lost);
    er->box = calloc((size_t)gpus, sizeof *er->box);
    if (!er->lost || !er->box) {
        free(er->lost);
        free(er->box);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&er->mu, NULL);
    pthread_cond_init(&er->wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&er->thread, NULL, energy_main, er);
    if (rc != 0) {
        pthread_cond_destroy(&er->wake);
        pthread_mutex_destroy(&er->mu);
        free(er->lost);
        free(er->box);
        er->lost = NULL;
        er->box = NULL;
        return fm_fail(err, FM_ERR, "cannot start the energy-counter thread: %s", strerror(rc));
    }
    er->started = 1;
    return FM_OK;
}

int fm_energy_reader_take(fm_energy_reader *er, int gpu, int64_t sample_t_ns, fm_sample *s)
{
    pthread_mutex_lock(&er->mu);
    int fresh = er->box[gpu].fresh;
    if (fresh) {
        s->energy_j = er->box[gpu].energy_j;
        s->valid |= FM_F_ENERGY;
        er->box[gpu].fresh = 0;
        int64_t age_ns = sample_t_ns - er->box[gpu].read_ns;
        if (age_ns > er->max_age_ns)
            er->max_age_ns = age_ns;
    }
    pthread_mutex_unlock(&er->mu);
    return fresh;
}

void fm_energy_reader_stop(fm_energy_reader *er)
{
    if (!er->started)
        return;
    pthread_mutex_lock(&er->mu);
    er->stop = 1;
    pthread_cond_signal(&er->wake);
    pthread_mutex_unlock(&er->mu);
    pthread_join(er->thread, NULL);
    pthread_cond_destroy(&er->wake);
    pthread_mutex_destroy(&er->mu);
    er->started = 0;
}

void fm_energy_reader_free(fm_energy_reader *er)
{
    fm_energy_reader_stop(er);
    free(er->lost);
    free(er->box);
    er->lost = NULL;
    er->box = NULL;
}
