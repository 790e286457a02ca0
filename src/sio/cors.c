/*
 * CORS for the HTTP answers: which origins are echoed, the headers that
 * echo them, and the preflight answer. The original trusts every origin
 * (the request's Origin is echoed with credentials allowed); the
 * cors_origins allow-list narrows that.
 */
#include "sio/sio_int.h"

#include <stdio.h>
#include <string.h>

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

void sio_cors_capture(struct sio *s, struct lws *wsi, struct sio_conn *c)
{
    c->origin[0] = '\0';
    if (lws_hdr_copy(wsi, c->origin, sizeof c->origin, WSI_TOKEN_ORIGIN) <= 0 ||
        !origin_allowed(s->o.cors_origins, c->origin))
        c->origin[0] = '\0';
}

int sio_hdr_add(struct lws *wsi, const char *name, const char *value, uint8_t **p, uint8_t *end)
{
    return lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)value,
                                       (int)strlen(value), p, end);
}

int sio_cors_headers(struct lws *wsi, const struct sio_conn *c, const char *vary, uint8_t **p,
                     uint8_t *end)
{
    char v[128];
    snprintf(v, sizeof v, "%s%s%s", c->origin[0] ? "Origin" : "",
             c->origin[0] && vary ? ", " : "", vary ? vary : "");
    if (c->origin[0] && (sio_hdr_add(wsi, "access-control-allow-origin:", c->origin, p, end) ||
                         sio_hdr_add(wsi, "access-control-allow-credentials:", "true", p, end)))
        return -1;
    return v[0] && sio_hdr_add(wsi, "vary:", v, p, end) ? -1 : 0;
}

int sio_cors_preflight(struct lws *wsi, const struct sio_conn *c)
{
    char hb[512] = "";
    int n = lws_hdr_custom_copy(wsi, hb, sizeof hb, "access-control-request-headers:", 31);
    uint8_t hdr[LWS_PRE + 2048];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, 204, NULL, 0, &p, end) ||
        sio_cors_headers(wsi, c, NULL, &p, end) ||
        (c->origin[0] && sio_hdr_add(wsi, "access-control-allow-methods:",
                                     "GET,HEAD,PUT,PATCH,POST,DELETE", &p, end)) ||
        (c->origin[0] && n > 0 && sio_hdr_add(wsi, "access-control-allow-headers:", hb, &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
