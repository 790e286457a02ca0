#pragma once
/*
 * Internals of the poller module, shared by its files and its tests only
 * (STYLE R2). Nothing outside src/poller/ and tests/poller/ includes this.
 *
 *   conn.c     one FreeTDS db-lib connection: login, error routing, sp_executesql RPCs, rows
 *   convert.c  db-lib wire values -> struct cache_value, and date/time <-> 100 ns ticks
 *   sql.c      the SELECT texts the poller sends (identifiers quoted, values always parameters)
 *   source.c   per-model source facts: column check against INFORMATION_SCHEMA, cursor kind
 *   fetch.c    row reading: one result row -> values -> cache_row_put / cache_row_encode
 *   page.c     one fetched batch of encoded rows, handed from the fetch side to the writer
 *   sync.c     one model's passes: keyset poll, full re-read, delete reconciliation
 *   ingest.c   warm-up passes pipelined: a fetch thread reads pages while this one writes
 *   poller.c   the thread: round-robin scheduling, interval, backoff, reconnects
 *   warm.c     poller_warm: the same passes run to completion in the caller's thread
 *   live.c     the live fallback: pool, fetch by plan, render through an in-memory source
 *   verify.c   poller_verify: source and cache compared row by row in key order
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <sybfront.h>
#include <sybdb.h>

#include "poller/poller.h"

/* db-lib type numbers that sybdb.h does not name (TDS wire type ids). */
#define PT_UNIQUE 36        /* uniqueidentifier */
#define PT_XVARCHAR 167     /* varchar (TDS 7) */
#define PT_XCHAR 175        /* char (TDS 7) */
#define PT_XNVARCHAR 231    /* nvarchar */
#define PT_XNCHAR 239       /* nchar */
#define PT_XVARBINARY 165   /* varbinary */
#define PT_XBINARY 173      /* binary */

#define PT_TICKS_PER_MS 10000LL
#define PT_TICKS_PER_DAY 864000000000LL
#define PT_DAYS_1900_TO_1970 25567 /* db-lib dates count days from 1900-01-01 */

/* ---- conn.c -------------------------------------------------------------- */

#define PCONN_ERR_MAX 512

struct pconn {
    DBPROCESS *dbp;          /* NULL when closed */
    char err[PCONN_ERR_MAX]; /* the last server or db-lib error, for the caller's message */
    int ncols;               /* columns of the current result set */
    int *types;              /* dbcoltype() of each column of the current result set */
    int types_cap;
};

/* db-lib's process-wide state is reference counted: every user (poller
 * thread, warm, live pool, verify) acquires once and releases once; the last
 * release runs dbexit(). */
int pconn_lib_acquire(void) MUST_CHECK;
void pconn_lib_release(void);
/* What a one-shot job against source and cache (warm-up, verify) holds: a
 * cache reader and a db-lib reference. Errors in err; nothing held then. */
int pconn_job_begin(struct cache *c, struct cache_rd **rd, char *err, size_t errlen) MUST_CHECK;
void pconn_job_end(struct cache_rd *rd);

/* Logs in (TDS 7.4, UTF-8, app name, encryption, timeouts). -EIO with the
 * reason in err (never the password). */
int pconn_open(struct pconn *c, const struct poller_db *db, char *err, size_t errlen) MUST_CHECK;
void pconn_close(struct pconn *c); /* accepts a closed connection */
bool pconn_is_open(const struct pconn *c);

/* One typed parameter of an sp_executesql call. */
struct pparam {
    const char *name;    /* "@t" */
    const char *decl;    /* its SQL type for @params: "datetime", "int", "nvarchar(128)" */
    int type;            /* db-lib type: SYBINT4, SYBINT8, SYBDATETIME, SYBVARCHAR, ... */
    const void *val;
    int len;             /* bytes for variable types; -1 for fixed-size types */
};

/* Runs sp_executesql as an RPC with named @stmt and @params, then the
 * parameters, and positions on the first result set with columns.
 * -EIO with c->err set on any failure. */
int pconn_exec(struct pconn *c, const char *stmt, const struct pparam *ps, size_t n) MUST_CHECK;
/* A parameter-free batch (clock reads, INFORMATION_SCHEMA). Same contract. */
int pconn_batch(struct pconn *c, const char *sql) MUST_CHECK;
/* 1: a row is current; 0: the result set ended (remaining results are
 * drained, the connection is ready for the next command); -EIO. */
