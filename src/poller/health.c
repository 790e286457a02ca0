/*
 * The source's health as the poller thread sees it: down when a connection
 * or a query on it fails, up when a pass completes. Each change is logged
 * once (a WARN when the source goes away, an INFO when it comes back, not
 * one line per retry) and recorded in the cache (cache_health_put), where
 * the server's /status, /metrics and `cwcachectl status` read it.
 */
#include "poller/poller_int.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

static void record(struct poller_health *h, struct cache *c, bool up, const char *error)
{
    struct cache_health src = {.known = true, .up = up, .since_ms = h->since_ms};
    snprintf(src.error, sizeof src.error, "%s", error);
    struct cache_wtxn *w;
    int rc = cache_wtxn_begin(c, &w);
    if (rc == 0 && (rc = cache_health_put(w, &src)) == 0)
        rc = cache_wtxn_commit(w);
    else
        cache_wtxn_abort(w);
    if (rc < 0)
        log_warn(LOG_POLLER, "recording the source's state: %s", strerror(-rc));
}

void poller_health_down(struct poller_health *h, struct cache *c, const char *error)
{
    if (h->state == POLLER_SOURCE_DOWN) {
        log_debug(LOG_POLLER, "source still unreachable: %s", error);
        return;
    }
    h->state = POLLER_SOURCE_DOWN;
    h->since_ms = clock_wall_ms();
    log_warn(LOG_POLLER, "source unreachable: %s; serving the cache as it is, retrying", error);
    record(h, c, false, error);
}

void poller_health_up(struct poller_health *h, struct cache *c)
{
    if (h->state == POLLER_SOURCE_UP)
        return;
    int64_t now = clock_wall_ms();
    if (h->state == POLLER_SOURCE_DOWN)
        log_info(LOG_POLLER, "source reachable again after %.0f s", (double)(now - h->since_ms) / 1e3);
    h->state = POLLER_SOURCE_UP;
    h->since_ms = now;
    record(h, c, true, "");
}
