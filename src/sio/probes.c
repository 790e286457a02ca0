/*
 * Health and readiness probes. /healthz answers while the loop turns;
 * /readyz answers 200 only when every model a collector reads is warm,
 * else 503 with the models that are not and their states.
 */
#include "sio/sio_int.h"

int sio_probe_healthz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m)
{
    (void)s, (void)m;
    return sio_respond_text(wsi, c, 200, "text/plain", "ok");
}

int sio_probe_readyz(struct sio *s, struct lws *wsi, struct sio_conn *c, enum sio_method m)
{
    (void)m;
    const struct schema *sc = s->o.schema;
    struct buf b;
    buf_init(&b, 0);
    bool ready = true;
    buf_puts(&b, "{\"notWarm\":{");
    if (!s->rd || cache_rd_begin(s->rd) < 0) {
        ready = false;
    } else {
        for (size_t i = 0; i < sc->n_models; i++) {
            struct cache_meta meta;
            if (!s->models[i])
                continue;
            if (cache_meta_get(s->rd, &sc->models[i], &meta) < 0)
                meta.state = CACHE_COLD;
            if (meta.state == CACHE_WARM)
                continue;
            buf_printf(&b, "%s\"%s\":\"%s\"", ready ? "" : ",", sc->models[i].name,
                       cache_state_name(meta.state));
            ready = false;
        }
        cache_rd_end(s->rd);
    }
    buf_puts(&b, "}}");
    int rc = ready ? sio_respond_text(wsi, c, 200, "application/json", "{\"ready\":true}")
                   : sio_respond(wsi, c, 503, "application/json", buf_data(&b), b.len, NULL, NULL);
    buf_fini(&b);
    return rc;
}
