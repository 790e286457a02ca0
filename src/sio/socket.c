/*
 * Socket.IO on the main namespace: CONNECT with PSK authentication,
 * EVENT dispatch to the collectors, acks. Malformed packets close the
 * session, as socket.io's server does when its parser throws.
 *
 * Event dispatch is split in two: the request is parsed into a plan here,
 * on the loop thread (cheap, and a bad request is answered at once); the
 * rendering, which may read a hundred thousand rows or go to SQL, runs on
 * a worker (job.c on the pool of worker.c). Finished answers come back
 * through the pool's result queue, which the engine drains through
 * sio_socket_result_next(): this layer never calls up. Packets for the
 * client collect on the socket's own queue for the engine to take, and a
 * packet that must end the session makes the call return -EPROTO.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"

static int close_malformed(struct sio_socket *k, const char *what)
{
    log_debug(LOG_SIO, "session %s: %s, closing", k->sid, what);
    k->close_why = what;
    return -EPROTO;
}

static void out_push(struct sio_socket *k, struct sio_pkt *p) { sio_pktq_push(&k->out, p); }

static void send_error_ack(struct sio_socket *k, uint64_t id, const char *msg, size_t len)
{
    struct sio_tail *t = sio_tail_new();
    sio_ack_error_tail(&t->b, msg, len);
    out_push(k, sio_pkt_ack(t, id));
    sio_tail_unref(t);
}

void sio_socket_init(struct sio_socket *k, struct sio *s, sio_handle h, const char *sid)
{
    *k = (struct sio_socket){.srv = s, .h = h, .sid = sid};
    sio_pktq_init(&k->out);
}

void sio_socket_fini(struct sio_socket *k)
{
    sio_subs_fini(k);
    sio_pktq_clear(&k->out);
    free(k->hdr_psk);
    free(k->query_psk);
    k->hdr_psk = k->query_psk = NULL;
    k->state = SOCK_NONE;
}

/* ---- CONNECT and authentication --------------------------------------------- */

/* JavaScript truthiness: the original picks the first truthy source. */
static bool truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:  return json_string_length(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL:    return json_real_value(v) != 0;
    case JSON_TRUE:
    case JSON_OBJECT:
    case JSON_ARRAY:   return true;
    default:           return false;
    }
}

/* auth.psk, else header x-psk, else query psk. A truthy auth.psk that is
 * not a string can never match (the original compares with !==). */
static bool psk_accepted(const struct sio_socket *k, const json_t *auth)
{
    const char *want = k->srv->o.psk;
    const json_t *v = auth ? json_object_get(auth, "psk") : NULL;
    if (v && truthy(v))
        return json_is_string(v) && sio_psk_equal(want, json_string_value(v), json_string_length(v));
    if (k->hdr_psk && k->hdr_psk[0])
        return sio_psk_equal(want, k->hdr_psk, strlen(k->hdr_psk));
    if (k->query_psk && k->query_psk[0])
        return sio_psk_equal(want, k->query_psk, strlen(k->query_psk));
    return false;
}

void sio_socket_refuse(struct sio_socket *k)
{
    struct sio_pkt *p = sio_pkt_new();
    sio_connect_error_encode(&p->b, slice_str("/"), "Unauthorized");
    k->state = SOCK_NONE;
    out_push(k, p);
}

static void refuse(struct sio_socket *k)
{
    unsigned delay = sio_auth_fail(&k->srv->auth, k->addr, clock_mono_ms());
    log_info(LOG_SIO, "refused CONNECT from %s: bad or missing PSK%s", k->addr,
             delay ? " (answer delayed)" : "");
    if (!delay) {
        sio_socket_refuse(k);
        return;
    }
    /* Repeated failures from one address are answered late, so guessing
     * the key costs the guesser time; nothing else waits meanwhile. The
     * session owns the timer (refuse_after_ms). */
    k->state = SOCK_AUTH_WAIT;
    k->refuse_after_ms = delay;
}

