/*
 * Pipelined warm-up passes. Reading a page (db-lib rows, conversion,
 * encoding) and writing it (LMDB puts, commit and its fsync) take similar
 * time, and on two cores they can overlap: a fetch thread reads the next
 * pages while this thread writes the current ones.
 *
 * Ownership (STYLE R7): the connection and the read position stay on the
 * fetch thread, the write transaction on this one; only pages cross, over
 * two queues (queue.h: free and fetched).
 * A page carries the cursor it ends at, and each transaction writes its
 * pages with their cursor, so what commits is exactly what a sequential
 * pass would have committed after that page: a crash or kill at any time
 * leaves rows and cursor consistent, and the next pass resumes there.
 *
 * Heap: a transaction holds the pages it writes until it commits (and LMDB
 * keeps them for the next), so it ends past txn_bytes of rows; pages are
 * sized by page_bytes (poller_sync_batch). A load or full pass asks for
 * batch_rows rows a statement and reads them over as many pages (sync.c,
 * `stmt`): each statement is a round trip in which the source waits for
 * the fetch thread to drain the last one's rows, and with pages of 1 MiB of
 * large rows a statement each, those waits were a tenth of a 1M-company
 * warm-up (docs/operations.md). A first load leaves the indexes
 * to a build after its rows (cache/build.c): the pass's last page, whose
 * transaction makes the model readable, waits for that build.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "queue.h"

#define INGEST_PAGES 4               /* one being fetched, up to three queued or being written */
#define POLLER_INGEST_TXN_ROWS 50000 /* rows per transaction at most, whatever is queued */
#define INGEST_WRITEBACK_BYTES (64u << 20) /* rows committed between writeback hints */

/* A page and its link in the ingest's queues. */
struct slot {
    struct queue_node node; /* first: a queue's node is its slot */
    struct poller_page pg;
};

struct ingest {
    struct poller_sync *s;
    struct poller_sync_env *e;
    struct slot slots[INGEST_PAGES];
    struct queue free_q;  /* pages to fill; closed and emptied when the writer stops */
    struct queue full_q;  /* fetched pages, in order; closed when the fetcher ends */
    struct poller_page *held; /* the pass's last page, taken but not yet written */
    size_t unflushed;     /* bytes of rows committed since the last writeback hint */
    int fetch_rc;         /* the fetcher's error: set before it closes full_q */
    char fetch_err[POLLER_CONN_ERR_MAX + 128];
};

static struct slot *slot_of(struct poller_page *pg)
{
    return (struct slot *)((char *)pg - offsetof(struct slot, pg));
}

static struct poller_page *page_of(struct queue_node *n)
{
    return n ? &((struct slot *)n)->pg : NULL;
}

/* Fetcher side: a free page, or NULL when the writer cancelled. */
static struct poller_page *free_take(struct ingest *g) { return page_of(queue_pop_wait(&g->free_q)); }

static void full_put(struct ingest *g, struct poller_page *pg, int rc, const char *err)
{
    if (rc < 0) {
        g->fetch_rc = rc;
        snprintf(g->fetch_err, sizeof g->fetch_err, "%s", err);
        queue_push(&g->free_q, &slot_of(pg)->node);
        queue_close(&g->full_q);
        return;
    }
    queue_push(&g->full_q, &slot_of(pg)->node);
    if (pg->done)
        queue_close(&g->full_q);
}

static void *fetch_main(void *arg)
{
    struct ingest *g = arg;
    char err[POLLER_CONN_ERR_MAX + 128];
    for (;;) {
        struct poller_page *pg = free_take(g);
        if (!pg)
            return NULL;
        err[0] = '\0';
        int rc = poller_sync_fetch(g->s, g->e, pg, err, sizeof err);
        bool last = rc < 0 || pg->done;
        full_put(g, pg, rc, err);
        if (last)
            return NULL;
    }
}

/* Writer side: the oldest fetched page; NULL when none is queued and either
 * `wait` is false or the fetcher has ended (its error, if any, in fetch_rc). */
static struct poller_page *full_take(struct ingest *g, bool wait)
{
    return page_of(wait ? queue_pop_wait(&g->full_q) : queue_pop(&g->full_q));
}

static void free_put(struct ingest *g, struct poller_page *pg)
{
    queue_push(&g->free_q, &slot_of(pg)->node);
}

/* Writes the queued pages (at least one, waiting for it) in one transaction.
 * *ended: the pass's last page was among them, or the fetcher failed. */