int pconn_next_row(struct pconn *c) MUST_CHECK;
/* Abandons the rest of the current results. */
void pconn_cancel(struct pconn *c);
/* The current row's column i (0-based): its db-lib type, data (NULL for SQL NULL) and length. */
static inline int pconn_col_type(const struct pconn *c, int i) { return c->types[i]; }
const BYTE *pconn_col_data(const struct pconn *c, int i, int *len);

/* ---- convert.c ----------------------------------------------------------- */

/* Bytes of text scratch space one column may need (decimal digits, uuid). */
#define PCONV_SLOT 64

/* Converts one db-lib value. Text and bytes values point into data (or
 * into slot for decimals and uniqueidentifiers): valid until the next row.
 * -EPROTO with a message for a type the cache cannot represent. */
int pconv_value(int type, const BYTE *data, int len, char slot[PCONV_SLOT], struct cache_value *out,
                char *err, size_t errlen) MUST_CHECK;
/* DBNUMERIC as decimal text with its scale ("-12.5000"); length, or -EPROTO. */
int pconv_decimal_text(const DBNUMERIC *n, char out[PCONV_SLOT]);
/* datetime ticks (1/300 s) to milliseconds, rounded as the node tedious driver does. */
int64_t pconv_datetime_ms(int32_t days, int32_t ticks300);
/* A date/time value of any db-lib date type as 100 ns ticks since the Unix epoch.
 * -EPROTO for a non-date type or NULL. */
int pconv_ticks(int type, const BYTE *data, int len, int64_t *ticks) MUST_CHECK;
/* 100 ns ticks back to the column's own SQL type, exactly for values that came from it. */
void pconv_ticks_to_datetime(int64_t ticks, DBDATETIME *out);
void pconv_ticks_to_datetime2(int64_t ticks, DBDATETIMEALL *out);
/* Uppercase "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" from the 16 wire bytes. */
void pconv_uuid_text(const uint8_t b[16], char out[37]);

/* ---- sql.c --------------------------------------------------------------- */

/* [name] with ']' doubled: identifiers are quoted, never trusted. */
void psql_ident(struct buf *b, const char *name);
/* "[c1], [c2], ..." for every scalar field of m, in field order. */
void psql_columns(struct buf *b, const struct schema_model *m);
/* [dbo].[table] */
void psql_table(struct buf *b, const struct schema_model *m);

enum psql_kind {
    PSQL_KEYSET_FIRST, /* TOP (@batch) cols ORDER BY lu, pk */
    PSQL_KEYSET,       /* ... WHERE lu > @t OR (lu = @t AND pk > @id) ORDER BY lu, pk */
    PSQL_KEYSET_NULLS, /* ... WHERE (lu IS NULL AND pk > @id) OR lu IS NOT NULL ORDER BY lu, pk */
    PSQL_ROWS_FIRST,   /* TOP (@batch) cols ORDER BY pk */
    PSQL_ROWS,         /* ... WHERE pk > @id ORDER BY pk */
    PSQL_KEYS_FIRST,   /* TOP (@batch) pk ORDER BY pk */
    PSQL_KEYS,         /* ... WHERE pk > @id ORDER BY pk */
    PSQL_NULLS_FIRST,  /* TOP (@batch) cols WHERE lu IS NULL ORDER BY pk */
    PSQL_NULLS,        /* ... WHERE lu IS NULL AND pk > @id ORDER BY pk */
    PSQL_COUNT,        /* SELECT COUNT_BIG(*) */
    PSQL_KIND_N,
};
/* The statement text of kind k for m (NUL-terminated in b). */
void psql_build(struct buf *b, const struct schema_model *m, enum psql_kind k);
/* SQL type name of the primary key parameter ("int" or "bigint") and its db-lib type. */
const char *psql_pk_decl(const struct schema_model *m);
int psql_pk_type(const struct schema_model *m);

/* ---- source.c ------------------------------------------------------------ */

enum psrc_clock { PSRC_CLOCK_UTC, PSRC_CLOCK_LOCAL };

/* What the poller knows about one model's source table after the column check. */
struct psrc_model {
    const struct schema_model *m;
    bool ok;                    /* every column exists at the source */
    char error[CACHE_ERROR_MAX];/* why not, naming the model and the column */
    int cursor_type;            /* SYBDATETIME or SYBMSDATETIME2 (for @t) */
    const char *cursor_decl;    /* "datetime" or "datetime2(7)" */
    enum psrc_clock clock;      /* SYSUTCDATETIME() for *_UTC columns, GETDATE() otherwise */
    char *stmt[PSQL_KIND_N];    /* prebuilt statement texts */
};

