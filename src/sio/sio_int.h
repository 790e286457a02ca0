#pragma once
/*
 * Internals of src/sio/: only this folder and tests/sio include it. The
 * codecs have their own headers (codec.h, auth.h) and need neither
 * libwebsockets nor libev.
 *
 * Files form layers; each calls only files below it (STYLE R13), and
 * results travel up only as return values or through a queue the upper
 * layer drains (tools/layers.py checks there is no circle). Top first:
 *
 *   loops.c     the server: its service loops, one thread each
 *   loop.c      a loop's lws context, the protocol callback, run/stop/drain
 *   http.c      HTTP route table, operator endpoints
 *   polling.c   Engine.IO over HTTP: handshake, long-polling GET/POST
 *   ws.c        websocket transport: message assembly, fragmented writes
 *   upgrade.c   the websocket handshake's checks, binding it to a session
 *   route.c     requests for a session another loop owns: mail both ways
 *   engine.c    Engine.IO packets of a session (heartbeat, upgrade, close);
 *               takes the Socket.IO layer's output and the workers' answers
 *   session.c   session table (sid <-> slot/generation), heartbeat, closing
 *   socket.c    Socket.IO: CONNECT/auth, EVENT dispatch, answers returned
 *   subs.c      subscriptions: "subscribe"/"unsubscribe", change jobs, coalescing
 *   job.c       an event's answer, rendered on a worker thread (small ones on the loop)
 *   feed.c      versions in answers: meta, ifNoneMatch, since, RESYNC
 *   probes.c    /healthz, /readyz
 *   status.c    GET /status, /status.json
 *   joins.c     identical requests waiting on one rendering
 *   answers.c   rendered answers reused while the LMDB store is unchanged
 *   conn.c      per-connection state: write bookkeeping, close requests
 *   respond.c   small complete HTTP answers, request arguments
 *   outq.c      outgoing packets (acks share their tails), queues, slice writes
 *   cors.c      CORS: allowed origins, headers, preflight
 *   compress.c  HTTP compression: the accepted encoding, deflate streams
 *   metrics.c   per-collector counters, GET /metrics
 *   worker.c    a plain thread pool: a job queue in, a result queue out
 *   timer.c     one-shot timers on the server's libev loop, the clock
 *   listen.c    the loops' shared-port listening sockets
 *   auth.c      ids, PSK compare, per-address failure delay      (auth.h)
 *   eio.c       Engine.IO v4 packet and payload codec            (codec.h)
 *   packet.c    Socket.IO v5 packet codec and payload validation (codec.h)
 */
#include <ev.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "queue.h"
#include "sio/auth.h"
#include "sio/codec.h"
#include "sio/sio.h"

struct sio;

/* ---- outgoing packets (outq.c) ---------------------------------------------- */

/* Room in front of each packet: LWS_PRE for the lws headers plus one byte
 * where the \x1e separator goes when the packet follows another one in a
 * polling response, so every packet is written in place. */
#define SIO_HEADROOM (LWS_PRE + 1)
/* Bytes per lws_write(): one big answer is streamed in slices so that
 * other connections get their turn between two of them. */
#define SIO_WRITE_CHUNK (32 * 1024)

/* An ack's tail (see outq.c): built by a worker, then shared by reference
 * by packets and kept answers (answers.c) on every service loop, so the
 * count is atomic and writes of it take its lock. */
#define SIO_TAIL_HEADROOM (SIO_HEADROOM + SIO_ACK_PREFIX_MAX)
struct sio_tail {
    atomic_uint refs;
    pthread_mutex_t write_mu; /* held while "43<id>" sits in the headroom */
    struct buf b; /* head == SIO_TAIL_HEADROOM: room for "43<id>" and lws */
    /* When the answer can be patched (cache/patch.c): its root rows, their
     * offsets relative to the data array at rows_at in b. Set by the
     * worker before the tail is shared; read-only after. */
    struct cache_rows rows;
    size_t rows_at;
    bool has_rows;
};

struct sio_tail *sio_tail_new(void); /* one reference, for the caller */
struct sio_tail *sio_tail_ref(struct sio_tail *t); /* another reference; returns t */
void sio_tail_unref(struct sio_tail *t); /* accepts NULL */
/* Bytes of freed tail buffers kept for later answers (outq.c); one budget per process. */
void sio_tail_spares_set(size_t cap_bytes);
size_t sio_tail_spares_bytes(void);

struct sio_pkt {
    struct sio_pkt *next;
    struct buf b;           /* a packet's own bytes, head == SIO_HEADROOM */
    struct sio_tail *tail;  /* an ack: prefix, then this (b stays empty) */
    uint8_t prefix_len;
    char prefix[SIO_ACK_PREFIX_MAX];
};

struct sio_pktq {             /* zero-initialised is empty */
    struct sio_pkt *head, *last;
    size_t n;
    size_t bytes;             /* sio_pkt_len() over the packets */
};

