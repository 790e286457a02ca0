#pragma once
/*
 * Internal header of the cache module: only src/cache/ and tests/cache/
 * include it (STYLE R2).
 *
 * STORE LAYOUT (one LMDB environment, every key big-endian so byte order
 * is numeric order)
 *
 *   "meta"                      plain database
 *       "\0fmt"                 u32 CACHE_FORMAT_VERSION, u64 XXH3 of the schema shape
 *       "\0shape"               the schema shape text (see shape.c), to name what changed
 *       "\0slots"               one byte per model (schema order): bit 0 = live slot,
 *                               bit 1 = a rebuild into the other slot is open
 *       "\0vers"                be64 per model (schema order): data versions (versions.c)
 *       "\0id"                  be64 random store id, made with the store: versions of
 *                               another store are not ours (versions.c)
 *       "\0chlog"               be64 change log horizon: the log holds every change of
 *                               every transaction after it (changes.c)
 *       "\0resets"              be64 per model (schema order): the last transaction that
 *                               replaced the model wholesale (changes.c)
 *       [0x01][be16 model id]   struct cache_meta, versioned fixed layout (meta.c)
 *       [0x04][be16 model id]   u8 slot mask, be64 txn id: the slots whose indexes are
 *                               pending (rows loaded without them; build.c)
 *       [0x02][be16 model id][be64 seq]
 *                               struct cache_run; seq grows by one per run, the oldest
 *                               beyond CACHE_RUNS_KEPT are deleted
 *   "m:<Model>@<slot>"          slot 0 and 1: key [be64 pk], value an encoded row (row.c)
 *   "i:<Model>.<relation>@<slot>"
 *                               per to-many relation, MDB_DUPSORT|MDB_DUPFIXED:
 *                               key [be64 fk], duplicates [be64 child pk]. The slot
 *                               follows the child model (relation->target), because
 *                               the child's rows carry the foreign key.
 *   "changes"                   the change log (changes.c): key [be64 txn id][be16 id]
 *                               [be64 key][u8 op], value [be64 commit ms]. id < n_models:
 *                               row `key` of model id changed (op 'c') or the whole model
 *                               was replaced (op 'r', key 0); id = n_models + to-many id:
 *                               the children of parent `key` in that relation changed.
 *   The int64 pk/fk is stored as its uint64 bit pattern.
 *
 * SLOTS INSTEAD OF GENERATION-NAMED DATABASES
 * A rebuild fills the model's non-live slot over many transactions; the
 * swap flips the model's live bit in "\0slots" and empties the old slot,
 * all in the transaction that calls cache_rebuild_swap(). Readers read
 * "\0slots" once in cache_rd_begin(), from the same snapshot as the rows,
 * so a reader sees either the old slot or the new one, never a mix.
 * With exactly two fixed names per database, every DBI handle is opened
 * once, in cache_open(), by one transaction that commits before any other
 * transaction uses the environment. That follows LMDB's caveats for
 * mdb_dbi_open() (never from concurrent transactions, the handle is private
 * until its transaction commits) without a lock on the read path, and
 * handles are never closed while the environment is open, so no reader can
 * hold a stale one. mdb_drop(dbi, 0) empties a database but keeps its handle.
 *
 * SCHEMA CHANGES
 * cache_open() compares the schema shape's fingerprint with the stored one
 * and refuses a mismatch with -EPROTO, logging the first model that
 * differs: the operator warms a fresh data directory. Model ids and field
 * positions are baked into keys and rows, so nothing else is safe.
 */
#include <lmdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"

#define CACHE_FORMAT_VERSION 3u /* 2: uniqueidentifier text in lower case; 3: rows keep values only (row.c) */
#define CACHE_SLOTS 2
#define CACHE_SLOT_LIVE 0x01u    /* bit 0 of a "\0slots" byte: the live slot */
#define CACHE_SLOT_REBUILD 0x02u /* bit 1: a rebuild into the other slot is open */
#define CACHE_NEST_MAX 8         /* cached cursors per database: nesting of scan/children */
#define CACHE_META_KEY_MODEL 0x01u
#define CACHE_META_KEY_RUN 0x02u
#define CACHE_META_KEY_HEALTH 0x03u /* the one source record (source.c) */
#define CACHE_META_KEY_DEFER 0x04u  /* per model: indexes pending after a first load (build.c) */

/* Every database the cache uses gets a dense number: rows of model m in slot
 * s are db m*2+s, index of to-many relation t in slot s is db (n_models+t)*2+s. */
