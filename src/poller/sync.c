/*
 * One model's passes, one batch per call (the scheduler interleaves models):
 *
 *  poll       keyset pages ORDER BY last-update, pk from the cursor minus the
 *             overlap window; each page, its index updates and the new cursor
 *             commit in one LMDB transaction. The cursor only moves forward
 *             and never past the source clock read at the pass start, so a
 *             row committed late with an older timestamp is still inside the
 *             next pass's window. Unchanged rows (same XXH3) are not written.
 *  full       models without a cursor column: every row in pk order, and
 *             keys the source no longer has are deleted between pages.
 *  load       a cursor model's first load into an empty slot: every row in
 *             pk order (appended: pages filled once, the indexes built after,
 *             cache/build.c), then the cursor is the newest last-update it
 *             read that is not past the source clock read before it (so the
 *             cursor follows the data, as a poll's does); none: unset, and
 *             the poll reads from the start. A load resumed after a restart
 *             knows only the rows it read since (the newest is not kept), so
 *             its cursor may be older: its poll re-reads more, never less.
 *             Last-update order would put each row on a random leaf. A row
 *             changed during the load has a later last-update and is read by
 *             the poll that follows (the overlap re-read covers late commits);
 *             one deleted during it goes as any delete does (gone.c,
 *             reconciliation). Its position is committed with each page
 *             (meta.load), so a load cut short resumes after its last key
 *             with its first clock (and follows only the newest it reads then).
 *  reconcile  source keys in pk order in chunks, merged with the cache's
 *             keys in the same range: what the source lacks is deleted.
 *
 * A failed batch aborts its transaction: the cursor stays and the rows are
 * read again by the next pass.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define RECONCILE_CHUNK_MIN 10000
#define PAGE_ROWS_MIN 100 /* a page of large rows still reads this many (page_bytes) */

void poller_sync_init(struct poller_sync *s, const struct schema_model *m)
{
    memset(s, 0, sizeof *s);
    poller_src_init(&s->src, m);
    poller_row_init(&s->row, m);
    poller_page_init(&s->page);
    s->fresh_after = INT64_MAX;
}

void poller_sync_fini(struct poller_sync *s)
{
    poller_src_fini(&s->src);
    poller_row_fini(&s->row);
    poller_page_fini(&s->page);
    memset(s, 0, sizeof *s);
}

/* (ts, pk) order, with the NULL last-update segment (ts INT64_MIN) first. */
static int cursor_cmp(const struct cache_cursor *a, const struct cache_cursor *b)
{
    if (!a->set || !b->set)
        return a->set - b->set;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->pk < b->pk ? -1 : a->pk > b->pk;
}

static bool load_same(const struct cache_load *a, const struct cache_load *b)
{
    return a->on == b->on && a->started == b->started && a->clock == b->clock &&
           a->after == b->after;
}

/* The run kind in the history: what an operator reading `cwcachectl runs`
 * needs to tell apart (cache.h: "poll", "reconcile", "warm", "full"). */
static const char *pass_kind(enum poller_sync_pass p, bool rebuild, bool warm)
{
    if (rebuild)
        return "full";
    switch (p) {
    case POLLER_PASS_POLL:
    case POLLER_PASS_FULL:
        return warm ? "warm" : "poll";
    case POLLER_PASS_RECONCILE:
        return "reconcile";
    case POLLER_PASS_LOAD:
        return warm ? "warm" : "load";
    default: return "none";
    }
}

/* Does a poll of s begin (or resume) a first load in key order? A
 * rebuild's shadow copy starts empty. */
static bool first_load(const struct poller_sync *s, uint64_t rows)
{
    return s->src.m->cursor && !s->cursor.set &&
           (s->load.on || (s->state == CACHE_COLD && (s->rebuild || rows == 0)));
}

/* A new load reads the clock its poll will start from; one cut short
 * resumes after its last committed key with the clock it read first. */
static int load_begin(struct poller_sync *s, struct poller_sync_env *e, char *err, size_t errlen)
{
    s->loaded = true;
    if (!s->load.on) {
        int64_t clock;
        int rc = poller_src_clock_read(e->conn, &s->src, &clock);
        if (rc < 0) {
            snprintf(err, errlen, "model %s: reading the source clock: %s", s->src.m->name,
                     e->conn->err);
            s->pass = POLLER_PASS_NONE;
            return rc;
        }
        s->load = (struct cache_load){.on = true, .clock = clock};
        s->load_newest = (struct cache_cursor){0};
    }
    s->clock = s->load.clock;
    s->key_after = s->load.after;
    s->key_started = s->load.started;
    return 0;
}

/* A warm-up commits without fsync from its first pass that fills a model
 * (a first load, a cold model's full read, a rebuild's shadow) to its end
 * (cache_unsynced_begin: a marker makes that crash safe). The passes that
 * only bring warm models up to date keep an fsync per commit: they write
 * little, and a power loss then costs at most their last commits, not the
 * store. */
