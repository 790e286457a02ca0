/*
 * Rendered answers kept for identical requests. Collectors tend to ask the
 * same question again and again (the same event with the same options,
 * every few seconds, from many clients); while none of the models an
 * answer read has changed, the ack tail rendered once
 * ('[{"success":true,"data":[...]}]', see outq.c) is written again, by
 * reference, for every later ack instead of being read out of LMDB again.
 *
 * An entry is keyed by the request's exact argument text (what follows the
 * ack id: ["event",opts]) and holds the models its plan read and the
 * largest of their data versions in the snapshot it was rendered from
 * (cache/versions.c). It is used only while that is still the largest of
 * their versions in the newest snapshot: a change to any of those models,
 * committed by the poller or by `cwcachectl warm` in another process,
 * makes it stale; polls that find nothing new and changes to other models
 * do not. Only answers rendered from the warm cache are kept; live-fallback
 * answers are not.
 *
 * One store serves every service loop (one copy of each answer): each
 * loop has its own view (struct sio_answers: its newest data versions,
 * read through its own LMDB handle) and the entries sit behind the
 * store's lock, held only to walk the list and move an entry; a hit hands
 * out a reference to the tail, so a tail dropped by another loop meanwhile
 * lives on in the packets that hold it. Bounded by bytes and by
 * SIO_ANSWERS_MAX entries (a lookup walks the list): least recently used
 * entries go first, and an answer bigger than half of the budget is never
 * kept (it would push out everything else for one request).
 *
 * A change need not cost a full render: a tail whose plan allows it
 * carries its root rows (cache/patch.c), and such an entry, once stale,
 * stays in the store as the base of the next answer to the same request:
 * the worker takes it (sio_answers_base), renders only the root rows the
 * change log names since the entry's version and copies the rest, and the
 * result replaces the entry when it is put. The row table counts against
 * the byte budget (12 bytes a row).
 *
 * A kept tail's compressed copy (compress.c) is kept beside it once a
 * polling response has made it, and spliced into every later compressed
 * response that carries the tail: a reused answer costs no deflate either.
 * The copy counts against the byte budget; it is spliced under the store's
 * lock, since another loop may drop the entry (and its copy) at any time.
 */
#include "sio/sio_int.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

struct sio_answer {
    struct sio_answer *prev, *next; /* most recently used first */
    uint64_t hash;                  /* XXH3 of key: most misses end here */
    struct buf key;
    struct sio_tail *tail;
    struct sio_z *z;                /* tail's compressed copy, or NULL */
    uint16_t *deps;                 /* the models the answer read */
    size_t n_deps;
    uint64_t version;               /* the largest of their versions when rendered */
    const struct collector *col;
    bool stale;                     /* seen stale, kept as a base to patch (counted once) */
};

struct sio_answer_store {
    pthread_mutex_t mu;
    atomic_uint refs;             /* one per view */
    struct sio_answer *head, *tail;
    size_t n, bytes, cap_bytes;
    uint64_t hits, stale;         /* answers reused; entries dropped as stale (/metrics) */
    uint64_t patched;             /* answers patched from a stale one (/metrics) */
};

void sio_answers_init(struct sio_answers *a, size_t cap_bytes)
{
    *a = (struct sio_answers){.cap_bytes = cap_bytes};
    if (!cap_bytes)
        return;
    struct sio_answer_store *st = xcalloc(1, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    atomic_init(&st->refs, 1);
    st->cap_bytes = cap_bytes;
    a->store = st;
}

void sio_answers_share(struct sio_answers *a, const struct sio_answers *from)
{
    *a = (struct sio_answers){.cap_bytes = from->cap_bytes, .store = from->store};
    if (a->store)
        atomic_fetch_add_explicit(&a->store->refs, 1, memory_order_relaxed);
}

static size_t entry_bytes(const struct sio_answer *e)
{
    return sizeof *e + e->key.len + e->n_deps * sizeof *e->deps + e->tail->b.len +
           cache_rows_bytes(&e->tail->rows) + (e->z ? e->z->out.len : 0);
}

static void unlink_entry(struct sio_answer_store *a, struct sio_answer *e)
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

static void push_front(struct sio_answer_store *a, struct sio_answer *e)
{
    e->prev = NULL;
    e->next = a->head;
    if (a->head)
        a->head->prev = e;
    a->head = e;
    if (!a->tail)
        a->tail = e;
}

static void drop(struct sio_answer_store *a, struct sio_answer *e)
{
    unlink_entry(a, e);
    a->bytes -= entry_bytes(e);
    a->n--;
    buf_fini(&e->key);
    sio_tail_unref(e->tail);
    sio_z_free(e->z);
    free(e->deps);
    free(e);
}

static struct sio_answer *find(struct sio_answer_store *a, struct slice key, uint64_t hash)
{
    for (struct sio_answer *e = a->head; e; e = e->next)
        if (e->hash == hash && slice_eq(buf_slice(&e->key), key))
            return e;
    return NULL;
}

uint64_t sio_answers_version(const uint16_t *deps, size_t n_deps, const uint64_t *vers)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n_deps; i++)
        if (vers[deps[i]] > v)
            v = vers[deps[i]];
    return v;
}

