/* Internal pieces of the recorder (src/record/), one file each:
 *   tick_stats.c      the tick grid maths and the jitter histogram
 *   marker_channel.c  the pipe + UNIX datagram socket the workload writes markers to
 *   child.c           finding, starting and reaping the command, signal forwarding
 *   writer.c          the store-writer thread and its bounded queue
 *   energy_reader.c   the energy-counter thread (for backends whose counter is slow to read)
 *   live.c            running energy and the live status line
 *   record.c          fm_record_run: the sampling loop tying them together
 * Nothing here is public API; see firmus/record.h for that. */
#ifndef FIRMUS_RECORD_INTERNAL_H
#define FIRMUS_RECORD_INTERNAL_H

#include "firmus/record.h"
#include "record/live.h"

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

/* ---- tick grid (tick_stats.c) ---- */

/* Jitter |actual - deadline| histogram with 1 us bins up to 100 ms, plus
 * an overflow count and the exact maximum: fixed memory for any run length,
 * percentiles exact to 1 us. */
#define FM_JITTER_BINS 100000
typedef struct fm_tick_stats {
    uint32_t *bins; /* FM_JITTER_BINS counters, bin i = [i, i+1) us */
    int64_t overflow;
    int64_t count;
    int64_t max_ns;
    int64_t first_tick_ns, last_tick_ns; /* actual wake-up times */
} fm_tick_stats;

int fm_tick_stats_init(fm_tick_stats *ts);
void fm_tick_stats_free(fm_tick_stats *ts);
/* Records one tick that was due at deadline_ns and started at actual_ns. */
void fm_tick_stats_add(fm_tick_stats *ts, int64_t deadline_ns, int64_t actual_ns);
/* p-th percentile (0..100) of the jitter in microseconds; NAN if no ticks. */
double fm_tick_stats_percentile_us(const fm_tick_stats *ts, double p);

/* After tick k_done finished at now_ns, the index of the next tick to run:
 * k_done + 1 if its deadline t0 + k*interval is less than half an interval
 * past, else the first k whose deadline is now or later. Ticks jumped over
 * are added to *missed. */
int64_t fm_tick_next(int64_t t0_ns, int64_t interval_ns, int64_t k_done, int64_t now_ns,
                     int64_t *missed);

/* ---- marker channel (marker_channel.c) ---- */

typedef struct fm_mark_channel {
    int pipe_read_fd;      /* non-blocking; -1 when closed */
    int pipe_write_fd;     /* handed to the child; closed in the recorder after the start */
    int socket_fd;         /* UNIX datagram socket, non-blocking; -1 if none */
    char socket_path[108]; /* bound path */
    char socket_dir[96];   /* temp dir we made for it ("" if the user named the path) */
    char line[FM_MARK_LINE_MAX + 2]; /* partial line from the pipe */
    size_t line_len;
    int line_overlong; /* discarding an over-long line up to its newline */
} fm_mark_channel;

/* Opens the pipe and the socket (at socket_path, or in a fresh temp dir when
 * socket_path is NULL). */
int fm_mark_channel_open(fm_mark_channel *ch, const char *socket_path, fm_error *err);
/* Closes everything, unlinks the socket and removes the temp dir. */
void fm_mark_channel_close(fm_mark_channel *ch);
/* Closes the recorder's copy of the pipe's write end (after the child has it). */
void fm_mark_channel_close_write_end(fm_mark_channel *ch);

/* Called for every complete line; receipt_ns is when it was read. */
typedef void (*fm_mark_line_fn)(void *ctx, const char *line, int overlong);
/* Reads what is waiting on the pipe and the socket (never blocks; at most
 * 32 reads each) and calls fn per line. */
void fm_mark_channel_poll(fm_mark_channel *ch, fm_mark_line_fn fn, void *ctx);
/* Reads until both channels are empty (at the end of a recording). */
void fm_mark_channel_drain(fm_mark_channel *ch, fm_mark_line_fn fn, void *ctx);

/* ---- child process and signals (child.c) ---- */

typedef struct fm_child {
    pid_t pid; /* 0 = not started */
    int running;
    int exit_code; /* valid once !running after a start; 128+sig if killed */
} fm_child;

/* Finds argv0 on PATH (or checks it if it has a '/'); FM_ERR_NOT_FOUND with
 * a one-line message otherwise. */
