/*
 * Rendered answers kept for identical requests. Collectors tend to ask the
 * same question again and again (the same event with the same options,
 * every few seconds, from many clients); between two commits of the
 * poller the answer cannot change, so the ack tail rendered once
 * ('[{"success":true,"data":[...]}]', see pkt.c) is written again, by
 * reference, for every later ack instead of being read out of LMDB again.
 *
 * An entry is keyed by the request's exact argument text (what follows the
 * ack id: ["event",opts]) and tagged with the LMDB transaction id that was
 * the newest when its rendering began. It is used only while that id is
 * still the newest: any commit (the poller, or a `cwcachectl warm` in
 * another process) makes every older entry stale. Only answers rendered
 * from the warm cache are kept; live-fallback answers are not.
 *
 * Loop thread only, so no locks. Bounded by bytes and by SIO_ANSWERS_MAX
 * entries (a lookup walks the list): least recently used entries go first,
 * and an answer bigger than half of the budget is never kept (it would
 * push out everything else for one request). A dropped entry's tail lives
 * on while packets being written still hold it.
 */
#include "sio/sio_int.h"

#include <stdlib.h>

#include <xxhash.h>

struct sio_answer {
    struct sio_answer *prev, *next; /* most recently used first */
    uint64_t hash;                  /* XXH3 of key: most misses end here */
    struct buf key;
    struct sio_tail *tail;
    uint64_t txn;
    const struct collector *col;
};

void sio_answers_init(struct sio_answers *a, size_t cap_bytes)
{
    *a = (struct sio_answers){.cap_bytes = cap_bytes};
}

static size_t entry_bytes(const struct sio_answer *e)
{
    return sizeof *e + e->key.len + e->tail->b.len;
}

static void unlink_entry(struct sio_answers *a, struct sio_answer *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        a->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        a->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(struct sio_answers *a, struct sio_answer *e)
{
    e->prev = NULL;
    e->next = a->head;
    if (a->head)
        a->head->prev = e;
    a->head = e;
    if (!a->tail)
        a->tail = e;
}

static void drop(struct sio_answers *a, struct sio_answer *e)
{
    unlink_entry(a, e);
    a->bytes -= entry_bytes(e);
    a->n--;
    buf_fini(&e->key);
    sio_tail_unref(e->tail);
    free(e);
}

static struct sio_answer *find(struct sio_answers *a, struct slice key, uint64_t hash)
{
    for (struct sio_answer *e = a->head; e; e = e->next)
        if (e->hash == hash && slice_eq(buf_slice(&e->key), key))
            return e;
    return NULL;
}

struct sio_tail *sio_answers_get(struct sio_answers *a, struct slice key, uint64_t txn,
                                 const struct collector **col)
{
    if (!a->cap_bytes || !a->n)
        return NULL;
    struct sio_answer *e = find(a, key, XXH3_64bits(key.p, key.len));
    if (!e)
        return NULL;
    if (e->txn != txn) { /* the store moved on since: never right again */
        drop(a, e);
        return NULL;
    }
    unlink_entry(a, e);
    push_front(a, e);
    *col = e->col;
    return e->tail;
}

void sio_answers_put(struct sio_answers *a, struct slice key, struct sio_tail *tail, uint64_t txn,
                     const struct collector *col)
{
    if (!a->cap_bytes || key.len + tail->b.len > a->cap_bytes / 2)
        return;
    uint64_t hash = XXH3_64bits(key.p, key.len);
    struct sio_answer *old = find(a, key, hash);
    if (old) {
        if (old->txn >= txn)
            return; /* an answer from the same or a newer snapshot is kept */
        drop(a, old);
    }
    struct sio_answer *e = xcalloc(1, sizeof *e);
    e->hash = hash;
    e->txn = txn;
    e->col = col;
    e->tail = tail;
    tail->refs++;
    buf_init(&e->key, 0);
    buf_append(&e->key, key.p, key.len);
    push_front(a, e);
    a->bytes += entry_bytes(e);
    a->n++;
    while ((a->bytes > a->cap_bytes || a->n > SIO_ANSWERS_MAX) && a->tail != e)
        drop(a, a->tail);
}

void sio_answers_fini(struct sio_answers *a)
{
    while (a->head)
        drop(a, a->head);
    *a = (struct sio_answers){0};
}

bool sio_answers_txn(struct cache *c, uint64_t *txn)
{
    struct cache_stats st;
    if (!c || cache_stats_get(c, &st) < 0)
        return false;
    *txn = st.last_txn_id;
    return true;
}
