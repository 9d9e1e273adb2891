/* The run store's connection: opening the SQLite database (WAL mode,
 * synchronous=NORMAL, busy timeout), creating or checking the schema
 * (docs/STORE.md), closing it, and the helpers every store file uses to
 * run statements with busy retries and to report SQLite errors. */
#include "store/store_internal.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The schema. Every table and column is documented in docs/STORE.md. */
static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "  version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  model TEXT,"
    "  params REAL,"
    "  tags TEXT,"
    "  backend TEXT,"
    "  source TEXT,"
    "  start_wall_ns INTEGER,"
    "  t0_ns INTEGER,"
    "  end_ns INTEGER,"
    "  gpus INTEGER NOT NULL,"
    "  interval_ms REAL,"
    "  tokens INTEGER,"
    "  status INTEGER NOT NULL,"
    "  exit_code INTEGER,"
    "  writer_pid INTEGER,"
    "  writer_start_ticks INTEGER,"
    "  writer_boot_id TEXT);"
    "CREATE INDEX IF NOT EXISTS runs_name ON runs(name);"
    "CREATE TABLE IF NOT EXISTS devices ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  gpu INTEGER NOT NULL,"
    "  device_index INTEGER,"
    "  name TEXT,"
    "  uuid TEXT,"
    "  pci_bus_id TEXT,"
    "  arch TEXT,"
    "  power_limit_w REAL,"
    "  idle_power_w REAL,"
    "  supported INTEGER NOT NULL,"
    "  supported_names TEXT,"
    "  power_instant_source TEXT,"
    "  power_avg_source TEXT,"
    "  energy_source TEXT,"
    "  backend TEXT,"
    "  driver_version TEXT,"
    "  nvml_version TEXT,"
    "  library_path TEXT,"
    "  PRIMARY KEY (run_id, gpu)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS samples ("
    "  run_id INTEGER NOT NULL,"
    "  gpu INTEGER NOT NULL,"
    "  t_ns INTEGER NOT NULL,"
    "  power_instant_w REAL,"
    "  power_avg_w REAL,"
    "  energy_j REAL,"
    "  temp_c REAL,"
    "  sm_clock_mhz REAL,"
    "  util_pct REAL,"
    "  mem_used_bytes INTEGER,"
    "  clock_events INTEGER,"
    "  PRIMARY KEY (run_id, gpu, t_ns)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS markers ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  t_ns INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  name TEXT,"
    "  tokens INTEGER,"
    "  request INTEGER,"
    "  gpu INTEGER,"
    "  energy_j REAL);"
    "CREATE INDEX IF NOT EXISTS markers_run_time ON markers(run_id, t_ns);"
    "CREATE TABLE IF NOT EXISTS run_meta ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  key TEXT NOT NULL,"
    "  value TEXT,"
    "  PRIMARY KEY (run_id, key)) WITHOUT ROWID;";

const char *fm_store_default_path(void)
{
    const char *env = getenv("FIRMUS_DB");
    return (env && *env) ? env : "firmus.db";
}

int fm_store_fail(fm_store *st, fm_error *err, const char *what)
{
    const char *msg = st->db ? sqlite3_errmsg(st->db) : "out of memory";
    return fm_fail(err, FM_ERR_IO, "%s: %s: %s", st->path, what, msg);
}