static int write_txn(struct ingest *g, bool *ended, char *err, size_t errlen)
{
    struct poller_page *pg = g->held ? g->held : full_take(g, true);
    g->held = NULL;
    if (!pg) {
        *ended = true;
        snprintf(err, errlen, "%s", g->fetch_err);
        return g->fetch_rc;
    }
    int rc = pg->done ? poller_sync_build(g->s, g->e, err, errlen) : 0;
    if (rc < 0) {
        free_put(g, pg);
        return rc;
    }
    struct cache_wtxn *w;
    rc = cache_wtxn_begin(g->e->cache, &w);
    if (rc < 0) {
        free_put(g, pg);
        poller_cache_fail(g->e->cache, rc, err, errlen, "model %s: opening a write transaction",
                          g->s->src.m->name);
        return rc;
    }
    cache_wtxn_defer_indexes(w, &g->e->build);
    bool dirty = false;
    size_t rows = 0, bytes = 0;
    while (pg) {
        bool d = false;
        rc = poller_sync_apply(g->s, g->e, w, pg, &d, err, errlen);
        dirty |= d;
        rows += pg->n;
        bytes += pg->rows.len;
        *ended = pg->done;
        free_put(g, pg); /* LMDB copied the rows: the page can be refilled */
        if (rc < 0 || *ended || rows >= POLLER_INGEST_TXN_ROWS ||
            (g->e->txn_bytes && bytes >= g->e->txn_bytes))
            break;
        pg = full_take(g, false);
        if (pg && pg->done) {
            g->held = pg; /* after the index build, in a transaction of its own */
            break;
        }
    }
    if (rc < 0 || !dirty) {
        cache_wtxn_abort(w);
        return rc;
    }
    rc = poller_sync_commit(g->e, w);
    if (rc < 0)
        poller_cache_fail(g->e->cache, rc, err, errlen, "model %s: commit", g->s->src.m->name);
    /* A warm-up commits without fsync: the disk writes start now, not all
     * at the sync that ends it. */
    g->unflushed += bytes;
    if (rc == 0 && g->unflushed >= INGEST_WRITEBACK_BYTES) {
        g->unflushed = 0;
        if (cache_unsynced_writeback(g->e->cache) < 0)
            log_debug(LOG_POLLER, "model %s: starting the writeback failed", g->s->src.m->name);
    }
    return rc;
}

static void ingest_init(struct ingest *g, struct poller_sync *s, struct poller_sync_env *e)
{
    memset(g, 0, sizeof *g);
    g->s = s;
    g->e = e;
    queue_init(&g->free_q, NULL, NULL);
    queue_init(&g->full_q, NULL, NULL);
    for (size_t i = 0; i < INGEST_PAGES; i++) {
        poller_page_init(&g->slots[i].pg);
        queue_push(&g->free_q, &g->slots[i].node);
    }
}

static void ingest_fini(struct ingest *g)
{
    for (size_t i = 0; i < INGEST_PAGES; i++)
        poller_page_fini(&g->slots[i].pg);
    /* The pages live in slots[]: the lists only linked them. */
    queue_take_all(&g->free_q);
    queue_take_all(&g->full_q);
    queue_fini(&g->free_q);
    queue_fini(&g->full_q);
}

/* The writer loop: transactions until the pass ends, fails or is stopped. */
static int write_all(struct ingest *g, const volatile bool *stop,
                     poller_ingest_progress_cb progress, void *arg, char *err, size_t errlen)
{
    struct poller_sync *s = g->s;
    for (bool ended = false; !ended;) {
        if (stop && *stop) {
            snprintf(err, errlen, "model %s: interrupted", s->src.m->name);
            return -EINTR;
        }
        /* A failed transaction applies nothing: its positions are forgotten too. */
        struct cache_cursor cursor = s->cursor;
        struct cache_load load = s->load;
        struct cache_cursor load_newest = s->load_newest;
        enum cache_state state = s->state;
        struct cache_run run = s->run;
        int rc = write_txn(g, &ended, err, errlen);
        if (rc < 0) {
            s->cursor = cursor, s->load = load, s->state = state, s->run = run;
            s->load_newest = load_newest;
            return rc;
        }
        if (progress)
            progress(arg, s);
    }
    return 0;
}

int poller_ingest_pass(struct poller_sync *s, struct poller_sync_env *e, const volatile bool *stop,
                       poller_ingest_progress_cb progress, void *arg, char *err, size_t errlen)
{
    if (s->pass != POLLER_PASS_POLL && s->pass != POLLER_PASS_FULL && s->pass != POLLER_PASS_LOAD) {
        snprintf(err, errlen, "model %s: only poll, load and full passes are pipelined", s->src.m->name);
        return -EINVAL;
    }
    uint64_t t0 = clock_mono_ns();
    struct ingest g;
    ingest_init(&g, s, e);
    s->stmt.spans = true;
    pthread_t th;
    int rc = -pthread_create(&th, NULL, fetch_main, &g);
    if (rc < 0) {
        snprintf(err, errlen, "model %s: starting the fetch thread: %s", s->src.m->name,
                 strerror(-rc));
    } else {
        rc = write_all(&g, stop, progress, arg, err, errlen);
        /* A fetcher still running finishes its page, then finds no free
         * page in a closed queue and ends. */
        queue_close(&g.free_q);
        queue_take_all(&g.free_q);
        pthread_join(th, NULL);
        poller_sync_stmt_close(s, e); /* the fetch thread has ended: the connection is ours */
    }
    s->stmt.spans = false;
    ingest_fini(&g);
    s->pass = POLLER_PASS_NONE;
    e->ns_pass += clock_mono_ns() - t0;
    return rc;
}