struct cache {
    MDB_env *env;
    char *path;              /* the data directory, for messages */
    const struct schema *schema;
    bool read_only;
    bool unsynced;           /* committing without fsync (unsynced.c) */
    MDB_dbi meta;
    MDB_dbi changes;         /* 0 when a read-only open finds no change log */
    struct {
        size_t max_entries;  /* 0: no limit */
        unsigned max_age_s;  /* 0: no limit */
    } chlog;
    uint64_t store_id;       /* "\0id"; 0 when a read-only open finds none */
    _Atomic int64_t *asof;   /* per model, ms (asof.c) */
    _Atomic uint64_t *polls; /* per model, polls that covered it (asof.c) */
    MDB_dbi *dbi;            /* n_db handles, numbered as above */
    char **db_name;          /* n_db names, for stats */
    size_t n_db;
    /* Per model: the to-many relations whose child is this model (their
     * index follows this model's rows). */
    const struct schema_relation ***incoming;
    size_t *n_incoming;
    /* Per secondary index (schema->indexed order): complete in this store, so
     * readers may use it (sindex.c); a writable open builds what is missing. */
    bool *sindex_ready;
    /* A first load's index entries, collected as its rows arrive (build.c);
     * builds that used them instead of reading the rows (for tests). */
    struct cache_collect *collect;
    uint64_t builds_collected;
};

struct cache_rd {
    struct cache *c;
    MDB_txn *txn;
    bool active;             /* between begin and end */
    struct cache_wtxn *w;    /* non-NULL: the read view of a write transaction */
    uint8_t *slots;          /* n_models bytes read at begin (or the wtxn's) */
    unsigned nest;           /* depth of scan/children callbacks in progress */
    uint64_t epoch;          /* bumped per begin: cursors renewed lazily */
    uint64_t *vers;          /* n_models data versions, read at most once per begin */
    uint64_t vers_epoch;     /* the epoch vers was read in */
    MDB_cursor **cur;        /* n_db * CACHE_NEST_MAX cached cursors */
    uint64_t *cur_epoch;
    /* Whole-table scans: how much of each row the reader reads (0: all; a
     * hint for the prefetch, render.c sets it around a select's scan), and
     * the tree read-ahead's counts (for tests and benchmarks). */
    size_t scan_row_bytes;
    uint64_t ahead_leaves, ahead_rows, ahead_lost;
};

struct cache_wtxn {
    struct cache *c;
    MDB_txn *txn;
    struct cache_rd rd;
    struct buf enc;          /* reused encode buffer: no allocation per row */
    struct buf old;          /* copy of the replaced row: a write may spill the page it sits on */
    uint8_t *slots;          /* working copy of "\0slots" */
    /* Per rows database (n_db entries, allocated on first put): the largest
     * key, read once per transaction and raised by appends. A key above it
     * is new, so it is appended without a lookup (see write.c). A stale
     * (too high) value only costs the ordinary path. */
    uint64_t *tail;
    uint8_t *tail_known;
    uint8_t *changed;        /* per model: its data version moves at commit (versions.c) */
    struct buf chg;          /* changes noted for the log, written at commit (changes.c) */
    bool reset_any;          /* a model was replaced: "\0resets" is rewritten */
    bool defer_ok;           /* a first load into an unreadable slot defers its indexes */
    uint8_t *defer;          /* per model: its pending-index mark as read in this txn (build.c) */
    const struct cache_build_opts *collect_opts; /* collect the deferred entries (build.c) */
    bool collect_fed;        /* this txn handed rows to the collector */
};

/* ---- versions.c ------------------------------------------------------------ */
/* Marks the model's data as changed by this transaction. */
void cache_versions_touch(struct cache_wtxn *w, const struct schema_model *m);
/* Writes the changed models' new version (this txn's id): before commit. */
int cache_versions_commit(struct cache_wtxn *w) MUST_CHECK;

/* ---- changes.c: the change log ----------------------------------------------- */
#define CACHE_CHANGE_ROW 'c'
#define CACHE_CHANGE_RESET 'r'
/* Notes for this transaction's log entries (kept only if the model is warm). */
void cache_changes_row(struct cache_wtxn *w, const struct schema_model *m, uint64_t pk);
void cache_changes_children(struct cache_wtxn *w, const struct schema_relation *r, int64_t fk);
void cache_changes_reset(struct cache_wtxn *w, const struct schema_model *m);
/* Writes the noted entries and trims the log to its limits: before commit. */
int cache_changes_commit(struct cache_wtxn *w) MUST_CHECK;
/* The horizon in rd's snapshot: changes after it are all logged. */
int cache_changes_horizon(struct cache_rd *rd, uint64_t *out) MUST_CHECK;
/* The newest transaction that replaced any of the models ids wholesale (0: none). */
int cache_changes_replaced(struct cache_rd *rd, const uint16_t *ids, size_t n, uint64_t *out) MUST_CHECK;
/* id: model id, or n_models + to-many id; op CACHE_CHANGE_*. Non-zero stops the walk. */
typedef int (*cache_change_cb)(void *arg, uint16_t id, uint64_t key, uint8_t op);
/* Calls cb for each entry of a transaction after `after`, in log order. */
int cache_changes_walk(struct cache_rd *rd, uint64_t after, cache_change_cb cb, void *arg) MUST_CHECK;