static int is_busy(int rc)
{
    int primary = rc & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

/* Short pause between retries: 2, 4, ... up to 50 ms. */
static void busy_pause(int attempt)
{
    long ms = 2L << (attempt < 5 ? attempt : 5);
    if (ms > 50)
        ms = 50;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Retries stop once this much time has passed since the first try; SQLite's
 * own busy timeout usually waited already, so this mostly covers the cases
 * where SQLite answers SQLITE_BUSY at once (e.g. a WAL snapshot conflict). */
static int retry_allowed(int64_t started_ns, int attempt)
{
    int64_t elapsed_ns = fm_monotonic_ns() - started_ns;
    return attempt < FM_STORE_BUSY_RETRIES &&
           elapsed_ns < (int64_t)FM_STORE_BUSY_TIMEOUT_MS * 1000000;
}

int fm_store_step(sqlite3_stmt *stmt)
{
    /* A statement already part-way through its rows must not be reset and
     * retried (that would return rows twice): only a first step retries. */
    if (sqlite3_stmt_busy(stmt))
        return sqlite3_step(stmt);
    int64_t started_ns = fm_monotonic_ns();
    int rc = sqlite3_step(stmt);
    for (int attempt = 0; is_busy(rc) && retry_allowed(started_ns, attempt); attempt++) {
        sqlite3_reset(stmt);
        busy_pause(attempt);
        rc = sqlite3_step(stmt);
    }
    return rc;
}

int fm_store_exec(fm_store *st, const char *sql, fm_error *err)
{
    int64_t started_ns = fm_monotonic_ns();
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    for (int attempt = 0; is_busy(rc) && retry_allowed(started_ns, attempt); attempt++) {
        busy_pause(attempt);
        rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        char what[64];
        snprintf(what, sizeof what, "running \"%.40s%s\"", sql, strlen(sql) > 40 ? "..." : "");
        return fm_store_fail(st, err, what);
    }
    return FM_OK;
}

int fm_store_prepare(fm_store *st, sqlite3_stmt **slot, const char *sql, fm_error *err)
{
    if (*slot) {
        sqlite3_reset(*slot);
        sqlite3_clear_bindings(*slot);
        return FM_OK;
    }
    if (sqlite3_prepare_v2(st->db, sql, -1, slot, NULL) != SQLITE_OK) {
        *slot = NULL;
        return fm_store_fail(st, err, "preparing a statement");
    }
    return FM_OK;
}

int fm_store_begin(fm_store *st, fm_error *err)
{
    return fm_store_exec(st, "BEGIN IMMEDIATE", err);
}

int fm_store_commit(fm_store *st, fm_error *err)
{
    return fm_store_exec(st, "COMMIT", err);
}

void fm_store_rollback(fm_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int fm_store_bind_real_or_null(sqlite3_stmt *stmt, int col, double v)
{
    if (isnan(v))
        return sqlite3_bind_null(stmt, col);
    return sqlite3_bind_double(stmt, col, v);
}

double fm_store_column_real_or_nan(sqlite3_stmt *stmt, int col)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return NAN;
    return sqlite3_column_double(stmt, col);
}

/* Reads the schema version: 1 and *version set if the table has a row,
 * 0 if the table is absent or empty, negative (err set) on failure. */
static int read_schema_version(fm_store *st, int64_t *version, fm_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT max(version) FROM schema_version", -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        const char *msg = sqlite3_errmsg(st->db);
        int absent = strstr(msg, "no such table") != NULL;
        sqlite3_finalize(stmt);
        return absent ? 0 : fm_store_fail(st, err, "reading the schema version");
    }
    int step = fm_store_step(stmt);
    int found = step == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL;
    if (found)
        *version = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return fm_store_fail(st, err, "reading the schema version");
    return found;
}

static int check_version(fm_store *st, int64_t version, fm_error *err)
{
    if (version == FM_STORE_SCHEMA_VERSION)
        return FM_OK;
    return fm_fail(err, FM_ERR_IO,
                   "%s: run store schema version %lld, this firmus reads version %d", st->path,
                   (long long)version, FM_STORE_SCHEMA_VERSION);
}

/* Checks the version of an existing store (a read: no write lock, so
 * opening a store a recorder is writing does not wait for it), or creates
 * the tables of a new one in one IMMEDIATE transaction, so two processes
 * creating the same new store do not both do it. */
static int ensure_schema(fm_store *st, fm_error *err)
{
    int64_t version = 0;
    int found = read_schema_version(st, &version, err);
    if (found < 0)
        return found;
    if (found)
        return check_version(st, version, err);
    int rc = fm_store_begin(st, err);
    if (rc)
        return rc;
    rc = fm_store_exec(st, schema_sql, err);
    if (rc == FM_OK) {
        found = read_schema_version(st, &version, err); /* another process may have won */
        rc = found < 0 ? found : FM_OK;
    }
    if (rc == FM_OK && found) {
        rc = check_version(st, version, err);
    } else if (rc == FM_OK) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO schema_version(version) VALUES (%d)",
                 FM_STORE_SCHEMA_VERSION);
        rc = fm_store_exec(st, sql, err);
    }
    if (rc) {
        fm_store_rollback(st);
        return rc;
    }
    return fm_store_commit(st, err);
}

