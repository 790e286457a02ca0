#pragma once
/*
 * The LMDB store: one environment, a named database per model (key: the
 * RecID as big-endian u64), a DUPSORT index per to-many relation (key: the
 * foreign-key value, duplicates: child RecIDs), and a meta database (per
 * model: cursor, state, counts, last run, bounded run history).
 *
 * Threads: the poller is the only writer; any thread may read through its
 * own struct cache_rd. An MDB_txn never changes threads (STYLE R7).
 *
 * Stored rows are pre-rendered JSON members plus an offset table, so a full
 * record is one copy and a `select` is a few slices (see cache_int.h).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "collector.h"
#include "schema.h"

struct cache;
struct cache_rd;
struct cache_wtxn;

struct cache_opts {
    const char *path;             /* directory of the environment; created if missing (unless read_only) */
    size_t map_size;              /* bytes (conf's map_size_mb); required when writable; 0 when
                                     read-only: the size the writer chose */
    bool read_only;               /* tools next to a running server */
    const struct schema *schema;  /* must outlive the cache */
    size_t change_log_max_entries; /* the change log's bounds (changes.c); 0: none */
    unsigned change_log_max_age_s;
};

/* Opens (creating when writable) the environment and every model's and
 * relation's database. Errors: -ENOENT (no store at a read-only path),
 * -EPROTO (not a cwcache store, or made from an incompatible schema), -errno. */
int cache_open(struct cache **out, const struct cache_opts *o) MUST_CHECK;
void cache_close(struct cache *c); /* accepts NULL */
/* An error of any cache call in words an operator can act on ("disk full
 * at DIR: free space; cwcache keeps serving the cached data", "LMDB map
 * full (64 GiB): raise map_size_mb"); c may be NULL (no directory or size then).
 * Writes into out and returns it. */
#define CACHE_STRERROR_MAX 192
const char *cache_strerror(const struct cache *c, int rc, char *out, size_t len);
/* A disk full, a quota met or a full map (-ENOSPC, -EDQUOT, -EFBIG from a
 * write): the store's own state, not a model's. Every commit fails the
 * same way until an operator frees space or raises map_size_mb, so it is
 * logged once for the store, not once per model. */
bool cache_err_store_full(int rc);

/* ---- Values as the source delivers them ---------------------------------- */

enum cache_value_kind {
    CV_NULL,
    CV_INT,      /* i: Int, BigInt; also Boolean sources that are ints */
    CV_FLOAT,    /* f: Float (money included) */
    CV_BOOL,     /* b */
    CV_TEXT,     /* s: UTF-8 text (String; uniqueidentifier as text) */
    CV_DECIMAL,  /* s: decimal text as the source printed it ("12.5000", "-0.10"); normalised on encode */
    CV_DATETIME, /* ms: milliseconds since the Unix epoch, UTC */
    CV_BYTES,    /* s: raw bytes (rendered base64) */
};

struct cache_value {
    enum cache_value_kind kind;
    union {
        int64_t i;
        double f;
        bool b;
        int64_t ms;
        struct slice s; /* not owned: valid until cache_row_put/encode returns */
    };
};

/* Encodes one row (vals[i] for model->fields[i]) into out (appended) in the
 * stored format; the live fallback uses it too, so both paths render the
 * same bytes. -EINVAL when a value cannot represent its field's type, with
 * a message naming the field in err. */
int cache_row_encode(const struct schema_model *m, const struct cache_value *vals, struct buf *out,
                     char *err, size_t errlen) MUST_CHECK;
/* The rendered JSON value of field `field` in an encoded row (a view into row). */
int cache_row_value(struct slice row, const struct schema_model *m, const struct schema_field *f,
                    struct slice *json_value) MUST_CHECK;
/* The row's key (its pk value). */
uint64_t cache_row_pk(struct slice row);
/* An integer field's value for relation lookups: -ENOENT when the value is null. */
int cache_row_int(struct slice row, const struct schema_model *m, const struct schema_field *f,
                  int64_t *out) MUST_CHECK;

/* ---- Meta ---------------------------------------------------------------- */

enum cache_state { CACHE_COLD = 0, CACHE_WARMING = 1, CACHE_WARM = 2 };
const char *cache_state_name(enum cache_state s); /* "cold", "warming", "warm" */

/* Keyset cursor: the last applied (last-update, RecID). ts is in 100 ns
 * ticks since the Unix epoch, fine enough for datetime2(7) and exact for
 * datetime's 1/300 s ticks after rounding back. */
