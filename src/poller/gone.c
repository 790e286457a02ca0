/*
 * Rows deleted at the source, found within a poll or two instead of at the
 * next reconciliation (reconcile_s), without reading whole tables.
 *
 * The summary (summary.c) is read before the polls it decides; a poll then
 * brings in every row the source had at that moment and keeps the rows
 * deleted since. So after the poll the cache holds more rows than the
 * summary counted exactly when rows were deleted, give or take rows
 * committed between the summary and the poll: those newer than the
 * summary's newest last-update are subtracted (s->fresh), the rest make a
 * needless check at worst. A count can hide a delete only behind a row the
 * cache still lacks (a late commit older than the overlap window), which
 * the periodic reconciliation finds.
 *
 * The check counts and sums the keys of both sides per RecID range
 * (GONE_BUCKETS ranges over the source's key span: one grouped query, one
 * walk over the cache's keys), then reads the source's keys of the ranges
 * that differ only and deletes what it lacks through cache_row_delete (the
 * change log and subscriptions see the deletes). A key the cache holds came
 * from the source before the check read it, so a key missing there is gone.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define GONE_BUCKETS 1024
#define GONE_PAGE_MAX 10000 /* keys per source read inside one range */
#define CACHE_KEYS_CHUNK 1024

/* The cache's keys of m counted and summed per range, as poller_summary_buckets(). */
static int cache_buckets(struct cache_rd *rd, const struct schema_model *m, uint64_t width,
                         struct poller_bucket *out)
{
    uint64_t keys[CACHE_KEYS_CHUNK];
    memset(out, 0, (GONE_BUCKETS + 1) * sizeof *out);
    bool first = true;
    uint64_t after = 0;
    size_t got;
    do {
        int rc = cache_keys_next(rd, m, first, after, keys, CACHE_KEYS_CHUNK, &got);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < got; i++) {
            uint64_t b = keys[i] / width;
            struct poller_bucket *bk = &out[b < GONE_BUCKETS ? b : GONE_BUCKETS];
            bk->rows++;
            bk->sum += keys[i];
        }
        if (got)
            after = keys[got - 1];
        first = false;
    } while (got == CACHE_KEYS_CHUNK);
    return 0;
}

/* Appends the source's keys in [lo, hi] to pg (in key order); expect is
 * how many the bucket query counted there, so one read usually does. */
static int source_range(struct poller_sync *s, struct poller_sync_env *e, uint64_t lo, uint64_t hi,
                        uint64_t expect, struct poller_page *pg, char *err, size_t errlen)
{
    bool first = lo == 0;
    uint64_t after = first ? 0 : lo - 1;
    for (;;) {
        int32_t batch = (int32_t)(expect + 1 < GONE_PAGE_MAX ? expect + 1 : GONE_PAGE_MAX);
        enum poller_sql_kind k = first ? POLLER_SQL_KEYS_FIRST : POLLER_SQL_KEYS;
        struct poller_keyset ks;
        poller_keyset_set(&ks, &s->src, k, batch, 0, 0, after);
        int rc = poller_conn_exec(e->conn, s->src.stmt[k], ks.ps, ks.n);
        if (rc < 0) {
            snprintf(err, errlen, "model %s: reading keys: %s", s->src.m->name, e->conn->err);
            return rc;
        }
        size_t before = pg->n;
        rc = poller_sync_read_keys(s, e, pg, err, errlen);
        if (rc < 0)
            return rc;
        size_t got = pg->n - before;
        bool past = false;
        while (pg->n > before && pg->ent[pg->n - 1].pk > hi) {
            pg->n--;
            past = true;
        }
        if (past || got < (size_t)batch || pg->n == before)
            return 0;
        after = pg->ent[pg->n - 1].pk;
        first = false;
    }
}

static uint64_t bucket_hi(size_t b, uint64_t width)
{
    return b < GONE_BUCKETS ? b * width + width - 1 : UINT64_MAX;
}

/* Reads the source's keys of every range where the two sides differ (and
 * the cache has keys to lose) into s->page; *ranges counts them. */
