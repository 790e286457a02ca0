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

#define PINGEST_PAGES 4         /* one being fetched, up to three queued or being written */
#define PINGEST_TXN_ROWS 50000  /* rows per transaction at most, whatever is queued */

struct ingest {
    struct psync *s;
    struct psync_env *e;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ppage pages[PINGEST_PAGES];
    struct ppage *free_list[PINGEST_PAGES], *full_list[PINGEST_PAGES];
    size_t n_free, n_full, full_head;  /* full_list is a ring: pages stay in order */
    bool fetch_ended;                  /* the fetcher has queued its last page or failed */
    bool cancel;                       /* the writer stops: the fetcher ends after its page */
    int fetch_rc;
    char fetch_err[PCONN_ERR_MAX + 128];
};

/* Fetcher side: a free page, or NULL when the writer cancelled. */
static struct ppage *free_take(struct ingest *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->cancel && g->n_free == 0)
        pthread_cond_wait(&g->cv, &g->mu);
    struct ppage *pg = g->cancel ? NULL : g->free_list[--g->n_free];
    pthread_mutex_unlock(&g->mu);
    return pg;
}

static void full_put(struct ingest *g, struct ppage *pg, int rc, const char *err)
{
    pthread_mutex_lock(&g->mu);
    if (rc < 0) {
        g->fetch_rc = rc;
        snprintf(g->fetch_err, sizeof g->fetch_err, "%s", err);
        g->free_list[g->n_free++] = pg;
        g->fetch_ended = true;
    } else {
        g->full_list[(g->full_head + g->n_full++) % PINGEST_PAGES] = pg;
        g->fetch_ended = pg->done;
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void *fetch_main(void *arg)
{
    struct ingest *g = arg;
    char err[PCONN_ERR_MAX + 128];
    for (;;) {
        struct ppage *pg = free_take(g);
        if (!pg)
            return NULL;
        err[0] = '\0';
        int rc = psync_fetch(g->s, g->e, pg, err, sizeof err);
        bool last = rc < 0 || pg->done;
        full_put(g, pg, rc, err);
        if (last)
            return NULL;
    }
}

/* Writer side: the oldest fetched page; NULL when none is queued and either
 * `wait` is false or the fetcher has ended (its error, if any, in fetch_rc). */
static struct ppage *full_take(struct ingest *g, bool wait)
{
    pthread_mutex_lock(&g->mu);
    while (wait && g->n_full == 0 && !g->fetch_ended)
        pthread_cond_wait(&g->cv, &g->mu);
    struct ppage *pg = NULL;
    if (g->n_full) {
        pg = g->full_list[g->full_head];
        g->full_head = (g->full_head + 1) % PINGEST_PAGES;
        g->n_full--;
    }
    pthread_mutex_unlock(&g->mu);
    return pg;
}

static void free_put(struct ingest *g, struct ppage *pg)
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
    struct ppage *pg = full_take(g, true);
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
        rc = psync_apply(g->s, g->e, w, pg, &d, err, errlen);
        dirty |= d;
        rows += pg->n;
        *ended = pg->done;
        free_put(g, pg); /* LMDB copied the rows: the page can be refilled */
        if (rc < 0 || *ended || rows >= PINGEST_TXN_ROWS)
            break;
        pg = full_take(g, false);
    }
    if (rc < 0 || !dirty) {
        cache_wtxn_abort(w);
        return rc;
    }
    rc = psync_commit(g->e, w);
    if (rc < 0)
        snprintf(err, errlen, "model %s: commit: error %d", g->s->src.m->name, rc);
    return rc;
}

static void ingest_init(struct ingest *g, struct psync *s, struct psync_env *e)
{
    memset(g, 0, sizeof *g);
    g->s = s;
    g->e = e;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    for (size_t i = 0; i < PINGEST_PAGES; i++) {
        ppage_init(&g->pages[i]);
        g->free_list[g->n_free++] = &g->pages[i];
    }
}

static void ingest_fini(struct ingest *g)
{
    for (size_t i = 0; i < PINGEST_PAGES; i++)
        ppage_fini(&g->pages[i]);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* The writer loop: transactions until the pass ends, fails or is stopped. */
static int write_all(struct ingest *g, const volatile bool *stop, pingest_progress_cb progress,
                     void *arg, char *err, size_t errlen)
{
    struct psync *s = g->s;
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

int pingest_pass(struct psync *s, struct psync_env *e, const volatile bool *stop,
                 pingest_progress_cb progress, void *arg, char *err, size_t errlen)
{
    if (s->pass != PASS_POLL && s->pass != PASS_FULL) {
        snprintf(err, errlen, "model %s: only poll and full passes are pipelined", s->src.m->name);
        return -EINVAL;
    }
    uint64_t t0 = pclock_mono_ns();
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
    s->pass = PASS_NONE;
    e->ns_pass += pclock_mono_ns() - t0;
    return rc;
}
