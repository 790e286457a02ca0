/*
 * Requests for a session that another service loop owns.
 *
 * A session lives on the loop that opened it, and its sid names that loop
 * (the top bits of its slot word). Its later requests may arrive on any
 * loop: SO_REUSEPORT spreads TCP connections, a client opens new ones, a
 * kept-alive connection carries other sessions' requests, and an upgrade
 * opens a websocket. With TLS the bytes cannot be routed before lws has
 * decrypted and parsed them, and neither a connection nor its TLS state
 * can move to another lws context. So the connection stays where it
 * arrived (the "near" loop) and the session stays with its owner; they
 * talk by mail: each loop has a queue (queue.h) whose wake-up is
 * lws_cancel_service() on its context, drained at
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * On the owner, the far connection is represented by a stand-in: a real
 * wsi of the owner's context (an eventfd adopted as a raw file, never
 * readable), bound to the session exactly as a local GET or websocket
 * would be (get_wsi, probe_wsi, ws_wsi). Everything the engine and the
 * session table do with a connection therefore works unchanged: asking
 * for WRITEABLE, handing a GET its close or noop packet, requesting a
 * websocket close. The stand-in's RAW_WRITEABLE mails the packets to the
 * near loop, which writes them with the ordinary polling or websocket
 * writer (a poll's answer compressed as the GET accepts, by polling.c's
 * code: the same bytes and headers as on the owner). What the near connection receives (a POST body, a websocket
 * message, its close) is mailed to the owner and handled there as the
 * local transports would.
 *
 * Both sides share a link (refcounted: the near connection, the stand-in
 * and each mail in flight hold one); each side touches only its own half,
 * and clears it when its connection goes, so a late mail finds nothing.
 *
 * The differences a client can see: a websocket upgrade for a sid another
 * loop owns is accepted before the owner checks it, so a bad one is
 * refused by closing the websocket instead of with an HTTP 400 (clients
 * then keep polling, as after any failed upgrade).
 */
#include "sio/sio_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

enum link_kind { LINK_GET, LINK_POST, LINK_WS };

struct sio_link {
    atomic_uint refs;
    enum link_kind kind;
    unsigned near_loop, owner_loop;
    char sid[SIO_ID_LEN + 1];
    /* near loop only */
    struct lws *near;             /* the client's connection; NULL once it went */
    bool detached;                /* a GET's answer is a release (close, noop): no session behind */
    bool replied;                 /* a complete HTTP answer waits for WRITEABLE: */
    unsigned status;              /*   200 "ok", or 400 with err */
    enum eio_error err;
    /* owner loop only */
    struct lws *standin;
    sio_handle h;                 /* the session, once bound */
};

enum mail_kind {
    MAIL_GET, MAIL_POST, MAIL_BINARY_POST, MAIL_WS_OPEN, MAIL_WS_MSG, MAIL_GONE, /* near -> owner */
    MAIL_REPLY, MAIL_PKTS, MAIL_CLOSE, /* owner -> near */
};

struct mail {
    struct queue_node node;       /* first: the queue's node is the mail */
    enum mail_kind kind;
    struct sio_link *link;        /* a reference */
    bool polling;                 /* GET, POST: the request said transport=polling */
    bool detached;                /* PKTS: a GET's release */
    unsigned status;              /* REPLY */
    enum eio_error err;           /* REPLY with status 400 */
    int code;                     /* CLOSE */
    enum sio_ws_rx rx;            /* WS_MSG: a message in body, or why one was refused */
    struct buf body;              /* POST body, websocket message */
    struct sio_pktq pkts;         /* PKTS */
};

/* ---- links and mail ------------------------------------------------------------ */

static struct sio_link *link_ref(struct sio_link *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    return l;
}

static void link_unref(struct sio_link *l)
{
    if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        free(l);
}

static void mail_free(struct mail *m)
{
    link_unref(m->link);
    buf_fini(&m->body);
    sio_pktq_clear(&m->pkts);
    free(m);
}

static struct mail *mail_new(enum mail_kind kind, struct sio_link *l)
{
    struct mail *m = xcalloc(1, sizeof *m);
    m->kind = kind;
    m->link = link_ref(l);
    buf_init(&m->body, 0);
    return m;
}

/* Hands m to loop `to`; dropped when the server is being torn down. */
static void mail_send(struct sio *s, unsigned to, struct mail *m)
{
    if (!s->server || s->server->closing || to >= s->server->n) {
        mail_free(m);
        return;
    }
    queue_push(&s->server->loops[to]->mail, &m->node);
}

static void to_owner(struct sio *s, struct sio_link *l, struct mail *m)
{
    mail_send(s, l->owner_loop, m);
}

