/*
 * The SELECT texts the poller sends (the live fallback's are livesql.c's). Table and column
 * names come from the schema and are always [bracket]-quoted; every value is
 * a parameter of sp_executesql (@batch, @t, @id, @max, @w1, @P1, ...), never
 * text pasted into the statement.
 */
#include "poller/poller_int.h"

#include <stdio.h>
#include <string.h>

/* NUL-terminates the statement without counting the NUL in b->len. */
static void end(struct buf *b)
{
    buf_putc(b, '\0');
    b->len--;
}

void poller_sql_ident(struct buf *b, const char *name)
{
    buf_putc(b, '[');
    for (const char *p = name; *p; p++) {
        if (*p == ']')
            buf_putc(b, ']');
        buf_putc(b, *p);
    }
    buf_putc(b, ']');
}

void poller_sql_columns(struct buf *b, const struct schema_model *m)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        if (i)
            buf_puts(b, ", ");
        poller_sql_ident(b, m->fields[i].column);
    }
}

void poller_sql_table(struct buf *b, const struct schema_model *m)
{
    buf_puts(b, "[dbo].");
    poller_sql_ident(b, m->table);
}

const char *poller_sql_pk_decl(const struct schema_model *m)
{
    return m->pk->type == SCHEMA_BIGINT ? "bigint" : "int";
}

int poller_sql_pk_type(const struct schema_model *m)
{
    return m->pk->type == SCHEMA_BIGINT ? SYBINT8 : SYBINT4;
}

static void order_by(struct buf *b, const struct schema_model *m, bool by_cursor)
{
    buf_puts(b, " ORDER BY ");
    if (by_cursor) {
        poller_sql_ident(b, m->cursor->column);
        buf_puts(b, ", ");
    }
    poller_sql_ident(b, m->pk->column);
}

static void lu(struct buf *b, const struct schema_model *m)
{
    poller_sql_ident(b, m->cursor->column);
}
static void pk(struct buf *b, const struct schema_model *m)
{
    poller_sql_ident(b, m->pk->column);
}

static void where(struct buf *b, const struct schema_model *m, enum poller_sql_kind k)
{
    switch (k) {
    case POLLER_SQL_KEYSET:
        /* lu > @t OR (lu = @t AND pk > @id), with the range on lu first: a
         * bare OR leaves planners (SQLite, often SQL Server) scanning the
         * (lu, pk) index from its start on every page, so page k costs O(k). */
        buf_puts(b, " WHERE "), lu(b, m), buf_puts(b, " >= @t AND ("), lu(b, m);
        buf_puts(b, " > @t OR "), pk(b, m), buf_puts(b, " > @id)");
        break;
    case POLLER_SQL_KEYSET_FROM:
        buf_puts(b, " WHERE "), lu(b, m), buf_puts(b, " >= @t");
        break;
    case POLLER_SQL_GROUP:
        /* One last-update window read by RecID alone: its pages move on
         * @id, a parameter every server takes exactly (see sync.c). */
        buf_puts(b, " WHERE "), lu(b, m), buf_puts(b, " >= @t AND "), lu(b, m);
        buf_puts(b, " < @tn AND "), pk(b, m), buf_puts(b, " >= @id");
        break;
    case POLLER_SQL_KEYSET_NULLS:
        buf_puts(b, " WHERE ("), lu(b, m), buf_puts(b, " IS NULL AND "), pk(b, m);
        buf_puts(b, " > @id) OR "), lu(b, m), buf_puts(b, " IS NOT NULL");
        break;
    case POLLER_SQL_ROWS:
    case POLLER_SQL_KEYS:
        buf_puts(b, " WHERE "), pk(b, m), buf_puts(b, " > @id");
        break;
    case POLLER_SQL_NULLS_FIRST:
        buf_puts(b, " WHERE "), lu(b, m), buf_puts(b, " IS NULL");
        break;
    case POLLER_SQL_NULLS:
        buf_puts(b, " WHERE "), lu(b, m), buf_puts(b, " IS NULL AND "), pk(b, m);
        buf_puts(b, " > @id");
        break;
    default:
        break;
    }
}

bool poller_sql_by_cursor(enum poller_sql_kind k)
{
    return k == POLLER_SQL_KEYSET || k == POLLER_SQL_KEYSET_FIRST || k == POLLER_SQL_KEYSET_NULLS ||
           k == POLLER_SQL_KEYSET_FROM;
}

bool poller_sql_needs_cursor(enum poller_sql_kind k)
{
    return poller_sql_by_cursor(k) || k == POLLER_SQL_GROUP || k == POLLER_SQL_NULLS ||
           k == POLLER_SQL_NULLS_FIRST;
}

void poller_sql_build(struct buf *b, const struct schema_model *m, enum poller_sql_kind k)
{
    buf_reset(b);
    if (k == POLLER_SQL_COUNT) {
        buf_puts(b, "SELECT COUNT_BIG(*) FROM ");
        poller_sql_table(b, m);
        end(b);
        return;
    }
    buf_puts(b, "SELECT TOP (@batch) ");
    if (k == POLLER_SQL_KEYS || k == POLLER_SQL_KEYS_FIRST)
        pk(b, m);
    else
        poller_sql_columns(b, m);
    buf_puts(b, " FROM ");
    poller_sql_table(b, m);
    where(b, m, k);
    order_by(b, m, poller_sql_by_cursor(k));
    end(b);
}