#define CACHE_TICKS_PER_S 10000000LL /* the cursor's 100 ns ticks */
struct cache_cursor {
    bool set;       /* false: start from the beginning */
    int64_t ts;
    uint64_t pk;
};

/* A model's first load in key order (poller/sync.c), while it runs: rows
 * up to key `after` are in (none yet unless `started`); `clock` is the
 * source clock read before it: the poll that follows starts from the
 * newest last-update the load read that is not past it. */
struct cache_load {
    bool on, started;
    int64_t clock;
    uint64_t after;
};

#define CACHE_ERROR_MAX 256

struct cache_meta {
    enum cache_state state;
    struct cache_cursor cursor;
    struct cache_load load;        /* on: a first load in key order runs (cursor unset) */
    uint64_t rows;                 /* maintained by put/delete; read-only for callers */
    int64_t source_newest_ts;      /* newest last-update the source had at the last poll (100 ns ticks) */
    int64_t last_run_start_ms, last_run_end_ms;
    int64_t last_reconcile_ms;
    /* End of the last pass that succeeded: the cache matched the source
     * then. The poller refreshes it at least every minute while it can
     * reach the source (idle polls included), so now minus it is the
     * model's staleness. 0: never. */
    int64_t last_ok_ms;
    int32_t last_status;           /* 0 ok, else a negative errno */
    char last_error[CACHE_ERROR_MAX];
};

/* The source database's health as the poller last found it (one record
 * per store, written when it changes): what `cwcachectl status` and the
 * server show. */
struct cache_health {
    bool known;                    /* false: no poller has recorded anything yet */
    bool up;                       /* the last attempt reached the source */
    int64_t since_ms;              /* when it went up or down (Unix ms) */
    char error[CACHE_ERROR_MAX];   /* why it is down, in words; "" while up */
};

struct cache_run {
    int64_t start_ms, end_ms;
    uint64_t read, applied, skipped, deleted;
    uint64_t stalled;              /* pages that did not move the cursor (a source rounding
                                      datetime parameters), each recovered by a read by RecID */
    int32_t status;                /* 0 ok, else a negative errno */
    uint32_t polls;                /* polls folded into an "idle" record; else 1 (0 reads as 1) */
    char kind[16];                 /* "poll", "reconcile", "deletes", "load", "warm", "full";
                                      "idle" in the history */
    char error[CACHE_ERROR_MAX];
};

/* Run history per model: runs that changed or failed something are kept
 * one by one; consecutive polls that changed nothing fold into one "idle"
 * record (first start, last end, counts summed). The oldest records are
 * dropped once older than CACHE_RUNS_AGE_MS and more than CACHE_RUNS_KEPT
 * remain, or beyond CACHE_RUNS_MAX (a table changing at every 5 s poll
 * makes 17,280 a day). */
#define CACHE_RUNS_KEPT 200
#define CACHE_RUNS_MAX 20000
#define CACHE_RUNS_AGE_MS (24 * 3600 * 1000LL)

/* The health record; one never written reads as !known. */
int cache_health_get(struct cache_rd *rd, struct cache_health *out) MUST_CHECK;

/* ---- Status report (cwcachectl status --json, GET /status.json) ----------- */

/* What a report is judged against: its time and the configuration's
 * max_staleness_s. */
struct cache_report_clock {
    int64_t now_ms;
    int64_t max_staleness_ms;
};
/* A model is ready when it is warm and matched the source at most
 * max_staleness ago: it can serve correct data, whether or not the source
 * is reachable right now. */
bool cache_meta_ready(const struct cache_meta *m, const struct cache_report_clock *k);
/* Seconds since the model last matched the source (never negative) into
 * *out; false, *out untouched, when it never did. */
bool cache_meta_staleness_s(const struct cache_meta *m, int64_t now_ms, double *out);
/* Seconds the cursor is behind the source's newest last-update (never
 * negative) into *out; false, *out untouched, when either is unknown. */
bool cache_meta_lag_s(const struct cache_meta *m, double *out);
/* The last run's error text: "" after a success, else last_error or, when
 * that is empty, strerror of the status. Valid as long as m. */
const char *cache_meta_error(const struct cache_meta *m);
/* Whether the model's cursor column holds UTC (its SQL name ends in _UTC);
 * otherwise it holds the source server's local time. */
bool cache_cursor_utc(const struct schema_model *mo);
/* Cursor ticks (100 ns since the epoch) floored to milliseconds. */
int64_t cache_ticks_ms(int64_t ticks);