void sio_pktq_init(struct sio_pktq *q);
void sio_pktq_push(struct sio_pktq *q, struct sio_pkt *p);
struct sio_pkt *sio_pktq_pop(struct sio_pktq *q);
void sio_pktq_clear(struct sio_pktq *q);
void sio_pktq_take(struct sio_pktq *dst, struct sio_pktq *src); /* appends all of src */
size_t sio_pktq_acks(const struct sio_pktq *q); /* packets that are acks */
struct sio_pkt *sio_pkt_new(void);
/* A packet holding a short literal ("2", "3probe", "6", "1"). */
struct sio_pkt *sio_pkt_lit(const char *text);
/* The ack "43<id>" + t; takes its own reference to t. */
struct sio_pkt *sio_pkt_ack(struct sio_tail *t, uint64_t id);
void sio_pkt_free(struct sio_pkt *p);
size_t sio_pkt_len(const struct sio_pkt *p);
/* lws_write() of bytes [off, off + n) of p; with `sep` the packet is
 * preceded by the \x1e separator (polling), which off and n count. */
int sio_pkt_write(struct lws *wsi, struct sio_pkt *p, bool sep, size_t off, size_t n,
                  enum lws_write_protocol wp) MUST_CHECK;

/* ---- HTTP compression (compress.c) ------------------------------------------- */

enum sio_zenc { SIO_Z_NONE, SIO_Z_GZIP, SIO_Z_DEFLATE };

/* The encoding engine.io would pick for this Accept-Encoding value (NULL:
 * no header): gzip or deflate as the header allows and prefers; NONE when
 * it allows neither. */
enum sio_zenc sio_z_choose(const char *accept_encoding);
/* "gzip", "deflate"; NULL for NONE. */
const char *sio_z_name(enum sio_zenc e);

/* A deflate stream. enc GZIP or DEFLATE: a response body, framed as that
 * Content-Encoding. enc NONE: a copy, raw deflate of one piece (an ack
 * tail) that any body can take whole with sio_z_splice. */
struct z_stream_s;
struct sio_z {
    struct buf out;               /* compressed bytes so far; head == LWS_PRE */
    size_t len;                   /* plain bytes taken */
    uint32_t crc, adler;          /* of those bytes (the ones the framing needs) */
    enum sio_zenc enc;
    struct z_stream_s *zs;        /* NULL once finished */
};

struct sio_z *sio_z_new(enum sio_zenc enc);
void sio_z_put(struct sio_z *z, const void *p, size_t n);
/* Appends a finished copy's bytes without compressing them again. */
void sio_z_splice(struct sio_z *z, const struct sio_z *copy);
/* Ends the stream (a body gets its final block and trailer) and releases
 * the zlib state; out is then complete. */
void sio_z_finish(struct sio_z *z);
void sio_z_free(struct sio_z *z); /* accepts NULL */

/* ---- timers (timer.c) --------------------------------------------------------- */

/* A one-shot timer on the server's loop. Zero-initialised is stopped.
 * lws' own timers (lws_sul) are not used for ours: with a foreign libev
 * loop, lws 4.1 re-arms its single timer only when it is idle, so a new
 * deadline earlier than the armed one fired late. */
struct sio_timer;
typedef void sio_timer_cb(struct sio_timer *t);
struct sio_timer {
    ev_timer w;
    sio_timer_cb *cb;
};

void sio_timer_start(struct ev_loop *ev, struct sio_timer *t, sio_timer_cb *cb, unsigned ms);
void sio_timer_stop(struct ev_loop *ev, struct sio_timer *t);

/* ---- connections (conn.c) ----------------------------------------------------- */

/* A session handle: slot in the low 32 bits, generation in the high ones.
 * Connections and jobs hold handles, never pointers to sessions. */
typedef uint64_t sio_handle;

/* The connections with bytes left to write, or a close frame or a last
 * packet to send: the drain waits for them and counts what they could
 * not finish. */
struct sio_conn;
struct sio_writing {
    unsigned n;
    struct sio_conn *head;
};

/* Per-connection state (lws per_session_data). */
enum sio_conn_kind { CONN_NONE, CONN_SIMPLE, CONN_POLL_GET, CONN_POLL_POST, CONN_WS };

struct sio_conn {
    enum sio_conn_kind kind;
    sio_handle h;                 /* the session, or 0 */
    /* packets owned by this connection: a polling GET response being
     * streamed, or the replies of a websocket still being upgraded to */
    struct sio_pktq resp;
    bool busy;                    /* on the writing list (sio_conn_busy) */
    struct sio_conn *w_prev, *w_next;
    size_t resp_off;              /* offset into resp.head (incl. separator) */
    bool resp_sep;                /* resp.head is written with its leading \x1e */
    bool resp_hdrs;               /* headers written */
    bool resp_started;            /* the GET took its packets */
    /* POST body / websocket message assembly */
    struct buf rx;
    bool rx_too_big;
    /* websocket: the message being written */
    struct sio_pkt *tx;
    size_t tx_off;
    bool ws_close;                /* close with ws_close_code at the next WRITEABLE */
    int ws_close_code;
    char origin[256];             /* echoed by CORS; "" when none or not allowed */
    /* a polling GET's answer compressed before it is sent (polling.c) */
    enum sio_zenc zenc;           /* what the request accepts */
    struct sio_z *z;              /* the body; NULL: sent as it is */
    struct sio_z *ztail;          /* the copy of resp.head's tail being made */
    bool zhead;                   /* resp.head's separator and ack prefix are in z */
    bool zdone;                   /* z is complete */
    /* route.c: a request or websocket of a session another loop owns
     * (here), or the stand-in for one (on the owner) */
    struct sio_link *link;
};

