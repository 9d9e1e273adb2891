/* Runs in the run store and what hangs off them: creating and finishing a
 * run, its devices, markers and key/value metadata, finding and listing
 * runs (a RECORDING run whose writer is gone reads as INCOMPLETE), and
 * deleting a run with everything that belongs to it. */
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fm_run_init(fm_run *run)
{
    memset(run, 0, sizeof *run);
    run->params = NAN;
    run->tokens = -1;
    run->exit_code = -1;
    run->writer_start_ticks = -1;
    run->status = FM_RUN_RECORDING;
}

void fm_marker_init(fm_marker *m, int64_t t_ns)
{
    memset(m, 0, sizeof *m);
    m->t_ns = t_ns;
    m->tokens = -1;
    m->request = -1;
    m->gpu = -1;
    m->energy_j = NAN;
}

const char *fm_run_status_name(fm_run_status s)
{
    switch (s) {
    case FM_RUN_RECORDING:
        return "recording";
    case FM_RUN_COMPLETE:
        return "complete";
    case FM_RUN_INCOMPLETE:
        return "incomplete";
    }
    return "unknown";
}

int fm_store_run_is_stale(const fm_run *run)
{
    if (run->status != FM_RUN_RECORDING)
        return 0;
    fm_process_identity writer = {.pid = run->writer_pid, .start_ticks = run->writer_start_ticks};
    snprintf(writer.boot_id, sizeof writer.boot_id, "%s", run->writer_boot_id);
    return fm_store_writer_gone(&writer);
}

/* Binds text, or NULL for an empty string. */
static int bind_text_or_null(sqlite3_stmt *stmt, int col, const char *text)
{
    if (!text || !*text)
        return sqlite3_bind_null(stmt, col);
    return sqlite3_bind_text(stmt, col, text, -1, SQLITE_TRANSIENT);
}

static void bind_int64_or_null(sqlite3_stmt *stmt, int col, int64_t v, int64_t missing)
{
    if (v == missing)
        sqlite3_bind_null(stmt, col);
    else
        sqlite3_bind_int64(stmt, col, v);
}

/* Runs a one-shot statement made by the caller, finalizes it, and reports
 * a failure with `what`. */
static int finish_statement(fm_store *st, sqlite3_stmt *stmt, const char *what, fm_error *err)
{
    int rc = fm_store_step(stmt);
    int status = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? FM_OK : fm_store_fail(st, err, what);
    sqlite3_finalize(stmt);
    return status;
}

static int prepare_once(fm_store *st, const char *sql, sqlite3_stmt **stmt, fm_error *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK) {
        *stmt = NULL;
        return fm_store_fail(st, err, "preparing a statement");
    }
    return FM_OK;
}