/* Totals over the models reported; zero-initialise, then add each model. */
struct cache_report_sum {
    size_t models, by_state[3], failed, not_ready; /* not_ready: needed models only */
    uint64_t rows;
    int64_t last_ok_ms;        /* newest last_ok_ms: the last successful poll */
};
void cache_report_sum_add(struct cache_report_sum *s, const struct cache_meta *m, bool needed,
                          const struct cache_report_clock *k);
/* "ok", "failed", or NULL before the first run. */
const char *cache_meta_status_name(const struct cache_meta *m);
/* Appends one element of "models": {"model":...,"needed":...,"ready":...,
 * "state":...,"rows":...,"cursor":{"column":...,"zone":"UTC"|"source local time",
 * "lastUpdate":... (with Z only in UTC),"recId":...}|null,
 * "sourceNewest":...,"lagSeconds":...,"lastSuccess":...,"stalenessSeconds":...,
 * "lastRunStart":...,"lastRunEnd":...,"lastRunMs":...,"lastStatus":"ok"|"failed"|null,
 * "lastError":...,"lastReconcile":...}. */
void cache_report_model_json(struct buf *b, const struct schema_model *mo,
                             const struct cache_meta *m, bool needed,
                             const struct cache_report_clock *k);
/* Appends the value of "source": {"state":"up"|"down"|"unknown","since":...,
 * "lastSuccess":...,"error":...}; last_ok_ms is the summary's. */
void cache_report_health_json(struct buf *b, const struct cache_health *s, int64_t last_ok_ms);
/* Appends the value of "summary": {"models":...,"warm":...,"warming":...,
 * "cold":...,"failed":...,"notReady":...,"rows":...,"ready":...}. */
void cache_report_summary_json(struct buf *b, const struct cache_report_sum *s);

/* ---- Write transactions (poller thread only) ------------------------------ */

enum cache_put { CACHE_PUT_INSERTED, CACHE_PUT_UPDATED, CACHE_PUT_UNCHANGED };

int cache_wtxn_begin(struct cache *c, struct cache_wtxn **out) MUST_CHECK;
/* Records the source's state (the poller, when it changes). */
int cache_health_put(struct cache_wtxn *w, const struct cache_health *s) MUST_CHECK;
/* Commits and frees w. On failure nothing of w is applied. */
int cache_wtxn_commit(struct cache_wtxn *w) MUST_CHECK;
void cache_wtxn_abort(struct cache_wtxn *w); /* frees w; accepts NULL */
/* Reads inside the write transaction see its own writes. */
struct cache_rd *cache_wtxn_rd(struct cache_wtxn *w);

/* Upserts one source row; relation indexes follow (a changed foreign key
 * moves the index entry). A row whose XXH3 fingerprint equals the stored
 * one is not written (*res = CACHE_PUT_UNCHANGED). res may be NULL. */
int cache_row_put(struct cache_wtxn *w, const struct schema_model *m, const struct cache_value *vals,
                  enum cache_put *res, char *err, size_t errlen) MUST_CHECK;
/* The same for a row already encoded by cache_row_encode() (the poller
 * encodes on its fetch thread). Keys above the largest stored key are
 * appended without a lookup. -EPROTO when row is not an encoded row of m. */
int cache_row_put_encoded(struct cache_wtxn *w, const struct schema_model *m, struct slice row,
                          enum cache_put *res) MUST_CHECK;
/* Deletes a row and its index entries; -ENOENT if absent. */
int cache_row_delete(struct cache_wtxn *w, const struct schema_model *m, uint64_t pk) MUST_CHECK;
/* Writes meta (rows is kept as maintained, whatever the caller passes). */
int cache_meta_put(struct cache_wtxn *w, const struct schema_model *m, const struct cache_meta *meta) MUST_CHECK;
/* Appends to the model's run history, dropping the oldest beyond CACHE_RUNS_KEPT. */
int cache_run_append(struct cache_wtxn *w, const struct schema_model *m, const struct cache_run *r) MUST_CHECK;

/* Index entries of a first load are built after its rows (build.c): a
 * transaction that calls this and puts the first row into an empty slot no
 * reader sees (a model not yet warm, a rebuild's shadow) marks the slot's
 * indexes pending, and no writer maintains them until they are built.
 * With collect (the bounds cache_index_build() is given; it must outlive
 * the transaction), the entries of the rows the load inserts are collected
 * in sorted runs as they arrive, so the build need not read the rows back;
 * NULL: it reads them. */