/* Puts a connection on (or takes it off) the writing list. */
void sio_conn_busy(struct sio_conn *c, struct sio_writing *w, bool busy);
/* Releases what the connection owns and zeroes it. */
void sio_conn_reset(struct sio_conn *c, struct sio_writing *w);
/* Asks for the websocket to be closed with `code` at its next WRITEABLE;
 * it stays on the writing list until it is gone. */
void sio_conn_close_req(struct lws *wsi, struct sio_writing *w, int code);
/* Hands a pending polling GET the packet p (a close or a noop) and
 * detaches it from its session: the GET writes p even if the session
 * goes. The connection takes p. */
void sio_conn_release_get(struct lws *wsi, struct sio_writing *w, struct sio_pkt *p);
/* Adds what the listed connections of one transport (polling GETs, or
 * websockets) have not written yet: acks (whole or in part) to *answers,
 * bytes to *bytes. */
void sio_conn_unsent(const struct sio_writing *w, bool polling, size_t *answers, size_t *bytes);

/* ---- workers (worker.c) ------------------------------------------------------- */

/* What a pool runs: per-thread state, and the job. */
struct sio_pool_ops {
    void *(*thread_init)(void *arg);
    void (*run)(void *arg, void *local, struct queue_node *job);
    void (*thread_fini)(void *arg, void *local);
};

struct sio_pool {
    pthread_t *threads;
    unsigned n, started;
    struct queue jobs, results;
    const struct sio_pool_ops *ops;
    void *arg;
};

/* Starts n threads that run ops->run on each submitted job and push it to
 * the result queue, which calls wake(wake_arg) on empty -> non-empty. */
int sio_pool_start(struct sio_pool *p, unsigned n, const struct sio_pool_ops *ops, void *arg,
                   queue_wake_fn *wake, void *wake_arg, char *err, size_t errlen) MUST_CHECK;
void sio_pool_submit(struct sio_pool *p, struct queue_node *job);
/* Every finished job, oldest first; NULL when none. The caller owns them. */
struct queue_node *sio_pool_results(struct sio_pool *p);
/* Lets the jobs being run finish, joins the threads and returns the
 * results never taken and the jobs never started (not run), for the
 * caller to free; accepts a pool never started. */
struct queue_node *sio_pool_stop(struct sio_pool *p);

/* ---- jobs (job.c) --------------------------------------------------------------- */

/* What an answer read: its models and the largest of their data versions
 * in the snapshot it was rendered from (cache/versions.c). */
struct sio_answer_deps {
    uint16_t *ids;                /* model ids; owned by the job */
    size_t n;
    uint64_t version;
    bool patched;                 /* made from a kept answer by patching (/metrics) */
};

/* The change feed's options of a request (feed.c). */
struct sio_feed {
    bool meta;                    /* add version and asOf */
    bool if_none_match;           /* answer notModified while the version is inm */
    uint64_t inm;                 /* 0: never matches (another store's version) */
    bool since;                   /* answer the changes after since_v */
    uint64_t since_v;
    bool since_foreign;           /* since is another store's version: RESYNC */
};

#define SIO_SUB_ID_MAX 24

enum sio_job_kind {
    SIO_JOB_ANSWER,               /* an event's ack */
    SIO_JOB_CHANGE,               /* a subscription's "change" event (subs.c) */
};

struct sio_job {
    struct queue_node node;       /* first: a pool's node is its job */
    enum sio_job_kind kind;
    sio_handle h;
    uint64_t ack_id;
    struct cache_plan plan;
    struct sio_feed feed;         /* since_v: a change job's starting version */
    uint64_t version;             /* the data version the answer shows (0: not from the cache) */
    bool resync;                  /* the change log could not answer since_v */
    char sub_id[SIO_SUB_ID_MAX];  /* a change job's subscription */
    struct sio_pkt *event;        /* a change job's "change" packet; NULL: nothing changed */
    struct sio_tail *tail;        /* the answer after "43<id>", built by the worker */
    const struct collector *col;  /* for the per-collector metrics */
    int64_t t0_us;                /* arrival (clock_mono_us) */
    bool failed;                  /* answered success:false */
    /* answer reuse (answers.c): the request's argument text, and what
     * the worker reports back when it rendered from the warm cache */
    struct buf key;
    bool from_cache;              /* rendered from LMDB, not the live fallback */
    struct sio_answer_deps deps;  /* set when from_cache */
    /* loop thread only (joins.c): the requests waiting for this answer,
     * or, in a job of its own per such request, that it was one */
    struct sio_join *join;
    bool joined;
    bool here;                    /* being rendered on the loop (sio_job_run_here) */
};

/* The pool's callbacks: each worker owns a cache read handle; a job is
 * rendered from LMDB when warm, else by the live fallback. arg: struct sio. */
extern const struct sio_pool_ops sio_job_ops;
/* Frees a job in any state (queued, rendered or delivered); accepts NULL. */
void sio_job_free(struct sio_job *j);
/* Renders answer j on the loop thread, through the loop's read handle,
 * when it reads at most inline_render_rows rows of warm models and has no
 * feed options: true, j->tail set. false: nothing was done, j goes to a
 * worker (a bigger or cold answer would hold the loop, a live query wait
 * on the network). */
