/*
 * DESIGN
 *
 * One libwebsockets context with one vhost and one protocol serves every
 * connection: HTTP requests (the route table in http.c) and websockets
 * (ws.c) arrive at the same callback below, which only dispatches.
 *
 * The service loop runs in the thread that calls sio_run() and never
 * blocks: requests are parsed here, rendered on worker threads (job.c on
 * the pool of worker.c; only answers of at most inline_render_rows rows
 * of one warm model are rendered here, a fraction of a millisecond for
 * 5000), and the finished jobs come back through the
 * pool's result queue (queue.h), whose wake-up is lws_cancel_service():
 * it lands here as LWS_CALLBACK_EVENT_WAIT_CANCELLED and the engine hands
 * the answers to their sessions. Per-session timers (heartbeat, the
 * delayed auth refusal; timer.c) are libev timers on the same loop, so
 * all session state is touched by this one thread.
 *
 * The files are layered (sio_int.h lists them): transports (this file,
 * http/polling/upgrade/ws) call the engine (engine.c, session.c), which
 * calls the Socket.IO layer (socket.c), which submits jobs to the pool.
 * Nothing calls up: what a lower layer produces is returned, or queued
 * for the layer above to take.
 *
 * The loop is libev's (epoll), which lws drives as a "foreign" loop. lws'
 * own loop calls poll() on every connection at every turn: with 50 busy
 * clients that was half the server's CPU, where epoll costs only per
 * ready connection. Being foreign, the loop is turned here, one ev_run()
 * turn at a time so the stop flag is seen, and lws leaves SIGINT to us.
 *
 * Sessions are named by handles (slot + generation) everywhere outside
 * the session table; a connection or a job that outlives its session
 * finds nothing and drops its data.
 *
 * Shutdown: sio_stop() sets a flag and wakes the loop. The loop then
 * refuses new sessions and new events, waits (bounded) for the answers
 * accepted before to be rendered and written, closes every session (1001
 * after the last whole frame), gives the close frames a bounded time to
 * leave and returns; the caller stops the poller and frees the server
 * (workers joined before the context is destroyed).
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "clock.h"
#include "log.h"

/* An HTTP request starts: a link kept from the connection's previous
 * request (another loop's session) is let go first. */
static int http_request(struct sio *s, struct lws *wsi, struct sio_conn *c, const char *path)
{
    if (c->link)
        sio_route_release(s, wsi, c);
    int rc = sio_http_request(s, wsi, c, path);
    /* Only SIO_HTTP_ROUTE leaves c untouched: an answer written may end
     * the transaction, and lws then frees the connection's user data. */
    return rc == SIO_HTTP_ROUTE ? sio_route_poll(s, wsi, c) : rc;
}

static int upgrade_filter(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    int rc = sio_upgrade_filter(s, wsi, c);
    if (rc == 0 && c->kind == CONN_WS && !c->h)
        sio_route_ws_bind(s, wsi, c);
    return rc;
}

static void release(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (c && c->link)
        sio_route_release(s, wsi, c);
}

/* A socket accepted here sends what it is given at once (TCP_NODELAY), as
 * lws's own listener's sockets (one loop) and Node's do: under Nagle's
 * algorithm the last piece of an answer written in more than one
 * (SIO_WRITE_CHUNK) waited for the client's delayed ACK, 40 ms, so every
 * answer over 32 KiB took 40 ms more than its bytes (docs/query.md).
 * lws 4.1 sets no option on a socket it adopts. */
static void no_delay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        log_debug(LOG_SIO, "TCP_NODELAY on socket %d: %s", fd, strerror(errno));
}

/* Connections bound to another loop's session (c->link) go to route.c;
 * stand-ins (raw files) exist only for route.c. */
