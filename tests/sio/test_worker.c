/* The worker pool (src/sio/worker.c). */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <unistd.h>

#include "sio/sio_int.h"

struct seen {
    struct sio_pool *pool;
    atomic_int started, ran;
};

static bool jobs_closed(struct sio_pool *p)
{
    pthread_mutex_lock(&p->jobs.mu);
    bool c = p->jobs.closed;
    pthread_mutex_unlock(&p->jobs.mu);
    return c;
}

/* Holds its worker until the pool is being stopped. */
static void held_run(void *arg, void *local, struct queue_node *job)
{
    (void)local, (void)job;
    struct seen *x = arg;
    atomic_fetch_add(&x->started, 1);
    while (!jobs_closed(x->pool))
        usleep(1000);
    atomic_fetch_add(&x->ran, 1);
}

static const struct sio_pool_ops held_ops = {NULL, held_run, NULL};

/* SIGTERM with a client's thousand requests queued: the server must not
 * render them all before it exits (bench/sio_unread.js waited minutes). */
Test(sio_worker, a_stop_finishes_the_running_job_and_hands_back_the_queued_ones)
{
    struct sio_pool p;
    struct seen x = {.pool = &p};
    struct queue_node jobs[4];
    char err[128];
    cr_assert_eq(sio_pool_start(&p, 1, &held_ops, &x, NULL, NULL, err, sizeof err), 0, "%s", err);
    for (size_t i = 0; i < 4; i++)
        sio_pool_submit(&p, &jobs[i]);
    while (atomic_load(&x.started) == 0)
        usleep(1000);
    size_t n = 0;
    bool mine[4] = {false};
    for (struct queue_node *q = sio_pool_stop(&p); q; q = q->next, n++)
        for (size_t i = 0; i < 4; i++)
            mine[i] |= q == &jobs[i];
    cr_assert_eq(atomic_load(&x.started), 1, "the queued jobs were not run");
    cr_assert_eq(atomic_load(&x.ran), 1, "the running job finished");
    cr_assert_eq(n, 4, "the finished job and the 3 queued are handed back");
    cr_assert(mine[0] && mine[1] && mine[2] && mine[3]);
}