static void unsynced_from_here(const struct poller_sync *s, struct poller_sync_env *e,
                               enum poller_sync_pass pass, uint64_t rows)
{
    bool fills = pass == POLLER_PASS_LOAD || s->rebuild ||
                 (pass == POLLER_PASS_FULL && s->state == CACHE_COLD && rows == 0);
    if (!e->warm || !fills)
        return;
    int rc = cache_unsynced_begin(e->cache);
    if (rc < 0)
        log_warn(LOG_POLLER, "model %s: committing without fsync: %s; every commit syncs",
                 s->src.m->name, strerror(-rc));
}

int poller_sync_begin(struct poller_sync *s, struct poller_sync_env *e, enum poller_sync_pass pass,
                      char *err, size_t errlen)
{
    const struct schema_model *m = s->src.m;
    memset(&s->run, 0, sizeof s->run);
    s->run.start_ms = clock_wall_ms();
    s->loaded = false;
    s->key_after = 0;
    s->key_started = false;
    s->in_nulls_tail = false;
    s->scan_from = false;
    s->group = (struct poller_sync_group){0};
    s->warmed_now = false;
    uint64_t rows = 0;
    if (!s->rebuild) {
        struct cache_meta meta;
        int rc = cache_rd_begin(e->rd);
        if (rc == 0) {
            rc = cache_meta_get(e->rd, m, &meta);
            cache_rd_end(e->rd);
        }
        if (rc < 0) {
            return poller_cache_fail(e->cache, rc, err, errlen, "model %s: reading meta", m->name);
        }
        s->cursor = meta.cursor;
        s->state = meta.state;
        s->load = meta.load;
        rows = meta.rows;
    }
    if (pass == POLLER_PASS_POLL && first_load(s, rows))
        pass = POLLER_PASS_LOAD;
    unsynced_from_here(s, e, pass, rows);
    snprintf(s->run.kind, sizeof s->run.kind, "%s", pass_kind(pass, s->rebuild, e->warm));
    s->pass = pass;
    if (pass == POLLER_PASS_LOAD)
        return load_begin(s, e, err, errlen);
    if (pass != POLLER_PASS_POLL)
        return 0;
    int rc = poller_src_clock_read(e->conn, &s->src, &s->clock);
    if (rc < 0) {
        snprintf(err, errlen, "model %s: reading the source clock: %s", m->name, e->conn->err);
        s->pass = POLLER_PASS_NONE;
        return rc;
    }
    s->scan = s->cursor;
    s->scan_nulls = s->scan.set && s->scan.ts == INT64_MIN;
    if (s->scan.set && !s->scan_nulls && e->overlap_s) {
        /* Re-read the late-commit window; unchanged rows cost no write. */
        s->scan.ts -= (int64_t)e->overlap_s * CACHE_TICKS_PER_S;
        s->scan.pk = 0;
    }
    return 0;
}

static enum poller_sql_kind poll_kind(const struct poller_sync *s)
{
    if (s->group.on)
        return POLLER_SQL_GROUP;
    if (!s->scan.set)
        return POLLER_SQL_KEYSET_FIRST;
    if (s->scan_nulls)
        return POLLER_SQL_KEYSET_NULLS;
    return s->scan_from ? POLLER_SQL_KEYSET_FROM : POLLER_SQL_KEYSET;
}

static int exec_kind(struct poller_sync *s, struct poller_sync_env *e, enum poller_sql_kind k,
                     int32_t batch, struct poller_keyset *ks, int64_t ts, int64_t ts_hi,
                     uint64_t pk)
{
    poller_keyset_set(ks, &s->src, k, batch, ts, ts_hi, pk);
    return poller_conn_exec(e->conn, s->src.stmt[k], ks->ps, ks->n);
}