static void to_near(struct sio *s, struct sio_link *l, struct mail *m)
{
    mail_send(s, l->near_loop, m);
}

static void reply(struct sio *s, struct sio_link *l, unsigned status, enum eio_error err)
{
    struct mail *m = mail_new(MAIL_REPLY, l);
    m->status = status;
    m->err = err;
    to_near(s, l, m);
}

/* ---- the near loop: the client's connection ------------------------------------ */

static struct sio_link *link_new(struct sio *s, struct lws *wsi, enum link_kind kind,
                                 const char *sid)
{
    uint32_t w = 0;
    struct sio_link *l = xcalloc(1, sizeof *l);
    atomic_init(&l->refs, 1); /* the near connection's */
    l->kind = kind;
    l->near_loop = s->loop;
    if (sio_id_slot(sid, strlen(sid), &w) < 0) /* checked by sio_route_foreign */
        w = 0;
    l->owner_loop = w >> SIO_LOOP_SHIFT;
    snprintf(l->sid, sizeof l->sid, "%s", sid);
    l->near = wsi;
    return l;
}

int sio_route_poll(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    char tb[32], sb[64], ct[128];
    const char *t = sio_http_arg(wsi, "transport=", tb, sizeof tb);
    const char *sid = sio_http_arg(wsi, "sid=", sb, sizeof sb);
    enum sio_method m = sio_http_method(wsi);
    if (!sid || !t)
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    bool polling = strcmp(t, "polling") == 0;
    if (m != SIO_M_GET && m != SIO_M_POST)
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    c->link = link_new(s, wsi, m == SIO_M_GET ? LINK_GET : LINK_POST, sid);
    if (m == SIO_M_GET) {
        c->kind = CONN_POLL_GET;
        c->zenc = sio_polling_zenc(s, wsi); /* the answer is compressed here, as polling.c does */
        /* The session's heartbeat bounds how long a poll may wait, not lws. */
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        struct mail *g = mail_new(MAIL_GET, c->link);
        g->polling = polling;
        to_owner(s, c->link, g);
        return 0;
    }
    if (lws_hdr_copy(wsi, ct, sizeof ct, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
        strncmp(ct, "application/octet-stream", 24) == 0) {
        /* engine.io closes the session and answers 400 at once. */
        to_owner(s, c->link, mail_new(MAIL_BINARY_POST, c->link));
        return sio_respond_eio_error(wsi, c, EIO_ERR_BAD_REQUEST);
    }
    c->link->replied = !polling; /* a transport mismatch: answered without the owner */
    c->link->status = 400;
    c->link->err = EIO_ERR_BAD_REQUEST;
    int rc = sio_polling_post_start(s, wsi, c);
    return rc > 0 ? sio_route_body_done(s, wsi, c) : rc;
}

int sio_route_body_done(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_link *l = c->link;
    int rc = sio_polling_body_end(wsi, c);
    if (rc != SIO_BODY_OK)
        return rc;
    if (l->replied) {
        buf_fini(&c->rx);
        return sio_route_http_writeable(s, wsi, c);
    }
    struct mail *m = mail_new(MAIL_POST, l);
    m->polling = true;
    m->body = c->rx;
    buf_init(&c->rx, 0);
    to_owner(s, l, m);
    return 0;
}

int sio_route_http_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    (void)s;
    struct sio_link *l = c->link;
    if (!l->replied)
        return 0;
    l->replied = false;
    if (l->status == 200)
        return sio_respond_text(wsi, c, 200, "text/html", "ok");
    return sio_respond_eio_error(wsi, c, l->err);
}

void sio_route_ws_bind(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    char sb[64];
    const char *sid = sio_http_arg(wsi, "sid=", sb, sizeof sb);
    c->link = link_new(s, wsi, LINK_WS, sid ? sid : "");
}

int sio_route_ws_established(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    (void)wsi;
    to_owner(s, c->link, mail_new(MAIL_WS_OPEN, c->link));
    return 0;
}

int sio_route_ws_receive(struct sio *s, struct lws *wsi, struct sio_conn *c, const void *in,
                         size_t len)
{
    struct sio_link *l = c->link;
    if (c->ws_close)
        return 0;
    enum sio_ws_rx rx = sio_ws_assemble(s, wsi, c, in, len);
    if (rx == SIO_WS_PART)
        return 0;
    /* A refused message is mailed too: the owner closes the session. */
    struct mail *m = mail_new(MAIL_WS_MSG, l);
    m->rx = rx;
    if (rx == SIO_WS_MSG) {
        m->body = c->rx;
        buf_init(&c->rx, 0);
    }
    to_owner(s, l, m);
    return rx == SIO_WS_TOO_BIG ? -1 : 0;
}

