/*
 * DESIGN
 *
 * One libwebsockets context with one vhost and one protocol serves every
 * connection: HTTP requests (the route table in http.c) and websockets
 * (ws.c) arrive at the same callback below, which only dispatches.
 *
 * The service loop runs in the thread that calls sio_run() and never
 * blocks: requests are parsed here, rendered on worker threads (job.c on
 * the pool of worker.c), and the finished jobs come back through the
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
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#include "clock.h"
#include "log.h"

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
        return sio_http_request(s, wsi, c, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return sio_polling_body(s, c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return sio_polling_body_done(s, wsi, c);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return sio_polling_writeable(s, wsi, c);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c)
            sio_polling_closed(s, wsi, c);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return sio_upgrade_confirm(s, wsi, in);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return c ? sio_upgrade_filter(s, wsi, c) : -1;
    case LWS_CALLBACK_ESTABLISHED:
        return sio_ws_established(s, wsi, c);
    case LWS_CALLBACK_RECEIVE:
        return sio_ws_receive(s, wsi, c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return sio_ws_writeable(s, wsi, c);
    case LWS_CALLBACK_CLOSED:
        if (c)
            sio_ws_closed(s, wsi, c);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (c)
            sio_conn_reset(c, &s->writing);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        sio_engine_results(s);
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

static int context_create(struct sio *s, char *err, size_t errlen)
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

/* The result queue's wake-up (any thread): lws_cancel_service() lands in
 * the loop as LWS_CALLBACK_EVENT_WAIT_CANCELLED. */
static void wake_loop(void *arg)
{
    struct sio *s = arg;
    lws_cancel_service(s->ctx);
}

int sio_new(struct sio **out, const struct sio_opts *o, char *err, size_t errlen)
{
    struct sio *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->auth.base_ms = o->auth_delay_ms;
    s->auth.max_ms = o->auth_delay_max_ms;
    s->models = xcalloc(o->schema->n_models ? o->schema->n_models : 1, sizeof *s->models);
    collector_set_models(o->collectors, o->schema, s->models);
    s->metrics = sio_metrics_new(o->collectors);
    sio_answers_init(&s->answers, o->cache ? o->answer_cache_bytes : 0);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    int rc = context_create(s, err, errlen);
    if (rc == 0 && o->cache && cache_rd_new(o->cache, &s->rd) < 0) {
        snprintf(err, errlen, "cannot open a cache read handle");
        rc = -EIO;
    }
    if (rc == 0)
        rc = sio_pool_start(&s->pool, o->workers, &sio_job_ops, s, wake_loop, s, err, errlen);
    if (rc < 0) {
        sio_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int sio_port(const struct sio *s) { return s->vh ? lws_get_vhost_listen_port(s->vh) : -1; }

void sio_stop(struct sio *s)
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

int sio_run(struct sio *s)
{
    log_info(LOG_SIO, "listening on port %d", sio_port(s));
    while (!s->stop_req)
        turn(s);
    drain(s);
    return 0;
}

void sio_free(struct sio *s)
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
    if (s->ctx) {
        sio_sessions_fini(s);
        lws_context_destroy(s->ctx);
    }
    if (s->ev) {
        sio_timer_stop(s->ev, &s->subs_tick);
        ev_loop_destroy(s->ev);
    }
    cache_rd_free(s->rd);
    sio_metrics_free(s->metrics);
    sio_answers_fini(&s->answers);
    sio_joins_fini(&s->joins);
    free(s->models);
    free(s);
}
