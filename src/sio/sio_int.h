#pragma once
/*
 * Internals of src/sio/: only this folder and tests/sio include it.
 *
 *   eio.c      Engine.IO v4 packet and payload codec (pure)
 *   packet.c   Socket.IO v5 packet codec and payload validation (pure)
 *   auth.c     PSK choice, constant-time compare, per-address failure delay
 *   session.c  session table (sid <-> slot/generation), heartbeat, closing
 *   pkt.c      outgoing packets (acks share their tails), queues, slice writes
 *   engine.c   Engine.IO packet handling for a session (heartbeat, upgrade, close)
 *   socket.c   Socket.IO handling: CONNECT/auth, EVENT dispatch, acks
 *   worker.c   query worker threads, job and result queues
 *   answers.c  rendered answers reused while the LMDB store is unchanged
 *   http.c     HTTP route table, polling transport, CORS, error bodies
 *   ws.c       websocket transport: message assembly, fragmented writes
 *   loop.c     the lws context, the protocol callback, run/stop/drain
 */
#include <ev.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "sio/sio.h"

/* ---- Engine.IO codec (eio.c) ----------------------------------------------- */

enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6,
};

struct eio_packet {
    enum eio_type type;
    struct slice data; /* view into the decoded text: valid as long as it */
};

#define EIO_SEPARATOR 0x1e

/* Error codes of the HTTP 400 JSON body, as engine.io numbers them. */
enum eio_error {
    EIO_ERR_TRANSPORT_UNKNOWN = 0,
    EIO_ERR_SID_UNKNOWN = 1,
    EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
    EIO_ERR_BAD_REQUEST = 3,
    EIO_ERR_FORBIDDEN = 4,
    EIO_ERR_UNSUPPORTED_PROTOCOL = 5,
};

/* Decodes one text packet. -EPROTO: empty or unknown type digit;
 * -ENOTSUP: a base64 binary packet ("b..."), which this server refuses. */
int sio_eio_decode(struct slice in, struct eio_packet *out) MUST_CHECK;
/* Takes the next \x1e-separated segment of a polling payload from *rest
 * into *seg. Returns 1 when a segment was produced, 0 at the end. An empty
 * payload yields one empty segment (which sio_eio_decode() refuses), as
 * engine.io's decodePayload does. */
int sio_eio_payload_next(struct slice *rest, struct slice *seg, bool *started);
/* The open packet: 0{"sid":...,"upgrades":[...],"pingInterval":...}. */
void sio_eio_open_encode(struct buf *b, const char *sid, bool upgrades, unsigned ping_interval,
                         unsigned ping_timeout, size_t max_payload);
/* {"code":N,"message":"..."} for an HTTP 400/403 answer. */
void sio_eio_error_encode(struct buf *b, enum eio_error code);
const char *sio_eio_error_message(enum eio_error code);

/* ---- Socket.IO codec (packet.c) ---------------------------------------------- */

enum sio_ptype {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
};

#define SIO_ACK_ID_MAX 4294967296ull /* 2^32, the largest id a client may send */

struct sio_packet {
    enum sio_ptype type;
    struct slice nsp;  /* "/" when absent; views into the input */
    bool has_id;
    uint64_t id;
    struct slice data; /* JSON text after the id; empty when absent */
};

/* Splits a Socket.IO packet (the data of an Engine.IO message) into its
 * parts. -EPROTO: empty, bad type digit, ack id beyond 2^32;
 * -ENOTSUP: binary packets (5/6). The JSON payload is checked by the
 * per-type functions below. */
int sio_packet_decode(struct slice in, struct sio_packet *out) MUST_CHECK;

struct sio_event {
    json_t *args;       /* the parsed array; owned */
    const char *name;   /* the event name (a string, or a number printed as JavaScript does) */
    size_t name_len;
    const json_t *opts; /* args[1], or NULL when absent or JSON null; borrowed from args */
    char num[32];       /* storage for a numeric name */
};