/* The first entry of pg (sorted by key) at or after key k. */
static size_t page_lower_bound(const struct poller_page *pg, uint64_t k)
{
    size_t lo = 0, hi = pg->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pg->ent[mid].pk < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int poller_sync_delete_missing(struct cache_wtxn *w, const struct schema_model *m,
                               const struct poller_page *pg, bool from_start, uint64_t after,
                               uint64_t upto, uint64_t *deleted)
{
    uint64_t chunk[256], gone[256];
    size_t n = pg->n, j = from_start ? 0 : page_lower_bound(pg, after);
    for (;;) {
        size_t got, ng = 0;
        int rc = cache_keys_next(cache_wtxn_rd(w), m, from_start, after, chunk, 256, &got);
        if (rc < 0)
            return rc;
        bool stop = got < 256;
        for (size_t i = 0; i < got; i++) {
            uint64_t k = chunk[i];
            if (k > upto) {
                stop = true;
                break;
            }
            while (j < n && pg->ent[j].pk < k)
                j++;
            if (j >= n || pg->ent[j].pk != k)
                gone[ng++] = k;
        }
        for (size_t i = 0; i < ng; i++) {
            rc = cache_row_delete(w, m, gone[i]);
            if (rc < 0 && rc != -ENOENT)
                return rc;
            (*deleted)++;
        }
        if (stop || got == 0)
            return 0;
        from_start = false;
        after = chunk[got - 1];
    }
}

/* Deletes cache keys in the page's range (after its start, up to its last
 * key, or to the end when the page ends the pass) that the page lacks. */
static int delete_gaps(struct cache_wtxn *w, const struct schema_model *m,
                       const struct poller_page *pg, uint64_t *deleted)
{
    if (!pg->done && pg->n == 0)
        return 0;
    uint64_t upto = pg->done ? UINT64_MAX : pg->ent[pg->n - 1].pk;
    return poller_sync_delete_missing(w, m, pg, pg->from_start, pg->after, upto, deleted);
}

/* Converts and encodes the current db-lib row into the page; tracks positions. */
static int fetch_row(struct poller_sync *s, struct poller_sync_env *e, struct poller_page *pg,
                     char *err, size_t errlen)
{
    const struct schema_model *m = s->src.m;
    int rc = poller_row_read(&s->row, e->conn, err, errlen);
    if (rc < 0)
        return rc;
    uint64_t pk = poller_row_pk(&s->row);
    int64_t ts;
    bool has;
    if (s->pass == POLLER_PASS_POLL || s->pass == POLLER_PASS_LOAD) {
        rc = poller_row_cursor_ticks(e->conn, m->cursor->index, &ts, &has);
        if (rc < 0) {
            snprintf(err, errlen, "model %s: cursor column %s: not a date", m->name,
                     m->cursor->column);
            return rc;
        }
    }
    if (s->pass == POLLER_PASS_POLL) {
        pg->last = (struct cache_cursor){true, has ? ts : INT64_MIN, pk};
        if ((!has || ts <= s->clock) && cursor_cmp(&pg->last, &pg->capped) > 0)
            pg->capped = pg->last;
        if (has && ts > pg->newest)
            pg->newest = ts;
        rc = poller_page_add_row(pg, m, s->row.vals, pk, err, errlen);
        if (rc == 0)
            pg->ent[pg->n - 1].fresh = has && ts > s->fresh_after;
        return rc;
    }
    if (s->pass == POLLER_PASS_LOAD && has) {
        if (ts > pg->newest)
            pg->newest = ts;
        if (ts <= s->clock && (!pg->capped.set || ts > pg->capped.ts))
            pg->capped = (struct cache_cursor){true, ts, 0};
    }
    return poller_page_add_row(pg, m, s->row.vals, pk, err, errlen);
}

/* The open statement's next row: 1, 0 at its end (it closes), < 0 on an
 * error (it closes; err says why). A row past the TOP it asked for is
 * refused: the pass would not know where its pages end. */
static int stmt_next_row(struct poller_sync *s, struct poller_sync_env *e, char *err, size_t errlen)
{
    int rc = poller_conn_next_row(e->conn);
    if (rc == 1 && s->stmt.left == 0) {
        poller_conn_cancel(e->conn);
        snprintf(err, errlen, "model %s: the source returned more rows than the TOP asked for",
                 s->src.m->name);
        rc = -EPROTO;
    } else if (rc < 0) {
        snprintf(err, errlen, "model %s: %s", s->src.m->name, e->conn->err);
    }
    if (rc == 1)
        s->stmt.left--;
    else
        s->stmt.open = false;
    return rc;
}

/* Rows of the open statement into pg until it holds `room` rows or the
 * statement ends; a statement whose rows are all read is read to its end,
 * so it closes with the page that has its last row. */
static int fetch_rows(struct poller_sync *s, struct poller_sync_env *e, struct poller_page *pg,
                      size_t room, char *err, size_t errlen)
{
    int rc = 0;
    while ((pg->n < room || s->stmt.left == 0) && (rc = stmt_next_row(s, e, err, errlen)) == 1) {
        rc = fetch_row(s, e, pg, err, errlen);
        if (rc < 0) {
            poller_conn_cancel(e->conn);
            s->stmt.open = false;
            return rc;
        }
    }
    return rc < 0 ? rc : 0;
}

int poller_sync_read_keys(struct poller_sync *s, struct poller_sync_env *e, struct poller_page *pg,
                          char *err, size_t errlen)
{
    int rc;
    while ((rc = poller_conn_next_row(e->conn)) == 1) {
        int len;
        const BYTE *p = poller_conn_col_data(e->conn, 0, &len);
        struct cache_value v;
        char slot[POLLER_CONV_SLOT];
        rc = poller_conv_value(poller_conn_col_type(e->conn, 0), p, len, slot, &v, err, errlen);
        if (rc == 0 && v.kind != CV_INT) {
            snprintf(err, errlen, "model %s: key %s is not an integer", s->src.m->name,
                     s->src.m->pk->column);
            rc = -EPROTO;
        }
        if (rc < 0) {
            poller_conn_cancel(e->conn);
            return rc;
        }
        poller_page_add_key(pg, (uint64_t)v.i);
    }
    if (rc < 0)
        snprintf(err, errlen, "model %s: %s", s->src.m->name, e->conn->err);
    return rc;
}

static int run_query(struct poller_sync *s, struct poller_sync_env *e, int32_t batch,
                     struct poller_keyset *ks)
{
    switch (s->pass) {
    case POLLER_PASS_POLL:
        if (s->group.on)
            return exec_kind(s, e, POLLER_SQL_GROUP, batch, ks, s->group.lo, s->group.hi,
                             s->group.pk_next);
        return exec_kind(s, e, poll_kind(s), batch, ks, s->scan.ts, 0, s->scan.pk);
    case POLLER_PASS_FULL:
    case POLLER_PASS_LOAD:
        return exec_kind(s, e, s->key_started ? POLLER_SQL_ROWS : POLLER_SQL_ROWS_FIRST, batch, ks,
                         0, 0, s->key_after);
    default:
        return exec_kind(s, e, s->key_started ? POLLER_SQL_KEYS : POLLER_SQL_KEYS_FIRST, batch, ks,
                         0, 0, s->key_after);
    }
}

/* A row counts in page_bytes at its rendered size, its stored values plus
 * the members' keys, as it did while rows stored their keys (store format
 * 2): a warm-up's heap peak grows with the rows its pages hold, more than
 * with their stored bytes (what holds it was not traced). Sized by the
 * stored bytes, a third of that, a page held 2.75x the rows and a cold
 * warm-up of 120k companies peaked at 53 MiB of heap instead of 36-39
 * (the build before with page_mb = 3: 61). */
static size_t keys_bytes(const struct schema_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_fields; i++)
        n += m->fields[i].key_len;
    return n;
}

