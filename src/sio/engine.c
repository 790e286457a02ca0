/*
 * Engine.IO behaviour of a session: heartbeat answers, the upgrade from
 * polling to websocket, client-initiated close, and handing messages to
 * the Socket.IO layer. Anything engine.io would call a parse error closes
 * the session.
 *
 * The Socket.IO layer below never calls up: after every call into it the
 * packets it produced are moved from the socket's queue onto the
 * session's, a refusal it wants delayed is timed here, and the answers
 * the workers finish are pulled from it (sio_engine_results).
 */
#include "sio/sio_int.h"

#include <errno.h>

#include "log.h"

/* A client that asks faster than it reads would have the server hold
 * every answer for it: past max_session_buffer_bytes queued beyond the
 * packet its transport is writing, the session ends (logged once, here).
 * The queue's head is the packet the transport writes next (a transport
 * takes one off the queue when it starts writing it): it does not count,
 * or an idle session's one answer over the limit (a 57 MB fetchCompanies,
 * well under max_answer_mb) would close the session it was asked on. */
static int buffer_check(struct sio_session *ss)
{
    const struct sio *s = ss->srv;
    size_t head = ss->outq.head ? sio_pkt_len(ss->outq.head) : 0;
    if (ss->outq.bytes - head <= s->o.max_session_buffer_bytes)
        return 0;
    log_warn(LOG_SIO,
             "session %s (%s) closed: %.1f MiB in %zu packets queued and not read, over "
             "max_session_buffer_mb %zu",
             ss->sid, ss->sock.addr, (double)ss->outq.bytes / (1 << 20), ss->outq.n,
             s->o.max_session_buffer_bytes >> 20);
    sio_session_close(ss, "max_session_buffer_mb");
    return -1;
}

/* Moves what the socket layer queued onto the session, in order; -1 when
 * that closed the session (ss is freed). */
static int socket_flush(struct sio_session *ss)
{
    if (!ss->sock.out.n)
        return 0;
    sio_pktq_take(&ss->outq, &ss->sock.out);
    if (buffer_check(ss) < 0)
        return -1;
    sio_session_kick(ss);
    return 0;
}

static void subs_tick_start(struct sio *s);

static void auth_delay_cb(struct sio_timer *t)
{
    struct sio_session *ss = lws_container_of(t, struct sio_session, auth_delay);
    sio_socket_refuse(&ss->sock);
    (void)socket_flush(ss);
}

static int socket_message(struct sio_session *ss, struct slice data)
{
    struct sio *s = ss->srv;
    struct sio_socket *k = &ss->sock;
    if (sio_socket_message(k, data) < 0) {
        sio_session_close(ss, k->close_why);
        return -1;
    }
    if (k->refuse_after_ms) {
        sio_timer_start(s->ev, &ss->auth_delay, auth_delay_cb, k->refuse_after_ms);
        k->refuse_after_ms = 0;
    }
    subs_tick_start(s);
    sio_handle h = ss->h;
    if (socket_flush(ss) < 0)
        return -1;
    /* An answer rendered right here (sio_job_run_here) goes out now: no
     * wake-up would bring it. Its queue may close the session. */
    if (s->results)
        sio_engine_results(s);
    return sio_session_get(s, h) ? 0 : -1;
}

/* Ends a parked polling GET with a noop ("6"). */
static void release_get_noop(struct sio_session *ss)
{
    if (ss->get_wsi)
        sio_conn_release_get(ss->get_wsi, &ss->srv->writing, sio_pkt_lit("6"));
    ss->get_wsi = NULL;
}

void sio_engine_poll_parked(struct sio_session *ss)
{
    /* During an upgrade no poll may wait. engine.io-client pauses polling
     * when it reads 3probe, lets its pending poll end, and only then sends
     * "5". The noop sent at the probe travels on the poll's connection and
     * 3probe on the websocket's (perhaps through another loop): when the
     * noop is read first the client polls again, and were that poll to
     * wait, the upgrade and the paused client would stall until the next
     * ping. engine.io's server answers every poll during an upgrade with a
     * noop (a 100 ms check); here each is answered as it arrives. */
    if (ss->upgrading && !ss->outq.n)
        sio_pktq_push(&ss->outq, sio_pkt_lit("6"));
    sio_session_kick(ss);
}

/* As engine.io's upgradeTimeout: an upgrade left unfinished (a client that
 * probed and never sent "5") gives up its websocket, and the session, no
 * longer upgrading, lets its polls wait again instead of answering each
 * with a noop. */
static void upgrade_wait_cb(struct sio_timer *t)
{
    struct sio_session *ss = lws_container_of(t, struct sio_session, upgrade_wait);
    log_debug(LOG_SIO, "session %s: upgrade_timeout passed before the upgrade completed, closing "
              "its websocket", ss->sid);
    if (ss->probe_wsi)
        sio_conn_close_req(ss->probe_wsi, &ss->srv->writing, LWS_CLOSE_STATUS_NORMAL);
    sio_engine_probe_end(ss);
}

void sio_engine_probe_open(struct sio_session *ss, struct lws *w)
{
    ss->probe_wsi = w;
    if (ss->srv->o.upgrade_timeout_ms) /* 0: no limit, as connect_timeout */
        sio_timer_start(ss->srv->ev, &ss->upgrade_wait, upgrade_wait_cb, ss->srv->o.upgrade_timeout_ms);
}

void sio_engine_probe_end(struct sio_session *ss)
{
    ss->probe_wsi = NULL;
    ss->upgrading = false;
    sio_timer_stop(ss->srv->ev, &ss->upgrade_wait);
}