int fm_child_check_command(const char *argv0, fm_error *err);
/* Starts the command with the marker variables added to its environment. */
int fm_child_start(fm_child *c, char *const *argv, const fm_mark_channel *ch, int64_t run_id,
                   fm_error *err);
/* Reaps the child if it has exited (never blocks). Returns 1 when it has. */
int fm_child_poll(fm_child *c);
/* Sends sig to the child if it runs. */
void fm_child_signal(fm_child *c, int sig);

/* SIGINT/SIGTERM/SIGHUP handling for the recording: the handler only notes
 * the signal; the sampling loop acts on it. */
typedef struct fm_signal_guard {
    struct sigaction old_int, old_term, old_hup;
} fm_signal_guard;
void fm_signals_install(fm_signal_guard *g);
void fm_signals_restore(const fm_signal_guard *g);
/* Takes the pending signal (0 if none); *from_terminal is 1 when the kernel
 * sent it on behalf of a terminal (Ctrl-C), which the child's process group
 * then received too. */
int fm_signals_take(int *from_terminal);

/* ---- store writer (writer.c) ---- */

typedef struct fm_rec_item {
    int is_marker;
    int gpu;
    union {
        fm_sample sample;
        fm_marker marker;
    } u;
} fm_rec_item;

typedef struct fm_rec_writer {
    fm_store *st;
    int64_t run_id;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake_writer; /* queue half full, or stop */
    pthread_cond_t space;       /* the writer made room */
    fm_rec_item *ring;
    size_t cap, head, count;
    int stop;
    int failed; /* a store call failed: err holds why */
    fm_error err;
    int64_t commit_period_ns; /* fm_store_flush at least this often */
    /* statistics */
    int64_t samples_written, markers_written, commits;
    size_t max_depth;
    int64_t producer_waits; /* times the sampler found the queue full */
    int64_t longest_commit_ns;
} fm_rec_writer;

int fm_rec_writer_start(fm_rec_writer *w, fm_store *st, int64_t run_id, size_t capacity,
                        fm_error *err);
/* Queues the samples of one tick (n GPUs). Blocks only when the queue is full. */
void fm_rec_writer_push_samples(fm_rec_writer *w, size_t n, const int *gpus,
                                const fm_sample *samples);
void fm_rec_writer_push_marker(fm_rec_writer *w, const fm_marker *m);
/* 1 if a store write failed (the recording should stop). */
int fm_rec_writer_failed(fm_rec_writer *w);
/* Drains the queue, commits, stops the thread. Returns the first store error. */
int fm_rec_writer_stop(fm_rec_writer *w, fm_error *err);

/* ---- energy-counter thread (energy_reader.c) ---- */

typedef struct fm_energy_box {
    double energy_j; /* newest counter value */
    int64_t read_ns; /* CLOCK_MONOTONIC when it was read */
    int fresh;       /* not yet attached to a sample */
} fm_energy_box;

typedef struct fm_energy_reader {
    fm_sensor *sensor; /* shared with the sampler: the backend must allow it */
    int gpus;
    const int *dev_index;
    int64_t t0_ns, interval_ns; /* CLOCK_MONOTONIC grid */
    pthread_t thread;
    pthread_mutex_t mu; /* guards box[] and stop */
    pthread_cond_t wake;
    int stop;
    int started;
    int *lost;          /* this thread's own view: GPU_LOST seen */
    fm_energy_box *box; /* one per GPU */
    int64_t rounds, missed_rounds, read_errors;
    int64_t max_age_ns; /* oldest value attached: sample time - read time */
} fm_energy_reader;

int fm_energy_reader_start(fm_energy_reader *er, fm_sensor *sensor, int gpus, const int *dev_index,
                           int64_t t0_ns, int64_t interval_ns, fm_error *err);
/* Moves a fresh counter value of GPU gpu (run position) into s; 1 if it did. */
int fm_energy_reader_take(fm_energy_reader *er, int gpu, int64_t sample_t_ns, fm_sample *s);
/* Stops the thread (after its current read); fm_energy_reader_take must not
 * be called after this. */
void fm_energy_reader_stop(fm_energy_reader *er);
void fm_energy_reader_free(fm_energy_reader *er);

#endif