static void near_release(struct sio *s, struct sio_link *l, const struct sio_conn *c)
{
    l->near = NULL;
    /* A poll that goes before its answer was written, or a websocket
     * that closes: the owner acts as for its own connection. */
    if ((l->kind == LINK_GET && c->kind == CONN_POLL_GET && !l->detached) || l->kind == LINK_WS)
        to_owner(s, l, mail_new(MAIL_GONE, l));
}

/* A mail for the near loop: the answer for the client's connection. */
static void near_mail(struct sio *s, struct mail *m)
{
    struct sio_link *l = m->link;
    if (!l->near)
        return; /* the client left; the owner was told */
    struct sio_conn *c = lws_wsi_user(l->near);
    switch (m->kind) {
    case MAIL_REPLY:
        c->kind = CONN_SIMPLE;
        l->replied = true;
        l->status = m->status;
        l->err = m->err;
        break;
    case MAIL_PKTS:
        if (l->kind != LINK_GET) {
            sio_pktq_take(&c->resp, &m->pkts);
            break;
        }
        /* polling.c streams it: a session's answer as its own GET's
         * (compressed alike), a release (close, noop) as it is. */
        l->detached = m->detached;
        if (m->detached) {
            sio_pktq_take(&c->resp, &m->pkts);
            c->resp_started = true;
        } else {
            sio_polling_answer(s, c, &m->pkts);
        }
        break;
    case MAIL_CLOSE:
        c->ws_close = true;
        c->ws_close_code = m->code;
        break;
    default:
        return;
    }
    lws_callback_on_writable(l->near);
}

/* ---- the owner loop: stand-ins --------------------------------------------------- */

static struct lws *standin_new(struct sio *s, struct sio_link *l, enum sio_conn_kind kind,
                               sio_handle h)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return NULL;
    lws_sock_file_fd_type u;
    u.filefd = fd;
    struct lws *w =
        lws_adopt_descriptor_vhost(s->vh, LWS_ADOPT_RAW_FILE_DESC, u, "cwcache-sio", NULL);
    if (!w) {
        close(fd); /* lws closes only sockets it failed to adopt */
        log_warn(LOG_SIO, "session %s: cannot stand in for another loop's connection", l->sid);
        return NULL;
    }
    struct sio_conn *c = lws_wsi_user(w);
    c->kind = kind;
    c->h = h;
    c->link = link_ref(l);
    l->standin = w;
    l->h = h;
    return w;
}

/* The far connection went: the session reacts as to its own connection's
 * close (polling.c, ws.c), then the stand-in closes. */
static void standin_gone(struct sio *s, struct lws *w, struct sio_conn *c)
{
    struct sio_session *ss = sio_session_get(s, c->h);
    c->h = 0;
    if (!ss)
        return;
    if (ss->get_wsi == w) {
        ss->get_wsi = NULL;
        sio_session_close(ss, "poll connection closed prematurely");
    } else if (ss->ws_wsi == w) {
        ss->ws_wsi = NULL;
        sio_session_close(ss, "transport close");
    } else if (ss->probe_wsi == w) {
        sio_engine_probe_end(ss);
    }
}

static void standin_kill(struct lws *w) { lws_set_timeout(w, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC); }

static void ship(struct sio *s, struct sio_link *l, struct sio_pktq *q, bool detached)
{
    struct mail *m = mail_new(MAIL_PKTS, l);
    sio_pktq_take(&m->pkts, q);
    m->detached = detached;
    to_near(s, l, m);
}

int sio_route_standin_writeable(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_link *l = c->link;
    if (c->ws_close) {
        struct mail *m = mail_new(MAIL_CLOSE, l);
        m->code = c->ws_close_code;
        to_near(s, l, m);
        c->h = 0;
        return -1;
    }
    struct sio_session *ss = sio_session_get(s, c->h);
    if (c->kind == CONN_POLL_GET) {
        if (c->resp_started) { /* released by sio_conn_release_get: no session behind */
            ship(s, l, &c->resp, true);
            return -1;
        }
        if (!ss || !ss->outq.n)
            return 0;
        ss->get_wsi = NULL;
        c->h = 0;
        ship(s, l, &ss->outq, false);
        return -1; /* one answer per GET */
    }
    struct sio_pktq q = {0};
    sio_pktq_take(&q, &c->resp);
    if (ss && ss->ws_wsi == wsi && ss->transport == SIO_T_WEBSOCKET)
        sio_pktq_take(&q, &ss->outq);
    if (q.n)
        ship(s, l, &q, false);
    return 0;
}

