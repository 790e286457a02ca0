/*
 * Health and readiness probes. /healthz answers while the loop turns;
 * /readyz answers 200 only when every model a collector reads can serve
 * correct data (warm, and matched the source at most max_staleness_s ago:
 * cache_meta_ready), else 503 with the models that cannot and why. The
 * status page and /metrics judge readiness with the same clock.
 */
#include "sio/sio_int.h"

#include "clock.h"

int sio_probe_healthz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m)
{
    (void)s, (void)m;
    return sio_respond_text(wsi, c, 200, "text/plain", "ok");
}

struct cache_report_clock sio_probe_clock(const struct sio *s)
{
    return (struct cache_report_clock){.now_ms = clock_wall_ms(),
                                       .max_staleness_ms = (int64_t)s->o.max_staleness_s * 1000};
}

/* The reason one needed model is not ready, as a JSON string. */
static void why_not(struct buf *why, const struct cache_meta *m, const struct cache_report_clock *k,
                    unsigned max_staleness_s)
{
    double stale;
    if (m->state != CACHE_WARM || !cache_meta_staleness_s(m, k->now_ms, &stale))
        buf_printf(why, "\"%s\"", cache_state_name(m->state));
    else
        buf_printf(why, "\"stale: matched the source %.0f s ago (max_staleness_s %u)\"", stale,
                   max_staleness_s);
}

bool sio_probe_ready(struct sio *s, struct buf *why)
{
    const struct schema *sc = s->o.schema;
    struct cache_report_clock k = sio_probe_clock(s);
    bool read = s->rd && cache_rd_begin(s->rd) == 0, ready = read;
    buf_puts(why, "{\"ready\":false,\"notReady\":{");
    for (size_t i = 0; read && i < sc->n_models; i++) {
        struct cache_meta m;
        if (!s->models[i])
            continue;
        if (cache_meta_get(s->rd, &sc->models[i], &m) < 0)
            m = (struct cache_meta){.state = CACHE_COLD};
        if (cache_meta_ready(&m, &k))
            continue;
        buf_printf(why, "%s\"%s\":", ready ? "" : ",", sc->models[i].name);
        why_not(why, &m, &k, s->o.max_staleness_s);
        ready = false;
    }
    if (read)
        cache_rd_end(s->rd);
    buf_puts(why, "}}");
    return ready;
}

int sio_probe_readyz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m)
{
    (void)m;
    struct buf b;
    buf_init(&b, 0);
    bool ready = sio_probe_ready(s, &b);
    int rc = ready ? sio_respond_text(wsi, c, 200, "application/json", "{\"ready\":true}")
                   : sio_respond(wsi, c, 503, "application/json", buf_data(&b), b.len, NULL, NULL);
    buf_fini(&b);
    return rc;
}
