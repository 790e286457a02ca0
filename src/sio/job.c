/*
 * An event's answer, rendered on a worker thread (worker.c runs these).
 * Each worker owns its LMDB read handle (an MDB_txn never changes
 * threads) and renders into a tail of its own, with room in front for
 * "43<id>" and LWS_PRE, so the loop writes it in place. A plan whose
 * models are not all warm is answered by the live fallback instead, so a
 * cold cache never yields partial data.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void job_run(void *arg, void *local, struct queue_node *node)
{
    struct sio *s = arg;
    struct sio_job *j = (struct sio_job *)node;
    struct sio_tail *t = sio_tail_new();
    char err[512] = "";
    bool warm;
    sio_ack_ok_open(&t->b);
    int rc = render_cached(s, j, local, &t->b, &warm, err, sizeof err);
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

static void *thread_init(void *arg)
{
    struct sio *s = arg;
    struct cache_rd *rd = NULL;
    if (s->o.cache && cache_rd_new(s->o.cache, &rd) < 0) {
        log_error(LOG_SIO, "worker: cannot open a cache read handle; answering from the live database");
        rd = NULL;
    }
    return rd;
}

static void thread_fini(void *arg, void *local)
{
    (void)arg;
    cache_rd_free(local);
}

const struct sio_pool_ops sio_job_ops = {thread_init, job_run, thread_fini};

void sio_job_free(struct sio_job *j)
{
    if (!j)
        return;
    cache_plan_fini(&j->plan);
    sio_tail_unref(j->tail);
    buf_fini(&j->key);
    free(j->deps.ids);
    free(j);
}
