#pragma once
/*
 * A server state without a libwebsockets context, for the session,
 * engine and socket tests: a libev loop for the timers, no collectors
 * (every event is unknown), no cache. Sessions have no connections, so
 * packets stay on their queues where the tests read them.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "sio/sio_int.h"

static const struct collector_set fixture_no_collectors = {NULL, 0};

static inline struct sio *fixture_sio(const char *psk)
{
    struct sio *s = xcalloc(1, sizeof *s);
    s->o.psk = psk;
    s->o.collectors = &fixture_no_collectors;
    s->o.ping_interval_ms = 25000;
    s->o.ping_timeout_ms = 20000;
    s->o.connect_timeout_ms = 45000;
    s->o.upgrade_timeout_ms = 10000;
    s->o.max_payload = 1000000;
    s->o.max_session_buffer_bytes = 16 << 20;
    s->o.max_inflight_per_session = 16;
    s->auth.base_ms = 50;
    s->auth.max_ms = 200;
    s->ev = ev_loop_new(EVFLAG_AUTO);
    return s;
}

static inline void fixture_free(struct sio *s)
{
    sio_sessions_fini(s);
    ev_loop_destroy(s->ev);
    free(s);
}

/* The text of a packet (an ack's prefix and tail joined). */
static inline char *fixture_text(const struct sio_pkt *p)
{
    size_t n = sio_pkt_len(p);
    char *t = malloc(n + 1);
    if (p->tail) {
        memcpy(t, p->prefix, p->prefix_len);
        memcpy(t + p->prefix_len, buf_data(&p->tail->b), p->tail->b.len);
    } else {
        memcpy(t, buf_data(&p->b), n);
    }
    t[n] = '\0';
    return t;
}

/* Pops the oldest packet of q and checks its text starts with `want`. */
static inline void fixture_expect(struct sio_pktq *q, const char *want)
{
    struct sio_pkt *p = sio_pktq_pop(q);
    cr_assert_not_null(p, "no packet queued; wanted %s", want);
    char *t = fixture_text(p);
    cr_assert_eq(strncmp(t, want, strlen(want)), 0, "packet %s, wanted %s...", t, want);
    free(t);
    sio_pkt_free(p);
}

/* Runs the loop (timers fire meanwhile) until `cond` holds or `max_ms` have
 * passed; the caller asserts `cond` after. The bound is what a loaded machine
 * may need, not what the timers take: a test waits on what it proves. */
#define FIXTURE_RUN_UNTIL(s, cond, max_ms)                                                         \
    do {                                                                                           \
        int64_t until_ = clock_mono_ms() + (max_ms);                                               \
        while (!(cond) && clock_mono_ms() < until_)                                                \
            ev_run((s)->ev, EVRUN_NOWAIT), usleep(1000);                                           \
    } while (0)

/* Generous: the timers under test take tens of milliseconds. */
#define FIXTURE_WAIT_MS 30000

/* A pool job that answers success with no data, and a wake-up that sets
 * the int it is given. */
static inline void fixture_run(void *arg, void *local, struct queue_node *node)
{
    (void)arg, (void)local;
    struct sio_job *j = (struct sio_job *)node;
    j->tail = sio_tail_new();
    buf_puts(&j->tail->b, "[{\"success\":true,\"data\":[]}]");
}

static const struct sio_pool_ops fixture_ops = {NULL, fixture_run, NULL};

static inline void fixture_wake(void *arg) { *(volatile int *)arg = 1; }
