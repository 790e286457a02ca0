#include <criterion/criterion.h>
#include <pthread.h>
#include <unistd.h>

#include "queue.h"

TestSuite(common_queue);

struct item {
    struct queue_node node; /* first: a node is its item */
    int v;
};

static int wakes;
static void count_wake(void *arg) { (void)arg, wakes++; }

Test(common_queue, wakes_only_on_empty_to_non_empty)
{
    struct queue q;
    struct item it[3] = {{.v = 1}, {.v = 2}, {.v = 3}};
    wakes = 0;
    queue_init(&q, count_wake, NULL);
    queue_push(&q, &it[0].node);
    queue_push(&q, &it[1].node);
    cr_assert_eq(wakes, 1, "a second push onto a non-empty queue woke the reader again");
    struct queue_node *n = queue_take_all(&q);
    cr_assert_eq(((struct item *)n)->v, 1);
    cr_assert_eq(((struct item *)n->next)->v, 2);
    cr_assert_null(n->next->next);
    cr_assert_null(queue_take_all(&q));
    queue_push(&q, &it[2].node);
    cr_assert_eq(wakes, 2, "a push after draining must wake the reader");
    cr_assert_eq(queue_take_all(&q), &it[2].node);
    queue_fini(&q);
}

struct consumer {
    struct queue *q;
    int sum, got;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    struct queue_node *n;
    while ((n = queue_pop_wait(c->q))) {
        c->sum += ((struct item *)n)->v;
        c->got++;
    }
    return NULL;
}

Test(common_queue, blocking_readers_take_each_node_once_in_order_and_stop_on_close)
{
    struct queue q;
    queue_init(&q, NULL, NULL);
    struct consumer c[2] = {{.q = &q}, {.q = &q}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, consume, &c[i]);
    /* The readers find the queue empty first: they must wait, not end. */
    usleep(50 * 1000);
    static struct item it[1000];
    for (int i = 0; i < 1000; i++) {
        it[i].v = i + 1;
        queue_push(&q, &it[i].node);
    }
    /* Closing does not drop what is queued: the readers take it all. */
    queue_close(&q);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(c[0].got + c[1].got, 1000);
    cr_assert_eq(c[0].sum + c[1].sum, 1000 * 1001 / 2);
    queue_fini(&q);
}

Test(common_queue, a_closed_queue_hands_out_what_it_holds_then_null)
{
    struct queue q;
    struct item a = {.v = 7}, b = {.v = 8};
    queue_init(&q, NULL, NULL);
    cr_assert_null(queue_pop(&q), "an empty queue: no wait, no node");
    queue_push(&q, &a.node);
    queue_push(&q, &b.node);
    queue_close(&q);
    cr_assert_eq(queue_pop_wait(&q), &a.node);
    cr_assert_eq(queue_pop(&q), &b.node);
    cr_assert_null(queue_pop_wait(&q), "closed and empty: readers stop");
    queue_fini(&q);
}