/* Validates an EVENT payload as socket.io-parser does: a JSON array whose
 * first element is a string that is not a reserved event name, or a
 * number. -EPROTO otherwise. Release with sio_event_fini(). */
int sio_event_decode(struct slice data, struct sio_event *ev) MUST_CHECK;
void sio_event_fini(struct sio_event *ev);
/* A CONNECT payload: absent (*auth = NULL) or a JSON object (owned by the
 * caller, json_decref). -EPROTO for anything else. */
int sio_connect_decode(struct slice data, json_t **auth) MUST_CHECK;
/* A DISCONNECT carries no payload: -EPROTO if it does. */
int sio_disconnect_check(const struct sio_packet *p) MUST_CHECK;

/* Encoders append the complete Engine.IO message ("4" + Socket.IO packet),
 * except for acks: an ack is "43<id>" (sio_ack_prefix) followed by a tail
 * that does not depend on the id, so that one tail serves many acks. */
#define SIO_ACK_PREFIX_MAX 16 /* "43" and up to 10 digits (ids up to 2^32) */
/* Writes "43<id>" (not terminated) and returns its length. */
size_t sio_ack_prefix(char out[SIO_ACK_PREFIX_MAX], uint64_t id);
/* The tail [{"success":false,"error":"<msg>"}]. */
void sio_ack_error_tail(struct buf *b, const char *msg, size_t len);
/* [{"success":true,"data": : the worker renders the array after it. */
void sio_ack_ok_open(struct buf *b);
void sio_ack_ok_close(struct buf *b); /* "}]" */
void sio_connect_ok_encode(struct buf *b, const char *socket_id);
void sio_connect_error_encode(struct buf *b, struct slice nsp, const char *msg);

/* ---- Ids and auth (auth.c) ------------------------------------------------- */

#define SIO_ID_LEN 20 /* base64url characters, as engine.io's base64id */

/* 20 url-safe characters from 15 bytes; the first 4 bytes carry `slot`
 * big-endian so a sid finds its session without a hash table. */
void sio_id_make(char out[SIO_ID_LEN + 1], uint32_t slot);
/* -EINVAL unless s is a well-formed id; *slot decoded from it. */
int sio_id_slot(const char *s, size_t len, uint32_t *slot) MUST_CHECK;
/* 20 url-safe characters, all random (socket ids). */
void sio_id_random(char out[SIO_ID_LEN + 1]);
/* Constant-time in the expected key's length. */
bool sio_psk_equal(const char *expected, const char *given, size_t given_len);

/* Failed-auth delays per client address: a bounded table, oldest entry
 * evicted. Each failure doubles the delay from `base_ms` (the first two
 * failures are free), up to `max_ms`; an address forgiven after
 * SIO_AUTH_FORGET_MS without failures. */
#define SIO_AUTH_SLOTS 256
#define SIO_AUTH_FORGET_MS 600000
struct sio_auth_entry {
    char addr[48];
    uint32_t failures;
    int64_t last_ms;
};
struct sio_auth_table {
    struct sio_auth_entry e[SIO_AUTH_SLOTS];
    unsigned base_ms, max_ms;
};
/* Records a failure from addr at now_ms; returns the delay to apply. */
unsigned sio_auth_fail(struct sio_auth_table *t, const char *addr, int64_t now_ms);

/* ---- Server state ----------------------------------------------------------- */

/* Room in front of each packet: LWS_PRE for the lws headers plus one byte
 * where the \x1e separator goes when the packet follows another one in a
 * polling response, so every packet is written in place. */
#define SIO_HEADROOM (LWS_PRE + 1)
/* Bytes per lws_write(): one big answer is streamed in slices so that
 * other connections get their turn between two of them. */
#define SIO_WRITE_CHUNK (32 * 1024)

/* An ack's tail (see pkt.c): built by a worker, then shared by reference
 * on the loop thread (packets, answers.c), so the count needs no lock. */
