/*
 * An event's answer, rendered on a worker thread (worker.c runs these),
 * or, when it reads few rows, on the loop that received it
 * (sio_job_run_here: a hand-off to a worker and back costs about a
 * seventh of a 5000-row select). Each thread owns its LMDB read handle (an
 * MDB_txn never changes threads) and renders into a tail of its own, with
 * room in front for "43<id>" and LWS_PRE, so the loop writes it in place.
 * A plan whose models are not all warm is answered by the live fallback
 * instead (always on a worker), so a cold cache never yields partial data.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

/* The answer made from the kept one for the same request, rendering only
 * the root rows changed since (cache/patch.c); negative when there is no
 * such answer or the change log cannot tell: the caller renders in full. */
static int patch_render(struct sio *s, struct sio_job *j, struct cache_rd *rd, struct sio_tail *t)
{
    uint64_t since;
    struct sio_tail *base = sio_answers_base(&s->answers, buf_slice(&j->key), &since);
    if (!base)
        return -ENOENT;
    struct slice old = {buf_data(&base->b) + base->rows_at, base->rows.off[base->rows.n]};
    size_t at = t->b.len, changed;
    int rc = cache_query_patch(&j->plan, rd, since, old, &base->rows, &t->b,
                               s->o.max_answer_bytes, &t->rows, &changed);
    sio_tail_unref(base);
    if (rc == 0) {
        t->rows_at = at;
        t->has_rows = true;
        j->deps.patched = true;
    }
    return rc;
}

/* All root rows, noting where each starts when the answer is kept and can
 * be patched later; patched from the kept answer when there is one. */
static int rows_render(struct sio *s, struct sio_job *j, struct cache_rd *rd, struct sio_tail *t,
                       char *err, size_t errlen)
{
    struct cache_source src = cache_source_lmdb(rd);
    bool rows = j->key.len && cache_plan_patchable(&j->plan);
    if (rows && patch_render(s, j, rd, t) == 0)
        return 0;
    size_t size, at = t->b.len;
    int rc = rows ? cache_query_render_rows(&j->plan, &src, &t->b, s->o.max_answer_bytes, &size,
                                            &t->rows)
                  : cache_query_render(&j->plan, &src, &t->b, s->o.max_answer_bytes, &size);
    if (rc == -EFBIG)
        cache_err_too_large(err, errlen, size, s->o.max_answer_bytes);
    t->rows_at = at;
    t->has_rows = rows && rc == 0;
    return rc;
}

/* The answer's rows from the cache, when every model the plan reads is
 * warm (*warm): all of them, or with `since` the changed ones followed by
 * ',"deleted":[...]'. For an answer kept for reuse or with feed options,
 * notes the data version it shows and what it read, from the same
 * snapshot. With j->here (on the loop), -EXDEV when the plan reads more
 * than inline_render_rows rows or a cold model: nothing was rendered. */
static int render_cached(struct sio *s, struct sio_job *j, struct cache_rd *rd, struct sio_tail *t,
                         bool *warm, char *err, size_t errlen)
{
    struct buf *out = &t->b;
    *warm = false;
    if (!rd)
        return 0;
    int rc = cache_rd_begin(rd);
    if (rc < 0) /* treated as cold: the live path answers, on a worker */
        return j->here ? -EXDEV : 0;
    *warm = cache_plan_warm(&j->plan, rd);
    if (j->here && !(*warm && cache_plan_rows_at_most(&j->plan, rd, s->o.inline_render_rows))) {
        cache_rd_end(rd);
        return -EXDEV; /* not for the loop */
    }
    struct buf deleted;
    buf_init(&deleted, 0);
    if (*warm && j->feed.since) {
        rc = sio_feed_since_render(&j->plan, rd, j->feed.since_v, out, &deleted);
        buf_append(out, buf_data(&deleted), deleted.len);
    } else if (*warm) {
        rc = rows_render(s, j, rd, t, err, errlen);
    }
    buf_fini(&deleted);
    if (rc < 0 && rc != -ESTALE && rc != -EFBIG)
        snprintf(err, errlen, "cache read failed: %s", strerror(-rc));
    /* The version is shown by feed options and keeps a reused answer. */
    const uint64_t *vers;
    bool versioned = j->key.len || sio_feed_any(&j->feed);
    if (*warm && rc == 0 && versioned && cache_versions_get(rd, &vers) == 0) {
        struct sio_answer_deps *d = &j->deps;
        d->ids = xmalloc(s->o.schema->n_models * sizeof *d->ids);
        j->version = d->version = sio_feed_version(&j->plan, vers, d->ids, &d->n);
        j->from_cache = j->key.len > 0;
    }
    cache_rd_end(rd);
    return rc;
}

