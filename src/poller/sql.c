/*
 * The SELECT texts the poller sends. Table and column names come from the
 * schema and are always [bracket]-quoted; every value is a parameter of
 * sp_executesql (@batch, @t, @id), never text pasted into the statement.
 */
#include "poller/poller_int.h"

#include <string.h>

void psql_ident(struct buf *b, const char *name)
{
    buf_putc(b, '[');
    for (const char *p = name; *p; p++) {
        if (*p == ']')
            buf_putc(b, ']');
        buf_putc(b, *p);
    }
    buf_putc(b, ']');
}

void psql_columns(struct buf *b, const struct schema_model *m)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        if (i)
            buf_puts(b, ", ");
        psql_ident(b, m->fields[i].column);
    }
}

void psql_table(struct buf *b, const struct schema_model *m)
{
    buf_puts(b, "[dbo].");
    psql_ident(b, m->table);
}

const char *psql_pk_decl(const struct schema_model *m)
{
    return m->pk->type == SCHEMA_BIGINT ? "bigint" : "int";
}

int psql_pk_type(const struct schema_model *m)
{
    return m->pk->type == SCHEMA_BIGINT ? SYBINT8 : SYBINT4;
}

static void order_by(struct buf *b, const struct schema_model *m, bool by_cursor)
{
    buf_puts(b, " ORDER BY ");
    if (by_cursor) {
        psql_ident(b, m->cursor->column);
        buf_puts(b, ", ");
    }
    psql_ident(b, m->pk->column);
}

static void lu(struct buf *b, const struct schema_model *m) { psql_ident(b, m->cursor->column); }
static void pk(struct buf *b, const struct schema_model *m) { psql_ident(b, m->pk->column); }

static void where(struct buf *b, const struct schema_model *m, enum psql_kind k)
{
    switch (k) {
    case PSQL_KEYSET:
        /* lu > @t OR (lu = @t AND pk > @id), with the range on lu first: a
         * bare OR leaves planners (SQLite, often SQL Server) scanning the
         * (lu, pk) index from its start on every page, so page k costs O(k). */
        buf_puts(b, " WHERE "), lu(b, m), buf_puts(b, " >= @t AND ("), lu(b, m);
        buf_puts(b, " > @t OR "), pk(b, m), buf_puts(b, " > @id)");
        break;
    case PSQL_KEYSET_NULLS:
        buf_puts(b, " WHERE ("), lu(b, m), buf_puts(b, " IS NULL AND "), pk(b, m);
        buf_puts(b, " > @id) OR "), lu(b, m), buf_puts(b, " IS NOT NULL");
        break;
    case PSQL_ROWS:
    case PSQL_KEYS:
        buf_puts(b, " WHERE "), pk(b, m), buf_puts(b, " > @id");
        break;
    case PSQL_NULLS_FIRST:
        buf_puts(b, " WHERE "), lu(b, m), buf_puts(b, " IS NULL");
        break;
    case PSQL_NULLS:
        buf_puts(b, " WHERE "), lu(b, m), buf_puts(b, " IS NULL AND "), pk(b, m);
        buf_puts(b, " > @id");
        break;
    default:
        break;
    }
}

void psql_build(struct buf *b, const struct schema_model *m, enum psql_kind k)
{
    buf_reset(b);
    if (k == PSQL_COUNT) {
        buf_puts(b, "SELECT COUNT_BIG(*) FROM ");
        psql_table(b, m);
        buf_putc(b, '\0');
        b->len--;
        return;
    }
    buf_puts(b, "SELECT TOP (@batch) ");
    if (k == PSQL_KEYS || k == PSQL_KEYS_FIRST)
        pk(b, m);
    else
        psql_columns(b, m);
    buf_puts(b, " FROM ");
    psql_table(b, m);
    where(b, m, k);
    order_by(b, m, k == PSQL_KEYSET || k == PSQL_KEYSET_FIRST || k == PSQL_KEYSET_NULLS);
    buf_putc(b, '\0');
    b->len--;
}
