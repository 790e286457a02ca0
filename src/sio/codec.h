#pragma once
/*
 * The Engine.IO v4 (eio.c) and Socket.IO v5 (packet.c) codecs: pure
 * functions on byte views, with neither libwebsockets nor libev, so they
 * and their tests stand alone. Decoded views point into the input and are
 * valid as long as it is.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

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
/* [{"success":true,"count": : for a `count: true` request, the number follows. */
void sio_ack_count_open(struct buf *b);
void sio_ack_ok_close(struct buf *b); /* "}]" */
void sio_connect_ok_encode(struct buf *b, const char *socket_id);
void sio_connect_error_encode(struct buf *b, struct slice nsp, const char *msg);
