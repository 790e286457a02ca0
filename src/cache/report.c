/*
 * The operators' status report: one model's readiness, lag, staleness and
 * last run as JSON, the source's state, and the summary over models. `cwcachectl status --json` and the
 * server's GET /status.json both write it here, so the two stay equal byte
 * for byte (tests/tools compares them).
 */
#include "cache/cache_int.h"

#include <string.h>
#include <strings.h>

#include "json.h"

bool cache_meta_staleness_s(const struct cache_meta *m, int64_t now_ms, double *out)
{
    if (!m->last_ok_ms)
        return false;
    *out = now_ms > m->last_ok_ms ? (double)(now_ms - m->last_ok_ms) / 1000 : 0;
    return true;
}

bool cache_meta_ready(const struct cache_meta *m, const struct cache_report_clock *k)
{
    return m->state == CACHE_WARM && m->last_ok_ms &&
           k->now_ms - m->last_ok_ms <= k->max_staleness_ms;
}

const char *cache_meta_status_name(const struct cache_meta *m)
{
    if (!m->last_run_end_ms)
        return NULL;
    return m->last_status == 0 ? "ok" : "failed";
}

bool cache_meta_lag_s(const struct cache_meta *m, double *out)
{
    if (!m->cursor.set || m->source_newest_ts == 0)
        return false;
    /* The cursor can pass the newest time seen at the last poll when rows
     * arrive between the two reads; that is no lag, not a negative one. */
    double lag = (double)(m->source_newest_ts - m->cursor.ts) / CACHE_TICKS_PER_S;
    *out = lag < 0 ? 0 : lag;
    return true;
}

const char *cache_meta_error(const struct cache_meta *m)
{
    if (m->last_status == 0)
        return "";
    return m->last_error[0] ? m->last_error : strerror(-m->last_status);
}

int64_t cache_ticks_ms(int64_t ticks)
{
    /* Floor, not truncate: a time before the epoch stays before it. */
    return ticks >= 0 ? ticks / 10000 : -((-ticks + 9999) / 10000);
}

static void time_or_null(struct buf *b, int64_t ms, bool set)
{
    if (set)
        json_put_datetime_ms(b, ms);
    else
        buf_puts(b, "null");
}

bool cache_cursor_utc(const struct schema_model *mo)
{
    size_t n = mo->cursor ? strlen(mo->cursor->column) : 0;
    return n >= 4 && strcasecmp(mo->cursor->column + n - 4, "_UTC") == 0;
}

/* A cursor time as its column holds it: ISO-8601 with Z for a UTC column,
 * without a zone for one in the source server's local time. */
static void cursor_time(struct buf *b, const struct schema_model *mo, int64_t ticks)
{
    json_put_datetime_ms(b, cache_ticks_ms(ticks));
    if (!cache_cursor_utc(mo)) {
        b->len -= 2; /* drop the Z before the closing quote */
        buf_putc(b, '"');
    }
}

static void model_cursor_json(struct buf *b, const struct schema_model *mo,
                              const struct cache_meta *m)
{
    buf_puts(b, ",\"cursor\":");
    if (m->cursor.set && mo->cursor) {
        buf_puts(b, "{\"column\":");
        json_put_cstr(b, mo->cursor->column);
        buf_printf(b, ",\"zone\":\"%s\",\"lastUpdate\":",
                   cache_cursor_utc(mo) ? "UTC" : "source local time");
        cursor_time(b, mo, m->cursor.ts);
        buf_puts(b, ",\"recId\":");
        json_put_u64(b, m->cursor.pk);
        buf_putc(b, '}');
    } else {
        buf_puts(b, "null");
    }
    buf_puts(b, ",\"sourceNewest\":");
    if (m->source_newest_ts)
        cursor_time(b, mo, m->source_newest_ts);
    else
        buf_puts(b, "null");
    double lag;
    buf_puts(b, ",\"lagSeconds\":");
    if (cache_meta_lag_s(m, &lag))
        json_put_double(b, lag);
    else
        buf_puts(b, "null");
}

static void str_or_null(struct buf *b, const char *s)
{
    if (s)
        json_put_cstr(b, s);
    else
        buf_puts(b, "null");
}

void cache_report_model_json(struct buf *b, const struct schema_model *mo,
                             const struct cache_meta *m, bool needed,
                             const struct cache_report_clock *k)
{
    buf_puts(b, "{\"model\":");
    json_put_cstr(b, mo->name);
    buf_printf(b, ",\"needed\":%s,\"ready\":%s,\"state\":\"%s\",\"rows\":",
               needed ? "true" : "false", cache_meta_ready(m, k) ? "true" : "false",
               cache_state_name(m->state));
    json_put_u64(b, m->rows);
    model_cursor_json(b, mo, m);
    double stale;
    buf_puts(b, ",\"lastSuccess\":");
    time_or_null(b, m->last_ok_ms, m->last_ok_ms != 0);
    buf_puts(b, ",\"stalenessSeconds\":");
    if (cache_meta_staleness_s(m, k->now_ms, &stale))
        json_put_double(b, stale);
    else
        buf_puts(b, "null");
    buf_puts(b, ",\"lastRunStart\":");
    time_or_null(b, m->last_run_start_ms, m->last_run_start_ms != 0);
    buf_puts(b, ",\"lastRunEnd\":");
    time_or_null(b, m->last_run_end_ms, m->last_run_end_ms != 0);
    buf_puts(b, ",\"lastRunMs\":");
    json_put_i64(b, m->last_run_end_ms ? m->last_run_end_ms - m->last_run_start_ms : 0);
    buf_puts(b, ",\"lastStatus\":");
    str_or_null(b, cache_meta_status_name(m));
    buf_puts(b, ",\"lastError\":");
    json_put_cstr(b, cache_meta_error(m));
    buf_puts(b, ",\"lastReconcile\":");
    time_or_null(b, m->last_reconcile_ms, m->last_reconcile_ms != 0);
    buf_putc(b, '}');
}

void cache_report_sum_add(struct cache_report_sum *s, const struct cache_meta *m, bool needed,
                          const struct cache_report_clock *k)
{
    s->models++;
    s->by_state[m->state <= CACHE_WARM ? m->state : CACHE_COLD]++;
    s->failed += m->last_status != 0;
    s->not_ready += needed && !cache_meta_ready(m, k);
    s->rows += m->rows;
    if (m->last_ok_ms > s->last_ok_ms)
        s->last_ok_ms = m->last_ok_ms;
}

void cache_report_health_json(struct buf *b, const struct cache_health *s, int64_t last_ok_ms)
{
    buf_printf(b, "{\"state\":\"%s\",\"since\":", !s->known ? "unknown" : s->up ? "up" : "down");
    time_or_null(b, s->since_ms, s->known);
    buf_puts(b, ",\"lastSuccess\":");
    time_or_null(b, last_ok_ms, last_ok_ms != 0);
    buf_puts(b, ",\"error\":");
    json_put_cstr(b, s->known && !s->up ? s->error : "");
    buf_putc(b, '}');
}

void cache_report_summary_json(struct buf *b, const struct cache_report_sum *s)
{
    buf_printf(b,
               "{\"models\":%zu,\"warm\":%zu,\"warming\":%zu,\"cold\":%zu,\"failed\":%zu,"
               "\"notReady\":%zu,\"rows\":",
               s->models, s->by_state[CACHE_WARM], s->by_state[CACHE_WARMING],
               s->by_state[CACHE_COLD], s->failed, s->not_ready);
    json_put_u64(b, s->rows);
    buf_printf(b, ",\"ready\":%s}", s->not_ready ? "false" : "true");
}
