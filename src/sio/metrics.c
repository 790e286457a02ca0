/*
 * GET /metrics: the server's figures in the Prometheus text format (0.0.4).
 *
 * The source (the poller's record in the cache): up or not, and the last
 * successful poll. Per model (from the cache's meta, read on the loop
 * thread): rows, state, readiness, staleness, cursor lag, last run
 * duration, result and time. Per collector:
 * requests, errors and a latency histogram. Then connected clients, answer
 * reuse and the LMDB map use.
 *
 * The per-collector counters are shared by the service loops (loops.c):
 * a request is counted on its loop when its answer comes back from the
 * workers (sio_socket_result_next) or when it is refused at dispatch, and
 * /metrics may be rendered on any loop, so they sit behind one lock, held
 * for a few additions per answer. The gauges (sessions, answers in
 * flight) are summed over the loops.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

/* Latency buckets in seconds: 1 ms (a cached answer) to 10 s (a large live query). */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct coll_counters {
    uint64_t requests, errors;
    uint64_t le[N_BUCKETS]; /* non-cumulative; summed when rendered */
    double sum_s;
};

struct sio_metrics {
    pthread_mutex_t mu;
    const struct collector_set *cs;
    struct coll_counters *c; /* cs->n entries */
    uint64_t unknown_events;
};

struct sio_metrics *sio_metrics_new(const struct collector_set *cs)
{
    struct sio_metrics *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->cs = cs;
    m->c = xcalloc(cs && cs->n ? cs->n : 1, sizeof *m->c);
    return m;
}

void sio_metrics_free(struct sio_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m->c);
    free(m);
}

void sio_metrics_observe(struct sio *s, const struct collector *col, bool failed, int64_t us)
{
    struct sio_metrics *m = s->metrics;
    if (!m)
        return;
    double secs = us > 0 ? (double)us / 1e6 : 0;
    size_t le = 0;
    while (le < N_BUCKETS && secs > buckets[le])
        le++;
    pthread_mutex_lock(&m->mu);
    if (!col) {
        m->unknown_events++;
    } else {
        struct coll_counters *c = &m->c[col - m->cs->items];
        c->requests++;
        c->errors += failed;
        c->sum_s += secs;
        if (le < N_BUCKETS)
            c->le[le]++;
    }
    pthread_mutex_unlock(&m->mu);
}

/* A loop's gauges are its own thread's plain counters: read relaxed, they
 * give a moment's figure. */
size_t sio_server_sessions(const struct sio *s)
{
    if (!s->server)
        return s->n_sessions;
    size_t n = 0;
    for (unsigned i = 0; i < s->server->n; i++)
        n += __atomic_load_n(&s->server->loops[i]->n_sessions, __ATOMIC_RELAXED);
    return n;
}

unsigned sio_server_inflight(const struct sio *s)
{
    if (!s->server)
        return s->inflight;
    unsigned n = 0;
    for (unsigned i = 0; i < s->server->n; i++)
        n += __atomic_load_n(&s->server->loops[i]->inflight, __ATOMIC_RELAXED);
    return n;
}

/* Renderings and joins over every loop (joins.c: each loop joins its own). */
struct sio_joins sio_server_joins(const struct sio *s)
{
    if (!s->server)
        return (struct sio_joins){.rendered = s->joins.rendered, .joined = s->joins.joined,
                                  .here = s->joins.here};
    struct sio_joins sum = {0};
    for (unsigned i = 0; i < s->server->n; i++) {
        const struct sio_joins *js = &s->server->loops[i]->joins;
        sum.rendered += __atomic_load_n(&js->rendered, __ATOMIC_RELAXED);
        sum.joined += __atomic_load_n(&js->joined, __ATOMIC_RELAXED);
        sum.here += __atomic_load_n(&js->here, __ATOMIC_RELAXED);
    }
    return sum;
}

/* A label value: backslash, quote and newline escaped, as the text format requires. */
static void label_put(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_putc(b, '\\');
        if (*v == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *v);
    }
}