bool sio_job_run_here(struct sio *s, struct sio_job *j);

/* ---- versions in answers (feed.c) ------------------------------------------ */

/* Takes meta, ifNoneMatch and since out of opts (an object, or anything
 * else: no feed options), so the plan parser sees the rest. -EINVAL with a
 * client-facing message for a wrong type, a string that is no version, or
 * ifNoneMatch with since. c may be NULL (no store: versions are refused). */
int sio_feed_take(struct sio_feed *f, const struct cache *c, json_t *opts, char *err,
                  size_t errlen) MUST_CHECK;
bool sio_feed_any(const struct sio_feed *f);
/* Appends '"version":"..."'. */
void sio_feed_version_put(struct buf *b, const struct cache *c, uint64_t version);
/* Appends ',"version":"...","asOf":"..."' (asOf null when unknown). */
void sio_feed_meta_put(struct buf *b, const struct cache *c, uint64_t version, int64_t asof_ms);
/* '[{"success":true,"notModified":true,"version":"..."}]' */
void sio_feed_not_modified_tail(struct buf *b, const struct cache *c, uint64_t version);
/* The members '"success":false,"error":"version too old: ...","code":"RESYNC"'. */
void sio_feed_resync_put(struct buf *b);
/* The RESYNC ack tail: '[{' + those members + '}]'. */
void sio_feed_resync_tail(struct buf *b);
/* The answer's asOf: the oldest source clock of the models p reads (0:
 * unknown). Read it before the snapshot the answer is rendered from. */
int64_t sio_feed_asof(const struct sio *s, const struct cache_plan *p);
/* The largest data version over the plan's models in vers (what an answer
 * rendered now would carry); ids (room for n_models) receives the models. */
uint64_t sio_feed_version(const struct cache_plan *p, const uint64_t *vers, uint16_t *ids,
                          size_t *n);
/* Renders the changes after since into `data` (a JSON array) and appends
 * ',"deleted":[...]' to `deleted`, from rd's snapshot (between begin and
 * end). -ESTALE when the change log cannot tell (RESYNC). */
int sio_feed_since_render(const struct cache_plan *p, struct cache_rd *rd, uint64_t since,
                          struct buf *data, struct buf *deleted) MUST_CHECK;

/* ---- answer reuse (answers.c) --------------------------------------------- */

#define SIO_ANSWERS_MAX 256

struct sio_answer;
struct sio_answer_store;          /* the entries, shared by every loop (answers.c) */
struct sio_answers {              /* one service loop's view of the store */
    struct sio_answer_store *store; /* NULL: reuse is off */
    size_t cap_bytes;             /* the store's budget; 0: reuse is off */
    const uint64_t *vers;         /* the newest data versions this loop saw (sio_answers_versions) */
    uint64_t vers_txn;            /* the snapshot they were read in */
};

struct sio_answers_stats {
    size_t n, bytes, cap_bytes;
    uint64_t hits, stale;         /* answers reused; entries dropped as stale (/metrics) */
    uint64_t patched;             /* answers made by patching a stale one (/metrics) */
};

/* A view of a new store (cap_bytes 0: reuse is off). */
void sio_answers_init(struct sio_answers *a, size_t cap_bytes);
/* A view of from's store, for another loop. */
void sio_answers_share(struct sio_answers *a, const struct sio_answers *from);
/* Ends the view; the last one frees the store. */
void sio_answers_fini(struct sio_answers *a);
void sio_answers_stats(const struct sio_answers *a, struct sio_answers_stats *out);
/* The largest of vers[] over the models deps[]. */
uint64_t sio_answers_version(const uint16_t *deps, size_t n_deps, const uint64_t *vers);
/* The ack tail rendered for exactly this argument text, if none of the
 * models it read has changed since: vers are the newest data versions
 * (sio_answers_versions). The caller gets a reference (sio_tail_unref);
 * a stale entry is dropped, unless it can be patched (sio_answers_base):
 * then it stays until the answer patched from it replaces it. Any thread. */
struct sio_tail *sio_answers_get(struct sio_answers *a, struct slice key, const uint64_t *vers,
                                 const struct collector **col);
/* A kept answer for exactly this argument text that can be patched (its
 * tail has rows), stale or not, and the data version it shows: a
 * reference for the caller (sio_tail_unref), or NULL. Any thread. */
struct sio_tail *sio_answers_base(struct sio_answers *a, struct slice key, uint64_t *version);
/* The newest data versions of the store, read through rd only when a
 * transaction has committed since the last call (mdb_env_info: no lock,
 * no syscall); NULL when the store cannot be read. The view's loop only. */
const uint64_t *sio_answers_versions(struct sio_answers *a, struct cache *c, struct cache_rd *rd);
/* Keeps a reference to tail for key (ignored when too large or reuse is off). */
void sio_answers_put(struct sio_answers *a, struct slice key, struct sio_tail *tail,
                     const struct sio_answer_deps *d, const struct collector *col);
/* Splices the compressed copy kept beside tail into dst (under the store's
 * lock: another loop may drop it); false when tail is not kept or has none. */
