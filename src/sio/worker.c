/*
 * Query workers. The loop thread hands parsed plans over a locked job
 * list; each worker renders into a packet of its own (with LWS_PRE
 * headroom, so the loop writes it in place) and puts the finished job on
 * a locked result list, waking the loop with lws_cancel_service() only
 * when that list goes from empty to non-empty (STYLE R7): a burst of
 * answers costs one wake-up, and the loop drains the whole list.
 *
 * Each worker owns its LMDB read handle (an MDB_txn never changes
 * threads). A plan whose models are not all warm is answered by the live
 * fallback instead, so a cold cache never yields partial data.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* Renders the answer when every model the plan reads is warm (*warm);
 * with reuse on, also notes what it read, from the same snapshot. */
static int render_cached(struct sio *s, struct sio_job *j, struct cache_rd *rd, struct buf *out,
                         bool *warm, char *err, size_t errlen)
{
    *warm = false;
    if (!rd)
        return 0;
    int rc = cache_rd_begin(rd);
    if (rc < 0)
        return 0; /* treated as cold: the live path answers */
    *warm = cache_plan_warm(&j->plan, rd);
    if (*warm) {
        struct cache_source src = cache_source_lmdb(rd);
        rc = cache_query_render(&j->plan, &src, out);
        if (rc < 0)
            snprintf(err, errlen, "cache read failed: %s", strerror(-rc));
    }
    const uint64_t *vers;
    if (*warm && rc == 0 && j->key.len && cache_versions_get(rd, &vers) == 0) {
        struct sio_answer_deps *d = &j->deps;
        d->ids = xmalloc(s->o.schema->n_models * sizeof *d->ids);
        d->n = cache_plan_models(&j->plan, d->ids);
        d->version = sio_answers_version(d->ids, d->n, vers);
        j->from_cache = true;
    }
    cache_rd_end(rd);
    return rc;
}

static void job_run(struct sio *s, struct cache_rd *rd, struct sio_job *j)
{
    struct sio_tail *t = sio_tail_new();
    char err[512] = "";
    bool warm;
    sio_ack_ok_open(&t->b);
    int rc = render_cached(s, j, rd, &t->b, &warm, err, sizeof err);
    if (!warm) {
        if (s->o.live) {
            rc = poller_live_query(s->o.live, &j->plan, &t->b, err, sizeof err);
        } else {
            rc = -EAGAIN;
            snprintf(err, sizeof err, "data is not cached yet and no live database is configured");
        }
    }
    j->failed = rc < 0;
    if (rc < 0) {
        log_warn(LOG_SIO, "%s: %s", j->plan.collector->event, err);
        buf_reset(&t->b);
        sio_ack_error_tail(&t->b, err, strlen(err));
    } else {
        sio_ack_ok_close(&t->b);
    }
    cache_plan_fini(&j->plan);
    j->tail = t;
}

static void result_push(struct sio *s, struct sio_job *j)
{
    struct sio_workers *w = &s->w;
    j->next = NULL;
    pthread_mutex_lock(&w->rmu);
    bool was_empty = !w->results;
    if (w->results_last)
        w->results_last->next = j;
    else
        w->results = j;
    w->results_last = j;
    pthread_mutex_unlock(&w->rmu);
    if (was_empty)
        lws_cancel_service(s->ctx);
}

static struct sio_job *job_take(struct sio_workers *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->jobs && !w->stop)
        pthread_cond_wait(&w->cv, &w->mu);
    struct sio_job *j = w->jobs;
    if (j) {
        w->jobs = j->next;
        if (!w->jobs)
            w->jobs_last = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    return j;
}

static void *worker_main(void *arg)
{
    struct sio *s = arg;
    struct cache_rd *rd = NULL;
    if (s->o.cache && cache_rd_new(s->o.cache, &rd) < 0) {
        log_error(LOG_SIO, "worker: cannot open a cache read handle; answering from the live database");
        rd = NULL;
    }
    struct sio_job *j;
    while ((j = job_take(&s->w))) {
        job_run(s, rd, j);
        result_push(s, j);
    }
    cache_rd_free(rd);
    return NULL;
}

int sio_workers_start(struct sio *s, char *err, size_t errlen)
{
    struct sio_workers *w = &s->w;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->rmu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->n = s->o.workers ? s->o.workers : 1;
    w->threads = xcalloc(w->n, sizeof *w->threads);
    for (; w->started < w->n; w->started++) {
        int rc = pthread_create(&w->threads[w->started], NULL, worker_main, s);
        if (rc) {
            snprintf(err, errlen, "cannot start worker thread: %s", strerror(rc));
            return -rc;
        }
    }
    return 0;
}

void sio_workers_submit(struct sio *s, struct sio_job *j)
{
    struct sio_workers *w = &s->w;
    j->next = NULL;
    atomic_fetch_add(&w->inflight, 1);
    pthread_mutex_lock(&w->mu);
    if (w->jobs_last)
        w->jobs_last->next = j;
    else
        w->jobs = j;
    w->jobs_last = j;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void sio_workers_drain_results(struct sio *s)
{
    struct sio_workers *w = &s->w;
    pthread_mutex_lock(&w->rmu);
    struct sio_job *j = w->results;
    w->results = w->results_last = NULL;
    pthread_mutex_unlock(&w->rmu);
    while (j) {
        struct sio_job *next = j->next;
        /* The session may be gone (client left mid-query): the handle's
         * generation no longer matches and the answer is dropped. */
        struct sio_session *ss = sio_session_get(s, j->h);
        sio_metrics_observe(s, j->col, j->failed, sio_metrics_now_us() - j->t0_us);
        if (j->from_cache && !j->failed)
            sio_answers_put(&s->answers, buf_slice(&j->key), j->tail, &j->deps, j->col);
        buf_fini(&j->key);
        free(j->deps.ids);
        if (ss)
            sio_socket_answer(ss, sio_pkt_ack(j->tail, j->ack_id));
        sio_tail_unref(j->tail);
        free(j);
        atomic_fetch_sub(&w->inflight, 1);
        j = next;
    }
}

void sio_workers_stop(struct sio *s)
{
    struct sio_workers *w = &s->w;
    if (!w->threads)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->started; i++)
        pthread_join(w->threads[i], NULL);
    /* Jobs never taken (stop raced them) and results never drained. */
    for (struct sio_job *j = w->jobs, *n; j; j = n) {
        n = j->next;
        cache_plan_fini(&j->plan);
        buf_fini(&j->key);
        free(j);
    }
    for (struct sio_job *j = w->results, *n; j; j = n) {
        n = j->next;
        sio_tail_unref(j->tail);
        buf_fini(&j->key);
        free(j->deps.ids);
        free(j);
    }
    w->jobs = w->jobs_last = w->results = w->results_last = NULL;
    free(w->threads);
    w->threads = NULL;
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->rmu);
    pthread_cond_destroy(&w->cv);
}
