/*
 * Write transactions (the poller's thread only) and row upserts/deletes.
 * A row, its index entries and whatever meta the caller writes commit
 * together or not at all; LMDB's single-writer lock serialises writers.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>

int cache_wtxn_begin(struct cache *c, struct cache_wtxn **out)
{
    *out = NULL;
    if (c->read_only)
        return -EROFS;
    struct cache_wtxn *w = xcalloc(1, sizeof *w);
    w->c = c;
    int rc = cache_lmdb_txn_begin(c, false, &w->txn);
    if (rc == 0 && (rc = cache_rd_init(&w->rd, c)) == 0)
        rc = cache_slots_load(c, w->txn, w->rd.slots);
    if (rc < 0) {
        cache_wtxn_abort(w);
        return rc;
    }
    w->slots = w->rd.slots; /* reads and writes of this txn share one view of the slots */
    w->rd.txn = w->txn;
    w->rd.w = w;
    w->rd.active = true;
    w->rd.epoch = 1;
    buf_init(&w->enc, 0);
    buf_init(&w->old, 0);
    buf_init(&w->chg, 0);
    *out = w;
    return 0;
}

static void wtxn_free(struct cache_wtxn *w)
{
    buf_fini(&w->enc);
    buf_fini(&w->old);
    buf_fini(&w->chg);
    free(w->tail);
    free(w->tail_known);
    free(w->changed);
    free(w->defer);
    free(w);
}

int cache_wtxn_commit(struct cache_wtxn *w)
{
    int rc = cache_changes_commit(w);
    if (rc == 0)
        rc = cache_versions_commit(w);
    cache_rd_fini(&w->rd); /* closes write cursors while the txn still lives */
    uint64_t id = cache_lmdb_txn_id(w->txn);
    if (rc == 0)
        rc = cache_lmdb_txn_commit(w->txn);
    else
        cache_lmdb_txn_abort(w->txn);
    cache_collect_end(w, id, rc == 0);
    wtxn_free(w);
    return rc;
}

void cache_wtxn_abort(struct cache_wtxn *w)
{
    if (!w)
        return;
    cache_rd_fini(&w->rd);
    if (w->txn)
        cache_lmdb_txn_abort(w->txn);
    cache_collect_end(w, 0, false);
    wtxn_free(w);
}

struct cache_rd *cache_wtxn_rd(struct cache_wtxn *w) { return &w->rd; }

static MDB_dbi write_dbi(struct cache_wtxn *w, const struct schema_model *m, unsigned *slot)
{
    *slot = cache_slot_write(w->slots, m->id);
    return w->c->dbi[cache_db_rows(m->id, *slot)];
}

/* A change readers see now: not one into a rebuild's shadow slot, which
 * they see at the swap. */
static void changed(struct cache_wtxn *w, const struct schema_model *m, unsigned slot, uint64_t pk)
{
    if (slot != cache_slot_live(w->slots, m->id))
        return;
    cache_versions_touch(w, m);
    cache_changes_row(w, m, pk);
}

/* True when the stored row has the same fingerprint (and size) as the new one. */
static bool row_same(struct slice old_row, struct slice new_row)
{
    return old_row.len == new_row.len && old_row.len >= CACHE_ROW_HDR &&
           memcmp(old_row.p + CACHE_ROW_HASH, new_row.p + CACHE_ROW_HASH, 8) == 0;
}

static int row_store(struct cache_wtxn *w, MDB_dbi dbi, struct slice row)
{
    uint8_t k[8];
    memcpy(k, row.p + CACHE_ROW_PK, 8);
    MDB_val key = {8, k}, val = {row.len, (void *)row.p};
    return cache_lmdb_put(w->txn, dbi, &key, &val, 0);
}

void cache_wtxn_tail_forget(struct cache_wtxn *w, size_t db)
{
    if (w->tail_known)
        w->tail_known[db] = 0;
}

/* The largest key of rows database db in this txn (*empty when none),
 * looked up once per transaction. */
static int tail_get(struct cache_wtxn *w, size_t db, uint64_t *last, bool *empty)
{
    if (!w->tail) {
        w->tail = xcalloc(w->c->n_db, sizeof *w->tail);
        w->tail_known = xcalloc(w->c->n_db, 1);
    }
    if (!w->tail_known[db]) {
        MDB_cursor *cur;
        int rc = cache_lmdb_cursor_open(w->txn, w->c->dbi[db], &cur);
        if (rc < 0)
            return rc;
        MDB_val k, v;
        rc = cache_lmdb_cursor_get(cur, &k, &v, MDB_LAST);
        cache_lmdb_cursor_close(cur);
        if (rc < 0 && rc != -ENOENT)
            return rc;
        /* An empty database: 0 with known = 2, so key 0 itself is appendable. */
        w->tail[db] = rc == 0 && k.mv_size == 8 ? get_be64(k.mv_data) : 0;
        w->tail_known[db] = rc == 0 ? 1 : 2;
    }
    *last = w->tail[db];
    *empty = w->tail_known[db] == 2;
    return 0;
}

/*
 * A key above the database's largest is new: no lookup, and MDB_APPEND
 * fills leaf pages completely instead of splitting them in half as an
 * ordinary insert at the right edge does (an initial load in pk order
 * writes and syncs about half the pages). -EEXIST when the key is not
 * above the tail after all (a stale tail): the caller takes the ordinary path.
 */
