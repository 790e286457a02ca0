/*
 * Engine.IO v4 framing. Text packets are one type digit followed by the
 * data; a polling payload joins packets with the record separator 0x1e.
 * These functions never allocate except into the caller's buf, and they
 * are the only place that knows the wire digits.
 */
#include "sio/codec.h"

#include <errno.h>

#include "json.h"

int sio_eio_decode(struct slice in, struct eio_packet *out)
{
    if (in.len == 0)
        return -EPROTO;
    /* "b<base64>" is a binary message on a text transport: this server's
     * contract has no binary data, so it is refused like any other. */
    if (in.p[0] == 'b')
        return -ENOTSUP;
    if (in.p[0] < '0' || in.p[0] > '6')
        return -EPROTO;
    out->type = (enum eio_type)(in.p[0] - '0');
    out->data = (struct slice){in.p + 1, in.len - 1};
    return 0;
}

int sio_eio_payload_next(struct slice *rest, struct slice *seg, bool *started)
{
    /* split("\x1e") semantics: "" gives [""], "a\x1e" gives ["a", ""]. */
    if (*started && rest->p == NULL)
        return 0;
    *started = true;
    const uint8_t *sep = rest->len ? memchr(rest->p, EIO_SEPARATOR, rest->len) : NULL;
    if (!sep) {
        *seg = *rest;
        *rest = (struct slice){NULL, 0};
        return 1;
    }
    *seg = (struct slice){rest->p, (size_t)(sep - rest->p)};
    rest->len -= seg->len + 1;
    rest->p = sep + 1;
    return 1;
}

void sio_eio_open_encode(struct buf *b, const char *sid, bool upgrades, unsigned ping_interval,
                         unsigned ping_timeout, size_t max_payload)
{
    buf_puts(b, "0{\"sid\":");
    json_put_cstr(b, sid);
    buf_puts(b, upgrades ? ",\"upgrades\":[\"websocket\"]" : ",\"upgrades\":[]");
    buf_printf(b, ",\"pingInterval\":%u,\"pingTimeout\":%u,\"maxPayload\":%zu}", ping_interval,
               ping_timeout, max_payload);
}

const char *sio_eio_error_message(enum eio_error code)
{
    switch (code) {
    case EIO_ERR_TRANSPORT_UNKNOWN:    return "Transport unknown";
    case EIO_ERR_SID_UNKNOWN:          return "Session ID unknown";
    case EIO_ERR_BAD_HANDSHAKE_METHOD: return "Bad handshake method";
    case EIO_ERR_BAD_REQUEST:          return "Bad request";
    case EIO_ERR_FORBIDDEN:            return "Forbidden";
    case EIO_ERR_UNSUPPORTED_PROTOCOL: return "Unsupported protocol version";
    }
    return "Bad request";
}

void sio_eio_error_encode(struct buf *b, enum eio_error code)
{
    buf_printf(b, "{\"code\":%d,\"message\":", (int)code);
    json_put_cstr(b, sio_eio_error_message(code));
    buf_putc(b, '}');
}
