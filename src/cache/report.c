/*
 * The operators' status report: one model's readiness, lag and last run as
 * JSON, and the summary over models. `cwcachectl status --json` and the
 * server's GET /status.json both write it here, so the two stay equal byte
 * for byte (tests/tools compares them).
 */
#include "cache/cache_int.h"

#include <string.h>

#include "json.h"

bool cache_meta_ready(const struct cache_meta *m)
{
    return m->state == CACHE_WARM && m->last_status == 0;
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

static void model_cursor_json(struct buf *b, const struct cache_meta *m)
{
    buf_puts(b, ",\"cursor\":");
    if (m->cursor.set) {
        buf_puts(b, "{\"lastUpdate\":");
        json_put_datetime_ms(b, cache_ticks_ms(m->cursor.ts));
        buf_puts(b, ",\"recId\":");
        json_put_u64(b, m->cursor.pk);
        buf_putc(b, '}');
    } else {
        buf_puts(b, "null");
    }
    buf_puts(b, ",\"sourceNewest\":");
    time_or_null(b, cache_ticks_ms(m->source_newest_ts), m->source_newest_ts != 0);
    double lag;
    buf_puts(b, ",\"lagSeconds\":");
    if (cache_meta_lag_s(m, &lag))
        json_put_double(b, lag);
    else
        buf_puts(b, "null");
}

void cache_report_model_json(struct buf *b, const struct schema_model *mo,
                             const struct cache_meta *m, bool needed)
{
    buf_puts(b, "{\"model\":");
    json_put_cstr(b, mo->name);
    buf_printf(b, ",\"needed\":%s,\"ready\":%s,\"state\":\"%s\",\"rows\":",
               needed ? "true" : "false", cache_meta_ready(m) ? "true" : "false",
               cache_state_name(m->state));
    json_put_u64(b, m->rows);
    model_cursor_json(b, m);
    buf_puts(b, ",\"lastRunStart\":");
    time_or_null(b, m->last_run_start_ms, m->last_run_start_ms != 0);
    buf_puts(b, ",\"lastRunEnd\":");
    time_or_null(b, m->last_run_end_ms, m->last_run_end_ms != 0);
    buf_puts(b, ",\"lastRunMs\":");
    json_put_i64(b, m->last_run_end_ms ? m->last_run_end_ms - m->last_run_start_ms : 0);
    buf_puts(b, ",\"lastStatus\":");
    json_put_i64(b, m->last_status);
    buf_puts(b, ",\"lastError\":");
    json_put_cstr(b, cache_meta_error(m));
    buf_puts(b, ",\"lastReconcile\":");
    time_or_null(b, m->last_reconcile_ms, m->last_reconcile_ms != 0);
    buf_putc(b, '}');
}

void cache_report_sum_add(struct cache_report_sum *s, const struct cache_meta *m, bool needed)
{
    s->models++;
    s->by_state[m->state <= CACHE_WARM ? m->state : CACHE_COLD]++;
    s->failed += m->last_status != 0;
    s->not_ready += needed && !cache_meta_ready(m);
    s->rows += m->rows;
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