/* ---- lmdb.c: the only caller of mdb_* ----------------------------------------
 * Each call returns 0 or a negative errno (the one mapping, STYLE R3):
 * MDB_NOTFOUND -ENOENT, MDB_KEYEXIST -EEXIST, MDB_MAP_FULL -EFBIG (the map,
 * while -ENOSPC is the disk), MDB_READERS_FULL -EUSERS, MDB_TXN_FULL -E2BIG,
 * MDB_CORRUPTED -EBADMSG, format and version mismatches -EPROTO, an OS error
 * as itself; cache_strerror() has the words. Pointers in MDB_val results are
 * valid until the transaction ends or the next write in it. */
int cache_lmdb_err(int mdb_rc); /* the mapping itself (the layer's calls and tests) */
int cache_lmdb_env_open(struct cache *c, const struct cache_opts *o, unsigned maxdbs) MUST_CHECK;
void cache_lmdb_env_close(struct cache *c);
int cache_lmdb_env_stats(struct cache *c, struct cache_stats *out) MUST_CHECK;
/* Commits without fsync (on) or with it again; this process only. */
int cache_lmdb_env_nosync(struct cache *c, bool on) MUST_CHECK;
/* The data file's descriptor (for writeback hints). */
int cache_lmdb_env_fd(struct cache *c, int *fd) MUST_CHECK;
/* Flushes every commit so far to disk. */
int cache_lmdb_env_sync(struct cache *c) MUST_CHECK;
/* unsynced.c, at open: before LMDB opens the store, empties one that a
 * warm-up left unsynced when the system went down (a writer; a reader gets
 * -ESTALE); after, a writer syncs what a warm-up killed in this boot left
 * and removes its marker. */
int cache_unsynced_reset(const struct cache *c) MUST_CHECK;
int cache_unsynced_settle(struct cache *c) MUST_CHECK;
uint64_t cache_lmdb_last_txn(struct cache *c); /* 0 when unknown */
/* Begin and renew adopt a map another process grew (see lmdb.c); a begun or
 * renewed txn ends with exactly one of reset (read txns), commit or abort.
 * free releases a txn left reset. */
int cache_lmdb_txn_begin(struct cache *c, bool read_only, MDB_txn **txn) MUST_CHECK;
int cache_lmdb_txn_renew(struct cache *c, MDB_txn *txn) MUST_CHECK;
void cache_lmdb_txn_reset(MDB_txn *txn);
int cache_lmdb_txn_commit(MDB_txn *txn) MUST_CHECK; /* frees txn, whatever the result */
void cache_lmdb_txn_abort(MDB_txn *txn);
void cache_lmdb_txn_free(MDB_txn *txn);
uint64_t cache_lmdb_txn_id(MDB_txn *txn);
int cache_lmdb_dbi_open(MDB_txn *txn, const char *name, unsigned flags,
                        MDB_dbi *dbi) MUST_CHECK;
int cache_lmdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val) MUST_CHECK;
int cache_lmdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val,
                   unsigned flags) MUST_CHECK;
int cache_lmdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val) MUST_CHECK;
/* Drops every entry of the database and keeps its handle. */
int cache_lmdb_empty(MDB_txn *txn, MDB_dbi dbi) MUST_CHECK;
/* Deletes the database itself and closes its handle. */
int cache_lmdb_dbi_drop(MDB_txn *txn, MDB_dbi dbi) MUST_CHECK;
int cache_lmdb_stat(MDB_txn *txn, MDB_dbi dbi, MDB_stat *out) MUST_CHECK;
int cache_lmdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cur) MUST_CHECK;
int cache_lmdb_cursor_renew(MDB_txn *txn, MDB_cursor *cur) MUST_CHECK;
void cache_lmdb_cursor_close(MDB_cursor *cur);
int cache_lmdb_cursor_get(MDB_cursor *cur, MDB_val *key, MDB_val *val,
                          MDB_cursor_op op) MUST_CHECK;
/* Prefetches every row on the leaf page that holds *val, and a page of
 * the map further in the reading direction, once per page: returns the
 * page to pass as `seen` with the next row. A hint only: never for a
 * write txn's rows (its dirty pages are not map pages). */
