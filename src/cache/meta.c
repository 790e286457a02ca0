/*
 * Meta records: per model state and cursor, and the bounded run history.
 * Both are versioned fixed-layout big-endian records, never struct dumps,
 * so a store outlives compiler and struct changes. The row count is the
 * live database's entry count (mdb_stat), which put/delete maintain
 * exactly and which never drifts from the rows themselves.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>

#define META_FIXED_V1 66u
#define META_FIXED 74u
#define RUN_FIXED_V1 56u
#define RUN_FIXED_V2 60u /* + polls */
#define RUN_FIXED 68u    /* + stalled */
#define RUN_KIND_MAX 15u
#define META_LOAD_ON 1u      /* byte 3: a first load in key order runs */
#define META_LOAD_STARTED 2u /* ... and has rows */

const char *cache_state_name(enum cache_state s)
{
    switch (s) {
    case CACHE_COLD: return "cold";
    case CACHE_WARMING: return "warming";
    case CACHE_WARM: return "warm";
    }
    return "unknown";
}

static void put_i64(uint8_t *p, int64_t v) { put_be64(p, (uint64_t)v); }
static int64_t get_i64(const uint8_t *p) { return (int64_t)get_be64(p); }

void cache_meta_encode(const struct cache_meta *m, struct buf *out)
{
    size_t elen = strnlen(m->last_error, CACHE_ERROR_MAX - 1);
    /* A load in progress has no cursor yet: its position takes the
     * cursor's bytes, flagged in byte 3 (which older versions wrote as 0
     * and ignore: they read an unset cursor and poll from the start). */
    bool load = m->load.on && !m->cursor.set;
    uint8_t h[META_FIXED] = {CACHE_META_VERSION, (uint8_t)m->state, m->cursor.set,
                             (uint8_t)(load ? META_LOAD_ON | (m->load.started ? META_LOAD_STARTED : 0)
                                            : 0)};
    put_i64(h + 4, load ? m->load.clock : m->cursor.ts);
    put_be64(h + 12, load ? m->load.after : m->cursor.pk);
    put_be64(h + 20, m->rows);
    put_i64(h + 28, m->source_newest_ts);
    put_i64(h + 36, m->last_run_start_ms);
    put_i64(h + 44, m->last_run_end_ms);
    put_i64(h + 52, m->last_reconcile_ms);
    put_be32(h + 60, (uint32_t)m->last_status);
    h[64] = (uint8_t)(elen >> 8);
    h[65] = (uint8_t)elen;
    put_i64(h + 66, m->last_ok_ms);
    buf_append(out, h, sizeof h);
    buf_append(out, m->last_error, elen);
}

int cache_meta_decode(struct slice in, struct cache_meta *m)
{
    memset(m, 0, sizeof *m);
    size_t fixed = in.len && in.p[0] == 1 ? META_FIXED_V1 : META_FIXED;
    if (in.len < fixed || (in.p[0] != 1 && in.p[0] != CACHE_META_VERSION) || in.p[1] > CACHE_WARM ||
        in.p[2] > 1)
        return -EPROTO;
    size_t elen = (size_t)in.p[64] << 8 | in.p[65];
    if (elen >= CACHE_ERROR_MAX || in.len != fixed + elen)
        return -EPROTO;
    m->state = (enum cache_state)in.p[1];
    m->cursor.set = in.p[2];
    m->cursor.ts = get_i64(in.p + 4);
    m->cursor.pk = get_be64(in.p + 12);
    if (!m->cursor.set && (in.p[3] & META_LOAD_ON)) {
        m->load = (struct cache_load){true, (in.p[3] & META_LOAD_STARTED) != 0, m->cursor.ts,
                                      m->cursor.pk};
        m->cursor = (struct cache_cursor){0};
    }
    m->rows = get_be64(in.p + 20);
    m->source_newest_ts = get_i64(in.p + 28);
    m->last_run_start_ms = get_i64(in.p + 36);
    m->last_run_end_ms = get_i64(in.p + 44);
    m->last_reconcile_ms = get_i64(in.p + 52);
    m->last_status = (int32_t)get_be32(in.p + 60);
    /* Version 1 knew only the last run: a successful one is the last match. */
    m->last_ok_ms = fixed == META_FIXED ? get_i64(in.p + 66)
                    : m->last_status == 0 ? m->last_run_end_ms : 0;
    memcpy(m->last_error, in.p + fixed, elen);
    return 0;
}

