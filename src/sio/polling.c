/*
 * Engine.IO over HTTP under /socket.io: the handshake, the long-polling
 * transport and the checks engine.io makes on each request.
 *
 * A polling GET either waits (its wsi is parked on the session until a
 * packet is queued) or streams the queued packets from WRITEABLE in
 * SIO_WRITE_CHUNK slices with a Content-Length, so one large answer never
 * holds up the loop. A POST body is assembled up to maxPayload and handed
 * to the engine whole.
 *
 * Compression (http_compression, engine.io's httpCompression): an answer
 * of at least the threshold goes out gzip- or deflate-encoded when the
 * GET accepts it. It is compressed first, SIO_ZSTEP plain bytes per
 * WRITEABLE callback (the loop keeps turning), then sent with its
 * Content-Length like any other; engine.io compresses the whole payload
 * too. Each ack tail is compressed as a copy and spliced in (compress.c),
 * so a kept answer's copy (answers.c) is made once and reused.
 */
#include "sio/sio_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

/* Plain bytes compressed per WRITEABLE callback: a few milliseconds. */
#define SIO_ZSTEP (256 * 1024)

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

/* A header longer than any real one is taken as absent. */
enum sio_zenc sio_polling_zenc(const struct sio *s, struct lws *wsi)
{
    char b[512];
    if (!s->o.http_compression)
        return SIO_Z_NONE;
    return sio_z_choose(lws_hdr_copy(wsi, b, sizeof b, WSI_TOKEN_HTTP_ACCEPT_ENCODING) > 0 ? b
                                                                                          : NULL);
}

static int poll_get(struct sio *s, struct lws *wsi, struct sio_conn *c, struct sio_session *ss)
{
    if (ss->get_wsi) {
        /* Overlapping polls: engine.io closes the session. */
        sio_session_close(ss, "overlapping GET");
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    }
    c->kind = CONN_POLL_GET;
    c->h = ss->h;
    c->zenc = sio_polling_zenc(s, wsi);
    ss->get_wsi = wsi;
    /* The session's heartbeat bounds how long a poll may wait, not lws. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    sio_engine_poll_parked(ss);
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
    c->h = ss->h;
    int rc = sio_polling_post_start(s, wsi, c);
    return rc > 0 ? sio_polling_body_done(s, wsi, c) : rc;
}

int sio_polling_post_start(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    c->kind = CONN_POLL_POST;
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
    return len <= 0; /* 1: no body will follow */
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
    if (sio_route_foreign(s, sid))
        return SIO_HTTP_ROUTE; /* another loop's session: route.c mails it there */
    struct sio_session *ss = sio_session_by_sid(s, sid, strlen(sid));
    if (!ss)
        return sio_respond_eio_error(wsi, c, EIO_ERR_SID_UNKNOWN);
    if (strcmp(t, "polling") || ss->transport != SIO_T_POLLING)
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST); /* transport mismatch */
    if (m == SIO_M_GET)
        return poll_get(s, wsi, c, ss);
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

int sio_polling_body_end(struct lws *wsi, struct sio_conn *c)
{
    if (c->kind != CONN_POLL_POST)
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    c->kind = CONN_SIMPLE;
    if (c->rx_too_big) {
        /* engine.io answers 413 and keeps the session. */
        buf_fini(&c->rx);
        return sio_respond(wsi, c, 413, "text/plain", NULL, 0, NULL, NULL);
    }
    return SIO_BODY_OK;
}