const void *cache_lmdb_page_prefetch(const MDB_val *val, const void *seen, bool back);
/* The B-tree read-ahead of a forward scan of a whole rows database (lmdb.c). */
#define AHEAD_RING 64u /* > AHEAD_MAX (lmdb.c) */
#define AHEAD_DEPTH_MAX 8u
struct cache_lmdb_level {
    const uint8_t *page; /* a branch page on the shadow's path */
    unsigned i, n;       /* the child followed, of n */
};
struct cache_lmdb_ahead {
    const uint8_t *map;
    uint64_t pages;                         /* the map's last page + 1 */
    unsigned depth;                         /* the tree's, leaves included */
    struct cache_lmdb_level lv[AHEAD_DEPTH_MAX];
    uint64_t ring[AHEAD_RING];              /* the coming leaves' page numbers */
    unsigned head, n, want;                 /* ring start, leaves in it, its target */
    size_t row_bytes;                       /* of each row prefetched; 0: all */
    const void *seen;                       /* the leaf of the last row */
    bool on, end, first;
    uint64_t leaves, rows, lost;            /* leaves followed, rows prefetched, times lost */
};
/* Starts the read-ahead of a forward scan from the first row (`first`,
 * NULL for an empty scan) of database `name` in txn, a read txn (a write
 * txn's pages are not all in the map); a tree it cannot follow leaves
 * only the map-page guess. row_bytes: how much of each row the reader
 * reads (0: all of it). */
void cache_lmdb_ahead_start(struct cache_lmdb_ahead *a, MDB_txn *txn, const char *name,
                            const MDB_val *first, size_t row_bytes);
/* Called with each row the cursor reaches, in order: a hint only. */
const void *cache_lmdb_ahead_step(struct cache_lmdb_ahead *a, const MDB_val *val);
int cache_lmdb_cursor_put(MDB_cursor *cur, MDB_val *key, MDB_val *val,
                          unsigned flags) MUST_CHECK;
int cache_lmdb_cursor_del(MDB_cursor *cur) MUST_CHECK;

/* ---- env.c ---------------------------------------------------------------- */
static inline size_t cache_db_rows(size_t model, unsigned slot) { return model * 2 + slot; }
static inline size_t cache_db_index(const struct cache *c, size_t to_many, unsigned slot)
{
    return (c->schema->n_models + to_many) * 2 + slot;
}
/* Secondary index number idx (schema->indexed[idx]) in slot. */
static inline size_t cache_db_sindex(const struct cache *c, size_t idx, unsigned slot)
{
    return ((size_t)c->schema->n_models + c->schema->n_to_many + idx) * 2 + slot;
}

/* ---- write.c -------------------------------------------------------------- */
/* Forgets the cached largest key of database db (after emptying it). */
void cache_wtxn_tail_forget(struct cache_wtxn *w, size_t db);

/* ---- fmt.c ---------------------------------------------------------------- */
/* Checks the stored format and schema fingerprint (-EPROTO on a mismatch,
 * logged with what differs); a writable open of a new store writes them. */
int cache_fmt_check(struct cache *c, MDB_txn *txn, const char *path) MUST_CHECK;

/* ---- shape.c: what of the schema the stored bytes depend on ---------------- */
/* Appends the shape text: one line per model. */
void cache_shape_render(const struct schema *s, struct buf *out);
uint64_t cache_shape_fingerprint(struct slice shape);
/* The first line of `a` that differs from `b` (for the operator's message). */
struct slice cache_shape_first_diff(struct slice a, struct slice b);

/* ---- slots.c --------------------------------------------------------------- */
int cache_slots_load(struct cache *c, MDB_txn *txn, uint8_t *slots) MUST_CHECK;
int cache_slots_store(struct cache *c, MDB_txn *txn, const uint8_t *slots) MUST_CHECK;
static inline unsigned cache_slot_live(const uint8_t *slots, size_t model)
{
    return slots[model] & CACHE_SLOT_LIVE;
}
/* Where writes to the model go: the shadow while a rebuild is open. */
static inline unsigned cache_slot_write(const uint8_t *slots, size_t model)
{
    unsigned live = slots[model] & CACHE_SLOT_LIVE;
    return (slots[model] & CACHE_SLOT_REBUILD) ? live ^ 1u : live;
}

/* ---- decimal.c -------------------------------------------------------------- */
/* Appends the decimal as Prisma's Decimal (decimal.js toString) prints it,
 * without quotes. -EINVAL unless text is [-]digits[.digits] with a digit. */
int cache_decimal_normalise(const char *text, size_t len, struct buf *out) MUST_CHECK;
/* Appends [-]int[.frac] rounded to `scale` fraction digits, half away from
 * zero, as SQL Server converts a value to decimal(p,s) (text with fewer
 * digits unchanged), NUL-terminated. -EINVAL when it is not such text. */