/* Packets on a websocket that is not (yet) the session's transport. The
 * client proves the websocket works (2probe -> 3probe), we release the
 * pending polling GET with a noop so the client stops polling (and any
 * GET after it: sio_engine_poll_parked), and the client's "5" moves the
 * session over. Anything else ends the attempt but
 * not the session, as engine.io does. */
static void probe_packet(struct sio_session *ss, struct lws *from, const struct eio_packet *p)
{
    struct sio_conn *c = lws_wsi_user(from);
    if (p->type == EIO_PING && slice_eq(p->data, slice_str("probe"))) {
        sio_pktq_push(&c->resp, sio_pkt_lit("3probe"));
        lws_callback_on_writable(from);
        ss->upgrading = true;
        sio_session_send(ss, sio_pkt_lit("6"));
        return;
    }
    if (p->type == EIO_UPGRADE && ss->upgrading) {
        ss->transport = SIO_T_WEBSOCKET;
        ss->ws_wsi = from;
        sio_engine_probe_end(ss);
        /* A GET that raced the upgrade is answered with a noop: whatever
         * is queued now belongs to the websocket. */
        release_get_noop(ss);
        sio_session_kick(ss);
        return;
    }
    log_debug(LOG_SIO, "session %s: upgrade aborted by packet type %d", ss->sid, (int)p->type);
    sio_engine_probe_end(ss);
    sio_conn_close_req(from, &ss->srv->writing, LWS_CLOSE_STATUS_NORMAL);
}

int sio_engine_packet(struct sio_session *ss, struct lws *from, const struct eio_packet *p)
{
    if (from && from == ss->probe_wsi) {
        probe_packet(ss, from, p);
        return 0;
    }
    switch (p->type) {
    case EIO_PONG:
        sio_session_pong(ss);
        return 0;
    case EIO_MESSAGE:
        return socket_message(ss, p->data);
    case EIO_CLOSE:
        /* The client asked for the close: its parked GET ends with a
         * noop, as engine.io's polling transport answers it. */
        release_get_noop(ss);
        sio_session_close(ss, "closed by client");
        return -1;
    case EIO_PING:
        /* v4 heartbeats go server -> client; a ping outside an upgrade
         * means the client speaks another protocol revision. */
        sio_session_close(ss, "invalid heartbeat direction");
        return -1;
    case EIO_OPEN:
    case EIO_UPGRADE:
    case EIO_NOOP:
        return 0;
    }
    return 0;
}

int sio_engine_message(struct sio_session *ss, struct lws *from, struct slice msg)
{
    struct eio_packet p;
    int rc = sio_eio_decode(msg, &p);
    if (rc < 0) {
        if (rc == -ENOTSUP)
            log_info(LOG_SIO, "session %s: binary message refused, closing", ss->sid);
        sio_session_close(ss, "parse error");
        return -1;
    }
    return sio_engine_packet(ss, from, &p);
}

int sio_engine_payload(struct sio_session *ss, struct lws *from, struct slice body)
{
    struct slice rest = body, seg;
    bool started = false;
    while (sio_eio_payload_next(&rest, &seg, &started))
        if (sio_engine_message(ss, from, seg) < 0)
            return -1;
    return 0;
}

void sio_engine_results(struct sio *s)
{
    struct sio_job *j;
    while ((j = sio_socket_result_next(s))) {
        /* The session may be gone (client left mid-query): the handle's
         * generation no longer matches and the answer is dropped. */
        struct sio_session *ss = sio_session_get(s, j->h);
        if (!ss) {
            sio_job_free(j);
            continue;
        }
        if (j->kind == SIO_JOB_CHANGE)
            s->subs_again = true; /* more may have been committed meanwhile */
        sio_socket_answered(&ss->sock, j);
        (void)socket_flush(ss);
    }
}

/* While anyone subscribes: after each commit, every subscription whose
 * models moved gets a change job, unless its session still has
 * SIO_SUBS_BACKLOG packets its client has not taken: then it waits, and
 * the changes meanwhile coalesce into its next event. */
static void subs_tick_cb(struct sio_timer *t)
{
    struct sio *s = lws_container_of(t, struct sio, subs_tick);
    if (!s->n_subs) {
        s->subs_ticking = false;
        return;
    }
    uint64_t txn = cache_versions_newest_txn(s->o.cache);
    const uint64_t *vers;
    if ((txn != s->subs_txn || s->subs_again) && !s->draining &&
        (vers = sio_answers_versions(&s->answers, s->o.cache, s->rd))) {
        s->subs_txn = txn;
        s->subs_again = false;
        for (uint32_t i = 0; i < s->n_slots; i++) {
            struct sio_session *ss = s->slots[i];
            if (!ss || !ss->sock.n_subs)
                continue;
            if (ss->outq.n >= SIO_SUBS_BACKLOG || sio_subs_poll(&ss->sock, vers))
                s->subs_again = true;
            (void)socket_flush(ss);
        }
    }
    sio_timer_start(s->ev, &s->subs_tick, subs_tick_cb, SIO_SUBS_TICK_MS);
}

static void subs_tick_start(struct sio *s)
{
    if (s->n_subs && !s->subs_ticking && s->o.cache) {
        s->subs_ticking = true;
        s->subs_txn = 0;
        sio_timer_start(s->ev, &s->subs_tick, subs_tick_cb, SIO_SUBS_TICK_MS);
    }
}