static void help_type(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- per model ---------------------------------------------------------------- */

struct model_row {
    const struct schema_model *m;
    struct cache_meta meta;
    bool needed;
    const struct cache_report_clock *clock;
};

static void model_gauge(struct buf *b, const struct model_row *rows, size_t n, const char *name,
                        const char *help, double (*val)(const struct model_row *r, bool *ok))
{
    help_type(b, name, "gauge", help);
    for (size_t i = 0; i < n; i++) {
        bool ok = true;
        double v = val(&rows[i], &ok);
        if (!ok)
            continue;
        buf_printf(b, "%s{model=\"%s\"} ", name, rows[i].m->name);
        json_put_double(b, v); /* the shortest text that reads back as v: 0.005, not 0.0050...1 */
        buf_putc(b, '\n');
    }
}

static double v_rows(const struct model_row *r, bool *ok)
{
    (void)ok;
    return (double)r->meta.rows;
}
static double v_needed(const struct model_row *r, bool *ok)
{
    (void)ok;
    return r->needed;
}
static double v_ready(const struct model_row *r, bool *ok)
{
    (void)ok;
    return cache_meta_ready(&r->meta, r->clock);
}
static double v_staleness(const struct model_row *r, bool *ok)
{
    double s = 0;
    *ok = cache_meta_staleness_s(&r->meta, r->clock->now_ms, &s);
    return s;
}
static double v_lag(const struct model_row *r, bool *ok)
{
    double lag = 0;
    *ok = cache_meta_lag_s(&r->meta, &lag);
    return lag;
}
static double v_run_s(const struct model_row *r, bool *ok)
{
    *ok = r->meta.last_run_end_ms != 0;
    return (double)(r->meta.last_run_end_ms - r->meta.last_run_start_ms) / 1e3;
}
static double v_run_ok(const struct model_row *r, bool *ok)
{
    *ok = r->meta.last_run_end_ms != 0;
    return r->meta.last_status == 0;
}
static double v_run_ts(const struct model_row *r, bool *ok)
{
    *ok = r->meta.last_run_end_ms != 0;
    return (double)r->meta.last_run_end_ms / 1e3;
}

static void model_states(struct buf *b, const struct model_row *rows, size_t n)
{
    static const char name[] = "cwcache_model_state";
    help_type(b, name, "gauge",
              "1 for the model's sync state (cold, warming, warm), 0 for the others");
    for (size_t i = 0; i < n; i++)
        for (int st = CACHE_COLD; st <= CACHE_WARM; st++)
            buf_printf(b, "%s{model=\"%s\",state=\"%s\"} %d\n", name, rows[i].m->name,
                       cache_state_name((enum cache_state)st),
                       rows[i].meta.state == (enum cache_state)st);
}

static void source_render(struct buf *b, const struct cache_health *src, int64_t last_ok_ms)
{
    help_type(b, "cwcache_source_up", "gauge",
              "1 while the poller reaches the source database, 0 while it does not");
    if (src->known)
        buf_printf(b, "cwcache_source_up %d\n", src->up);
    help_type(b, "cwcache_source_last_success_timestamp_seconds", "gauge",
              "End of the last successful poll of any model, Unix time");
    if (last_ok_ms) {
        buf_puts(b, "cwcache_source_last_success_timestamp_seconds ");
        json_put_double(b, (double)last_ok_ms / 1e3);
        buf_putc(b, '\n');
    }
}

/* Counted in memory by the polling process (0 in a server without a poller). */
static void model_polls(struct sio *s, struct buf *b)
{
    static const char name[] = "cwcache_model_polls_total";
    if (!s->o.cache)
        return;
    help_type(b, name, "counter",
              "Polls that brought the model up to the source since the server started (its "
              "pages read and deleted rows found, or the summary showed nothing moved)");
    const struct schema *sc = s->o.schema;
    for (size_t i = 0; i < sc->n_models; i++)
        buf_printf(b, "%s{model=\"%s\"} %" PRIu64 "\n", name, sc->models[i].name,
                   cache_polls(s->o.cache, &sc->models[i]));
}

static void models_render(struct sio *s, struct buf *b)
{
    const struct schema *sc = s->o.schema;
    struct model_row *rows = xcalloc(sc->n_models ? sc->n_models : 1, sizeof *rows);
    struct cache_report_clock clock = sio_probe_clock(s);
    struct cache_health src = {0};
    int64_t last_ok_ms = 0;
    bool read = s->rd && cache_rd_begin(s->rd) == 0;
    if (read && cache_health_get(s->rd, &src) < 0)
        src = (struct cache_health){0};
    for (size_t i = 0; i < sc->n_models; i++) {
        rows[i].m = &sc->models[i];
        rows[i].needed = s->models[i];
        rows[i].clock = &clock;
        /* Without a readable store every model reads as cold and empty. */
        if (!read || cache_meta_get(s->rd, rows[i].m, &rows[i].meta) < 0)
            rows[i].meta = (struct cache_meta){.state = CACHE_COLD};
        if (rows[i].meta.last_ok_ms > last_ok_ms)
            last_ok_ms = rows[i].meta.last_ok_ms;
    }
    if (read)
        cache_rd_end(s->rd);
    source_render(b, &src, last_ok_ms);
    size_t n = sc->n_models;
    model_gauge(b, rows, n, "cwcache_model_rows", "Rows of the model in the cache", v_rows);
    model_states(b, rows, n);
    model_gauge(b, rows, n, "cwcache_model_needed", "1 when a collector needs the model", v_needed);
    model_gauge(b, rows, n, "cwcache_model_ready",
                "1 when warm and matched the source at most max_staleness_s ago", v_ready);
    model_gauge(b, rows, n, "cwcache_model_staleness_seconds",
                "Seconds since the model last matched the source (its last successful poll)",
                v_staleness);
    model_gauge(b, rows, n, "cwcache_model_cursor_lag_seconds",
                "Source's newest last-update minus the cursor, at the last poll", v_lag);
    model_gauge(b, rows, n, "cwcache_model_last_run_duration_seconds",
                "Duration of the model's last poller run", v_run_s);
    model_gauge(b, rows, n, "cwcache_model_last_run_success",
                "1 when the model's last poller run succeeded", v_run_ok);
    model_gauge(b, rows, n, "cwcache_model_last_run_timestamp_seconds",
                "End of the model's last poller run, Unix time", v_run_ts);
    model_polls(s, b);
    free(rows);
}

/* ---- per collector -------------------------------------------------------------- */

static void coll_line(struct buf *b, const char *name, const char *event, const char *le,
                      uint64_t v)
{
    buf_printf(b, "%s{collector=\"", name);
    label_put(b, event);
    if (le)
        buf_printf(b, "\",le=\"%s", le);
    buf_printf(b, "\"} %" PRIu64 "\n", v);
}

static void histogram_render(struct buf *b, const char *h, const char *event,
                             const struct coll_counters *c)
{
    char name[96], le[32];
    uint64_t cum = 0;
    snprintf(name, sizeof name, "%s_bucket", h);
    for (size_t k = 0; k < N_BUCKETS; k++) {
        cum += c->le[k];
        snprintf(le, sizeof le, "%g", buckets[k]);
        coll_line(b, name, event, le, cum);
    }
    coll_line(b, name, event, "+Inf", c->requests);
    buf_printf(b, "%s_sum{collector=\"", h);
    label_put(b, event);
    buf_printf(b, "\"} %.6f\n", c->sum_s);
    snprintf(name, sizeof name, "%s_count", h);
    coll_line(b, name, event, NULL, c->requests);
}

static void collectors_render(struct sio_metrics *m, struct buf *b)
{
    const struct collector_set *cs = m->cs;
    help_type(b, "cwcache_collector_requests_total", "counter", "Events answered, per collector");
    for (size_t i = 0; i < cs->n; i++)
        coll_line(b, "cwcache_collector_requests_total", cs->items[i].event, NULL,
                  m->c[i].requests);
    help_type(b, "cwcache_collector_errors_total", "counter",
              "Events answered with success:false, per collector");
    for (size_t i = 0; i < cs->n; i++)
        coll_line(b, "cwcache_collector_errors_total", cs->items[i].event, NULL, m->c[i].errors);
    static const char h[] = "cwcache_collector_request_duration_seconds";
    help_type(b, h, "histogram", "Time from an event's arrival to its answer, per collector");
    for (size_t i = 0; i < cs->n; i++)
        histogram_render(b, h, cs->items[i].event, &m->c[i]);
    help_type(b, "cwcache_unknown_events_total", "counter", "Events naming no collector");
    buf_printf(b, "cwcache_unknown_events_total %" PRIu64 "\n", m->unknown_events);
}

/* ---- server and store ------------------------------------------------------------ */

static void server_render(struct sio *s, struct buf *b)
{
    help_type(b, "cwcache_clients_connected", "gauge", "Engine.IO sessions open");
    buf_printf(b, "cwcache_clients_connected %zu\n", sio_server_sessions(s));
    help_type(b, "cwcache_requests_in_flight", "gauge", "Events being answered by the workers");
    buf_printf(b, "cwcache_requests_in_flight %u\n", sio_server_inflight(s));
    struct sio_answers_stats a;
    sio_answers_stats(&s->answers, &a);
    help_type(b, "cwcache_answers_reused_total", "counter",
              "Events answered with a kept answer (answer_cache_mb)");
    buf_printf(b, "cwcache_answers_reused_total %" PRIu64 "\n", a.hits);
    help_type(b, "cwcache_answers_rendered_total", "counter",
              "Answers rendered, by a worker or the loop (one per rendering, however many acks it "
              "serves)");
    struct sio_joins js = sio_server_joins(s);
    buf_printf(b, "cwcache_answers_rendered_total %" PRIu64 "\n", js.rendered);
    help_type(b, "cwcache_answers_rendered_on_loop_total", "counter",
              "Of the answers rendered, those small enough (inline_render_rows) to be rendered by "
              "the service loop that received them instead of a worker");
    buf_printf(b, "cwcache_answers_rendered_on_loop_total %" PRIu64 "\n", js.here);
    help_type(b, "cwcache_answers_joined_total", "counter",
              "Events that waited for an identical request's rendering instead of rendering again");
    buf_printf(b, "cwcache_answers_joined_total %" PRIu64 "\n", js.joined);
    help_type(b, "cwcache_answers_stale_total", "counter",
              "Kept answers found stale because a model they read changed");
    buf_printf(b, "cwcache_answers_stale_total %" PRIu64 "\n", a.stale);
    help_type(b, "cwcache_answers_patched_total", "counter",
              "Answers made from a stale kept answer by rendering only the rows that changed");
    buf_printf(b, "cwcache_answers_patched_total %" PRIu64 "\n", a.patched);
    help_type(b, "cwcache_answers_kept", "gauge", "Answers kept for reuse");
    buf_printf(b, "cwcache_answers_kept %zu\n", a.n);
    help_type(b, "cwcache_answers_kept_bytes", "gauge", "Bytes of answers kept for reuse");
    buf_printf(b, "cwcache_answers_kept_bytes %zu\n", a.bytes);
    help_type(b, "cwcache_answer_buffers_spare_bytes", "gauge",
              "Bytes of freed answer buffers kept for the next answers (answer_buffers_mb)");
    buf_printf(b, "cwcache_answer_buffers_spare_bytes %zu\n", sio_tail_spares_bytes());
    struct cache_stats st;
    if (!s->o.cache || cache_stats_get(s->o.cache, &st) < 0)
        return;
    help_type(b, "cwcache_lmdb_map_size_bytes", "gauge", "LMDB map size");
    buf_printf(b, "cwcache_lmdb_map_size_bytes %zu\n", st.map_size);
    help_type(b, "cwcache_lmdb_map_used_bytes", "gauge", "LMDB map pages in use, in bytes");
    buf_printf(b, "cwcache_lmdb_map_used_bytes %zu\n", st.map_used);
    help_type(b, "cwcache_lmdb_readers", "gauge", "LMDB reader slots in use");
    buf_printf(b, "cwcache_lmdb_readers %u\n", st.readers);
    help_type(b, "cwcache_lmdb_max_readers", "gauge", "LMDB reader slots");
    buf_printf(b, "cwcache_lmdb_max_readers %u\n", st.max_readers);
}

unsigned sio_metrics_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype)
{
    if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
        *ctype = "text/plain";
        buf_puts(body, "method not allowed");
        return 405;
    }
    *ctype = "text/plain; version=0.0.4; charset=utf-8";
    models_render(s, body);
    if (s->metrics) {
        pthread_mutex_lock(&s->metrics->mu);
        collectors_render(s->metrics, body);
        pthread_mutex_unlock(&s->metrics->mu);
    }
    server_render(s, body);
    return 200;
}
