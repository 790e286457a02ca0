/*
 * Small complete HTTP answers (errors, the handshake, "ok", probes and
 * operator pages), written straight from the request callback, and the
 * request helpers every HTTP route uses.
 */
#include "sio/sio_int.h"

#include <string.h>

int sio_respond(struct lws *wsi, const struct sio_conn *c, unsigned status, const char *ctype,
                const void *body, size_t len, const char *extra_name, const char *extra_val)
{
    uint8_t hdr[LWS_PRE + 2048];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
        sio_cors_headers(wsi, c, NULL, &p, end) ||
        (extra_name && sio_hdr_add(wsi, extra_name, extra_val, &p, end)) ||
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

int sio_respond_text(struct lws *wsi, const struct sio_conn *c, unsigned status,
                     const char *ctype, const char *text)
{
    return sio_respond(wsi, c, status, ctype, text, strlen(text), NULL, NULL);
}

int sio_respond_eio_error(struct lws *wsi, const struct sio_conn *c, enum eio_error code)
{
    struct buf b;
    buf_init(&b, 0);
    sio_eio_error_encode(&b, code);
    int rc = sio_respond(wsi, c, code == EIO_ERR_FORBIDDEN ? 403 : 400, "application/json",
                         buf_data(&b), b.len, NULL, NULL);
    buf_fini(&b);
    return rc;
}

enum sio_method sio_http_method(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return SIO_M_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return SIO_M_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
        return SIO_M_OPTIONS;
    return SIO_M_OTHER;
}

const char *sio_http_arg(struct lws *wsi, const char *name, char *buf, int len)
{
    return lws_get_urlarg_by_name(wsi, name, buf, len);
}

bool sio_path_match(const char *path, const char *route, bool prefix)
{
    size_t n = strlen(route);
    return prefix ? strncmp(path, route, n) == 0 && (path[n] == '/' || !path[n])
                  : strcmp(path, route) == 0;
}

bool sio_eio_version_ok(struct lws *wsi)
{
    char b[32];
    const char *v = sio_http_arg(wsi, "EIO=", b, sizeof b);
    return v && strcmp(v, "4") == 0;
}
