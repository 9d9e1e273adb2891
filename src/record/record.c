/* fm_record_run: the recorder. One tick grid for all chosen GPUs on the
 * backend's clock (deadline_k = t0 + k*interval, never drifting): instant
 * and 1 s average power on every tick; slow fields (temperature, clocks,
 * utilisation, memory, clocks-event bits) on a sub-grid; the energy
 * counter on its own grid (in the loop, or by the energy thread for nvml,
 * where a counter read takes milliseconds); a command run as a child
 * between a pre-roll and a post-roll; markers polled every tick; samples
 * and markers handed to the store-writer thread so SQLite never delays a
 * tick. docs/RECORDING.md explains it. */
#include "firmus/sim.h"
#include "record/live.h"
#include "record/record_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* Where the recording is in its life. */
typedef enum rec_stage {
    STAGE_PREROLL,  /* sampling before the command starts (or the whole run without one) */
    STAGE_COMMAND,  /* the command runs */
    STAGE_POSTROLL, /* the command has exited; capturing the fall */
    STAGE_DONE,
} rec_stage;

typedef struct recorder {
    const fm_record_options *o;
    fm_record_result *res;
    fm_sensor sensor;
    int sensor_borrowed; /* o->sensor: the caller closes it */
    fm_clock *clock;
    int virtual_time;
    int gpus;       /* GPUs in the run */
    int *dev_index; /* backend index of run GPU i */
    int *active;    /* 0 once lost */
    fm_device_info *devs;
    fm_sample *tick_samples; /* one tick's samples (scratch) */
    int *tick_gpus;
    fm_live_energy *energy;
    fm_store *st;
    fm_run run;
    fm_rec_writer writer;
    int writer_started;
    fm_mark_channel chan;
    int chan_open;
    fm_child child;
    fm_tick_stats ticks;
    int64_t interval_ns, slow_every, t0_ns;
    int64_t next_slow_k;
    int64_t energy_every, next_energy_k; /* energy sub-grid (when read in the loop) */
    int energy_thread_on;
    int64_t energy_reader_interval_ns;
    fm_energy_reader energy_reader;
    int64_t now_ns; /* wake-up time of the current tick */
    int64_t last_tick_ns;
    int64_t child_start_ns, child_end_ns;
    int64_t marker_tokens; /* sum of tokens seen in markers */
    int marker_tokens_seen;
    char marker_first_error[200];
    int64_t last_live_ns;
    int live;
    rec_stage stage;
    char lost_note[512]; /* "gpu1@12.300s ..." for the metadata */
} recorder;

void fm_record_options_default(fm_record_options *o)
{
    memset(o, 0, sizeof *o);
    o->backend = "nvml";
    o->interval_ms = 25.0;
    o->slow_interval_ms = 100.0;
    o->duration_s = 0.0; /* without a command: until SIGINT/SIGTERM */
    o->preroll_s = 1.0;
    o->postroll_s = 2.0;
    o->params = NAN;
    o->tokens = -1;
    o->energy_interval_ms = 100.0;
    o->energy_thread = -1;
}

/* ---------------------------------------------------------------- setup */

static int check_options(const fm_record_options *o, fm_error *err)
{
    if (!(o->interval_ms >= 1.0 && o->interval_ms <= 60000.0))
        return fm_fail(err, FM_ERR_USAGE, "interval %.3g ms is out of range (1 to 60000 ms)",
                       o->interval_ms);
    if (!(o->slow_interval_ms >= o->interval_ms))
        return fm_fail(err, FM_ERR_USAGE,
                       "slow interval %.3g ms must be at least the tick interval %.3g ms",
                       o->slow_interval_ms, o->interval_ms);
    if (o->energy_interval_ms > 0 && o->energy_interval_ms < o->interval_ms)
        return fm_fail(err, FM_ERR_USAGE,
                       "energy interval %.3g ms must be at least the tick interval %.3g ms",
                       o->energy_interval_ms, o->interval_ms);
    if (!(o->duration_s >= 0) || !(o->preroll_s >= 0) || !(o->postroll_s >= 0))
        return fm_fail(err, FM_ERR_USAGE, "durations must be non-negative numbers of seconds");
    if (!o->db_path || !*o->db_path)
        return fm_fail(err, FM_ERR_USAGE, "no database path");
    if (o->command && !o->command[0])
        return fm_fail(err, FM_ERR_USAGE, "empty command");
    if (o->command)
        return fm_child_check_command(o->command[0], err);
    return FM_OK;
}