/* Reads INFORMATION_SCHEMA.COLUMNS once and fills one psrc_model per
 * chosen model (models[i] false: left untouched). -EIO on SQL failure. */
int psrc_check(struct pconn *c, const struct schema *s, const bool *models, struct psrc_model *out,
               char *err, size_t errlen) MUST_CHECK;
/* Prebuilds statements without a source check (verify, live). */
void psrc_init(struct psrc_model *pm, const struct schema_model *m);
void psrc_fini(struct psrc_model *pm);
/* The source clock for this model's cursor column, as 100 ns ticks. */
int psrc_clock_read(struct pconn *c, const struct psrc_model *pm, int64_t *ticks) MUST_CHECK;
/* SELECT COUNT_BIG(*). */
int psrc_count(struct pconn *c, const struct psrc_model *pm, uint64_t *n) MUST_CHECK;

/* ---- fetch.c ------------------------------------------------------------- */

/* Reusable per-model row conversion state: values and their text slots. */
struct prow {
    const struct schema_model *m;
    struct cache_value *vals;   /* m->n_fields */
    char (*slots)[PCONV_SLOT];  /* m->n_fields */
};
void prow_init(struct prow *r, const struct schema_model *m);
void prow_fini(struct prow *r);
/* Converts the current result row (its columns in field order) into r->vals. */
int prow_read(struct prow *r, const struct pconn *c, char *err, size_t errlen) MUST_CHECK;
/* The pk (as an unsigned key) and, when m has a cursor field, its ticks
 * (*has_ts false for NULL) of the current values. */
uint64_t prow_pk(const struct prow *r);
int prow_cursor_ticks(const struct prow *r, const struct pconn *c, int cursor_col, int64_t *ts,
                      bool *has_ts) MUST_CHECK;

/* Keyset parameters: @batch, @t (the column's type), @id (the pk's type). */
struct pkeyset {
    int32_t batch;
    DBDATETIME dt;
    DBDATETIMEALL dt2;
    int32_t id4;
    int64_t id8;
    struct pparam ps[3];
    size_t n;
};
/* Fills k's parameters for a statement of kind kind from (ts, pk). */
void pkeyset_set(struct pkeyset *k, const struct psrc_model *pm, enum psql_kind kind, int32_t batch,
                 int64_t ts, uint64_t pk);

/* ---- page.c -------------------------------------------------------------- */

struct ppage_row {
    uint64_t pk;
    size_t off, len;            /* the encoded row in ppage.rows; len 0: a key only */
};

/* One batch of one pass as the fetch side read it: rows encoded (STYLE R6:
 * buffers keep their capacity across batches) and the positions the writer
 * commits with them. Written by one thread, then handed to another. */
struct ppage {
    struct buf rows;            /* encoded rows back to back */
    struct ppage_row *ent;      /* n entries in source order until ppage_sort() */
    size_t n, cap;
    bool done;                  /* a short page: the pass ends with it */
    /* poll: the last row's position (uncapped) and the last one not past the clock */
    struct cache_cursor last, capped;
    int64_t newest;             /* newest last-update seen */
    /* full and reconcile: the key range the page covers starts after `after` */
    bool from_start;
    uint64_t after;
};
void ppage_init(struct ppage *pg);
void ppage_fini(struct ppage *pg);
void ppage_reset(struct ppage *pg);
/* Encodes one row of m into the page. -EINVAL with err (see cache_row_encode). */
int ppage_add_row(struct ppage *pg, const struct schema_model *m, const struct cache_value *vals,
                  uint64_t pk, char *err, size_t errlen) MUST_CHECK;
void ppage_add_key(struct ppage *pg, uint64_t pk);
/* Orders the entries by key (stable; a no-op when they already are): the
 * writer then appends new keys at the tree's right edge and walks it in order. */
void ppage_sort(struct ppage *pg);
static inline struct slice ppage_row(const struct ppage *pg, size_t i)
{
    return (struct slice){buf_data(&pg->rows) + pg->ent[i].off, pg->ent[i].len};
}

/* ---- sync.c -------------------------------------------------------------- */

enum psync_pass { PASS_NONE, PASS_POLL, PASS_FULL, PASS_RECONCILE };

