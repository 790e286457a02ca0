#pragma once
/*
 * Internals of the poller module, shared by its files and its tests only
 * (STYLE R2). Nothing outside src/poller/ and tests/poller/ includes this.
 *
 *   login.c    the one db-lib login (public: login.h), TLS settings as generated freetds.conf sections
 *   conn.c     one FreeTDS db-lib connection: login, error routing, sp_executesql RPCs, rows
 *   convert.c  db-lib wire values -> struct cache_value, and date/time <-> 100 ns ticks
 *   sql.c      the SELECT texts the poller sends (identifiers quoted, values always parameters)
 *   source.c   per-model source facts: column check against INFORMATION_SCHEMA, cursor kind
 *   fetch.c    row reading: one result row -> values -> cache_row_put / cache_row_encode
 *   page.c     one fetched batch of encoded rows, handed from the fetch side to the writer
 *   summary.c  one statement per poll: every model's count, newest last-update, largest key
 *   sync.c     one model's passes: keyset poll, full re-read, delete reconciliation
 *   gone.c     deleted rows found between reconciliations: counts per RecID range
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
#define POLLER_TYPE_UNIQUE 36      /* uniqueidentifier */
#define POLLER_TYPE_XVARCHAR 167   /* varchar (TDS 7) */
#define POLLER_TYPE_XCHAR 175      /* char (TDS 7) */
#define POLLER_TYPE_XNVARCHAR 231  /* nvarchar */
#define POLLER_TYPE_XNCHAR 239     /* nchar */
#define POLLER_TYPE_XVARBINARY 165 /* varbinary */
#define POLLER_TYPE_XBINARY 173    /* binary */

#define POLLER_TICKS_PER_MS (CACHE_TICKS_PER_S / 1000)
#define POLLER_TICKS_PER_DAY (86400 * CACHE_TICKS_PER_S)
#define POLLER_DAYS_1900_TO_1970 25567 /* db-lib dates count days from 1900-01-01 */

/* ---- login.c ------------------------------------------------------------- */

struct poller_login_timeouts;
/* The freetds.conf settings of a connection to db (host, port, TDS 7.4,
 * timeouts, encryption, CA file): the body of its generated section. */
void poller_login_section(struct buf *b, const struct poller_db *db,
                          const struct poller_login_timeouts *t);

/* ---- conn.c -------------------------------------------------------------- */

#define POLLER_CONN_ERR_MAX 512

struct poller_conn {
    DBPROCESS *dbp;          /* NULL when closed */
    char err[POLLER_CONN_ERR_MAX]; /* the last server or db-lib error, for the caller's message */
    bool answered;           /* the last failure was an answer (a server error, a rejected
                                login, our own TLS setup), not a lost connection */
    int ncols;               /* columns of the current result set */
    int *types;              /* dbcoltype() of each column of the current result set */
    int types_cap;
};

/* db-lib's process-wide state is reference counted: every user (poller
 * thread, warm, live pool, verify) acquires once and releases once; the last
 * release runs dbexit(). */
int poller_conn_lib_acquire(void) MUST_CHECK;
void poller_conn_lib_release(void);
/* What a one-shot job against source and cache (warm-up, verify) holds: a
 * cache reader and a db-lib reference. Errors in err; nothing held then. */
int poller_conn_job_begin(struct cache *c, struct cache_rd **rd, char *err,
                          size_t errlen) MUST_CHECK;
void poller_conn_job_end(struct cache_rd *rd);

/* Logs in (TDS 7.4, UTF-8, app name, encryption, timeouts). -EIO with the
 * reason in err (never the password). */
int poller_conn_open(struct poller_conn *c, const struct poller_db *db, char *err,
                     size_t errlen) MUST_CHECK;
/* The same within timeouts of its own (the live fallback's budget). */
int poller_conn_open_within(struct poller_conn *c, const struct poller_db *db,
                            const struct poller_login_timeouts *t, char *err,
                            size_t errlen) MUST_CHECK;
/* Bounds each wait for the server on c from now on (seconds, at least 1). */
int poller_conn_set_timeout(struct poller_conn *c, unsigned seconds) MUST_CHECK;
void poller_conn_close(struct poller_conn *c); /* accepts a closed connection */
bool poller_conn_is_open(const struct poller_conn *c);
/* After a failed open or command: true when the connection is gone (refused,
 * reset, closed by the server, timed out) rather than answered with an error
 * that trying again would only repeat (an unknown table, a rejected login). */
