/* Samples in the run store: the in-memory queue that batches them into one
 * transaction at least every 0.5 s (bounded, so memory stays flat however
 * long a run is), the commit itself with a reused prepared statement, and
 * loading a GPU's samples or one quantity of them back in time order
 * (a range scan of the samples table's clustered primary key). */
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Column of the samples table holding each enum fm_field bit (by bit
 * number), in the order of the insert statement. */
static const char *const field_columns[FM_STORE_FIELD_COUNT] = {
    "power_instant_w", "power_avg_w", "energy_j",       "temp_c",
    "sm_clock_mhz",    "util_pct",    "mem_used_bytes", "clock_events",
};

/* Bit number of a single-bit field; -1 if not exactly one known bit. */
static int field_bit(enum fm_field field)
{
    for (int bit = 0; bit < FM_STORE_FIELD_COUNT; bit++)
        if ((uint32_t)field == (1u << bit))
            return bit;
    return -1;
}

static double valid_or_nan(const fm_sample *s, uint32_t bit, double v)
{
    return (s->valid & bit) ? v : NAN;
}

static int bind_sample(sqlite3_stmt *stmt, const fm_queued_sample *q)
{
    const fm_sample *s = &q->sample;
    sqlite3_bind_int64(stmt, 1, q->run_id);
    sqlite3_bind_int(stmt, 2, q->gpu);
    sqlite3_bind_int64(stmt, 3, s->t_ns);
    fm_store_bind_real_or_null(stmt, 4, valid_or_nan(s, FM_F_POWER_INSTANT, s->power_instant_w));
    fm_store_bind_real_or_null(stmt, 5, valid_or_nan(s, FM_F_POWER_AVG, s->power_avg_w));
    fm_store_bind_real_or_null(stmt, 6, valid_or_nan(s, FM_F_ENERGY, s->energy_j));
    fm_store_bind_real_or_null(stmt, 7, valid_or_nan(s, FM_F_TEMP, s->temp_c));
    fm_store_bind_real_or_null(stmt, 8, valid_or_nan(s, FM_F_SM_CLOCK, s->sm_clock_mhz));
    fm_store_bind_real_or_null(stmt, 9, valid_or_nan(s, FM_F_UTIL, s->util_pct));
    if (s->valid & FM_F_MEM_USED)
        sqlite3_bind_int64(stmt, 10, (sqlite3_int64)s->mem_used_bytes);
    else
        sqlite3_bind_null(stmt, 10);
    if (s->valid & FM_F_CLOCK_EVENTS)
        sqlite3_bind_int64(stmt, 11, (sqlite3_int64)s->clock_events);
    else
        sqlite3_bind_null(stmt, 11);
    return FM_OK;
}

/* Moves runs.end_ns forward to the newest committed sample of each run in
 * the batch (once per run per commit). */
static int update_run_ends(fm_store *st, fm_error *err)
{
    int64_t done_run = -1;
    for (size_t i = 0; i < st->queued; i++) {
        int64_t run_id = st->queue[i].run_id;
        if (run_id == done_run)
            continue;
        int64_t newest_ns = st->queue[i].sample.t_ns;
        for (size_t j = i + 1; j < st->queued; j++)
            if (st->queue[j].run_id == run_id && st->queue[j].sample.t_ns > newest_ns)
                newest_ns = st->queue[j].sample.t_ns;
        int rc = fm_store_prepare(st, &st->update_end,
                                  "UPDATE runs SET end_ns = max(coalesce(end_ns, ?1), ?1)"
                                  " WHERE id = ?2",
                                  err);
        if (rc)
            return rc;
        sqlite3_bind_int64(st->update_end, 1, newest_ns);
        sqlite3_bind_int64(st->update_end, 2, run_id);
        if (fm_store_step(st->update_end) != SQLITE_DONE)
            return fm_store_fail(st, err, "updating a run's end time");
        done_run = run_id; /* batches almost always hold one run */
    }
    return FM_OK;
}

