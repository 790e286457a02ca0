/*
 * Engine.IO over HTTP under /socket.io: the handshake, the long-polling
 * transport and the checks engine.io makes on each request.
 *
 * A polling GET either waits (its wsi is parked on the session until a
 * packet is queued) or streams the queued packets from WRITEABLE in
 * SIO_WRITE_CHUNK slices with a Content-Length, so one large answer never
 * holds up the loop. A POST body is assembled up to maxPayload and handed
 * to the engine whole.
 */
#include "sio/sio_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

/* ---- requests ------------------------------------------------------------------ */

static int handshake(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (s->draining)
        return sio_respond_text(wsi, c, 503, "text/plain", "shutting down");
    struct sio_session *ss = sio_session_open(s, wsi, SIO_T_POLLING);
    struct buf b;
    buf_init(&b, 0);
    sio_eio_open_encode(&b, ss->sid, true, s->o.ping_interval_ms, s->o.ping_timeout_ms,
                        s->o.max_payload);
    int rc = sio_respond(wsi, c, 200, "text/plain; charset=UTF-8", buf_data(&b), b.len, NULL,
                         NULL);
    buf_fini(&b);
    return rc;
}

static int poll_get(struct lws *wsi, struct sio_conn *c, struct sio_session *ss)
{
    if (ss->get_wsi) {
        /* Overlapping polls: engine.io closes the session. */
        sio_session_close(ss, "overlapping GET");
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    }
    c->kind = CONN_POLL_GET;
    c->h = ss->h;
    ss->get_wsi = wsi;
    /* The session's heartbeat bounds how long a poll may wait, not lws. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    if (ss->outq.n)
        lws_callback_on_writable(wsi);
    return 0;
}

/* The request's Content-Length; -1 when absent or not a number. */
static long content_length(struct lws *wsi)
{
    char b[32];
    uint64_t v;
    if (lws_hdr_copy(wsi, b, sizeof b, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
        num_parse_u64(b, LONG_MAX, &v) < 0)
        return -1;
    return (long)v;
}

static bool chunked(struct lws *wsi)
{
    char b[64];
    return lws_hdr_copy(wsi, b, sizeof b, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 &&
           strstr(b, "chunked");
}

static int poll_post(struct sio *s, struct lws *wsi, struct sio_conn *c, struct sio_session *ss)
{
    char ct[128];
    if (lws_hdr_copy(wsi, ct, sizeof ct, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
        strncmp(ct, "application/octet-stream", 24) == 0) {
        sio_session_close(ss, "binary POST");
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    }
    c->kind = CONN_POLL_POST;
    c->h = ss->h;
    buf_init(&c->rx, 0);
    long len = content_length(wsi);
    if (len < 0 && chunked(wsi)) {
        /* lws 4.1 does not decode chunked request bodies; engine.io
         * clients always send a length. The unread body makes the
         * connection unusable, so it is closed after the answer. */
        c->kind = CONN_SIMPLE;
        sio_respond_text(wsi, c, 411, "text/plain", "Content-Length required");
        return -1;
    }
    c->rx_too_big = len > 0 && (size_t)len > s->o.max_payload;
    if (len <= 0)
        return sio_polling_body_done(s, wsi, c); /* no body will follow */
    return 0;
}

int sio_polling_request(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m)
{
    char tb[32], sb[64];
    if (m == SIO_M_OPTIONS)
        return sio_cors_preflight(wsi, c);
    const char *t = sio_http_arg(wsi, "transport=", tb, sizeof tb);
    if (!t || (strcmp(t, "polling") && strcmp(t, "websocket")))
        return sio_respond_eio_error(wsi, c, EIO_ERR_TRANSPORT_UNKNOWN);
    const char *sid = sio_http_arg(wsi, "sid=", sb, sizeof sb);
    if (!sid) {
        if (m != SIO_M_GET)
            return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_HANDSHAKE_METHOD);
        if (strcmp(t, "polling"))
            return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST); /* websocket without upgrade */
        if (!sio_eio_version_ok(wsi))
            return sio_respond_eio_error(wsi, c, EIO_ERR_UNSUPPORTED_PROTOCOL);
        return handshake(s, wsi, c);
    }
    struct sio_session *ss = sio_session_by_sid(s, sid, strlen(sid));
    if (!ss)
        return sio_respond_eio_error(wsi, c, EIO_ERR_SID_UNKNOWN);
    if (strcmp(t, "polling") || ss->transport != SIO_T_POLLING)
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST); /* transport mismatch */
    if (m == SIO_M_GET)
        return poll_get(wsi, c, ss);
    if (m == SIO_M_POST)
        return poll_post(s, wsi, c, ss);
    return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
}

/* ---- POST bodies ------------------------------------------------------------------ */

int sio_polling_body(struct sio *s, struct sio_conn *c, const void *in, size_t len)
{
    if (c->kind != CONN_POLL_POST || c->rx_too_big)
        return 0;
    if (c->rx.len + len > s->o.max_payload) {
        c->rx_too_big = true;
        buf_fini(&c->rx);
        return 0;
    }
    buf_append(&c->rx, in, len);
    return 0;
}

int sio_polling_body_done(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (c->kind != CONN_POLL_POST)
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    c->kind = CONN_SIMPLE;
    if (c->rx_too_big) {
        /* engine.io answers 413 and keeps the session. */
        buf_fini(&c->rx);
        return sio_respond(wsi, c, 413, "text/plain", NULL, 0, NULL, NULL);
    }
    struct sio_session *ss = sio_session_get(s, c->h);
    if (!ss) {
        buf_fini(&c->rx);
        return sio_respond_eio_error(wsi, c, EIO_ERR_SID_UNKNOWN);
    }
    (void)sio_engine_payload(ss, wsi, buf_slice(&c->rx));
    buf_fini(&c->rx);
    return sio_respond_text(wsi, c, 200, "text/html", "ok");
}

/* ---- streaming a GET's answer ------------------------------------------------------ */

static size_t resp_total(const struct sio_pktq *q)
{
    size_t n = 0;
    for (const struct sio_pkt *p = q->head; p; p = p->next)
        n += sio_pkt_len(p) + (p != q->head);
    return n;
}

static int resp_headers(struct lws *wsi, struct sio_conn *c)
{
    uint8_t hdr[LWS_PRE + 1024];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, 200, "text/plain; charset=UTF-8", resp_total(&c->resp),
                                    &p, end) ||
        sio_cors_headers(wsi, c, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    c->resp_hdrs = true;
    c->resp_off = 0;
    c->resp_sep = false;
    return 0;
}

/* One slice of the body. Every packet after the first is written with the
 * \x1e separator stored in its spare headroom byte. */
static int resp_chunk(struct lws *wsi, struct sio_conn *c, bool *done)
{
    struct sio_pkt *p = c->resp.head;
    size_t len = sio_pkt_len(p) + c->resp_sep;
    size_t n = len - c->resp_off < SIO_WRITE_CHUNK ? len - c->resp_off : SIO_WRITE_CHUNK;
    bool last = c->resp_off + n == len && c->resp.n == 1;
    if (sio_pkt_write(wsi, p, c->resp_sep, c->resp_off, n,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
        return -1;
    c->resp_off += n;
    if (c->resp_off == len) {
        sio_pkt_free(sio_pktq_pop(&c->resp));
        c->resp_off = 0;
        c->resp_sep = true;
    }
    *done = last;
    return 0;
}

int sio_polling_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (c->kind != CONN_POLL_GET)
        return 0;
    if (!c->resp_started) {
        struct sio_session *ss = sio_session_get(s, c->h);
        if (!ss || !ss->outq.n)
            return 0;
        sio_pktq_take(&c->resp, &ss->outq);
        ss->get_wsi = NULL;
        c->resp_started = true;
    }
    if (!c->resp.n)
        return 0;
    sio_conn_busy(c, &s->writing, true);
    if (!c->resp_hdrs) {
        if (resp_headers(wsi, c) < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    bool done = false;
    if (resp_chunk(wsi, c, &done) < 0)
        return -1;
    if (!done) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    sio_conn_busy(c, &s->writing, false);
    c->kind = CONN_SIMPLE;
    c->resp_started = c->resp_hdrs = false;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void sio_polling_closed(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_session *ss = c->h ? sio_session_get(s, c->h) : NULL;
    /* A poll that goes away before its answer was complete loses packets:
     * engine.io closes the session then ("poll connection closed
     * prematurely"), and so do we. */
    if (ss && c->kind == CONN_POLL_GET && (ss->get_wsi == wsi || c->resp_started)) {
        if (ss->get_wsi == wsi)
            ss->get_wsi = NULL;
        sio_session_close(ss, "poll connection closed prematurely");
    }
    sio_conn_reset(c, &s->writing);
}