bool poller_conn_lost(const struct poller_conn *c);

/* One typed parameter of an sp_executesql call. */
struct poller_param {
    const char *name;    /* "@t" */
    const char *decl;    /* its SQL type for @params: "datetime", "int", "nvarchar(128)" */
    int type;            /* db-lib type: SYBINT4, SYBINT8, SYBDATETIME, SYBVARCHAR, ... */
    const void *val;
    int len;             /* bytes for variable types; -1 for fixed-size types */
};

/* Runs sp_executesql as an RPC with named @stmt and @params, then the
 * parameters, and positions on the first result set with columns.
 * -EIO with c->err set on any failure. */
int poller_conn_exec(struct poller_conn *c, const char *stmt, const struct poller_param *ps,
                     size_t n) MUST_CHECK;
/* A parameter-free batch (clock reads, INFORMATION_SCHEMA). Same contract. */
int poller_conn_batch(struct poller_conn *c, const char *sql) MUST_CHECK;
/* 1: a row is current; 0: the result set ended (remaining results are
 * drained, the connection is ready for the next command); -EIO. */
int poller_conn_next_row(struct poller_conn *c) MUST_CHECK;
/* Abandons the rest of the current results. */
void poller_conn_cancel(struct poller_conn *c);
/* The current row's column i (0-based): its db-lib type, data (NULL for SQL NULL) and length. */
static inline int poller_conn_col_type(const struct poller_conn *c, int i)
{
    return c->types[i];
}
const BYTE *poller_conn_col_data(const struct poller_conn *c, int i, int *len);

/* ---- convert.c ----------------------------------------------------------- */

/* Bytes of text scratch space one column may need (decimal digits, uuid). */
#define POLLER_CONV_SLOT 64

/* Converts one db-lib value. Text and bytes values point into data (or
 * into slot for decimals and uniqueidentifiers): valid until the next row.
 * -EPROTO with a message for a type the cache cannot represent. */
int poller_conv_value(int type, const BYTE *data, int len, char slot[POLLER_CONV_SLOT],
                      struct cache_value *out, char *err, size_t errlen) MUST_CHECK;
/* DBNUMERIC as decimal text with its scale ("-12.5000"); length, or -EPROTO. */
int poller_conv_decimal_text(const DBNUMERIC *n, char out[POLLER_CONV_SLOT]);
/* datetime ticks (1/300 s) to milliseconds, rounded as the node tedious driver does. */
int64_t poller_conv_datetime_ms(int32_t days, int32_t ticks300);
/* A date/time value of any db-lib date type as 100 ns ticks since the Unix epoch.
 * -EPROTO for a non-date type or NULL. */
int poller_conv_ticks(int type, const BYTE *data, int len, int64_t *ticks) MUST_CHECK;
/* 100 ns ticks back to the column's own SQL type, exactly for values that came from it. */
void poller_conv_ticks_to_datetime(int64_t ticks, DBDATETIME *out);
void poller_conv_ticks_to_datetime2(int64_t ticks, DBDATETIMEALL *out);
/* The value n steps of the column type after ticks, as that type stores it
 * (type SYBDATETIME: n/300 s from ticks rounded to 1/300 s; else n * 100 ns). */
int64_t poller_conv_ticks_step(int type, int64_t ticks, int64_t n);
/* Uppercase "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" from the 16 wire bytes. */
void poller_conv_uuid_text(const uint8_t b[16], char out[37]);

/* ---- sql.c --------------------------------------------------------------- */

/* [name] with ']' doubled: identifiers are quoted, never trusted. */
void poller_sql_ident(struct buf *b, const char *name);
/* "[c1], [c2], ..." for every scalar field of m, in field order. */
void poller_sql_columns(struct buf *b, const struct schema_model *m);
/* [dbo].[table] */
void poller_sql_table(struct buf *b, const struct schema_model *m);