int32_t poller_sync_batch(const struct poller_sync *s, const struct poller_sync_env *e)
{
    int32_t batch = (int32_t)e->batch_rows;
    if (s->pass == POLLER_PASS_RECONCILE && batch < RECONCILE_CHUNK_MIN)
        batch = RECONCILE_CHUNK_MIN;
    /* Large rows: fewer per page, so the pages in flight stay near
     * page_bytes; the first page of a model, its row size unknown, is small. */
    if (s->pass != POLLER_PASS_RECONCILE && e->page_bytes &&
        (size_t)batch > (s->row_bytes ? e->page_bytes / s->row_bytes : PAGE_ROWS_MIN)) {
        size_t n = s->row_bytes ? e->page_bytes / s->row_bytes : PAGE_ROWS_MIN;
        if (n < PAGE_ROWS_MIN)
            n = PAGE_ROWS_MIN;
        if ((size_t)batch > n)
            batch = (int32_t)n;
    }
    return batch;
}

/* "YYYY-MM-DD HH:MM:SS.fffffff" (UTC as stored) for messages; "NULL" for the NULL segment.
 * Sized for any int fields, so no value can truncate it. */
#define TS_TEXT_MAX 80
static void ts_text(int64_t ts, char out[TS_TEXT_MAX])
{
    if (ts == INT64_MIN) {
        snprintf(out, TS_TEXT_MAX, "NULL");
        return;
    }
    int64_t days = ts / POLLER_TICKS_PER_DAY - (ts % POLLER_TICKS_PER_DAY < 0);
    int64_t rem = ts - days * POLLER_TICKS_PER_DAY;
    time_t secs = (time_t)(days * 86400 + rem / CACHE_TICKS_PER_S);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, TS_TEXT_MAX, "%04d-%02d-%02d %02d:%02d:%02d.%07d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(rem % CACHE_TICKS_PER_S));
}

/* Has pg's last row moved past the read position? */
static bool page_moved(const struct poller_sync *s, const struct poller_page *pg)
{
    if (!pg->last.set)
        return false;
    if (s->scan_from) /* the position is "last-update >= scan.ts", any key */
        return pg->last.ts >= s->scan.ts;
    return !s->scan.set || cursor_cmp(&pg->last, &s->scan) > 0;
}

/* A full page ended at or before where it started: the source returned
 * rows it had returned already, which happens when it rounds @t down
 * (Babelfish: .190 arrives as .189) inside a last-update group larger than
 * a page. Read the window [position, +width) by RecID instead; stalling
 * again right where such a walk resumed means the rounding reaches past the
 * window, so the next one is twice as wide. */
static void group_start(struct poller_sync *s, struct poller_page *pg)
{
    const struct schema_model *m = s->src.m;
    bool again = s->scan_from && s->scan.ts == s->group.hi;
    int64_t width = again ? s->group.width * 2 : 1;
    s->group = (struct poller_sync_group){
        .on = true,
        .lo = s->scan.ts,
        .width = width,
        .hi = poller_conv_ticks_step(s->src.cursor_type, s->scan.ts, width)};
    pg->stalled = true;
    if (s->stall_logged)
        return;
    s->stall_logged = true;
    char t[TS_TEXT_MAX];
    ts_text(s->scan.ts, t);
    log_warn(LOG_POLLER,
             "%s: a page of %zu rows did not move the cursor past (%s = %s, %s = %" PRIu64
             "): the source seems to round datetime parameters; reading that %s group by %s "
             "instead (logged once; the run history counts such pages as stalled)",
             m->name, pg->n, m->cursor->column, t, m->pk->column, s->scan.pk, m->cursor->column,
             m->pk->column);
}

/* A page of a group walk (rows in key order). Until the walk ends nothing
 * is settled for the cursor; its last page settles everything up to the
 * largest row of the window, and the keyset resumes at last-update >= hi. */
