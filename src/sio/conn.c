/*
 * Per-connection state (lws per_session_data): what a connection owns
 * (a polling answer being streamed, a websocket message being assembled
 * or written) and the requests made to it from the session side. Every
 * layer may touch a connection through these; none of them calls up.
 */
#include "sio/sio_int.h"

void sio_conn_busy(struct sio_conn *c, unsigned *writing, bool busy)
{
    if (c->busy == busy)
        return;
    c->busy = busy;
    if (busy)
        (*writing)++;
    else
        (*writing)--;
}

void sio_conn_reset(struct sio_conn *c, unsigned *writing)
{
    sio_conn_busy(c, writing, false);
    sio_pktq_clear(&c->resp);
    sio_pkt_free(c->tx);
    buf_fini(&c->rx);
    *c = (struct sio_conn){0};
}

void sio_conn_close_req(struct lws *wsi, int code)
{
    struct sio_conn *c = lws_wsi_user(wsi);
    if (!c)
        return;
    c->ws_close = true;
    c->ws_close_code = code;
    lws_callback_on_writable(wsi);
}

void sio_conn_release_get(struct lws *wsi, struct sio_pkt *p)
{
    struct sio_conn *c = lws_wsi_user(wsi);
    if (!c || c->resp_started) {
        sio_pkt_free(p);
        return;
    }
    sio_pktq_push(&c->resp, p);
    c->resp_started = true;
    c->h = 0;
    lws_callback_on_writable(wsi);
}