/* The ack: rows, the feed's meta, or RESYNC. */
static void answer_run(struct sio *s, struct cache_rd *rd, struct sio_job *j)
{
    struct sio_tail *t = sio_tail_new();
    char err[512] = "";
    bool warm;
    /* Read before the snapshot: the store holds at least what the clocks
     * promise. Only answers with feed options show it. */
    int64_t asof = sio_feed_any(&j->feed) ? sio_feed_asof(s, &j->plan) : 0;
    if (j->plan.count)
        sio_ack_count_open(&t->b);
    else
        sio_ack_ok_open(&t->b);
    int rc = render_cached(s, j, rd, t, &warm, err, sizeof err);
    if (rc == -EXDEV) {
        sio_tail_unref(t);
        return;
    }
    if (!warm && j->feed.since) {
        rc = -ESTALE; /* a model is not warm: its changes are not logged */
    } else if (!warm && s->o.live) {
        rc = poller_live_query(s->o.live, &j->plan, s->o.max_answer_bytes, &t->b, err, sizeof err);
    } else if (!warm) {
        rc = -EAGAIN;
        snprintf(err, sizeof err, "data is not cached yet and no live database is configured");
    }
    j->failed = rc < 0;
    if (rc < 0)
        t->has_rows = false; /* the tail becomes an error: no rows to patch */
    if (rc == -ESTALE) {
        buf_reset(&t->b);
        sio_feed_resync_tail(&t->b);
    } else if (rc < 0) {
        log_warn(LOG_SIO, "%s: %s", j->plan.collector->event, err);
        buf_reset(&t->b);
        sio_ack_error_tail(&t->b, err, strlen(err));
    } else {
        if (sio_feed_any(&j->feed)) /* ifNoneMatch that did not match: the answer with meta */
            sio_feed_meta_put(&t->b, s->o.cache, j->version, asof);
        sio_ack_ok_close(&t->b);
    }
    j->tail = t;
}

/* A subscription's change event: '42["change",{...}]', or nothing when
 * no row it covers changed. */
static void change_run(struct sio *s, struct cache_rd *rd, struct sio_job *j)
{
    int64_t asof = sio_feed_asof(s, &j->plan);
    struct buf data, deleted;
    buf_init(&data, 0);
    buf_init(&deleted, 0);
    const uint64_t *vers;
    int rc = rd ? cache_rd_begin(rd) : -EIO;
    if (rc == 0) {
        rc = cache_plan_warm(&j->plan, rd) ? sio_feed_since_render(&j->plan, rd, j->feed.since_v,
                                                                     &data, &deleted)
                                           : -ESTALE;
        if (rc == 0 && (rc = cache_versions_get(rd, &vers)) == 0) {
            size_t n;
            uint16_t *dep = xmalloc(s->o.schema->n_models * sizeof *dep);
            j->version = sio_feed_version(&j->plan, vers, dep, &n);
            free(dep);
        }
        cache_rd_end(rd);
    }
    j->resync = rc == -ESTALE;
    j->failed = rc < 0;
    bool empty = rc == 0 && data.len == 2 && deleted.len == strlen(",\"deleted\":[]");
    if (rc < 0 && !j->resync)
        log_warn(LOG_SIO, "%s: subscription %s: cache read failed: %s", j->plan.collector->event,
                 j->sub_id, strerror(-rc));
    if ((rc == 0 && !empty) || j->resync) {
        struct sio_pkt *p = sio_pkt_new();
        buf_puts(&p->b, "42[\"change\",{\"subscription\":");
        json_put_cstr(&p->b, j->sub_id);
        buf_puts(&p->b, ",\"event\":");
        json_put_cstr(&p->b, j->plan.collector->event);
        if (j->resync) {
            buf_putc(&p->b, ',');
            sio_feed_resync_put(&p->b);
            buf_puts(&p->b, "}]");
        } else {
            sio_feed_meta_put(&p->b, s->o.cache, j->version, asof);
            buf_puts(&p->b, ",\"data\":");
            buf_append(&p->b, buf_data(&data), data.len);
            buf_append(&p->b, buf_data(&deleted), deleted.len);
            buf_puts(&p->b, "}]");
        }
        j->event = p;
    }
    buf_fini(&data);
    buf_fini(&deleted);
}

static void job_run(void *arg, void *local, struct queue_node *node)
{
    struct sio *s = arg;
    struct sio_job *j = (struct sio_job *)node;
    if (j->kind == SIO_JOB_CHANGE)
        change_run(s, local, j);
    else
        answer_run(s, local, j);
    cache_plan_fini(&j->plan);
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

bool sio_job_run_here(struct sio *s, struct sio_job *j)
{
    if (!s->rd || !s->o.inline_render_rows || j->kind != SIO_JOB_ANSWER || sio_feed_any(&j->feed))
        return false;
    j->here = true;
    answer_run(s, s->rd, j);
    j->here = false;
    if (!j->tail)
        return false;
    cache_plan_fini(&j->plan);
    return true;
}

void sio_job_free(struct sio_job *j)
{
    if (!j)
        return;
    cache_plan_fini(&j->plan);
    sio_tail_unref(j->tail);
    sio_pkt_free(j->event);
    buf_fini(&j->key);
    free(j->deps.ids);
    free(j);
}