static int group_advance(struct poller_sync *s, struct poller_page *pg, char *err, size_t errlen)
{
    struct poller_sync_group *g = &s->group;
    if (pg->n && pg->last.pk < g->pk_next) {
        snprintf(err, errlen,
                 "model %s: the source ignored the key bound of a %s group read "
                 "(asked for %s >= %" PRIu64 ", got %" PRIu64 "): pass abandoned",
                 s->src.m->name, s->src.m->cursor->column, s->src.m->pk->column, g->pk_next,
                 pg->last.pk);
        return -EPROTO;
    }
    if (cursor_cmp(&pg->capped, &g->max) > 0)
        g->max = pg->capped;
    pg->capped = (struct cache_cursor){0};
    if (!pg->done) {
        g->pk_next = pg->last.pk + 1;
        return 0;
    }
    pg->capped = g->max;
    pg->done = false; /* the pass goes on after the window */
    g->on = false;
    s->scan = (struct cache_cursor){true, g->hi, 0};
    s->scan_from = true;
    return 0;
}

static int poll_advance(struct poller_sync *s, struct poller_page *pg, char *err, size_t errlen)
{
    if (s->group.on)
        return group_advance(s, pg, err, errlen);
    if (!pg->done && !page_moved(s, pg)) {
        if (!s->scan.set || s->scan_nulls) {
            char t[TS_TEXT_MAX];
            ts_text(s->scan.set ? s->scan.ts : INT64_MIN, t);
            snprintf(err, errlen,
                     "model %s: the source returned a page that does not move the "
                     "cursor past (%s, %" PRIu64 "): pass abandoned",
                     s->src.m->name, t, s->scan.pk);
            return -EPROTO;
        }
        group_start(s, pg);
        return 0;
    }
    if (pg->last.set) {
        s->scan = pg->last;
        s->scan_nulls = pg->last.ts == INT64_MIN;
        s->scan_from = false;
    }
    return 0;
}

int poller_sync_advance(struct poller_sync *s, struct poller_page *pg, char *err, size_t errlen)
{
    if (s->pass == POLLER_PASS_POLL)
        return poll_advance(s, pg, err, errlen);
    if (!pg->n)
        return 0;
    /* Full and reconcile pages come ORDER BY pk: the last entry is the largest. */
    uint64_t last = pg->ent[pg->n - 1].pk;
    if (s->key_started && last <= s->key_after) {
        snprintf(err, errlen,
                 "model %s: the source returned keys up to %" PRIu64 " when asked "
                 "for keys after %" PRIu64 ": pass abandoned",
                 s->src.m->name, last, s->key_after);
        return -EPROTO;
    }
    s->key_after = last;
    s->key_started = true;
    return 0;
}

/* Rows the next statement asks for: a spanning one batch_rows, at least a page's. */
static int32_t stmt_rows(const struct poller_sync *s, const struct poller_sync_env *e, int32_t page)
{
    bool spans = s->stmt.spans && (s->pass == POLLER_PASS_LOAD || s->pass == POLLER_PASS_FULL);
    return spans && (int64_t)e->batch_rows > page ? (int32_t)e->batch_rows : page;
}

static int stmt_open(struct poller_sync *s, struct poller_sync_env *e, int32_t rows, char *err,
                     size_t errlen)
{
    struct poller_keyset ks;
    int rc = run_query(s, e, rows, &ks);
    if (rc < 0) {
        snprintf(err, errlen, "model %s: %s", s->src.m->name, e->conn->err);
        return rc;
    }
    s->stmt.open = true;
    s->stmt.left = rows;
    return 0;
}

void poller_sync_stmt_close(struct poller_sync *s, struct poller_sync_env *e)
{
    if (s->stmt.open)
        poller_conn_cancel(e->conn);
    s->stmt.open = false;
}

int poller_sync_fetch(struct poller_sync *s, struct poller_sync_env *e, struct poller_page *pg,
                      char *err, size_t errlen)
{
    uint64_t t0 = clock_mono_ns();
    int32_t room = poller_sync_batch(s, e);
    poller_page_reset(pg);
    pg->from_start = !s->key_started;
    pg->after = s->key_after;
    int rc = s->stmt.open ? 0 : stmt_open(s, e, stmt_rows(s, e, room), err, errlen);
    if (rc == 0 && s->pass == POLLER_PASS_RECONCILE) {
        rc = poller_sync_read_keys(s, e, pg, err, errlen);
        s->stmt.open = false; /* read to its end */
    } else if (rc == 0) {
        rc = fetch_rows(s, e, pg, (size_t)room, err, errlen);
    }
    e->ns_fetch += clock_mono_ns() - t0;
    if (rc < 0)
        return rc;
    if (pg->n && s->pass != POLLER_PASS_RECONCILE)
        s->row_bytes = pg->rows.len / pg->n + keys_bytes(s->src.m) + 1;
    /* The statement ended short of its TOP: the source has no more. */
    pg->done = s->pass == POLLER_PASS_RECONCILE ? pg->n < (size_t)room
                                                : !s->stmt.open && s->stmt.left > 0;
    return poller_sync_advance(s, pg, err, errlen);
}

/* A success in meta (the cache matched the source at run->end_ms) and its
 * run record; an empty one also accounts for the polls skipped since the
 * last (poller_sync_idle_tick). */
