/*
 * Read handles. A cache_rd keeps its MDB_txn and its cursors across
 * requests: begin renews the txn, end resets it (no allocation), and
 * cursors are renewed lazily on first use in a txn. Cursors are cached per
 * database and per nesting level, because rendering an include calls
 * cache_children() from inside another scan, possibly on the same index
 * (a self relation nested in itself).
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>

int cache_rd_init(struct cache_rd *rd, struct cache *c)
{
    memset(rd, 0, sizeof *rd);
    rd->c = c;
    rd->slots = xcalloc(c->schema->n_models + 1u, 1);
    rd->vers = xcalloc(c->schema->n_models + 1u, sizeof *rd->vers);
    rd->cur = xcalloc(c->n_db * CACHE_NEST_MAX, sizeof *rd->cur);
    rd->cur_epoch = xcalloc(c->n_db * CACHE_NEST_MAX, sizeof *rd->cur_epoch);
    return 0;
}

/* A write txn's rd is finalised before its txn ends: LMDB allows closing a
 * write cursor only while its txn lives; read-only cursors close any time. */
static void cursors_close(struct cache_rd *rd)
{
    for (size_t i = 0; i < rd->c->n_db * CACHE_NEST_MAX; i++) {
        if (rd->cur[i])
            cache_lmdb_cursor_close(rd->cur[i]);
        rd->cur[i] = NULL;
    }
}

void cache_rd_fini(struct cache_rd *rd)
{
    if (!rd->c)
        return;
    cursors_close(rd);
    if (rd->txn && !rd->w) {
        if (rd->active)
            cache_lmdb_txn_reset(rd->txn);
        cache_lmdb_txn_free(rd->txn);
    }
    free(rd->slots);
    free(rd->vers);
    free(rd->cur);
    free(rd->cur_epoch);
    memset(rd, 0, sizeof *rd);
}

int cache_rd_new(struct cache *c, struct cache_rd **out)
{
    struct cache_rd *rd = xmalloc(sizeof *rd);
    int rc = cache_rd_init(rd, c);
    if (rc < 0) {
        free(rd);
        return rc;
    }
    *out = rd;
    return 0;
}

void cache_rd_free(struct cache_rd *rd)
{
    if (!rd)
        return;
    cache_rd_fini(rd);
    free(rd);
}

int cache_rd_begin(struct cache_rd *rd)
{
    if (rd->w)
        return 0; /* the write txn's view is always open */
    if (rd->active)
        return -EBUSY;
    int rc = rd->txn ? cache_lmdb_txn_renew(rd->c, rd->txn)
                     : cache_lmdb_txn_begin(rd->c, true, &rd->txn);
    if (rc < 0)
        return rc;
    if ((rc = cache_slots_load(rd->c, rd->txn, rd->slots)) < 0) {
        cache_lmdb_txn_reset(rd->txn);
        return rc;
    }
    rd->active = true;
    rd->nest = 0;
    rd->epoch++;
    return 0;
}

void cache_rd_end(struct cache_rd *rd)
{
    if (rd->w || !rd->active)
        return;
    cache_lmdb_txn_reset(rd->txn); /* keeps the reader slot and the cursors for the next begin */
    rd->active = false;
}

int cache_rd_cursor(struct cache_rd *rd, size_t db, MDB_cursor **out)
{
    if (!rd->active)
        return -EINVAL;
    MDB_dbi dbi = rd->c->dbi[db];
    if (rd->nest >= CACHE_NEST_MAX) /* deeper than any plan nests: a private cursor */
        return cache_lmdb_cursor_open(rd->txn, dbi, out);
    size_t i = db * CACHE_NEST_MAX + rd->nest;
    int rc = 0;
    if (!rd->cur[i])
        rc = cache_lmdb_cursor_open(rd->txn, dbi, &rd->cur[i]);
    else if (rd->cur_epoch[i] != rd->epoch)
        rc = cache_lmdb_cursor_renew(rd->txn, rd->cur[i]);
    if (rc < 0)
        return rc;
    rd->cur_epoch[i] = rd->epoch;
    *out = rd->cur[i];
    return 0;
}

void cache_rd_cursor_done(struct cache_rd *rd, size_t db, MDB_cursor *cur)
{
    (void)db;
    if (rd->nest >= CACHE_NEST_MAX)
        cache_lmdb_cursor_close(cur);
}

static MDB_dbi rows_dbi(struct cache_rd *rd, const struct schema_model *m)
{
    return rd->c->dbi[cache_db_rows(m->id, cache_slot_live(rd->slots, m->id))];
}

