/*
 * One round trip per poll for every model: its row count, newest
 * last-update and largest key, in one UNION ALL statement:
 *
 *   SELECT <n>, CAST(0 AS bigint), SYSUTCDATETIME(), CAST(0 AS bigint)
 *   UNION ALL SELECT <id>, (SELECT COUNT_BIG(*) FROM [dbo].[T]),
 *   (SELECT CAST(MAX([lu]) AS datetime2(7)) FROM [dbo].[T]),
 *   (SELECT CAST(MAX([pk]) AS bigint) FROM [dbo].[T]) UNION ALL ...
 *
 * Each figure is its own subquery so that each is answered the cheap way:
 * the count from the narrowest index, each MAX by one seek at the end of
 * the index that leads with its column (the cursor index, the primary
 * key). One SELECT computing all three aggregates reads every row of the
 * table instead (SQLite does; a server may too), and MAX(CAST(pk)) hides
 * the key's index from the optimizer; widening to bigint after MAX gives
 * the same number.
 * Every last-update goes out as datetime2(7), so datetime and datetime2
 * columns share one column type. The first row (id: the number of schema
 * models) is the source clock: SQL Server evaluates it once, when the
 * statement starts, so every row committed before it is in the counts
 * (a server that evaluates it in row order reads it first).
 * A model the summary lets skip its poll is current up to that clock
 * (its asOf, cache_asof_note). The poller reads pages only for models
 * whose figures moved (poller.c), and a count below the cache's points at
 * deleted rows (gone.c), whose per-RecID-range counts come from
 * poller_summary_buckets().
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void poller_summary_init(struct poller_summary *s, const struct schema *sc, const bool *models)
{
    memset(s, 0, sizeof *s);
    s->n = sc->n_models;
    s->m = xcalloc(s->n ? s->n : 1, sizeof *s->m);
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < sc->n_models; i++) {
        const struct schema_model *m = &sc->models[i];
        if (!models[i] || !m->cursor)
            continue;
        if (!b.len)
            buf_printf(&b, "SELECT %zu, CAST(0 AS bigint), SYSUTCDATETIME(), CAST(0 AS bigint)",
                       sc->n_models);
        buf_printf(&b, " UNION ALL SELECT %u, (SELECT COUNT_BIG(*) FROM ", (unsigned)m->id);
        poller_sql_table(&b, m);
        buf_puts(&b, "), (SELECT CAST(MAX(");
        poller_sql_ident(&b, m->cursor->column);
        buf_puts(&b, ") AS datetime2(7)) FROM ");
        poller_sql_table(&b, m);
        buf_puts(&b, "), (SELECT CAST(MAX(");
        poller_sql_ident(&b, m->pk->column);
        buf_puts(&b, ") AS bigint) FROM ");
        poller_sql_table(&b, m);
        buf_putc(&b, ')');
    }
    buf_putc(&b, '\0');
    s->sql = xstrdup((const char *)buf_data(&b));
    buf_fini(&b);
}

void poller_summary_fini(struct poller_summary *s)
{
    free(s->sql);
    free(s->m);
    memset(s, 0, sizeof *s);
}

/* Column i of the current row as an integer; false for NULL. */
static bool col_int(const struct poller_conn *c, int i, int64_t *out)
{
    int len;
    const BYTE *p = poller_conn_col_data(c, i, &len);
    struct cache_value v;
    char slot[POLLER_CONV_SLOT], e[64];
    if (!p || poller_conv_value(poller_conn_col_type(c, i), p, len, slot, &v, e, sizeof e) < 0 ||
        v.kind != CV_INT)
        return false;
    *out = v.i;
    return true;
}

static bool col_ticks(const struct poller_conn *c, int i, int64_t *out)
{
    int len;
    const BYTE *p = poller_conn_col_data(c, i, &len);
    return p && poller_conv_ticks(poller_conn_col_type(c, i), p, len, out) == 0;
}

