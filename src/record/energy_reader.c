/* The energy-counter thread. On a real H100 one
 * nvmlDeviceGetTotalEnergyConsumption call takes 2.8 ms (median) and up to
 * 15-18 ms (docs/NVML.md), while the power readings take under 1 us; read
 * in the sampling loop it would make 10-25 ms ticks late. The counter only
 * changes every 100 ms, so this thread reads it on its own grid (default
 * every 100 ms, on absolute deadlines from the run's t0), for every GPU in
 * turn, together with that GPU's instant and 1 s average power, and queues
 * those rows for the store like any sample: each row is stamped by the
 * backend right after its power read. A last round is read when the
 * recording stops, so the counter covers the whole run. Used only with
 * backends that may be read from two threads at once (nvml). */
#include "record/record_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void timespec_at(struct timespec *ts, int64_t t_ns)
{
    ts->tv_sec = t_ns / 1000000000;
    ts->tv_nsec = t_ns % 1000000000;
}

/* Reads the energy (and fast power) of every GPU not lost. */
static void read_round(fm_energy_reader *er)
{
    for (int i = 0; i < er->gpus; i++) {
        if (er->lost[i])
            continue;
        uint32_t fields = FM_F_POWER_ALL & er->devs[i].supported;
        fm_sample s;
        fm_sample_clear(&s, fm_monotonic_ns());
        fm_error rerr = {0};
        int rc = fm_sensor_read(er->sensor, er->dev_index[i], fields, &s, &rerr);
        if (rc == FM_ERR_GPU_LOST) {
            er->lost[i] = 1; /* the sampling loop notes it and stores the marker */
            continue;
        }
        if (rc != FM_OK) {
            er->read_errors++;
            if (rc != FM_ERR_AGAIN)
                s.valid = 0;
        }
        if (s.valid == 0)
            continue; /* nothing to add: the sampling loop stores the missing readings */
        fm_live_energy_add(&er->energy[i], &s);
        int gpu = i;
        fm_rec_writer_push_samples(er->writer, 1, &gpu, &s);
        er->samples++;
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
    read_round(er); /* the closing reading */
    return NULL;
}

int fm_energy_reader_start(fm_energy_reader *er, fm_sensor *sensor, fm_rec_writer *writer, int gpus,
                           const int *dev_index, const fm_device_info *devs, int64_t t0_ns,
                           int64_t interval_ns, fm_error *err)
{
    memset(er, 0, sizeof *er);
    er->sensor = sensor;
    er->writer = writer;
    er->gpus = gpus;
    er->dev_index = dev_index;
    er->devs = devs;
    er->t0_ns = t0_ns;
    er->interval_ns = interval_ns;
    er->lost = calloc((size_t)gpus, sizeof *er->lost);
    er->energy = calloc((size_t)gpus, sizeof *er->energy);
    if (!er->lost || !er->energy) {
        free(er->lost);
        free(er->energy);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < gpus; i++)
        fm_live_energy_init(&er->energy[i]);
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
        free(er->energy);
        return fm_fail(err, FM_ERR, "cannot start the energy-counter thread: %s", strerror(rc));
    }
    er->started = 1;
    return FM_OK;
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
    free(er->energy);
    er->lost = NULL;
    er->energy = NULL;
}
