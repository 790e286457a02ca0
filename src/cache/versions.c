/*
 * Data versions: per model, the id of the last write transaction that
 * changed what a reader of that model sees: a row stored with new bytes
 * or deleted in the live slot (with its index entries), a rebuild swapped
 * in, or the model's state moving (warm or not). Runs that find nothing
 * new (a poll that re-reads the overlap window, its meta and run history)
 * leave the versions alone.
 *
 * A rendered answer depends on the models its plan reads, and the largest
 * of their versions changes exactly when one of them changes (a version
 * is set to the newest transaction id, above every earlier one), so one
 * number tells whether a kept answer is still what the store would render.
 *
 * Stored as "\0vers" in the meta database: one be64 per model, in schema
 * order. A store that has none yet (never changed since it was created
 * by an older build) reads as all zeros.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const MDB_val key_vers = {5, (void *)"\0vers"};

static int versions_load(struct cache *c, MDB_txn *txn, uint64_t *out)
{
    size_t n = c->schema->n_models;
    MDB_val k = key_vers, d;
    int rc = cache_lmdb_get(txn, c->meta, &k, &d);
    if (rc == -ENOENT) {
        memset(out, 0, n * sizeof *out);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (d.mv_size != n * 8)
        return -EPROTO;
    for (size_t i = 0; i < n; i++)
        out[i] = get_be64((const uint8_t *)d.mv_data + i * 8);
    return 0;
}

void cache_versions_touch(struct cache_wtxn *w, const struct schema_model *m)
{
    if (!w->changed)
        w->changed = xcalloc(w->c->schema->n_models, 1);
    w->changed[m->id] = 1;
}

int cache_versions_commit(struct cache_wtxn *w)
{
    if (!w->changed)
        return 0;
    size_t n = w->c->schema->n_models;
    uint64_t *vers = xcalloc(n, sizeof *vers);
    uint8_t *enc = xcalloc(n, 8);
    int rc = versions_load(w->c, w->txn, vers);
    for (size_t i = 0; rc == 0 && i < n; i++)
        put_be64(enc + i * 8, w->changed[i] ? cache_lmdb_txn_id(w->txn) : vers[i]);
    if (rc == 0) {
        MDB_val k = key_vers, d = {n * 8, enc};
        rc = cache_lmdb_put(w->txn, w->c->meta, &k, &d, 0);
    }
    free(enc);
    free(vers);
    return rc;
}

int cache_versions_get(struct cache_rd *rd, const uint64_t **out)
{
    if (!rd->active)
        return -EINVAL;
    if (rd->w || rd->vers_epoch != rd->epoch) {
        int rc = versions_load(rd->c, rd->txn, rd->vers);
        if (rc < 0)
            return rc;
        rd->vers_epoch = rd->epoch;
    }
    *out = rd->vers;
    return 0;
}

uint64_t cache_versions_newest_txn(struct cache *c)
{
    return cache_lmdb_last_txn(c);
}

uint64_t cache_versions_snapshot(struct cache_rd *rd)
{
    return rd->active ? cache_lmdb_txn_id(rd->txn) : 0;
}

void cache_version_format(const struct cache *c, uint64_t v, char out[CACHE_VERSION_LEN + 1])
{
    snprintf(out, CACHE_VERSION_LEN + 1, "%016" PRIx64 "%016" PRIx64, c->store_id, v);
}

static int hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                              : 16u;
        if (d == 16u)
            return -EINVAL;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

int cache_version_parse(const struct cache *c, const char *s, size_t len, uint64_t *v)
{
    uint64_t id;
    if (len != CACHE_VERSION_LEN || hex64(s, &id) < 0 || hex64(s + 16, v) < 0)
        return -EINVAL;
    return id == c->store_id ? 0 : -ESTALE;
}
