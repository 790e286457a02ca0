#pragma once
/*
 * The Socket.IO server: Engine.IO v4 (HTTP long-polling, websocket and the
 * upgrade between them) and Socket.IO v5 on the main namespace, served by
 * one libwebsockets context, answering collector events from the LMDB
 * cache (or the live fallback) on a small pool of worker threads.
 *
 * Threads: sio_run() runs the service loops (`loops` of them: the first
 * in the calling thread, each other one in a thread of its own) until
 * sio_stop() is called (from any thread or a signal handler). Workers are
 * started by sio_new() and joined by sio_free().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cache/cache.h"
#include "collector.h"
#include "poller/poller.h"
#include "schema.h"

struct sio_opts {
    const char *bind;              /* interface or address; NULL: all */
    int port;                      /* 0: the kernel picks one (see sio_port()) */
    const char *tls_cert, *tls_key;/* both set: https/wss */
    unsigned ping_interval_ms;     /* Engine.IO pingInterval (25000) */
    unsigned ping_timeout_ms;      /* Engine.IO pingTimeout (20000) */
    unsigned connect_timeout_ms;   /* Socket.IO connectTimeout (45000; 0: none) */
    unsigned upgrade_timeout_ms;   /* Engine.IO upgradeTimeout (10000) */
    size_t max_payload;            /* Engine.IO maxPayload (1000000) */
    unsigned loops;                /* service loops, one thread each (0: one per online core) */
    unsigned workers;              /* query worker threads (2), split over the loops */
    size_t answer_cache_bytes;     /* rendered answers kept for identical requests (0: none) */
    size_t answer_buffer_bytes;    /* freed answer buffers kept for the next answers (0: none) */
    size_t max_answer_bytes;       /* larger answers are refused with an error (0: no limit) */
    size_t max_session_buffer_bytes; /* queued for a client beyond what is being written:
                                      * past it the session is closed */
    unsigned max_inflight_per_session; /* events being rendered: one more closes the session */
    unsigned inline_render_rows;   /* answers reading at most this many rows render on the loop
                                    * (0: always on a worker) */
    const char *psk;               /* NULL or "": no authentication (caller checked the flag) */
    const char *cors_origins;      /* comma-separated allow-list; NULL/"": echo any Origin */
    bool http_compression;         /* engine.io's httpCompression: gzip/deflate polling answers */
    size_t http_compression_threshold; /* smaller answers go out as they are (1024) */
    bool ws_permessage_deflate;    /* offer RFC 7692 on websockets (engine.io's perMessageDeflate) */
    unsigned auth_delay_ms;        /* first delay after repeated PSK failures (250) */
    unsigned auth_delay_max_ms;    /* cap of the exponential delay (8000) */
    unsigned shutdown_timeout_ms;  /* bounded wait for in-flight acks on stop (5000) */
    unsigned max_staleness_s;      /* readiness: a model matched the source at most this long ago */

    const struct schema *schema;
    const struct collector_set *collectors;
    struct cache *cache;
    struct poller_live *live;      /* live fallback for cold models; may be NULL (then cold = error) */
};

struct sio_server;

/* Creates the loops' lws contexts (binds the port) and starts the
 * workers. -EADDRINUSE/-EACCES/-EINVAL etc. with a message in err. */
int sio_new(struct sio_server **out, const struct sio_opts *o, char *err, size_t errlen) MUST_CHECK;
/* The port actually bound (useful with port 0). */
int sio_port(const struct sio_server *srv);
/* Serves until sio_stop(); then every loop drains its in-flight acks
 * (bounded) and 0 is returned. */
int sio_run(struct sio_server *srv) MUST_CHECK;
/* Async-signal-safe: asks sio_run() to finish. */
void sio_stop(struct sio_server *srv);
/* Joins the workers, closes every session, destroys the contexts; accepts NULL. */
void sio_free(struct sio_server *srv);
