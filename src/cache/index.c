/*
 * Relation indexes: for each to-many relation, fk -> child pks, kept in
 * the child model's slot and written in the same transaction as the child
 * row, so a crash can never leave an index entry without its row or the
 * reverse. MDB_NODUPDATA makes a repeated add a no-op: an entry exists at
 * most once.
 */
#include "cache/cache_int.h"

#include <errno.h>

static int index_op(struct cache_wtxn *w, const struct schema_relation *r, unsigned slot, int64_t fk,
                    uint64_t child_pk, bool add)
{
    uint8_t k[8], d[8];
    put_be64(k, (uint64_t)fk);
    put_be64(d, child_pk);
    MDB_val key = {8, k}, val = {8, d};
    MDB_dbi dbi = w->c->dbi[cache_db_index(w->c, r->to_many_id, slot)];
    int rc = add ? cache_lmdb_put(w->txn, dbi, &key, &val, MDB_NODUPDATA)
                 : cache_lmdb_del(w->txn, dbi, &key, &val);
    /* Already there / already gone: the index holds exactly what we want. */
    return rc == -EEXIST || rc == -ENOENT ? 0 : rc;
}

int cache_index_add(struct cache_wtxn *w, const struct schema_relation *r, unsigned slot, int64_t fk,
                    uint64_t child_pk)
{
    return index_op(w, r, slot, fk, child_pk, true);
}

int cache_index_del(struct cache_wtxn *w, const struct schema_relation *r, unsigned slot, int64_t fk,
                    uint64_t child_pk)
{
    return index_op(w, r, slot, fk, child_pk, false);
}

/* The row's fk for relation r: 0 and *has = false when null or no row. */
static int fk_of(struct slice row, const struct schema_relation *r, int64_t *fk, bool *has)
{
    *has = false;
    if (!row.len)
        return 0;
    int rc = cache_row_int(row, r->target, r->fk, fk);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    *has = true;
    return 0;
}

static int relation_update(struct cache_wtxn *w, const struct schema_relation *r, unsigned slot,
                           uint64_t pk, struct slice old_row, struct slice new_row)
{
    int64_t ofk = 0, nfk = 0;
    bool had, has;
    int rc;
    if ((rc = fk_of(old_row, r, &ofk, &had)) < 0 || (rc = fk_of(new_row, r, &nfk, &has)) < 0)
        return rc;
    if (had == has && ofk == nfk)
        return 0;
    if (had && (rc = cache_index_del(w, r, slot, ofk, pk)) < 0)
        return rc;
    if (has && (rc = cache_index_add(w, r, slot, nfk, pk)) < 0)
        return rc;
    /* The parents that lost or gained a child render differently: the
     * change log names them, as the child's row may be gone by then. */
    if (slot == cache_slot_live(w->slots, r->target->id)) {
        if (had)
            cache_changes_children(w, r, ofk);
        if (has)
            cache_changes_children(w, r, nfk);
    }
    return 0;
}

int cache_index_update(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                       struct slice old_row, struct slice new_row)
{
    bool deferred;
    int d = cache_build_deferred(w, m, slot, &deferred);
    if (d == 0 && deferred)
        cache_collect_row(w, m, slot, old_row, new_row);
    if (d < 0 || deferred)
        return d; /* built once the rows are all in (build.c) */
    uint64_t pk = cache_row_pk(new_row.len ? new_row : old_row);
    for (size_t i = 0; i < w->c->n_incoming[m->id]; i++) {
        int rc = relation_update(w, w->c->incoming[m->id][i], slot, pk, old_row, new_row);
        if (rc < 0)
            return rc;
    }
    return cache_sindex_update(w, m, slot, old_row, new_row);
}

/* Positions a cursor of r's index on fk's children and calls fn with it;
 * 0 without a call when fk has none. */
typedef int (*children_fn)(struct cache_rd *rd, MDB_cursor *cur, void *arg);
static int children_at(struct cache_rd *rd, const struct schema_relation *r, int64_t fk,
                       children_fn fn, void *arg)
{
    if (!r->to_many)
        return -EINVAL;
    size_t db = cache_db_index(rd->c, r->to_many_id, cache_slot_live(rd->slots, r->target->id));
    MDB_cursor *cur;
    int rc = cache_rd_cursor(rd, db, &cur);
    if (rc < 0)
        return rc;
    uint8_t k[8];
    put_be64(k, (uint64_t)fk);
    MDB_val key = {8, k}, val;
    rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_SET);
    if (rc == 0)
        rc = fn(rd, cur, arg);
    else if (rc == -ENOENT)
        rc = 0;
    cache_rd_cursor_done(rd, db, cur);
    return rc;
}

static int count_dups(struct cache_rd *rd, MDB_cursor *cur, void *arg)
{
    (void)rd;
    size_t count;
    int rc = cache_lmdb_err(mdb_cursor_count(cur, &count));
    *(uint64_t *)arg = count;
    return rc;
}

int cache_children_count(struct cache_rd *rd, const struct schema_relation *r, int64_t fk,
                         uint64_t *n)
{
    *n = 0;
    return children_at(rd, r, fk, count_dups, n);
}

struct walk {
    const struct schema_relation *r;
    cache_row_cb cb;
    void *arg;
};

/* Calls the walk's cb for each child the cursor's current key holds, in pk order. */
static int children_walk(struct cache_rd *rd, MDB_cursor *cur, void *arg)
{
    const struct walk *wk = arg;
    const struct schema_model *t = wk->r->target;
    MDB_dbi rows = rd->c->dbi[cache_db_rows(t->id, cache_slot_live(rd->slots, t->id))];
    MDB_val key, val;
    int rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT), out = 0;
    rd->nest++;
    for (; rc == 0; rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_NEXT_DUP)) {
        if (val.mv_size != 8) {
            out = -EPROTO;
            break;
        }
        MDB_val ck = {8, val.mv_data}, row;
        int g = cache_lmdb_get(rd->txn, rows, &ck, &row);
        if (g == -ENOENT) /* cannot happen with same-txn maintenance; never render a ghost */
            continue;
        out = g ? g : wk->cb(wk->arg, (struct slice){row.mv_data, row.mv_size});
        if (out)
            break;
    }
    rd->nest--;
    return out ? out : rc == -ENOENT ? 0 : rc;
}

int cache_children(struct cache_rd *rd, const struct schema_relation *r, int64_t fk, cache_row_cb cb,
                   void *arg)
{
    struct walk wk = {r, cb, arg};
    return children_at(rd, r, fk, children_walk, &wk);
}
