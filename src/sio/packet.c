/*
 * Socket.IO v5 packets, decoded the way socket.io-parser 4 does it:
 *
 *   <type digit>[<attachments>-][/<nsp>,][<ack id>][<JSON payload>]
 *
 * Anything the Node parser would throw on makes these functions return
 * -EPROTO, and the caller closes the connection as the Node server does.
 * Binary packets are refused with -ENOTSUP: no collector takes or returns
 * binary data.
 */
#include "sio/codec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "json.h"

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* The namespace runs from '/' up to the first ',' (excluded) or the end. */
static size_t parse_nsp(struct slice in, size_t i, struct sio_packet *out)
{
    if (i >= in.len || in.p[i] != '/') {
        out->nsp = slice_str("/");
        return i;
    }
    size_t start = i;
    while (i < in.len && in.p[i] != ',')
        i++;
    out->nsp = (struct slice){in.p + start, i - start};
    return i < in.len ? i + 1 : i;
}

/* Ack ids are decimal integers; beyond 2^32 the client is not speaking
 * socket.io (its ids are 32-bit counters), so the packet is malformed. */
static int parse_id(struct slice in, size_t *i, struct sio_packet *out)
{
    if (*i >= in.len || !is_digit(in.p[*i]))
        return 0;
    uint64_t id = 0;
    while (*i < in.len && is_digit(in.p[*i])) {
        id = id * 10 + (uint64_t)(in.p[*i] - '0');
        if (id > SIO_ACK_ID_MAX)
            return -EPROTO;
        (*i)++;
    }
    out->has_id = true;
    out->id = id;
    return 0;
}

int sio_packet_decode(struct slice in, struct sio_packet *out)
{
    *out = (struct sio_packet){0};
    if (in.len == 0 || in.p[0] < '0' || in.p[0] > '6')
        return -EPROTO;
    out->type = (enum sio_ptype)(in.p[0] - '0');
    if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK)
        return -ENOTSUP;
    size_t i = parse_nsp(in, 1, out);
    int rc = parse_id(in, &i, out);
    if (rc < 0)
        return rc;
    out->data = (struct slice){in.p + i, in.len - i};
    return 0;
}

static json_t *parse_json(struct slice data)
{
    if (data.len == 0)
        return NULL;
    return json_loadb((const char *)data.p, data.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* socket.io-parser's RESERVED_EVENTS: emitting these is refused. */
static bool reserved_name(const char *s)
{
    static const char *const names[] = {"connect",    "connect_error",  "disconnect",
                                        "disconnecting", "newListener", "removeListener"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcmp(s, names[k]) == 0)
            return true;
    return false;
}

/* A numeric event name as JavaScript's String(n) prints it. */
static void number_name(struct sio_event *ev, const json_t *v)
{
    struct buf b;
    buf_init(&b, 0);
    json_put_double(&b, json_number_value(v));
    size_t n = b.len < sizeof ev->num - 1 ? b.len : sizeof ev->num - 1;
    memcpy(ev->num, buf_data(&b), n);
    ev->num[n] = '\0';
    buf_fini(&b);
    ev->name = ev->num;
    ev->name_len = n;
}

int sio_event_decode(struct slice data, struct sio_event *ev)
{
    *ev = (struct sio_event){0};
    json_t *a = parse_json(data);
    if (!a || !json_is_array(a) || json_array_size(a) == 0)
        goto bad;
    const json_t *name = json_array_get(a, 0);
    if (json_is_string(name)) {
        ev->name = json_string_value(name);
        ev->name_len = json_string_length(name);
        if (reserved_name(ev->name))
            goto bad;
    } else if (json_is_number(name)) {
        number_name(ev, name);
    } else {
        goto bad;
    }
    const json_t *opts = json_array_get(a, 1);
    ev->opts = json_is_null(opts) ? NULL : opts;
    ev->args = a;
    return 0;
bad:
    json_decref(a);
    *ev = (struct sio_event){0};
    return -EPROTO;
}

void sio_event_fini(struct sio_event *ev)
{
    json_decref(ev->args);
    *ev = (struct sio_event){0};
}

int sio_connect_decode(struct slice data, json_t **auth)
{
    *auth = NULL;
    if (data.len == 0)
        return 0;
    json_t *v = parse_json(data);
    if (!json_is_object(v)) {
        json_decref(v);
        return -EPROTO;
    }
    *auth = v;
    return 0;
}

int sio_disconnect_check(const struct sio_packet *p) { return p->data.len ? -EPROTO : 0; }

size_t sio_ack_prefix(char out[SIO_ACK_PREFIX_MAX], uint64_t id)
{
    char digits[20];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + id % 10);
    while ((id /= 10) && n < SIO_ACK_PREFIX_MAX - 2);
    out[0] = '4';
    out[1] = '3';
    for (size_t i = 0; i < n; i++)
        out[2 + i] = digits[n - 1 - i];
    return 2 + n;
}

void sio_ack_error_tail(struct buf *b, const char *msg, size_t len)
{
    buf_puts(b, "[{\"success\":false,\"error\":");
    json_put_str(b, msg, len);
    buf_puts(b, "}]");
}

void sio_ack_ok_open(struct buf *b) { buf_puts(b, "[{\"success\":true,\"data\":"); }

void sio_ack_count_open(struct buf *b) { buf_puts(b, "[{\"success\":true,\"count\":"); }

void sio_ack_ok_close(struct buf *b) { buf_puts(b, "}]"); }

void sio_connect_ok_encode(struct buf *b, const char *socket_id)
{
    buf_puts(b, "40{\"sid\":");
    json_put_cstr(b, socket_id);
    buf_putc(b, '}');
}

void sio_connect_error_encode(struct buf *b, struct slice nsp, const char *msg)
{
    buf_puts(b, "44");
    if (!(nsp.len == 1 && nsp.p[0] == '/')) {
        buf_append(b, nsp.p, nsp.len);
        buf_putc(b, ',');
    }
    buf_puts(b, "{\"message\":");
    json_put_cstr(b, msg);
    buf_putc(b, '}');
}
