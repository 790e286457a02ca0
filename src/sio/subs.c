/*
 * Subscriptions: `subscribe` with {"event": "fetchX", select/include...,
 * "since"?} acks {"success":true,"subscription":id,"version":v}; after
 * each commit that changes a model the request reads, the client gets a
 * "change" event with the root rows changed since the version it has
 * (and the RecIDs deleted), rendered by a worker exactly as a `since`
 * request (job.c). `unsubscribe` with {"subscription": id} ends one.
 *
 * A subscription remembers only the version its client has, never a
 * queue of changes: at most one change job per subscription is out, and
 * the engine holds the subscriptions of a session whose client does not
 * take its packets (SIO_SUBS_BACKLOG). Whatever is committed meanwhile
 * is covered by the next change from that version, latest per row, so a
 * slow reader costs one pending event, not a growing queue. A client
 * that reconnects subscribes again with the last version it saw.
 *
 * Loop thread only. The plan is parsed again for each change job from
 * the kept options: a job never shares memory with a subscription that
 * may be ended while it runs.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct sio_sub {
    struct sio_sub *next;
    char id[SIO_SUB_ID_MAX];
    const struct collector *col;
    json_t *opts;                 /* select/include/...: owned */
    uint16_t *deps;               /* the models the request reads */
    size_t n_deps;
    uint64_t version;             /* the client has everything up to this */
    bool busy;                    /* a change job is out */
};

static void ack(struct sio_socket *k, uint64_t id, struct sio_tail *t)
{
    sio_pktq_push(&k->out, sio_pkt_ack(t, id));
    sio_tail_unref(t);
}

static void ack_error(struct sio_socket *k, uint64_t id, const char *msg)
{
    struct sio_tail *t = sio_tail_new();
    sio_ack_error_tail(&t->b, msg, strlen(msg));
    ack(k, id, t);
}

static void sub_free(struct sio *s, struct sio_sub *sub)
{
    json_decref(sub->opts);
    free(sub->deps);
    free(sub);
    s->n_subs--;
}

