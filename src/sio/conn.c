/*
 * Per-connection state (lws per_session_data): what a connection owns
 * (a polling answer being streamed, a websocket message being assembled
 * or written) and the requests made to it from the session side. Every
 * layer may touch a connection through these; none of them calls up.
 */
#include "sio/sio_int.h"

void sio_conn_busy(struct sio_conn *c, struct sio_writing *w, bool busy)
{
    if (c->busy == busy)
        return;
    c->busy = busy;
    if (busy) {
        c->w_prev = NULL;
        c->w_next = w->head;
        if (w->head)
            w->head->w_prev = c;
        w->head = c;
        w->n++;
        return;
    }
    if (c->w_prev)
        c->w_prev->w_next = c->w_next;
    else
        w->head = c->w_next;
    if (c->w_next)
        c->w_next->w_prev = c->w_prev;
    c->w_prev = c->w_next = NULL;
    w->n--;
}

void sio_conn_reset(struct sio_conn *c, struct sio_writing *w)
{
    sio_conn_busy(c, w, false);
    sio_pktq_clear(&c->resp);
    sio_pkt_free(c->tx);
    buf_fini(&c->rx);
    sio_z_free(c->z);
    sio_z_free(c->ztail);
    *c = (struct sio_conn){0};
}

void sio_conn_close_req(struct lws *wsi, struct sio_writing *w, int code)
{
    struct sio_conn *c = lws_wsi_user(wsi);
    if (!c)
        return;
    c->ws_close = true;
    c->ws_close_code = code;
    /* Until the close frame has left: the drain waits for it. */
    sio_conn_busy(c, w, true);
    lws_callback_on_writable(wsi);
}

void sio_conn_release_get(struct lws *wsi, struct sio_writing *w, struct sio_pkt *p)
{
    struct sio_conn *c = lws_wsi_user(wsi);
    if (!c || c->resp_started) {
        sio_pkt_free(p);
        return;
    }
    sio_pktq_push(&c->resp, p);
    c->resp_started = true;
    c->h = 0;
    sio_conn_busy(c, w, true);
    lws_callback_on_writable(wsi);
}

void sio_conn_unsent(const struct sio_writing *w, bool polling, size_t *answers, size_t *bytes)
{
    for (const struct sio_conn *c = w->head; c; c = c->w_next) {
        if ((c->kind == CONN_POLL_GET) != polling)
            continue;
        *answers += sio_pktq_acks(&c->resp);
        if (c->resp.n) /* a GET's body: the separators, less what is written */
            *bytes += c->resp.bytes + c->resp.n - 1 + c->resp_sep - c->resp_off;
        if (c->tx) {
            *answers += c->tx->tail != NULL;
            *bytes += sio_pkt_len(c->tx) - c->tx_off;
        }
    }
}