enum poller_sql_kind {
    POLLER_SQL_KEYSET_FIRST, /* TOP (@batch) cols ORDER BY lu, pk */
    POLLER_SQL_KEYSET,       /* ... WHERE lu > @t OR (lu = @t AND pk > @id) ORDER BY lu, pk */
    POLLER_SQL_KEYSET_NULLS, /* ... WHERE (lu IS NULL AND pk > @id) OR lu IS NOT NULL ORDER BY lu,
                                pk */
    POLLER_SQL_KEYSET_FROM,  /* ... WHERE lu >= @t ORDER BY lu, pk */
    POLLER_SQL_GROUP,        /* ... WHERE lu >= @t AND lu < @tn AND pk >= @id ORDER BY pk */
    POLLER_SQL_ROWS_FIRST,   /* TOP (@batch) cols ORDER BY pk */
    POLLER_SQL_ROWS,         /* ... WHERE pk > @id ORDER BY pk */
    POLLER_SQL_KEYS_FIRST,   /* TOP (@batch) pk ORDER BY pk */
    POLLER_SQL_KEYS,         /* ... WHERE pk > @id ORDER BY pk */
    POLLER_SQL_NULLS_FIRST,  /* TOP (@batch) cols WHERE lu IS NULL ORDER BY pk */
    POLLER_SQL_NULLS,        /* ... WHERE lu IS NULL AND pk > @id ORDER BY pk */
    POLLER_SQL_COUNT,        /* SELECT COUNT_BIG(*) */
    POLLER_SQL_KIND_N,
};
/* Kinds ordered by (lu, pk); kinds that need a cursor column. */
bool poller_sql_by_cursor(enum poller_sql_kind k);
bool poller_sql_needs_cursor(enum poller_sql_kind k);
/* The statement text of kind k for m (NUL-terminated in b). */
void poller_sql_build(struct buf *b, const struct schema_model *m, enum poller_sql_kind k);
#define POLLER_SQL_NAME_MAX 16
#define POLLER_SQL_IN_MAX 300 /* keys per IN list of the live fallback */

/* ---- livesql.c: a request's plan as T-SQL (the live fallback) ----------------- */

#define POLLER_LSQL_PARAMS_MAX 2000 /* SQL Server takes 2100 parameters per call */

struct poller_lsql_param {
    char name[POLLER_SQL_NAME_MAX];  /* "@p1", ... */
    const char *decl;
    int type;
    union {
        int64_t i;
        int32_t b;
        double f;
        DBDATETIMEALL dt;
    } v;
    const char *text;                /* SYBVARCHAR: the plan's text or `owned` */
    size_t len;
    char *owned;                     /* a LIKE pattern or a decoded string made here */
};

/* One statement and its parameters, reused from statement to statement. */
struct poller_lsql {
    struct buf sql;                  /* NUL-terminated after a build */
    struct poller_lsql_param *p;
    size_t n, cap;
    struct poller_param *ps;         /* poller_lsql_params() */
    unsigned alias;                  /* the last subquery alias [t<n>] */
    int err;                         /* the first error of this build */
    char why[160];                   /* its words */
};
void poller_lsql_init(struct poller_lsql *q);
void poller_lsql_fini(struct poller_lsql *q);
/* The builders: 0, -E2BIG (more than POLLER_LSQL_PARAMS_MAX values),
 * -ENOTSUP (a value SQL cannot compare) or -EINVAL, with q->why.
 * Root rows: filtered, ordered, cut at the cursor and, when
 * poller_lsql_root_paged(), paged by OFFSET/FETCH (a negative take reads
 * the order backwards: the caller reverses the rows). count: one row,
 * COUNT_BIG(*) of those rows. */
int poller_lsql_root(struct poller_lsql *q, const struct cache_plan *p, bool count) MUST_CHECK;
/* Whether SQL pages the root (no distinct, and the collector's filter is
 * exact in SQL); else the renderer applies distinct, skip and take. */
bool poller_lsql_root_paged(const struct cache_plan *p);
/* false when the collector's filter compares a string (SQL: by the
 * collation; the cache: by bytes), so the renderer must check it again. */
bool poller_lsql_fixed_exact(const struct cache_plan *p);
/* Rows of to-many node n for these parents: filtered, cut at the cursor,
 * in page order (all parents' rows together; skip/take are per parent). */