#define SIO_TAIL_HEADROOM (SIO_HEADROOM + SIO_ACK_PREFIX_MAX)
struct sio_tail {
    unsigned refs;
    struct buf b; /* head == SIO_TAIL_HEADROOM: room for "43<id>" and lws */
};

struct sio_tail *sio_tail_new(void); /* one reference, for the caller */
void sio_tail_unref(struct sio_tail *t); /* accepts NULL */

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
};

void sio_pktq_init(struct sio_pktq *q);
void sio_pktq_push(struct sio_pktq *q, struct sio_pkt *p);
struct sio_pkt *sio_pktq_pop(struct sio_pktq *q);
void sio_pktq_clear(struct sio_pktq *q);
void sio_pktq_take(struct sio_pktq *dst, struct sio_pktq *src); /* appends all of src */
struct sio_pkt *sio_pkt_new(void);
/* The ack "43<id>" + t; takes its own reference to t. */
struct sio_pkt *sio_pkt_ack(struct sio_tail *t, uint64_t id);
void sio_pkt_free(struct sio_pkt *p);
size_t sio_pkt_len(const struct sio_pkt *p);
/* lws_write() of bytes [off, off + n) of p; with `sep` the packet is
 * preceded by the \x1e separator (polling), which off and n count. */
int sio_pkt_write(struct lws *wsi, struct sio_pkt *p, bool sep, size_t off, size_t n,
                  enum lws_write_protocol wp) MUST_CHECK;

/* A one-shot timer on the server's loop (loop.c). Zero-initialised is
 * stopped. lws' own timers (lws_sul) are not used for ours: with a
 * foreign libev loop, lws 4.1 re-arms its single timer only when it is
 * idle, so a new deadline earlier than the armed one fired late. */
struct sio_timer;
typedef void sio_timer_cb(struct sio_timer *t);
struct sio_timer {
    ev_timer w;
    sio_timer_cb *cb;
};

enum sio_transport { SIO_T_POLLING, SIO_T_WEBSOCKET };
enum sio_sock_state { SOCK_NONE, SOCK_AUTH_WAIT, SOCK_CONNECTED };

/* A session handle: slot in the low 32 bits, generation in the high ones.
 * Connections and jobs hold handles, never pointers to sessions. */
typedef uint64_t sio_handle;

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
    enum sio_sock_state sock;
    char sock_id[SIO_ID_LEN + 1];
    char *hdr_psk, *query_psk;    /* from the handshake request; may be NULL */
    char addr[48];                /* peer address, for the auth delay */
    unsigned inflight;            /* jobs on the workers */
};

/* Per-connection state (lws per_session_data). */
enum sio_conn_kind { CONN_NONE, CONN_SIMPLE, CONN_POLL_GET, CONN_POLL_POST, CONN_WS };

struct sio_conn {
    enum sio_conn_kind kind;
    sio_handle h;                 /* the session, or 0 */
    /* packets owned by this connection: a polling GET response being
     * streamed, or the replies of a websocket still being upgraded to */
    struct sio_pktq resp;
    bool busy;                    /* counted in sio->writing */
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
};

/* What an answer read: its models and the largest of their data versions
 * in the snapshot it was rendered from (cache/versions.c). */
struct sio_answer_deps {
    uint16_t *ids;                /* model ids; owned by the job */
    size_t n;
    uint64_t version;
};

struct sio_job {
    struct sio_job *next;
    sio_handle h;
    uint64_t ack_id;
    struct cache_plan plan;
    struct sio_tail *tail;        /* the answer after "43<id>", built by the worker */
    const struct collector *col;  /* for the per-collector metrics */
    int64_t t0_us;                /* arrival (sio_metrics_now_us) */
    bool failed;                  /* answered success:false */
    /* answer reuse (answers.c): the request's argument text, and what
     * the worker reports back when it rendered from the warm cache */
    struct buf key;
    bool from_cache;              /* rendered from LMDB, not the live fallback */
    struct sio_answer_deps deps;  /* set when from_cache */
};

