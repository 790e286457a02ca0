/*
 * Row reading shared by the passes, verification and the live fallback:
 * the current db-lib row becomes one struct cache_value per schema field
 * (SELECTs list the columns in field order), with no allocation per row
 * (STYLE R6): values point into db-lib's row buffer or the per-column slots.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void poller_row_init(struct poller_row *r, const struct schema_model *m)
{
    size_t n = m->n_fields ? m->n_fields : 1;
    r->m = m;
    r->vals = xcalloc(n, sizeof *r->vals);
    r->slots = xcalloc(n, sizeof *r->slots);
}

void poller_row_fini(struct poller_row *r)
{
    free(r->vals);
    free(r->slots);
    memset(r, 0, sizeof *r);
}

int poller_row_read(struct poller_row *r, const struct poller_conn *c, char *err, size_t errlen)
{
    const struct schema_model *m = r->m;
    if (c->ncols < (int)m->n_fields) {
        snprintf(err, errlen, "model %s: the source returned %d columns, expected %zu", m->name,
                 c->ncols, m->n_fields);
        return -EPROTO;
    }
    for (size_t i = 0; i < m->n_fields; i++) {
        int len;
        const BYTE *p = poller_conn_col_data(c, (int)i, &len);
        char e[160];
        int rc = poller_conv_value(poller_conn_col_type(c, (int)i), p, len, r->slots[i],
                                   &r->vals[i], e, sizeof e);
        if (rc < 0) {
            snprintf(err, errlen, "model %s, field %s (column %s): %s", m->name, m->fields[i].name,
                     m->fields[i].column, e);
            return rc;
        }
    }
    const struct cache_value *pk = &r->vals[m->pk->index];
    if (pk->kind != CV_INT) {
        snprintf(err, errlen, "model %s: primary key %s is NULL or not an integer", m->name,
                 m->pk->column);
        return -EPROTO;
    }
    return 0;
}

uint64_t poller_row_pk(const struct poller_row *r)
{
    return (uint64_t)r->vals[r->m->pk->index].i;
}

int poller_row_cursor_ticks(const struct poller_conn *c, int cursor_col, int64_t *ts, bool *has_ts)
{
    int len;
    const BYTE *p = poller_conn_col_data(c, cursor_col, &len);
    if (!p) {
        *has_ts = false;
        return 0;
    }
    *has_ts = true;
    return poller_conv_ticks(poller_conn_col_type(c, cursor_col), p, len, ts);
}

/* Appends a date parameter in the cursor column's own type, so datetime's
 * 1/300 s values compare exactly. */
static void put_ts(struct poller_keyset *k, const struct poller_src_model *pm, size_t i,
                   const char *name, int64_t ts)
{
    if (pm->cursor_type == SYBMSDATETIME2) {
        poller_conv_ticks_to_datetime2(ts, &k->dt2[i]);
        k->ps[k->n++] = (struct poller_param){name, pm->cursor_decl, SYBMSDATETIME2, &k->dt2[i],
                                              (int)sizeof k->dt2[i]};
    } else {
        poller_conv_ticks_to_datetime(ts, &k->dt[i]);
        k->ps[k->n++] = (struct poller_param){name, "datetime", SYBDATETIME, &k->dt[i], -1};
    }
}

void poller_keyset_set(struct poller_keyset *k, const struct poller_src_model *pm,
                       enum poller_sql_kind kind, int32_t batch, int64_t ts, int64_t ts_hi,
                       uint64_t pk)
{
    const struct schema_model *m = pm->m;
    k->batch = batch;
    k->n = 0;
    k->ps[k->n++] = (struct poller_param){"@batch", "int", SYBINT4, &k->batch, -1};
    if (kind == POLLER_SQL_KEYSET || kind == POLLER_SQL_KEYSET_FROM || kind == POLLER_SQL_GROUP)
        put_ts(k, pm, 0, "@t", ts);
    if (kind == POLLER_SQL_GROUP)
        put_ts(k, pm, 1, "@tn", ts_hi);
    bool has_id = kind == POLLER_SQL_KEYSET || kind == POLLER_SQL_KEYSET_NULLS ||
                  kind == POLLER_SQL_ROWS || kind == POLLER_SQL_KEYS || kind == POLLER_SQL_NULLS ||
                  kind == POLLER_SQL_GROUP;
    if (!has_id)
        return;
    /* @id takes the key column's own type: a bigint parameter against an
     * int key would make the server convert the column, not the value. */
    const char *decl = poller_sql_pk_decl(m);
    if (poller_sql_pk_type(m) == SYBINT8) {
        k->id8 = (int64_t)pk;
        k->ps[k->n++] = (struct poller_param){"@id", decl, SYBINT8, &k->id8, -1};
    } else {
        k->id4 = (int32_t)(int64_t)pk;
        k->ps[k->n++] = (struct poller_param){"@id", decl, SYBINT4, &k->id4, -1};
    }
}