int poller_lsql_children(struct poller_lsql *q, const struct cache_plan_node *n, const int64_t *parents,
                         size_t n_parents) MUST_CHECK;
/* Rows of m with these keys. */
int poller_lsql_to_one(struct poller_lsql *q, const struct schema_model *m, const int64_t *keys,
                       size_t n) MUST_CHECK;
/* (parent key, count) of `_count` entry c for these parents. */
int poller_lsql_count(struct poller_lsql *q, const struct cache_count *c, const int64_t *parents,
                      size_t n_parents) MUST_CHECK;
/* The parameters of the last build, for poller_conn_exec(); valid until the next build. */
const struct poller_param *poller_lsql_params(struct poller_lsql *q, size_t *n);

/* SQL type name of the primary key parameter ("int" or "bigint") and its db-lib type. */
const char *poller_sql_pk_decl(const struct schema_model *m);
int poller_sql_pk_type(const struct schema_model *m);

/* ---- source.c ------------------------------------------------------------ */

enum poller_src_clock { POLLER_SRC_CLOCK_UTC, POLLER_SRC_CLOCK_LOCAL };

/* What the poller knows about one model's source table after the column check. */
struct poller_src_model {
    const struct schema_model *m;
    bool ok;                    /* every column exists at the source */
    char error[CACHE_ERROR_MAX];/* why not, naming the model and the column */
    int cursor_type;            /* SYBDATETIME or SYBMSDATETIME2 (for @t) */
    const char *cursor_decl;    /* "datetime" or "datetime2(7)" */
    enum poller_src_clock clock;   /* SYSUTCDATETIME() for *_UTC columns, GETDATE() otherwise */
    char *stmt[POLLER_SQL_KIND_N]; /* prebuilt statement texts */
};

/* Reads INFORMATION_SCHEMA.COLUMNS once and fills one poller_src_model per
 * chosen model (models[i] false: left untouched). -EIO on SQL failure. */
int poller_src_check(struct poller_conn *c, const struct schema *s, const bool *models,
                     struct poller_src_model *out, char *err, size_t errlen) MUST_CHECK;
/* Prebuilds statements without a source check (verify, live). */
void poller_src_init(struct poller_src_model *pm, const struct schema_model *m);
void poller_src_fini(struct poller_src_model *pm);
/* The source clock for this model's cursor column, as 100 ns ticks. */
int poller_src_clock_read(struct poller_conn *c, const struct poller_src_model *pm,
                          int64_t *ticks) MUST_CHECK;
/* SELECT COUNT_BIG(*). */
int poller_src_count(struct poller_conn *c, const struct poller_src_model *pm,
                     uint64_t *n) MUST_CHECK;

/* ---- fetch.c ------------------------------------------------------------- */

/* Reusable per-model row conversion state: values and their text slots. */
struct poller_row {
    const struct schema_model *m;
    struct cache_value *vals;   /* m->n_fields */
    char (*slots)[POLLER_CONV_SLOT]; /* m->n_fields */
};
void poller_row_init(struct poller_row *r, const struct schema_model *m);
void poller_row_fini(struct poller_row *r);
/* Converts the current result row (its columns in field order) into r->vals. */
int poller_row_read(struct poller_row *r, const struct poller_conn *c, char *err,
                    size_t errlen) MUST_CHECK;
/* The pk of the current values, as an unsigned key. */
uint64_t poller_row_pk(const struct poller_row *r);
/* The current result row's cursor column (cursor_col) as 100 ns ticks;
 * *has_ts false for NULL. */
int poller_row_cursor_ticks(const struct poller_conn *c, int cursor_col, int64_t *ts,
                            bool *has_ts) MUST_CHECK;

/* Keyset parameters: @batch, @t and @tn (the column's type), @id (the pk's type). */
struct poller_keyset {
    int32_t batch;
    DBDATETIME dt[2];
    DBDATETIMEALL dt2[2];
    int32_t id4;
    int64_t id8;
    struct poller_param ps[4];
    size_t n;
};
/* Fills k's parameters for a statement of kind kind from the position
 * (ts, pk); ts_hi is @tn, the end of a POLLER_SQL_GROUP window. */
