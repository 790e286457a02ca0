/*
 * Outgoing packets and their queues.
 *
 * Most packets own their bytes. An ack is two parts: its own "43<id>" and
 * a tail, the rest of the message ('[{"success":...}]'), which does not
 * depend on the id and is shared by reference: every ack that answers the
 * same request from the same LMDB snapshot (answers.c keeps the tail) is
 * written from one copy, so a kept 57 MB answer costs no allocation, copy
 * or page fault per request.
 *
 * The "43<id>" goes into the tail's headroom right in front of it, at the
 * moment a slice of the packet is written, and lws writes its frame header
 * into the bytes before the slice. A tail is shared by every service loop
 * (a kept answer goes to clients of all loops), so each slice is written
 * under the tail's lock; lws has sent or copied the slice's bytes when
 * lws_write() returns, before another packet of the same tail puts its
 * own id there. Slices of packets that own their bytes need no lock.
 */
#include "sio/sio_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- spare tail buffers -------------------------------------------------- *
 *
 * An answer rendered into a fresh buffer first touches every 4 KiB page of
 * it, each a page fault that zeroes the page, and grows it by doubling
 * (realloc copies). Big buffers are their own mappings (main.c's mmap
 * threshold); smaller ones come from a worker's malloc arena, which gives
 * the top of its heap back (madvise) as soon as the loop frees an answer
 * over malloc's trim threshold there, so a 300 KB answer faulted its pages
 * again every time too. For the full records of 5000 companies that was
 * about half of an unreused ack's CPU, for a 2-field select (0.3 MB) a
 * third. Buffers of freed tails are kept for the next answers instead, a
 * few and a bounded number of bytes (answer_buffers_mb: memory held while
 * idle), shared by every loop and worker like the tails; when more are
 * freed than are kept, the biggest stay (a small answer rendered into a
 * big buffer touches only its own pages; a big one in a small buffer
 * grows it). */

#define SPARE_MAX 4                /* buffers kept: about one per concurrent render */
#define SPARE_MIN_CAP (64u << 10)  /* smaller answers stay within malloc's trim threshold */

static struct {
    pthread_mutex_t mu;
    struct buf b[SPARE_MAX];
    size_t n, bytes, cap_bytes;
} spare = {.mu = PTHREAD_MUTEX_INITIALIZER};

void sio_tail_spares_set(size_t cap_bytes)
{
    pthread_mutex_lock(&spare.mu);
    spare.cap_bytes = cap_bytes;
    while (spare.n && spare.bytes > cap_bytes) {
        spare.bytes -= spare.b[--spare.n].cap;
        buf_fini(&spare.b[spare.n]);
    }
    pthread_mutex_unlock(&spare.mu);
}

/* The newest spare buffer (its pages are the likeliest still cached), or an empty one. */
static void spare_take(struct buf *b)
{
    pthread_mutex_lock(&spare.mu);
    if (spare.n) {
        *b = spare.b[--spare.n];
        spare.bytes -= b->cap;
        buf_reset(b);
    } else {
        buf_init(b, SIO_TAIL_HEADROOM);
    }
    pthread_mutex_unlock(&spare.mu);
}

/* The smallest kept buffer, if it is smaller than cap; -1 if none. */
static int spare_smaller(size_t cap)
{
    int at = -1;
    for (size_t i = 0; i < spare.n; i++)
        if (spare.b[i].cap < cap && (at < 0 || spare.b[i].cap < spare.b[at].cap))
            at = (int)i;
    return at;
}

/* Keeps b's memory for a later tail, in place of smaller ones if need be,
 * or frees it. Called with spare.mu held; what it drops goes into *drop. */
static bool spare_keep(struct buf *b, struct buf drop[SPARE_MAX], size_t *n_drop)
{
    if (b->cap > spare.cap_bytes)
        return false;
    int at;
    while ((spare.n == SPARE_MAX || spare.bytes + b->cap > spare.cap_bytes) &&
           (at = spare_smaller(b->cap)) >= 0) {
        spare.bytes -= spare.b[at].cap;
        drop[(*n_drop)++] = spare.b[at];
        spare.b[at] = spare.b[--spare.n];
    }
    if (spare.n == SPARE_MAX || spare.bytes + b->cap > spare.cap_bytes)
        return false;
    spare.b[spare.n++] = *b;
    spare.bytes += b->cap;
    return true;
}

static void spare_put(struct buf *b)
{
    struct buf drop[SPARE_MAX];
    size_t n_drop = 0;
    bool kept = false;
    if (b->cap >= SPARE_MIN_CAP) {
        pthread_mutex_lock(&spare.mu);
        kept = spare_keep(b, drop, &n_drop);
        pthread_mutex_unlock(&spare.mu);
    }
    for (size_t i = 0; i < n_drop; i++) /* freed outside the lock: munmap takes a while */
        buf_fini(&drop[i]);
    if (!kept)
        buf_fini(b);
}

