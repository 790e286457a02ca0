#pragma once
/*
 * The one queue for handing work between threads (STYLE R13): a locked
 * list of intrusive nodes, as h2o's multithread queue.
 *
 * A queue has either a wake-up callback or blocking readers:
 *  - with `wake`, one reader drains the whole list (queue_take_all) when
 *    woken; queue_push calls wake only when the list goes from empty to
 *    non-empty, so a burst of pushes costs one wake-up (the loop thread's
 *    lws_cancel_service()). wake is called outside the lock and must not
 *    block.
 *  - without, readers block in queue_pop_wait until a node arrives or the
 *    queue is closed.
 *
 * Nodes are owned by the caller; the queue only links them. A node is in
 * at most one queue at a time.
 */
#include <pthread.h>
#include <stdbool.h>

struct queue_node {
    struct queue_node *next;
};

typedef void queue_wake_fn(void *arg);

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct queue_node *head, *tail;
    bool closed;
    queue_wake_fn *wake;
    void *wake_arg;
};

/* wake NULL: readers block in queue_pop_wait. */
void queue_init(struct queue *q, queue_wake_fn *wake, void *wake_arg);
/* The queue must be empty (queue_take_all) and have no waiting reader. */
void queue_fini(struct queue *q);
/* Appends n; wakes the reader on empty -> non-empty. Any thread. */
void queue_push(struct queue *q, struct queue_node *n);
/* Detaches every node, oldest first (a NULL-terminated list); NULL when empty. */
struct queue_node *queue_take_all(struct queue *q);
/* The oldest node, waiting for one; NULL once the queue is closed and
 * empty (a closed queue still hands out the nodes it holds). */
struct queue_node *queue_pop_wait(struct queue *q);
/* The oldest node, or NULL at once when the queue is empty. */
struct queue_node *queue_pop(struct queue *q);
/* No more pushes will come: wakes every waiting reader. */
void queue_close(struct queue *q);