struct sio_tail *sio_answers_get(struct sio_answers *view, struct slice key, const uint64_t *vers,
                                 const struct collector **col)
{
    struct sio_answer_store *a = view->store;
    if (!a)
        return NULL;
    uint64_t hash = XXH3_64bits(key.p, key.len);
    struct sio_tail *t = NULL;
    pthread_mutex_lock(&a->mu);
    struct sio_answer *e = a->n ? find(a, key, hash) : NULL;
    if (e && sio_answers_version(e->deps, e->n_deps, vers) != e->version) {
        a->stale += !e->stale;
        e->stale = true;
        if (!e->tail->has_rows)
            drop(a, e); /* a model it read has changed: never right again */
    } else if (e) {
        a->hits++;
        unlink_entry(a, e);
        push_front(a, e);
        *col = e->col;
        t = sio_tail_ref(e->tail);
    }
    pthread_mutex_unlock(&a->mu);
    return t;
}

struct sio_tail *sio_answers_base(struct sio_answers *view, struct slice key, uint64_t *version)
{
    struct sio_answer_store *a = view->store;
    if (!a)
        return NULL;
    uint64_t hash = XXH3_64bits(key.p, key.len);
    struct sio_tail *t = NULL;
    pthread_mutex_lock(&a->mu);
    struct sio_answer *e = a->n ? find(a, key, hash) : NULL;
    if (e && e->tail->has_rows) {
        t = sio_tail_ref(e->tail);
        *version = e->version;
    }
    pthread_mutex_unlock(&a->mu);
    return t;
}

/* Drops the least recently used entries, never `keep`, while over budget. */
static void trim(struct sio_answer_store *a, const struct sio_answer *keep)
{
    while ((a->bytes > a->cap_bytes || a->n > SIO_ANSWERS_MAX) && a->tail != keep)
        drop(a, a->tail);
}

static void put_locked(struct sio_answer_store *a, struct slice key, uint64_t hash,
                       struct sio_tail *tail, const struct sio_answer_deps *d,
                       const struct collector *col)
{
    struct sio_answer *old = find(a, key, hash);
    if (old) {
        if (old->version >= d->version)
            return; /* an answer from the same or newer data is kept */
        drop(a, old);
    }
    a->patched += d->patched;
    struct sio_answer *e = xcalloc(1, sizeof *e);
    e->hash = hash;
    e->version = d->version;
    e->deps = xmalloc(d->n * sizeof *e->deps);
    memcpy(e->deps, d->ids, d->n * sizeof *e->deps);
    e->n_deps = d->n;
    e->col = col;
    e->tail = sio_tail_ref(tail);
    buf_init(&e->key, 0);
    buf_append(&e->key, key.p, key.len);
    push_front(a, e);
    a->bytes += entry_bytes(e);
    a->n++;
    trim(a, e);
}

static struct sio_answer *find_tail(struct sio_answer_store *a, const struct sio_tail *t)
{
    for (struct sio_answer *e = a->head; e; e = e->next)
        if (e->tail == t)
            return e;
    return NULL;
}

bool sio_answers_zsplice(struct sio_answers *view, const struct sio_tail *t, struct sio_z *dst)
{
    struct sio_answer_store *a = view->store;
    if (!a)
        return false;
    pthread_mutex_lock(&a->mu);
    struct sio_answer *e = a->n ? find_tail(a, t) : NULL;
    bool kept = e && e->z;
    if (kept)
        sio_z_splice(dst, e->z);
    pthread_mutex_unlock(&a->mu);
    return kept;
}

void sio_answers_zcopy_keep(struct sio_answers *view, const struct sio_tail *t,
                            struct sio_z **copy)
{
    struct sio_answer_store *a = view->store;
    if (a)
        pthread_mutex_lock(&a->mu);
    struct sio_answer *e = a && a->n ? find_tail(a, t) : NULL;
    if (e && !e->z) {
        a->bytes -= entry_bytes(e);
        e->z = *copy;
        a->bytes += entry_bytes(e);
        trim(a, e);
    } else {
        sio_z_free(*copy);
    }
    if (a)
        pthread_mutex_unlock(&a->mu);
    *copy = NULL;
}

void sio_answers_put(struct sio_answers *view, struct slice key, struct sio_tail *tail,
                     const struct sio_answer_deps *d, const struct collector *col)
{
    struct sio_answer_store *a = view->store;
    if (!a || key.len + tail->b.len > a->cap_bytes / 2)
        return;
    uint64_t hash = XXH3_64bits(key.p, key.len);
    pthread_mutex_lock(&a->mu);
    put_locked(a, key, hash, tail, d, col);
    pthread_mutex_unlock(&a->mu);
}

void sio_answers_stats(const struct sio_answers *view, struct sio_answers_stats *out)
{
    struct sio_answer_store *a = view->store;
    *out = (struct sio_answers_stats){0};
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    *out = (struct sio_answers_stats){.n = a->n, .bytes = a->bytes, .cap_bytes = a->cap_bytes,
                                      .hits = a->hits, .stale = a->stale,
                                      .patched = a->patched};
    pthread_mutex_unlock(&a->mu);
}

void sio_answers_fini(struct sio_answers *view)
{
    struct sio_answer_store *a = view->store;
    *view = (struct sio_answers){0};
    if (!a || atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
        return;
    while (a->head)
        drop(a, a->head);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

const uint64_t *sio_answers_versions(struct sio_answers *a, struct cache *c, struct cache_rd *rd)
{
    if (!c || !rd)
        return NULL;
    if (a->vers && cache_versions_newest_txn(c) == a->vers_txn)
        return a->vers; /* nothing committed since they were read */
    a->vers = NULL;
    const uint64_t *vers;
    if (cache_rd_begin(rd) < 0)
        return NULL;
    if (cache_versions_get(rd, &vers) == 0) {
        a->vers = vers;
        a->vers_txn = cache_versions_snapshot(rd);
    }
    cache_rd_end(rd);
    return a->vers;
}