/* ---- Answer reuse (answers.c) --------------------------------------------- */

#define SIO_ANSWERS_MAX 256

struct sio_answer;
struct sio_answers {
    struct sio_answer *head, *tail;
    size_t n, bytes, cap_bytes;   /* cap_bytes 0: reuse is off */
    uint64_t hits, stale;         /* answers reused; entries dropped as stale (/metrics) */
    const uint64_t *vers;         /* the newest data versions seen (sio_answers_versions) */
    uint64_t vers_txn;            /* the snapshot they were read in */
};

void sio_answers_init(struct sio_answers *a, size_t cap_bytes);
void sio_answers_fini(struct sio_answers *a);
/* The largest of vers[] over the models deps[]. */
uint64_t sio_answers_version(const uint16_t *deps, size_t n_deps, const uint64_t *vers);
/* The ack tail rendered for exactly this argument text, if none of the
 * models it read has changed since: vers are the newest data versions
 * (sio_answers_versions). The tail is borrowed (valid until the next put
 * or fini: sio_pkt_ack takes a reference); a stale entry is dropped. */
struct sio_tail *sio_answers_get(struct sio_answers *a, struct slice key, const uint64_t *vers,
                                 const struct collector **col);
/* The newest data versions of the store, read through rd only when a
 * transaction has committed since the last call (mdb_env_info: no lock,
 * no syscall); NULL when the store cannot be read. */
const uint64_t *sio_answers_versions(struct sio_answers *a, struct cache *c, struct cache_rd *rd);
/* Keeps a reference to tail for key (ignored when too large or reuse is off). */
void sio_answers_put(struct sio_answers *a, struct slice key, struct sio_tail *tail,
                     const struct sio_answer_deps *d, const struct collector *col);

struct sio_workers {
    pthread_t *threads;
    unsigned n, started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sio_job *jobs, *jobs_last;
    bool stop;
    pthread_mutex_t rmu;
    struct sio_job *results, *results_last;
    atomic_uint inflight;
};

struct sio {
    struct sio_opts o;
    struct lws_context *ctx;
    struct ev_loop *ev;           /* the loop lws runs on (loop.c) */
    struct lws_vhost *vh;
    struct cache_rd *rd;          /* loop-thread reads (readiness) */
    struct sio_session **slots;   /* index = slot */
    uint32_t *gens;
    uint32_t n_slots, cap_slots;
    uint32_t *free_slots;
    uint32_t n_free;
    size_t n_sessions;
    struct sio_auth_table auth;
    struct sio_workers w;
    volatile sig_atomic_t stop_req;
    bool draining;
    bool *models;                 /* models the collectors reach: readiness */
    unsigned writing;             /* connections with bytes left to write */
    struct sio_metrics *metrics;  /* loop thread only (metrics.c) */
    struct sio_answers answers;   /* loop thread only (answers.c) */
};

/* session.c */
struct sio_session *sio_session_new(struct sio *s, enum sio_transport t);
struct sio_session *sio_session_get(struct sio *s, sio_handle h);
struct sio_session *sio_session_by_sid(struct sio *s, const char *sid, size_t len);
/* Queues one packet and wakes the transport that will carry it. */
void sio_session_send(struct sio_session *ss, struct sio_pkt *p);
/* Queues a short literal packet ("2", "3probe", "6", "1"). */
void sio_session_send_lit(struct sio_session *ss, const char *text);
/* Hands queued packets to the active transport: asks for WRITEABLE. */
void sio_session_kick(struct sio_session *ss);
/* Ends the session: a pending GET gets "1", websockets are closed, the
 * slot's generation moves on so late results are dropped. */
void sio_session_close(struct sio_session *ss, const char *why);
void sio_session_close_all(struct sio *s);
void sio_session_ping_start(struct sio_session *ss);
void sio_session_pong(struct sio_session *ss);
void sio_sessions_fini(struct sio *s);
int64_t sio_now_ms(void);