static int insert_queue(fm_store *st, fm_error *err)
{
    for (size_t i = 0; i < st->queued; i++) {
        int rc = fm_store_prepare(st, &st->insert_sample,
                                  "INSERT INTO samples(run_id, gpu, t_ns, power_instant_w,"
                                  " power_avg_w, energy_j, temp_c, sm_clock_mhz, util_pct,"
                                  " mem_used_bytes, clock_events) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                                  " ON CONFLICT (run_id, gpu, t_ns) DO UPDATE SET"
                                  " power_instant_w = coalesce(excluded.power_instant_w,"
                                  " power_instant_w),"
                                  " power_avg_w = coalesce(excluded.power_avg_w, power_avg_w),"
                                  " energy_j = coalesce(excluded.energy_j, energy_j),"
                                  " temp_c = coalesce(excluded.temp_c, temp_c),"
                                  " sm_clock_mhz = coalesce(excluded.sm_clock_mhz, sm_clock_mhz),"
                                  " util_pct = coalesce(excluded.util_pct, util_pct),"
                                  " mem_used_bytes = coalesce(excluded.mem_used_bytes,"
                                  " mem_used_bytes),"
                                  " clock_events = coalesce(excluded.clock_events, clock_events)",
                                  err);
        if (rc)
            return rc;
        bind_sample(st->insert_sample, &st->queue[i]);
        if (fm_store_step(st->insert_sample) != SQLITE_DONE)
            return fm_store_fail(st, err, "storing samples");
    }
    return update_run_ends(st, err);
}

int fm_store_flush(fm_store *st, fm_error *err)
{
    if (st->queued == 0)
        return FM_OK;
    int rc = fm_store_begin(st, err);
    if (rc)
        return rc;
    rc = insert_queue(st, err);
    if (st->insert_sample)
        sqlite3_reset(st->insert_sample);
    if (st->update_end)
        sqlite3_reset(st->update_end);
    if (rc == FM_OK)
        rc = fm_store_commit(st, err);
    if (rc) {
        fm_store_rollback(st);
        return rc; /* the samples stay queued for the next try */
    }
    st->queued = 0;
    return FM_OK;
}

int fm_store_add_sample(fm_store *st, int64_t run_id, int gpu, const fm_sample *s, fm_error *err)
{
    if (gpu < 0)
        return fm_fail(err, FM_ERR_USAGE, "%s: sample for GPU %d of run %lld: no such GPU",
                       st->path, gpu, (long long)run_id);
    if (st->queued == FM_STORE_QUEUE_CAP) {
        int rc = fm_store_flush(st, err);
        if (rc)
            return rc; /* full and cannot commit: refuse this sample */
    }
    int64_t now_ns = fm_monotonic_ns();
    if (st->queued == 0)
        st->oldest_queued_ns = now_ns;
    st->queue[st->queued].run_id = run_id;
    st->queue[st->queued].gpu = gpu;
    st->queue[st->queued].sample = *s;
    st->queued++;
    if (st->queued == FM_STORE_QUEUE_CAP || now_ns - st->oldest_queued_ns >= FM_STORE_COMMIT_AGE_NS)
        return fm_store_flush(st, err);
    return FM_OK;
}

/* ---- loading ---- */

int fm_store_load_series(fm_store *st, int64_t run_id, int gpu, enum fm_field field, fm_series *out,
                         fm_error *err)
{
    fm_series_init(out);
    int bit = field_bit(field);
    if (bit < 0 || gpu < 0)
        return fm_fail(err, FM_ERR_USAGE, "%s: load_series: need one field and a GPU >= 0",
                       st->path);
    int rc = fm_store_flush(st, err);
    if (rc)
        return rc;
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT t_ns, %s FROM samples WHERE run_id = ? AND gpu = ? ORDER BY t_ns",
             field_columns[bit]);
    rc = fm_store_prepare(st, &st->load_field[bit], sql, err);
    if (rc)
        return rc;
    sqlite3_stmt *stmt = st->load_field[bit];
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int(stmt, 2, gpu);
    int step;
    while ((step = fm_store_step(stmt)) == SQLITE_ROW) {
        if (out->n == out->cap && fm_series_reserve(out, out->cap ? out->cap * 2 : 4096)) {
            sqlite3_reset(stmt);
            fm_series_free(out);
            return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory loading samples", st->path);
        }
        out->t_ns[out->n] = sqlite3_column_int64(stmt, 0);
        out->v[out->n] = fm_store_column_real_or_nan(stmt, 1);
        out->n++;
    }
    sqlite3_reset(stmt);
    if (step != SQLITE_DONE) {
        fm_series_free(out);
        return fm_store_fail(st, err, "loading samples");
    }
    return FM_OK;
}

static void sample_from_row(sqlite3_stmt *stmt, fm_sample *s)
{
    fm_sample_clear(s, sqlite3_column_int64(stmt, 0));
    double *const doubles[] = {&s->power_instant_w, &s->power_avg_w,  &s->energy_j,
                               &s->temp_c,          &s->sm_clock_mhz, &s->util_pct};
    for (int bit = 0; bit < 6; bit++) {
        if (sqlite3_column_type(stmt, 1 + bit) == SQLITE_NULL)
            continue;
        *doubles[bit] = sqlite3_column_double(stmt, 1 + bit);
        s->valid |= 1u << bit;
    }
    if (sqlite3_column_type(stmt, 7) != SQLITE_NULL) {
        s->mem_used_bytes = (uint64_t)sqlite3_column_int64(stmt, 7);
        s->valid |= FM_F_MEM_USED;
    }
    if (sqlite3_column_type(stmt, 8) != SQLITE_NULL) {
        s->clock_events = (uint64_t)sqlite3_column_int64(stmt, 8);
        s->valid |= FM_F_CLOCK_EVENTS;
    }
}

