/*
 * TDS packets <-> messages.
 *
 * A message (a request or a reply) is a run of packets of one type; the last
 * has the EOM status bit. Every packet is at most the negotiated packet size,
 * header included. Replies are built in place as whole packets in c->out and
 * written in chunks of many packets, so a large result costs one write per
 * ~64 KiB instead of one per packet (DESIGN.md "TCP facts": the socket has
 * TCP_NODELAY, so fewer, larger writes also mean fewer TCP segments).
 */
#include "tdslite.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Replies are handed to the kernel once this many bytes of complete packets are queued. */
#define OUT_FLUSH (64u << 10)
#define IN_CHUNK (64u << 10)

void tds_conn_init(struct tds_conn *c, int fd, uint16_t spid)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->spid = spid;
    c->packet_size = TDS_PKT_DEFAULT;
    c->in_cap = IN_CHUNK;
    c->in = xmalloc(c->in_cap);
    buf_init(&c->msg, 0);
    buf_init(&c->out, 0);
}

void tds_conn_fini(struct tds_conn *c)
{
    free(c->in);
    c->in = NULL;
    buf_fini(&c->msg);
    buf_fini(&c->out);
}

uint8_t tds_rd_u8(struct tds_rd *r)
{
    const uint8_t *p = tds_rd_take(r, 1);
    return p ? p[0] : 0;
}

uint16_t tds_rd_u16(struct tds_rd *r)
{
    const uint8_t *p = tds_rd_take(r, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t tds_rd_u32(struct tds_rd *r)
{
    const uint8_t *p = tds_rd_take(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

uint64_t tds_rd_u64(struct tds_rd *r)
{
    uint64_t lo = tds_rd_u32(r);
    return lo | (uint64_t)tds_rd_u32(r) << 32;
}

/* The socket, or the transport installed over it (TLS). */
static ssize_t conn_recv(struct tds_conn *c, void *p, size_t n, bool block)
{
    if (c->io)
        return c->io->read(c, p, n, block);
    return recv(c->fd, p, n, block ? 0 : MSG_DONTWAIT);
}

static ssize_t conn_send(struct tds_conn *c, const void *p, size_t n)
{
    if (c->io)
        return c->io->write(c, p, n);
    /* MSG_NOSIGNAL: a vanished client must not kill the server with SIGPIPE. */
    return send(c->fd, p, n, MSG_NOSIGNAL);
}

/* Makes at least n unread bytes available in c->in: 0, -ECONNRESET or -errno. */
static int in_fill(struct tds_conn *c, size_t n)
{
    if (c->in_len - c->in_off >= n)
        return 0;
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (n > c->in_cap) {
        c->in_cap = n;
        c->in = xrealloc(c->in, c->in_cap);
    }
    while (c->in_len < n) {
        ssize_t r = conn_recv(c, c->in + c->in_len, c->in_cap - c->in_len, true);
        if (r == 0)
            return -ECONNRESET;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c->in_len += (size_t)r;
    }
    return 0;
}

int tds_msg_read(struct tds_conn *c)
{
    buf_reset(&c->msg);
    bool first = true;
    for (;;) {
        int rc = in_fill(c, TDS_HDR_LEN);
        if (rc < 0)
            /* EOF between messages is a normal goodbye; inside one it is a protocol error. */
            return rc == -ECONNRESET && !first ? -EPROTO : rc;
        const uint8_t *h = c->in + c->in_off;
        uint8_t type = h[0], status = h[1];
        size_t len = (size_t)h[2] << 8 | h[3];
        /* Before login the client may use any size up to the maximum; after,
         * the negotiated size bounds every packet. */
        if (len < TDS_HDR_LEN || len > TDS_PKT_MAX)
            return -EPROTO;
        if (first)
            c->msg_type = type;
        else if (type != c->msg_type && type != TDS_PKT_ATTENTION)
            return -EPROTO;
        if ((rc = in_fill(c, len)) < 0)
            return rc == -ECONNRESET ? -EPROTO : rc;
        if (!first && type == TDS_PKT_ATTENTION) {
            /* The client gave up on the message it was sending: what counts is the cancel. */
            c->in_off += len;
            c->msg_type = TDS_PKT_ATTENTION;
            buf_reset(&c->msg);
            return 0;
        }
        if (c->msg.len + len - TDS_HDR_LEN > TDS_MSG_MAX)
            return -EMSGSIZE;
        buf_append(&c->msg, c->in + c->in_off + TDS_HDR_LEN, len - TDS_HDR_LEN);
        c->in_off += len;
        first = false;
        if (status & TDS_STATUS_EOM)
            return 0;
    }
}

static void pkt_open(struct tds_conn *c)
{
    c->pkt_start = c->out.len;
    static const uint8_t zero[TDS_HDR_LEN];
    buf_append(&c->out, zero, TDS_HDR_LEN);
}

static void pkt_close(struct tds_conn *c, bool eom)
{
    uint8_t *h = buf_data(&c->out) + c->pkt_start;
    size_t len = c->out.len - c->pkt_start;
    h[0] = c->out_type;
    h[1] = eom ? TDS_STATUS_EOM : 0;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    h[4] = (uint8_t)(c->spid >> 8);
    h[5] = (uint8_t)c->spid;
    h[6] = c->pkt_id++;
    h[7] = 0;
}

static void out_write(struct tds_conn *c)
{
    const uint8_t *p = buf_data(&c->out);
    size_t n = c->out.len, off = 0;
    while (!c->broken && off < n) {
        ssize_t w = conn_send(c, p + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            c->broken = true;
        else
            off += (size_t)w;
    }
    buf_reset(&c->out);
}

void tds_out_begin(struct tds_conn *c, uint8_t type)
{
    buf_reset(&c->out);
    c->out_type = type;
    c->pkt_id = 1;
    c->out_open = true;
    pkt_open(c);
}

void tds_out_put_slow(struct tds_conn *c, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n > 0) {
        size_t room = c->pkt_start + c->packet_size - c->out.len;
        if (room == 0) {
            pkt_close(c, false);
            if (c->out.len >= OUT_FLUSH) {
                out_write(c);
                tds_attn_poll(c);
            }
            pkt_open(c);
            continue;
        }
        size_t k = n < room ? n : room;
        buf_append(&c->out, s, k);
        s += k;
        n -= k;
    }
}

int tds_out_end(struct tds_conn *c)
{
    if (!c->out_open)
        return 0;
    pkt_close(c, true);
    out_write(c);
    c->out_open = false;
    return c->broken ? -EPIPE : 0;
}

void tds_attn_poll(struct tds_conn *c)
{
    if (c->attention)
        return;
    if (c->in_len - c->in_off < TDS_HDR_LEN) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        bool ready = c->io && c->io->pending(c);
        if (!ready && (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN)))
            return;
        if (c->in_off > 0 && c->in_off == c->in_len)
            c->in_off = c->in_len = 0;
        ssize_t r = conn_recv(c, c->in + c->in_len, c->in_cap - c->in_len, false);
        if (r <= 0)
            return;
        c->in_len += (size_t)r;
        if (c->in_len - c->in_off < TDS_HDR_LEN)
            return;
    }
    /* Only an ATTENTION can legally arrive while we answer; anything else
     * stays buffered for tds_msg_read() to judge. */
    const uint8_t *h = c->in + c->in_off;
    size_t len = (size_t)h[2] << 8 | h[3];
    if (h[0] == TDS_PKT_ATTENTION && len == TDS_HDR_LEN) {
        c->in_off += TDS_HDR_LEN;
        c->attention = true;
    }
}
