/*
 * Engine.IO sessions. A session lives in a slot of a growable table; its
 * handle is the slot plus a generation that moves on when the slot is
 * freed, so connections and worker results that outlive a session find
 * nothing instead of a dangling pointer. The sid embeds the slot (see
 * sio_id_make) and is checked in full, so a lookup costs no hashing.
 */
#include "sio/sio_int.h"

#include <assert.h>
#include <stdlib.h>

#include "log.h"

/* ---- the slot table --------------------------------------------------------- */

static uint32_t slot_alloc(struct sio *s)
{
    if (s->n_free)
        return s->free_slots[--s->n_free];
    /* The sid's slot word keeps the top bits for the loop: 16M sessions
     * per loop, far beyond what memory holds. */
    assert(s->n_slots < SIO_SLOT_MASK);
    if (s->n_slots == s->cap_slots) {
        uint32_t cap = s->cap_slots ? s->cap_slots * 2 : 64;
        s->slots = xrealloc(s->slots, cap * sizeof *s->slots);
        s->gens = xrealloc(s->gens, cap * sizeof *s->gens);
        s->free_slots = xrealloc(s->free_slots, cap * sizeof *s->free_slots);
        for (uint32_t i = s->cap_slots; i < cap; i++) {
            s->slots[i] = NULL;
            s->gens[i] = 1;
        }
        s->cap_slots = cap;
    }
    return s->n_slots++;
}

/* ---- heartbeat -------------------------------------------------------------- */

static void ping_cb(struct sio_timer *t)
{
    struct sio_session *ss = lws_container_of(t, struct sio_session, ping);
    if (ss->awaiting_pong) {
        sio_session_close(ss, "ping timeout");
        return;
    }
    sio_session_send(ss, sio_pkt_lit("2"));
    ss->awaiting_pong = true;
    sio_timer_start(ss->srv->ev, &ss->ping, ping_cb, ss->srv->o.ping_timeout_ms);
}

static void ping_start(struct sio_session *ss)
{
    ss->awaiting_pong = false;
    sio_timer_start(ss->srv->ev, &ss->ping, ping_cb, ss->srv->o.ping_interval_ms);
}

void sio_session_pong(struct sio_session *ss) { ping_start(ss); }

/* ---- opening ----------------------------------------------------------------- */

/* As the Node server's connectTimeout: a session that has not joined the
 * namespace in time is closed, so idle handshakes cannot pile up. */
static void connect_wait_cb(struct sio_timer *t)
{
    struct sio_session *ss = lws_container_of(t, struct sio_session, connect_wait);
    if (ss->sock.state != SOCK_CONNECTED)
        sio_session_close(ss, "no CONNECT within connect_timeout");
}

struct sio_session *sio_session_new(struct sio *s, enum sio_transport t)
{
    uint32_t slot = slot_alloc(s);
    struct sio_session *ss = xcalloc(1, sizeof *ss);
    ss->srv = s;
    ss->h = (sio_handle)s->gens[slot] << 32 | slot;
    ss->transport = t;
    sio_pktq_init(&ss->outq);
    sio_id_make(ss->sid, s->loop << SIO_LOOP_SHIFT | slot); /* the sid names its loop */
    sio_socket_init(&ss->sock, s, ss->h, ss->sid);
    s->slots[slot] = ss;
    s->n_sessions++;
    if (s->o.connect_timeout_ms)
        sio_timer_start(s->ev, &ss->connect_wait, connect_wait_cb, s->o.connect_timeout_ms);
    /* The heartbeat starts at once: it is also what reaps a session
     * whose client never comes back. */
    ping_start(ss);
    return ss;
}