int fm_store_run_begin(fm_store *st, fm_run *run, fm_error *err)
{
    fm_process_identity self;
    fm_store_self_identity(&self);
    run->writer_pid = self.pid;
    run->writer_start_ticks = self.start_ticks;
    snprintf(run->writer_boot_id, sizeof run->writer_boot_id, "%s", self.boot_id);
    run->status = FM_RUN_RECORDING;

    sqlite3_stmt *stmt;
    int rc = prepare_once(st,
                          "INSERT INTO runs(name, model, params, tags, backend, source,"
                          " start_wall_ns, t0_ns, end_ns, gpus, interval_ms, tokens, status,"
                          " exit_code, writer_pid, writer_start_ticks, writer_boot_id)"
                          " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, run->name, -1, SQLITE_TRANSIENT); /* renamed below if empty */
    bind_text_or_null(stmt, 2, run->model);
    fm_store_bind_real_or_null(stmt, 3, run->params);
    bind_text_or_null(stmt, 4, run->tags);
    bind_text_or_null(stmt, 5, run->backend);
    bind_text_or_null(stmt, 6, run->source);
    sqlite3_bind_int64(stmt, 7, run->start_wall_ns);
    sqlite3_bind_int64(stmt, 8, run->t0_ns);
    bind_int64_or_null(stmt, 9, run->end_ns, 0);
    sqlite3_bind_int(stmt, 10, run->gpus);
    fm_store_bind_real_or_null(stmt, 11, run->interval_ms > 0 ? run->interval_ms : NAN);
    bind_int64_or_null(stmt, 12, run->tokens < 0 ? -1 : run->tokens, -1);
    sqlite3_bind_int(stmt, 13, FM_RUN_RECORDING);
    bind_int64_or_null(stmt, 14, run->exit_code, -1);
    sqlite3_bind_int(stmt, 15, run->writer_pid);
    bind_int64_or_null(stmt, 16, run->writer_start_ticks, -1);
    bind_text_or_null(stmt, 17, run->writer_boot_id);
    rc = finish_statement(st, stmt, "creating a run", err);
    if (rc)
        return rc;
    run->id = sqlite3_last_insert_rowid(st->db);
    if (!run->name[0]) {
        snprintf(run->name, sizeof run->name, "run-%lld", (long long)run->id);
        rc = prepare_once(st, "UPDATE runs SET name = ? WHERE id = ?", &stmt, err);
        if (rc)
            return rc;
        sqlite3_bind_text(stmt, 1, run->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 2, run->id);
        rc = finish_statement(st, stmt, "naming a run", err);
    }
    return rc;
}

/* "power_instant,power_avg,energy,..." for a supported-fields bitmask. */
static void field_names(uint32_t bits, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    for (int bit = 0; bit < FM_STORE_FIELD_COUNT; bit++) {
        if (!(bits & (1u << bit)))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
                         fm_field_name((enum fm_field)(1u << bit)));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
}

int fm_store_add_device(fm_store *st, int64_t run_id, int gpu, const fm_device_info *dev,
                        const fm_backend_info *bi, fm_error *err)
{
    sqlite3_stmt *stmt;
    int rc = prepare_once(st,
                          "INSERT OR REPLACE INTO devices(run_id, gpu, device_index, name, uuid,"
                          " pci_bus_id, arch, power_limit_w, idle_power_w, supported,"
                          " supported_names, power_instant_source, power_avg_source, energy_source,"
                          " backend, driver_version, nvml_version, library_path)"
                          " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          &stmt, err);
    if (rc)
        return rc;
    char names[256];
    field_names(dev->supported, names, sizeof names);
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int(stmt, 2, gpu);
    sqlite3_bind_int(stmt, 3, dev->index);
    bind_text_or_null(stmt, 4, dev->name);
    bind_text_or_null(stmt, 5, dev->uuid);
    bind_text_or_null(stmt, 6, dev->pci_bus_id);
    bind_text_or_null(stmt, 7, dev->arch);
    fm_store_bind_real_or_null(stmt, 8, dev->power_limit_w);
    fm_store_bind_real_or_null(stmt, 9, dev->idle_power_w);
    sqlite3_bind_int64(stmt, 10, dev->supported);
    bind_text_or_null(stmt, 11, names);
    bind_text_or_null(stmt, 12, dev->power_instant_source);
    bind_text_or_null(stmt, 13, dev->power_avg_source);
    bind_text_or_null(stmt, 14, dev->energy_source);
    bind_text_or_null(stmt, 15, bi ? bi->backend : NULL);
    bind_text_or_null(stmt, 16, bi ? bi->driver_version : NULL);
    bind_text_or_null(stmt, 17, bi ? bi->nvml_version : NULL);
    bind_text_or_null(stmt, 18, bi ? bi->library_path : NULL);
    return finish_statement(st, stmt, "storing a device", err);
}

int fm_store_add_marker(fm_store *st, int64_t run_id, const fm_marker *m, fm_error *err)
{
    sqlite3_stmt *stmt;
    int rc = prepare_once(st,
                          "INSERT INTO markers(run_id, t_ns, kind, name, tokens, request, gpu,"
                          " energy_j) VALUES (?,?,?,?,?,?,?,?)",
                          &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_int64(stmt, 2, m->t_ns);
    sqlite3_bind_text(stmt, 3, m->kind, -1, SQLITE_TRANSIENT);
    bind_text_or_null(stmt, 4, m->name);
    bind_int64_or_null(stmt, 5, m->tokens < 0 ? -1 : m->tokens, -1);
    bind_int64_or_null(stmt, 6, m->request < 0 ? -1 : m->request, -1);
    bind_int64_or_null(stmt, 7, m->gpu < 0 ? -1 : m->gpu, -1);
    fm_store_bind_real_or_null(stmt, 8, m->energy_j);
    return finish_statement(st, stmt, "storing a marker", err);
}

int fm_store_set_meta(fm_store *st, int64_t run_id, const char *key, const char *value,
                      fm_error *err)
{
    sqlite3_stmt *stmt;
    int rc = prepare_once(st, "INSERT OR REPLACE INTO run_meta(run_id, key, value) VALUES (?,?,?)",
                          &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_TRANSIENT);
    if (value)
        sqlite3_bind_text(stmt, 3, value, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, 3);
    return finish_statement(st, stmt, "storing run metadata", err);
}

int fm_store_get_meta(fm_store *st, int64_t run_id, const char *key, char *buf, size_t len,
                      fm_error *err)
{
    sqlite3_stmt *stmt;
    int rc =
        prepare_once(st, "SELECT value FROM run_meta WHERE run_id = ? AND key = ?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_TRANSIENT);
    rc = fm_store_step(stmt);
    if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
        if (len)
            snprintf(buf, len, "%s", (const char *)sqlite3_column_text(stmt, 0));
        rc = FM_OK;
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        rc =
            fm_fail(err, FM_ERR_NOT_FOUND, "run %lld has no metadata '%s'", (long long)run_id, key);
    } else {
        rc = fm_store_fail(st, err, "reading run metadata");
    }
    sqlite3_finalize(stmt);
    return rc;
}

int fm_store_run_finish(fm_store *st, const fm_run *run, fm_error *err)
{
    int rc = fm_store_flush(st, err);
    if (rc)
        return rc;
    sqlite3_stmt *stmt;
    rc = prepare_once(st,
                      "UPDATE runs SET status = ?, end_ns = coalesce(?, end_ns), tokens = ?,"
                      " exit_code = ?, gpus = ? WHERE id = ?",
                      &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int(stmt, 1, FM_RUN_COMPLETE);
    bind_int64_or_null(stmt, 2, run->end_ns > 0 ? run->end_ns : 0, 0);
    bind_int64_or_null(stmt, 3, run->tokens < 0 ? -1 : run->tokens, -1);
    bind_int64_or_null(stmt, 4, run->exit_code, -1);
    sqlite3_bind_int(stmt, 5, run->gpus);
    sqlite3_bind_int64(stmt, 6, run->id);
    rc = finish_statement(st, stmt, "finishing a run", err);
    if (rc == FM_OK && sqlite3_changes(st->db) == 0)
        rc = fm_fail(err, FM_ERR_NOT_FOUND, "%s: no run %lld to finish", st->path,
                     (long long)run->id);
    return rc;
}

/* ---- reading runs ---- */

#define RUN_COLUMNS                                                                                \
    "id, name, model, params, tags, backend, source, start_wall_ns, t0_ns, end_ns, gpus,"          \
    " interval_ms, tokens, status, exit_code, writer_pid, writer_start_ticks, writer_boot_id"

static void copy_text(sqlite3_stmt *stmt, int col, char *buf, size_t len)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    snprintf(buf, len, "%s", text ? (const char *)text : "");
}

static int64_t column_int64_or(sqlite3_stmt *stmt, int col, int64_t missing)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return missing;
    return sqlite3_column_int64(stmt, col);
}

/* Fills a run (an fm_run) from a row of RUN_COLUMNS and applies the
 * stale-writer rule. */
static void run_from_row(sqlite3_stmt *stmt, void *item)
{
    fm_run *run = item;
    fm_run_init(run);
    run->id = sqlite3_column_int64(stmt, 0);
    copy_text(stmt, 1, run->name, sizeof run->name);
    copy_text(stmt, 2, run->model, sizeof run->model);
    run->params = fm_store_column_real_or_nan(stmt, 3);
    copy_text(stmt, 4, run->tags, sizeof run->tags);
    copy_text(stmt, 5, run->backend, sizeof run->backend);
    copy_text(stmt, 6, run->source, sizeof run->source);
    run->start_wall_ns = column_int64_or(stmt, 7, 0);
    run->t0_ns = column_int64_or(stmt, 8, 0);
    run->end_ns = column_int64_or(stmt, 9, 0);
    run->gpus = sqlite3_column_int(stmt, 10);
    double interval_ms = fm_store_column_real_or_nan(stmt, 11);
    run->interval_ms = isnan(interval_ms) ? 0 : interval_ms;
    run->tokens = column_int64_or(stmt, 12, -1);
    run->status = (fm_run_status)sqlite3_column_int(stmt, 13);
    run->exit_code = (int)column_int64_or(stmt, 14, -1);
    run->writer_pid = (int)column_int64_or(stmt, 15, 0);
    run->writer_start_ticks = column_int64_or(stmt, 16, -1);
    copy_text(stmt, 17, run->writer_boot_id, sizeof run->writer_boot_id);
    if (fm_store_run_is_stale(run))
        run->status = FM_RUN_INCOMPLETE;
}

/* Reads every remaining row of stmt into a malloc'ed array of items of
 * item_size bytes, each filled by from_row, and finalizes stmt. Messages:
 * "<path>: out of memory <oom_what>", or the database's error while
 * <fail_what>. On success *items (NULL when there are no rows) and *count. */
static int read_rows(fm_store *st, sqlite3_stmt *stmt, size_t item_size,
                     void (*from_row)(sqlite3_stmt *stmt, void *item), const char *oom_what,
                     const char *fail_what, void **items, size_t *count, fm_error *err)
{
    char *array = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = fm_store_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            size_t new_cap = cap ? cap * 2 : 16;
            char *grown = realloc(array, new_cap * item_size);
            if (!grown) {
                free(array);
                sqlite3_finalize(stmt);
                return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory %s", st->path, oom_what);
            }
            array = grown;
            cap = new_cap;
        }
        from_row(stmt, array + n * item_size);
        n++;
    }
    if (rc != SQLITE_DONE) {
        rc = fm_store_fail(st, err, fail_what);
        free(array);
        sqlite3_finalize(stmt);
        return rc;
    }
    sqlite3_finalize(stmt);
    *items = array;
    *count = n;
    return FM_OK;
}