bool sio_answers_zsplice(struct sio_answers *a, const struct sio_tail *t, struct sio_z *dst);
/* Takes *copy (a finished compress.c copy of tail's bytes): kept beside
 * tail when tail is kept without one, freed otherwise; *copy is zeroed. */
void sio_answers_zcopy_keep(struct sio_answers *a, const struct sio_tail *t, struct sio_z **copy);

/* ---- identical requests sharing one rendering (joins.c) ---------------------- */

struct sio_join;
struct sio_joins {
    struct sio_join *head;
    uint64_t rendered, joined;    /* answers rendered; requests that waited for one (/metrics) */
    uint64_t here;                /* of the rendered, those the loop rendered (sio_job_run_here) */
};

void sio_joins_fini(struct sio_joins *js);
/* The rendering in flight of key (a request normalized: collector and
 * options) from data at `version`, or NULL. */
struct sio_join *sio_joins_find(struct sio_joins *js, struct slice key, uint64_t version);
/* j, about to be submitted, renders key at version: later requests may
 * wait for it (sets j->join). */
void sio_joins_add(struct sio_joins *js, struct sio_job *j, struct slice key, uint64_t version);
/* The request (h, ack_id, arrived at t0_us) waits for e's answer. */
void sio_join_wait(struct sio_joins *js, struct sio_join *e, sio_handle h, uint64_t ack_id,
                   int64_t t0_us);
/* The answer job j came back from a worker: one job per request that
 * waited for it (joined, sharing j's tail) goes in front of *results, in
 * the order they came. Counts j as rendered. */
void sio_joins_done(struct sio_joins *js, struct sio_job *j, struct queue_node **results);

/* ---- Socket.IO (socket.c) ------------------------------------------------------ */

enum sio_sock_state { SOCK_NONE, SOCK_AUTH_WAIT, SOCK_CONNECTED };

/* The Socket.IO side of a session (embedded in it). Packets for the
 * client collect in `out`; the engine takes them after every call. */
struct sio_sub;

struct sio_socket {
    struct sio *srv;
    sio_handle h;                 /* the session's, for jobs */
    const char *sid;              /* the session's, for log lines; borrowed */
    enum sio_sock_state state;
    char id[SIO_ID_LEN + 1];
    char *hdr_psk, *query_psk;    /* from the handshake request; owned; may be NULL */
    char addr[48];                /* peer address, for the auth delay */
    unsigned inflight;            /* jobs on the workers */
    struct sio_pktq out;          /* for the client, in order */
    unsigned refuse_after_ms;     /* set: call sio_socket_refuse() after this delay */
    const char *close_why;        /* why the last call asked to close the session */
    struct sio_sub *subs;         /* subscriptions (subs.c), newest first */
    unsigned n_subs, next_sub;
};

void sio_socket_init(struct sio_socket *k, struct sio *s, sio_handle h, const char *sid);
void sio_socket_fini(struct sio_socket *k);
/* The data of an Engine.IO message. 0, or -EPROTO when the session must
 * be closed (the reason in k->close_why, already logged). */
int sio_socket_message(struct sio_socket *k, struct slice data) MUST_CHECK;
/* The delayed refusal of a CONNECT (k->refuse_after_ms has passed). */
void sio_socket_refuse(struct sio_socket *k);
/* The next finished job from the workers, counted in the metrics and its
 * answer kept for reuse; the caller owns it (for the session j->h). NULL
 * when none is left. */
struct sio_job *sio_socket_result_next(struct sio *s);
/* A job for this socket finished: its ack or change event is queued on
 * k->out. Takes j. */
void sio_socket_answered(struct sio_socket *k, struct sio_job *j);

/* ---- subscriptions (subs.c) ------------------------------------------------------ */

/* Bounds: subscriptions per socket; packets a session may have waiting
 * for its client before its subscriptions wait too (their changes then
 * coalesce into the next event, latest per row); the loop's check for
 * new commits while anyone subscribes. */
#define SIO_SUBS_MAX 64
#define SIO_SUBS_BACKLOG 4
#define SIO_SUBS_TICK_MS 10

/* "subscribe" and "unsubscribe" (args: the event's [name, opts]): the ack
 * is queued on k->out. */
void sio_subs_subscribe(struct sio_socket *k, uint64_t ack_id, const json_t *opts);
void sio_subs_unsubscribe(struct sio_socket *k, uint64_t ack_id, const json_t *opts);
/* Starts a change job for each subscription whose models changed past
 * the version its client has (vers: the newest data versions); true when
 * one could not start because its previous one is still out. */
bool sio_subs_poll(struct sio_socket *k, const uint64_t *vers);
/* A change job finished: the subscription moves to its version and the
 * event goes on k->out; a RESYNC ends the subscription. Takes j. */
void sio_subs_changed(struct sio_socket *k, struct sio_job *j);
void sio_subs_fini(struct sio_socket *k);

/* ---- sessions (session.c) ----------------------------------------------------- */

enum sio_transport { SIO_T_POLLING, SIO_T_WEBSOCKET };

