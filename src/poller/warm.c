/*
 * poller_warm: the poller's passes run to completion in the calling thread,
 * model after model, for cron jobs and Kubernetes Jobs before business
 * hours. `full` rebuilds each model into a shadow copy that replaces the old
 * one in a single commit; a stop or an error abandons the shadow, and the
 * old copy (with its cursor) stays as it was.
 *
 * A model with a cursor loads an empty slot (or a rebuild's shadow) in key
 * order, then polls from the newest last-update it read that is not past
 * the source clock read before that load (sync.c): the poll's count is
 * then compared for deletes.
 *
 * Rows deleted at the source are found as the poller's polls find them
 * (gone.c): the model's count read before its poll, and a walk of the key
 * ranges that differ when the cache then holds more; with nothing new, a
 * warm-up reads only what changed since each cursor. `reconcile` (or a
 * source without the summary) reads every key instead.
 *
 * A database restart must not fail a scheduled warm-up: when the
 * connection is lost (refused, reset, timed out), the warm-up reconnects
 * with exponential backoff for up to retry_s and repeats the step that
 * failed, which resumes from the cursor (the committed one, or the shadow
 * copy's while rebuilding). An error the server answered (an unknown table,
 * a rejected login) would only come back: it fails at once.
 *
 * Everything it opens (the connection, db-lib's state) is closed before it
 * returns.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define RETRY_FIRST_MS 500    /* first wait before reconnecting */
#define RETRY_MAX_MS 30000    /* the backoff doubles up to this */
#define RETRY_SLICE_MS 100    /* waits are cut into slices to notice a stop */

struct warm {
    const struct poller_opts *o;
    struct poller_conn conn;
    struct poller_sync_env env;
    poller_progress_cb progress;
    void *arg;
    const volatile bool *stop;
};

static bool stopped(const struct warm *w)
{
    return w->stop && *w->stop;
}