int cache_decimal_round(const char *text, size_t len, unsigned scale, struct buf *out) MUST_CHECK;
/* Compares two normalised decimals (the text between a stored value's quotes). */
int cache_decimal_cmp(struct slice a, struct slice b);

/* ---- compare.c: typed comparison of rendered values ---------------------------- */
/* The text of a JSON string literal: a view into json when it has no escape,
 * else decoded onto the end of tmp (which must then have room for json.len
 * bytes if earlier views into tmp are still in use). Non-strings as they are. */
struct slice cache_json_text(struct slice json, struct buf *tmp);
/* Orders two non-null rendered values of field f: numbers numerically,
 * Decimals exactly, Strings by the shared collation (collate.h), DateTimes
 * by their ISO text, false before true. tmp is scratch, left as found. */
int cache_value_cmp(const struct schema_field *f, struct slice a, struct slice b, struct buf *tmp);

/* ---- value.c: one value as JSON --------------------------------------------- */
/* Appends the JSON rendering of v for field f; -EINVAL (message in err) when
 * the kind cannot represent the field's type. */
int cache_value_render(const struct schema_field *f, const struct cache_value *v, struct buf *out,
                       char *err, size_t errlen) MUST_CHECK;
void cache_base64_put(struct buf *out, const uint8_t *p, size_t n);

/* ---- row.c: the stored row -------------------------------------------------- */
/*
 * Encoded row (all integers big-endian, read with get_be*; rows may be
 * unaligned in LMDB):
 *   [0]      u8  row format version (2)
 *   [1]      u8  flags: CACHE_ROW_WIDE = u32 offsets (a body of 64 KiB or
 *                more), else u16
 *   [2..4)   u16 n: number of scalar fields
 *   [4..12)  u64 pk
 *   [12..20) u64 XXH3-64 of the offsets and the body (the offsets too:
 *                values 12,3 and 1,23 have the same body)
 *   [20..)   u16 or u32 off[n+1]: start of value i in the body; off[n] =
 *                body length
 *   body     the rendered JSON values, in schema order, nothing between them
 * Value i is body[off[i], off[i+1]); a JSON value is never empty. Keys are
 * not stored: an answer writes each member's `"name":` from the schema
 * (schema_field.key), so a row is about a quarter of its member text.
 */
#define CACHE_ROW_VERSION 2u /* 1: members "name":value, u32 offsets */
#define CACHE_ROW_WIDE 0x01u
#define CACHE_ROW_PK 4u    /* offset of the pk */
#define CACHE_ROW_HASH 12u /* offset of the hash */
#define CACHE_ROW_HDR 20u

struct cache_row_view {
    const uint8_t *body;
    size_t body_len;
    const uint8_t *off;      /* n+1 big-endian u16, or u32 when wide */
    size_t n;
    bool wide;
    uint64_t pk, hash;
};
/* Validates the header against the model: -EPROTO for a foreign or damaged row. */
int cache_row_view(struct slice row, const struct schema_model *m, struct cache_row_view *v) MUST_CHECK;
/* The value of field i (its JSON text) of a validated view; inline: a
 * select reads it once per field per row. */
static inline struct slice cache_row_field(const struct cache_row_view *v, size_t i)
{
    size_t a, b;
    if (v->wide)
        a = get_be32(v->off + 4 * i), b = get_be32(v->off + 4 * (i + 1));
    else
        a = get_be16(v->off + 2 * i), b = get_be16(v->off + 2 * (i + 1));
    if (a >= b || b > v->body_len)
        return (struct slice){v->body, 0}; /* damaged: render nothing rather than read past it */
    return (struct slice){v->body + a, b - a};
}
static inline struct slice cache_row_member_value(const struct cache_row_view *v,
                                                  const struct schema_field *f)
{
    return cache_row_field(v, f->index);
}
/* Appends the members of the full record, `"a":1,"b":2` (no braces): the
 * keys from the schema, the values from the row. One reservation, no
 * growth check per field. */
void cache_row_members(const struct cache_row_view *v, const struct schema_model *m, struct buf *out);
/* The same for n fields of the row's model, in the order given. */
void cache_row_select(const struct cache_row_view *v, const struct schema_field *const *fields,
                      size_t n, struct buf *out);
/* Bytes from a row's start to its body (header and offset table) in the
 * common, narrow layout: with the first bytes of the body, what a select
 * of leading fields reads of each row (a prefetch hint). */
size_t cache_row_head_bytes(const struct schema_model *m);
/* Parses a rendered JSON integer or null (-ENOENT). -EPROTO on anything else. */
int cache_json_int(struct slice json, int64_t *out) MUST_CHECK;

/* ---- index.c ---------------------------------------------------------------- */
int cache_index_add(struct cache_wtxn *w, const struct schema_relation *r, unsigned slot, int64_t fk,
                    uint64_t child_pk) MUST_CHECK;