void poller_keyset_set(struct poller_keyset *k, const struct poller_src_model *pm,
                       enum poller_sql_kind kind, int32_t batch, int64_t ts, int64_t ts_hi,
                       uint64_t pk);

/* ---- page.c -------------------------------------------------------------- */

struct poller_page_row {
    uint64_t pk;
    size_t off, len; /* the encoded row in poller_page.rows; len 0: a key only */
    bool fresh;      /* poll: newer than the summary the pass began after (not in its count) */
};

/* One batch of one pass as the fetch side read it: rows encoded (STYLE R6:
 * buffers keep their capacity across batches) and the positions the writer
 * commits with them. Written by one thread, then handed to another. */
struct poller_page {
    struct buf rows;            /* encoded rows back to back */
    struct poller_page_row *ent; /* n entries in source order until poller_page_sort() */
    size_t n, cap;
    bool done;                  /* a short page: the pass ends with it */
    /* poll: the last row's position (uncapped) and the largest one not past
     * the clock: the cursor the page lets the writer commit (unset: none) */
    struct cache_cursor last, capped;
    bool stalled;               /* it did not move the read position (counted in the run) */
    int64_t newest;             /* newest last-update seen */
    /* full and reconcile: the key range the page covers starts after `after` */
    bool from_start;
    uint64_t after;
};
void poller_page_init(struct poller_page *pg);
void poller_page_fini(struct poller_page *pg);
void poller_page_reset(struct poller_page *pg);
/* Encodes one row of m into the page. -EINVAL with err (see cache_row_encode). */
int poller_page_add_row(struct poller_page *pg, const struct schema_model *m,
                        const struct cache_value *vals, uint64_t pk, char *err,
                        size_t errlen) MUST_CHECK;
void poller_page_add_key(struct poller_page *pg, uint64_t pk);
/* Orders the entries by key (stable; a no-op when they already are): the
 * writer then appends new keys at the tree's right edge and walks it in order. */
void poller_page_sort(struct poller_page *pg);
static inline struct slice poller_page_row(const struct poller_page *pg, size_t i)
{
    return (struct slice){buf_data(&pg->rows) + pg->ent[i].off, pg->ent[i].len};
}

/* ---- summary.c ----------------------------------------------------------- */

/* What one summary says of one model's source table. */
struct poller_summary_model {
    bool valid;      /* the last summary covered the model */
    uint64_t rows;   /* COUNT_BIG(*) */
    bool has_newest; /* false: no row has a last-update */
    int64_t newest;  /* MAX(last-update), 100 ns ticks */
    uint64_t max_pk; /* the largest key; 0 for an empty table */
};

/* The one statement a poll asks every model with (models with a cursor). */
struct poller_summary {
    char *sql;                       /* "" when no model has a cursor */
    struct poller_summary_model *m;  /* per schema model */
    size_t n;
    int64_t clock_ms;                /* the source's UTC clock as the statement began (0: none) */
};
/* Builds the statement for the models where models[i]. */
void poller_summary_init(struct poller_summary *s, const struct schema *sc, const bool *models);
void poller_summary_fini(struct poller_summary *s);
/* One round trip: fills s->m and s->clock_ms. -EIO/-EPROTO with err; every
 * model is then !valid. */
int poller_summary_read(struct poller_summary *s, struct poller_conn *c, char *err,
                        size_t errlen) MUST_CHECK;

/* Row count and key sum of one RecID range. */
struct poller_bucket {
    uint64_t rows, sum;
};
/* The source's keys of m counted and summed per range [i * width, (i + 1) *
 * width) into out[0..nb], keys from nb * width on in out[nb] (nb + 1 entries). */
int poller_summary_buckets(struct poller_conn *c, const struct schema_model *m, uint64_t width,
                           struct poller_bucket *out, size_t nb, char *err,
                           size_t errlen) MUST_CHECK;

/* ---- sync.c -------------------------------------------------------------- */

enum poller_sync_pass {
    POLLER_PASS_NONE,
    POLLER_PASS_POLL,
    POLLER_PASS_FULL,
    POLLER_PASS_RECONCILE,
    POLLER_PASS_LOAD /* a cursor model's first load, in key order (begun as a poll) */
};