/* A whole decimal number (optionally negative), nothing else. */
static int parse_id(const char *text, int64_t *id)
{
    char *end;
    if (!*text)
        return 0;
    long long v = strtoll(text, &end, 10);
    if (*end)
        return 0;
    *id = v;
    return 1;
}

int fm_store_find_run(fm_store *st, const char *id_or_name, fm_run *out, fm_error *err)
{
    int rc = fm_store_flush(st, err);
    if (rc)
        return rc;
    int64_t id = 0;
    int by_last = !strcmp(id_or_name, "last") || !strcmp(id_or_name, "-1");
    int by_id = !by_last && parse_id(id_or_name, &id);
    /* A name wins over an id only when no run has that id: look up by id
     * first, then by name (newest run of that name). */
    const char *sql = by_last ? "SELECT " RUN_COLUMNS " FROM runs ORDER BY id DESC LIMIT 1"
                      : by_id ? "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1 OR name = ?2"
                                " ORDER BY (id = ?1) DESC, id DESC LIMIT 1"
                              : "SELECT " RUN_COLUMNS " FROM runs WHERE name = ?2"
                                " ORDER BY id DESC LIMIT 1";
    sqlite3_stmt *stmt;
    rc = prepare_once(st, sql, &stmt, err);
    if (rc)
        return rc;
    if (by_id)
        sqlite3_bind_int64(stmt, 1, id);
    if (!by_last)
        sqlite3_bind_text(stmt, 2, id_or_name, -1, SQLITE_TRANSIENT);
    rc = fm_store_step(stmt);
    if (rc == SQLITE_ROW) {
        run_from_row(stmt, out);
        rc = FM_OK;
    } else if (rc == SQLITE_DONE) {
        rc = by_last ? fm_fail(err, FM_ERR_NOT_FOUND, "%s: no runs recorded yet", st->path)
                     : fm_fail(err, FM_ERR_NOT_FOUND, "%s: no run with id or name '%s'", st->path,
                               id_or_name);
    } else {
        rc = fm_store_fail(st, err, "looking up a run");
    }
    sqlite3_finalize(stmt);
    return rc;
}

