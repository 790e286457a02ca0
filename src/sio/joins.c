/*
 * Identical requests share one rendering. Ten clients asking for the same
 * full answer at once used to render it ten times (12 ms of CPU per ack
 * instead of 2.5, and ten copies of it in memory): the kept answers of
 * answers.c only help once the first rendering is done. Here a request
 * that finds the same one being rendered waits for that answer instead.
 *
 * "The same" is: the same collector, the same options once normalized
 * (feed options taken out, keys sorted, compact), and the same data
 * version of the models the plan reads at arrival. The rendering reads
 * its snapshot after it was submitted, so a request that joins it gets
 * data at least as new as what it would have seen. Requests with feed
 * options (meta, ifNoneMatch, since) never join: their answers carry
 * asOf, which moves with every poll.
 *
 * When the rendering comes back, each request that waited gets a job of
 * its own that holds a reference to the one rendered tail (outq.c), so N
 * acks cost one rendering and one copy. Loop thread only, so no locks.
 */
#include "sio/sio_int.h"

#include <stdlib.h>

#include <xxhash.h>

struct sio_join {
    struct sio_join *next;
    uint64_t hash;                /* XXH3 of key: most misses end here */
    uint64_t version;             /* the data version it renders */
    struct buf key;
    struct sio_job *job;          /* the rendering (identity only: a worker owns it) */
    struct sio_waiter {
        sio_handle h;
        uint64_t ack_id;
        int64_t t0_us;
    } *w;
    size_t n, cap;
};

static void join_free(struct sio_join *e)
{
    buf_fini(&e->key);
    free(e->w);
    free(e);
}

void sio_joins_fini(struct sio_joins *js)
{
    for (struct sio_join *e = js->head, *next; e; e = next) {
        next = e->next;
        join_free(e);
    }
    *js = (struct sio_joins){0};
}

struct sio_join *sio_joins_find(struct sio_joins *js, struct slice key, uint64_t version)
{
    uint64_t hash = XXH3_64bits(key.p, key.len);
    for (struct sio_join *e = js->head; e; e = e->next)
        if (e->hash == hash && e->version == version && slice_eq(buf_slice(&e->key), key))
            return e;
    return NULL;
}

void sio_joins_add(struct sio_joins *js, struct sio_job *j, struct slice key, uint64_t version)
{
    struct sio_join *e = xcalloc(1, sizeof *e);
    e->hash = XXH3_64bits(key.p, key.len);
    e->version = version;
    buf_init(&e->key, 0);
    buf_append(&e->key, key.p, key.len);
    e->job = j;
    e->next = js->head;
    js->head = e;
    j->join = e;
}

void sio_join_wait(struct sio_joins *js, struct sio_join *e, sio_handle h, uint64_t ack_id,
                   int64_t t0_us)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 4;
        e->w = xrealloc(e->w, e->cap * sizeof *e->w);
    }
    e->w[e->n++] = (struct sio_waiter){h, ack_id, t0_us};
    __atomic_fetch_add(&js->joined, 1, __ATOMIC_RELAXED); /* /metrics reads it from another loop */
}

static void unlink_join(struct sio_joins *js, struct sio_join *e)
{
    struct sio_join **at = &js->head;
    while (*at != e)
        at = &(*at)->next;
    *at = e->next;
}

/* A waiter's own job: the rendered answer by reference. */
static struct sio_job *waiter_job(const struct sio_job *j, const struct sio_waiter *w)
{
    struct sio_job *c = xcalloc(1, sizeof *c);
    buf_init(&c->key, 0);
    c->kind = SIO_JOB_ANSWER;
    c->joined = true;
    c->h = w->h;
    c->ack_id = w->ack_id;
    c->t0_us = w->t0_us;
    c->col = j->col;
    c->failed = j->failed;
    c->tail = j->tail;
    c->tail->refs++;
    return c;
}

void sio_joins_done(struct sio_joins *js, struct sio_job *j, struct queue_node **results)
{
    __atomic_fetch_add(&js->rendered, 1, __ATOMIC_RELAXED);
    struct sio_join *e = j->join;
    if (!e)
        return;
    j->join = NULL;
    unlink_join(js, e);
    /* In front of what is left, in the order the requests came. */
    for (size_t i = e->n; i-- > 0;) {
        struct sio_job *c = waiter_job(j, &e->w[i]);
        c->node.next = *results;
        *results = &c->node;
    }
    join_free(e);
}