static int walk_differing(struct poller_sync *s, struct poller_sync_env *e, uint64_t width,
                          const struct poller_bucket *src, const struct poller_bucket *mine,
                          bool *differs, size_t *ranges, char *err, size_t errlen)
{
    poller_page_reset(&s->page);
    *ranges = 0;
    for (size_t b = 0; b <= GONE_BUCKETS; b++) {
        differs[b] = mine[b].rows && (src[b].rows != mine[b].rows || src[b].sum != mine[b].sum);
        if (!differs[b])
            continue;
        (*ranges)++;
        int rc = source_range(s, e, b * width, bucket_hi(b, width), src[b].rows, &s->page, err,
                              errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Deletes what the source lacks in the differing ranges; one commit with
 * a "deletes" run record, none when nothing went. */
static int delete_differing(struct poller_sync *s, struct poller_sync_env *e, uint64_t width,
                            const bool *differs, struct cache_run *run, char *err, size_t errlen)
{
    const struct schema_model *m = s->src.m;
    struct cache_wtxn *w;
    int rc = cache_wtxn_begin(e->cache, &w);
    if (rc < 0)
        return poller_cache_fail(e->cache, rc, err, errlen, "model %s: opening a write transaction",
                                 m->name);
    for (size_t b = 0; rc == 0 && b <= GONE_BUCKETS; b++)
        if (differs[b])
            rc = poller_sync_delete_missing(w, m, &s->page, b == 0, b * width - (b != 0),
                                            bucket_hi(b, width), &run->deleted);
    run->end_ms = clock_wall_ms();
    if (rc == 0 && run->deleted)
        rc = cache_run_append(w, m, run);
    if (rc == 0 && run->deleted)
        rc = poller_sync_commit(e, w);
    else
        cache_wtxn_abort(w);
    if (rc < 0)
        poller_cache_fail(e->cache, rc, err, errlen, "model %s: deleting rows gone at the source",
                          m->name);
    return rc;
}

/* Rows in the cache now, minus those the poll inserted after the summary. */
static int cache_rows(struct poller_sync *s, struct poller_sync_env *e, uint64_t *rows)
{
    struct cache_meta meta;
    int rc = cache_rd_begin(e->rd);
    if (rc < 0)
        return rc;
    rc = cache_meta_get(e->rd, s->src.m, &meta);
    cache_rd_end(e->rd);
    *rows = meta.rows > s->fresh ? meta.rows - s->fresh : 0;
    return rc;
}

static int check(struct poller_sync *s, struct poller_sync_env *e, struct poller_bucket *src,
                 struct poller_bucket *mine, bool *differs, uint64_t *deleted, char *err,
                 size_t errlen)
{
    const struct schema_model *m = s->src.m;
    struct cache_run run = {.start_ms = clock_wall_ms(), .polls = 1};
    snprintf(run.kind, sizeof run.kind, "deletes");
    uint64_t width = s->asked.max_pk / GONE_BUCKETS + 1;
    int rc = poller_summary_buckets(e->conn, m, width, src, GONE_BUCKETS, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = cache_rd_begin(e->rd)) == 0) {
        rc = cache_buckets(e->rd, m, width, mine);
        cache_rd_end(e->rd);
    }
    if (rc < 0)
        return poller_cache_fail(e->cache, rc, err, errlen, "model %s: counting keys", m->name);
    size_t ranges;
    rc = walk_differing(s, e, width, src, mine, differs, &ranges, err, errlen);
    if (rc < 0)
        return rc;
    run.read = s->page.n;
    rc = delete_differing(s, e, width, differs, &run, err, errlen);
    *deleted = run.deleted;
    if (rc == 0)
        log_debug(LOG_POLLER,
                  "%s: %zu of %d RecID ranges differed, %" PRIu64 " keys read, %" PRIu64
                  " rows deleted",
                  m->name, ranges, GONE_BUCKETS + 1, run.read, run.deleted);
    return rc;
}

void poller_gone_prepare(struct poller_sync *s, const struct poller_summary_model *asked)
{
    s->asked = *asked;
    s->fresh = 0;
    s->fresh_after = asked->has_newest ? asked->newest + POLLER_TICKS_PER_MS : INT64_MIN;
}

int poller_gone_check(struct poller_sync *s, struct poller_sync_env *e, uint64_t *deleted,
                      char *err, size_t errlen)
{
    *deleted = 0;
    uint64_t rows;
    int rc = cache_rows(s, e, &rows);
    if (rc < 0)
        return poller_cache_fail(e->cache, rc, err, errlen, "model %s: reading meta", s->src.m->name);
    /* The same surplus a check already found nothing behind (rows the
     * source hides from the poll) is not checked again until it changes. */
    if (rows <= s->asked.rows || (rows == s->gone_cache && s->asked.rows == s->gone_src))
        return 0;
    struct poller_bucket *src = xcalloc(2 * (GONE_BUCKETS + 1), sizeof *src);
    bool *differs = xcalloc(GONE_BUCKETS + 1, sizeof *differs);
    rc = check(s, e, src, src + GONE_BUCKETS + 1, differs, deleted, err, errlen);
    free(differs);
    free(src);
    if (rc == 0 && *deleted == 0) {
        s->gone_src = s->asked.rows;
        s->gone_cache = rows;
    }
    return rc;
}