/* Sleeps ms, or less when stopped. */
static void nap(const struct warm *w, int64_t ms)
{
    for (int64_t end = clock_mono_ms() + ms, left; !stopped(w) && (left = end - clock_mono_ms()) > 0;) {
        int64_t d = left < RETRY_SLICE_MS ? left : RETRY_SLICE_MS;
        struct timespec ts = {.tv_sec = d / 1000, .tv_nsec = d % 1000 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* After a step failed with rc and err: true when the connection was lost and
 * came back within the retry window (the caller repeats the step); false
 * when the failure stands, with err saying why (past the window: how long
 * the source stayed away and the last cause). */
static bool reconnected(struct warm *w, int rc, char *err, size_t errlen)
{
    unsigned secs = w->o->retry_s;
    if (rc != -EIO && rc != -ENOTCONN)
        return false;
    if (!poller_conn_lost(&w->conn) || !secs || stopped(w))
        return false;
    char cause[POLLER_CONN_ERR_MAX + 128];
    snprintf(cause, sizeof cause, "%s", err);
    log_warn(LOG_POLLER, "warm: lost the source: %s; reconnecting for up to %u s", cause, secs);
    int64_t start = clock_mono_ms(), deadline = start + (int64_t)secs * 1000;
    for (int64_t wait = RETRY_FIRST_MS;; wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2) {
        int64_t left = deadline - clock_mono_ms();
        nap(w, wait < left ? wait : left);
        if (stopped(w))
            return false;
        if (poller_conn_open(&w->conn, w->o->db, cause, sizeof cause) == 0) {
            log_info(LOG_POLLER, "warm: reconnected to the source after %.1f s; resuming",
                     (double)(clock_mono_ms() - start) / 1000);
            return true;
        }
        if (!poller_conn_lost(&w->conn)) {
            snprintf(err, errlen, "%s", cause);
            return false;
        }
        if (clock_mono_ms() >= deadline) {
            snprintf(err, errlen, "the source stayed unreachable for %u s (--retry-for, "
                     "warm_retry_s): %s", secs, cause);
            return false;
        }
    }
}

static int rebuild_txn(struct warm *w, const struct schema_model *m, int op,
                       const struct poller_sync *s)
{
    struct cache_wtxn *t;
    int rc = cache_wtxn_begin(w->env.cache, &t);
    if (rc < 0)
        return rc;
    if (op == 0) {
        rc = cache_rebuild_begin(t, m);
    } else if (op == 1) {
        rc = cache_rebuild_swap(t, m);
        struct cache_meta meta;
        if (rc == 0)
            rc = cache_meta_get(cache_wtxn_rd(t), m, &meta);
        if (rc == 0) {
            /* The new copy's cursor and state replace the old ones with the swap. */
            meta.cursor = s->cursor;
            meta.load = (struct cache_load){0}; /* a load the live copy had cut short */
            meta.state = CACHE_WARM;
            rc = cache_meta_put(t, m, &meta);
        }
    } else {
        rc = cache_rebuild_abandon(t, m);
    }
    if (rc < 0) {
        cache_wtxn_abort(t);
        return rc;
    }
    return cache_wtxn_commit(t);
}

struct pass_progress {
    struct warm *w;
    uint64_t before, total; /* rows of the model's earlier passes (a load before its poll) */
};

static void on_page(void *arg, const struct poller_sync *s)
{
    struct pass_progress *pp = arg;
    pp->w->progress(pp->w->arg, s->src.m, pp->before + poller_sync_done(s), pp->total, false);
}

/* Poll and full passes carry the rows: they are pipelined (ingest.c).
 * Reconciliation reads keys only and runs batch by batch. */
static int run_pass(struct warm *w, struct poller_sync *s, enum poller_sync_pass pass,
                    uint64_t before, uint64_t total, char *err, size_t errlen)
{
    const struct schema_model *m = s->src.m;
    int rc = poller_sync_begin(s, &w->env, pass, err, errlen);
    if (rc < 0)
        return rc;
    if (pass != POLLER_PASS_RECONCILE) {
        struct pass_progress pp = {w, before, total};
        return poller_ingest_pass(s, &w->env, w->stop, w->progress ? on_page : NULL, &pp, err,
                                  errlen);
    }
    for (bool done = false; !done;) {
        if (w->stop && *w->stop) {
            s->pass = POLLER_PASS_NONE;
            snprintf(err, errlen, "model %s: interrupted", m->name);
            return -EINTR;
        }
        rc = poller_sync_step(s, &w->env, &done, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A pass that lost its connection starts again from the cursor its
 * committed batches left. */
static int pass_retrying(struct warm *w, struct poller_sync *s, enum poller_sync_pass pass,
                         uint64_t before, uint64_t total, char *err, size_t errlen)
{
    int rc;
    while ((rc = run_pass(w, s, pass, before, total, err, errlen)) < 0 &&
           reconnected(w, rc, err, errlen))
        ;
    return rc;
}

/* The model's row count, newest last-update and largest key as the source
 * has them now, for the count comparison after the poll that follows
 * (gone.c): *asked false when the warm-up reconciles instead (asked to,
 * poll_summary off, or a source that answers the statement with an error). A lost connection is retried. */
static int summary_ask(struct warm *w, struct poller_sync *s, bool *asked, char *err,
                       size_t errlen)
{
    const struct schema_model *m = s->src.m;
    *asked = false;
    if (!w->o->summary || w->o->reconcile || !m->cursor)
        return 0;
    bool *one = xcalloc(w->o->schema->n_models, sizeof *one);
    one[m->id] = true;
    struct poller_summary sum;
    poller_summary_init(&sum, w->o->schema, one);
    free(one);
    int rc;
    while ((rc = poller_summary_read(&sum, &w->conn, err, errlen)) < 0 &&
           reconnected(w, rc, err, errlen))
        ;
    if (rc == 0 && sum.m[m->id].valid) {
        poller_gone_prepare(s, &sum.m[m->id]);
        *asked = true;
    } else if (rc < 0 && !poller_conn_lost(&w->conn)) {
        log_warn(LOG_POLLER, "%s: %s; reconciling every key instead", m->name, err);
        rc = 0;
    }
    poller_summary_fini(&sum);
    return rc;
}

/* Caught up also means rows deleted at the source are gone here: when the
 * summary read before the poll counted fewer rows than the cache now
 * holds, the ranges of keys that differ are walked (gone.c); without a
 * summary, every key is reconciled. Deleted rows are counted in the run
 * history, where `cwcachectl warm` finds them. */
static int deletes(struct warm *w, struct poller_sync *s, bool asked, uint64_t total, char *err,
                   size_t errlen)
{
    if (!asked)
        return pass_retrying(w, s, POLLER_PASS_RECONCILE, 0, total, err, errlen);
    uint64_t deleted;
    int rc;
    while ((rc = poller_gone_check(s, &w->env, &deleted, err, errlen)) < 0 &&
           reconnected(w, rc, err, errlen))
        ;
    return rc;
}

/* The rows in the source, for the progress figures: the summary's count
 * when there is one. */
static int count_rows(struct warm *w, struct poller_sync *s, bool asked, uint64_t *total,
                      char *err, size_t errlen)
{
    if (asked) {
        *total = s->asked.rows;
        return 0;
    }
    int rc;
    while ((rc = poller_src_count(&w->conn, &s->src, total)) < 0) {
        snprintf(err, errlen, "model %s: counting rows: %s", s->src.m->name, w->conn.err);
        if (!reconnected(w, rc, err, errlen))
            return rc;
    }
    return 0;
}

static int warm_model(struct warm *w, struct poller_sync *s, bool full, char *err, size_t errlen)
{
    const struct schema_model *m = s->src.m;
    uint64_t total = 0;
    bool asked = false;
    int rc = summary_ask(w, s, &asked, err, errlen);
    if (rc == 0)
        rc = count_rows(w, s, asked, &total, err, errlen);
    if (rc < 0)
        return rc;
    if (full) {
        rc = rebuild_txn(w, m, 0, s);
        if (rc < 0) {
            return poller_cache_fail(w->env.cache, rc, err, errlen,
                                     "model %s: starting the rebuild", m->name);
        }
        s->rebuild = true;
        s->cursor = (struct cache_cursor){0};
        s->load = (struct cache_load){0};
        s->state = CACHE_COLD;
    }
    rc = pass_retrying(w, s, m->cursor ? POLLER_PASS_POLL : POLLER_PASS_FULL, 0, total, err,
                       errlen);
    uint64_t done = poller_sync_done(s);
    if (rc == 0 && s->loaded) {
        /* A first load in key order: the poll from the clock read before it
         * reads what changed meanwhile, and its count is the one to compare. */
        rc = summary_ask(w, s, &asked, err, errlen);
        if (rc == 0)
            rc = pass_retrying(w, s, POLLER_PASS_POLL, done, total, err, errlen);
        done += poller_sync_done(s);
    }
    if (rc == 0 && full) {
        rc = rebuild_txn(w, m, 1, s);
        if (rc < 0)
            poller_cache_fail(w->env.cache, rc, err, errlen,
                              "model %s: swapping in the rebuilt copy", m->name);
    } else if (rc == 0 && m->cursor) {
        rc = deletes(w, s, asked, total, err, errlen);
    }
    if (rc < 0 && full && rebuild_txn(w, m, 2, s) < 0)
        log_warn(LOG_POLLER, "%s: abandoning the rebuild failed", m->name);
    s->rebuild = false;
    if (rc < 0 && rc != -EINTR)
        poller_sync_record_error(s, &w->env, rc, err);
    if (rc == 0 && w->progress)
        w->progress(w->arg, m, done, total, true);
    return rc;
}

static int check_models(struct warm *w, struct poller_sync *sync, const bool *models, char *err,
                        size_t errlen)
{
    const struct schema *s = w->o->schema;
    struct poller_src_model *checked = xcalloc(s->n_models ? s->n_models : 1, sizeof *checked);
    for (size_t i = 0; i < s->n_models; i++)
        checked[i] = (struct poller_src_model){
            .m = &s->models[i], .ok = true, .cursor_type = SYBDATETIME, .cursor_decl = "datetime"};
    int rc = poller_src_check(&w->conn, s, models, checked, err, errlen);
    for (size_t i = 0; rc == 0 && i < s->n_models; i++) {
        if (!models[i])
            continue;
        sync[i].src.cursor_type = checked[i].cursor_type;
        sync[i].src.cursor_decl = checked[i].cursor_decl;
        if (!checked[i].ok) {
            poller_sync_record_error(&sync[i], &w->env, -ENOENT, checked[i].error);
            snprintf(err, errlen, "%s", checked[i].error);
            rc = -ENOENT;
        }
    }
    free(checked);
    return rc;
}

static int warm_all(struct warm *w, bool full, char *err, size_t errlen)
{
    const struct schema *s = w->o->schema;
    size_t n = s->n_models;
    bool *models = xcalloc(n ? n : 1, sizeof *models);
    struct poller_sync *sync = xcalloc(n ? n : 1, sizeof *sync);
    for (size_t i = 0; i < n; i++) {
        models[i] = w->o->models ? w->o->models[i] : true;
        if (models[i])
            poller_sync_init(&sync[i], &s->models[i]);
    }
    int rc;
    while ((rc = check_models(w, sync, models, err, errlen)) < 0 && reconnected(w, rc, err, errlen))
        ;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (models[i])
            rc = warm_model(w, &sync[i], full, err, errlen);
    for (size_t i = 0; i < n; i++)
        if (models[i])
            poller_sync_fini(&sync[i]);
    free(sync);
    free(models);
    return rc;
}

int poller_warm(const struct poller_opts *o, bool full, poller_progress_cb progress, void *arg,
                const volatile bool *stop, char *err, size_t errlen)
{
    if (!o || !o->db || !o->schema || !o->cache || !o->batch_rows) {
        snprintf(err, errlen, "poller_warm: missing db, schema, cache or batch_rows");
        return -EINVAL;
    }
    struct warm w = {.o = o, .progress = progress, .arg = arg, .stop = stop};
    w.env = (struct poller_sync_env){.cache = o->cache,
                                     .conn = &w.conn,
                                     .batch_rows = o->batch_rows,
                                     .overlap_s = o->overlap_s,
                                     .warm = true};
    poller_sync_env_bounds(&w.env, o);
    int rc = poller_conn_job_begin(o->cache, &w.env.rd, err, errlen);
    if (rc < 0)
        return rc;
    rc = poller_conn_open(&w.conn, o->db, err, errlen);
    if (rc < 0 && reconnected(&w, rc, err, errlen))
        rc = 0;
    if (rc == 0)
        rc = warm_all(&w, full, err, errlen);
    poller_conn_close(&w.conn);
    poller_conn_job_end(w.env.rd);
    /* The first load turned fsync off (sync.c): one sync now. */
    int sync_rc = cache_unsynced_end(o->cache);
    if (sync_rc < 0 && rc == 0) {
        poller_cache_fail(o->cache, sync_rc, err, errlen, "warm: syncing the commits to disk");
        rc = sync_rc;
    }
    if (o->timing) {
        o->timing->rows += w.env.rows;
        o->timing->ns_fetch += w.env.ns_fetch;
        o->timing->ns_apply += w.env.ns_apply;
        o->timing->ns_commit += w.env.ns_commit;
        o->timing->ns_pass += w.env.ns_pass;
        o->timing->ns_build += w.env.ns_build;
    }
    return rc;
}