static char *copy_custom(struct lws *wsi, const char *name)
{
    int n = lws_hdr_custom_length(wsi, name, (int)strlen(name));
    if (n <= 0)
        return NULL;
    char *v = xmalloc((size_t)n + 1);
    if (lws_hdr_custom_copy(wsi, v, n + 1, name, (int)strlen(name)) < 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* What the handshake request carried: the PSK sources besides auth.psk
 * and the peer address for the failure delay. */
static void handshake_capture(struct lws *wsi, struct sio_socket *k)
{
    char q[512];
    k->hdr_psk = copy_custom(wsi, "x-psk:");
    const char *v = lws_get_urlarg_by_name(wsi, "psk=", q, sizeof q);
    k->query_psk = v ? xstrdup(v) : NULL;
    lws_get_peer_simple(wsi, k->addr, sizeof k->addr);
}

struct sio_session *sio_session_open(struct sio *s, struct lws *wsi, enum sio_transport t)
{
    struct sio_session *ss = sio_session_new(s, t);
    handshake_capture(wsi, &ss->sock);
    log_debug(LOG_SIO, "session %s opened from %s (%s)", ss->sid, ss->sock.addr,
              t == SIO_T_POLLING ? "polling" : "websocket");
    return ss;
}

struct sio_session *sio_session_get(struct sio *s, sio_handle h)
{
    uint32_t slot = (uint32_t)h;
    if (!h || slot >= s->n_slots || s->gens[slot] != (uint32_t)(h >> 32))
        return NULL;
    return s->slots[slot];
}

struct sio_session *sio_session_by_sid(struct sio *s, const char *sid, size_t len)
{
    uint32_t w, slot;
    if (sio_id_slot(sid, len, &w) < 0 || w >> SIO_LOOP_SHIFT != s->loop)
        return NULL;
    slot = w & SIO_SLOT_MASK;
    if (slot >= s->n_slots || !s->slots[slot])
        return NULL;
    struct sio_session *ss = s->slots[slot];
    return memcmp(ss->sid, sid, SIO_ID_LEN) == 0 ? ss : NULL;
}

/* ---- sending ---------------------------------------------------------------- */

void sio_session_kick(struct sio_session *ss)
{
    if (!ss->outq.n)
        return;
    if (ss->transport == SIO_T_WEBSOCKET) {
        if (ss->ws_wsi)
            lws_callback_on_writable(ss->ws_wsi);
    } else if (ss->get_wsi) {
        lws_callback_on_writable(ss->get_wsi);
    }
}

void sio_session_send(struct sio_session *ss, struct sio_pkt *p)
{
    sio_pktq_push(&ss->outq, p);
    sio_session_kick(ss);
}

/* ---- closing ---------------------------------------------------------------- */

/* code: the websocket close status (going away at shutdown). */
static void close_with(struct sio_session *ss, const char *why, int code)
{
    struct sio *s = ss->srv;
    uint32_t slot = (uint32_t)ss->h;
    log_debug(LOG_SIO, "session %s closed: %s", ss->sid, why);
    sio_timer_stop(s->ev, &ss->ping);
    sio_timer_stop(s->ev, &ss->auth_delay);
    sio_timer_stop(s->ev, &ss->connect_wait);
    sio_timer_stop(s->ev, &ss->upgrade_wait);
    /* A pending GET learns about the close from a "1" packet, as
     * engine.io's polling transport sends it; the connection owns that
     * packet, so it is written even though the session is gone. */
    if (ss->get_wsi)
        sio_conn_release_get(ss->get_wsi, &s->writing, sio_pkt_lit("1"));
    if (ss->ws_wsi)
        sio_conn_close_req(ss->ws_wsi, &s->writing, code);
    if (ss->probe_wsi)
        sio_conn_close_req(ss->probe_wsi, &s->writing, code);
    sio_pktq_clear(&ss->outq);
    sio_socket_fini(&ss->sock);
    s->slots[slot] = NULL;
    s->gens[slot]++;
    s->free_slots[s->n_free++] = slot;
    s->n_sessions--;
    free(ss);
}

void sio_session_close(struct sio_session *ss, const char *why)
{
    close_with(ss, why, LWS_CLOSE_STATUS_NORMAL);
}

void sio_session_close_all(struct sio *s)
{
    for (uint32_t i = 0; i < s->n_slots; i++)
        if (s->slots[i])
            close_with(s->slots[i], "server shutdown", LWS_CLOSE_STATUS_GOINGAWAY);
}

void sio_sessions_unsent(const struct sio *s, size_t *answers, size_t *bytes)
{
    for (uint32_t i = 0; i < s->n_slots; i++) {
        const struct sio_session *ss = s->slots[i];
        if (!ss)
            continue;
        *answers += sio_pktq_acks(&ss->outq);
        *bytes += ss->outq.bytes;
    }
}

void sio_sessions_fini(struct sio *s)
{
    sio_session_close_all(s);
    free(s->slots);
    free(s->gens);
    free(s->free_slots);
    s->slots = NULL;
    s->gens = s->free_slots = NULL;
    s->n_slots = s->cap_slots = s->n_free = 0;
}