int cache_index_del(struct cache_wtxn *w, const struct schema_relation *r, unsigned slot, int64_t fk,
                    uint64_t child_pk) MUST_CHECK;
/* Moves (or adds, or removes) the index entries of one child row: old_row or
 * new_row may be empty slices (insert / delete). */
int cache_index_update(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                       struct slice old_row, struct slice new_row) MUST_CHECK;

/* ---- sindex.c: secondary indexes (@@index) ------------------------------------ */
/* The longest value key: a String of SCHEMA_INDEX_TEXT_MAX characters. */
#define CACHE_SINDEX_KEY_MAX (1 + 3 * SCHEMA_INDEX_TEXT_MAX + 3)
/* Appends the value key of a rendered value of field f (see sindex.c); tmp is
 * scratch, left as found. -EPROTO when json is not a value of f's type. */
int cache_sindex_value_key(const struct schema_field *f, struct slice json, struct buf *tmp,
                           struct buf *out) MUST_CHECK;
/* Moves one row's entries in the model's secondary indexes (as cache_index_update). */
int cache_sindex_update(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                        struct slice old_row, struct slice new_row) MUST_CHECK;
/* Empties the model's secondary indexes in slot (with its rows). */
int cache_sindex_empty(struct cache_wtxn *w, const struct schema_model *m, unsigned slot) MUST_CHECK;
/* At open, after the databases: sets c->sindex_ready; a writable open first
 * builds the declared indexes the store lacks and drops undeclared ones. */
int cache_sindex_open(struct cache *c, MDB_txn *txn) MUST_CHECK;
/* The model that declares field f. */
const struct schema_model *cache_sindex_model(const struct schema *s, const struct schema_field *f);

/* The entry of row (of model m) in index field f into out (a key alone). */
int cache_sindex_entry(const struct schema_model *m, const struct schema_field *f, struct slice row,
                       struct buf *tmp, struct buf *out) MUST_CHECK;

/* ---- mark.c: a first load's pending indexes ------------------------------------- */
int cache_mark_read(MDB_txn *txn, struct cache *c, const struct schema_model *m, uint8_t *mask,
                    uint64_t *last) MUST_CHECK;
/* mask 0 deletes the mark. */
int cache_mark_write(MDB_txn *txn, struct cache *c, const struct schema_model *m, uint8_t mask,
                     uint64_t last) MUST_CHECK;
/* The first row goes into empty `slot`: marks its indexes pending (*marked)
 * when the txn opted in and no reader can see the slot. */
int cache_build_start(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                      bool *marked) MUST_CHECK;
/* *yes when the slot's indexes are pending: its rows change without them
 * (the mark notes that this txn wrote rows). */
int cache_build_deferred(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                         bool *yes) MUST_CHECK;
/* Clears the slot's mark (the slot was emptied, or its indexes are built);
 * the caller drops what was collected for it (cache_collect_drop). */
int cache_build_forget(struct cache_wtxn *w, const struct schema_model *m, unsigned slot) MUST_CHECK;
/* ---- build.c: indexes built after a first load --------------------------------- */
/* Builds the slot's pending indexes inside w (no bound on its size): before
 * the slot becomes readable, when nobody ran cache_index_build(). */
int cache_build_now(struct cache_wtxn *w, const struct schema_model *m, unsigned slot) MUST_CHECK;
/* Entries collected during the load (build.c says when the build uses them):
 * begin with the first row put into the empty slot whose mark w sets (when w
 * opted in with bounds; replaces any other collector), a row put or removed
 * under the mark, the end of a transaction (its id), a slot's mark cleared
 * (m NULL: whatever is collected, at close). */
void cache_collect_begin(struct cache_wtxn *w, const struct schema_model *m, unsigned slot);
void cache_collect_row(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                       struct slice old_row, struct slice new_row);
void cache_collect_end(struct cache_wtxn *w, uint64_t txn_id, bool committed);
void cache_collect_drop(struct cache *c, const struct schema_model *m, unsigned slot);

/* ---- read.c ----------------------------------------------------------------- */
/* The cached cursor of database db at the current nesting level (opened or
 * renewed as needed). Valid until cache_rd_end(); do not close it. */
int cache_rd_cursor(struct cache_rd *rd, size_t db, MDB_cursor **out) MUST_CHECK;
/* Releases a cursor from cache_rd_cursor() that was not cached (deep nesting). */
void cache_rd_cursor_done(struct cache_rd *rd, size_t db, MDB_cursor *cur);
int cache_rd_init(struct cache_rd *rd, struct cache *c) MUST_CHECK;
void cache_rd_fini(struct cache_rd *rd);