/* A window [lo, hi) of last-update values read by RecID alone. A poll
 * page that does not move the (last-update, RecID) position (a source that
 * rounds @t down returns the same rows again) is followed by such a walk:
 * its pages move on @id, which every server takes exactly, and the keyset
 * resumes at last-update >= hi. */
struct poller_sync_group {
    bool on;
    int64_t lo, hi;          /* 100 ns ticks, both values of the column's type */
    int64_t width;           /* ticks of the column type; doubles while walks do not help */
    uint64_t pk_next;        /* the walk's next page starts at this key */
    struct cache_cursor max; /* the largest (lu, pk) read so far not past the clock */
};

/* One model's poll state; the thread and warm-up drive it one batch at a time. */
struct poller_sync {
    struct poller_src_model src;
    struct poller_row row;
    size_t row_bytes;           /* fetch side: mean encoded row of the last page (page_bytes) */
    enum poller_sync_pass pass;
    bool rebuild;               /* warm --full: rows go to the shadow copy */
    int64_t clock;              /* source clock read at the pass start (100 ns ticks) */
    struct cache_cursor scan;   /* where the current pass reads next: after (ts, pk) */
    bool scan_nulls;            /* in the NULL last-update segment (nullable cursors) */
    bool scan_from;             /* from last-update scan.ts inclusive, any key (after a walk) */
    struct poller_sync_group group; /* poll: a last-update window being read by RecID */
    bool stall_logged;              /* a stalled page was logged for this model (once) */
    bool in_nulls_tail;         /* reconcile: re-reading rows whose last-update is NULL */
    uint64_t key_after;         /* full/reconcile: last source key of the previous chunk */
    bool key_started;
    /* fetch side: the statement whose rows are being read. A pipelined load
     * or full pass (ingest.c sets `spans`) asks for batch_rows rows a
     * statement and reads them into pages of page_bytes, so a page of large
     * rows is not a round trip of its own; every other pass reads one
     * statement a page. */
    struct {
        bool spans, open;
        int64_t left; /* rows the statement may still return */
    } stmt;
    bool warmed_now;            /* this pass made the model warm */
    struct cache_cursor cursor; /* the committed cursor (or, rebuilding, the shadow's) */
    struct cache_load load;     /* likewise: the first load's committed position */
    struct cache_cursor load_newest; /* writer: the newest last-update the load read that is
                                        not past its clock (pk 0): where its poll starts */
    bool loaded;                /* the pass begun last is a first load (it needs a poll after) */
    enum cache_state state;     /* likewise */
    struct cache_run run;       /* the pass's run record, appended at its end */
    struct poller_page page;    /* the batch poller_sync_step() fetches and applies */
    /* scheduling (poller.c) */
    int64_t next_poll_ms, next_reconcile_ms, backoff_ms, last_empty_run_ms;
    /* summaries (poller.c, gone.c): `seen` is what the cache was last brought
     * up to, `asked` the one the current poll began after, `latest` the newest */
    struct poller_summary_model seen, asked, latest;
    bool poll_now;              /* the latest summary moved: poll at this turn */
    int64_t moved_ms;           /* when a summary last differed from the one before */
    bool compare;               /* compare counts with `asked` when the poll ends */
    int64_t fresh_after;        /* rows newer than this are not in asked.rows (INT64_MAX: none) */
    uint64_t fresh;             /* rows the poll inserted that are newer than fresh_after */
    uint64_t gone_src, gone_cache; /* counts of the last check that deleted nothing */
    uint32_t idle_polls;        /* polls skipped since the last run record */
    int64_t idle_since_ms;
};

struct poller_sync_env {
    struct cache *cache;
    struct cache_rd *rd;        /* for meta reads at a pass start */
    struct poller_conn *conn;
    unsigned batch_rows;
    unsigned overlap_s;
    unsigned idle_record_ms;    /* poller_opts.idle_record_ms; 0: POLLER_IDLE_RECORD_MAX_MS */
    bool warm;                  /* a warm-up (cwcachectl warm): runs are recorded as "warm" */
    /* Pipelined passes (ingest.c; 0: no bound): row bytes per write
     * transaction and per fetched page. A first load into an empty model
     * defers its indexes, built with `build` before the pass's last page. */
    size_t txn_bytes, page_bytes;
    struct cache_build_opts build;
    /* counts for tests and benchmarks: time spent per phase (ns). ns_fetch is
     * only written by the fetch side, the others by the writer. */
    uint64_t rows, ns_fetch, ns_apply, ns_commit;
    uint64_t ns_pass;           /* wall time of pipelined passes (ingest.c) */
    uint64_t ns_build;          /* index builds after first loads */
    uint64_t commits;           /* passes' transactions committed */
};

