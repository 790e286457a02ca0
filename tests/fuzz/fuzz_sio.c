/*
 * Engine.IO/Socket.IO decoding, as a polling POST body or a websocket
 * message reaches it: the payload split on \x1e, each Engine.IO packet
 * decoded, each message decoded as a Socket.IO packet and its payload
 * validated by type. What a decoded packet echoes back (an ack id, a
 * namespace in CONNECT_ERROR) is encoded too.
 */
#include "fuzz.h"

#include <assert.h>

#include "sio/codec.h"

static void socket_packet(struct slice data, struct buf *out)
{
    struct sio_packet p;
    if (sio_packet_decode(data, &p) < 0)
        return;
    if (p.has_id) {
        char prefix[SIO_ACK_PREFIX_MAX];
        assert(sio_ack_prefix(prefix, p.id) <= sizeof prefix);
    }
    switch (p.type) {
    case SIO_CONNECT: {
        json_t *auth;
        if (sio_connect_decode(p.data, &auth) == 0)
            json_decref(auth);
        sio_connect_error_encode(out, p.nsp, "Invalid namespace");
        break;
    }
    case SIO_EVENT: {
        struct sio_event ev;
        if (sio_event_decode(p.data, &ev) == 0) {
            buf_append(out, ev.name, ev.name_len); /* the name is dispatched by these bytes */
            sio_event_fini(&ev);
        }
        break;
    }
    case SIO_DISCONNECT:
        (void)sio_disconnect_check(&p);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out;
    buf_init(&out, 0);
    struct slice rest = {data, size}, seg;
    bool started = false;
    while (sio_eio_payload_next(&rest, &seg, &started)) {
        struct eio_packet ep;
        if (sio_eio_decode(seg, &ep) == 0 && ep.type == EIO_MESSAGE)
            socket_packet(ep.data, &out);
        buf_reset(&out);
    }
    buf_fini(&out);
    return 0;
}