static int configure_connection(fm_store *st, fm_error *err)
{
    sqlite3_busy_timeout(st->db, FM_STORE_BUSY_TIMEOUT_MS);
    /* journal_mode answers with a row (sqlite3_exec discards it). Where
     * WAL is impossible (an in-memory database) SQLite keeps its default
     * journal, which is still correct, only less concurrent. */
    int rc = fm_store_exec(st, "PRAGMA journal_mode=WAL", err);
    if (rc)
        return rc;
    rc = fm_store_exec(st, "PRAGMA synchronous=NORMAL", err);
    if (rc)
        return rc;
    return ensure_schema(st, err);
}

int fm_store_open(const char *path, fm_store **out, fm_error *err)
{
    *out = NULL;
    if (!path || !*path)
        return fm_fail(err, FM_ERR_USAGE, "run store: empty database path");
    fm_store *st = calloc(1, sizeof *st);
    if (!st)
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory", path);
    st->path = strdup(path);
    st->queue = malloc(FM_STORE_QUEUE_CAP * sizeof *st->queue);
    if (!st->path || !st->queue) {
        fm_store_close(st);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory", path);
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        rc = fm_store_fail(st, err, "cannot open the run store");
        fm_store_close(st);
        return rc;
    }
    rc = configure_connection(st, err);
    if (rc) {
        fm_store_close(st);
        return rc;
    }
    *out = st;
    return FM_OK;
}

void fm_store_close(fm_store *st)
{
    if (!st)
        return;
    if (st->db && st->queued) {
        fm_error ignored;
        fm_store_flush(st, &ignored);
    }
    sqlite3_finalize(st->insert_sample);
    sqlite3_finalize(st->update_end);
    sqlite3_finalize(st->load_samples);
    for (int i = 0; i < FM_STORE_FIELD_COUNT; i++)
        sqlite3_finalize(st->load_field[i]);
    if (st->db)
        sqlite3_close(st->db);
    free(st->queue);
    free(st->path);
    free(st);
}

/* ---- writer identity (stale RECORDING runs) ---- */

/* Field 22 (starttime) of /proc/<pid>/stat; -1 if unreadable. The command
 * name (field 2) may hold spaces and parentheses, so parse after the last
 * ')'. */
static int64_t process_start_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    /* After ')' come fields 3, 4, ...: skip 19 fields to reach 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    return strtoll(p + 1, NULL, 10);
}

static void read_boot_id(char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return;
    if (fgets(buf, (int)len, f))
        buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
}

void fm_store_self_identity(fm_process_identity *id)
{
    id->pid = (int)getpid();
    id->start_ticks = process_start_ticks(id->pid);
    read_boot_id(id->boot_id, sizeof id->boot_id);
}

int fm_store_writer_gone(const fm_process_identity *writer)
{
    if (writer->pid <= 0)
        return 1;
    char boot_now[40];
    read_boot_id(boot_now, sizeof boot_now);
    if (writer->boot_id[0] && boot_now[0] && strcmp(writer->boot_id, boot_now) != 0)
        return 1; /* written before the last reboot */
    if (kill(writer->pid, 0) != 0 && errno == ESRCH)
        return 1;
    /* The pid exists (EPERM also means it exists): is it still the writer,
     * or a new process that got the same pid? */
    if (writer->start_ticks >= 0) {
        int64_t now_ticks = process_start_ticks(writer->pid);
        if (now_ticks >= 0 && now_ticks != writer->start_ticks)
            return 1;
    }
    return 0;
}