static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    struct sio *s = ctx ? lws_context_user(ctx) : NULL;
    struct sio_conn *c = user;
    if (!s)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return http_request(s, wsi, c, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return sio_polling_body(s, c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return c->link ? sio_route_body_done(s, wsi, c) : sio_polling_body_done(s, wsi, c);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (c->link && c->kind != CONN_POLL_GET)
            return sio_route_http_writeable(s, wsi, c);
        return sio_polling_writeable(s, wsi, c);
    case LWS_CALLBACK_CLOSED_HTTP:
        release(s, wsi, c);
        if (c)
            sio_polling_closed(s, wsi, c);
        return 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* The transaction is over and lws frees the user data. */
        if (c && c->kind != CONN_WS)
            release(s, wsi, c);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return sio_upgrade_confirm(s, wsi, in);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return c ? upgrade_filter(s, wsi, c) : -1;
    case LWS_CALLBACK_ESTABLISHED:
        return c->link ? sio_route_ws_established(s, wsi, c) : sio_ws_established(s, wsi, c);
    case LWS_CALLBACK_RECEIVE:
        return c->link ? sio_route_ws_receive(s, wsi, c, in, len)
                       : sio_ws_receive(s, wsi, c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return sio_ws_writeable(s, wsi, c);
    case LWS_CALLBACK_CLOSED:
        release(s, wsi, c);
        if (c)
            sio_ws_closed(s, wsi, c);
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE_FILE:
        return c && c->link ? sio_route_standin_writeable(s, wsi, c) : -1;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        release(s, wsi, c);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        release(s, wsi, c);
        if (c)
            sio_conn_reset(c, &s->writing);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        sio_engine_results(s);
        sio_route_mail(s);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"cwcache-sio", callback, sizeof(struct sio_conn), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws speaks through our log: its errors and warnings only. */
static void lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        log_error("lws", "%.*s", (int)n, line);
    else
        log_warn("lws", "%.*s", (int)n, line);
}

/* RFC 7692, negotiated when the client offers it (ws_permessage_deflate). */
static const struct lws_extension pm_deflate[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate, "permessage-deflate"},
    {NULL, NULL, NULL},
};

static int context_create(struct sio *s, bool own_listener, char *err, size_t errlen)
{
    struct lws_context_creation_info info = {0};
    info.port = s->o.port;
    info.iface = s->o.bind && s->o.bind[0] ? s->o.bind : NULL;
    info.protocols = protocols;
    info.user = s;
    info.max_http_header_data = 8192;
    info.timeout_secs = 30;
    info.alpn = "http/1.1";
    if (s->o.ws_permessage_deflate)
        info.extensions = pm_deflate;
    s->ev = ev_loop_new(EVFLAG_AUTO);
    if (!s->ev) {
        snprintf(err, errlen, "cannot create the event loop");
        return -ENOMEM;
    }
    void *loops[1] = {s->ev};
    info.options |= LWS_SERVER_OPTION_LIBEV;
    info.foreign_loops = loops;
    /* Several loops: each has a listening socket of its own on the same
     * port (SO_REUSEPORT; lws 4.1 sets it only for its own SMP threads)
     * and adopts what it accepts, so the kernel spreads new connections
     * over the loops. One loop: lws listens, as it always did. */
    if (own_listener)
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    if (s->o.tls_cert && s->o.tls_cert[0]) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = s->o.tls_cert;
        info.ssl_private_key_filepath = s->o.tls_key;
    }
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        snprintf(err, errlen,
                 "cannot listen on %s:%d (address in use, bad TLS files, or the lws libev "
                 "plugin, package libwebsockets-evlib-ev, missing?)",
                 info.iface ? info.iface : "*", s->o.port);
        return -EADDRINUSE;
    }
    s->vh = lws_get_vhost_by_name(s->ctx, "default");
    return 0;
}

/* The loop's own listening socket is readable: every pending connection
 * is accepted and handed to lws, as its own listener would. */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct sio *s = w->data;
    int fd;
    while ((fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        no_delay(fd);
        if (!lws_adopt_socket_vhost(s->vh, fd))
            log_warn(LOG_SIO, "loop %u: a new connection could not be adopted", s->loop);
    }
}

static int listen_start(struct sio *s, char *err, size_t errlen)
{
    int rc = sio_listen_open(s->o.bind, s->o.port, &s->listen_fd, err, errlen);
    if (rc < 0)
        return rc;
    ev_io_init(&s->accept_w, on_accept, s->listen_fd, EV_READ);
    s->accept_w.data = s;
    ev_io_start(s->ev, &s->accept_w);
    return 0;
}

/* The result and mail queues' wake-up (any thread): lws_cancel_service()
 * lands in the loop as LWS_CALLBACK_EVENT_WAIT_CANCELLED. */
static void wake_loop(void *arg)
{
    struct sio *s = arg;
    lws_cancel_service(s->ctx);
}