static int open_backend(recorder *r, fm_error *err)
{
    const fm_record_options *o = r->o;
    if (o->sensor) {
        r->sensor = *o->sensor;
        r->sensor_borrowed = 1;
    } else {
        fm_backend_options bopt = o->backend_opt;
        const char *name = o->backend ? o->backend : "nvml";
        /* A command runs in real time, so the simulator must too. */
        if (o->command && !strcasecmp(name, "sim"))
            bopt.sim_real_time = 1;
        int rc = fm_sensor_open(name, &bopt, &r->sensor, err);
        if (rc != FM_OK)
            return rc;
    }
    const char *name = r->sensor.ops->name;
    r->clock = fm_sensor_clock(&r->sensor);
    r->virtual_time = r->clock && r->clock->virtual_time;
    if (r->virtual_time && o->command)
        return fm_fail(err, FM_ERR_USAGE,
                       "backend %s runs in virtual time: it cannot record a "
                       "command",
                       name);
    if (r->virtual_time && o->duration_s <= 0)
        return fm_fail(err, FM_ERR_USAGE, "backend %s runs in virtual time: give --duration", name);
    /* Only nvml is known to allow reads from two threads at once (NVML is
     * thread-safe; docs/NVML.md), and only there is the counter slow to read. */
    int wanted = o->energy_thread < 0 ? !strcasecmp(name, "nvml") : o->energy_thread;
    r->energy_thread_on = wanted && !r->virtual_time;
    return FM_OK;
}

static int choose_gpus(recorder *r, fm_error *err)
{
    int count = fm_sensor_device_count(&r->sensor);
    if (count <= 0)
        return fm_fail(err, FM_ERR_NOT_FOUND, "no GPUs found by the %s backend",
                       r->sensor.ops->name);
    r->gpus = r->o->gpus ? r->o->gpu_count : count;
    if (r->gpus <= 0)
        return fm_fail(err, FM_ERR_USAGE, "no GPUs chosen");
    r->dev_index = calloc((size_t)r->gpus, sizeof *r->dev_index);
    r->active = calloc((size_t)r->gpus, sizeof *r->active);
    r->devs = calloc((size_t)r->gpus, sizeof *r->devs);
    r->tick_samples = calloc((size_t)r->gpus, sizeof *r->tick_samples);
    r->tick_gpus = calloc((size_t)r->gpus, sizeof *r->tick_gpus);
    r->energy = calloc((size_t)r->gpus, sizeof *r->energy);
    if (!r->dev_index || !r->active || !r->devs || !r->tick_samples || !r->tick_gpus || !r->energy)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->gpus; i++) {
        int index = r->o->gpus ? r->o->gpus[i] : i;
        if (index < 0 || index >= count)
            return fm_fail(err, FM_ERR_USAGE, "GPU %d does not exist (the %s backend has %d: 0-%d)",
                           index, r->sensor.ops->name, count, count - 1);
        for (int j = 0; j < i; j++)
            if (r->dev_index[j] == index)
                return fm_fail(err, FM_ERR_USAGE, "GPU %d is listed twice", index);
        r->dev_index[i] = index;
        r->active[i] = 1;
        fm_live_energy_init(&r->energy[i]);
        int rc = fm_sensor_device_info(&r->sensor, index, &r->devs[i], err);
        if (rc != FM_OK)
            return rc;
    }
    return FM_OK;
}

