/*
 * Socket.IO on the main namespace: CONNECT with PSK authentication,
 * EVENT dispatch to the collectors, acks. Malformed packets close the
 * session, as socket.io's server does when its parser throws.
 *
 * Event dispatch is split in two: the request is parsed into a plan here,
 * on the loop thread (cheap, and a bad request is answered at once); the
 * rendering, which may read a hundred thousand rows or go to SQL, runs on
 * a worker (worker.c) that hands back the finished ack packet.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static int close_malformed(struct sio_session *ss, const char *what)
{
    log_debug(LOG_SIO, "session %s: %s, closing", ss->sid, what);
    sio_session_close(ss, what);
    return -1;
}

static void send_error_ack(struct sio_session *ss, uint64_t id, const char *msg, size_t len)
{
    struct sio_tail *t = sio_tail_new();
    sio_ack_error_tail(&t->b, msg, len);
    sio_session_send(ss, sio_pkt_ack(t, id));
    sio_tail_unref(t);
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
static bool psk_accepted(const struct sio_session *ss, const json_t *auth)
{
    const char *want = ss->srv->o.psk;
    const json_t *v = auth ? json_object_get(auth, "psk") : NULL;
    if (v && truthy(v))
        return json_is_string(v) && sio_psk_equal(want, json_string_value(v), json_string_length(v));
    if (ss->hdr_psk && ss->hdr_psk[0])
        return sio_psk_equal(want, ss->hdr_psk, strlen(ss->hdr_psk));
    if (ss->query_psk && ss->query_psk[0])
        return sio_psk_equal(want, ss->query_psk, strlen(ss->query_psk));
    return false;
}

static void send_unauthorized(struct sio_session *ss)
{
    struct sio_pkt *p = sio_pkt_new();
    sio_connect_error_encode(&p->b, slice_str("/"), "Unauthorized");
    sio_session_send(ss, p);
}

static void auth_delay_cb(struct sio_timer *t)
{
    struct sio_session *ss = lws_container_of(t, struct sio_session, auth_delay);
    ss->sock = SOCK_NONE;
    send_unauthorized(ss);
}

static void refuse(struct sio_session *ss)
{
    struct sio *s = ss->srv;
    unsigned delay = sio_auth_fail(&s->auth, ss->addr, sio_now_ms());
    log_info(LOG_SIO, "refused CONNECT from %s: bad or missing PSK%s", ss->addr,
             delay ? " (answer delayed)" : "");
    if (!delay) {
        send_unauthorized(ss);
        return;
    }
    /* Repeated failures from one address are answered late, so guessing
     * the key costs the guesser time; nothing else waits meanwhile. */
    ss->sock = SOCK_AUTH_WAIT;
    sio_timer_start(s, &ss->auth_delay, auth_delay_cb, delay);
}

static int on_connect(struct sio_session *ss, const struct sio_packet *p)
{
    json_t *auth;
    if (sio_connect_decode(p->data, &auth) < 0)
        return close_malformed(ss, "CONNECT payload is not an object");
    if (!slice_eq(p->nsp, slice_str("/"))) {
        json_decref(auth);
        struct sio_pkt *e = sio_pkt_new();
        sio_connect_error_encode(&e->b, p->nsp, "Invalid namespace");
        sio_session_send(ss, e);
        return 0;
    }
    if (ss->sock != SOCK_NONE) {
        json_decref(auth);
        return close_malformed(ss, "second CONNECT");
    }
    const char *psk = ss->srv->o.psk;
    bool ok = !psk || !psk[0] || psk_accepted(ss, auth);
    json_decref(auth);
    if (!ok) {
        refuse(ss);
        return 0;
    }
    sio_id_random(ss->sock_id);
    ss->sock = SOCK_CONNECTED;
    struct sio_pkt *r = sio_pkt_new();
    sio_connect_ok_encode(&r->b, ss->sock_id);
    sio_session_send(ss, r);
    return 0;
}

void sio_socket_fini(struct sio_session *ss)
{
    sio_timer_stop(ss->srv, &ss->auth_delay);
    ss->sock = SOCK_NONE;
}

/* ---- EVENT ------------------------------------------------------------------ */

/* An identical request, none of whose models changed since its answer
 * was rendered: the kept tail goes out at once, on the loop, without
 * parsing the request, reading LMDB, waking a worker or copying it. */