size_t sio_tail_spares_bytes(void)
{
    pthread_mutex_lock(&spare.mu);
    size_t n = spare.bytes;
    pthread_mutex_unlock(&spare.mu);
    return n;
}

/* ---- tails -------------------------------------------------------------- */

struct sio_tail *sio_tail_new(void)
{
    struct sio_tail *t = xcalloc(1, sizeof *t);
    atomic_init(&t->refs, 1);
    pthread_mutex_init(&t->write_mu, NULL);
    spare_take(&t->b);
    return t;
}

struct sio_tail *sio_tail_ref(struct sio_tail *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void sio_tail_unref(struct sio_tail *t)
{
    /* acq_rel: the last owner sees every write the others made. */
    if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&t->write_mu);
    spare_put(&t->b);
    cache_rows_fini(&t->rows);
    free(t);
}

/* ---- packets ------------------------------------------------------------ */

struct sio_pkt *sio_pkt_new(void)
{
    struct sio_pkt *p = xcalloc(1, sizeof *p);
    buf_init(&p->b, SIO_HEADROOM);
    return p;
}

struct sio_pkt *sio_pkt_lit(const char *text)
{
    struct sio_pkt *p = sio_pkt_new();
    buf_puts(&p->b, text);
    return p;
}

struct sio_pkt *sio_pkt_ack(struct sio_tail *t, uint64_t id)
{
    struct sio_pkt *p = sio_pkt_new();
    p->tail = sio_tail_ref(t);
    p->prefix_len = (uint8_t)sio_ack_prefix(p->prefix, id);
    return p;
}

void sio_pkt_free(struct sio_pkt *p)
{
    if (!p)
        return;
    sio_tail_unref(p->tail);
    buf_fini(&p->b);
    free(p);
}

size_t sio_pkt_len(const struct sio_pkt *p)
{
    return p->tail ? p->prefix_len + p->tail->b.len : p->b.len;
}

/* The packet's first byte; SIO_HEADROOM writable bytes precede it. */
static uint8_t *pkt_start(struct sio_pkt *p)
{
    if (!p->tail)
        return buf_data(&p->b);
    uint8_t *start = buf_data(&p->tail->b) - p->prefix_len;
    memcpy(start, p->prefix, p->prefix_len);
    return start;
}

static int pkt_write(struct lws *wsi, struct sio_pkt *p, bool sep, size_t off, size_t n,
                     enum lws_write_protocol wp)
{
    uint8_t *start = pkt_start(p);
    if (sep)
        *--start = EIO_SEPARATOR;
    /* lws writes its frame header into the LWS_PRE bytes in front of the
     * slice; past the first slice those are the packet's own (and maybe
     * another packet's) bytes, so they are kept aside. */
    uint8_t *at = start + off, saved[LWS_PRE];
    memcpy(saved, at - LWS_PRE, LWS_PRE);
    int rc = lws_write(wsi, at, n, wp);
    memcpy(at - LWS_PRE, saved, LWS_PRE);
    return rc < 0 ? -1 : 0;
}

int sio_pkt_write(struct lws *wsi, struct sio_pkt *p, bool sep, size_t off, size_t n,
                  enum lws_write_protocol wp)
{
    if (!p->tail)
        return pkt_write(wsi, p, sep, off, n, wp);
    pthread_mutex_lock(&p->tail->write_mu);
    int rc = pkt_write(wsi, p, sep, off, n, wp);
    pthread_mutex_unlock(&p->tail->write_mu);
    return rc;
}

/* ---- queues ------------------------------------------------------------- */

void sio_pktq_init(struct sio_pktq *q) { *q = (struct sio_pktq){0}; }

void sio_pktq_push(struct sio_pktq *q, struct sio_pkt *p)
{
    p->next = NULL;
    if (q->last)
        q->last->next = p;
    else
        q->head = p;
    q->last = p;
    q->n++;
    q->bytes += sio_pkt_len(p);
}

struct sio_pkt *sio_pktq_pop(struct sio_pktq *q)
{
    struct sio_pkt *p = q->head;
    if (!p)
        return NULL;
    q->head = p->next;
    if (!q->head)
        q->last = NULL;
    q->n--;
    q->bytes -= sio_pkt_len(p);
    p->next = NULL;
    return p;
}

void sio_pktq_clear(struct sio_pktq *q)
{
    struct sio_pkt *p;
    while ((p = sio_pktq_pop(q)))
        sio_pkt_free(p);
}

void sio_pktq_take(struct sio_pktq *dst, struct sio_pktq *src)
{
    if (!src->head)
        return;
    if (dst->last)
        dst->last->next = src->head;
    else
        dst->head = src->head;
    dst->last = src->last;
    dst->n += src->n;
    dst->bytes += src->bytes;
    *src = (struct sio_pktq){0};
}

size_t sio_pktq_acks(const struct sio_pktq *q)
{
    size_t n = 0;
    for (const struct sio_pkt *p = q->head; p; p = p->next)
        n += p->tail != NULL;
    return n;
}