/* One model's poll state; the thread and warm-up drive it one batch at a time. */
struct psync {
    struct psrc_model src;
    struct prow row;
    enum psync_pass pass;
    bool rebuild;               /* warm --full: rows go to the shadow copy */
    int64_t clock;              /* source clock read at the pass start (100 ns ticks) */
    struct cache_cursor scan;   /* where the current pass reads next */
    bool scan_nulls;            /* in the NULL last-update segment (nullable cursors) */
    bool in_nulls_tail;         /* reconcile: re-reading rows whose last-update is NULL */
    uint64_t key_after;         /* full/reconcile: last source key of the previous chunk */
    bool key_started;
    bool warmed_now;            /* this pass made the model warm */
    struct cache_cursor cursor; /* the committed cursor (or, rebuilding, the shadow's) */
    enum cache_state state;     /* likewise */
    struct cache_run run;       /* the pass's run record, appended at its end */
    struct ppage page;          /* the batch psync_step() fetches and applies */
    /* scheduling (poller.c) */
    int64_t next_poll_ms, next_reconcile_ms, backoff_ms, last_empty_run_ms;
    bool reconcile_requested;
};

struct psync_env {
    struct cache *cache;
    struct cache_rd *rd;        /* for meta reads at a pass start */
    struct pconn *conn;
    unsigned batch_rows;
    unsigned overlap_s;
    bool warm;                  /* a warm-up (cwcachectl warm): runs are recorded as "warm" */
    /* counts for tests and benchmarks: time spent per phase (ns). ns_fetch is
     * only written by the fetch side, the others by the writer. */
    uint64_t rows, ns_fetch, ns_apply, ns_commit;
    uint64_t ns_pass;           /* wall time of pipelined passes (ingest.c) */
};

void psync_init(struct psync *s, const struct schema_model *m);
void psync_fini(struct psync *s);
/* Starts a pass (reads the clock for polls). */
int psync_begin(struct psync *s, struct psync_env *e, enum psync_pass pass, char *err,
                size_t errlen) MUST_CHECK;
/*
 * A batch is fetched, then applied. The halves touch disjoint state so they
 * may run on two threads (ingest.c): the fetch side owns the connection,
 * s->row and the read position (s->scan, s->scan_nulls, s->key_after,
 * s->key_started, which it advances past each page it reads); the writer
 * owns the cache, s->cursor, s->state and s->run.
 */
/* Rows (or keys) of the current pass per batch. */
int32_t psync_batch(const struct psync *s, const struct psync_env *e);
/* Reads the next batch of the current pass into pg and moves the read position past it.
 * -EIO (connection), -EPROTO/-EINVAL (a value), with err. */
int psync_fetch(struct psync *s, struct psync_env *e, struct ppage *pg, char *err,
                size_t errlen) MUST_CHECK;
/* Writes pg into w: rows, deletes, the new cursor and state, meta and (when the
 * page ends the pass) the run record. *dirty false: nothing to commit. */
int psync_apply(struct psync *s, struct psync_env *e, struct cache_wtxn *w, struct ppage *pg,
                bool *dirty, char *err, size_t errlen) MUST_CHECK;
/* Commits w, adding the time to e->ns_commit. */
int psync_commit(struct psync_env *e, struct cache_wtxn *w) MUST_CHECK;
/* Runs one batch of the current pass and commits it with the cursor.
 * *done: the pass finished (its run record was committed with the batch).
 * On error nothing of the batch is applied; the pass is abandoned and the
 * error recorded in meta and run history (best effort). */
int psync_step(struct psync *s, struct psync_env *e, bool *done, char *err, size_t errlen) MUST_CHECK;
/* Records a failed pass (or a failed column check) in meta and run history. */
void psync_record_error(struct psync *s, struct psync_env *e, int rc, const char *msg);
/* Rows applied in the current pass so far. */
static inline uint64_t psync_done(const struct psync *s) { return s->run.applied + s->run.skipped; }

/* ---- ingest.c ------------------------------------------------------------ */

/* Called by pingest_pass() after each commit. */
typedef void (*pingest_progress_cb)(void *arg, const struct psync *s);

/* Runs the current pass (begun with psync_begin(); poll or full) to its end
 * with a fetch thread reading pages ahead while this thread writes them.
 * A transaction takes every page already fetched (up to PINGEST_TXN_ROWS
 * rows), each with its cursor, so commits overlap fetching and batch up when
 * writing falls behind. -EINTR when *stop is set (checked between commits).
 * On error the pass ends; what was committed stays. */
int pingest_pass(struct psync *s, struct psync_env *e, const volatile bool *stop,
                 pingest_progress_cb progress, void *arg, char *err, size_t errlen) MUST_CHECK;

int64_t pclock_now_ms(void);     /* wall clock, ms since the epoch */
int64_t pclock_mono_ms(void);    /* monotonic ms */
uint64_t pclock_mono_ns(void);