int fm_store_scan_samples(fm_store *st, int64_t run_id, int gpu, fm_sample_visitor visit, void *ctx,
                          fm_error *err)
{
    int rc = fm_store_flush(st, err);
    if (rc)
        return rc;
    rc = fm_store_prepare(st, &st->load_samples,
                          "SELECT t_ns, power_instant_w, power_avg_w, energy_j, temp_c,"
                          " sm_clock_mhz, util_pct, mem_used_bytes, clock_events FROM samples"
                          " WHERE run_id = ? AND gpu = ? ORDER BY t_ns",
                          err);
    if (rc)
        return rc;
    sqlite3_stmt *stmt = st->load_samples;
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int(stmt, 2, gpu);
    int step;
    while ((step = fm_store_step(stmt)) == SQLITE_ROW) {
        fm_sample s;
        sample_from_row(stmt, &s);
        rc = visit(&s, ctx);
        if (rc) {
            sqlite3_reset(stmt);
            return fm_fail(err, rc, "%s: run %lld GPU %d: stopped while reading samples%s",
                           st->path, (long long)run_id, gpu,
                           rc == FM_ERR_NOMEM ? " (out of memory)" : "");
        }
    }
    sqlite3_reset(stmt);
    if (step != SQLITE_DONE)
        return fm_store_fail(st, err, "loading samples");
    return FM_OK;
}

/* Visitor of fm_store_load_samples: appends to a growing array. */
typedef struct sample_array {
    fm_sample *items;
    size_t n, cap;
} sample_array;

static int append_sample(const fm_sample *s, void *ctx)
{
    sample_array *a = ctx;
    if (a->n == a->cap) {
        size_t new_cap = a->cap ? a->cap * 2 : 4096;
        fm_sample *grown = realloc(a->items, new_cap * sizeof *grown);
        if (!grown)
            return FM_ERR_NOMEM;
        a->items = grown;
        a->cap = new_cap;
    }
    a->items[a->n++] = *s;
    return FM_OK;
}

int fm_store_load_samples(fm_store *st, int64_t run_id, int gpu, fm_sample **out, size_t *count,
                          fm_error *err)
{
    sample_array a = {0};
    int rc = fm_store_scan_samples(st, run_id, gpu, append_sample, &a, err);
    if (rc) {
        free(a.items);
        *out = NULL;
        *count = 0;
        return rc;
    }
    *out = a.items;
    *count = a.n;
    return FM_OK;
}

/* One end of the counter span: the first (ascending) or last (descending)
 * non-NULL energy_j. */
static int counter_end(fm_store *st, int64_t run_id, int gpu, int descending, int64_t *t_ns,
                       double *energy_j, fm_error *err)
{
    const char *sql = descending ? "SELECT t_ns, energy_j FROM samples WHERE run_id = ? AND gpu = ?"
                                   " AND energy_j IS NOT NULL ORDER BY t_ns DESC LIMIT 1"
                                 : "SELECT t_ns, energy_j FROM samples WHERE run_id = ? AND gpu = ?"
                                   " AND energy_j IS NOT NULL ORDER BY t_ns LIMIT 1";
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return fm_store_fail(st, err, "preparing a statement");
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int(stmt, 2, gpu);
    int step = fm_store_step(stmt);
    int rc = FM_OK;
    if (step == SQLITE_ROW) {
        *t_ns = sqlite3_column_int64(stmt, 0);
        *energy_j = sqlite3_column_double(stmt, 1);
    } else if (step == SQLITE_DONE) {
        rc = fm_fail(err, FM_ERR_NOT_FOUND, "%s: run %lld GPU %d has no energy counter readings",
                     st->path, (long long)run_id, gpu);
    } else {
        rc = fm_store_fail(st, err, "reading the energy counter");
    }
    sqlite3_finalize(stmt);
    return rc;
}

int fm_store_counter_span(fm_store *st, int64_t run_id, int gpu, int64_t *first_t_ns,
                          double *first_j, int64_t *last_t_ns, double *last_j, fm_error *err)
{
    int rc = fm_store_flush(st, err);
    if (rc == FM_OK)
        rc = counter_end(st, run_id, gpu, 0, first_t_ns, first_j, err);
    if (rc == FM_OK)
        rc = counter_end(st, run_id, gpu, 1, last_t_ns, last_j, err);
    return rc;
}