int fm_store_get_run(fm_store *st, int64_t run_id, fm_run *out, fm_error *err)
{
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%lld", (long long)run_id);
    return fm_store_find_run(st, id_text, out, err);
}

int fm_store_list_runs(fm_store *st, fm_run **out, size_t *count, fm_error *err)
{
    *out = NULL;
    *count = 0;
    int rc = fm_store_flush(st, err);
    if (rc)
        return rc;
    sqlite3_stmt *stmt;
    rc = prepare_once(st, "SELECT " RUN_COLUMNS " FROM runs ORDER BY id DESC", &stmt, err);
    if (rc)
        return rc;
    void *runs = NULL;
    rc = read_rows(st, stmt, sizeof **out, run_from_row, "listing runs", "listing runs", &runs,
                   count, err);
    if (rc == FM_OK)
        *out = runs;
    return rc;
}

/* Fills an fm_device_info from a row of fm_store_load_devices' query. */
static void device_from_row(sqlite3_stmt *stmt, void *item)
{
    fm_device_info *dev = item;
    memset(dev, 0, sizeof *dev);
    dev->index = sqlite3_column_int(stmt, 0);
    copy_text(stmt, 1, dev->name, sizeof dev->name);
    copy_text(stmt, 2, dev->uuid, sizeof dev->uuid);
    copy_text(stmt, 3, dev->pci_bus_id, sizeof dev->pci_bus_id);
    copy_text(stmt, 4, dev->arch, sizeof dev->arch);
    dev->power_limit_w = fm_store_column_real_or_nan(stmt, 5);
    dev->idle_power_w = fm_store_column_real_or_nan(stmt, 6);
    dev->supported = (uint32_t)sqlite3_column_int64(stmt, 7);
    copy_text(stmt, 8, dev->power_instant_source, sizeof dev->power_instant_source);
    copy_text(stmt, 9, dev->power_avg_source, sizeof dev->power_avg_source);
    copy_text(stmt, 10, dev->energy_source, sizeof dev->energy_source);
}

