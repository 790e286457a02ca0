/*
 * The websocket handshake under /socket.io: engine.io's checks, in its
 * order, before lws completes the upgrade, then binding the websocket to
 * its session (an upgrade from polling) or to a new one (a client that
 * opens on websocket directly).
 */
#include "sio/sio_int.h"

#include <string.h>

/* Returns UPGRADE_ERR + the eio_error to answer, -1 for a plain 404,
 * UPGRADE_FOREIGN for a session another loop owns (route.c), or 0 with
 * *ss set (NULL for a new session). */
#define UPGRADE_ERR 100
#define UPGRADE_FOREIGN 1
static int upgrade_check(struct sio *s, struct lws *wsi, struct sio_session **ss)
{
    char path[128], tb[32], sb[64];
    *ss = NULL;
    if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0 ||
        !sio_path_match(path, SIO_EIO_PATH, true))
        return -1;
    const char *t = sio_http_arg(wsi, "transport=", tb, sizeof tb);
    if (!t || (strcmp(t, "polling") && strcmp(t, "websocket")))
        return UPGRADE_ERR + EIO_ERR_TRANSPORT_UNKNOWN;
    if (strcmp(t, "websocket"))
        return UPGRADE_ERR + EIO_ERR_BAD_REQUEST;
    const char *sid = sio_http_arg(wsi, "sid=", sb, sizeof sb);
    if (!sid)
        return sio_eio_version_ok(wsi) ? 0 : UPGRADE_ERR + EIO_ERR_UNSUPPORTED_PROTOCOL;
    if (sio_route_foreign(s, sid))
        return UPGRADE_FOREIGN;
    *ss = sio_session_by_sid(s, sid, strlen(sid));
    if (!*ss)
        return UPGRADE_ERR + EIO_ERR_SID_UNKNOWN;
    if ((*ss)->transport != SIO_T_POLLING || (*ss)->probe_wsi)
        return UPGRADE_ERR + EIO_ERR_BAD_REQUEST;
    return 0;
}

int sio_upgrade_confirm(struct sio *s, struct lws *wsi, const char *proto)
{
    struct sio_conn tmp = {0};
    struct sio_session *ss;
    if (!proto || strcmp(proto, "websocket"))
        return -1;
    /* No per-connection storage exists yet: answers use a scratch conn
     * for their CORS headers. */
    sio_cors_capture(s, wsi, &tmp);
    int e = upgrade_check(s, wsi, &ss);
    if (e < 0)
        return sio_respond_text(wsi, &tmp, 404, "text/plain", "not found") < 0 ? -1 : 1;
    if (e >= UPGRADE_ERR)
        return sio_respond_eio_error(wsi, &tmp, (enum eio_error)(e - UPGRADE_ERR)) < 0 ? -1 : 1;
    if (e == UPGRADE_FOREIGN)
        return 0; /* its owner checks it once the websocket is up */
    if (!ss && s->draining)
        return sio_respond_text(wsi, &tmp, 503, "text/plain", "shutting down") < 0 ? -1 : 1;
    return 0;
}

int sio_upgrade_filter(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    struct sio_session *ss;
    *c = (struct sio_conn){0};
    int e = upgrade_check(s, wsi, &ss);
    if (e == UPGRADE_FOREIGN) {
        c->kind = CONN_WS; /* no session here: loop.c binds it to its owner (route.c) */
        return 0;
    }
    if (e != 0 || (!ss && s->draining))
        return -1;
    if (!ss)
        ss = sio_session_open(s, wsi, SIO_T_WEBSOCKET);
    c->kind = CONN_WS;
    c->h = ss->h;
    return 0;
}
