/*
 * HTTP side of the server: a route table (Engine.IO under /socket.io/,
 * health and readiness probes), the long-polling transport and CORS.
 *
 * Small answers (errors, the handshake, "ok") are written straight from
 * the request callback. A polling GET either waits (its wsi is parked on
 * the session until a packet is queued) or streams the queued packets
 * from WRITEABLE in SIO_WRITE_CHUNK slices with a Content-Length, so one
 * large answer never holds up the loop.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

enum method { M_GET, M_POST, M_OPTIONS, M_OTHER };

typedef int (*route_fn)(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m);

struct route {
    const char *path;
    bool prefix;
    route_fn fn;
};

static int route_eio(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m);
static int route_healthz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m);
static int route_readyz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m);
static int route_metrics(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m);
static int route_status(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m);
static int route_status_json(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m);

/* Operator endpoints are added here (GET /metrics, GET /status). */
static const struct route routes[] = {
    {"/socket.io", true, route_eio},
    {"/healthz", false, route_healthz},
    {"/readyz", false, route_readyz},
    {"/metrics", false, route_metrics},
    {"/status", false, route_status},
    {"/status.json", false, route_status_json},
};

static const struct route *route_find(const char *path)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        size_t n = strlen(routes[i].path);
        if (routes[i].prefix ? strncmp(path, routes[i].path, n) == 0 && (path[n] == '/' || !path[n])
                             : strcmp(path, routes[i].path) == 0)
            return &routes[i];
    }
    return NULL;
}

static enum method method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return M_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return M_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
        return M_OPTIONS;
    return M_OTHER;
}

const char *sio_http_arg(struct lws *wsi, const char *name, char *buf, int len)
{
    return lws_get_urlarg_by_name(wsi, name, buf, len);
}

/* ---- CORS ------------------------------------------------------------------- */

static bool origin_allowed(const char *list, const char *origin)
{
    if (!list || !list[0])
        return true;
    size_t n = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if ((size_t)(t - p) == n && memcmp(p, origin, n) == 0)
            return true;
        p = e;
    }
    return false;
}

/* The original trusts every origin: the request's Origin is echoed with
 * credentials allowed. An allow-list narrows that. */
static void cors_capture(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    c->origin[0] = '\0';
    if (lws_hdr_copy(wsi, c->origin, sizeof c->origin, WSI_TOKEN_ORIGIN) <= 0 ||
        !origin_allowed(s->o.cors_origins, c->origin))
        c->origin[0] = '\0';
}

static int add_hdr(struct lws *wsi, const char *name, const char *value, uint8_t **p, uint8_t *end)
{
    return lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)value,
                                       (int)strlen(value), p, end);
}

static int cors_headers(struct lws *wsi, struct sio_conn *c, uint8_t **p, uint8_t *end)
{
    if (!c->origin[0])
        return 0;
    if (add_hdr(wsi, "access-control-allow-origin:", c->origin, p, end) ||
        add_hdr(wsi, "access-control-allow-credentials:", "true", p, end) ||
        add_hdr(wsi, "vary:", "Origin", p, end))
        return -1;
    return 0;
}

/* ---- small complete answers --------------------------------------------------- */