void poller_sync_init(struct poller_sync *s, const struct schema_model *m);
void poller_sync_fini(struct poller_sync *s);
/* Starts a pass (reads the clock for polls). A poll of a model with a
 * cursor whose slot is empty and cold, or whose first load was cut short,
 * begins (or resumes) that load instead: rows in key order, appended, and
 * the cursor set to the newest last-update read that is not past the
 * source clock read before it, so the poll that must follow reads every
 * row changed meanwhile (s->loaded). */
int poller_sync_begin(struct poller_sync *s, struct poller_sync_env *e, enum poller_sync_pass pass,
                      char *err, size_t errlen) MUST_CHECK;
/*
 * A batch is fetched, then applied. The halves touch disjoint state so they
 * may run on two threads (ingest.c): the fetch side owns the connection,
 * s->row and the read position (s->scan, s->scan_nulls, s->key_after,
 * s->key_started, which it advances past each page it reads); the writer
 * owns the cache, s->cursor, s->state and s->run.
 */
/* Rows (or keys) of the current pass per batch. */
int32_t poller_sync_batch(const struct poller_sync *s, const struct poller_sync_env *e);
/* Reads the next batch of the current pass into pg and moves the read position past it.
 * -EIO (connection), -EPROTO/-EINVAL (a value), with err. */
int poller_sync_fetch(struct poller_sync *s, struct poller_sync_env *e, struct poller_page *pg,
                      char *err, size_t errlen) MUST_CHECK;
/* Cancels the statement a spanning pass left open (its pages were not all
 * wanted: the writer failed or was stopped). Fetch side. */
void poller_sync_stmt_close(struct poller_sync *s, struct poller_sync_env *e);
/* Moves the read position past pg, which was just read. A poll page that
 * does not move it starts (or widens) a group walk and is marked stalled;
 * -EPROTO with err when no walk can help (the source ignores the key
 * bound): a pass never reads the same page forever. */
int poller_sync_advance(struct poller_sync *s, struct poller_page *pg, char *err,
                        size_t errlen) MUST_CHECK;
/* Writes pg into w: rows, deletes, the new cursor and state, meta and (when the
 * page ends the pass) the run record. *dirty false: nothing to commit. */
int poller_sync_apply(struct poller_sync *s, struct poller_sync_env *e, struct cache_wtxn *w,
                      struct poller_page *pg, bool *dirty, char *err, size_t errlen) MUST_CHECK;
/* Reads the current result set's keys (column 0) into pg. */
int poller_sync_read_keys(struct poller_sync *s, struct poller_sync_env *e, struct poller_page *pg,
                          char *err, size_t errlen) MUST_CHECK;
/* Deletes the cache keys of m after `after` (from_start: from the first)
 * up to upto inclusive that pg (sorted) lacks; counts them in *deleted. */
int poller_sync_delete_missing(struct cache_wtxn *w, const struct schema_model *m,
                               const struct poller_page *pg, bool from_start, uint64_t after,
                               uint64_t upto, uint64_t *deleted) MUST_CHECK;
/* A poll skipped because the summary showed nothing moved; true when its
 * run record is due (poller_sync_idle_record). */
bool poller_sync_idle_tick(struct poller_sync *s, const struct poller_sync_env *e, int64_t now_ms);
/* Records the skipped polls as a success (meta last_ok_ms, an idle run). */
int poller_sync_idle_record(struct poller_sync *s, struct cache_wtxn *w,
                            int64_t now_ms) MUST_CHECK;
/* Sets the bounds of pipelined passes and index builds from o. */
void poller_sync_env_bounds(struct poller_sync_env *e, const struct poller_opts *o);
/* Builds the model's pending indexes (cache_index_build) if a first load
 * deferred them: before the pass's last page, whose transaction makes the
 * model readable. */