struct sio_session {
    struct sio *srv;
    sio_handle h;
    char sid[SIO_ID_LEN + 1];
    enum sio_transport transport;
    bool upgrading;               /* a websocket sent 2probe; waiting for 5 */
    struct lws *get_wsi;          /* pending polling GET, not yet answered */
    struct lws *ws_wsi;           /* the websocket carrying the session */
    struct lws *probe_wsi;        /* websocket being upgraded to */
    struct sio_pktq outq;         /* packets not yet handed to a transport */
    bool awaiting_pong;
    struct sio_timer ping;        /* next ping, or the pong deadline */
    struct sio_timer auth_delay;  /* a refused CONNECT answered late */
    struct sio_timer connect_wait;/* closes a session that never joins "/" */
    struct sio_timer upgrade_wait;/* closes a probe_wsi that never completes the upgrade */
    struct sio_socket sock;
};

/* A new session in the table, its heartbeat and connect timeout started. */
struct sio_session *sio_session_new(struct sio *s, enum sio_transport t);
/* sio_session_new for a handshake request, capturing what the request
 * carried (PSK sources, peer address). */
struct sio_session *sio_session_open(struct sio *s, struct lws *wsi, enum sio_transport t);
struct sio_session *sio_session_get(struct sio *s, sio_handle h);
struct sio_session *sio_session_by_sid(struct sio *s, const char *sid, size_t len);
/* Queues one packet and wakes the transport that will carry it. */
void sio_session_send(struct sio_session *ss, struct sio_pkt *p);
/* Hands queued packets to the active transport: asks for WRITEABLE. */
void sio_session_kick(struct sio_session *ss);
/* Ends the session: a pending GET gets "1", websockets are closed, the
 * slot's generation moves on so late results are dropped. */
void sio_session_close(struct sio_session *ss, const char *why);
/* Every session, as sio_session_close with websocket status 1001 (going away). */
void sio_session_close_all(struct sio *s);
/* Adds the acks queued on sessions and not handed to a transport to
 * *answers, and every byte queued to *bytes. */
void sio_sessions_unsent(const struct sio *s, size_t *answers, size_t *bytes);
void sio_session_pong(struct sio_session *ss);
void sio_sessions_fini(struct sio *s);

/* ---- Engine.IO (engine.c) ------------------------------------------------------ */

/* One decoded Engine.IO packet that arrived on connection `from` (a
 * websocket being upgraded to is handled apart). These return 0, or -1
 * when the session was closed (ss is freed: do not touch it). */
int sio_engine_packet(struct sio_session *ss, struct lws *from, const struct eio_packet *p);
/* One websocket message, or a whole polling POST body (\x1e-separated). */
int sio_engine_message(struct sio_session *ss, struct lws *from, struct slice msg);
int sio_engine_payload(struct sio_session *ss, struct lws *from, struct slice body);
/* A polling GET was just parked on the session (ss->get_wsi): it is
 * woken when packets are queued, and answered at once with a noop during
 * an upgrade. */
void sio_engine_poll_parked(struct sio_session *ss);
/* A websocket (or a stand-in for one) opened to upgrade the polling
 * session to: it becomes ss->probe_wsi, closed unless the upgrade
 * completes within upgrade_timeout_ms. */
void sio_engine_probe_open(struct sio_session *ss, struct lws *w);
/* The upgrade attempt is over (completed, failed, or its websocket went):
 * no probe_wsi, not upgrading, no timeout. */
void sio_engine_probe_end(struct sio_session *ss);
/* Hands every finished worker answer to its session (loop thread, after
 * the result queue's wake-up). */
void sio_engine_results(struct sio *s);

/* ---- shutdown (loop.c) ----------------------------------------------------------- */

/* After shutdown_timeout_ms, how long close frames (and polls part-way
 * through their answer) get to leave before the connections are cut. */
#define SIO_CLOSE_GRACE_MS 5000

/* ---- server state -------------------------------------------------------------- */

struct sio_server;

struct sio {
    struct sio_opts o;
    unsigned loop;                /* this loop's index: its sessions' sids name it */
    struct sio_server *server;    /* every loop (routing, /metrics, /status); NULL in unit tests */
    struct queue mail;            /* route.c: messages from the other loops */
    struct lws_context *ctx;
    struct ev_loop *ev;           /* the loop lws runs on (loop.c) */
    int listen_fd;                /* several loops: this loop's own listener, else -1 */
    ev_io accept_w;
    struct lws_vhost *vh;
    struct cache_rd *rd;          /* loop-thread reads (readiness) */
    struct sio_session **slots;   /* index = slot */
    uint32_t *gens;
    uint32_t n_slots, cap_slots;
    uint32_t *free_slots;
    uint32_t n_free;
    size_t n_sessions;
    struct sio_auth_table auth;
    struct sio_pool pool;
    struct queue_node *results;   /* finished jobs taken from the pool, not yet delivered */
    unsigned inflight;            /* jobs submitted and not yet delivered (loop thread) */
    volatile sig_atomic_t stop_req;
    bool draining;
    bool *models;                 /* models the collectors reach: readiness */
    struct sio_writing writing;   /* connections with bytes left to write (conn.c) */
    struct sio_metrics *metrics;  /* shared by the loops, behind its lock (metrics.c) */
    struct sio_answers answers;   /* this loop's view of the shared store (answers.c) */
    struct sio_joins joins;       /* loop thread only (joins.c) */
    unsigned n_subs;              /* subscriptions over all sockets (subs.c) */
    struct sio_timer subs_tick;   /* runs while n_subs: looks for new commits (engine.c) */
    bool subs_ticking;
    uint64_t subs_txn;            /* the newest txn the last tick saw */
    bool subs_again;              /* a tick left work for the next one */
};