static int on_connect(struct sio_socket *k, const struct sio_packet *p)
{
    json_t *auth;
    if (sio_connect_decode(p->data, &auth) < 0)
        return close_malformed(k, "CONNECT payload is not an object");
    if (!slice_eq(p->nsp, slice_str("/"))) {
        json_decref(auth);
        struct sio_pkt *e = sio_pkt_new();
        sio_connect_error_encode(&e->b, p->nsp, "Invalid namespace");
        out_push(k, e);
        return 0;
    }
    if (k->state != SOCK_NONE) {
        json_decref(auth);
        return close_malformed(k, "second CONNECT");
    }
    const char *psk = k->srv->o.psk;
    bool ok = !psk || !psk[0] || psk_accepted(k, auth);
    json_decref(auth);
    if (!ok) {
        refuse(k);
        return 0;
    }
    sio_id_random(k->id);
    k->state = SOCK_CONNECTED;
    struct sio_pkt *r = sio_pkt_new();
    sio_connect_ok_encode(&r->b, k->id);
    out_push(k, r);
    return 0;
}

/* ---- EVENT ------------------------------------------------------------------ */

/* An identical request, none of whose models changed since its answer
 * was rendered: the kept tail goes out at once, on the loop, without
 * parsing the request, reading LMDB, waking a worker or copying it. */
static bool answer_reuse(struct sio_socket *k, uint64_t id, struct slice args)
{
    struct sio *s = k->srv;
    const struct collector *col;
    const uint64_t *vers;
    struct sio_tail *t;
    if (!s->answers.cap_bytes || s->draining ||
        !(vers = sio_answers_versions(&s->answers, s->o.cache, s->rd)) ||
        !(t = sio_answers_get(&s->answers, args, vers, &col)))
        return false;
    sio_metrics_observe(s, col, false, 0);
    out_push(k, sio_pkt_ack(t, id));
    sio_tail_unref(t);
    return true;
}

/* ifNoneMatch on the loop: the version an answer rendered now would carry
 * equals the client's, so nothing is read or rendered. */
static bool not_modified(struct sio_socket *k, uint64_t id, const struct sio_job *j)
{
    struct sio *s = k->srv;
    const uint64_t *vers;
    if (!j->feed.if_none_match || !j->feed.inm ||
        !(vers = sio_answers_versions(&s->answers, s->o.cache, s->rd)))
        return false;
    uint16_t *ids = xmalloc(s->o.schema->n_models * sizeof *ids);
    size_t n;
    uint64_t v = sio_feed_version(&j->plan, vers, ids, &n);
    free(ids);
    if (v != j->feed.inm)
        return false;
    struct sio_tail *t = sio_tail_new();
    sio_feed_not_modified_tail(&t->b, s->o.cache, v);
    out_push(k, sio_pkt_ack(t, id));
    sio_tail_unref(t);
    return true;
}

static void resync_ack(struct sio_socket *k, uint64_t id)
{
    struct sio_tail *t = sio_tail_new();
    sio_feed_resync_tail(&t->b);
    out_push(k, sio_pkt_ack(t, id));
    sio_tail_unref(t);
}

/* Options, feed options taken out first; false (the error acked) on a bad request. */
static bool request_parse(struct sio_socket *k, uint64_t id, const struct sio_event *ev,
                          const struct collector *col, struct sio_job *j)
{
    struct sio *s = k->srv;
    char err[512] = "";
    /* The event's own parsed copy: the feed keys are removed from it. */
    if (sio_feed_take(&j->feed, s->o.cache, (json_t *)ev->opts, err, sizeof err) < 0 ||
        cache_plan_parse(&j->plan, col, ev->opts, err, sizeof err) < 0) {
        sio_metrics_observe(s, col, true, 0);
        send_error_ack(k, id, err, strlen(err));
        return false;
    }
    if (j->feed.since_foreign) {
        sio_metrics_observe(s, col, true, 0);
        resync_ack(k, id);
        return false;
    }
    if (not_modified(k, id, j)) {
        sio_metrics_observe(s, col, false, 0);
        return false;
    }
    return true;
}