static int row_append(struct cache_wtxn *w, const struct schema_model *m, size_t db, unsigned slot,
                      struct slice row)
{
    uint64_t pk = cache_row_pk(row), last;
    bool empty;
    int rc = tail_get(w, db, &last, &empty);
    if (rc < 0)
        return rc;
    if (!empty && pk <= last)
        return -EEXIST;
    bool marked = false;
    if (empty && (rc = cache_build_start(w, m, slot, &marked)) < 0)
        return rc;
    if (marked)
        cache_collect_begin(w, m, slot);
    MDB_val key = {8, (void *)(row.p + CACHE_ROW_PK)}, val = {row.len, (void *)row.p};
    rc = cache_lmdb_put(w->txn, w->c->dbi[db], &key, &val, MDB_APPEND);
    if (rc < 0)
        return rc; /* -EEXIST (MDB_KEYEXIST): nothing was written */
    w->tail[db] = pk;
    w->tail_known[db] = 1;
    return cache_index_update(w, m, slot, (struct slice){NULL, 0}, row);
}

/* The ordinary upsert: look the key up, skip an unchanged row, move index entries. */
static int row_upsert(struct cache_wtxn *w, const struct schema_model *m, MDB_dbi dbi,
                      unsigned slot, struct slice row, enum cache_put *res)
{
    struct slice old = {NULL, 0};
    MDB_val key = {8, (void *)(row.p + CACHE_ROW_PK)}, val;
    int rc = cache_lmdb_get(w->txn, dbi, &key, &val);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == 0) {
        old = (struct slice){val.mv_data, val.mv_size};
        if (row_same(old, row)) {
            *res = CACHE_PUT_UNCHANGED;
            return 0;
        }
        /* Copy: an index write may spill the dirty page `old` points into. */
        buf_reset(&w->old);
        buf_append(&w->old, old.p, old.len);
        old = buf_slice(&w->old);
    }
    if ((rc = cache_index_update(w, m, slot, old, row)) < 0)
        return rc;
    if ((rc = row_store(w, dbi, row)) < 0)
        return rc;
    *res = old.len ? CACHE_PUT_UPDATED : CACHE_PUT_INSERTED;
    return 0;
}

int cache_row_put_encoded(struct cache_wtxn *w, const struct schema_model *m, struct slice row,
                          enum cache_put *res)
{
    struct cache_row_view v;
    int rc = cache_row_view(row, m, &v);
    if (rc < 0)
        return rc;
    enum cache_put r;
    unsigned slot;
    MDB_dbi dbi = write_dbi(w, m, &slot);
    rc = row_append(w, m, cache_db_rows(m->id, slot), slot, row);
    if (rc == 0)
        r = CACHE_PUT_INSERTED;
    else if (rc == -EEXIST)
        rc = row_upsert(w, m, dbi, slot, row, &r);
    if (rc == 0 && r != CACHE_PUT_UNCHANGED)
        changed(w, m, slot, v.pk);
    if (rc == 0 && res)
        *res = r;
    return rc;
}

int cache_row_put(struct cache_wtxn *w, const struct schema_model *m, const struct cache_value *vals,
                  enum cache_put *res, char *err, size_t errlen)
{
    buf_reset(&w->enc);
    int rc = cache_row_encode(m, vals, &w->enc, err, errlen);
    if (rc < 0)
        return rc;
    return cache_row_put_encoded(w, m, buf_slice(&w->enc), res);
}

int cache_row_delete(struct cache_wtxn *w, const struct schema_model *m, uint64_t pk)
{
    unsigned slot;
    MDB_dbi dbi = write_dbi(w, m, &slot);
    uint8_t k[8];
    put_be64(k, pk);
    MDB_val key = {8, k}, val;
    int rc = cache_lmdb_get(w->txn, dbi, &key, &val);
    if (rc < 0)
        return rc;
    /* Copy: an index write may spill the dirty page the old row sits on. */
    buf_reset(&w->old);
    buf_append(&w->old, val.mv_data, val.mv_size);
    if ((rc = cache_index_update(w, m, slot, buf_slice(&w->old), (struct slice){NULL, 0})) < 0)
        return rc;
    changed(w, m, slot, pk);
    return cache_lmdb_del(w->txn, dbi, &key, NULL);
}

/* Meta records are written here, beside the rows (meta.c only encodes and
 * reads them): whether the model is warm decides where its answers come
 * from (the store or the live database), so a state change is a data
 * change and moves its version and change log (versions.c, changes.c). */
static void note_state_change(struct cache_wtxn *w, const struct schema_model *m, MDB_val key,
                              enum cache_state state)
{
    MDB_val old;
    bool was_warm = cache_lmdb_get(w->txn, w->c->meta, &key, &old) == 0 && old.mv_size > 1 &&
                    ((const uint8_t *)old.mv_data)[1] == CACHE_WARM;
    if (was_warm != (state == CACHE_WARM)) {
        cache_versions_touch(w, m);
        cache_changes_reset(w, m);
    }
}

int cache_meta_put(struct cache_wtxn *w, const struct schema_model *m, const struct cache_meta *meta)
{
    struct cache_meta copy = *meta;
    copy.rows = cache_meta_live_rows(&w->rd, m);
    buf_reset(&w->enc);
    cache_meta_encode(&copy, &w->enc);
    uint8_t k[3];
    cache_meta_key(k, m);
    MDB_val key = {3, k}, val = {w->enc.len, buf_data(&w->enc)};
    if (meta->state == CACHE_WARM) {
        /* Readers read a warm model's live slot: its indexes must be whole. */
        int rc = cache_build_now(w, m, cache_slot_live(w->slots, m->id));
        if (rc < 0)
            return rc;
    }
    note_state_change(w, m, key, meta->state);
    return cache_lmdb_put(w->txn, w->c->meta, &key, &val, 0);
}