/* ---- HTTP transport ------------------------------------------------------------- */

enum sio_method { SIO_M_GET, SIO_M_POST, SIO_M_OPTIONS, SIO_M_OTHER };

/* The Engine.IO path: /socket.io and everything under it. */
#define SIO_EIO_PATH "/socket.io"

/* cors.c. The original trusts every origin: the request's Origin is
 * echoed with credentials allowed. An allow-list narrows that. */
void sio_cors_capture(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* Adds one header; -1 when it does not fit. */
int sio_hdr_add(struct lws *wsi, const char *name, const char *value, uint8_t **p, uint8_t *end);
/* The CORS headers and one Vary listing Origin (when echoed) and `vary`
 * (more request headers the answer depends on, or NULL). */
int sio_cors_headers(struct lws *wsi, const struct sio_conn *c, const char *vary, uint8_t **p,
                     uint8_t *end);
/* The answer to an OPTIONS preflight. */
int sio_cors_preflight(struct lws *wsi, const struct sio_conn *c);

/* respond.c: complete answers written from the request callback. They
 * return 0, or -1 to hang up (lws convention). */
int sio_respond(struct lws *wsi, const struct sio_conn *c, unsigned status, const char *ctype,
                const void *body, size_t len, const char *extra_name, const char *extra_val);
int sio_respond_text(struct lws *wsi, const struct sio_conn *c, unsigned status,
                     const char *ctype, const char *text);
int sio_respond_eio_error(struct lws *wsi, const struct sio_conn *c, enum eio_error code);
enum sio_method sio_http_method(struct lws *wsi);
/* Copies a query argument (url-decoded by lws) into buf; NULL if absent. */
const char *sio_http_arg(struct lws *wsi, const char *name, char *buf, int len);
/* path equals route, or (prefix) is route or below it. */
bool sio_path_match(const char *path, const char *route, bool prefix);
/* Engine.IO's handshake checks: EIO=4 only. */
bool sio_eio_version_ok(struct lws *wsi);

/* polling.c: Engine.IO under /socket.io over HTTP. */
int sio_polling_request(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m);
int sio_polling_body(struct sio *s, struct sio_conn *c, const void *in, size_t len);
int sio_polling_body_done(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* Prepares c for a POST body: 1 when none follows, 0 when it will, -1
 * after an answer that hangs up (a chunked body). */
int sio_polling_post_start(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* The end of a POST body (BODY_COMPLETION): SIO_BODY_OK when c->rx holds
 * a body to hand to the session; else c was answered as engine.io does
 * (413 past maxPayload, which keeps the session; 400 when c is not a
 * POST) and this is the lws return. Shared with route.c. */
#define SIO_BODY_OK 1
int sio_polling_body_end(struct lws *wsi, struct sio_conn *c);
/* The encoding a GET's answer may use: what its Accept-Encoding asks for
 * when http_compression is on. Set as c->zenc wherever the GET arrived. */
enum sio_zenc sio_polling_zenc(const struct sio *s, struct lws *wsi);
/* Gives the GET c its answer, the packets of q (taken), to be streamed
 * from WRITEABLE: compressed with c->zenc when at least
 * http_compression_threshold bytes. Shared with route.c, so an answer
 * mailed from another loop is the same bytes and headers. */
void sio_polling_answer(struct sio *s, struct sio_conn *c, struct sio_pktq *q);
int sio_polling_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c);
void sio_polling_closed(struct sio *s, struct lws *wsi, struct sio_conn *c);

/* upgrade.c. LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 lets the upgrade
 * proceed, 1 when an error answer was written, -1 to hang up. */
int sio_upgrade_confirm(struct sio *s, struct lws *wsi, const char *proto);
/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: binds the websocket to its
 * session (creating one for a direct websocket handshake); -1 refuses. */
int sio_upgrade_filter(struct sio *s, struct lws *wsi, struct sio_conn *c);

/* probes.c: routes of http.c */
int sio_probe_healthz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m);
int sio_probe_readyz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m);
/* The time and max_staleness that readiness is judged against (loop thread). */
struct cache_report_clock sio_probe_clock(const struct sio *s);
/* Whether every needed model can serve correct data (cache_meta_ready);
 * else `why` holds the /readyz body {"ready":false,"notReady":{...}}. */
bool sio_probe_ready(struct sio *s, struct buf *why);

/* What a route returns for a polling request of another loop's session:
 * nothing was answered, route.c mails it to the owner. */
#define SIO_HTTP_ROUTE 2

/* http.c: LWS_CALLBACK_HTTP; `path` is the request path without the
 * query. 0, -1 (hang up) or SIO_HTTP_ROUTE. */
int sio_http_request(struct sio *s, struct lws *wsi, struct sio_conn *c, const char *path);

