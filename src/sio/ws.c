/*
 * The websocket transport. A message is assembled from lws fragments up
 * to maxPayload (beyond: close 1009, as the ws library does for Node);
 * binary frames are refused. Outgoing packets are written one fragment of
 * at most SIO_WRITE_CHUNK bytes per WRITEABLE callback (TEXT, then
 * CONTINUATION with NO_FIN until the last), so a large answer interleaves
 * with every other connection's traffic.
 */
#include "sio/sio_int.h"

#include "log.h"

int sio_ws_established(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_session *ss = sio_session_get(s, c->h);
    if (c->kind != CONN_WS || !ss)
        return -1;
    if (ss->transport == SIO_T_WEBSOCKET && !ss->ws_wsi) {
        /* Opened directly on websocket: the handshake goes out here. */
        ss->ws_wsi = wsi;
        struct sio_pkt *p = sio_pkt_new();
        sio_eio_open_encode(&p->b, ss->sid, false, s->o.ping_interval_ms, s->o.ping_timeout_ms,
                            s->o.max_payload);
        sio_session_send(ss, p);
        return 0;
    }
    if (ss->transport != SIO_T_POLLING || ss->probe_wsi)
        return -1;
    sio_engine_probe_open(ss, wsi);
    return 0;
}

enum sio_ws_rx sio_ws_assemble(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in,
                               size_t len)
{
    if (lws_frame_is_binary(wsi))
        return SIO_WS_BINARY;
    if (c->rx.len + len > s->o.max_payload) {
        static const char why[] = "Max payload size exceeded";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                         sizeof why - 1);
        return SIO_WS_TOO_BIG;
    }
    buf_append(&c->rx, in, len);
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return SIO_WS_PART;
    return SIO_WS_MSG;
}

void sio_ws_refused(struct sio_session *ss, struct lws *wsi, enum sio_ws_rx why)
{
    if (why == SIO_WS_BINARY) {
        log_info(LOG_SIO, "session %s: binary websocket frame refused, closing", ss->sid);
        sio_session_close(ss, "binary frame");
        return;
    }
    log_info(LOG_SIO, "session %s: websocket message over maxPayload, closing", ss->sid);
    if (wsi != ss->probe_wsi) /* a probe that fails leaves the session polling */
        sio_session_close(ss, "message too large");
}

int sio_ws_receive(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in, size_t len)
{
    struct sio_session *ss = sio_session_get(s, c->h);
    if (!ss || c->ws_close)
        return ss ? 0 : -1;
    enum sio_ws_rx rx = sio_ws_assemble(s, wsi, c, in, len);
    if (rx == SIO_WS_PART)
        return 0;
    if (rx != SIO_WS_MSG) {
        sio_ws_refused(ss, wsi, rx);
        return rx == SIO_WS_TOO_BIG ? -1 : 0;
    }
    /* The connection owns the message: the session may close while it is
     * being handled. */
    struct buf msg = c->rx;
    buf_init(&c->rx, 0);
    (void)sio_engine_message(ss, wsi, buf_slice(&msg));
    buf_fini(&msg);
    return 0;
}

static struct sio_pkt *next_packet(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_pkt *p = sio_pktq_pop(&c->resp);
    if (p)
        return p;
    struct sio_session *ss = sio_session_get(s, c->h);
    if (ss && ss->ws_wsi == wsi && ss->transport == SIO_T_WEBSOCKET)
        return sio_pktq_pop(&ss->outq);
    return NULL;
}

static bool more_to_write(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (c->tx || c->resp.n)
        return true;
    struct sio_session *ss = sio_session_get(s, c->h);
    return ss && ss->ws_wsi == wsi && ss->outq.n;
}

int sio_ws_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (c->ws_close) {
        lws_close_reason(wsi, (enum lws_close_status)c->ws_close_code, NULL, 0);
        return -1;
    }
    if (!c->tx) {
        c->tx = next_packet(s, wsi, c);
        c->tx_off = 0;
        if (!c->tx) {
            sio_conn_busy(c, &s->writing, false);
            return 0;
        }
        sio_conn_busy(c, &s->writing, true);
    }
    size_t len = sio_pkt_len(c->tx), left = len - c->tx_off;
    size_t n = left < SIO_WRITE_CHUNK ? left : SIO_WRITE_CHUNK;
    int flags = c->tx_off ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT;
    if (n < left)
        flags |= LWS_WRITE_NO_FIN;
    if (sio_pkt_write(wsi, c->tx, false, c->tx_off, n, (enum lws_write_protocol)flags) < 0)
        return -1;
    c->tx_off += n;
    if (c->tx_off == len) {
        sio_pkt_free(c->tx);
        c->tx = NULL;
    }
    if (more_to_write(s, wsi, c))
        lws_callback_on_writable(wsi);
    else
        sio_conn_busy(c, &s->writing, false);
    return 0;
}

void sio_ws_closed(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_session *ss = sio_session_get(s, c->h);
    if (ss) {
        if (ss->ws_wsi == wsi) {
            ss->ws_wsi = NULL;
            sio_session_close(ss, "transport close");
        } else if (ss->probe_wsi == wsi) {
            sio_engine_probe_end(ss);
        }
    }
    sio_conn_reset(c, &s->writing);
}