int fm_store_load_devices(fm_store *st, int64_t run_id, fm_device_info **out, size_t *count,
                          fm_error *err)
{
    *out = NULL;
    *count = 0;
    sqlite3_stmt *stmt;
    int rc = prepare_once(st,
                          "SELECT device_index, name, uuid, pci_bus_id, arch, power_limit_w,"
                          " idle_power_w, supported, power_instant_source, power_avg_source,"
                          " energy_source, gpu FROM devices WHERE run_id = ? ORDER BY gpu",
                          &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run_id);
    void *devs = NULL;
    rc = read_rows(st, stmt, sizeof **out, device_from_row, "loading devices", "loading devices",
                   &devs, count, err);
    if (rc == FM_OK)
        *out = devs;
    return rc;
}

int fm_store_load_backend_info(fm_store *st, int64_t run_id, fm_backend_info *out, fm_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt;
    int rc = prepare_once(st,
                          "SELECT backend, driver_version, nvml_version, library_path FROM devices"
                          " WHERE run_id = ? ORDER BY gpu LIMIT 1",
                          &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run_id);
    rc = fm_store_step(stmt);
    if (rc == SQLITE_ROW) {
        copy_text(stmt, 0, out->backend, sizeof out->backend);
        copy_text(stmt, 1, out->driver_version, sizeof out->driver_version);
        copy_text(stmt, 2, out->nvml_version, sizeof out->nvml_version);
        copy_text(stmt, 3, out->library_path, sizeof out->library_path);
        rc = FM_OK;
    } else if (rc == SQLITE_DONE) {
        rc = fm_fail(err, FM_ERR_NOT_FOUND, "%s: run %lld has no devices", st->path,
                     (long long)run_id);
    } else {
        rc = fm_store_fail(st, err, "loading backend facts");
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Fills an fm_marker from a row of fm_store_load_markers' query. */
static void marker_from_row(sqlite3_stmt *stmt, void *item)
{
    fm_marker *m = item;
    memset(m, 0, sizeof *m);
    m->t_ns = sqlite3_column_int64(stmt, 0);
    copy_text(stmt, 1, m->kind, sizeof m->kind);
    copy_text(stmt, 2, m->name, sizeof m->name);
    m->tokens = column_int64_or(stmt, 3, -1);
    m->request = column_int64_or(stmt, 4, -1);
    m->gpu = (int)column_int64_or(stmt, 5, -1);
    m->energy_j = fm_store_column_real_or_nan(stmt, 6);
}

int fm_store_load_markers(fm_store *st, int64_t run_id, fm_marker **out, size_t *count,
                          fm_error *err)
{
    *out = NULL;
    *count = 0;
    sqlite3_stmt *stmt;
    int rc = prepare_once(st,
                          "SELECT t_ns, kind, name, tokens, request, gpu, energy_j FROM markers"
                          " WHERE run_id = ? ORDER BY t_ns, id",
                          &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run_id);
    void *marks = NULL;
    rc = read_rows(st, stmt, sizeof **out, marker_from_row, "loading markers", "loading markers",
                   &marks, count, err);
    if (rc == FM_OK)
        *out = marks;
    return rc;
}

int fm_store_delete_run(fm_store *st, int64_t run_id, fm_error *err)
{
    int rc = fm_store_flush(st, err);
    if (rc)
        return rc;
    static const char *const tables[] = {"samples", "markers", "run_meta", "devices"};
    rc = fm_store_begin(st, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && rc == FM_OK; i++) {
        char sql[80];
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE run_id = ?", tables[i]);
        sqlite3_stmt *stmt;
        rc = prepare_once(st, sql, &stmt, err);
        if (rc == FM_OK) {
            sqlite3_bind_int64(stmt, 1, run_id);
            rc = finish_statement(st, stmt, "deleting a run", err);
        }
    }
    if (rc == FM_OK) {
        sqlite3_stmt *stmt;
        rc = prepare_once(st, "DELETE FROM runs WHERE id = ?", &stmt, err);
        if (rc == FM_OK) {
            sqlite3_bind_int64(stmt, 1, run_id);
            rc = finish_statement(st, stmt, "deleting a run", err);
        }
        if (rc == FM_OK && sqlite3_changes(st->db) == 0)
            rc = fm_fail(err, FM_ERR_NOT_FOUND, "%s: no run %lld to delete", st->path,
                         (long long)run_id);
    }
    if (rc) {
        fm_store_rollback(st);
        return rc;
    }
    return fm_store_commit(st, err);
}

/* Fills an fm_meta_entry from a (key, value) row. */
static void meta_from_row(sqlite3_stmt *stmt, void *item)
{
    fm_meta_entry *entry = item;
    copy_text(stmt, 0, entry->key, sizeof entry->key);
    copy_text(stmt, 1, entry->value, sizeof entry->value);
}

int fm_store_list_meta(fm_store *st, int64_t run_id, fm_meta_entry **out, size_t *count,
                       fm_error *err)
{
    *out = NULL;
    *count = 0;
    sqlite3_stmt *stmt;
    int rc = prepare_once(st, "SELECT key, value FROM run_meta WHERE run_id = ? ORDER BY key",
                          &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run_id);
    void *entries = NULL;
    rc = read_rows(st, stmt, sizeof **out, meta_from_row, "loading metadata",
                   "loading run metadata", &entries, count, err);
    if (rc == FM_OK)
        *out = entries;
    return rc;
}
