/*
 * The store's format record: "\0fmt" holds the format version and the
 * schema shape's fingerprint, "\0shape" the shape text itself so a refusal
 * can say which model changed. A changed schema is refused (-EPROTO): rows
 * and keys embed model ids and field positions, so the only safe move is a
 * full warm into a fresh data directory. "\0id" is the store's random id.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "log.h"

static const MDB_val key_fmt = {4, (void *)"\0fmt"};
static const MDB_val key_shape = {6, (void *)"\0shape"};
static const MDB_val key_id = {3, (void *)"\0id"};

static int fmt_write(struct cache *c, MDB_txn *txn, struct slice shape)
{
    uint8_t v[12];
    put_be32(v, CACHE_FORMAT_VERSION);
    put_be64(v + 4, cache_shape_fingerprint(shape));
    MDB_val k = key_fmt, d = {sizeof v, v};
    int rc = cache_lmdb_put(txn, c->meta, &k, &d, 0);
    if (rc < 0)
        return rc;
    k = key_shape;
    d = (MDB_val){shape.len, (void *)shape.p};
    if ((rc = cache_lmdb_put(txn, c->meta, &k, &d, 0)) < 0)
        return rc;
    uint8_t *slots = xcalloc(c->schema->n_models + 1u, 1);
    rc = cache_slots_store(c, txn, slots);
    free(slots);
    return rc;
}

static void mismatch_report(struct cache *c, MDB_txn *txn, const char *path, struct slice shape)
{
    MDB_val k = key_shape, d;
    struct slice stored = {(const uint8_t *)"", 0};
    if (cache_lmdb_get(txn, c->meta, &k, &d) == 0)
        stored = (struct slice){d.mv_data, d.mv_size};
    struct slice now = cache_shape_first_diff(shape, stored);
    struct slice was = cache_shape_first_diff(stored, shape);
    log_error(LOG_CACHE,
              "%s: the store was made from a different schema; run a full warm into a fresh "
              "data directory. First difference: now \"%.*s\", stored \"%.*s\"",
              path, (int)(now.len > 300 ? 300 : now.len), (const char *)now.p,
              (int)(was.len > 300 ? 300 : was.len), (const char *)was.p);
}

static int fmt_compare(struct cache *c, MDB_txn *txn, const char *path, MDB_val d, struct slice shape)
{
    if (d.mv_size != 12) {
        log_error(LOG_CACHE, "%s: damaged format record", path);
        return -EPROTO;
    }
    uint32_t version = get_be32(d.mv_data);
    if (version != CACHE_FORMAT_VERSION) {
        log_error(LOG_CACHE, "%s: store format %u, this build reads %u: warm a fresh data directory",
                  path, version, CACHE_FORMAT_VERSION);
        return -EPROTO;
    }
    if (get_be64((const uint8_t *)d.mv_data + 4) != cache_shape_fingerprint(shape)) {
        mismatch_report(c, txn, path, shape);
        return -EPROTO;
    }
    return 0;
}

/* A brand-new store has an empty meta database; anything else without a
 * format record was not made by us. */
static bool meta_empty(struct cache *c, MDB_txn *txn)
{
    MDB_stat st;
    return cache_lmdb_stat(txn, c->meta, &st) == 0 && st.ms_entries == 0;
}

/* The store's random id (versions carry it): made by the first writable
 * open, so stores made by earlier builds get one too. */
static int id_load(struct cache *c, MDB_txn *txn)
{
    MDB_val k = key_id, d;
    int rc = cache_lmdb_get(txn, c->meta, &k, &d);
    if (rc == 0 && d.mv_size == 8) {
        c->store_id = get_be64(d.mv_data);
        return 0;
    }
    if (rc == 0)
        return -EPROTO;
    if (rc != -ENOENT || c->read_only)
        return rc == -ENOENT ? 0 : rc;
    uint8_t v[8];
    do {
        if (getrandom(v, sizeof v, 0) != (ssize_t)sizeof v)
            return -EIO;
    } while (get_be64(v) == 0);
    d = (MDB_val){sizeof v, v};
    c->store_id = get_be64(v);
    return cache_lmdb_put(txn, c->meta, &k, &d, 0);
}

int cache_fmt_check(struct cache *c, MDB_txn *txn, const char *path)
{
    struct buf shape;
    buf_init(&shape, 0);
    cache_shape_render(c->schema, &shape);
    MDB_val k = key_fmt, d;
    int rc = cache_lmdb_get(txn, c->meta, &k, &d);
    if (rc == 0)
        rc = fmt_compare(c, txn, path, d, buf_slice(&shape));
    else if (rc == -ENOENT && !c->read_only && meta_empty(c, txn))
        rc = fmt_write(c, txn, buf_slice(&shape));
    else if (rc == -ENOENT) {
        log_error(LOG_CACHE, "%s: not a cwcache store (no format record)", path);
        rc = -EPROTO;
    }
    buf_fini(&shape);
    return rc < 0 ? rc : id_load(c, txn);
}