int poller_sync_build(struct poller_sync *s, struct poller_sync_env *e, char *err,
                      size_t errlen) MUST_CHECK;
/* Commits w, adding the time to e->ns_commit. */
int poller_sync_commit(struct poller_sync_env *e, struct cache_wtxn *w) MUST_CHECK;
/* Runs one batch of the current pass and commits it with the cursor.
 * *done: the pass finished (its run record was committed with the batch).
 * On error nothing of the batch is applied; the pass is abandoned and the
 * error recorded in meta and run history (best effort). */
int poller_sync_step(struct poller_sync *s, struct poller_sync_env *e, bool *done, char *err,
                     size_t errlen) MUST_CHECK;
/* Records a failed pass (or a failed column check) in meta and run history. */
void poller_sync_record_error(struct poller_sync *s, struct poller_sync_env *e, int rc,
                              const char *msg);
/* Writes "<what>: <the cache error in words>" (cache_strerror; c may be
 * NULL) into err and returns rc, for a failed cache call. */
int poller_cache_fail(struct cache *c, int rc, char *err, size_t errlen, const char *what, ...)
    __attribute__((format(printf, 5, 6)));
/* Rows applied in the current pass so far. */
static inline uint64_t poller_sync_done(const struct poller_sync *s)
{
    return s->run.applied + s->run.skipped;
}

/* ---- poller.c ------------------------------------------------------------ */

/* The pass model s should run at now (poller clock, ms), from its next_poll_ms
 * and next_reconcile_ms: when both are due, the one due longer. */
enum poller_sync_pass poller_due_pass(const struct poller_sync *s, int64_t now);
/* When model s is next due: its poll, or its reconciliation where one can run. */
int64_t poller_next_due_ms(const struct poller_sync *s);
/* After a failed pass: every pass of s waits until at (its back-off); a
 * failed reconciliation goes after the poll, so that retrying it neither
 * spins nor keeps inserts and updates waiting behind it. */
void poller_retry_at(struct poller_sync *s, enum poller_sync_pass failed, int64_t at);

/* ---- gone.c -------------------------------------------------------------- */

/* Before a poll whose counts will be compared with asked (read just before
 * it): rows the poll inserts newer than asked's newest are not in them. */
void poller_gone_prepare(struct poller_sync *s, const struct poller_summary_model *asked);
/* After a poll that began after summary s->asked: when the cache holds more
 * rows than the source counted (rows the poll inserted since excepted),
 * compares key counts per RecID range and walks only the ranges that
 * differ, deleting what the source lacks (one commit, a "deletes" run).
 * *deleted gets the count. -EIO with err on a source failure. */
int poller_gone_check(struct poller_sync *s, struct poller_sync_env *e, uint64_t *deleted,
                      char *err, size_t errlen) MUST_CHECK;

/* ---- ingest.c ------------------------------------------------------------ */

/* Called by poller_ingest_pass() after each commit. */
typedef void (*poller_ingest_progress_cb)(void *arg, const struct poller_sync *s);

/* Runs the current pass (begun with poller_sync_begin(); poll, load or full) to its end
 * with a fetch thread reading pages ahead while this thread writes them.
 * A transaction takes every page already fetched (up to POLLER_INGEST_TXN_ROWS
 * rows), each with its cursor, so commits overlap fetching and batch up when
 * writing falls behind. -EINTR when *stop is set (checked between commits).
 * On error the pass ends; what was committed stays. */
int poller_ingest_pass(struct poller_sync *s, struct poller_sync_env *e, const volatile bool *stop,
                       poller_ingest_progress_cb progress, void *arg, char *err,
                       size_t errlen) MUST_CHECK;

/* ---- health.c: the source's state, logged and recorded on change ---------- */
enum poller_source_state { POLLER_SOURCE_UNKNOWN, POLLER_SOURCE_UP, POLLER_SOURCE_DOWN };
struct poller_health {
    enum poller_source_state state;
    int64_t since_ms;           /* wall clock of the last change */
};
/* A connection or a query on it failed: error says why, in words. */
void poller_health_down(struct poller_health *h, struct cache *c, const char *error);
/* A pass completed. */
void poller_health_up(struct poller_health *h, struct cache *c);