static int record_ok(struct poller_sync *s, struct cache_wtxn *w, struct cache_meta *meta,
                     const struct cache_run *run, bool empty)
{
    if (empty) {
        s->last_empty_run_ms = run->end_ms;
        s->idle_polls = 0;
    }
    meta->last_run_start_ms = run->start_ms;
    meta->last_run_end_ms = run->end_ms;
    meta->last_ok_ms = run->end_ms; /* at least every idle_record_ms (readiness) */
    meta->last_status = 0;
    meta->last_error[0] = '\0';
    int rc = cache_meta_put(w, s->src.m, meta);
    if (rc == 0)
        rc = cache_run_append(w, s->src.m, run);
    return rc;
}

/* An empty poll is recorded at most this often, and at least: it is the
 * model's last match with the source, which readiness judges. */
static int64_t idle_record_ms(const struct poller_sync_env *e)
{
    return e->idle_record_ms ? e->idle_record_ms : POLLER_IDLE_RECORD_MAX_MS;
}

bool poller_sync_idle_tick(struct poller_sync *s, const struct poller_sync_env *e, int64_t now_ms)
{
    if (!s->idle_polls++)
        s->idle_since_ms = now_ms;
    return now_ms - s->last_empty_run_ms >= idle_record_ms(e);
}

int poller_sync_idle_record(struct poller_sync *s, struct cache_wtxn *w, int64_t now_ms)
{
    struct cache_meta meta;
    int rc = cache_meta_get(cache_wtxn_rd(w), s->src.m, &meta);
    if (rc < 0)
        return rc;
    struct cache_run run = {
        .start_ms = s->idle_since_ms ? s->idle_since_ms : now_ms, .end_ms = now_ms,
        .polls = s->idle_polls ? s->idle_polls : 1};
    snprintf(run.kind, sizeof run.kind, "poll");
    return record_ok(s, w, &meta, &run, true);
}

/* Meta and run record written with the batch that ends a pass (or moves
 * the cursor). *write is false when nothing needs committing: the pass
 * ended idle (nothing applied or deleted: rows read again and found
 * unchanged, as a table without a cursor is at every poll) and its meta is
 * as stored. Such passes count as idle polls, recorded once a minute as
 * skipped ones are, so an idle poller commits nothing in between. */
static int finish_meta(struct poller_sync *s, const struct poller_sync_env *e, struct cache_wtxn *w,
                       const struct poller_page *pg, bool *write)
{
    const struct schema_model *m = s->src.m;
    struct cache_meta meta;
    int rc = cache_meta_get(cache_wtxn_rd(w), m, &meta);
    if (rc < 0)
        return rc;
    struct cache_meta was = meta;
    if (!s->rebuild) {
        meta.cursor = s->cursor;
        meta.state = s->state;
        meta.load = s->load;
    }
    if (pg->newest > meta.source_newest_ts)
        meta.source_newest_ts = pg->newest;
    *write = !s->rebuild;
    if (!pg->done)
        return s->rebuild ? 0 : cache_meta_put(w, m, &meta);
    int64_t now = clock_wall_ms();
    s->run.end_ms = now;
    bool empty = s->run.applied == 0 && s->run.deleted == 0 && s->pass != POLLER_PASS_RECONCILE;
    bool write_run = !empty || s->warmed_now || now - s->last_empty_run_ms >= idle_record_ms(e) ||
                     meta.last_status != 0;
    if (!write_run) {
        *write = !s->rebuild && (meta.state != was.state || meta.source_newest_ts != was.source_newest_ts ||
                                 cursor_cmp(&meta.cursor, &was.cursor) != 0 ||
                                 !load_same(&meta.load, &was.load));
        if (!s->idle_polls++)
            s->idle_since_ms = s->run.start_ms;
        return *write ? cache_meta_put(w, m, &meta) : 0;
    }
    *write = true;
    if (s->pass == POLLER_PASS_RECONCILE)
        meta.last_reconcile_ms = now;
    if (empty)
        s->run.polls = 1 + s->idle_polls;
    return record_ok(s, w, &meta, &s->run, empty);
}

/* A load's page (sorted): its position; the last sets the cursor, and the
 * model stays warming until the poll after it. */
static void advance_load(struct poller_sync *s, const struct poller_page *pg)
{
    if (pg->n) {
        s->load.after = pg->ent[pg->n - 1].pk;
        s->load.started = true;
    }
    if (s->state == CACHE_COLD && (pg->n || pg->done))
        s->state = CACHE_WARMING;
    if (pg->capped.set && (!s->load_newest.set || pg->capped.ts > s->load_newest.ts))
        s->load_newest = pg->capped;
    if (pg->done) {
        /* Unset (no row had a last-update before the clock): the poll reads
         * from the start. */
        s->cursor = s->load_newest;
        s->load = (struct cache_load){0};
    }
}