static int respond(struct lws *wsi, struct sio_conn *c, unsigned status, const char *ctype,
                   const void *body, size_t len, const char *extra_name, const char *extra_val)
{
    uint8_t hdr[LWS_PRE + 2048];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
        cors_headers(wsi, c, &p, end) ||
        (extra_name && add_hdr(wsi, extra_name, extra_val, &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (len) {
        struct buf b;
        buf_init(&b, LWS_PRE);
        buf_append(&b, body, len);
        int n = lws_write(wsi, buf_data(&b), len, LWS_WRITE_HTTP_FINAL);
        buf_fini(&b);
        if (n < 0)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int respond_text(struct lws *wsi, struct sio_conn *c, unsigned status, const char *ctype,
                        const char *text)
{
    return respond(wsi, c, status, ctype, text, strlen(text), NULL, NULL);
}

static int respond_eio_error(struct lws *wsi, struct sio_conn *c, enum eio_error code)
{
    struct buf b;
    buf_init(&b, 0);
    sio_eio_error_encode(&b, code);
    int rc = respond(wsi, c, code == EIO_ERR_FORBIDDEN ? 403 : 400, "application/json",
                     buf_data(&b), b.len, NULL, NULL);
    buf_fini(&b);
    return rc;
}

/* ---- probes ------------------------------------------------------------------ */

static int route_healthz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m)
{
    (void)s;
    (void)m;
    return respond_text(wsi, c, 200, "text/plain", "ok");
}

static int route_readyz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m)
{
    (void)m;
    const struct schema *sc = s->o.schema;
    struct buf b;
    buf_init(&b, 0);
    bool ready = true;
    buf_puts(&b, "{\"notWarm\":{");
    if (!s->rd || cache_rd_begin(s->rd) < 0) {
        ready = false;
    } else {
        for (size_t i = 0; i < sc->n_models; i++) {
            struct cache_meta meta;
            if (!s->models[i])
                continue;
            if (cache_meta_get(s->rd, &sc->models[i], &meta) < 0)
                meta.state = CACHE_COLD;
            if (meta.state == CACHE_WARM)
                continue;
            buf_printf(&b, "%s\"%s\":\"%s\"", ready ? "" : ",", sc->models[i].name,
                       cache_state_name(meta.state));
            ready = false;
        }
        cache_rd_end(s->rd);
    }
    buf_puts(&b, "}}");
    int rc = ready ? respond_text(wsi, c, 200, "application/json", "{\"ready\":true}")
                   : respond(wsi, c, 503, "application/json", buf_data(&b), b.len, NULL, NULL);
    buf_fini(&b);
    return rc;
}

/* ---- operator endpoints (metrics.c, status.c) ---------------------------------- */

typedef unsigned (*ops_fn)(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype);

static int route_ops(struct sio *s, struct lws *wsi, struct sio_conn *c, ops_fn fn)
{
    struct buf b;
    const char *ctype = "text/plain";
    buf_init(&b, 0);
    unsigned status = fn(s, wsi, &b, &ctype);
    int rc = respond(wsi, c, status, ctype, buf_data(&b), b.len, "cache-control:", "no-store");
    buf_fini(&b);
    return rc;
}

static int route_metrics(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m)
{
    (void)m;
    return route_ops(s, wsi, c, sio_metrics_http);
}

static int route_status(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m)
{
    (void)m;
    return route_ops(s, wsi, c, sio_status_http);
}

static int route_status_json(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m)
{
    (void)m;
    return route_ops(s, wsi, c, sio_status_json_http);
}

/* ---- Engine.IO over HTTP ----------------------------------------------------------- */

static char *copy_custom(struct lws *wsi, const char *name)
{
    int n = lws_hdr_custom_length(wsi, name, (int)strlen(name));
    if (n <= 0)
        return NULL;
    char *v = xmalloc((size_t)n + 1);
    if (lws_hdr_custom_copy(wsi, v, n + 1, name, (int)strlen(name)) < 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* What the handshake request carried: the PSK sources besides auth.psk
 * and the peer address for the failure delay. */
static void handshake_capture(struct lws *wsi, struct sio_session *ss)
{
    char q[512];
    ss->hdr_psk = copy_custom(wsi, "x-psk:");
    const char *v = sio_http_arg(wsi, "psk=", q, sizeof q);
    ss->query_psk = v ? xstrdup(v) : NULL;
    lws_get_peer_simple(wsi, ss->addr, sizeof ss->addr);
}

/* Engine.IO's handshake checks: EIO=4 only. */
static bool eio_version_ok(struct lws *wsi)
{
    char b[32];
    const char *v = sio_http_arg(wsi, "EIO=", b, sizeof b);
    return v && strcmp(v, "4") == 0;
}

struct sio_session *sio_http_handshake(struct sio *s, struct lws *wsi, enum sio_transport t)
{
    struct sio_session *ss = sio_session_new(s, t);
    handshake_capture(wsi, ss);
    /* The heartbeat starts at once: it is also what reaps a session
     * whose client never comes back. */
    sio_session_ping_start(ss);
    log_debug(LOG_SIO, "session %s opened from %s (%s)", ss->sid, ss->addr,
              t == SIO_T_POLLING ? "polling" : "websocket");
    return ss;
}

static int poll_handshake(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (s->draining)
        return respond_text(wsi, c, 503, "text/plain", "shutting down");
    struct sio_session *ss = sio_http_handshake(s, wsi, SIO_T_POLLING);
    struct buf b;
    buf_init(&b, 0);
    sio_eio_open_encode(&b, ss->sid, true, s->o.ping_interval_ms, s->o.ping_timeout_ms,
                        s->o.max_payload);
    int rc = respond(wsi, c, 200, "text/plain; charset=UTF-8", buf_data(&b), b.len, NULL, NULL);
    buf_fini(&b);
    return rc;
}

static int poll_get(struct sio *s, struct lws *wsi, struct sio_conn *c, struct sio_session *ss)
{
    (void)s;
    if (ss->get_wsi) {
        /* Overlapping polls: engine.io closes the session. */
        sio_session_close(ss, "overlapping GET");
        return respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    }
    c->kind = CONN_POLL_GET;
    c->h = ss->h;
    ss->get_wsi = wsi;
    /* The session's heartbeat bounds how long a poll may wait, not lws. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    if (ss->outq.n)
        lws_callback_on_writable(wsi);
    return 0;
}

static long content_length(struct lws *wsi)
{
    char b[32];
    if (lws_hdr_copy(wsi, b, sizeof b, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return -1;
    char *e;
    long v = strtol(b, &e, 10);
    return *e || v < 0 ? -1 : v;
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
        return respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    }
    c->kind = CONN_POLL_POST;
    c->h = ss->h;
    buf_init(&c->rx, 0);
    long len = content_length(wsi);
    if (len < 0 && chunked(wsi)) {
        /* lws 4.1 does not decode chunked request bodies; engine.io
         * clients always send a length. The unread body makes the
         * connection unusable, so it is closed after the answer. */
        c->kind = CONN_SIMPLE;
        respond_text(wsi, c, 411, "text/plain", "Content-Length required");
        return -1;
    }
    c->rx_too_big = len > 0 && (size_t)len > s->o.max_payload;
    if (len <= 0)
        return sio_http_body_done(s, wsi, c); /* no body will follow */
    return 0;
}

static int route_eio(struct sio *s, struct lws *wsi, struct sio_conn *c, enum method m)
{
    char tb[32], sb[64];
    if (m == M_OPTIONS) {
        char hb[512] = "";
        int n = lws_hdr_custom_copy(wsi, hb, sizeof hb, "access-control-request-headers:", 31);
        uint8_t hdr[LWS_PRE + 2048];
        uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
        if (lws_add_http_common_headers(wsi, 204, NULL, 0, &p, end) || cors_headers(wsi, c, &p, end) ||
            (c->origin[0] && add_hdr(wsi, "access-control-allow-methods:",
                                     "GET,HEAD,PUT,PATCH,POST,DELETE", &p, end)) ||
            (c->origin[0] && n > 0 && add_hdr(wsi, "access-control-allow-headers:", hb, &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    const char *t = sio_http_arg(wsi, "transport=", tb, sizeof tb);
    if (!t || (strcmp(t, "polling") && strcmp(t, "websocket")))
        return respond_eio_error(wsi, c, EIO_ERR_TRANSPORT_UNKNOWN);
    const char *sid = sio_http_arg(wsi, "sid=", sb, sizeof sb);
    if (!sid) {
        if (m != M_GET)
            return respond_eio_error(wsi, c, EIO_ERR_BAD_HANDSHAKE_METHOD);
        if (strcmp(t, "polling"))
            return respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST); /* websocket without upgrade */
        if (!eio_version_ok(wsi))
            return respond_eio_error(wsi, c, EIO_ERR_UNSUPPORTED_PROTOCOL);
        return poll_handshake(s, wsi, c);
    }
    struct sio_session *ss = sio_session_by_sid(s, sid, strlen(sid));
    if (!ss)
        return respond_eio_error(wsi, c, EIO_ERR_SID_UNKNOWN);
    if (strcmp(t, "polling") || ss->transport != SIO_T_POLLING)
        return respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST); /* transport mismatch */
    if (m == M_GET)
        return poll_get(s, wsi, c, ss);
    if (m == M_POST)
        return poll_post(s, wsi, c, ss);
    return respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
}

/* ---- lws entry points ----------------------------------------------------------- */

static void conn_reset(struct sio *s, struct sio_conn *c)
{
    sio_conn_fini(s, c);
    *c = (struct sio_conn){0};
}

int sio_http_request(struct sio *s, struct lws *wsi, struct sio_conn *c, const char *path)
{
    conn_reset(s, c);
    c->kind = CONN_SIMPLE;
    cors_capture(s, wsi, c);
    const struct route *r = route_find(path);
    if (!r)
        return respond_text(wsi, c, 404, "text/plain", "not found");
    return r->fn(s, wsi, c, method_of(wsi));
}

int sio_http_body(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in, size_t len)
{
    (void)wsi;
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

int sio_http_body_done(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (c->kind != CONN_POLL_POST)
        return respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    c->kind = CONN_SIMPLE;
    if (c->rx_too_big) {
        /* engine.io answers 413 and keeps the session. */
        buf_fini(&c->rx);
        return respond(wsi, c, 413, "text/plain", NULL, 0, NULL, NULL);
    }
    struct sio_session *ss = sio_session_get(s, c->h);
    if (!ss) {
        buf_fini(&c->rx);
        return respond_eio_error(wsi, c, EIO_ERR_SID_UNKNOWN);
    }
    (void)sio_engine_payload(ss, wsi, buf_slice(&c->rx));
    buf_fini(&c->rx);
    return respond_text(wsi, c, 200, "text/html", "ok");
}

/* ---- streaming a polling answer ------------------------------------------------------ */

static size_t resp_total(const struct sio_pktq *q)
{
    size_t n = 0;
    for (const struct sio_pkt *p = q->head; p; p = p->next)
        n += sio_pkt_len(p) + (p != q->head);
    return n;
}

static int resp_headers(struct lws *wsi, struct sio_conn *c)
{
    uint8_t hdr[LWS_PRE + 1024];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, 200, "text/plain; charset=UTF-8", resp_total(&c->resp),
                                    &p, end) ||
        cors_headers(wsi, c, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
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

int sio_http_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    if (c->kind != CONN_POLL_GET)
        return 0;
    if (!c->resp_started) {
        struct sio_session *ss = sio_session_get(s, c->h);
        if (!ss || !ss->outq.n)
            return 0;
        sio_pktq_take(&c->resp, &ss->outq);
        ss->get_wsi = NULL;
        c->resp_started = true;
    }
    if (!c->resp.n)
        return 0;
    sio_conn_busy(s, c, true);
    if (!c->resp_hdrs) {
        if (resp_headers(wsi, c) < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    bool done = false;
    if (resp_chunk(wsi, c, &done) < 0)
        return -1;
    if (!done) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    sio_conn_busy(s, c, false);
    c->kind = CONN_SIMPLE;
    c->resp_started = c->resp_hdrs = false;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The websocket handshake's checks, in engine.io's order. Returns
 * UPGRADE_ERR + the eio_error to answer, -1 for a plain 404, or 0 with
 * *ss set (NULL for a new session). */
#define UPGRADE_ERR 100
static int upgrade_check(struct sio *s, struct lws *wsi, struct sio_session **ss)
{
    char path[128], tb[32], sb[64];
    *ss = NULL;
    if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0 ||
        route_find(path) != &routes[0])
        return -1;
    const char *t = sio_http_arg(wsi, "transport=", tb, sizeof tb);
    if (!t || (strcmp(t, "polling") && strcmp(t, "websocket")))
        return UPGRADE_ERR + EIO_ERR_TRANSPORT_UNKNOWN;
    if (strcmp(t, "websocket"))
        return UPGRADE_ERR + EIO_ERR_BAD_REQUEST;
    const char *sid = sio_http_arg(wsi, "sid=", sb, sizeof sb);
    if (!sid)
        return eio_version_ok(wsi) ? 0 : UPGRADE_ERR + EIO_ERR_UNSUPPORTED_PROTOCOL;
    *ss = sio_session_by_sid(s, sid, strlen(sid));
    if (!*ss)
        return UPGRADE_ERR + EIO_ERR_SID_UNKNOWN;
    if ((*ss)->transport != SIO_T_POLLING || (*ss)->probe_wsi)
        return UPGRADE_ERR + EIO_ERR_BAD_REQUEST;
    return 0;
}

int sio_http_confirm_upgrade(struct sio *s, struct lws *wsi, const char *proto)
{
    struct sio_conn tmp = {0};
    struct sio_session *ss;
    if (!proto || strcmp(proto, "websocket"))
        return -1;
    /* No per-connection storage exists yet: answers use a scratch conn
     * for their CORS headers. */
    cors_capture(s, wsi, &tmp);
    int e = upgrade_check(s, wsi, &ss);
    if (e < 0)
        return respond_text(wsi, &tmp, 404, "text/plain", "not found") < 0 ? -1 : 1;
    if (e >= UPGRADE_ERR)
        return respond_eio_error(wsi, &tmp, (enum eio_error)(e - UPGRADE_ERR)) < 0 ? -1 : 1;
    if (!ss && s->draining)
        return respond_text(wsi, &tmp, 503, "text/plain", "shutting down") < 0 ? -1 : 1;
    return 0;
}

int sio_http_filter_ws(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_session *ss;
    *c = (struct sio_conn){0};
    if (upgrade_check(s, wsi, &ss) != 0 || (!ss && s->draining))
        return -1;
    if (!ss)
        ss = sio_http_handshake(s, wsi, SIO_T_WEBSOCKET);
    c->kind = CONN_WS;
    c->h = ss->h;
    return 0;
}

void sio_http_closed(struct sio *s, struct lws *wsi, struct sio_conn *c)
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
    conn_reset(s, c);
}
