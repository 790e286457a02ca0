/*
 * The limit of tools/bench/sio_bench.js: the cheapest server that the
 * benchmark's clients accept. It runs on the same libwebsockets + libev loop with
 * the same framing as cwcache (one protocol, TEXT frames, answers written
 * in SIO_BENCH_CHUNK fragments with TEXT/CONTINUATION/NO_FIN), speaks just
 * enough Engine.IO/Socket.IO for socket.io-client and a bare ws client
 * (open packet, CONNECT answer), and answers each event with bytes built
 * at startup: no JSON parsing, no allocation per request, no threads.
 * Whatever cwcache spends above this is the price of doing real work.
 *
 * usage: sio_bare ANSWERS PORT_FILE
 *   ANSWERS: one request per line, "<args JSON>\t<ack payload JSON>", where
 *   <args JSON> is the exact text a client sends after the ack id
 *   (JSON.stringify([event, opts ?? null])). Exit codes: 0, 1 error, 2 usage.
 */
#include <errno.h>
#include <ev.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BARE_CHUNK (32 * 1024) /* cwcache's SIO_WRITE_CHUNK */
#define BARE_ID_ROOM 24        /* "43" + an ack id of up to 2^32, in front of '[' */
#define BARE_QUEUE 256         /* answers queued per connection (clients wait for each) */

struct answer {
    struct slice req;          /* the args text the client sends */
    uint8_t *mem;              /* LWS_PRE + BARE_ID_ROOM + "[" payload "]" */
    size_t len;                /* bytes from the '[' on */
};

static struct answer *answers;
static size_t n_answers;

struct pending {
    int answer;                /* index, or -1 for a literal control packet */
    uint64_t id;
    const char *lit;
};

struct conn {
    struct pending q[BARE_QUEUE];
    unsigned head, n;
    uint8_t *tx;               /* the packet being written (inside an answer or lit) */
    size_t tx_len, tx_off;
    uint8_t lit[LWS_PRE + 128];
};

static const char OPEN[] = "0{\"sid\":\"bare0000000000000000\",\"upgrades\":[],"
                           "\"pingInterval\":600000,\"pingTimeout\":600000,\"maxPayload\":1000000}";
static const char CONNECTED[] = "40{\"sid\":\"baresocket0000000000\"}";

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static const struct answer *answer_find(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < n_answers; i++)
        if (answers[i].req.len == len && memcmp(answers[i].req.p, p, len) == 0)
            return &answers[i];
    return NULL;
}

static int queue_push(struct lws *wsi, struct conn *c, struct pending pd)
{
    if (c->n == BARE_QUEUE) {
        lwsl_err("sio_bare: more than %d answers queued on one connection\n", BARE_QUEUE);
        return -1;
    }
    c->q[(c->head + c->n++) % BARE_QUEUE] = pd;
    lws_callback_on_writable(wsi);
    return 0;
}

static int on_receive(struct lws *wsi, struct conn *c, const uint8_t *m, size_t len)
{
    if (len >= 2 && m[0] == '4' && m[1] == '0')
        return queue_push(wsi, c, (struct pending){-1, 0, CONNECTED});
    if (len < 3 || m[0] != '4' || m[1] != '2')
        return 0; /* pongs and anything else: nothing to answer */
    size_t i = 2;
    uint64_t id = 0;
    while (i < len && m[i] >= '0' && m[i] <= '9' && id < 4294967296ull)
        id = id * 10 + (uint64_t)(m[i++] - '0');
    const struct answer *a = answer_find(m + i, len - i);
    if (!a) {
        lwsl_err("sio_bare: no prebuilt answer for %.*s\n", (int)(len - i), m + i);
        return -1;
    }
    return queue_push(wsi, c, (struct pending){(int)(a - answers), id, NULL});
}

/* The next packet's bytes: the ack header goes into the room in front of
 * the prebuilt '[' (the loop is single-threaded and an answer is written
 * before the next one starts on this connection; other connections
 * rewrite only these header bytes, which lws has already copied). */