/* The subscription's event and options, checked; *f the feed options. */
static int sub_parse(struct sio_socket *k, const json_t *args, struct sio_sub *sub,
                     struct sio_feed *f, struct cache_plan *p, char *err, size_t errlen)
{
    struct sio *s = k->srv;
    const json_t *ev = json_is_object(args) ? json_object_get(args, "event") : NULL;
    if (!json_is_string(ev)) {
        snprintf(err, errlen, "Invalid subscribe: expected {\"event\":\"fetchX\", select or include, "
                              "since?}");
        return -EINVAL;
    }
    sub->col = collector_find(s->o.collectors, json_string_value(ev), json_string_length(ev));
    if (!sub->col) {
        snprintf(err, errlen, "Unknown event: %.200s", json_string_value(ev));
        return -EINVAL;
    }
    if (!s->o.cache) {
        snprintf(err, errlen, "subscriptions need the cache, and this server has none");
        return -EINVAL;
    }
    sub->opts = json_deep_copy(args);
    json_object_del(sub->opts, "event");
    int rc = sio_feed_take(f, s->o.cache, sub->opts, err, errlen);
    if (rc == 0 && f->if_none_match) {
        snprintf(err, errlen, "subscribe takes since, not ifNoneMatch");
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = cache_plan_parse(p, sub->col, sub->opts, err, errlen);
    return rc;
}

/* The version the subscription starts from: since, when the change log can
 * answer it (-ESTALE when not), else the newest. */
static int sub_start(struct sio_socket *k, struct sio_sub *sub, const struct sio_feed *f,
                     const struct cache_plan *p)
{
    struct sio *s = k->srv;
    const uint64_t *vers = sio_answers_versions(&s->answers, s->o.cache, s->rd);
    if (!vers)
        return -EIO;
    sub->deps = xmalloc(s->o.schema->n_models * sizeof *sub->deps);
    uint64_t now = sio_feed_version(p, vers, sub->deps, &sub->n_deps);
    if (!f->since) {
        sub->version = now;
        return 0;
    }
    if (f->since_foreign)
        return -ESTALE;
    int rc = cache_rd_begin(s->rd);
    if (rc < 0)
        return rc;
    rc = cache_since_check(s->rd, p, f->since_v);
    cache_rd_end(s->rd);
    sub->version = f->since_v;
    return rc;
}

void sio_subs_subscribe(struct sio_socket *k, uint64_t ack_id, const json_t *args)
{
    struct sio *s = k->srv;
    char err[512] = "";
    if (k->n_subs >= SIO_SUBS_MAX) {
        snprintf(err, sizeof err, "Too many subscriptions on this connection (at most %u)",
                 SIO_SUBS_MAX);
        ack_error(k, ack_id, err);
        return;
    }
    struct sio_sub *sub = xcalloc(1, sizeof *sub);
    struct sio_feed f;
    struct cache_plan p = {0};
    s->n_subs++;
    int rc = sub_parse(k, args, sub, &f, &p, err, sizeof err);
    if (rc == 0 && (rc = sub_start(k, sub, &f, &p)) == -EIO)
        snprintf(err, sizeof err, "the cache cannot be read");
    cache_plan_fini(&p);
    if (rc < 0) {
        sub_free(s, sub);
        if (rc != -ESTALE) {
            ack_error(k, ack_id, err[0] ? err : strerror(-rc));
            return;
        }
        struct sio_tail *t = sio_tail_new();
        sio_feed_resync_tail(&t->b);
        ack(k, ack_id, t);
        return;
    }
    snprintf(sub->id, sizeof sub->id, "%u", ++k->next_sub);
    sub->next = k->subs;
    k->subs = sub;
    k->n_subs++;
    struct sio_tail *t = sio_tail_new();
    buf_puts(&t->b, "[{\"success\":true,\"subscription\":");
    json_put_cstr(&t->b, sub->id);
    buf_putc(&t->b, ',');
    sio_feed_version_put(&t->b, s->o.cache, sub->version);
    buf_puts(&t->b, "}]");
    ack(k, ack_id, t);
}

static struct sio_sub **sub_find(struct sio_socket *k, const char *id, size_t len)
{
    for (struct sio_sub **at = &k->subs; *at; at = &(*at)->next)
        if (strlen((*at)->id) == len && memcmp((*at)->id, id, len) == 0)
            return at;
    return NULL;
}

static void sub_remove(struct sio_socket *k, struct sio_sub **at)
{
    struct sio_sub *sub = *at;
    *at = sub->next;
    k->n_subs--;
    sub_free(k->srv, sub);
}

void sio_subs_unsubscribe(struct sio_socket *k, uint64_t ack_id, const json_t *args)
{
    const json_t *id = json_is_object(args) ? json_object_get(args, "subscription") : NULL;
    if (!json_is_string(id)) {
        ack_error(k, ack_id, "Invalid unsubscribe: expected {\"subscription\":\"<id>\"}");
        return;
    }
    struct sio_sub **at = sub_find(k, json_string_value(id), json_string_length(id));
    if (!at) {
        char err[128];
        snprintf(err, sizeof err, "Unknown subscription: %.40s", json_string_value(id));
        ack_error(k, ack_id, err);
        return;
    }
    sub_remove(k, at);
    struct sio_tail *t = sio_tail_new();
    buf_puts(&t->b, "[{\"success\":true}]");
    ack(k, ack_id, t);
}

static void change_submit(struct sio_socket *k, struct sio_sub *sub)
{
    struct sio *s = k->srv;
    struct sio_job *j = xcalloc(1, sizeof *j);
    char err[256];
    if (cache_plan_parse(&j->plan, sub->col, sub->opts, err, sizeof err) < 0) {
        free(j); /* parsed at subscribe: cannot fail with the same schema */
        return;
    }
    j->kind = SIO_JOB_CHANGE;
    j->h = k->h;
    j->col = sub->col;
    j->feed = (struct sio_feed){.since = true, .since_v = sub->version};
    memcpy(j->sub_id, sub->id, sizeof j->sub_id);
    buf_init(&j->key, 0);
    sub->busy = true;
    s->inflight++;
    sio_pool_submit(&s->pool, &j->node);
}

bool sio_subs_poll(struct sio_socket *k, const uint64_t *vers)
{
    bool waiting = false;
    for (struct sio_sub *sub = k->subs; sub; sub = sub->next) {
        if (sio_answers_version(sub->deps, sub->n_deps, vers) == sub->version)
            continue;
        if (sub->busy)
            waiting = true;
        else
            change_submit(k, sub);
    }
    return waiting;
}

void sio_subs_changed(struct sio_socket *k, struct sio_job *j)
{
    struct sio_sub **at = sub_find(k, j->sub_id, strlen(j->sub_id));
    if (at) {
        (*at)->busy = false;
        if (!j->failed)
            (*at)->version = j->version;
        if (j->event) {
            sio_pktq_push(&k->out, j->event);
            j->event = NULL;
        }
        if (j->resync) /* the client fetches again and subscribes anew */
            sub_remove(k, at);
    }
    sio_job_free(j);
}

void sio_subs_fini(struct sio_socket *k)
{
    while (k->subs)
        sub_remove(k, &k->subs);
    k->next_sub = 0;
}