struct cache_build_opts;
void cache_wtxn_defer_indexes(struct cache_wtxn *w, const struct cache_build_opts *collect);
/* A warm-up's commits without fsync (issue 14 goal 3): an fsync per commit
 * costs a disk wait each. cache_unsynced_begin() first makes a marker file
 * durable (the data directory's unsynced.<pid>, holding the boot id), then
 * turns fsync off for this process; cache_unsynced_end() (or cache_close)
 * syncs every commit and removes the marker. A killed process loses
 * nothing (its commits are in the OS cache, consistent): the next writer to
 * open the store syncs it and removes the marker. A marker from another
 * boot means the system went down with commits maybe half on disk: the next
 * writer empties the store (cache_open), which is then loaded again. */
int cache_unsynced_begin(struct cache *c) MUST_CHECK;
int cache_unsynced_end(struct cache *c) MUST_CHECK;
/* Starts writing back what the unsynced commits left dirty, without
 * waiting (so the sync at the end has less left to wait for). */
int cache_unsynced_writeback(struct cache *c) MUST_CHECK;
struct cache_build_opts {
    size_t run_bytes; /* entries sorted in memory before a run is spilled to disk */
    size_t txn_bytes; /* entries appended per write transaction */
};
/* Builds the pending indexes of the slot writes to model m go to, in
 * transactions of o->txn_bytes, and clears the mark with the last; *built
 * when there was something to build. The model's passes call it before
 * their last page (whose transaction makes the slot readable); a slot made
 * readable with its indexes still pending gets them built in that
 * transaction, unbounded. */
int cache_index_build(struct cache *c, const struct schema_model *m,
                      const struct cache_build_opts *o, bool *built) MUST_CHECK;

/* Full rebuild (warm --full): rows go to a shadow copy of the model's
 * database and its indexes, over as many transactions as needed; readers
 * keep seeing the old copy until cache_rebuild_swap() commits with the
 * transaction that calls it. cache_rebuild_begin() discards an unfinished
 * earlier shadow. While a rebuild is open, cache_row_put() for that model
 * writes to the shadow. */
int cache_rebuild_begin(struct cache_wtxn *w, const struct schema_model *m) MUST_CHECK;
int cache_rebuild_swap(struct cache_wtxn *w, const struct schema_model *m) MUST_CHECK;
int cache_rebuild_abandon(struct cache_wtxn *w, const struct schema_model *m) MUST_CHECK;

/* ---- Reads ---------------------------------------------------------------- */

/* A reusable read handle: allocate once per thread or session; begin/end
 * around each request (mdb_txn_renew/reset: no allocation). */
int cache_rd_new(struct cache *c, struct cache_rd **out) MUST_CHECK;
void cache_rd_free(struct cache_rd *rd); /* accepts NULL */
int cache_rd_begin(struct cache_rd *rd) MUST_CHECK;
void cache_rd_end(struct cache_rd *rd);

/* *row points into LMDB and is valid until cache_rd_end() (or the write
 * transaction's end). -ENOENT on a miss. */
int cache_row_get(struct cache_rd *rd, const struct schema_model *m, uint64_t pk, struct slice *row) MUST_CHECK;
/* Up to max keys in key order into pks, *n set: the first keys when
 * from_start, else the keys greater than `after`. */
int cache_keys_next(struct cache_rd *rd, const struct schema_model *m, bool from_start, uint64_t after,
                    uint64_t *pks, size_t max, size_t *n) MUST_CHECK;
typedef int (*cache_row_cb)(void *arg, struct slice row);
/* Calls cb for every row in key order; a non-zero return stops and is returned. */
int cache_scan(struct cache_rd *rd, const struct schema_model *m, cache_row_cb cb, void *arg) MUST_CHECK;
/* Calls cb for the rows from key `from` on (from_end: from the first key),
 * in key order, or backwards from `from` down (from_end: from the last key)
 * when back: an O(log n) seek, then only the rows cb reads. */
int cache_scan_range(struct cache_rd *rd, const struct schema_model *m, uint64_t from, bool from_end,
                     bool back, cache_row_cb cb, void *arg) MUST_CHECK;
struct cache_sindex_range;
/* Calls cb for the rows of m along the secondary index of f (an @@index's
 * leading field) within r; -ENOTSUP when the store has no such index. */
