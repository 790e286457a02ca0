/*
 * The "indexes pending" mark of a first load (build.c says why and how the
 * indexes are built): set with the first rows put into an empty slot no
 * reader sees, by a transaction that opted in; while it is set, writers leave
 * the slot's index entries alone and note that they wrote rows.
 *
 * Meta [0x04][be16 model id] = [u8 slot mask][be64 id of the last
 * transaction that wrote rows under it]: a build finds out from the second
 * that rows changed while it was appending.
 */
#include "cache/cache_int.h"

#include <errno.h>

#define MARK_LOADED 0x80u /* w->defer: the mark was read in this txn */
#define MARK_BUMPED 0x40u /* w->defer: this txn recorded its row writes */
#define MARK_SLOTS 0x03u

static void mark_key(uint8_t k[3], const struct schema_model *m)
{
    k[0] = CACHE_META_KEY_DEFER;
    k[1] = (uint8_t)(m->id >> 8);
    k[2] = (uint8_t)m->id;
}

int cache_mark_read(MDB_txn *txn, struct cache *c, const struct schema_model *m, uint8_t *mask,
                     uint64_t *last)
{
    uint8_t k[3];
    mark_key(k, m);
    MDB_val key = {3, k}, val;
    int rc = cache_lmdb_get(txn, c->meta, &key, &val);
    *mask = 0;
    *last = 0;
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (val.mv_size != 9)
        return -EPROTO;
    *mask = ((const uint8_t *)val.mv_data)[0] & MARK_SLOTS;
    *last = get_be64((const uint8_t *)val.mv_data + 1);
    return 0;
}

int cache_mark_write(MDB_txn *txn, struct cache *c, const struct schema_model *m, uint8_t mask,
                      uint64_t last)
{
    uint8_t k[3], v[9] = {mask};
    mark_key(k, m);
    put_be64(v + 1, last);
    MDB_val key = {3, k}, val = {9, v};
    int rc = mask ? cache_lmdb_put(txn, c->meta, &key, &val, 0) : cache_lmdb_del(txn, c->meta, &key, NULL);
    return rc == -ENOENT ? 0 : rc;
}

/* The model's mark as this txn sees it, read once per txn. */
static int mark_get(struct cache_wtxn *w, const struct schema_model *m, uint8_t **d)
{
    if (!w->defer)
        w->defer = xcalloc(w->c->schema->n_models ? w->c->schema->n_models : 1, 1);
    *d = &w->defer[m->id];
    if (**d & MARK_LOADED)
        return 0;
    uint8_t mask;
    uint64_t last;
    int rc = cache_mark_read(w->txn, w->c, m, &mask, &last);
    if (rc == 0)
        **d = (uint8_t)(MARK_LOADED | mask);
    return rc;
}

static int mark_set(struct cache_wtxn *w, const struct schema_model *m, uint8_t mask)
{
    uint8_t *d;
    int rc = mark_get(w, m, &d);
    if (rc == 0)
        rc = cache_mark_write(w->txn, w->c, m, mask, cache_lmdb_txn_id(w->txn));
    if (rc == 0)
        *d = (uint8_t)(MARK_LOADED | MARK_BUMPED | mask);
    return rc;
}

static bool has_indexes(const struct cache *c, const struct schema_model *m)
{
    if (c->n_incoming[m->id])
        return true;
    for (size_t i = 0; i < m->n_fields; i++)
        if (m->fields[i].sindex)
            return true;
    return false;
}

void cache_wtxn_defer_indexes(struct cache_wtxn *w, const struct cache_build_opts *collect)
{
    w->defer_ok = true;
    w->collect_opts = collect;
}

int cache_build_start(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                      bool *marked)
{
    *marked = false;
    if (!w->defer_ok || !has_indexes(w->c, m))
        return 0;
    if (slot == cache_slot_live(w->slots, m->id)) {
        struct cache_meta meta;
        int rc = cache_meta_get(&w->rd, m, &meta);
        if (rc < 0)
            return rc;
        if (meta.state == CACHE_WARM)
            return 0; /* readers read this slot now: its indexes stay whole */
    }
    uint8_t *d;
    int rc = mark_get(w, m, &d);
    if (rc == 0)
        rc = mark_set(w, m, (uint8_t)((*d & MARK_SLOTS) | 1u << slot));
    *marked = rc == 0;
    return rc;
}

int cache_build_deferred(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                         bool *yes)
{
    uint8_t *d;
    int rc = mark_get(w, m, &d);
    *yes = rc == 0 && (*d & 1u << slot);
    if (*yes && !(*d & MARK_BUMPED))
        rc = mark_set(w, m, *d & MARK_SLOTS); /* a build running meanwhile must start over */
    return rc;
}

int cache_build_forget(struct cache_wtxn *w, const struct schema_model *m, unsigned slot)
{
    uint8_t *d;
    int rc = mark_get(w, m, &d);
    if (rc < 0 || !(*d & 1u << slot))
        return rc;
    return mark_set(w, m, (uint8_t)(*d & MARK_SLOTS & ~(1u << slot)));
}