/* One row of the summary into s; -EPROTO for a row it did not ask for. */
static int take_row(struct poller_summary *s, const struct poller_conn *c)
{
    int64_t id, rows = 0, pk = 0, ts;
    if (!col_int(c, 0, &id) || id < 0 || (size_t)id > s->n)
        return -EPROTO;
    if ((size_t)id == s->n) { /* the source clock */
        if (!col_ticks(c, 2, &ts))
            return -EPROTO;
        s->clock_ms = cache_ticks_ms(ts);
        return 0;
    }
    if (!col_int(c, 1, &rows) || rows < 0)
        return -EPROTO;
    bool has_ts = col_ticks(c, 2, &ts);
    col_int(c, 3, &pk);
    s->m[id] = (struct poller_summary_model){
        .valid = true, .rows = (uint64_t)rows, .has_newest = has_ts, .newest = has_ts ? ts : 0,
        .max_pk = pk > 0 ? (uint64_t)pk : 0};
    return 0;
}

int poller_summary_read(struct poller_summary *s, struct poller_conn *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n; i++)
        s->m[i].valid = false;
    s->clock_ms = 0;
    if (!s->sql[0])
        return 0;
    int rc = poller_conn_batch(c, s->sql);
    if (rc == 0 && c->ncols < 4) {
        snprintf(c->err, sizeof c->err, "it returned %d columns, expected 4", c->ncols);
        poller_conn_cancel(c);
        rc = -EIO;
    }
    while (rc == 0 && (rc = poller_conn_next_row(c)) == 1) {
        rc = take_row(s, c);
        if (rc < 0) {
            snprintf(c->err, sizeof c->err, "it returned a row it was not asked for");
            poller_conn_cancel(c);
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "reading the row counts and newest last-updates of every model: %s",
                 c->err);
        for (size_t i = 0; i < s->n; i++)
            s->m[i].valid = false;
        s->clock_ms = 0;
    }
    return rc < 0 ? rc : 0;
}

/* The rows of the bucket query into out[0..nb]. */
static int read_buckets(struct poller_conn *c, struct poller_bucket *out, size_t nb)
{
    int rc;
    while ((rc = poller_conn_next_row(c)) == 1) {
        int64_t k, n, sum;
        if (!col_int(c, 0, &k) || !col_int(c, 1, &n) || !col_int(c, 2, &sum) || k < 0) {
            snprintf(c->err, sizeof c->err, "a bucket row without its numbers");
            poller_conn_cancel(c);
            return -EPROTO;
        }
        /* Keys past the last bucket (inserted since the summary) share it. */
        struct poller_bucket *bk = &out[(uint64_t)k < nb ? (size_t)k : nb];
        bk->rows += (uint64_t)n;
        bk->sum += (uint64_t)sum;
    }
    return rc;
}

int poller_summary_buckets(struct poller_conn *c, const struct schema_model *m, uint64_t width,
                           struct poller_bucket *out, size_t nb, char *err, size_t errlen)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "SELECT b, COUNT_BIG(*), SUM(k) FROM (SELECT CAST(");
    poller_sql_ident(&b, m->pk->column);
    buf_puts(&b, " AS bigint) / @w AS b, CAST(");
    poller_sql_ident(&b, m->pk->column);
    buf_puts(&b, " AS bigint) AS k FROM ");
    poller_sql_table(&b, m);
    buf_puts(&b, ") AS x GROUP BY b");
    buf_putc(&b, '\0');
    int64_t w = (int64_t)width;
    struct poller_param p = {"@w", "bigint", SYBINT8, &w, -1};
    memset(out, 0, (nb + 1) * sizeof *out);
    int rc = poller_conn_exec(c, (const char *)buf_data(&b), &p, 1);
    buf_fini(&b);
    if (rc == 0)
        rc = read_buckets(c, out, nb);
    if (rc < 0)
        snprintf(err, errlen, "model %s: counting keys per RecID range: %s", m->name, c->err);
    return rc;
}