static bool answer_reuse(struct sio_session *ss, uint64_t id, struct slice args)
{
    struct sio *s = ss->srv;
    const struct collector *col;
    const uint64_t *vers;
    struct sio_tail *t;
    if (!s->answers.cap_bytes || s->draining ||
        !(vers = sio_answers_versions(&s->answers, s->o.cache, s->rd)) ||
        !(t = sio_answers_get(&s->answers, args, vers, &col)))
        return false;
    sio_metrics_observe(s, col, false, 0);
    sio_session_send(ss, sio_pkt_ack(t, id));
    return true;
}

static void dispatch(struct sio_session *ss, uint64_t id, const struct sio_event *ev, struct slice args)
{
    struct sio *s = ss->srv;
    const struct collector *col = collector_find(s->o.collectors, ev->name, ev->name_len);
    char err[512];
    if (!col) {
        sio_metrics_observe(s, NULL, true, 0);
        int n = snprintf(err, sizeof err, "Unknown event: %.*s", (int)ev->name_len, ev->name);
        send_error_ack(ss, id, err, n < (int)sizeof err ? (size_t)n : sizeof err - 1);
        return;
    }
    if (s->draining) {
        send_error_ack(ss, id, "Server is shutting down", 23);
        return;
    }
    struct sio_job *j = xcalloc(1, sizeof *j);
    err[0] = '\0';
    if (cache_plan_parse(&j->plan, col, ev->opts, err, sizeof err) < 0) {
        sio_metrics_observe(s, col, true, 0);
        free(j);
        send_error_ack(ss, id, err, strlen(err));
        return;
    }
    j->h = ss->h;
    j->ack_id = id;
    buf_init(&j->key, 0);
    if (s->answers.cap_bytes)
        buf_append(&j->key, args.p, args.len);
    j->col = col;
    j->t0_us = sio_metrics_now_us();
    ss->inflight++;
    sio_workers_submit(s, j);
}

static int on_event(struct sio_session *ss, const struct sio_packet *p)
{
    /* Events outside a connected namespace, and events nobody waits for,
     * get nothing, as from the Node server. */
    bool answer = ss->sock == SOCK_CONNECTED && slice_eq(p->nsp, slice_str("/")) && p->has_id;
    /* Only text that parsed and rendered before is ever found here. */
    if (answer && answer_reuse(ss, p->id, p->data))
        return 0;
    struct sio_event ev;
    if (sio_event_decode(p->data, &ev) < 0)
        return close_malformed(ss, "invalid EVENT payload");
    if (answer)
        dispatch(ss, p->id, &ev, p->data);
    sio_event_fini(&ev);
    return 0;
}

/* Payload checks for packets we otherwise ignore (socket.io-parser's
 * isPayloadValid): an ACK carries an array, a CONNECT_ERROR a string or
 * an object. */
static int check_json_type(struct sio_session *ss, struct slice data, int want_a, int want_b)
{
    if (!data.len)
        return 0;
    json_t *v = json_loadb((const char *)data.p, data.len, JSON_DECODE_ANY, NULL);
    bool ok = v && ((int)json_typeof(v) == want_a || (int)json_typeof(v) == want_b);
    json_decref(v);
    return ok ? 0 : close_malformed(ss, "invalid packet payload");
}

int sio_socket_message(struct sio_session *ss, struct slice data)
{
    struct sio_packet p;
    int rc = sio_packet_decode(data, &p);
    if (rc == -ENOTSUP) {
        log_info(LOG_SIO, "session %s: binary Socket.IO packet refused, closing", ss->sid);
        sio_session_close(ss, "binary packet");
        return -1;
    }
    if (rc < 0)
        return close_malformed(ss, "malformed Socket.IO packet");
    switch (p.type) {
    case SIO_CONNECT:
        return on_connect(ss, &p);
    case SIO_EVENT:
        return on_event(ss, &p);
    case SIO_DISCONNECT:
        if (sio_disconnect_check(&p) < 0)
            return close_malformed(ss, "DISCONNECT with a payload");
        if (slice_eq(p.nsp, slice_str("/")))
            sio_socket_fini(ss);
        return 0;
    case SIO_ACK:
        return check_json_type(ss, p.data, JSON_ARRAY, JSON_ARRAY);
    case SIO_CONNECT_ERROR:
        return check_json_type(ss, p.data, JSON_STRING, JSON_OBJECT);
    default:
        return close_malformed(ss, "unexpected packet type");
    }
}

void sio_socket_answer(struct sio_session *ss, struct sio_pkt *p)
{
    if (ss->inflight)
        ss->inflight--;
    sio_session_send(ss, p);
}
