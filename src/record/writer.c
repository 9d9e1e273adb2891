/* The store writer: a thread that owns the run store while a recording
 * runs. The sampler hands it samples and markers through a bounded ring
 * (one mutex, no allocation per item) and never waits for SQLite; the
 * writer inserts them and commits at least every commit_period_ns (0.5 s),
 * so a recorder killed with SIGKILL loses well under a second of data.
 * The sampler blocks only if the ring is full (the store is far behind);
 * the time lost then shows up as missed ticks. */
#include "record/record_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 256

static void deadline_after(struct timespec *ts, int64_t ns)
{
    /* pthread_cond_timedwait uses CLOCK_REALTIME by default; we set the
     * condition variable to CLOCK_MONOTONIC in fm_rec_writer_start. */
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ns / 1000000000;
    ts->tv_nsec += ns % 1000000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes one batch to the store (outside the lock). */
static int write_batch(fm_rec_writer *w, const fm_rec_item *items, size_t n, fm_error *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (items[i].is_marker) {
            rc = fm_store_add_marker(w->st, w->run_id, &items[i].u.marker, err);
            w->markers_written += rc == FM_OK;
        } else {
            rc = fm_store_add_sample(w->st, w->run_id, items[i].gpu, &items[i].u.sample, err);
            w->samples_written += rc == FM_OK;
        }
        if (rc != FM_OK)
            return rc;
    }
    return FM_OK;
}

static int commit(fm_rec_writer *w, fm_error *err)
{
    int64_t start_ns = monotonic_ns();
    int rc = fm_store_flush(w->st, err);
    int64_t took_ns = monotonic_ns() - start_ns;
    if (took_ns > w->longest_commit_ns)
        w->longest_commit_ns = took_ns;
    w->commits++;
    return rc;
}

/* Takes up to BATCH_MAX items from the ring (caller holds the lock). */
static size_t take_batch(fm_rec_writer *w, fm_rec_item *batch)
{
    size_t n = 0;
    while (w->count > 0 && n < BATCH_MAX) {
        batch[n++] = w->ring[w->head];
        w->head = (w->head + 1) % w->cap;
        w->count--;
    }
    return n;
}

static void *writer_main(void *arg)
{
    fm_rec_writer *w = arg;
    fm_rec_item *batch = malloc(BATCH_MAX * sizeof *batch);
    int64_t last_commit_ns = monotonic_ns();
    fm_error err = {0};
    int failed = batch == NULL;
    if (!batch)
        fm_fail(&err, FM_ERR_NOMEM, "out of memory in the store writer");

    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->count == 0 && !w->stop) {
            struct timespec until;
            deadline_after(&until, w->commit_period_ns / 2);
            pthread_cond_timedwait(&w->wake_writer, &w->mu, &until);
        }
        size_t n = failed ? 0 : take_batch(w, batch);
        if (failed) { /* keep the sampler moving; nothing more can be stored */
            w->head = (w->head + w->count) % w->cap;
            w->count = 0;
        }
        int stopping = w->stop && w->count == 0;
        pthread_cond_signal(&w->space);
        pthread_mutex_unlock(&w->mu);

        if (!failed && n > 0 && write_batch(w, batch, n, &err) != FM_OK)
            failed = 1;
        int64_t now_ns = monotonic_ns();
        if (!failed && (stopping || now_ns - last_commit_ns >= w->commit_period_ns)) {
            if (commit(w, &err) != FM_OK)
                failed = 1;
            last_commit_ns = now_ns;
        }

        pthread_mutex_lock(&w->mu);
        if (failed && !w->failed) {
            w->failed = 1;
            w->err = err;
        }
        if (stopping)
            break;
    }
    pthread_mutex_unlock(&w->mu);
    free(batch);
    return NULL;
}

int fm_rec_writer_start(fm_rec_writer *w, fm_store *st, int64_t run_id, size_t capacity,
                        fm_error *err)
{
    memset(w, 0, sizeof *w);
    w->st = st;
    w->run_id = run_id;
    w->cap = capacity;
    w->commit_period_ns = 500000000;
    w->ring = malloc(capacity * sizeof *w->ring);
    if (!w->ring)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory for the sample queue");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake_writer, &ca);
    pthread_cond_init(&w->space, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->wake_writer);
        pthread_cond_destroy(&w->space);
        pthread_mutex_destroy(&w->mu);
        free(w->ring);
        w->ring = NULL;
        return fm_fail(err, FM_ERR, "cannot start the store writer thread: %s", strerror(rc));
    }
    return FM_OK;
}

/* Waits for room for `need` items (caller holds the lock). */
static void wait_for_space(fm_rec_writer *w, size_t need)
{
    if (w->cap - w->count >= need)
        return;
    w->producer_waits++;
    while (w->cap - w->count < need) {
        pthread_cond_signal(&w->wake_writer);
        pthread_cond_wait(&w->space, &w->mu);
    }
}

static void note_depth_and_wake(fm_rec_writer *w)
{
    if (w->count > w->max_depth)
        w->max_depth = w->count;
    if (w->count >= w->cap / 2)
        pthread_cond_signal(&w->wake_writer);
}

void fm_rec_writer_push_samples(fm_rec_writer *w, size_t n, const int *gpus,
                                const fm_sample *samples)
{
    pthread_mutex_lock(&w->mu);
    wait_for_space(w, n < w->cap ? n : w->cap);
    for (size_t i = 0; i < n; i++) {
        fm_rec_item *it = &w->ring[(w->head + w->count) % w->cap];
        it->is_marker = 0;
        it->gpu = gpus[i];
        it->u.sample = samples[i];
        w->count++;
    }
    note_depth_and_wake(w);
    pthread_mutex_unlock(&w->mu);
}

void fm_rec_writer_push_marker(fm_rec_writer *w, const fm_marker *m)
{
    pthread_mutex_lock(&w->mu);
    wait_for_space(w, 1);
    fm_rec_item *it = &w->ring[(w->head + w->count) % w->cap];
    it->is_marker = 1;
    it->gpu = m->gpu;
    it->u.marker = *m;
    w->count++;
    note_depth_and_wake(w);
    pthread_mutex_unlock(&w->mu);
}

int fm_rec_writer_failed(fm_rec_writer *w)
{
    pthread_mutex_lock(&w->mu);
    int failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    return failed;
}

int fm_rec_writer_stop(fm_rec_writer *w, fm_error *err)
{
    if (!w->ring)
        return FM_OK;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->wake_writer);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake_writer);
    pthread_cond_destroy(&w->space);
    pthread_mutex_destroy(&w->mu);
    free(w->ring);
    w->ring = NULL;
    if (w->failed) {
        if (err)
            *err = w->err;
        return w->err.code ? w->err.code : FM_ERR_IO;
    }
    return FM_OK;
}