/* ---- meta.c: versioned fixed-layout records ---------------------------------- */
#define CACHE_META_VERSION 2u /* 1: before last_ok_ms; still read */
#define CACHE_RUN_VERSION 3u /* 1: before polls, 2: before stalled; both still read */
/* The meta database key of model m's record. */
void cache_meta_key(uint8_t k[3], const struct schema_model *m);
/* Rows in the model's live slot (the B-tree's entry count). */
uint64_t cache_meta_live_rows(struct cache_rd *rd, const struct schema_model *m);
void cache_meta_encode(const struct cache_meta *m, struct buf *out);
int cache_meta_decode(struct slice in, struct cache_meta *m) MUST_CHECK;
void cache_run_encode(const struct cache_run *r, struct buf *out);
int cache_run_decode(struct slice in, struct cache_run *r) MUST_CHECK;

/* ---- where.c: the collector's fixed filter ----------------------------------- */
/* Renders a collector filter's JSON value as the row encoding renders the
 * field, so filtering is a byte comparison. -EINVAL with err. */
int cache_where_canonical(const struct schema_field *f, const char *json_value, struct buf *out,
                          char *err, size_t errlen) MUST_CHECK;

/* ---- match.c: a `where` tree on one row ------------------------------------------ */
enum { CACHE_TRI_F = 0, CACHE_TRI_T = 1, CACHE_TRI_U = 2 };
struct cache_eval {
    const struct cache_source *src; /* related rows for relation conditions */
    struct buf tmp;                 /* scratch for unescaped strings */
};
/* CACHE_TRI_* for the row (of f's model), or a negative errno from the source. */
int cache_filter_eval(struct cache_eval *e, const struct cache_filter *f, const struct cache_row_view *v) MUST_CHECK;

/* ---- where.c: the `where` option ---------------------------------------------------- */
/* Parses a `where` object on model m into a tree in *arena. -EINVAL with a
 * client-facing message in err. */
int cache_where_parse(void **arena, const struct schema_model *m, const json_t *where,
                      const struct cache_filter **out, char *err, size_t errlen) MUST_CHECK;
/* A filter value for field f from a request's JSON (null allowed), in *arena. */
int cache_fvalue_make(void **arena, const struct schema_field *f, const json_t *j,
                      struct cache_fvalue *out) MUST_CHECK;

/* ---- prisma.c: Prisma Client 7's validation sentences ------------------------------- */
/* Prisma's name of a JSON value's type ("Int", "Object", "List", ...). */
const char *cache_prisma_kind(const json_t *j);
/* Prisma's name of a field type ("Int", "Boolean", "DateTime", ...). */
const char *cache_prisma_type(enum schema_type t);
/* Whether Prisma takes j, by its JSON type, as a value of type t. */
bool cache_prisma_accepts(enum schema_type t, const json_t *j);
/* Why Prisma's DateTime parser (RFC 3339) refuses s ("premature end of
 * input", ...), or NULL if it takes it. */
const char *cache_prisma_datetime_error(const char *s);
/* "Did you mean": the first candidate tried at the fewest edits (at most 3) from name. */
struct cache_suggest {
    const char *name;
    size_t best;
    const char *pick;
};
#define CACHE_SUGGEST(n) ((struct cache_suggest){(n), SIZE_MAX, NULL})
void cache_suggest_try(struct cache_suggest *s, const char *cand);
void cache_suggest_list(struct cache_suggest *s, const char *const *cands); /* NULL-terminated */
void cache_suggest_fields(struct cache_suggest *s, const struct schema_model *m); /* scalars, relations */
/* "Unknown argument `name`." with " Did you mean `x`?" when one is near
 * (Prisma's closing "Available options are marked with ?." left out, as
 * every converted sentence leaves out the annotated arguments it points to). */
void cache_prisma_unknown_arg(char *err, size_t errlen, const struct cache_suggest *s);

/* ---- order.c: orderBy ---------------------------------------------------------------- */
int cache_order_parse(void **arena, const struct schema_model *m, const json_t *order_by,
                      const struct cache_order **out, size_t *n, char *err, size_t errlen) MUST_CHECK;
/* The number of rows src's children() gives parent under r, through the
 * source's children_count when it has one (LMDB: the index's duplicate
 * count, no row read). */
int cache_source_children_count(const struct cache_source *src, const struct schema_relation *r,
                                int64_t parent, uint64_t *n) MUST_CHECK;
/* The value key k orders row v by: a view into the row or a related row,
 * valid as the source's rows ("null" when a relation on the path is
 * absent); for a count key 8 bytes in *arena (never null). */
int cache_order_value(const struct cache_source *src, const struct cache_order *k, void **arena,
                      const struct cache_row_view *v, struct slice *out) MUST_CHECK;
