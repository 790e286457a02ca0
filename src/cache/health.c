/*
 * The source record: key [CACHE_META_KEY_HEALTH] in "meta", one per store.
 * The poller writes it when the source goes away or comes back, so a
 * reader in another process (cwcachectl) sees the outage the server sees.
 * Layout (big-endian): [0] version, [1] up, [2..10) since_ms,
 * [10..12) error length, then the error text.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <string.h>

#define SOURCE_VERSION 1u
#define SOURCE_FIXED 12u

static const uint8_t source_key[1] = {CACHE_META_KEY_HEALTH};

int cache_health_put(struct cache_wtxn *w, const struct cache_health *s)
{
    size_t elen = strnlen(s->error, CACHE_ERROR_MAX - 1);
    uint8_t h[SOURCE_FIXED] = {SOURCE_VERSION, s->up};
    put_be64(h + 2, (uint64_t)s->since_ms);
    h[10] = (uint8_t)(elen >> 8);
    h[11] = (uint8_t)elen;
    buf_reset(&w->enc);
    buf_append(&w->enc, h, sizeof h);
    buf_append(&w->enc, s->error, elen);
    MDB_val key = {sizeof source_key, (void *)source_key}, val = {w->enc.len, buf_data(&w->enc)};
    return cache_lmdb_put(w->txn, w->c->meta, &key, &val, 0);
}

int cache_health_get(struct cache_rd *rd, struct cache_health *out)
{
    memset(out, 0, sizeof *out);
    if (!rd->active)
        return -EINVAL;
    MDB_val key = {sizeof source_key, (void *)source_key}, val;
    int rc = cache_lmdb_get(rd->txn, rd->c->meta, &key, &val);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    const uint8_t *p = val.mv_data;
    size_t elen = val.mv_size >= SOURCE_FIXED ? (size_t)p[10] << 8 | p[11] : 0;
    if (val.mv_size < SOURCE_FIXED || p[0] != SOURCE_VERSION || p[1] > 1 ||
        elen >= CACHE_ERROR_MAX || val.mv_size != SOURCE_FIXED + elen)
        return -EPROTO;
    out->known = true;
    out->up = p[1];
    out->since_ms = (int64_t)get_be64(p + 2);
    memcpy(out->error, p + SOURCE_FIXED, elen);
    return 0;
}
