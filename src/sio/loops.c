/*
 * The server: `loops` service loops (loop.c), one thread each, so that
 * every core serves clients. Each loop has its own libev loop, lws
 * context, session table and worker pool; they share the LMDB environment
 * (each thread reads through its own read handle), the poller's commits
 * (every loop looks at the store's newest transaction itself: kept
 * answers and subscriptions need no notification), the kept answers (one
 * copy, answers.c) and the metrics.
 *
 * Every loop listens on the same port with a socket of its own
 * (SO_REUSEPORT, listen.c) and adopts what it accepts into its context, so
 * the kernel spreads new TCP connections over the loops without a
 * hand-off thread.
 * A session belongs to the loop that opened it and its sid says which;
 * requests that arrive on another loop are mailed to it (route.c).
 *
 * With one loop this is exactly the single-loop server: no SO_REUSEPORT,
 * no mail, the loop runs in the caller's thread.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

/* loops = 0: one per online core. */
static unsigned loops_count(unsigned want)
{
    if (!want) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        want = n > 0 ? (unsigned)n : 1;
    }
    return want > SIO_LOOPS_MAX ? SIO_LOOPS_MAX : want;
}

int sio_new(struct sio_server **out, const struct sio_opts *o, char *err, size_t errlen)
{
    struct sio_server *srv = xcalloc(1, sizeof *srv);
    srv->n = loops_count(o->loops);
    srv->loops = xcalloc(srv->n, sizeof *srv->loops);
    srv->threads = xcalloc(srv->n, sizeof *srv->threads);
    srv->metrics = sio_metrics_new(o->collectors);
    sio_tail_spares_set(o->answer_buffer_bytes);
    /* The workers are split over the loops, at least one each. */
    unsigned workers = (o->workers + srv->n - 1) / srv->n;
    struct sio_opts lo = *o;
    int rc = 0;
    for (unsigned i = 0; i < srv->n && rc == 0; i++) {
        rc = sio_loop_new(&srv->loops[i], srv, i, &lo, workers ? workers : 1, err, errlen);
        if (rc == 0 && i == 0) {
            const struct sio *l0 = srv->loops[0];
            srv->port = l0->listen_fd >= 0 ? sio_listen_port(l0->listen_fd)
                                           : lws_get_vhost_listen_port(l0->vh);
            lo.port = srv->port; /* port 0: the others share the one the kernel chose */
        }
    }
    if (rc < 0) {
        sio_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int sio_port(const struct sio_server *srv) { return srv->port; }

static void *loop_thread(void *arg)
{
    sio_loop_run(arg);
    return NULL;
}

int sio_run(struct sio_server *srv)
{
    log_info(LOG_SIO, "listening on port %d with %u service loop(s)", sio_port(srv), srv->n);
    for (unsigned i = 1; i < srv->n; i++) {
        int rc = pthread_create(&srv->threads[i], NULL, loop_thread, srv->loops[i]);
        if (rc != 0) {
            log_error(LOG_SIO, "cannot start service loop %u: %s", i, strerror(rc));
            sio_stop(srv);
            break;
        }
        srv->started = i;
    }
    sio_loop_run(srv->loops[0]);
    for (unsigned i = 1; i <= srv->started; i++)
        pthread_join(srv->threads[i], NULL);
    return 0;
}

void sio_stop(struct sio_server *srv)
{
    for (unsigned i = 0; i < srv->n; i++)
        if (srv->loops[i])
            sio_loop_stop(srv->loops[i]);
}

void sio_free(struct sio_server *srv)
{
    if (!srv)
        return;
    srv->closing = true;
    /* Loop 0 holds the kept answers' first view and the others' mail may
     * name its connections: the loops go last to first. */
    for (unsigned i = srv->n; i-- > 0;)
        sio_loop_free(srv->loops[i]);
    sio_metrics_free(srv->metrics);
    sio_tail_spares_set(0); /* every tail is gone with the loops */
    free(srv->loops);
    free(srv->threads);
    free(srv);
}