/* Whether a null value of a key came from its path's last foreign key
 * naming no row (not from a null key or an earlier missing row). */
bool cache_order_dangling(struct slice v);
/* Compares two values of key k, neither null. */
int cache_order_key_cmp(const struct cache_order *k, struct slice a, struct slice b, struct buf *tmp);
/* Compares two rows by their key values (a[i], b[i] for keys[i]), then by pk. */
int cache_order_cmp(const struct cache_order *keys, size_t n, const struct slice *a, uint64_t apk,
                    const struct slice *b, uint64_t bpk, struct buf *tmp);

/* ---- plan.c: the planner's choice of how a level reads its rows ---------------------- */
enum cache_path_kind {
    CACHE_PATH_SCAN,     /* every row of the model, in key order */
    CACHE_PATH_CHILDREN, /* a parent's children, through the relation index */
    CACHE_PATH_KEY,      /* the primary key's B-tree, from a bound or the cursor, in page order */
    CACHE_PATH_INDEX,    /* a secondary index, within the where's bounds on its field */
};
struct cache_path {
    enum cache_path_kind kind;
    const struct schema_field *field;       /* INDEX: the indexed field */
    /* INDEX: the order rows arrive in, page order or its reverse: field (an
     * orderBy on it), the primary key (one value of field), or NULL: the rows
     * are sorted once all are read. */
    const struct schema_field *order_field;
};
/* Chooses the access path of a plan node (the root or a relation). */
void cache_plan_path(const struct cache_plan_node *n, struct cache_path *out);
/* The inclusive bounds the top-level AND chain of w puts on field f, as
 * value keys (sindex.c) into lo and hi (left empty: open). Rows outside
 * them cannot match w; rows inside are still filtered. false when no row
 * can match. tmp is scratch. */
bool cache_plan_index_bounds(const struct cache_filter *w, const struct schema_field *f,
                             struct buf *lo, struct buf *hi, struct buf *tmp);

/* ---- render.c / page.c: one answer, level by level ---------------------------------- */
struct cache_render {
    const struct cache_source *src;
    struct buf *out;
    struct cache_eval ev;
    size_t start, max_bytes;   /* where the answer starts in out; its limit (0: none) */
    size_t dropped;            /* bytes measured and dropped past the limit */
    bool over, counting;       /* over the limit; a `count` plan (root rows only counted) */
    struct cache_rows *rows;   /* where each root row starts, or NULL (patch.c) */
};
/* One array of the answer: the root (plan set) or a row's to-many relation
 * (parent_pk set). Collected rows are views into the source's rows. */
enum cache_access {
    CACHE_ACCESS_ALL,      /* every candidate row; sorted and paged once all are read */
    CACHE_ACCESS_ORDERED,  /* rows arrive in page order: emitted as they pass */
    CACHE_ACCESS_REVERSED, /* rows arrive in reverse page order: kept, emitted reversed */
};
struct cache_level {
    struct cache_render *r;
    const struct cache_plan_node *node;
    const struct cache_plan *plan;
    uint64_t parent_pk;
    uint64_t emitted, skipped;
    enum cache_access access;
    bool back;                 /* reading keys downwards */
    bool shuffled;             /* rows arrive out of key order (an index range): sorted once read */
    bool bounded;              /* stop once a key passes bound (in the reading direction) */
    int64_t bound;
    /* Renders one row of the level (render.c); positive: stop (max_rows). */
    int (*emit)(struct cache_level *l, const struct cache_row_view *v);
    struct pick *rows;
    size_t n, cap;
    struct slice *keys;        /* top-k: the rows' sort keys, cap + 1 slots (page.c) */
    void *arena;               /* count keys' values (cache_order_value) */
};
/* Reads, filters, orders and pages the level's rows, emitting each (page.c). */
int cache_level_run(struct cache_level *l) MUST_CHECK;
/* The collector's fixed filter (root only; true elsewhere; page.c). */
bool cache_level_fixed_match(const struct cache_level *l, const struct cache_row_view *v);
/* Renders the root row `key` of l (the root level) into l->r->out, after a
 * ',' unless it is the level's first row, when it exists and passes the
 * plan's filters; -ENOENT when it does not (render.c). */
int cache_render_root_key(struct cache_level *l, uint64_t key) MUST_CHECK;
/* Notes a root row starting at `at` (relative to the answer's '['; rows.c). */
void cache_rows_add(struct cache_rows *r, uint64_t pk, size_t at);
/* Room for n rows in all. */
void cache_rows_reserve(struct cache_rows *r, size_t n);

/* ---- arena.c: plan allocations ------------------------------------------------ */
void *cache_arena_alloc(void **arena, size_t n);
void cache_arena_free(void **arena);

