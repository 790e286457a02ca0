/*
 * The SELECT texts the poller and the live fallback send. Table and column
 * names come from the schema and are always [bracket]-quoted; every value is
 * a parameter of sp_executesql (@batch, @t, @id, @max, @w1, @P1, ...), never
 * text pasted into the statement.
 */
#include "poller/poller_int.h"

#include <stdio.h>
#include <string.h>

/* Characters of a live IN statement: @stmt stays a plain nvarchar(4000). */
#define LIVE_STMT_MAX 3900

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

/* SELECT cols FROM t */
static void select_from(struct buf *b, const struct schema_model *m, bool top)
{
    buf_reset(b);
    buf_puts(b, top ? "SELECT TOP (@max) " : "SELECT ");
    poller_sql_columns(b, m);
    buf_puts(b, " FROM ");
    poller_sql_table(b, m);
}

void poller_sql_live_root(struct buf *b, const struct schema_model *m, bool top,
                          struct poller_sql_cond *conds, size_t n)
{
    select_from(b, m, top);
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, i ? " AND " : " WHERE ");
        poller_sql_ident(b, conds[i].column);
        if (conds[i].is_null) {
            conds[i].name[0] = '\0';
            buf_puts(b, " IS NULL");
            continue;
        }
        snprintf(conds[i].name, sizeof conds[i].name, "@w%u", (unsigned)(i + 1));
        buf_printf(b, " = %s", conds[i].name);
    }
    order_by(b, m, false);
    end(b);
}

static void in_prefix(struct buf *b, const struct schema_model *m, const char *column)
{
    select_from(b, m, false);
    buf_puts(b, " WHERE ");
    poller_sql_ident(b, column);
    buf_puts(b, " IN (");
}

void poller_sql_live_in(struct buf *b, const struct schema_model *m, const char *column, size_t n,
                        char (*names)[POLLER_SQL_NAME_MAX])
{
    in_prefix(b, m, column);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "@P%u", (unsigned)(i + 1));
        buf_printf(b, "%s%s", i ? ", " : "", names[i]);
    }
    buf_putc(b, ')');
    order_by(b, m, false);
    end(b);
}

size_t poller_sql_live_in_max(const struct schema_model *m, const char *column)
{
    struct buf b;
    buf_init(&b, 0);
    in_prefix(&b, m, column);
    order_by(&b, m, false);
    size_t fixed = b.len + 1; /* the closing parenthesis */
    buf_fini(&b);
    /* Each key adds ", @Pnnn" (at most 7 characters with three digits). */
    size_t room = fixed < LIVE_STMT_MAX ? (LIVE_STMT_MAX - fixed) / 7 : 1;
    return room < 1 ? 1 : room < POLLER_SQL_IN_MAX ? room : POLLER_SQL_IN_MAX;
}