/* An identical request being rendered from the data this one would read:
 * j waits for that answer (true; the caller frees j). Otherwise j becomes
 * the rendering later ones may wait for. opts: the event's options, feed
 * options already taken out. */
static bool join(struct sio *s, struct sio_job *j, const json_t *opts)
{
    const uint64_t *vers;
    if (sio_feed_any(&j->feed) || !(vers = sio_answers_versions(&s->answers, s->o.cache, s->rd)))
        return false;
    uint16_t *ids = xmalloc(s->o.schema->n_models * sizeof *ids);
    size_t n;
    uint64_t version = sio_feed_version(&j->plan, vers, ids, &n);
    free(ids);
    /* Normalized: the same options in another key order or spacing are
     * the same request. */
    char *text = opts ? json_dumps(opts, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    struct buf key;
    buf_init(&key, 0);
    buf_puts(&key, j->col->event);
    buf_putc(&key, ' ');
    buf_puts(&key, text ? text : "null");
    free(text);
    struct sio_join *e = sio_joins_find(&s->joins, buf_slice(&key), version);
    if (e)
        sio_join_wait(&s->joins, e, j->h, j->ack_id, j->t0_us);
    else
        sio_joins_add(&s->joins, j, buf_slice(&key), version);
    buf_fini(&key);
    return e != NULL;
}

/* A client may ask without waiting for its answers, but not without
 * bound: one event past max_inflight_per_session ends the session
 * (logged once, here). */
static int inflight_check(struct sio_socket *k)
{
    unsigned max = k->srv->o.max_inflight_per_session;
    if (k->inflight < max)
        return 0;
    log_warn(LOG_SIO,
             "session %s (%s) closed: event %u while %u are being rendered, over "
             "max_inflight_per_session %u",
             k->sid, k->addr, k->inflight + 1, k->inflight, max);
    k->close_why = "max_inflight_per_session";
    return -EPROTO;
}

static int dispatch(struct sio_socket *k, uint64_t id, const struct sio_event *ev,
                    struct slice args)
{
    struct sio *s = k->srv;
    if (slice_eq((struct slice){(const uint8_t *)ev->name, ev->name_len}, slice_str("subscribe"))) {
        sio_subs_subscribe(k, id, ev->opts);
        return 0;
    }
    if (slice_eq((struct slice){(const uint8_t *)ev->name, ev->name_len}, slice_str("unsubscribe"))) {
        sio_subs_unsubscribe(k, id, ev->opts);
        return 0;
    }
    const struct collector *col = collector_find(s->o.collectors, ev->name, ev->name_len);
    char err[512];
    if (!col) {
        sio_metrics_observe(s, NULL, true, 0);
        int n = snprintf(err, sizeof err, "Unknown event: %.*s", (int)ev->name_len, ev->name);
        send_error_ack(k, id, err, n < (int)sizeof err ? (size_t)n : sizeof err - 1);
        return 0;
    }
    if (s->draining) {
        send_error_ack(k, id, "Server is shutting down", 23);
        return 0;
    }
    struct sio_job *j = xcalloc(1, sizeof *j);
    buf_init(&j->key, 0);
    if (!request_parse(k, id, ev, col, j)) {
        sio_job_free(j);
        return 0;
    }
    if (inflight_check(k) < 0) {
        sio_job_free(j);
        return -EPROTO;
    }
    j->h = k->h;
    j->ack_id = id;
    /* Answers with versions are not kept: asOf moves with every poll. */
    if (s->answers.cap_bytes && !sio_feed_any(&j->feed))
        buf_append(&j->key, args.p, args.len);
    j->col = col;
    j->t0_us = clock_mono_us();
    k->inflight++;
    s->inflight++;
    /* Rendered here, it is done before another request could join it. */
    if (sio_job_run_here(s, j)) {
        /* Finished as a worker's answer is: the engine takes it from the
         * results (sio_socket_result_next) once this message is handled. */
        __atomic_fetch_add(&s->joins.here, 1, __ATOMIC_RELAXED);
        j->node.next = s->results;
        s->results = &j->node;
        return 0;
    }
    if (join(s, j, ev->opts)) {
        s->inflight--;
        sio_job_free(j);
        return 0;
    }
    sio_pool_submit(&s->pool, &j->node);
    return 0;
}

static int on_event(struct sio_socket *k, const struct sio_packet *p)
{
    /* Events outside a connected namespace, and events nobody waits for,
     * get nothing, as from the Node server. */
    bool answer = k->state == SOCK_CONNECTED && slice_eq(p->nsp, slice_str("/")) && p->has_id;
    /* Only text that parsed and rendered before is ever found here. */
    if (answer && answer_reuse(k, p->id, p->data))
        return 0;
    struct sio_event ev;
    if (sio_event_decode(p->data, &ev) < 0)
        return close_malformed(k, "invalid EVENT payload");
    int rc = answer ? dispatch(k, p->id, &ev, p->data) : 0;
    sio_event_fini(&ev);
    return rc;
}

/* Payload checks for packets we otherwise ignore (socket.io-parser's
 * isPayloadValid): an ACK carries an array, a CONNECT_ERROR a string or
 * an object. */
static int check_json_type(struct sio_socket *k, struct slice data, int want_a, int want_b)
{
    if (!data.len)
        return 0;
    json_t *v = json_loadb((const char *)data.p, data.len, JSON_DECODE_ANY, NULL);
    bool ok = v && ((int)json_typeof(v) == want_a || (int)json_typeof(v) == want_b);
    json_decref(v);
    return ok ? 0 : close_malformed(k, "invalid packet payload");
}

int sio_socket_message(struct sio_socket *k, struct slice data)
{
    struct sio_packet p;
    int rc = sio_packet_decode(data, &p);
    if (rc == -ENOTSUP) {
        log_info(LOG_SIO, "session %s: binary Socket.IO packet refused, closing", k->sid);
        k->close_why = "binary packet";
        return -EPROTO;
    }
    if (rc < 0)
        return close_malformed(k, "malformed Socket.IO packet");
    switch (p.type) {
    case SIO_CONNECT:
        return on_connect(k, &p);
    case SIO_EVENT:
        return on_event(k, &p);
    case SIO_DISCONNECT:
        if (sio_disconnect_check(&p) < 0)
            return close_malformed(k, "DISCONNECT with a payload");
        if (slice_eq(p.nsp, slice_str("/"))) {
            k->state = SOCK_NONE;
            sio_subs_fini(k); /* subscriptions belong to the joined namespace */
        }
        return 0;
    case SIO_ACK:
        return check_json_type(k, p.data, JSON_ARRAY, JSON_ARRAY);
    case SIO_CONNECT_ERROR:
        return check_json_type(k, p.data, JSON_STRING, JSON_OBJECT);
    default:
        return close_malformed(k, "unexpected packet type");
    }
}

/* ---- answers from the workers ------------------------------------------------ */

struct sio_job *sio_socket_result_next(struct sio *s)
{
    if (!s->results)
        s->results = sio_pool_results(&s->pool);
    struct sio_job *j = (struct sio_job *)s->results;
    if (!j)
        return NULL;
    s->results = j->node.next;
    if (!j->joined)
        s->inflight--;
    if (j->kind != SIO_JOB_ANSWER)
        return j;
    sio_metrics_observe(s, j->col, j->failed, clock_mono_us() - j->t0_us);
    if (j->joined)
        return j;
    sio_joins_done(&s->joins, j, &s->results);
    if (j->from_cache && !j->failed)
        sio_answers_put(&s->answers, buf_slice(&j->key), j->tail, &j->deps, j->col);
    return j;
}

void sio_socket_answered(struct sio_socket *k, struct sio_job *j)
{
    if (j->kind == SIO_JOB_CHANGE) {
        sio_subs_changed(k, j);
        return;
    }
    if (k->inflight)
        k->inflight--;
    out_push(k, sio_pkt_ack(j->tail, j->ack_id));
    sio_job_free(j);
}
