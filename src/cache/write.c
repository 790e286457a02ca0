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
    int rc = cache_err_from_mdb(mdb_txn_begin(c->env, NULL, 0, &w->txn));
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
    *out = w;
    return 0;
}

static void wtxn_free(struct cache_wtxn *w)
{
    buf_fini(&w->enc);
    buf_fini(&w->old);
    free(w);
}

int cache_wtxn_commit(struct cache_wtxn *w)
{
    cache_rd_fini(&w->rd); /* closes write cursors while the txn still lives */
    int rc = cache_err_from_mdb(mdb_txn_commit(w->txn));
    wtxn_free(w);
    return rc;
}

void cache_wtxn_abort(struct cache_wtxn *w)
{
    if (!w)
        return;
    cache_rd_fini(&w->rd);
    if (w->txn)
        mdb_txn_abort(w->txn);
    wtxn_free(w);
}

struct cache_rd *cache_wtxn_rd(struct cache_wtxn *w) { return &w->rd; }

static MDB_dbi write_dbi(struct cache_wtxn *w, const struct schema_model *m, unsigned *slot)
{
    *slot = cache_slot_write(w->slots, m->id);
    return w->c->dbi[cache_db_rows(m->id, *slot)];
}

/* True when the stored row has the same fingerprint (and size) as the new one. */
static bool row_same(struct slice old_row, struct slice new_row)
{
    return old_row.len == new_row.len && old_row.len >= CACHE_ROW_HDR &&
           memcmp(old_row.p + 12, new_row.p + 12, 8) == 0;
}

static int row_store(struct cache_wtxn *w, MDB_dbi dbi, struct slice row)
{
    uint8_t k[8];
    memcpy(k, row.p + 4, 8);
    MDB_val key = {8, k}, val = {row.len, (void *)row.p};
    return cache_err_from_mdb(mdb_put(w->txn, dbi, &key, &val, 0));
}

int cache_row_put(struct cache_wtxn *w, const struct schema_model *m, const struct cache_value *vals,
                  enum cache_put *res, char *err, size_t errlen)
{
    buf_reset(&w->enc);
    int rc = cache_row_encode(m, vals, &w->enc, err, errlen);
    if (rc < 0)
        return rc;
    struct slice row = buf_slice(&w->enc), old = {NULL, 0};
    unsigned slot;
    MDB_dbi dbi = write_dbi(w, m, &slot);
    MDB_val key = {8, (void *)(row.p + 4)}, val;
    rc = cache_err_from_mdb(mdb_get(w->txn, dbi, &key, &val));
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == 0) {
        old = (struct slice){val.mv_data, val.mv_size};
        if (row_same(old, row)) {
            if (res)
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
    if (res)
        *res = old.len ? CACHE_PUT_UPDATED : CACHE_PUT_INSERTED;
    return 0;
}

int cache_row_delete(struct cache_wtxn *w, const struct schema_model *m, uint64_t pk)
{
    unsigned slot;
    MDB_dbi dbi = write_dbi(w, m, &slot);
    uint8_t k[8];
    put_be64(k, pk);
    MDB_val key = {8, k}, val;
    int rc = cache_err_from_mdb(mdb_get(w->txn, dbi, &key, &val));
    if (rc < 0)
        return rc;
    /* Copy: an index write may spill the dirty page the old row sits on. */
    buf_reset(&w->old);
    buf_append(&w->old, val.mv_data, val.mv_size);
    if ((rc = cache_index_update(w, m, slot, buf_slice(&w->old), (struct slice){NULL, 0})) < 0)
        return rc;
    return cache_err_from_mdb(mdb_del(w->txn, dbi, &key, NULL));
}