static void tx_start(struct conn *c)
{
    struct pending pd = c->q[c->head];
    c->head = (c->head + 1) % BARE_QUEUE;
    c->n--;
    c->tx_off = 0;
    if (pd.answer < 0) {
        size_t n = strlen(pd.lit);
        memcpy(c->lit + LWS_PRE, pd.lit, n);
        c->tx = c->lit + LWS_PRE;
        c->tx_len = n;
        return;
    }
    const struct answer *a = &answers[pd.answer];
    char hdr[BARE_ID_ROOM];
    int n = snprintf(hdr, sizeof hdr, "43%llu", (unsigned long long)pd.id);
    uint8_t *bracket = a->mem + LWS_PRE + BARE_ID_ROOM;
    memcpy(bracket - n, hdr, (size_t)n);
    c->tx = bracket - n;
    c->tx_len = (size_t)n + a->len;
}

/* lws writes the frame header into the LWS_PRE bytes in front of each
 * fragment, which inside a shared answer are answer bytes: kept aside. */
static int write_chunk(struct lws *wsi, struct conn *c)
{
    size_t left = c->tx_len - c->tx_off, n = left < BARE_CHUNK ? left : BARE_CHUNK;
    int flags = c->tx_off ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT;
    if (n < left)
        flags |= LWS_WRITE_NO_FIN;
    uint8_t *p = c->tx + c->tx_off, saved[LWS_PRE];
    memcpy(saved, p - LWS_PRE, LWS_PRE);
    int rc = lws_write(wsi, p, n, (enum lws_write_protocol)flags);
    memcpy(p - LWS_PRE, saved, LWS_PRE);
    if (rc < 0)
        return -1;
    c->tx_off += n;
    if (c->tx_off == c->tx_len)
        c->tx = NULL;
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof *c);
        return queue_push(wsi, c, (struct pending){-1, 0, OPEN});
    case LWS_CALLBACK_RECEIVE:
        return on_receive(wsi, c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!c->tx && c->n)
            tx_start(c);
        if (c->tx && write_chunk(wsi, c) < 0)
            return -1;
        if (c->tx || c->n)
            lws_callback_on_writable(wsi);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"sio-bare", callback, sizeof(struct conn), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int answers_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "sio_bare: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        char *tab = memchr(line, '\t', (size_t)n);
        if (!tab) {
            fprintf(stderr, "sio_bare: %s: line %zu has no tab\n", path, n_answers + 1);
            rc = -1;
            break;
        }
        size_t req = (size_t)(tab - line), body = (size_t)n - req - 1;
        answers = xrealloc(answers, (n_answers + 1) * sizeof *answers);
        struct answer *a = &answers[n_answers++];
        a->req = (struct slice){(const uint8_t *)xstrndup(line, req), req};
        a->len = body + 2;
        a->mem = xmalloc(LWS_PRE + BARE_ID_ROOM + a->len);
        uint8_t *p = a->mem + LWS_PRE + BARE_ID_ROOM;
        p[0] = '[';
        memcpy(p + 1, tab + 1, body);
        p[body + 1] = ']';
    }
    free(line);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sio_bare ANSWERS PORT_FILE\n");
        return 2;
    }
    if (answers_load(argv[1]) < 0)
        return 1;
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    struct lws_context_creation_info info = {0};
    info.port = 0;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.max_http_header_data = 8192;
    info.timeout_secs = 30;
    info.alpn = "http/1.1";
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO); /* cwcache's loop: src/sio/loop.c */
    void *loops[1] = {loop};
    info.options |= LWS_SERVER_OPTION_LIBEV;
    info.foreign_loops = loops;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx)
        return 1;
    struct lws_vhost *vh = lws_get_vhost_by_name(ctx, "default");
    FILE *pf = fopen(argv[2], "w");
    if (!pf || fprintf(pf, "%d\n", lws_get_vhost_listen_port(vh)) < 0 || fclose(pf) != 0) {
        fprintf(stderr, "sio_bare: cannot write %s\n", argv[2]);
        lws_context_destroy(ctx);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop)
        ev_run(loop, EVRUN_ONCE);
    lws_context_destroy(ctx);
    ev_loop_destroy(loop);
    for (size_t i = 0; i < n_answers; i++) {
        free((void *)answers[i].req.p);
        free(answers[i].mem);
    }
    free(answers);
    return 0;
}