static void set_meta(recorder *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Metadata is best effort: a failure here is reported by the final
 * fm_store_run_finish if the database is really broken. */
static void set_meta(recorder *r, const char *key, const char *fmt, ...)
{
    char value[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    fm_error ignored;
    fm_store_set_meta(r->st, r->run.id, key, value, &ignored);
}

static void store_start_meta(recorder *r)
{
    const fm_record_options *o = r->o;
    set_meta(r, "firmus_version", "%s", fm_version());
    set_meta(r, "record.clock", "%s", r->virtual_time ? "virtual" : "CLOCK_MONOTONIC");
    set_meta(r, "record.interval_requested_ms", "%.3f", o->interval_ms);
    set_meta(r, "record.slow_interval_ms", "%.3f", (double)(r->slow_every * r->interval_ns) / 1e6);
    set_meta(r, "record.slow_every_ticks", "%" PRId64, r->slow_every);
    set_meta(r, "record.slow_fields", "temperature,sm_clock,utilization,memory_used,clock_events");
    set_meta(r, "record.fast_fields", "power_instant,power_avg_1s");
    set_meta(r, "record.energy_interval_ms", "%.3f",
             r->energy_thread_on ? (double)r->energy_reader_interval_ns / 1e6
                                 : (double)(r->energy_every * r->interval_ns) / 1e6);
    set_meta(r, "record.energy_reader", "%s",
             r->energy_thread_on ? "thread (own grid; newest value attached to the next sample)"
                                 : "sampling loop (energy sub-grid)");
    if (o->command) {
        char line[1024] = "";
        size_t len = 0;
        for (char *const *a = o->command; *a && len < sizeof line - 2; a++)
            len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", len ? " " : "", *a);
        set_meta(r, "record.command", "%s", o->command_line ? o->command_line : line);
        set_meta(r, "record.preroll_s", "%.3f", o->preroll_s);
        set_meta(r, "record.postroll_s", "%.3f", o->postroll_s);
    } else {
        set_meta(r, "record.duration_requested_s", "%.3f", o->duration_s);
    }
    set_meta(r, "record.writer_pid", "%d", (int)getpid());
}

static int begin_run(recorder *r, fm_error *err)
{
    const fm_record_options *o = r->o;
    int rc = fm_store_open(o->db_path, &r->st, err);
    if (rc != FM_OK)
        return rc;

    /* t0 far enough ahead that creating the run, its devices and the writer
     * thread (a few inserts and one commit, after the slow part: opening
     * the database) is done before the first deadline. */
    int64_t wall_now = fm_realtime_ns();
    int64_t clock_now = fm_clock_now_ns(r->clock);
    r->t0_ns = r->virtual_time ? clock_now : clock_now + 20000000;

    fm_run *run = &r->run;
    memset(run, 0, sizeof *run);
    snprintf(run->name, sizeof run->name, "%s", o->name ? o->name : "");
    snprintf(run->model, sizeof run->model, "%s", o->model ? o->model : "");
    snprintf(run->tags, sizeof run->tags, "%s", o->tags ? o->tags : "");
    snprintf(run->backend, sizeof run->backend, "%s", r->sensor.ops->name);
    snprintf(run->source, sizeof run->source, "record");
    run->params = o->params;
    /* The wall-clock anchor: CLOCK_REALTIME at t0. */
    run->start_wall_ns = r->virtual_time ? wall_now : wall_now + (r->t0_ns - clock_now);
    run->t0_ns = r->t0_ns;
    run->end_ns = r->t0_ns;
    run->gpus = r->gpus;
    run->interval_ms = o->interval_ms;
    run->tokens = -1;
    run->status = FM_RUN_RECORDING;
    run->exit_code = -1;
    run->writer_pid = (int)getpid();
    rc = fm_store_run_begin(r->st, run, err);
    if (rc != FM_OK)
        return rc;

    fm_backend_info bi;
    fm_sensor_backend_info(&r->sensor, &bi);
    for (int i = 0; i < r->gpus; i++) {
        rc = fm_store_add_device(r->st, run->id, i, &r->devs[i], &bi, err);
        if (rc != FM_OK)
            return rc;
    }
    store_start_meta(r);
    rc = fm_store_flush(r->st, err);
    if (rc != FM_OK)
        return rc;
    size_t capacity = 16384;
    if ((size_t)r->gpus * 64 > capacity)
        capacity = (size_t)r->gpus * 64;
    rc = fm_rec_writer_start(&r->writer, r->st, run->id, capacity, err);
    r->writer_started = rc == FM_OK;
    return rc;
}

/* ---------------------------------------------------------------- markers */

static void queue_marker(recorder *r, const fm_marker *m)
{
    fm_rec_writer_push_marker(&r->writer, m);
    r->res->markers++;
    if (m->tokens >= 0) {
        r->marker_tokens += m->tokens;
        r->marker_tokens_seen = 1;
    }
}

/* A marker the recorder itself adds (command start/end, GPU lost), at t_ns. */
static void queue_own_marker(recorder *r, const char *name, int gpu, int64_t t_ns)
{
    fm_marker m;
    fm_marker_init(&m, t_ns);
    snprintf(m.kind, sizeof m.kind, "mark");
    snprintf(m.name, sizeof m.name, "%s", name);
    m.gpu = gpu;
    fm_rec_writer_push_marker(&r->writer, &m);
    r->res->markers++;
}

static void note_malformed(recorder *r, const char *reason)
{
    r->res->markers_malformed++;
    if (!r->marker_first_error[0])
        snprintf(r->marker_first_error, sizeof r->marker_first_error, "%s", reason);
}

static void handle_marker_line(void *ctx, const char *line, int overlong)
{
    recorder *r = ctx;
    if (overlong) {
        note_malformed(r, "line longer than 4096 bytes");
        return;
    }
    int64_t receipt_ns = fm_clock_now_ns(r->clock);
    fm_marker m;
    int t_ns_given = 0;
    fm_error perr = {0};
    int rc = fm_marker_parse_line(line, receipt_ns, &m, &t_ns_given, &perr);
    if (rc == 1)
        return; /* blank or comment */
    if (rc != FM_OK) {
        char reason[200];
        snprintf(reason, sizeof reason, "%.120s: '%.60s'", perr.msg, line);
        note_malformed(r, reason);
        return;
    }
    if (t_ns_given && r->virtual_time)
        m.t_ns = receipt_ns; /* the writer's CLOCK_MONOTONIC means nothing in virtual time */
    if (t_ns_given && m.t_ns > receipt_ns + 1000000000) {
        note_malformed(r, "t_ns more than 1 s in the future (not CLOCK_MONOTONIC ns?)");
        return;
    }
    if (t_ns_given && m.t_ns < r->t0_ns - 10000000000) {
        note_malformed(r, "t_ns more than 10 s before the recording started");
        return;
    }
    if (m.gpu >= r->gpus) {
        note_malformed(r, "gpu= names a GPU that is not in the run");
        return;
    }
    queue_marker(r, &m);
}

/* ---------------------------------------------------------------- sampling */

static void lose_gpu(recorder *r, int i, const fm_error *why)
{
    r->active[i] = 0;
    r->res->gpus_lost++;
    if (i < 64)
        r->res->gpus_lost_mask |= 1ull << i;
    queue_own_marker(r, "gpu_lost", i, r->now_ns);
    size_t len = strlen(r->lost_note);
    snprintf(r->lost_note + len, sizeof r->lost_note - len, "%sgpu%d at %.3f s: %.200s",
             len ? "; " : "", i, (double)(r->now_ns - r->t0_ns) / 1e9, why->msg);
}

/* The fields tick k reads: instant and 1 s average power always; the slow
 * ones on their sub-grid; the energy counter on its sub-grid unless the
 * energy thread reads it. The final tick reads everything it may. */
static uint32_t tick_fields(recorder *r, int64_t k, int final)
{
    uint32_t fields = FM_F_POWER_INSTANT | FM_F_POWER_AVG;
    if (k >= r->next_slow_k || final) {
        fields |= FM_F_SLOW;
        r->next_slow_k = (k / r->slow_every + 1) * r->slow_every;
    }
    if ((!r->energy_thread_on && k >= r->next_energy_k) || final) {
        fields |= FM_F_ENERGY;
        r->next_energy_k = (k / r->energy_every + 1) * r->energy_every;
    }
    return fields;
}

/* Reads every active GPU once and queues the samples. */
static void sample_tick(recorder *r, int64_t k, int final)
{
    uint32_t fields = tick_fields(r, k, final);
    size_t n = 0;
    for (int i = 0; i < r->gpus; i++) {
        if (!r->active[i])
            continue;
        fm_sample *s = &r->tick_samples[n];
        fm_sample_clear(s, r->now_ns);
        fm_error rerr = {0};
        int rc =
            fm_sensor_read(&r->sensor, r->dev_index[i], fields & r->devs[i].supported, s, &rerr);
        if (rc == FM_ERR_GPU_LOST) {
            lose_gpu(r, i, &rerr);
            continue;
        }
        if (rc != FM_OK) {
            /* Stored anyway: the missing readings are NULL, never 0. */
            r->res->read_errors++;
            s->valid = rc == FM_ERR_AGAIN ? s->valid : 0;
        }
        if (s->t_ns <= 0)
            s->t_ns = r->now_ns;
        if (r->energy_reader.started)
            fm_energy_reader_take(&r->energy_reader, i, s->t_ns, s);
        r->tick_gpus[n] = i;
        fm_live_energy_add(&r->energy[i], s);
        n++;
    }
    if (n > 0)
        fm_rec_writer_push_samples(&r->writer, n, r->tick_gpus, r->tick_samples);
    r->res->samples += (int64_t)n;
}

/* ---------------------------------------------------------------- stages */

static void start_command(recorder *r, fm_error *err)
{
    int rc = fm_child_start(&r->child, r->o->command, &r->chan, r->run.id, err);
    fm_mark_channel_close_write_end(&r->chan);
    if (rc != FM_OK) {
        r->res->child_exit_code = 127;
        r->stage = STAGE_DONE;
        return;
    }
    r->child_start_ns = fm_clock_now_ns(r->clock);
    queue_own_marker(r, "command_start", -1, r->child_start_ns);
    r->stage = STAGE_COMMAND;
}

/* Acts on a signal received since the last tick. */
static void handle_signal(recorder *r, int sig, int from_terminal)
{
    if (r->stage == STAGE_COMMAND) {
        /* A terminal's Ctrl-C already reached the child's process group. */
        if (!from_terminal)
            fm_child_signal(&r->child, sig);
        return;
    }
    r->res->stopped_by_signal = sig;
    if (r->stage == STAGE_PREROLL && r->o->command)
        r->res->child_exit_code = 128 + sig; /* never started */
    r->stage = STAGE_DONE;
}

/* Moves the recording along at the tick due at deadline_ns, before it is
 * sampled: a tick that ends the recording (stage DONE) is its final one. */
static void advance_stage(recorder *r, int64_t deadline_ns, fm_error *cmd_err)
{
    const fm_record_options *o = r->o;
    int from_terminal = 0;
    int sig = fm_signals_take(&from_terminal);
    if (sig)
        handle_signal(r, sig, from_terminal);

    switch (r->stage) {
    case STAGE_PREROLL:
        if (o->command && deadline_ns - r->t0_ns >= (int64_t)(o->preroll_s * 1e9))
            start_command(r, cmd_err);
        else if (!o->command && o->duration_s > 0 &&
                 deadline_ns - r->t0_ns >= (int64_t)llround(o->duration_s * 1e9))
            r->stage = STAGE_DONE;
        break;
    case STAGE_COMMAND:
        if (fm_child_poll(&r->child)) {
            /* Markers the command wrote before it exited come first. */
            fm_mark_channel_drain(&r->chan, handle_marker_line, r);
            r->child_end_ns = fm_clock_now_ns(r->clock);
            r->res->child_exit_code = r->child.exit_code;
            queue_own_marker(r, "command_end", -1, r->child_end_ns);
            r->stage = STAGE_POSTROLL;
        }
        break;
    case STAGE_POSTROLL:
        if (deadline_ns - r->child_end_ns >= (int64_t)(o->postroll_s * 1e9))
            r->stage = STAGE_DONE;
        break;
    case STAGE_DONE:
        break;
    }
    if (fm_rec_writer_failed(&r->writer)) {
        if (r->stage == STAGE_COMMAND)
            fm_child_signal(&r->child, SIGTERM); /* nothing can be stored any more */
        r->stage = STAGE_DONE;
    }
}

static void maybe_print_live(recorder *r)
{
    if (!r->live || r->now_ns - r->last_live_ns < 500000000)
        return;
    r->last_live_ns = r->now_ns;
    fm_live_print(stderr, (double)(r->now_ns - r->t0_ns) / 1e9, r->energy, r->active, r->gpus);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The tick loop. Returns when the recording is over. */
static void run_ticks(recorder *r, fm_error *cmd_err)
{
    int64_t k = 0;
    r->next_slow_k = 0;
    r->next_energy_k = 0;
    r->stage = STAGE_PREROLL;
    if (r->o->command && r->o->preroll_s <= 0) {
        r->now_ns = fm_clock_now_ns(r->clock);
        start_command(r, cmd_err);
    }
    /* Wake-ups as close to the deadline as the kernel allows (this thread
     * only; the default slack is 50 us). */
    int old_slack_ns = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (!r->virtual_time)
        prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
    for (;;) {
        int64_t deadline_ns = r->t0_ns + k * r->interval_ns;
        fm_clock_sleep_until(r->clock, deadline_ns);
        r->now_ns = fm_clock_now_ns(r->clock);
        fm_tick_stats_add(&r->ticks, deadline_ns, r->now_ns);
        advance_stage(r, deadline_ns, cmd_err);
        int final = r->stage == STAGE_DONE;
        if (final) /* the last tick reads the counter itself: it must cover the whole run */
            fm_energy_reader_stop(&r->energy_reader);
        sample_tick(r, k, final);
        r->last_tick_ns = r->now_ns;
        fm_mark_channel_poll(&r->chan, handle_marker_line, r);
        if (final)
            break;
        maybe_print_live(r);
        int64_t done_ns = fm_clock_now_ns(r->clock);
        k = fm_tick_next(r->t0_ns, r->interval_ns, k, done_ns, &r->res->missed_ticks);
    }
    if (!r->virtual_time && old_slack_ns > 0)
        prctl(PR_SET_TIMERSLACK, old_slack_ns, 0, 0, 0);
    /* A command still running here means the store failed: wait for it. */
    if (r->child.running) {
        while (!fm_child_poll(&r->child))
            usleep(10000);
        r->res->child_exit_code = r->child.exit_code;
    }
    fm_mark_channel_drain(&r->chan, handle_marker_line, r);
    if (r->live)
        fm_live_clear(stderr);
}

/* ---------------------------------------------------------------- finish */

/* A simulated run without a command knows its tokens: the decode steps the
 * model produced on the recorded GPUs (sim truth, stated as such in the run
 * metadata). Real backends, and sim runs wrapping a command, return -1. */
static int64_t simulated_tokens(const recorder *r)
{
    fm_sim *sim = fm_sensor_sim((fm_sensor *)&r->sensor);
    if (!sim || r->o->command)
        return -1;
    double tokens = 0;
    for (int i = 0; i < r->gpus; i++)
        tokens += fm_sim_true_tokens(sim, r->dev_index[i]);
    return (int64_t)llround(tokens);
}

static void fill_result(recorder *r, double cpu_s)
{
    fm_record_result *res = r->res;
    res->run_id = r->run.id;
    res->start_wall_ns = r->run.start_wall_ns;
    res->gpus = r->gpus;
    res->ticks = r->ticks.count;
    res->virtual_time = r->virtual_time;
    res->duration_s = (double)(r->ticks.last_tick_ns - r->ticks.first_tick_ns) / 1e9;
    res->achieved_interval_ms =
        r->ticks.count > 1 ? res->duration_s * 1e3 / (double)(r->ticks.count - 1) : NAN;
    res->jitter_p50_us = fm_tick_stats_percentile_us(&r->ticks, 50);
    res->jitter_p99_us = fm_tick_stats_percentile_us(&r->ticks, 99);
    res->jitter_max_us = r->ticks.count ? (double)r->ticks.max_ns / 1e3 : NAN;
    res->cpu_s = cpu_s;
    res->cpu_us_per_sample = res->samples ? cpu_s * 1e6 / (double)res->samples : NAN;
    res->energy_j = 0;
    for (int i = 0; i < r->gpus; i++)
        res->energy_j += fm_live_energy_j(&r->energy[i], NULL);
    if (r->energy_thread_on)
        res->read_errors += r->energy_reader.read_errors;
    const char *source = "none";
    if (r->o->tokens >= 0) {
        res->tokens = r->o->tokens;
        source = "option";
    } else if (r->marker_tokens_seen) {
        res->tokens = r->marker_tokens;
        source = "markers";
    } else {
        res->tokens = simulated_tokens(r);
        if (res->tokens >= 0)
            source = "sim truth (decode steps of the simulated workload)";
    }
    snprintf(res->tokens_source, sizeof res->tokens_source, "%s", source);
}

static void store_end_meta(recorder *r)
{
    const fm_record_result *res = r->res;
    set_meta(r, "record.ticks", "%" PRId64, res->ticks);
    set_meta(r, "record.samples", "%" PRId64, res->samples);
    set_meta(r, "record.duration_s", "%.6f", res->duration_s);
    set_meta(r, "record.interval_achieved_ms", "%.6f", res->achieved_interval_ms);
    set_meta(r, "record.jitter_p50_us", "%.0f", res->jitter_p50_us);
    set_meta(r, "record.jitter_p99_us", "%.0f", res->jitter_p99_us);
    set_meta(r, "record.jitter_max_us", "%.1f", res->jitter_max_us);
    set_meta(r, "record.missed_ticks", "%" PRId64, res->missed_ticks);
    set_meta(r, "record.cpu_s", "%.4f", res->cpu_s);
    set_meta(r, "record.cpu_us_per_sample", "%.2f", res->cpu_us_per_sample);
    set_meta(r, "record.read_errors", "%" PRId64, res->read_errors);
    set_meta(r, "record.gpus_lost", "%d", res->gpus_lost);
    if (r->lost_note[0])
        set_meta(r, "record.gpus_lost_detail", "%s", r->lost_note);
    set_meta(r, "record.markers", "%" PRId64, res->markers);
    set_meta(r, "record.markers_malformed", "%" PRId64, res->markers_malformed);
    if (r->marker_first_error[0])
        set_meta(r, "record.marker_first_error", "%s", r->marker_first_error);
    set_meta(r, "record.tokens_source", "%s", res->tokens_source);
    if (r->o->command) {
        set_meta(r, "record.child_exit_code", "%d", res->child_exit_code);
        if (r->child_start_ns)
            set_meta(r, "record.child_start_ns", "%" PRId64, r->child_start_ns);
        if (r->child_end_ns)
            set_meta(r, "record.child_end_ns", "%" PRId64, r->child_end_ns);
    }
    if (res->stopped_by_signal)
        set_meta(r, "record.stopped_by_signal", "%d", res->stopped_by_signal);
    if (r->energy_thread_on) {
        set_meta(r, "record.energy_rounds", "%" PRId64, r->energy_reader.rounds);
        set_meta(r, "record.energy_missed_rounds", "%" PRId64, r->energy_reader.missed_rounds);
        set_meta(r, "record.energy_max_age_ms", "%.3f", (double)r->energy_reader.max_age_ns / 1e6);
    }
    set_meta(r, "record.writer_max_queue", "%zu", r->writer.max_depth);
    set_meta(r, "record.writer_producer_waits", "%" PRId64, r->writer.producer_waits);
    set_meta(r, "record.writer_longest_commit_ms", "%.3f",
             (double)r->writer.longest_commit_ns / 1e6);
    set_meta(r, "record.writer_commits", "%" PRId64, r->writer.commits);
}

static int finish_run(recorder *r, fm_error *err)
{
    store_end_meta(r);
    r->run.end_ns = r->last_tick_ns ? r->last_tick_ns : r->t0_ns;
    r->run.tokens = r->res->tokens;
    r->run.exit_code = r->res->child_exit_code;
    r->run.status = FM_RUN_COMPLETE;
    int rc = fm_store_run_finish(r->st, &r->run, err);
    if (rc == FM_OK)
        rc = fm_store_flush(r->st, err);
    return rc;
}

static void release(recorder *r)
{
    if (r->child.running) { /* only on an error path: do not leave it orphaned and unmeasured */
        fm_child_signal(&r->child, SIGTERM);
        while (!fm_child_poll(&r->child))
            usleep(10000);
    }
    fm_energy_reader_free(&r->energy_reader);
    if (r->writer_started)
        fm_rec_writer_stop(&r->writer, NULL);
    if (r->chan_open)
        fm_mark_channel_close(&r->chan);
    if (r->st)
        fm_store_close(r->st);
    if (!r->sensor_borrowed)
        fm_sensor_close(&r->sensor);
    fm_tick_stats_free(&r->ticks);
    free(r->dev_index);
    free(r->active);
    free(r->devs);
    free(r->tick_samples);
    free(r->tick_gpus);
    free(r->energy);
}

int fm_record_run(const fm_record_options *o, fm_record_result *res, fm_error *err)
{
    recorder r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    res->child_exit_code = -1;
    res->tokens = -1;
    r.o = o;
    r.res = res;
    int rc = check_options(o, err);
    if (rc != FM_OK)
        return rc;
    r.interval_ns = (int64_t)llround(o->interval_ms * 1e6);
    r.slow_every = llround(o->slow_interval_ms / o->interval_ms);
    if (r.slow_every < 1)
        r.slow_every = 1;
    double energy_interval_ms = o->energy_interval_ms > 0 ? o->energy_interval_ms : 100.0;
    r.energy_reader_interval_ns = llround(energy_interval_ms * 1e6);
    r.energy_every = llround(energy_interval_ms / o->interval_ms);
    if (r.energy_every < 1)
        r.energy_every = 1;
    if (fm_tick_stats_init(&r.ticks) != FM_OK)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");

    rc = open_backend(&r, err);
    if (rc == FM_OK)
        rc = choose_gpus(&r, err);
    if (rc == FM_OK) {
        rc = fm_mark_channel_open(&r.chan, o->mark_socket_path, err);
        r.chan_open = rc == FM_OK;
    }
    if (rc == FM_OK)
        rc = begin_run(&r, err);
    if (rc != FM_OK) {
        release(&r);
        return rc;
    }
    r.live = o->live && isatty(STDERR_FILENO) && !r.virtual_time;
    if (o->on_start)
        o->on_start(o->on_start_ctx, r.run.id, r.chan.socket_path);

    fm_signal_guard guard;
    fm_signals_install(&guard);
    double cpu_start_s = cpu_seconds();
    fm_error cmd_err = {0};
    if (r.energy_thread_on) {
        rc = fm_energy_reader_start(&r.energy_reader, &r.sensor, r.gpus, r.dev_index, r.t0_ns,
                                    r.energy_reader_interval_ns, err);
        if (rc != FM_OK) {
            fm_signals_restore(&guard);
            release(&r);
            return rc;
        }
    }
    run_ticks(&r, &cmd_err);
    fm_energy_reader_stop(&r.energy_reader);
    fm_error werr = {0};
    int writer_rc = fm_rec_writer_stop(&r.writer, &werr);
    r.writer_started = 0;
    double cpu_s = cpu_seconds() - cpu_start_s;
    fm_signals_restore(&guard);

    fill_result(&r, cpu_s);
    rc = finish_run(&r, err);
    if (writer_rc != FM_OK) {
        rc = writer_rc;
        if (err)
            *err = werr;
    } else if (rc == FM_OK && cmd_err.code != FM_OK) {
        rc = cmd_err.code;
        if (err)
            *err = cmd_err;
    }
    release(&r);
    return rc;
}
