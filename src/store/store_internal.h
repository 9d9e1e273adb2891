/* Internals of the run store shared by its files (src/store/): the open
 * database handle, the queue of samples waiting for their batch commit,
 * the cached prepared statements, and small helpers that turn SQLite
 * failures into fm_error messages naming the database path. */
#ifndef FIRMUS_STORE_INTERNAL_H
#define FIRMUS_STORE_INTERNAL_H

#include "firmus/store.h"

#include <sqlite3.h>

/* Schema version written by this code (docs/STORE.md, "Schema version"). */
#define FM_STORE_SCHEMA_VERSION 1

/* Samples wait in memory at most this long (ns) before a commit... */
#define FM_STORE_COMMIT_AGE_NS 500000000LL
/* ...or until this many are queued (bounds memory: ~90 bytes each). */
#define FM_STORE_QUEUE_CAP 8192

/* Busy handling: SQLite's busy timeout, plus our own retries for the cases
 * where SQLite returns SQLITE_BUSY without waiting. */
#define FM_STORE_BUSY_TIMEOUT_MS 5000
#define FM_STORE_BUSY_RETRIES 50

typedef struct fm_queued_sample {
    int64_t run_id;
    int gpu;
    fm_sample sample;
} fm_queued_sample;

/* Number of fields a sample has (enum fm_field bits 0..7). */
#define FM_STORE_FIELD_COUNT 8

struct fm_store {
    sqlite3 *db;
    char *path;
    /* batch queue */
    fm_queued_sample *queue;
    size_t queued;
    int64_t oldest_queued_ns; /* CLOCK_MONOTONIC when the oldest queued sample arrived */
    /* prepared statements, made on first use and reused */
    sqlite3_stmt *insert_sample;
    sqlite3_stmt *update_end;
    sqlite3_stmt *load_field[FM_STORE_FIELD_COUNT];
    sqlite3_stmt *load_samples;
};

/* fm_fail with "<path>: <what>: <sqlite message>". */
int fm_store_fail(fm_store *st, fm_error *err, const char *what);
/* Runs SQL without results, retrying while the database is busy. */
int fm_store_exec(fm_store *st, const char *sql, fm_error *err);
/* sqlite3_step with retries on SQLITE_BUSY (first step of a statement only);
 * returns the final SQLite code. */
int fm_store_step(sqlite3_stmt *stmt);
/* Prepares (or returns the cached) statement. */
int fm_store_prepare(fm_store *st, sqlite3_stmt **slot, const char *sql, fm_error *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK with busy retries. */
int fm_store_begin(fm_store *st, fm_error *err);
int fm_store_commit(fm_store *st, fm_error *err);
void fm_store_rollback(fm_store *st);

/* Binds a double, or NULL when it is NAN. */
int fm_store_bind_real_or_null(sqlite3_stmt *stmt, int col, double v);
/* Reads a REAL column, NAN for NULL. */
double fm_store_column_real_or_nan(sqlite3_stmt *stmt, int col);

/* Identity of the current process for stale-writer detection. */
typedef struct fm_process_identity {
    int pid;
    int64_t start_ticks; /* /proc/<pid>/stat field 22; -1 if unknown */
    char boot_id[40];    /* /proc/sys/kernel/random/boot_id; "" if unknown */
} fm_process_identity;
void fm_store_self_identity(fm_process_identity *id);
/* 1 if the process that wrote a run is certainly gone, else 0. */
int fm_store_writer_gone(const fm_process_identity *writer);

#endif