/* engine.c: one decoded Engine.IO packet that arrived on connection
 * `from` (a websocket being upgraded to is handled apart). These return
 * 0, or -1 when the session was closed (ss is freed: do not touch it). */
int sio_engine_packet(struct sio_session *ss, struct lws *from, const struct eio_packet *p);
/* One websocket message, or a whole polling POST body (\x1e-separated). */
int sio_engine_message(struct sio_session *ss, struct lws *from, struct slice msg);
int sio_engine_payload(struct sio_session *ss, struct lws *from, struct slice body);

/* socket.c: the data of an Engine.IO message; same return convention. */
int sio_socket_message(struct sio_session *ss, struct slice data);
void sio_socket_fini(struct sio_session *ss);
/* A worker's answer for this session arrived on the loop. */
void sio_socket_answer(struct sio_session *ss, struct sio_pkt *p);

/* worker.c */
int sio_workers_start(struct sio *s, char *err, size_t errlen) MUST_CHECK;
void sio_workers_submit(struct sio *s, struct sio_job *j);
void sio_workers_drain_results(struct sio *s);
void sio_workers_stop(struct sio *s);

/* http.c */
/* `path` is the request path without the query. */
int sio_http_request(struct sio *s, struct lws *wsi, struct sio_conn *c, const char *path);
int sio_http_body(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in, size_t len);
int sio_http_body_done(struct sio *s, struct lws *wsi, struct sio_conn *c);
int sio_http_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 lets the upgrade proceed, 1 when
 * an error answer was written, -1 to hang up. */
int sio_http_confirm_upgrade(struct sio *s, struct lws *wsi, const char *proto);
/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: binds the websocket to its
 * session (creating one for a direct websocket handshake); -1 refuses. */
int sio_http_filter_ws(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* Creates a session for a handshake request (polling GET or websocket). */
struct sio_session *sio_http_handshake(struct sio *s, struct lws *wsi, enum sio_transport t);
void sio_http_closed(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* Copies a query argument (url-decoded by lws) into buf; NULL if absent. */
const char *sio_http_arg(struct lws *wsi, const char *name, char *buf, int len);

/* ws.c */
int sio_ws_established(struct sio *s, struct lws *wsi, struct sio_conn *c);
int sio_ws_receive(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in, size_t len);
int sio_ws_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c);
void sio_ws_closed(struct sio *s, struct lws *wsi, struct sio_conn *c);
/* Asks for the websocket to be closed with `code` at its next WRITEABLE. */
void sio_ws_close_req(struct lws *wsi, int code);

/* loop.c */
void sio_timer_start(struct sio *s, struct sio_timer *t, sio_timer_cb *cb, unsigned ms);
void sio_timer_stop(struct sio *s, struct sio_timer *t);
void sio_conn_fini(struct sio *s, struct sio_conn *c);
/* Marks a connection as having (or no longer having) bytes to write. */
void sio_conn_busy(struct sio *s, struct sio_conn *c, bool busy);

/* metrics.c: GET /metrics (Prometheus text format). The per-collector
 * counters live on the loop thread only. */
struct sio_metrics;
struct sio_metrics *sio_metrics_new(const struct collector_set *cs);
void sio_metrics_free(struct sio_metrics *m); /* accepts NULL */
int64_t sio_metrics_now_us(void);
/* One answered event (col NULL: an unknown event); us from arrival to answer. */
void sio_metrics_observe(struct sio *s, const struct collector *col, bool failed, int64_t us);

/* Operator endpoints (metrics.c, status.c): fill body and *ctype, return the HTTP status. */
unsigned sio_metrics_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype);
/* status.c: GET /status (the page) and /status.json; 401 without the PSK. */
unsigned sio_status_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype);
unsigned sio_status_json_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype);