int cache_sindex_read(struct cache_rd *rd, const struct schema_model *m, const struct schema_field *f,
                      const struct cache_sindex_range *r, cache_row_cb cb, void *arg) MUST_CHECK;
/* Calls cb for every row of r->target whose foreign key equals fk (to-many r), in key order. */
int cache_children(struct cache_rd *rd, const struct schema_relation *r, int64_t fk, cache_row_cb cb,
                   void *arg) MUST_CHECK;
/* The number of rows cache_children() would give, read from the relation
 * index's duplicate count alone (no row is read). */
int cache_children_count(struct cache_rd *rd, const struct schema_relation *r, int64_t fk,
                         uint64_t *n) MUST_CHECK;
/* Meta of a model; a model never written reads as cold and zero. */
int cache_meta_get(struct cache_rd *rd, const struct schema_model *m, struct cache_meta *out) MUST_CHECK;
typedef int (*cache_run_cb)(void *arg, const struct cache_run *r);
/* Run history, newest first, at most `max` entries (0: all). */
int cache_runs(struct cache_rd *rd, const struct schema_model *m, size_t max, cache_run_cb cb, void *arg) MUST_CHECK;

struct cache_stats {
    size_t map_size, map_used, page_size;
    unsigned max_readers, readers;
    uint64_t last_txn_id;
};
int cache_stats_get(struct cache *c, struct cache_stats *out) MUST_CHECK;
/* Per-database figures; cb called with the LMDB database name. */
typedef int (*cache_db_stat_cb)(void *arg, const char *db, uint64_t entries, uint64_t branch_pages,
                                uint64_t leaf_pages, uint64_t overflow_pages, unsigned depth);
int cache_db_stats(struct cache_rd *rd, cache_db_stat_cb cb, void *arg) MUST_CHECK;

/* ---- Queries: collector + opts -> the `data` array ------------------------- */

/* A filter value, rendered exactly as rows render the field ("12.5" for a
 * Decimal, "2024-03-01T00:00:00.000Z" for a DateTime), so comparing with a
 * row is a typed comparison of two JSON texts. */
struct cache_fvalue {
    struct slice json;     /* canonical JSON value; "null" for null */
    struct slice text;     /* String: the unescaped text */
    int64_t i;             /* Int, BigInt */
    double f;              /* Float */
};

enum cache_filter_op {
    CACHE_F_AND, CACHE_F_OR, CACHE_F_NOT,           /* sub[n_sub]; an empty AND is true */
    CACHE_F_EQ, CACHE_F_NE,                         /* field, vals[0] (null: IS [NOT] NULL) */
    CACHE_F_IN, CACHE_F_NOTIN,                      /* field, vals[n_vals] */
    CACHE_F_LT, CACHE_F_LTE, CACHE_F_GT, CACHE_F_GTE,
    CACHE_F_CONTAINS, CACHE_F_STARTS, CACHE_F_ENDS, /* String field, vals[0] */
    CACHE_F_SOME, CACHE_F_EVERY, CACHE_F_NONE,      /* to-many rel, sub[0] on its target */
    CACHE_F_IS, CACHE_F_ISNOT,                      /* to-one rel, sub[0], or n_sub 0 for null */
};

/* A `where` tree. Scalar conditions follow SQL's three-valued logic as
 * Prisma's SQL does: a comparison with a null column is unknown, NOT of
 * unknown is unknown, and only true keeps a row. */
struct cache_filter {
    enum cache_filter_op op;
    const struct schema_field *field;
    const struct schema_relation *rel;
    const struct cache_filter *sub;
    size_t n_sub;
    const struct cache_fvalue *vals;
    size_t n_vals;
};

/* One orderBy key: a scalar of the node's model, or of a to-one relation
 * path from it ({"company":{"name":"asc"}}). Nulls sort first ascending,
 * as on SQL Server. Every order ends with the primary key ascending. */
struct cache_order {
    const struct schema_relation *const *path; /* to-one relations, n_path of them */
    size_t n_path;
    const struct schema_field *field;          /* at the path's end; NULL for a count */
    /* {"rel":{"_count":"asc"}}: the to-many relation at the path's end whose
     * rows are counted (0 when a relation on the path is missing, as
     * Prisma's COALESCE); NULL for a field. */
    const struct schema_relation *count;
    bool desc;
};

/* `_count` of a to-many relation, optionally filtered. */
struct cache_count {
    const struct schema_relation *rel;
    const struct cache_filter *where;      /* NULL: every child */
};

/* A parsed request: what to render for the root model and each included
 * relation. Public so the live fallback can fetch exactly what it renders. */