/* ws.c */
int sio_ws_established(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* What a fragment made of the message being assembled in c->rx. */
enum sio_ws_rx {
    SIO_WS_PART,      /* more fragments follow */
    SIO_WS_MSG,       /* c->rx holds a whole text message */
    SIO_WS_BINARY,    /* a binary frame: refused */
    SIO_WS_TOO_BIG,   /* past maxPayload: refused, the close reason (1009) is set; hang up */
};
/* Adds a received fragment to c->rx, with engine.io's checks (shared by
 * ws.c and route.c, whichever loop the websocket arrived on). */
enum sio_ws_rx sio_ws_assemble(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in,
                               size_t len);
/* The session's side of a refused message (BINARY, TOO_BIG) that arrived
 * on wsi (its websocket, probe or their stand-in): logged, and the
 * session closed unless only an upgrade probe failed. */
void sio_ws_refused(struct sio_session *ss, struct lws *wsi, enum sio_ws_rx why);
int sio_ws_receive(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in, size_t len);
int sio_ws_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c);
void sio_ws_closed(struct sio *s, struct lws *wsi, struct sio_conn *c);

/* ---- operator endpoints (metrics.c, status.c) ------------------------------------ */

/* metrics.c: GET /metrics (Prometheus text format). The per-collector
 * counters live on the loop thread only. */
struct sio_metrics;
struct sio_metrics *sio_metrics_new(const struct collector_set *cs);
void sio_metrics_free(struct sio_metrics *m); /* accepts NULL */
/* One answered event (col NULL: an unknown event); us from arrival to answer. */
void sio_metrics_observe(struct sio *s, const struct collector *col, bool failed, int64_t us);

/* Fill body and *ctype, return the HTTP status. */
unsigned sio_metrics_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype);
/* status.c: GET /status (the page) and /status.json; 401 without the PSK. */
unsigned sio_status_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype);
unsigned sio_status_json_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype);

/* ---- service loops (loop.c, loops.c) ---------------------------------------------- */

/* The server: n service loops, each a struct sio with its own thread, lws
 * context, libev loop, sessions and workers; loop 0 runs in the thread
 * that calls sio_run(). The kept answers and the metrics are shared. */
struct sio_server {
    struct sio **loops;
    unsigned n;
    pthread_t *threads;           /* loops 1..n-1 */
    unsigned started;
    struct sio_metrics *metrics;
    int port;                     /* the port every loop listens on */
    bool closing;                 /* being freed: no more mail */
};

/* listen.c: a non-blocking listening TCP socket on bind (NULL or "":
 * every address) and port that other sockets may share (SO_REUSEPORT). */
int sio_listen_open(const char *bind, int port, int *fd, char *err, size_t errlen) MUST_CHECK;
/* The port a socket is bound to; -1 on error. */
int sio_listen_port(int fd);

/* One loop: its context listens on o->port (its own SO_REUSEPORT
 * listener when n > 1). */
int sio_loop_new(struct sio **out, struct sio_server *srv, unsigned idx, const struct sio_opts *o,
                 unsigned workers, char *err, size_t errlen) MUST_CHECK;
void sio_loop_run(struct sio *s);
void sio_loop_stop(struct sio *s);
void sio_loop_free(struct sio *s);
/* Sessions and answers in flight over every loop (a loop alone in unit
 * tests); read without the owners' cooperation, so a moment's figures. */
size_t sio_server_sessions(const struct sio *s);
unsigned sio_server_inflight(const struct sio *s);
struct sio_joins sio_server_joins(const struct sio *s); /* counters only */

/* ---- routing between loops (route.c) ------------------------------------------------ */

/* A session's requests may arrive on any loop (SO_REUSEPORT spreads TCP
 * connections, and a kept-alive connection carries other sessions'
 * requests too). The loop a sid names owns the session; another loop
 * that receives one of its requests mails it over and writes the answer
 * that is mailed back (route.c explains the stand-ins). */
struct sio_link;

/* The sid names another loop of this server (inline: the transports
 * below route.c ask, and leave the request to it). */
static inline bool sio_route_foreign(const struct sio *s, const char *sid)
{
    uint32_t w;
    if (!s->server || s->server->n < 2 || sio_id_slot(sid, strlen(sid), &w) < 0)
        return false;
    unsigned loop = w >> SIO_LOOP_SHIFT;
    return loop != s->loop && loop < s->server->n;
}
/* A polling request polling.c left to us (SIO_HTTP_ROUTE), from
 * LWS_CALLBACK_HTTP: mailed to the session's owner. */
int sio_route_poll(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* A websocket handshake for a foreign sid (upgrade.c left c->h 0): binds
 * c to a link (FILTER_PROTOCOL_CONNECTION). */
void sio_route_ws_bind(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* Callbacks of connections with c->link, instead of their transport's. */
int sio_route_body_done(struct sio *s, struct lws *wsi, struct sio_conn *c);
int sio_route_http_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c);
int sio_route_ws_established(struct sio *s, struct lws *wsi, struct sio_conn *c);
int sio_route_ws_receive(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in,
                         size_t len);
/* The connection (or stand-in) closes or starts another request: its
 * link is let go, telling the other loop when that matters. */
void sio_route_release(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* A stand-in's RAW_WRITEABLE: ships what its session has for the client. */
int sio_route_standin_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* Handles every message other loops sent here (EVENT_WAIT_CANCELLED). */
void sio_route_mail(struct sio *s);
/* Frees messages never handled (at shutdown). */
void sio_route_mail_fini(struct sio *s);
