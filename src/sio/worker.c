/*
 * A plain thread pool. Jobs arrive on a queue the threads block on; each
 * finished job goes to a result queue whose reader is woken only when it
 * goes from empty to non-empty (queue.h), so a burst of answers costs the
 * loop one wake-up and it drains them all. The pool knows nothing of what
 * a job is: ops->run does the work, with per-thread state from
 * ops->thread_init.
 */
#include "sio/sio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *pool_main(void *arg)
{
    struct sio_pool *p = arg;
    void *local = p->ops->thread_init ? p->ops->thread_init(p->arg) : NULL;
    struct queue_node *j;
    while ((j = queue_pop_wait(&p->jobs))) {
        p->ops->run(p->arg, local, j);
        queue_push(&p->results, j);
    }
    if (p->ops->thread_fini)
        p->ops->thread_fini(p->arg, local);
    return NULL;
}

int sio_pool_start(struct sio_pool *p, unsigned n, const struct sio_pool_ops *ops, void *arg,
                   queue_wake_fn *wake, void *wake_arg, char *err, size_t errlen)
{
    *p = (struct sio_pool){.n = n ? n : 1, .ops = ops, .arg = arg};
    queue_init(&p->jobs, NULL, NULL);
    queue_init(&p->results, wake, wake_arg);
    p->threads = xcalloc(p->n, sizeof *p->threads);
    for (; p->started < p->n; p->started++) {
        int rc = pthread_create(&p->threads[p->started], NULL, pool_main, p);
        if (rc) {
            snprintf(err, errlen, "cannot start worker thread: %s", strerror(rc));
            return -rc;
        }
    }
    return 0;
}

void sio_pool_submit(struct sio_pool *p, struct queue_node *job) { queue_push(&p->jobs, job); }

struct queue_node *sio_pool_results(struct sio_pool *p) { return queue_take_all(&p->results); }

struct queue_node *sio_pool_stop(struct sio_pool *p)
{
    if (!p->threads)
        return NULL;
    /* Jobs no thread has started are not run: at a stop their sessions
     * are closed and no one would read their answers, and a deep queue
     * (a client that asked for a thousand answers at once) would hold
     * the exit for as long as they all take to render. Only the loop
     * thread submits, so none arrives after this. */
    struct queue_node *queued = queue_take_all(&p->jobs);
    queue_close(&p->jobs);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    /* What is left: the jobs never started, and results never taken. */
    struct queue_node *left = queue_take_all(&p->results), **end = &left;
    while (*end)
        end = &(*end)->next;
    *end = queued;
    queue_fini(&p->jobs);
    queue_fini(&p->results);
    free(p->threads);
    p->threads = NULL;
    return left;
}