/* One member of a select, in the request's order (Prisma renders a select's
 * fields, relations and _count in the order the request names them). */
enum cache_item_kind { CACHE_ITEM_FIELD, CACHE_ITEM_CHILD, CACHE_ITEM_COUNTS };
struct cache_plan_item {
    enum cache_item_kind kind;
    uint32_t index;                       /* schema field index, or children[] index */
};

struct cache_plan_node {
    const struct schema_model *model;
    const struct schema_relation *via;    /* relation from the parent node; NULL at the root */
    const struct schema_field **fields;   /* scalar fields rendered, in schema order */
    size_t n_fields;
    struct cache_plan_node *children;     /* relations rendered after the scalars, in request order */
    size_t n_children;
    /* findMany arguments (root and to-many relations) */
    const struct cache_filter *where;     /* NULL: every row */
    const struct cache_order *order;
    size_t n_order;
    bool has_take;
    int64_t take;                         /* negative: the last -take rows */
    uint64_t skip;
    const struct schema_field *cursor_field; /* NULL: no cursor */
    struct cache_fvalue cursor;
    /* The source applied orderBy and Prisma's cursor condition (the live
     * fallback's SQL, n_order then 0): rows come in page order and the
     * level runs distinct, starts at the cursor row, skips and takes. */
    bool cursor_applied;
    const struct schema_field **distinct;
    size_t n_distinct;
    const struct cache_count *counts;     /* `_count`, rendered after children[counts_at - 1] */
    size_t n_counts, counts_at;
    bool has_counts;
    /* A select whose order is not "scalars in schema order, then relations":
     * every member in request order. NULL: fields, then children. */
    const struct cache_plan_item *items;
    size_t n_items;
};

/* One equality of the collector's fixed `where`, its value rendered exactly
 * as rows render the field, so matching is a byte comparison. */
struct cache_plan_where {
    const struct schema_field *field;     /* a scalar field of the root model */
    struct slice json;                    /* canonical JSON value, in the plan's arena */
};

struct cache_plan {
    const struct collector *collector;
    struct cache_plan_node root;
    uint64_t max_rows;                    /* from the collector (0: none) */
    void *arena;                          /* owned allocations of the plan */
    const struct cache_plan_where *where; /* the collector's filter on root rows (ANDed) */
    size_t n_where;
    bool count;                           /* `count: true`: render the number of root rows */
};

#define CACHE_INCLUDE_DEPTH_MAX 4

/* Error text for `select` and `include` together, identical for every such request. */
#define CACHE_ERR_SELECT_AND_INCLUDE "Please either use `include` or `select`, but not both at the same time."

/* Parses opts (NULL or JSON null: full records) for a collector.
 * On a bad request returns -EINVAL with a client-facing message in err
 * (naming the unknown field or relation). The plan is freed with cache_plan_fini(). */
int cache_plan_parse(struct cache_plan *p, const struct collector *col, const json_t *opts, char *err,
                     size_t errlen) MUST_CHECK;
void cache_plan_fini(struct cache_plan *p);

/* A walk over a secondary index: value keys as sindex.c makes them, the
 * rows of one value in pk order (pk_back: descending). */
struct cache_sindex_range {
    struct slice lo, hi;       /* inclusive value bounds, ascending; p NULL: open */
    struct slice start;        /* a cursor row's value: the walk starts at it (p NULL: none) */
    uint64_t start_pk;         /* and at its pk within that value */
    bool back;                 /* values descending */
    bool pk_back;
};