int sio_polling_body_done(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    int rc = sio_polling_body_end(wsi, c);
    if (rc != SIO_BODY_OK)
        return rc;
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

/* With compression on, what is sent depends on Accept-Encoding: caches
 * are told so (Vary), compressed or not. */
static int resp_headers(const struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    uint8_t hdr[LWS_PRE + 1024];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    size_t len = c->z ? c->z->out.len : resp_total(&c->resp);
    if (lws_add_http_common_headers(wsi, 200, "text/plain; charset=UTF-8", len, &p, end) ||
        (c->z && sio_hdr_add(wsi, "content-encoding:", sio_z_name(c->z->enc), &p, end)) ||
        sio_cors_headers(wsi, c, s->o.http_compression ? "Accept-Encoding" : NULL, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
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

/* Feeds the body of packet p, from c->resp_off, into the answer: at most
 * *budget plain bytes are compressed. An ack tail goes through its copy:
 * the kept one when there is one, else one made now and offered to
 * answers.c. True when p is all in. */
static bool zfeed(struct sio *s, struct sio_conn *c, struct sio_pkt *p, size_t *budget)
{
    if (p->tail && !c->ztail && sio_answers_zsplice(&s->answers, p->tail, c->z))
        return true;
    if (p->tail && !c->ztail)
        c->ztail = sio_z_new(SIO_Z_NONE);
    const struct buf *b = p->tail ? &p->tail->b : &p->b;
    size_t n = b->len - c->resp_off < *budget ? b->len - c->resp_off : *budget;
    sio_z_put(p->tail ? c->ztail : c->z, buf_data(b) + c->resp_off, n);
    c->resp_off += n;
    *budget -= n;
    if (c->resp_off < b->len)
        return false;
    if (p->tail) {
        sio_z_finish(c->ztail);
        sio_z_splice(c->z, c->ztail);
        sio_answers_zcopy_keep(&s->answers, p->tail, &c->ztail);
    }
    return true;
}

/* One step of compressing the answer; the packets are freed as they go in. */
static void zstep(struct sio *s, struct sio_conn *c)
{
    size_t budget = SIO_ZSTEP;
    while (c->resp.n && budget) {
        struct sio_pkt *p = c->resp.head;
        if (!c->zhead) {
            if (c->resp_sep)
                sio_z_put(c->z, (const char[]){EIO_SEPARATOR}, 1);
            if (p->tail)
                sio_z_put(c->z, p->prefix, p->prefix_len);
            c->zhead = true;
        }
        if (!zfeed(s, c, p, &budget))
            return;
        sio_pkt_free(sio_pktq_pop(&c->resp));
        c->resp_off = 0;
        c->resp_sep = true;
        c->zhead = false;
    }
    if (!c->resp.n) {
        sio_z_finish(c->z);
        c->zdone = true;
    }
}

/* One slice of the compressed body. The bytes in front of it were sent
 * already, so lws may write its headroom over them. */
static int zchunk(struct lws *wsi, struct sio_conn *c, bool *done)
{
    const struct buf *b = &c->z->out;
    size_t n = b->len - c->resp_off < SIO_WRITE_CHUNK ? b->len - c->resp_off : SIO_WRITE_CHUNK;
    bool last = c->resp_off + n == b->len;
    if (lws_write(wsi, buf_data(b) + c->resp_off, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) <
        0)
        return -1;
    c->resp_off += n;
    *done = last;
    return 0;
}

void sio_polling_answer(struct sio *s, struct sio_conn *c, struct sio_pktq *q)
{
    sio_pktq_take(&c->resp, q);
    c->resp_started = true;
    if (c->zenc != SIO_Z_NONE && resp_total(&c->resp) >= s->o.http_compression_threshold)
        c->z = sio_z_new(c->zenc);
}

int sio_polling_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (c->kind != CONN_POLL_GET)
        return 0;
    if (!c->resp_started) {
        struct sio_session *ss = sio_session_get(s, c->h);
        if (!ss || !ss->outq.n)
            return 0;
        ss->get_wsi = NULL;
        sio_polling_answer(s, c, &ss->outq);
    }
    if (!c->resp.n && !c->z)
        return 0;
    sio_conn_busy(c, &s->writing, true);
    if (c->z && !c->zdone) {
        zstep(s, c);
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (!c->resp_hdrs) {
        if (resp_headers(s, wsi, c) < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    bool done = false;
    if ((c->z ? zchunk(wsi, c, &done) : resp_chunk(wsi, c, &done)) < 0)
        return -1;
    if (!done) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    sio_conn_busy(c, &s->writing, false);
    c->kind = CONN_SIMPLE;
    c->resp_started = c->resp_hdrs = c->zdone = false;
    sio_z_free(c->z);
    c->z = NULL;
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
