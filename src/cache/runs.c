/*
 * Run history: key [0x02][be16 model][be64 seq] in "meta". Sequences grow
 * by one and only the oldest are removed, so the history of a model is a
 * contiguous range [first, last] and its length is last - first + 1.
 *
 * A day of history at a 5 s poll interval is 17,280 polls per model. Most
 * change nothing (they re-read the late-commit window and skip it), so a
 * run of such polls folds into the newest record when that is an "idle"
 * one, rewritten in place: the history keeps what changed or failed one
 * by one, and a quiet night is a single line (cache.h: CACHE_RUNS_*).
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define RUN_KEY 11u

static void run_key(uint8_t k[RUN_KEY], const struct schema_model *m, uint64_t seq)
{
    k[0] = CACHE_META_KEY_RUN;
    k[1] = (uint8_t)(m->id >> 8);
    k[2] = (uint8_t)m->id;
    put_be64(k + 3, seq);
}

static bool run_key_of(MDB_val k, const struct schema_model *m, uint64_t *seq)
{
    const uint8_t *p = k.mv_data;
    if (k.mv_size != RUN_KEY || p[0] != CACHE_META_KEY_RUN || ((unsigned)p[1] << 8 | p[2]) != m->id)
        return false;
    *seq = get_be64(p + 3);
    return true;
}

/* Positions cur on the model's newest run; -ENOENT when it has none. */
static int newest(MDB_cursor *cur, const struct schema_model *m, uint64_t *seq)
{
    uint8_t k[RUN_KEY];
    run_key(k, m, UINT64_MAX);
    MDB_val key = {RUN_KEY, k}, val;
    int rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc == 0 && run_key_of(key, m, seq))
        return 0;
    rc = rc == 0         ? cache_lmdb_cursor_get(cur, &key, &val, MDB_PREV)
         : rc == -ENOENT ? cache_lmdb_cursor_get(cur, &key, &val, MDB_LAST)
                         : rc;
    if (rc)
        return rc;
    return run_key_of(key, m, seq) ? 0 : -ENOENT;
}

static int oldest(MDB_cursor *cur, const struct schema_model *m, uint64_t *seq)
{
    uint8_t k[RUN_KEY];
    run_key(k, m, 0);
    MDB_val key = {RUN_KEY, k}, val;
    int rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc)
        return rc;
    return run_key_of(key, m, seq) ? 0 : -ENOENT;
}

/* The record under the cursor. */
static int current(MDB_cursor *cur, struct cache_run *r)
{
    MDB_val key, val;
    int rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT);
    return rc < 0 ? rc : cache_run_decode((struct slice){val.mv_data, val.mv_size}, r);
}

/* Drops the oldest records while they are past both bounds (cache.h). */
static int runs_trim(MDB_cursor *cur, const struct schema_model *m, uint64_t last, int64_t now_ms)
{
    uint64_t first = 0;
    int rc;
    struct cache_run old;
    while ((rc = oldest(cur, m, &first)) == 0 && last - first + 1 > CACHE_RUNS_KEPT) {
        if (last - first + 1 <= CACHE_RUNS_MAX &&
            ((rc = current(cur, &old)) < 0 || old.end_ms >= now_ms - CACHE_RUNS_AGE_MS))
            break;
        if ((rc = cache_lmdb_cursor_del(cur)) < 0)
            return rc;
    }
    return rc == -ENOENT ? 0 : rc;
}

/* A poll that found nothing to change and did not fail. */
static bool run_idle(const struct cache_run *r)
{
    return r->status == 0 && r->applied == 0 && r->deleted == 0 &&
           (strcmp(r->kind, "poll") == 0 || strcmp(r->kind, "idle") == 0);
}

/* Folds r into the newest record when both are idle: true and *out set. */
static bool fold(MDB_cursor *cur, const struct cache_run *r, struct cache_run *out)
{
    if (!run_idle(r) || current(cur, out) < 0 || strcmp(out->kind, "idle") != 0)
        return false;
    out->end_ms = r->end_ms;
    out->read += r->read;
    out->skipped += r->skipped;
    out->polls += r->polls ? r->polls : 1;
    return true;
}

static int put(struct cache_wtxn *w, MDB_cursor *cur, const struct schema_model *m, uint64_t seq,
               const struct cache_run *r)
{
    uint8_t k[RUN_KEY];
    run_key(k, m, seq);
    buf_reset(&w->enc);
    cache_run_encode(r, &w->enc);
    MDB_val key = {RUN_KEY, k}, val = {w->enc.len, buf_data(&w->enc)};
    return cache_lmdb_cursor_put(cur, &key, &val, 0);
}

int cache_run_append(struct cache_wtxn *w, const struct schema_model *m, const struct cache_run *r)
{
    MDB_cursor *cur;
    int rc = cache_lmdb_cursor_open(w->txn, w->c->meta, &cur);
    if (rc < 0)
        return rc;
    uint64_t seq = 0;
    struct cache_run folded;
    rc = newest(cur, m, &seq);
    if (rc == 0 && fold(cur, r, &folded)) {
        rc = put(w, cur, m, seq, &folded);
    } else if (rc == 0 || rc == -ENOENT) {
        struct cache_run one = *r;
        if (run_idle(r))
            snprintf(one.kind, sizeof one.kind, "idle");
        rc = put(w, cur, m, ++seq, &one);
    }
    if (rc == 0)
        rc = runs_trim(cur, m, seq, r->end_ms);
    cache_lmdb_cursor_close(cur);
    return rc;
}

static int runs_walk(MDB_cursor *cur, const struct schema_model *m, size_t max, cache_run_cb cb,
                     void *arg)
{
    uint64_t seq;
    int rc = newest(cur, m, &seq);
    MDB_val key, val;
    for (size_t n = 0; rc == 0 && (max == 0 || n < max); n++) {
        if ((rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT)) < 0)
            break;
        if (!run_key_of(key, m, &seq))
            return 0;
        struct cache_run r;
        if ((rc = cache_run_decode((struct slice){val.mv_data, val.mv_size}, &r)) < 0)
            return rc;
        if ((rc = cb(arg, &r)) != 0)
            return rc;
        rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_PREV);
    }
    return rc == -ENOENT ? 0 : rc;
}

int cache_runs(struct cache_rd *rd, const struct schema_model *m, size_t max, cache_run_cb cb, void *arg)
{
    if (!rd->active)
        return -EINVAL;
    MDB_cursor *cur;
    int rc = cache_lmdb_cursor_open(rd->txn, rd->c->meta, &cur);
    if (rc < 0)
        return rc;
    rc = runs_walk(cur, m, max, cb, arg);
    cache_lmdb_cursor_close(cur);
    return rc;
}