/* The new committed cursor and state after a page. */
static void advance_state(struct poller_sync *s, const struct poller_page *pg)
{
    if (s->pass == POLLER_PASS_LOAD) {
        advance_load(s, pg);
        return;
    }
    if (s->pass == POLLER_PASS_POLL && pg->capped.set && cursor_cmp(&pg->capped, &s->cursor) > 0)
        s->cursor = pg->capped;
    if (s->pass == POLLER_PASS_RECONCILE)
        return;
    if (pg->done && s->state != CACHE_WARM) {
        /* A short page reached the end of the table as it was at the pass start. */
        s->state = CACHE_WARM;
        s->warmed_now = true;
    } else if (s->state == CACHE_COLD && pg->n > 0) {
        s->state = CACHE_WARMING;
    }
}

static int apply_rows(struct poller_sync *s, struct poller_sync_env *e, struct cache_wtxn *w,
                      struct poller_page *pg)
{
    poller_page_sort(pg);
    for (size_t i = 0; i < pg->n; i++) {
        enum cache_put res;
        int rc = cache_row_put_encoded(w, s->src.m, poller_page_row(pg, i), &res);
        if (rc < 0)
            return rc;
        if (res == CACHE_PUT_UNCHANGED)
            s->run.skipped++;
        else
            s->run.applied++;
        if (res == CACHE_PUT_INSERTED && pg->ent[i].fresh)
            s->fresh++;
    }
    e->rows += pg->n;
    return 0;
}

int poller_sync_apply(struct poller_sync *s, struct poller_sync_env *e, struct cache_wtxn *w,
                      struct poller_page *pg, bool *dirty, char *err, size_t errlen)
{
    const struct schema_model *m = s->src.m;
    uint64_t t0 = clock_mono_ns(), deleted_before = s->run.deleted, applied_before = s->run.applied;
    int rc = s->pass == POLLER_PASS_RECONCILE ? 0 : apply_rows(s, e, w, pg);
    if (rc < 0) {
        return poller_cache_fail(e->cache, rc, err, errlen, "model %s: storing a row", m->name);
    }
    s->run.read += pg->n;
    s->run.stalled += pg->stalled;
    /* A load fills an empty slot: there is nothing between its keys to delete. */
    if (s->pass != POLLER_PASS_POLL && s->pass != POLLER_PASS_LOAD && !s->rebuild) {
        poller_page_sort(pg);
        rc = delete_gaps(w, m, pg, &s->run.deleted);
        if (rc < 0) {
            poller_cache_fail(e->cache, rc, err, errlen,
                              "model %s: deleting rows gone at the source", m->name);
            return rc;
        }
    }
    log_debug(LOG_POLLER, "%s: %s page of %zu rows (%s), last (%" PRId64 ", %" PRIu64 ")", m->name,
              s->run.kind, pg->n, pg->done ? "last" : "more", pg->last.ts, pg->last.pk);
    advance_state(s, pg);
    bool wrote;
    rc = finish_meta(s, e, w, pg, &wrote);
    /* An idle poll changes nothing: its transaction is aborted, not committed. */
    *dirty = s->run.applied != applied_before || s->run.deleted != deleted_before || wrote ||
             s->warmed_now;
    e->ns_apply += clock_mono_ns() - t0;
    if (rc < 0)
        poller_cache_fail(e->cache, rc, err, errlen, "model %s: writing meta", m->name);
    return rc;
}

/* Everything a failed batch must put back: nothing of it is applied. */
struct saved {
    struct cache_cursor cursor, scan, load_newest;
    struct cache_load load;
    enum cache_state state;
    uint64_t key_after;
    bool key_started, scan_nulls, scan_from;
    struct poller_sync_group group;
    struct cache_run run;
};

static void save(const struct poller_sync *s, struct saved *v)
{
    *v = (struct saved){s->cursor,     s->scan,       s->load_newest, s->load,
                        s->state,      s->key_after,  s->key_started, s->scan_nulls,
                        s->scan_from,  s->group,      s->run};
}

static void restore(struct poller_sync *s, const struct saved *v)
{
    s->cursor = v->cursor, s->scan = v->scan, s->load = v->load, s->state = v->state;
    s->load_newest = v->load_newest;
    s->key_after = v->key_after, s->key_started = v->key_started, s->scan_nulls = v->scan_nulls;
    s->scan_from = v->scan_from, s->group = v->group;
    s->run = v->run;
}

void poller_sync_env_bounds(struct poller_sync_env *e, const struct poller_opts *o)
{
    const size_t mib = 1024 * 1024;
    e->txn_bytes = o->write_txn_mb ? o->write_txn_mb * mib : 0;
    e->page_bytes = o->page_mb ? o->page_mb * mib : 0;
    e->build.run_bytes = o->index_build_mb ? o->index_build_mb * mib : SIZE_MAX;
    e->build.txn_bytes = e->txn_bytes ? e->txn_bytes : SIZE_MAX;
}

int poller_sync_build(struct poller_sync *s, struct poller_sync_env *e, char *err, size_t errlen)
{
    uint64_t t0 = clock_mono_ns();
    bool built;
    int rc = cache_index_build(e->cache, s->src.m, &e->build, &built);
    uint64_t ns = clock_mono_ns() - t0;
    e->ns_build += ns;
    if (rc < 0)
        return poller_cache_fail(e->cache, rc, err, errlen, "model %s: building its indexes",
                                 s->src.m->name);
    if (built)
        log_info(LOG_POLLER, "%s: indexes built after the first load in %.1f s", s->src.m->name,
                 (double)ns / 1e9);
    return 0;
}

