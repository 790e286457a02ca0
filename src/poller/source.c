/*
 * Per-model facts about the source table: whether every schema column
 * exists there (a model with a missing column is not polled, and its meta
 * says which column), the SQL type of its cursor column (so @t goes back in
 * that type and datetime's 1/300 s values compare exactly) and which clock
 * bounds the cursor: SYSUTCDATETIME() for *_UTC columns, GETDATE() for the
 * local-time Last_Update columns.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool ends_with_utc(const char *s)
{
    size_t n = strlen(s);
    return n >= 4 && strcasecmp(s + n - 4, "_utc") == 0;
}

void poller_src_init(struct poller_src_model *pm, const struct schema_model *m)
{
    *pm = (struct poller_src_model){
        .m = m, .ok = true, .cursor_type = SYBDATETIME, .cursor_decl = "datetime"};
    pm->clock = m->cursor && ends_with_utc(m->cursor->column) ? POLLER_SRC_CLOCK_UTC
                                                              : POLLER_SRC_CLOCK_LOCAL;
    struct buf b;
    buf_init(&b, 0);
    for (int k = 0; k < POLLER_SQL_KIND_N; k++) {
        if (poller_sql_needs_cursor((enum poller_sql_kind)k) && !m->cursor)
            continue;
        poller_sql_build(&b, m, (enum poller_sql_kind)k);
        pm->stmt[k] = xstrdup((const char *)buf_data(&b));
    }
    buf_fini(&b);
}

void poller_src_fini(struct poller_src_model *pm)
{
    for (int k = 0; k < POLLER_SQL_KIND_N; k++)
        free(pm->stmt[k]);
    memset(pm, 0, sizeof *pm);
}

static void set_cursor_type(struct poller_src_model *pm, const char *data_type)
{
    if (strncasecmp(data_type, "datetime2", 9) == 0 || strcasecmp(data_type, "date") == 0 ||
        strcasecmp(data_type, "datetimeoffset") == 0) {
        pm->cursor_type = SYBMSDATETIME2;
        pm->cursor_decl = "datetime2(7)";
    } else {
        pm->cursor_type = SYBDATETIME;
        pm->cursor_decl = "datetime";
    }
}

struct seen {
    bool *found; /* per field */
};

/* Copies a text column of the current row into a NUL-terminated buffer. */
static void col_text(const struct poller_conn *c, int i, char *out, size_t cap)
{
    int len;
    const BYTE *p = poller_conn_col_data(c, i, &len);
    size_t n = p ? (size_t)len : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
}

static void mark_row(const struct poller_conn *c, const struct schema *s, const bool *models,
                     struct poller_src_model *out, struct seen *seen)
{
    char schema[130], table[260], column[260], type[64];
    col_text(c, 0, schema, sizeof schema);
    if (strcasecmp(schema, "dbo") != 0)
        return;
    col_text(c, 1, table, sizeof table);
    col_text(c, 2, column, sizeof column);
    col_text(c, 3, type, sizeof type);
    for (size_t i = 0; i < s->n_models; i++) {
        const struct schema_model *m = &s->models[i];
        if (!models[i] || strcasecmp(m->table, table) != 0)
            continue;
        for (size_t f = 0; f < m->n_fields; f++) {
            if (strcasecmp(m->fields[f].column, column) != 0)
                continue;
            seen[i].found[f] = true;
            if (m->cursor == &m->fields[f])
                set_cursor_type(&out[i], type);
        }
    }
}

static void report_missing(const struct schema *s, const bool *models, struct poller_src_model *out,
                           struct seen *seen)
{
    for (size_t i = 0; i < s->n_models; i++) {
        if (!models[i])
            continue;
        const struct schema_model *m = &s->models[i];
        for (size_t f = 0; f < m->n_fields; f++) {
            if (seen[i].found[f])
                continue;
            out[i].ok = false;
            snprintf(out[i].error, sizeof out[i].error,
                     "model %s: column [dbo].[%s].[%s] (field %s) is missing at the source", m->name,
                     m->table, m->fields[f].column, m->fields[f].name);
            break;
        }
    }
}

int poller_src_check(struct poller_conn *c, const struct schema *s, const bool *models,
                     struct poller_src_model *out, char *err, size_t errlen)
{
    struct seen *seen = xcalloc(s->n_models, sizeof *seen);
    for (size_t i = 0; i < s->n_models; i++)
        if (models[i])
            seen[i].found = xcalloc(s->models[i].n_fields ? s->models[i].n_fields : 1, 1);
    int rc = poller_conn_batch(c, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM "
                                  "INFORMATION_SCHEMA.COLUMNS");
    if (rc == 0 && c->ncols < 4) {
        snprintf(c->err, sizeof c->err, "INFORMATION_SCHEMA.COLUMNS returned %d columns", c->ncols);
        poller_conn_cancel(c);
        rc = -EIO;
    }
    while (rc == 0 && (rc = poller_conn_next_row(c)) == 1) {
        mark_row(c, s, models, out, seen);
        rc = 0;
    }
    if (rc < 0)
        snprintf(err, errlen, "reading INFORMATION_SCHEMA.COLUMNS: %s", c->err);
    else
        report_missing(s, models, out, seen);
    for (size_t i = 0; i < s->n_models; i++)
        free(seen[i].found);
    free(seen);
    return rc < 0 ? rc : 0;
}

static int read_scalar(struct poller_conn *c, const char *sql, int64_t *ticks, uint64_t *count)
{
    int rc = poller_conn_batch(c, sql);
    if (rc < 0)
        return rc;
    int got = 0;
    while ((rc = poller_conn_next_row(c)) == 1) {
        int len;
        const BYTE *p = poller_conn_col_data(c, 0, &len);
        int type = poller_conn_col_type(c, 0);
        if (ticks && !got && poller_conv_ticks(type, p, len, ticks) == 0)
            got = 1;
        if (count && !got && p) {
            struct cache_value v;
            char slot[POLLER_CONV_SLOT], e[64];
            if (poller_conv_value(type, p, len, slot, &v, e, sizeof e) == 0 && v.kind == CV_INT) {
                *count = (uint64_t)v.i;
                got = 1;
            }
        }
    }
    if (rc < 0)
        return rc;
    if (!got) {
        snprintf(c->err, sizeof c->err, "%s: no usable value returned", sql);
        return -EIO;
    }
    return 0;
}

int poller_src_clock_read(struct poller_conn *c, const struct poller_src_model *pm, int64_t *ticks)
{
    return read_scalar(
        c, pm->clock == POLLER_SRC_CLOCK_UTC ? "SELECT SYSUTCDATETIME()" : "SELECT GETDATE()",
        ticks, NULL);
}

int poller_src_count(struct poller_conn *c, const struct poller_src_model *pm, uint64_t *n)
{
    return read_scalar(c, pm->stmt[POLLER_SQL_COUNT], NULL, n);
}