int cache_row_get(struct cache_rd *rd, const struct schema_model *m, uint64_t pk, struct slice *row)
{
    if (!rd->active)
        return -EINVAL;
    uint8_t k[8];
    put_be64(k, pk);
    MDB_val key = {8, k}, val;
    int rc = cache_lmdb_get(rd->txn, rows_dbi(rd, m), &key, &val);
    if (rc < 0)
        return rc;
    *row = (struct slice){val.mv_data, val.mv_size};
    return 0;
}

int cache_keys_next(struct cache_rd *rd, const struct schema_model *m, bool from_start, uint64_t after,
                    uint64_t *pks, size_t max, size_t *n)
{
    MDB_cursor *cur;
    size_t db = cache_db_rows(m->id, cache_slot_live(rd->slots, m->id));
    *n = 0;
    int rc = cache_rd_cursor(rd, db, &cur);
    if (rc < 0)
        return rc;
    uint8_t k[8];
    put_be64(k, after);
    MDB_val key = {8, k}, val;
    if (from_start)
        rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_FIRST);
    else if ((rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_SET_RANGE)) == 0 &&
             get_be64(key.mv_data) == after)
        rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_NEXT);
    for (; rc == 0 && *n < max; rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_NEXT))
        pks[(*n)++] = get_be64(key.mv_data);
    cache_rd_cursor_done(rd, db, cur);
    return rc == -ENOENT ? 0 : rc;
}

/* Rows are visited one step behind the cursor: while the callback renders
 * a row, the next one's first cache lines (header, offset table, leading
 * fields) are already on their way. A scan is bound by memory latency on
 * the map, one or two misses per row, which this overlaps with the work. */
#define SCAN_PREFETCH_LINES 4

static void row_prefetch(const MDB_val *v)
{
    const char *p = v->mv_data;
    size_t n = v->mv_size < SCAN_PREFETCH_LINES * 64 ? v->mv_size : SCAN_PREFETCH_LINES * 64;
    for (size_t off = 0; off < n; off += 64)
        __builtin_prefetch(p + off);
}

/* Positions cur at the first key >= from (forward) or the last key <= from
 * (backward); from_end: at the first / last key. */
static int range_start(MDB_cursor *cur, MDB_val *key, MDB_val *val, uint8_t *k, uint64_t from,
                       bool back, bool from_end)
{
    if (from_end)
        return cache_lmdb_cursor_get(cur, key, val, back ? MDB_LAST : MDB_FIRST);
    put_be64(k, from);
    *key = (MDB_val){8, k};
    int rc = cache_lmdb_cursor_get(cur, key, val, MDB_SET_RANGE);
    if (!back)
        return rc;
    if (rc == -ENOENT)
        return cache_lmdb_cursor_get(cur, key, val, MDB_LAST);
    if (rc == 0 && get_be64(key->mv_data) > from)
        return cache_lmdb_cursor_get(cur, key, val, MDB_PREV);
    return rc;
}

int cache_scan_range(struct cache_rd *rd, const struct schema_model *m, uint64_t from, bool from_end,
                     bool back, cache_row_cb cb, void *arg)
{
    MDB_cursor *cur;
    size_t db = cache_db_rows(m->id, cache_slot_live(rd->slots, m->id));
    int rc = cache_rd_cursor(rd, db, &cur), r = 0;
    if (rc < 0)
        return rc;
    uint8_t k[8];
    MDB_val key, val, next;
    const void *page = NULL;
    struct cache_lmdb_ahead ahead;
    rd->nest++;
    rc = range_start(cur, &key, &val, k, from, back, from_end);
    /* The whole table forwards follows the tree ahead of the cursor. */
    bool tree = !rd->w && from_end && !back;
    if (tree)
        cache_lmdb_ahead_start(&ahead, rd->txn, rd->c->db_name[db], rc == 0 ? &val : NULL,
                               rd->scan_row_bytes);
    while (rc == 0) {
        rc = cache_lmdb_cursor_get(cur, &key, &next, back ? MDB_PREV : MDB_NEXT);
        if (rc == 0 && tree)
            cache_lmdb_ahead_step(&ahead, &next);
        else if (rc == 0 && !rd->w)
            page = cache_lmdb_page_prefetch(&next, page, back);
        if (rc == 0)
            row_prefetch(&next);
        if ((r = cb(arg, (struct slice){val.mv_data, val.mv_size})) != 0)
            break;
        val = next;
    }
    rd->nest--;
    if (tree) {
        rd->ahead_leaves += ahead.leaves;
        rd->ahead_rows += ahead.rows;
        rd->ahead_lost += ahead.lost;
    }
    cache_rd_cursor_done(rd, db, cur);
    return r ? r : rc == -ENOENT ? 0 : rc;
}

int cache_scan(struct cache_rd *rd, const struct schema_model *m, cache_row_cb cb, void *arg)
{
    return cache_scan_range(rd, m, 0, true, false, cb, arg);
}