int poller_sync_commit(struct poller_sync_env *e, struct cache_wtxn *w)
{
    uint64_t t0 = clock_mono_ns();
    int rc = cache_wtxn_commit(w);
    e->ns_commit += clock_mono_ns() - t0;
    e->commits += rc == 0;
    return rc;
}

/* The source clock read at the pass start as UTC ms. A local-time clock
 * (GETDATE()) is moved by its offset from our UTC clock at that moment,
 * rounded to the quarter hour that time zones use. A full pass reads no
 * clock: it holds every row committed by its start on our clock. */
static int64_t pass_clock_utc_ms(const struct poller_sync *s)
{
    if (s->pass != POLLER_PASS_POLL)
        return s->run.start_ms;
    int64_t ms = cache_ticks_ms(s->clock);
    if (s->src.clock == POLLER_SRC_CLOCK_UTC)
        return ms;
    const int64_t q = 15 * 60 * 1000;
    int64_t off = ms - s->run.start_ms;
    off = (off >= 0 ? off + q / 2 : off - q / 2) / q * q;
    return ms - off;
}

int poller_sync_step(struct poller_sync *s, struct poller_sync_env *e, bool *done, char *err,
                     size_t errlen)
{
    *done = false;
    struct saved v;
    save(s, &v);
    int rc = poller_sync_fetch(s, e, &s->page, err, errlen);
    if (rc == 0 && s->page.done && s->pass != POLLER_PASS_RECONCILE)
        rc = poller_sync_build(s, e, err, errlen); /* before the page that makes the model readable */
    if (rc < 0)
        goto fail;
    struct cache_wtxn *w;
    rc = cache_wtxn_begin(e->cache, &w);
    if (rc < 0) {
        poller_cache_fail(e->cache, rc, err, errlen, "model %s: opening a write transaction",
                          s->src.m->name);
        goto fail;
    }
    bool dirty = false;
    rc = poller_sync_apply(s, e, w, &s->page, &dirty, err, errlen);
    if (rc == 0 && !dirty) {
        cache_wtxn_abort(w);
    } else if (rc == 0) {
        rc = poller_sync_commit(e, w);
        if (rc < 0)
            poller_cache_fail(e->cache, rc, err, errlen, "model %s: commit", s->src.m->name);
    } else {
        cache_wtxn_abort(w);
    }
    if (rc < 0)
        goto fail;
    *done = s->page.done;
    if (*done && !s->rebuild && (s->pass == POLLER_PASS_POLL || s->pass == POLLER_PASS_FULL))
        cache_asof_note(e->cache, s->src.m, pass_clock_utc_ms(s)); /* its rows are committed */
    if (*done)
        s->pass = POLLER_PASS_NONE;
    return 0;
fail:
    restore(s, &v); /* nothing of the batch is applied: forget its positions too */
    s->pass = POLLER_PASS_NONE;
    *done = true;
    return rc;
}

int poller_cache_fail(struct cache *c, int rc, char *err, size_t errlen, const char *what, ...)
{
    va_list ap;
    va_start(ap, what);
    int n = vsnprintf(err, errlen, what, ap);
    va_end(ap);
    char why[CACHE_STRERROR_MAX];
    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, ": %s", cache_strerror(c, rc, why, sizeof why));
    return rc;
}

void poller_sync_record_error(struct poller_sync *s, struct poller_sync_env *e, int rc,
                              const char *msg)
{
    const struct schema_model *m = s->src.m;
    struct cache_wtxn *w;
    if (cache_wtxn_begin(e->cache, &w) < 0)
        return;
    struct cache_meta meta;
    int r = cache_meta_get(cache_wtxn_rd(w), m, &meta);
    int64_t now = clock_wall_ms();
    if (r == 0) {
        meta.last_status = rc;
        meta.last_run_end_ms = now;
        if (!meta.last_run_start_ms || s->run.start_ms)
            meta.last_run_start_ms = s->run.start_ms ? s->run.start_ms : now;
        snprintf(meta.last_error, sizeof meta.last_error, "%s", msg);
        r = cache_meta_put(w, m, &meta);
    }
    if (r == 0) {
        struct cache_run run = s->run;
        if (!run.start_ms)
            run.start_ms = now;
        if (!run.kind[0])
            snprintf(run.kind, sizeof run.kind, "poll");
        run.end_ms = now;
        run.status = rc;
        snprintf(run.error, sizeof run.error, "%s", msg);
        r = cache_run_append(w, m, &run);
    }
    if (r == 0)
        r = cache_wtxn_commit(w);
    else
        cache_wtxn_abort(w);
    /* A store that took no commit for the pass takes none for its record
     * either: that was said, once, with the pass's failure. */
    if (r < 0 && !(cache_err_store_full(r) && cache_err_store_full(rc))) {
        char why[CACHE_STRERROR_MAX];
        log_warn(LOG_POLLER, "%s: the error could not be recorded in meta: %s", m->name,
                 cache_strerror(e->cache, r, why, sizeof why));
    }
}
