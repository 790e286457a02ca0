/*
 * TLS as SQL Server speaks it under TDS 7.x (MS-TDS 3.2.5.2, 3.3.5.2):
 *
 *   1. PRELOGIN request and answer settle ENCRYPTION (prelogin.c).
 *   2. The TLS handshake travels inside PRELOGIN (0x12) packets: each
 *      client flight is one TDS message, each of our flights goes back as
 *      one. OpenSSL works on memory BIOs here, the packets on the socket.
 *   3. Then TLS records run straight over TCP (a socket BIO), carrying the
 *      TDS packets: for the whole session, or when both sides said
 *      ENCRYPT_OFF only for the LOGIN7 packet, after which the client drops
 *      TLS without a close_notify and the login answer goes out in clear.
 *
 * SQL Server speaks at most TLS 1.2 under TDS 7.x, and so does tdslite; no
 * session tickets (a ticket sent after the handshake would reach a client
 * that has already left the PRELOGIN wrapping).
 *
 * During the session the socket is non-blocking, so the ATTENTION look-ahead
 * (tds_attn_poll) can ask for a record without waiting; blocking reads and
 * writes wait in poll().
 */
#include "tdslite.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

struct tds_tls {
    SSL_CTX *ctx;
};

static const char *ssl_reason(void)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    return e ? ERR_reason_error_string(e) : "no details";
}

int tds_tls_new(struct tds_tls **out, const char *cert, const char *key)
{
    *out = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        log_error(LOG_TDS, "TLS: cannot create a context: %s", ssl_reason());
        return -ENOMEM;
    }
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        log_error(LOG_TDS, "--tls-cert %s: %s", cert, ssl_reason());
        SSL_CTX_free(ctx);
        return -EINVAL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        log_error(LOG_TDS, "--tls-key %s: %s", key, ssl_reason());
        SSL_CTX_free(ctx);
        return -EINVAL;
    }
    *out = xcalloc(1, sizeof **out);
    (*out)->ctx = ctx;
    return 0;
}

void tds_tls_free(struct tds_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- the transport over the socket ------------------------------------------ */

/* One SSL_read or SSL_write, waiting in poll() for what OpenSSL wants while block. */
static ssize_t tls_io(struct tds_conn *c, void *p, size_t n, bool write, bool block)
{
    SSL *ssl = c->io_state;
    int len = n > INT32_MAX ? INT32_MAX : (int)n;
    for (;;) {
        ERR_clear_error();
        int r = write ? SSL_write(ssl, p, len) : SSL_read(ssl, p, len);
        if (r > 0)
            return r;
        short ev;
        switch (SSL_get_error(ssl, r)) {
        case SSL_ERROR_WANT_READ: ev = POLLIN; break;
        case SSL_ERROR_WANT_WRITE: ev = POLLOUT; break;
        case SSL_ERROR_ZERO_RETURN: return 0; /* close_notify: a clean end */
        default:
            errno = ECONNRESET;
            return -1;
        }
        if (!block) {
            errno = EAGAIN;
            return -1;
        }
        struct pollfd pfd = {.fd = c->fd, .events = ev};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return -1;
    }
}

static ssize_t tls_read(struct tds_conn *c, void *p, size_t n, bool block)
{
    return tls_io(c, p, n, false, block);
}

static ssize_t tls_write(struct tds_conn *c, const void *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = tls_io(c, (void *)((const uint8_t *)p + off), n - off, true, true);
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return (ssize_t)n;
}

static bool tls_pending(const struct tds_conn *c) { return SSL_pending(c->io_state) > 0; }

static const struct tds_io tls_ops = {tls_read, tls_write, tls_pending};

static void set_nonblocking(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* ---- the handshake inside PRELOGIN packets --------------------------------- */

/* Sends what OpenSSL wrote to wb as one PRELOGIN message. */
static int flight_send(struct tds_conn *c, BIO *wb)
{
    if (BIO_pending(wb) <= 0)
        return 0;
    tds_out_begin(c, TDS_PKT_PRELOGIN);
    uint8_t tmp[4096];
    int n;
    while ((n = BIO_read(wb, tmp, sizeof tmp)) > 0)
        tds_put(c, tmp, (size_t)n);
    return tds_out_end(c);
}

static int handshake(struct tds_conn *c, SSL *ssl, BIO *rb, BIO *wb)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(ssl);
        int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
        if (flight_send(c, wb) < 0)
            return -EPIPE;
        if (r == 1)
            return 0;
        if (err != SSL_ERROR_WANT_READ) {
            log_info(LOG_TDS, "spid %u: TLS handshake failed: %s", c->spid, ssl_reason());
            return -EPROTO;
        }
        int rc = tds_msg_read(c);
        if (rc < 0 || c->msg_type != TDS_PKT_PRELOGIN) {
            log_info(LOG_TDS, "spid %u: the client left the TLS handshake", c->spid);
            return -EPROTO;
        }
        if (BIO_write(rb, buf_data(&c->msg), (int)c->msg.len) != (int)c->msg.len)
            return -ENOMEM;
    }
}

int tds_tls_start(struct tds_conn *c, const struct tds_tls *t)
{
    SSL *ssl = SSL_new(t->ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    if (!ssl || !rb || !wb) {
        BIO_free(rb);
        BIO_free(wb);
        SSL_free(ssl);
        return -ENOMEM;
    }
    SSL_set_bio(ssl, rb, wb); /* ssl owns both */
    SSL_set_accept_state(ssl);
    int rc = handshake(c, ssl, rb, wb);
    if (rc == 0 && c->in_len > c->in_off) {
        /* Records before our Finished: no TDS 7 client sends them. */
        log_info(LOG_TDS, "spid %u: data ahead of the TLS handshake's end", c->spid);
        rc = -EPROTO;
    }
    BIO *sock = rc == 0 ? BIO_new_socket(c->fd, BIO_NOCLOSE) : NULL;
    if (!sock) {
        SSL_free(ssl);
        return rc < 0 ? rc : -ENOMEM;
    }
    /* From here on records go straight over TCP; the memory BIOs are freed. */
    SSL_set_bio(ssl, sock, sock);
    set_nonblocking(c->fd, true);
    c->io_state = ssl;
    c->io = &tls_ops;
    return 0;
}

void tds_tls_stop(struct tds_conn *c)
{
    if (!c->io)
        return;
    SSL_free(c->io_state);
    c->io_state = NULL;
    c->io = NULL;
    set_nonblocking(c->fd, false);
}

const char *tds_tls_describe(const struct tds_conn *c, char *out, size_t outlen)
{
    const SSL *ssl = c->io_state;
    snprintf(out, outlen, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    return out;
}