int sio_loop_new(struct sio **out, struct sio_server *srv, unsigned idx, const struct sio_opts *o,
                 unsigned workers, char *err, size_t errlen)
{
    struct sio *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->loop = idx;
    s->server = srv;
    queue_init(&s->mail, wake_loop, s);
    s->auth.base_ms = o->auth_delay_ms;
    s->auth.max_ms = o->auth_delay_max_ms;
    s->models = xcalloc(o->schema->n_models ? o->schema->n_models : 1, sizeof *s->models);
    collector_set_models(o->collectors, o->schema, s->models);
    s->metrics = srv->metrics;
    if (idx == 0)
        lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    if (idx == 0)
        sio_answers_init(&s->answers, o->cache ? o->answer_cache_bytes : 0);
    else
        sio_answers_share(&s->answers, &srv->loops[0]->answers);
    s->listen_fd = -1;
    int rc = context_create(s, srv->n > 1, err, errlen);
    if (rc == 0 && srv->n > 1)
        rc = listen_start(s, err, errlen);
    if (rc == 0 && o->cache && cache_rd_new(o->cache, &s->rd) < 0) {
        snprintf(err, errlen, "cannot open a cache read handle");
        rc = -EIO;
    }
    if (rc == 0)
        rc = sio_pool_start(&s->pool, workers, &sio_job_ops, s, wake_loop, s, err, errlen);
    if (rc < 0) {
        sio_loop_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sio_loop_stop(struct sio *s)
{
    s->stop_req = 1;
    if (s->ctx)
        lws_cancel_service(s->ctx);
}

/* One turn of the loop: waits for events (or a timer, or a wake-up) and
 * runs their callbacks. */
static void turn(struct sio *s) { ev_run(s->ev, EVRUN_ONCE); }

static bool queues_empty(const struct sio *s)
{
    for (uint32_t i = 0; i < s->n_slots; i++)
        if (s->slots[i] && s->slots[i]->outq.n)
            return false;
    return true;
}

static void tick_fired(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
}

/* Answers not fully written: being rendered, queued on sessions, or on
 * websockets (polling: on GETs) part-way through. */
static void unsent(const struct sio *s, bool polling, size_t *answers, size_t *bytes)
{
    if (!polling) {
        *answers += s->inflight;
        sio_sessions_unsent(s, answers, bytes);
    }
    sio_conn_unsent(&s->writing, polling, answers, bytes);
}

/* Bounded: answers accepted before the stop, including those part-way
 * through being written, are finished within shutdown_timeout_ms. Then
 * every session is closed: a websocket gets close 1001 (going away)
 * after the last whole frame, never a connection that ends in the middle
 * of one, and a parked poll gets "1". Close frames wait behind what the
 * kernel already holds for a slow client, so they get a bounded grace of
 * their own to leave; a poll part-way through its answer may finish in
 * it. What did not make it is logged once. */
static void drain(struct sio *s)
{
    s->draining = true;
    int64_t deadline = clock_mono_ms() + s->o.shutdown_timeout_ms;
    /* Turns end at least every 20 ms, so the deadlines are seen. */
    ev_timer tick;
    ev_timer_init(&tick, tick_fired, 0.02, 0.02);
    ev_timer_start(s->ev, &tick);
    size_t answers = 0, bytes = 0;
    unsent(s, false, &answers, &bytes);
    unsent(s, true, &answers, &bytes);
    log_info(LOG_SIO, "draining: %zu answer(s) being rendered or written (%zu bytes rendered and unsent)",
             answers, bytes);
    while (clock_mono_ms() < deadline && (s->inflight || !queues_empty(s) || s->writing.n))
        turn(s);
    answers = bytes = 0;
    unsent(s, false, &answers, &bytes);
    sio_session_close_all(s);
    int64_t grace = clock_mono_ms() + SIO_CLOSE_GRACE_MS;
    while (clock_mono_ms() < grace && s->writing.n)
        turn(s);
    unsent(s, true, &answers, &bytes);
    if (answers)
        log_warn(LOG_SIO, "shutdown: dropped %zu answers, %zu bytes unsent (shutdown_timeout_ms %u)",
                 answers, bytes, s->o.shutdown_timeout_ms);
    ev_timer_stop(s->ev, &tick);
}

void sio_loop_run(struct sio *s)
{
    while (!s->stop_req)
        turn(s);
    drain(s);
}

void sio_loop_free(struct sio *s)
{
    if (!s)
        return;
    for (struct queue_node *n = sio_pool_stop(&s->pool), *next; n; n = next) {
        next = n->next;
        sio_job_free((struct sio_job *)n);
    }
    for (struct queue_node *n = s->results, *next; n; n = next) {
        next = n->next;
        sio_job_free((struct sio_job *)n);
    }
    sio_route_mail_fini(s);
    if (s->ctx) {
        sio_sessions_fini(s);
        lws_context_destroy(s->ctx);
    }
    sio_route_mail_fini(s); /* what closing connections mailed to themselves */
    queue_fini(&s->mail);
    if (s->listen_fd >= 0) {
        ev_io_stop(s->ev, &s->accept_w);
        close(s->listen_fd);
    }
    if (s->ev) {
        sio_timer_stop(s->ev, &s->subs_tick);
        ev_loop_destroy(s->ev);
    }
    cache_rd_free(s->rd);
    sio_answers_fini(&s->answers);
    sio_joins_fini(&s->joins);
    free(s->models);
    free(s);
}
