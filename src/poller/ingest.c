/*
 * Pipelined warm-up passes. Reading a page (db-lib rows, conversion,
 * encoding) and writing it (LMDB puts, commit and its fsync) take similar
 * time, and on two cores they can overlap: a fetch thread reads the next
 * pages while this thread writes the current ones.
 *
 * Ownership (STYLE R7): the connection and the read position stay on the
 * fetch thread, the write transaction on this one; only pages cross, over
 * two small locked lists (free and fetched) with one condition variable.
 * A page carries the cursor it ends at, and each transaction writes its
 * pages with their cursor, so what commits is exactly what a sequential
 * pass would have committed after that page: a crash or kill at any time
 * leaves rows and cursor consistent, and the next pass resumes there.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define INGEST_PAGES 4               /* one being fetched, up to three queued or being written */
#define POLLER_INGEST_TXN_ROWS 50000 /* rows per transaction at most, whatever is queued */

struct ingest {
    struct poller_sync *s;
    struct poller_sync_env *e;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct poller_page pages[INGEST_PAGES];
    struct poller_page *free_list[INGEST_PAGES], *full_list[INGEST_PAGES];
    size_t n_free, n_full, full_head;  /* full_list is a ring: pages stay in order */
    bool fetch_ended;                  /* the fetcher has queued its last page or failed */
    bool cancel;                       /* the writer stops: the fetcher ends after its page */
    int fetch_rc;
    char fetch_err[POLLER_CONN_ERR_MAX + 128];
};

/* Fetcher side: a free page, or NULL when the writer cancelled. */
static struct poller_page *free_take(struct ingest *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->cancel && g->n_free == 0)
        pthread_cond_wait(&g->cv, &g->mu);
    struct poller_page *pg = g->cancel ? NULL : g->free_list[--g->n_free];
    pthread_mutex_unlock(&g->mu);
    return pg;
}

static void full_put(struct ingest *g, struct poller_page *pg, int rc, const char *err)
{
    pthread_mutex_lock(&g->mu);
    if (rc < 0) {
        g->fetch_rc = rc;
        snprintf(g->fetch_err, sizeof g->fetch_err, "%s", err);
        g->free_list[g->n_free++] = pg;
        g->fetch_ended = true;
    } else {
        g->full_list[(g->full_head + g->n_full++) % INGEST_PAGES] = pg;
        g->fetch_ended = pg->done;
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
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
    pthread_mutex_lock(&g->mu);
    while (wait && g->n_full == 0 && !g->fetch_ended)
        pthread_cond_wait(&g->cv, &g->mu);
    struct poller_page *pg = NULL;
    if (g->n_full) {
        pg = g->full_list[g->full_head];
        g->full_head = (g->full_head + 1) % INGEST_PAGES;
        g->n_full--;
    }
    pthread_mutex_unlock(&g->mu);
    return pg;
}

static void free_put(struct ingest *g, struct poller_page *pg)
{
    pthread_mutex_lock(&g->mu);
    g->free_list[g->n_free++] = pg;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Writes the queued pages (at least one, waiting for it) in one transaction.
 * *ended: the pass's last page was among them, or the fetcher failed. */
static int write_txn(struct ingest *g, bool *ended, char *err, size_t errlen)
{
    struct poller_page *pg = full_take(g, true);
    if (!pg) {
        *ended = true;
        snprintf(err, errlen, "%s", g->fetch_err);
        return g->fetch_rc;
    }
    struct cache_wtxn *w;
    int rc = cache_wtxn_begin(g->e->cache, &w);
    if (rc < 0) {
        free_put(g, pg);
        snprintf(err, errlen, "model %s: opening a write transaction: error %d",
                 g->s->src.m->name, rc);
        return rc;
    }
    bool dirty = false;
    size_t rows = 0;
    while (pg) {
        bool d = false;
        rc = poller_sync_apply(g->s, g->e, w, pg, &d, err, errlen);
        dirty |= d;
        rows += pg->n;
        *ended = pg->done;
        free_put(g, pg); /* LMDB copied the rows: the page can be refilled */
        if (rc < 0 || *ended || rows >= POLLER_INGEST_TXN_ROWS)
            break;
        pg = full_take(g, false);
    }
    if (rc < 0 || !dirty) {
        cache_wtxn_abort(w);
        return rc;
    }
    rc = poller_sync_commit(g->e, w);
    if (rc < 0)
        snprintf(err, errlen, "model %s: commit: error %d", g->s->src.m->name, rc);
    return rc;
}

static void ingest_init(struct ingest *g, struct poller_sync *s, struct poller_sync_env *e)
{
    memset(g, 0, sizeof *g);
    g->s = s;
    g->e = e;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    for (size_t i = 0; i < INGEST_PAGES; i++) {
        poller_page_init(&g->pages[i]);
        g->free_list[g->n_free++] = &g->pages[i];
    }
}

static void ingest_fini(struct ingest *g)
{
    for (size_t i = 0; i < INGEST_PAGES; i++)
        poller_page_fini(&g->pages[i]);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
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
        enum cache_state state = s->state;
        struct cache_run run = s->run;
        int rc = write_txn(g, &ended, err, errlen);
        if (rc < 0) {
            s->cursor = cursor, s->state = state, s->run = run;
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
    if (s->pass != POLLER_PASS_POLL && s->pass != POLLER_PASS_FULL) {
        snprintf(err, errlen, "model %s: only poll and full passes are pipelined", s->src.m->name);
        return -EINVAL;
    }
    uint64_t t0 = poller_clock_mono_ns();
    struct ingest g;
    ingest_init(&g, s, e);
    pthread_t th;
    int rc = -pthread_create(&th, NULL, fetch_main, &g);
    if (rc < 0) {
        snprintf(err, errlen, "model %s: starting the fetch thread: error %d", s->src.m->name, rc);
    } else {
        rc = write_all(&g, stop, progress, arg, err, errlen);
        pthread_mutex_lock(&g.mu);
        g.cancel = true; /* a fetcher still running finishes its page, then sees this */
        pthread_cond_broadcast(&g.cv);
        pthread_mutex_unlock(&g.mu);
        pthread_join(th, NULL);
    }
    ingest_fini(&g);
    s->pass = POLLER_PASS_NONE;
    e->ns_pass += poller_clock_mono_ns() - t0;
    return rc;
}
