/*
 * One-shot timers on the server's libev loop (heartbeats, the delayed
 * auth refusal, the connect timeout). Loop thread only.
 */
#include "sio/sio_int.h"

static void timer_fired(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct sio_timer *t = lws_container_of(w, struct sio_timer, w);
    t->cb(t);
}

void sio_timer_start(struct ev_loop *ev, struct sio_timer *t, sio_timer_cb *cb, unsigned ms)
{
    ev_timer_stop(ev, &t->w);
    ev_timer_init(&t->w, timer_fired, ms / 1000.0, 0.);
    t->cb = cb;
    ev_timer_start(ev, &t->w);
}

void sio_timer_stop(struct ev_loop *ev, struct sio_timer *t) { ev_timer_stop(ev, &t->w); }

