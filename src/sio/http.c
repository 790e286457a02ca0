/*
 * The HTTP route table: Engine.IO under /socket.io (polling.c), the
 * probes (probes.c) and the operator endpoints (metrics.c, status.c).
 * Every request starts here with a fresh connection state and its CORS
 * origin captured.
 */
#include "sio/sio_int.h"

typedef int (*route_fn)(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m);

struct route {
    const char *path;
    bool prefix;
    route_fn fn;
};

/* ---- operator endpoints (metrics.c, status.c) ---------------------------------- */

typedef unsigned (*ops_fn)(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype);

static int route_ops(struct sio *s, struct lws *wsi, struct sio_conn *c, ops_fn fn)
{
    struct buf b;
    const char *ctype = "text/plain";
    buf_init(&b, 0);
    unsigned status = fn(s, wsi, &b, &ctype);
    int rc = sio_respond(wsi, c, status, ctype, buf_data(&b), b.len, "cache-control:", "no-store");
    buf_fini(&b);
    return rc;
}

static int route_metrics(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m)
{
    (void)m;
    return route_ops(s, wsi, c, sio_metrics_http);
}

static int route_status(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m)
{
    (void)m;
    return route_ops(s, wsi, c, sio_status_http);
}

static int route_status_json(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m)
{
    (void)m;
    return route_ops(s, wsi, c, sio_status_json_http);
}

/* Operator endpoints are added here (GET /metrics, GET /status). */
static const struct route routes[] = {
    {SIO_EIO_PATH, true, sio_polling_request},
    {"/healthz", false, sio_probe_healthz},
    {"/readyz", false, sio_probe_readyz},
    {"/metrics", false, route_metrics},
    {"/status", false, route_status},
    {"/status.json", false, route_status_json},
};

int sio_http_request(struct sio *s, struct lws *wsi, struct sio_conn *c, const char *path)
{
    sio_conn_reset(c, &s->writing);
    c->kind = CONN_SIMPLE;
    sio_cors_capture(s, wsi, c);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (sio_path_match(path, routes[i].path, routes[i].prefix))
            return routes[i].fn(s, wsi, c, sio_http_method(wsi));
    return sio_respond_text(wsi, c, 404, "text/plain", "not found");
}