/* Where rows come from: the LMDB store or the live fallback's fetched rows. */
struct cache_source_ops {
    int (*get)(void *ctx, const struct schema_model *m, uint64_t pk, struct slice *row);
    int (*scan)(void *ctx, const struct schema_model *m, cache_row_cb cb, void *arg);
    int (*children)(void *ctx, const struct schema_relation *r, int64_t fk, cache_row_cb cb, void *arg);
    /* The root model's rows from a key on, either direction (cache_scan_range). */
    int (*range)(void *ctx, const struct schema_model *m, uint64_t from, bool from_end, bool back,
                 cache_row_cb cb, void *arg);
    /* The rows of m along f's secondary index; NULL, or -ENOTSUP before any
     * row, when there is none: the reader scans instead. */
    int (*index)(void *ctx, const struct schema_model *m, const struct schema_field *f,
                 const struct cache_sindex_range *r, cache_row_cb cb, void *arg);
    /* The rows of to-many plan node n under one parent, in the order the
     * source holds them (the live fallback: as its SQL filtered, ordered and
     * cut them); the level then applies the node's options as they are
     * (the live fallback renders a copy of the plan without the ones its
     * SQL applied). NULL: children(). */
    int (*node_rows)(void *ctx, const struct cache_plan_node *n, int64_t parent, cache_row_cb cb,
                     void *arg);
    /* The number `_count` entry c gives a parent; NULL: counted through
     * children() and c's filter. */
    int (*count)(void *ctx, const struct cache_count *c, int64_t parent, uint64_t *n);
    /* The number of rows children() gives a parent, without reading them;
     * NULL: counted through children(). */
    int (*children_count)(void *ctx, const struct schema_relation *r, int64_t parent, uint64_t *n);
};
struct cache_source {
    const struct cache_source_ops *ops;
    void *ctx;
};
/* The LMDB store seen through rd (between cache_rd_begin and cache_rd_end). */
struct cache_source cache_source_lmdb(struct cache_rd *rd);

/* Whether Prisma pages node n in memory: the cursor row must then be among
 * the rows that match n's filters (and, in a relation, belong to the same
 * parent), else the page is empty; otherwise the cursor only positions. */
bool cache_plan_cursor_in_memory(const struct cache_plan_node *n);

/* Appends the JSON array of the plan's rows to out (for a `count` plan the
 * number of root rows): rows in key order unless ordered, filtered and paged
 * as the plan says, to-one relations as an object or null, to-many as
 * arrays. -EFBIG when the answer would exceed max_bytes (0: no limit), with
 * its full size in *size; out is then left as it was. */
int cache_query_render(const struct cache_plan *p, const struct cache_source *src, struct buf *out,
                       size_t max_bytes, size_t *size) MUST_CHECK;
/* The client's error for an answer of size bytes over max_bytes:
 * "answer too large (143 MB > 96 MB): page it with take and cursor". */
void cache_err_too_large(char *err, size_t errlen, size_t size, size_t max_bytes);
/* true when every model the plan reads is warm in rd's snapshot. */
bool cache_plan_warm(const struct cache_plan *p, struct cache_rd *rd);
/* true when the plan reads no more than max rows in rd's snapshot (between
 * cache_rd_begin and _end): only rows of its root model (no relation or
 * _count, in no filter or order either), and that model holds at most max. */
bool cache_plan_rows_at_most(const struct cache_plan *p, struct cache_rd *rd, uint64_t max);
/* The ids of the models the plan reads, each once, into out (room for
 * schema->n_models); returns how many. */
size_t cache_plan_models(const struct cache_plan *p, uint16_t *out);

/* ---- Data versions (versions.c) ------------------------------------------------
 * Per model, the id of the last transaction that changed what its readers
 * see (rows, index entries, a swapped-in rebuild, warm state). Idle polls
 * leave them alone. The largest version over the models an answer read
 * changes exactly when the answer would. */

/* rd's snapshot's versions, indexed by model id (between cache_rd_begin
 * and cache_rd_end; the array stays readable until the next call on rd). */
int cache_versions_get(struct cache_rd *rd, const uint64_t **out) MUST_CHECK;
/* The id of the newest committed transaction (mdb_env_info: no lock, no
 * syscall); 0 when it cannot be read. */
uint64_t cache_versions_newest_txn(struct cache *c);
/* The id of the transaction rd's snapshot shows (0 when not active). */
uint64_t cache_versions_snapshot(struct cache_rd *rd);

#define CACHE_VERSION_LEN 32
/* The opaque version string of data version v: 32 hex digits, the store's
 * random id then v, so a version from another store (a replica, a fresh
 * data directory) is never taken for one of this store. */
void cache_version_format(const struct cache *c, uint64_t v, char out[CACHE_VERSION_LEN + 1]);
/* Parses a version string into *v: -EINVAL when it is not a version,
 * -ESTALE when it is another store's. */
int cache_version_parse(const struct cache *c, const char *s, size_t len, uint64_t *v) MUST_CHECK;

/* ---- Freshness (asof.c) -----------------------------------------------------
 * Per model, the source clock (ms since the epoch, UTC) read at the start of
 * the newest poll whose rows are all committed: the store holds every row
 * the source had committed by then. Kept in memory by the process that polls. */
