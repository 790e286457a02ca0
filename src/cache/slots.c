/*
 * The "\0slots" record: per model, which of its two slots is live and
 * whether a rebuild into the other one is open. Read once per read
 * transaction, so a reader resolves every model from one snapshot.
 */
#include "cache/cache_int.h"

#include <errno.h>

static const MDB_val key_slots = {6, (void *)"\0slots"};

int cache_slots_load(struct cache *c, MDB_txn *txn, uint8_t *slots)
{
    MDB_val k = key_slots, d;
    int rc = cache_lmdb_get(txn, c->meta, &k, &d);
    if (rc < 0)
        return rc == -ENOENT ? -EPROTO : rc;
    if (d.mv_size != c->schema->n_models)
        return -EPROTO;
    memcpy(slots, d.mv_data, d.mv_size);
    return 0;
}

int cache_slots_store(struct cache *c, MDB_txn *txn, const uint8_t *slots)
{
    MDB_val k = key_slots, d = {c->schema->n_models, (void *)slots};
    return cache_lmdb_put(txn, c->meta, &k, &d, 0);
}