void cache_run_encode(const struct cache_run *r, struct buf *out)
{
    size_t klen = strnlen(r->kind, RUN_KIND_MAX), elen = strnlen(r->error, CACHE_ERROR_MAX - 1);
    uint8_t h[RUN_FIXED] = {CACHE_RUN_VERSION, (uint8_t)klen, (uint8_t)(elen >> 8), (uint8_t)elen};
    put_i64(h + 4, r->start_ms);
    put_i64(h + 12, r->end_ms);
    put_be64(h + 20, r->read);
    put_be64(h + 28, r->applied);
    put_be64(h + 36, r->skipped);
    put_be64(h + 44, r->deleted);
    put_be32(h + 52, (uint32_t)r->status);
    put_be32(h + 56, r->polls ? r->polls : 1);
    put_be64(h + 60, r->stalled);
    buf_append(out, h, sizeof h);
    buf_append(out, r->kind, klen);
    buf_append(out, r->error, elen);
}

int cache_run_decode(struct slice in, struct cache_run *r)
{
    memset(r, 0, sizeof *r);
    static const size_t fixed_of[] = {0, RUN_FIXED_V1, RUN_FIXED_V2, RUN_FIXED};
    if (!in.len || in.p[0] < 1 || in.p[0] > CACHE_RUN_VERSION)
        return -EPROTO;
    size_t fixed = fixed_of[in.p[0]];
    if (in.len < fixed)
        return -EPROTO;
    size_t klen = in.p[1], elen = (size_t)in.p[2] << 8 | in.p[3];
    if (klen > RUN_KIND_MAX || elen >= CACHE_ERROR_MAX || in.len != fixed + klen + elen)
        return -EPROTO;
    r->start_ms = get_i64(in.p + 4);
    r->end_ms = get_i64(in.p + 12);
    r->read = get_be64(in.p + 20);
    r->applied = get_be64(in.p + 28);
    r->skipped = get_be64(in.p + 36);
    r->deleted = get_be64(in.p + 44);
    r->status = (int32_t)get_be32(in.p + 52);
    r->polls = fixed >= RUN_FIXED_V2 ? get_be32(in.p + 56) : 1;
    r->stalled = fixed >= RUN_FIXED ? get_be64(in.p + 60) : 0;
    memcpy(r->kind, in.p + fixed, klen);
    memcpy(r->error, in.p + fixed + klen, elen);
    return 0;
}

void cache_meta_key(uint8_t k[3], const struct schema_model *m)
{
    k[0] = CACHE_META_KEY_MODEL;
    k[1] = (uint8_t)(m->id >> 8);
    k[2] = (uint8_t)m->id;
}

uint64_t cache_meta_live_rows(struct cache_rd *rd, const struct schema_model *m)
{
    MDB_stat st;
    MDB_dbi dbi = rd->c->dbi[cache_db_rows(m->id, cache_slot_live(rd->slots, m->id))];
    return cache_lmdb_stat(rd->txn, dbi, &st) == 0 ? st.ms_entries : 0;
}

int cache_meta_get(struct cache_rd *rd, const struct schema_model *m, struct cache_meta *out)
{
    if (!rd->active)
        return -EINVAL;
    uint8_t k[3];
    cache_meta_key(k, m);
    MDB_val key = {3, k}, val;
    int rc = cache_lmdb_get(rd->txn, rd->c->meta, &key, &val);
    if (rc == -ENOENT) {
        memset(out, 0, sizeof *out);
        out->state = CACHE_COLD;
        rc = 0;
    } else if (rc == 0) {
        rc = cache_meta_decode((struct slice){val.mv_data, val.mv_size}, out);
    }
    if (rc == 0)
        out->rows = cache_meta_live_rows(rd, m);
    return rc;
}