void cache_asof_note(struct cache *c, const struct schema_model *m, int64_t source_ms);
/* The oldest of the models' clocks; 0 when any of them was never polled here. */
int64_t cache_asof(const struct cache *c, const uint16_t *ids, size_t n);
/* A poll of m ended with its changes committed (deletes it found included),
 * or the summary let it skip: counted for /metrics (cwcache_model_polls_total),
 * which lets a test count poll intervals on a machine of any speed. */
void cache_polls_note(struct cache *c, const struct schema_model *m);
uint64_t cache_polls(const struct cache *c, const struct schema_model *m);

/* ---- Changes since a version (since.c, on the change log of changes.c) -------
 * A client that holds an answer of version V gets only the root rows whose
 * rendering may have changed after V: rows of any model the plan reads
 * that were stored with new bytes or deleted, mapped up through the plan's
 * relations to the root rows that render them. */

/* The root RecIDs whose rendering by p may differ between the snapshot of
 * version `since` and rd's snapshot, sorted, each once, into *keys (malloc'd,
 * the caller frees; NULL when none). -ESTALE when the log cannot tell: since
 * is older than the log's horizon or newer than rd's snapshot, or a model the
 * plan reads is not warm or was replaced wholesale after since. */
/* The checks of cache_since_keys() without the walk: 0, or -ESTALE when the
 * log cannot answer since. */
int cache_since_check(struct cache_rd *rd, const struct cache_plan *p, uint64_t since) MUST_CHECK;
int cache_since_keys(struct cache_rd *rd, const struct cache_plan *p, uint64_t since, uint64_t **keys,
                     size_t *n) MUST_CHECK;
/* Of the root keys (sorted), renders the rows that exist and pass the plan's
 * filter into `data` as a JSON array, and appends the others to `deleted` as a
 * JSON array of numbers (the client drops them). */
int cache_query_render_keys(const struct cache_plan *p, const struct cache_source *src,
                            const uint64_t *keys, size_t n, struct buf *data,
                            struct buf *deleted) MUST_CHECK;

/* ---- Patching a rendered answer (patch.c) ----------------------------------------
 * An answer whose root rows come out in key order, each rendered on its own,
 * can be brought up to date by rendering again only the root rows the change
 * log names (cache_since_keys) and copying the others' bytes from the old
 * answer. cache_rows says where each root row's bytes are. */

/* The root rows of a rendered `data` array, in answer order: row i's key is
 * pk[i] and its bytes are [off[i], off[i + 1] - 1) of the array (the byte
 * at off[i + 1] - 1 is the ',' or ']' after it); off[n] is the array's
 * length. Offsets fit 32 bits: answers are under max_answer_mb (< 4 GiB). */
struct cache_rows {
    uint64_t *pk;
    uint32_t *off;   /* n + 1 entries once complete */
    size_t n, cap;
};
void cache_rows_fini(struct cache_rows *r); /* accepts a zeroed one (rows.c) */
/* Bytes the row table holds (for memory budgets). */
size_t cache_rows_bytes(const struct cache_rows *r);

/* true when p's answer can be patched: root rows in key order, all of those
 * that pass the filters (no orderBy, take, skip, cursor, distinct, count or
 * collector maxRows at the root), and nothing whose rendering could change
 * without the change log naming the root row: no relation filter, `_count`,
 * orderBy through a relation, or cursor at any level. */
bool cache_plan_patchable(const struct cache_plan *p);
/* cache_query_render(), also filling *rows (reset first) with the root rows;
 * p must be patchable. */
int cache_query_render_rows(const struct cache_plan *p, const struct cache_source *src,
                            struct buf *out, size_t max_bytes, size_t *size,
                            struct cache_rows *rows) MUST_CHECK;
/* Appends to out p's answer as of rd's snapshot, made from `old`, the array
 * p rendered at data version `since` with its rows old_rows: the root rows
 * the change log names since then are rendered again (or left out, gone or
 * filtered out now), the others copied, in key order; *rows (reset first)
 * describes the result and *n_changed counts the rows named. Errors leave
 * out as it was: -ESTALE when the log cannot tell (see cache_since_keys),
 * -E2BIG when more than half of the rows changed (a full render is then as
 * cheap), -EFBIG over max_bytes (0: no limit), -ENOTSUP when p is not
 * patchable; the caller renders in full instead. */
int cache_query_patch(const struct cache_plan *p, struct cache_rd *rd, uint64_t since,
                      struct slice old, const struct cache_rows *old_rows, struct buf *out,
                      size_t max_bytes, struct cache_rows *rows, size_t *n_changed) MUST_CHECK;
