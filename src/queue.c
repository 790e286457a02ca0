/*
 * A locked list with a wake-up on empty -> non-empty (see queue.h). The
 * lock is held only to link or unlink nodes, never while calling out.
 */
#include "queue.h"

void queue_init(struct queue *q, queue_wake_fn *wake, void *wake_arg)
{
    *q = (struct queue){.wake = wake, .wake_arg = wake_arg};
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
}

void queue_fini(struct queue *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

void queue_push(struct queue *q, struct queue_node *n)
{
    n->next = NULL;
    pthread_mutex_lock(&q->mu);
    bool was_empty = !q->head;
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    /* Blocking readers each take one node, so every push may need one. */
    if (!q->wake)
        pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (q->wake && was_empty)
        q->wake(q->wake_arg);
}

struct queue_node *queue_take_all(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    struct queue_node *n = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* Unlinks the head; the lock is held. */
static struct queue_node *unlink_head(struct queue *q)
{
    struct queue_node *n = q->head;
    if (n) {
        q->head = n->next;
        if (!q->head)
            q->tail = NULL;
        n->next = NULL;
    }
    return n;
}

struct queue_node *queue_pop_wait(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->closed)
        pthread_cond_wait(&q->cv, &q->mu);
    struct queue_node *n = unlink_head(q);
    pthread_mutex_unlock(&q->mu);
    return n;
}

struct queue_node *queue_pop(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    struct queue_node *n = unlink_head(q);
    pthread_mutex_unlock(&q->mu);
    return n;
}

void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}