static void owner_get(struct sio *s, struct mail *m)
{
    struct sio_link *l = m->link;
    struct sio_session *ss = sio_session_by_sid(s, l->sid, strlen(l->sid));
    if (!ss) {
        reply(s, l, 400, EIO_ERR_SID_UNKNOWN);
        return;
    }
    if (!m->polling || ss->transport != SIO_T_POLLING) {
        reply(s, l, 400, EIO_ERR_BAD_REQUEST);
        return;
    }
    if (ss->get_wsi) {
        sio_session_close(ss, "overlapping GET");
        reply(s, l, 400, EIO_ERR_BAD_REQUEST);
        return;
    }
    struct lws *w = standin_new(s, l, CONN_POLL_GET, ss->h);
    if (!w) {
        reply(s, l, 400, EIO_ERR_BAD_REQUEST);
        return;
    }
    ss->get_wsi = w;
    sio_engine_poll_parked(ss);
}

static void owner_post(struct sio *s, struct mail *m)
{
    struct sio_link *l = m->link;
    struct sio_session *ss = sio_session_by_sid(s, l->sid, strlen(l->sid));
    if (m->kind == MAIL_BINARY_POST) {
        if (ss)
            sio_session_close(ss, "binary POST");
        return;
    }
    if (!ss) {
        reply(s, l, 400, EIO_ERR_SID_UNKNOWN);
        return;
    }
    if (ss->transport != SIO_T_POLLING) {
        reply(s, l, 400, EIO_ERR_BAD_REQUEST);
        return;
    }
    (void)sio_engine_payload(ss, NULL, buf_slice(&m->body));
    reply(s, l, 200, EIO_ERR_BAD_REQUEST);
}

/* As upgrade.c and ws.c check a local websocket: the session polls and no
 * other websocket is being upgraded to. */
static void owner_ws_open(struct sio *s, struct mail *m)
{
    struct sio_link *l = m->link;
    struct sio_session *ss = sio_session_by_sid(s, l->sid, strlen(l->sid));
    struct lws *w = NULL;
    if (ss && ss->transport == SIO_T_POLLING && !ss->probe_wsi)
        w = standin_new(s, l, CONN_WS, ss->h);
    if (!w) {
        struct mail *c = mail_new(MAIL_CLOSE, l);
        c->code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        to_near(s, l, c);
        return;
    }
    sio_engine_probe_open(ss, w);
}

static void owner_ws_msg(struct sio *s, struct mail *m)
{
    struct lws *w = m->link->standin;
    struct sio_conn *c = w ? lws_wsi_user(w) : NULL;
    struct sio_session *ss = c ? sio_session_get(s, c->h) : NULL;
    /* Closing (an upgrade that timed out): what the client still sends on
     * it is not the session's, as on a local websocket (ws.c). */
    if (!ss || c->ws_close)
        return;
    if (m->rx == SIO_WS_MSG)
        (void)sio_engine_message(ss, w, buf_slice(&m->body));
    else
        sio_ws_refused(ss, w, m->rx);
}

static void owner_gone(struct sio *s, struct mail *m)
{
    struct sio_link *l = m->link;
    if (l->standin) {
        struct lws *w = l->standin;
        standin_gone(s, w, lws_wsi_user(w));
        standin_kill(w);
        return;
    }
    /* A GET whose answer was mailed but never reached its client. */
    struct sio_session *ss = sio_session_get(s, l->h);
    if (ss && l->kind == LINK_GET)
        sio_session_close(ss, "poll connection closed prematurely");
}

static void owner_mail(struct sio *s, struct mail *m)
{
    switch (m->kind) {
    case MAIL_GET: owner_get(s, m); break;
    case MAIL_POST:
    case MAIL_BINARY_POST: owner_post(s, m); break;
    case MAIL_WS_OPEN: owner_ws_open(s, m); break;
    case MAIL_WS_MSG: owner_ws_msg(s, m); break;
    case MAIL_GONE: owner_gone(s, m); break;
    default: near_mail(s, m); break;
    }
}

/* ---- both ------------------------------------------------------------------------ */

void sio_route_release(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_link *l = c->link;
    c->link = NULL;
    if (l->standin == wsi) {
        standin_gone(s, wsi, c);
        l->standin = NULL;
    } else if (l->near == wsi) {
        near_release(s, l, c);
    }
    link_unref(l);
}

void sio_route_mail(struct sio *s)
{
    for (struct queue_node *n = queue_take_all(&s->mail), *next; n; n = next) {
        next = n->next;
        struct mail *m = (struct mail *)n;
        owner_mail(s, m);
        mail_free(m);
    }
}

void sio_route_mail_fini(struct sio *s)
{
    for (struct queue_node *n = queue_take_all(&s->mail), *next; n; n = next) {
        next = n->next;
        mail_free((struct mail *)n);
    }
}
