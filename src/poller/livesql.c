/*
 * A request's plan as T-SQL, for the live fallback (live.c runs the
 * statements). One statement per plan level, the cache's semantics spelt
 * in SQL:
 *
 *   root     SELECT [t0].cols FROM [dbo].[T] AS [t0]
 *              [CROSS JOIN (the cursor row's order values) AS [cur]]
 *              [LEFT JOIN [dbo].[U] AS [j1] ON [j1].[pk] = [t0].[fk] ...]   (orderBy paths)
 *            WHERE collector filter AND where AND at-or-after-the-cursor
 *            ORDER BY keys, [t0].[pk] OFFSET @s ROWS FETCH NEXT @n ROWS ONLY
 *            (a key: a column, or a relation's count: (SELECT COUNT_BIG(*) ...))
 *   to-many  the same for a chunk of parents (AND [t0].[fk] IN (@k1, ...)),
 *            without OFFSET/FETCH: skip, take and distinct count per parent
 *   to-one   SELECT [t0].cols FROM [dbo].[T] AS [t0] WHERE [t0].[pk] IN (...)
 *   _count   SELECT [t0].[fk], COUNT_BIG(*) ... WHERE fk IN (...) AND where GROUP BY [t0].[fk]
 *   count    SELECT COUNT_BIG(*) FROM (the root's paged keys) AS [q]
 *
 * Names come from the schema only, [bracket]-quoted; every value a client
 * sent is a parameter (@p1, ...). Scalar conditions keep SQL's three-valued
 * logic, which is the cache's (match.c); relation conditions are EXISTS
 * subqueries; `every` is "no related row for which the condition is false"
 * (NOT EXISTS ... AND NOT (cond)). String comparisons, LIKE and ORDER BY
 * use the server's collation. Nulls sort first ascending, as on SQL Server.
 *
 * What SQL does not do here: distinct (Prisma too does it in memory), and
 * the per-parent skip/take/distinct of a to-many relation: live.c's
 * renderer applies them to the rows these statements return, in the order
 * they return them.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"

/* ---- parameters ------------------------------------------------------------------ */

void poller_lsql_init(struct poller_lsql *q)
{
    memset(q, 0, sizeof *q);
    buf_init(&q->sql, 0);
}

static void params_clear(struct poller_lsql *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->p[i].owned);
    q->n = 0;
    q->alias = 0;
    q->err = 0;
    q->why[0] = '\0';
}

void poller_lsql_fini(struct poller_lsql *q)
{
    params_clear(q);
    free(q->p);
    free(q->ps);
    buf_fini(&q->sql);
}

static void reset(struct poller_lsql *q)
{
    params_clear(q);
    buf_reset(&q->sql);
}

static int fail(struct poller_lsql *q, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct poller_lsql *q, int rc, const char *fmt, ...)
{
    if (q->err)
        return q->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->why, sizeof q->why, fmt, ap);
    va_end(ap);
    return q->err = rc;
}

/* A new parameter; its name goes into the statement at once. */
static struct poller_lsql_param *param(struct poller_lsql *q, const char *decl, int type)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 16;
        q->p = xrealloc(q->p, q->cap * sizeof *q->p);
    }
    struct poller_lsql_param *p = &q->p[q->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "@p%zu", q->n);
    p->decl = decl;
    p->type = type;
    buf_puts(&q->sql, p->name);
    if (q->n > POLLER_LSQL_PARAMS_MAX)
        fail(q, -E2BIG, "more than %d values for one SQL statement", POLLER_LSQL_PARAMS_MAX);
    return p;
}

static void param_int(struct poller_lsql *q, int64_t v)
{
    param(q, "bigint", SYBINT8)->v.i = v;
}

static void param_text(struct poller_lsql *q, const char *s, size_t len, char *owned)
{
    /* nvarchar(4000) holds 4000 UTF-16 units: a longer text needs (max). */
    struct poller_lsql_param *p = param(q, len > 4000 ? "nvarchar(max)" : "nvarchar(4000)", SYBVARCHAR);
    p->text = s;
    p->len = len;
    p->owned = owned;
}

const struct poller_param *poller_lsql_params(struct poller_lsql *q, size_t *n)
{
    free(q->ps);
    q->ps = xcalloc(q->n + 1, sizeof *q->ps);
    for (size_t i = 0; i < q->n; i++) {
        struct poller_lsql_param *p = &q->p[i];
        bool text = p->type == SYBVARCHAR;
        /* db-lib takes a datetime2's length (DBDATETIMEALL), -1 for other fixed types */
        int len = text ? (int)p->len : p->type == SYBMSDATETIME2 ? (int)sizeof p->v.dt : -1;
        q->ps[i] = (struct poller_param){p->name, p->decl, p->type, text ? (const void *)p->text : &p->v,
                                         len};
    }
    *n = q->n;
    return q->ps;
}

/* ---- names -------------------------------------------------------------------------- */

/* [<pre><n>].[column]: a row alias and a column name from the schema. */
static void ref(struct poller_lsql *q, char pre, unsigned n, const char *column)
{
    buf_printf(&q->sql, "[%c%u].", pre, n);
    poller_sql_ident(&q->sql, column);
}

/* [dbo].[table] AS [<pre><n>] */
static void table_as(struct poller_lsql *q, const struct schema_model *m, char pre, unsigned n)
{
    poller_sql_table(&q->sql, m);
    buf_printf(&q->sql, " AS [%c%u]", pre, n);
}

static void columns(struct poller_lsql *q, const struct schema_model *m)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        if (i)
            buf_puts(&q->sql, ", ");
        ref(q, 't', 0, m->fields[i].column);
    }
}

/* ---- values -------------------------------------------------------------------------- */

static bool is_null_json(struct slice j) { return j.len == 4 && memcmp(j.p, "null", 4) == 0; }

/* The text between a rendered string value's quotes (Decimal, DateTime: never escaped). */
static struct slice unquote(struct slice j)
{
    if (j.len >= 2 && j.p[0] == '"' && j.p[j.len - 1] == '"')
        return (struct slice){j.p + 1, j.len - 2};
    return j;
}

/* "2024-03-01T12:00:00.000Z", as rows render a DateTime, to 100 ns ticks since 1970. */
static bool iso_ticks(struct slice s, int64_t *ticks)
{
    char t[32];
    int y;
    unsigned mo, d, h, mi, sec, ms;
    char z;
    if (s.len >= sizeof t)
        return false;
    memcpy(t, s.p, s.len);
    t[s.len] = '\0';
    if (sscanf(t, "%d-%u-%uT%u:%u:%u.%u%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z) != 8 || z != 'Z' ||
        !civil_valid(y, mo, d))
        return false;
    int64_t msec = civil_to_days(y, mo, d) * 86400000 + ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + ms;
    *ticks = msec * POLLER_TICKS_PER_MS;
    return true;
}

/* A value of field f as a parameter (with a CAST for a Decimal: it travels
 * as its exact text). */
static void value(struct poller_lsql *q, const struct schema_field *f, const struct cache_fvalue *v)
{
    struct slice s = unquote(v->json);
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_BIGINT:
        param_int(q, v->i);
        return;
    case SCHEMA_BOOLEAN:
        param(q, "int", SYBINT4)->v.b = slice_eq(v->json, slice_str("true"));
        return;
    case SCHEMA_FLOAT:
        param(q, "float", SYBFLT8)->v.f = v->f;
        return;
    case SCHEMA_DECIMAL: {
        const uint8_t *dot = memchr(s.p, '.', s.len);
        unsigned scale = dot ? (unsigned)(s.p + s.len - dot - 1) : 0;
        buf_puts(&q->sql, "CAST(");
        param_text(q, (const char *)s.p, s.len, NULL);
        buf_printf(&q->sql, " AS decimal(38, %u))", scale > 37 ? 37 : scale);
        return;
    }
    case SCHEMA_DATETIME: {
        int64_t ticks = 0;
        if (!iso_ticks(s, &ticks))
            fail(q, -EINVAL, "field %s: %.*s is not a date", f->name, (int)s.len, s.p);
        poller_conv_ticks_to_datetime2(ticks, &param(q, "datetime2(7)", SYBMSDATETIME2)->v.dt);
        return;
    }
    case SCHEMA_STRING:
        param_text(q, (const char *)v->text.p, v->text.len, NULL);
        return;
    case SCHEMA_BYTES:
        break;
    }
    fail(q, -ENOTSUP, "field %s: a Bytes value cannot be compared in SQL", f->name);
}

/* LIKE pattern of a contains/startsWith/endsWith value: the value's own
 * wildcards and the escape character made literal. */
static void like_value(struct poller_lsql *q, enum cache_filter_op op, const struct cache_fvalue *v)
{
    struct buf b;
    buf_init(&b, 0);
    if (op != CACHE_F_STARTS)
        buf_putc(&b, '%');
    for (size_t i = 0; i < v->text.len; i++) {
        char c = (char)v->text.p[i];
        if (c == '%' || c == '_' || c == '[' || c == '\\')
            buf_putc(&b, '\\');
        buf_putc(&b, c);
    }
    if (op != CACHE_F_ENDS)
        buf_putc(&b, '%');
    buf_putc(&b, '\0');
    char *owned = (char *)buf_data(&b); /* the buffer's memory, handed to the parameter */
    param_text(q, owned, b.len - 1, owned);
}

/* ---- where ------------------------------------------------------------------------------ */

static void where(struct poller_lsql *q, const struct schema_model *m, const struct cache_filter *f,
                  unsigned a);

static void in_list(struct poller_lsql *q, const struct cache_filter *f, unsigned a)
{
    bool in = f->op == CACHE_F_IN, has_null = false, first = true;
    if (!f->n_vals) { /* as Prisma renders an empty list */
        buf_puts(&q->sql, in ? "1 = 0" : "1 = 1");
        return;
    }
    ref(q, 't', a, f->field->column);
    buf_puts(&q->sql, in ? " IN (" : " NOT IN (");
    for (size_t i = 0; i < f->n_vals; i++) {
        if (is_null_json(f->vals[i].json)) {
            has_null = true;
            continue;
        }
        if (!first)
            buf_puts(&q->sql, ", ");
        first = false;
        value(q, f->field, &f->vals[i]);
    }
    /* a null in the list makes a non-match unknown, as in the cache */
    buf_puts(&q->sql, has_null ? (first ? "NULL)" : ", NULL)") : ")");
}

static void scalar(struct poller_lsql *q, const struct cache_filter *f, unsigned a)
{
    static const char *const cmp[] = {[CACHE_F_EQ] = " = ", [CACHE_F_NE] = " <> ", [CACHE_F_LT] = " < ",
                                      [CACHE_F_LTE] = " <= ", [CACHE_F_GT] = " > ", [CACHE_F_GTE] = " >= "};
    if (f->op == CACHE_F_IN || f->op == CACHE_F_NOTIN) {
        in_list(q, f, a);
        return;
    }
    ref(q, 't', a, f->field->column);
    if (f->op >= CACHE_F_CONTAINS) {
        buf_puts(&q->sql, " LIKE ");
        like_value(q, f->op, &f->vals[0]);
        buf_puts(&q->sql, " ESCAPE '\\'");
        return;
    }
    if (is_null_json(f->vals[0].json)) {
        buf_puts(&q->sql, f->op == CACHE_F_EQ ? " IS NULL" : " IS NOT NULL");
        return;
    }
    buf_puts(&q->sql, cmp[f->op]);
    value(q, f->field, &f->vals[0]);
}

/* EXISTS (SELECT 1 FROM target AS [tN] WHERE <link> AND [NOT] (sub)): to-many */
static void exists(struct poller_lsql *q, const struct cache_filter *f, unsigned a, bool negate,
                   bool sub_not)
{
    const struct schema_relation *r = f->rel;
    unsigned c = ++q->alias;
    buf_puts(&q->sql, negate ? "NOT EXISTS (SELECT 1 FROM " : "EXISTS (SELECT 1 FROM ");
    table_as(q, r->target, 't', c);
    buf_puts(&q->sql, " WHERE "); /* the child's foreign key names this row */
    ref(q, 't', c, r->fk->column);
    buf_puts(&q->sql, " = ");
    ref(q, 't', a, r->model->pk->column);
    buf_puts(&q->sql, sub_not ? " AND NOT (" : " AND (");
    where(q, r->target, &f->sub[0], c);
    buf_puts(&q->sql, "))");
}

/*
 * is / isNot as Prisma's LEFT JOIN gives them: `is: null` / `isNot: null`
 * test the foreign key; `is: W` is W on the related row with its unknown
 * kept (false without a row), `isNot: W` NOT W (true without a row). EXISTS
 * is two-valued, so the row's W is read as 1, 0 or 2 (unknown) and 2 made
 * null again:
 *   NULLIF(COALESCE((SELECT CASE WHEN (W) THEN 1 WHEN NOT (W) THEN 0 ELSE 2 END
 *     FROM target AS [tN] WHERE [tN].[pk] = [t<a>].[fk]), 0), 2) = 1
 * (isNot swaps 1 and 0 and has no row count as 1). W is written once and
 * its text repeated: the copy names the same parameters.
 */
static void to_one(struct poller_lsql *q, const struct cache_filter *f, unsigned a)
{
    const struct schema_relation *r = f->rel;
    bool is = f->op == CACHE_F_IS;
    if (!f->n_sub) {
        ref(q, 't', a, r->fk->column);
        buf_puts(&q->sql, is ? " IS NULL" : " IS NOT NULL");
        return;
    }
    unsigned c = ++q->alias;
    buf_puts(&q->sql, "NULLIF(COALESCE((SELECT CASE WHEN (");
    size_t from = q->sql.len;
    where(q, r->target, &f->sub[0], c);
    size_t len = q->sql.len - from;
    char *cond = xmalloc(len + 1);
    memcpy(cond, buf_data(&q->sql) + from, len);
    buf_puts(&q->sql, is ? ") THEN 1 WHEN NOT (" : ") THEN 0 WHEN NOT (");
    buf_append(&q->sql, cond, len);
    free(cond);
    buf_puts(&q->sql, is ? ") THEN 0 ELSE 2 END FROM " : ") THEN 1 ELSE 2 END FROM ");
    table_as(q, r->target, 't', c);
    buf_puts(&q->sql, " WHERE ");
    ref(q, 't', c, r->target->pk->column);
    buf_puts(&q->sql, " = ");
    ref(q, 't', a, r->fk->column);
    buf_puts(&q->sql, is ? "), 0), 2) = 1" : "), 1), 2) = 1");
}

static void junction(struct poller_lsql *q, const struct schema_model *m, const struct cache_filter *f,
                     unsigned a)
{
    bool and = f->op == CACHE_F_AND;
    if (!f->n_sub) { /* an empty AND is true, an empty OR false */
        buf_puts(&q->sql, and ? "1 = 1" : "1 = 0");
        return;
    }
    if (f->n_sub == 1) {
        where(q, m, &f->sub[0], a);
        return;
    }
    for (size_t i = 0; i < f->n_sub; i++) { /* the caller's parentheses hold them together */
        if (i)
            buf_puts(&q->sql, and ? " AND " : " OR ");
        buf_putc(&q->sql, '(');
        where(q, m, &f->sub[i], a);
        buf_putc(&q->sql, ')');
    }
}

/* Filter f on rows of m aliased [t<a>]. */
static void where(struct poller_lsql *q, const struct schema_model *m, const struct cache_filter *f,
                  unsigned a)
{
    switch (f->op) {
    case CACHE_F_AND:
    case CACHE_F_OR:
        junction(q, m, f, a);
        return;
    case CACHE_F_NOT:
        buf_puts(&q->sql, "NOT (");
        where(q, m, &f->sub[0], a);
        buf_putc(&q->sql, ')');
        return;
    case CACHE_F_SOME:
        exists(q, f, a, false, false);
        return;
    case CACHE_F_NONE:
        exists(q, f, a, true, false);
        return;
    case CACHE_F_EVERY: /* no related row for which the condition is false */
        exists(q, f, a, true, true);
        return;
    case CACHE_F_IS:
    case CACHE_F_ISNOT:
        to_one(q, f, a);
        return;
    default:
        scalar(q, f, a);
        return;
    }
}

/* ---- the collector's fixed filter ---------------------------------------------------- */

/* Its canonical values (cache_plan_where) as filter values; strings are
 * decoded into memory the parameter owns. */
static void fixed_where(struct poller_lsql *q, const struct cache_plan *p, unsigned a)
{
    for (size_t i = 0; i < p->n_where; i++) {
        const struct schema_field *f = p->where[i].field;
        struct cache_fvalue v = {.json = p->where[i].json};
        buf_puts(&q->sql, " AND ");
        ref(q, 't', a, f->column);
        if (is_null_json(v.json)) {
            buf_puts(&q->sql, " IS NULL");
            continue;
        }
        buf_puts(&q->sql, " = ");
        char *t = xmalloc(v.json.len + 1);
        memcpy(t, v.json.p, v.json.len);
        t[v.json.len] = '\0';
        v.i = strtoll(t, NULL, 10);
        v.f = strtod(t, NULL);
        if (f->type != SCHEMA_STRING) {
            free(t);
            value(q, f, &v);
            continue;
        }
        json_t *j = json_loadb((const char *)v.json.p, v.json.len, JSON_DECODE_ANY, NULL);
        size_t len = json_is_string(j) ? json_string_length(j) : 0;
        if (len)
            memcpy(t, json_string_value(j), len);
        json_decref(j);
        param_text(q, t, len, t);
    }
}

bool poller_lsql_fixed_exact(const struct cache_plan *p)
{
    /* The cache compares the collector's string values by bytes, SQL by
     * the collation: SQL then returns a superset the renderer narrows. */
    for (size_t i = 0; i < p->n_where; i++)
        if (p->where[i].field->type == SCHEMA_STRING && !is_null_json(p->where[i].json))
            return false;
    return true;
}

/* ---- orderBy and the cursor ------------------------------------------------------------ */

/* Where key i's value lives: the row itself ([<pre>0]) or the last row of
 * its to-one path, joined as [<pre><n>] (joins() numbers them in turn). */
struct okey {
    char pre;
    unsigned n;
    const struct cache_order *o;
};

static struct okey key_at(const struct cache_plan_node *n, size_t i, char pre)
{
    unsigned hops = 0;
    for (size_t j = 0; j <= i; j++)
        hops += (unsigned)n->order[j].n_path;
    return (struct okey){pre, n->order[i].n_path ? hops : 0, &n->order[i]};
}

/* The key's value: a column of that row, or for a count the number of its
 * related rows, (SELECT COUNT_BIG(*) FROM child AS [tN] WHERE [tN].[fk] =
 * that row's key): 0 when a relation on the path is missing, as Prisma's
 * COALESCE(count, 0). */
static void key_ref(struct poller_lsql *q, struct okey k)
{
    char pre = k.n || k.pre != 'j' ? k.pre : 't';
    const struct schema_relation *r = k.o->count;
    if (!r) {
        ref(q, pre, k.n, k.o->field->column);
        return;
    }
    unsigned c = ++q->alias;
    buf_puts(&q->sql, "(SELECT COUNT_BIG(*) FROM ");
    table_as(q, r->target, 't', c);
    buf_puts(&q->sql, " WHERE ");
    ref(q, 't', c, r->fk->column);
    buf_puts(&q->sql, " = ");
    ref(q, pre, k.n, r->model->pk->column);
    buf_putc(&q->sql, ')');
}

/* A key that repeats an earlier one changes nothing (and SQL Server refuses
 * a column twice in ORDER BY). */
static bool key_repeats(const struct cache_plan_node *n, size_t i)
{
    if (n->order[i].n_path || n->order[i].count)
        return false;
    for (size_t j = 0; j < i; j++)
        if (!n->order[j].n_path && n->order[j].field == n->order[i].field)
            return true;
    return false;
}

static bool pk_ordered(const struct cache_plan_node *n)
{
    for (size_t i = 0; i < n->n_order; i++)
        if (!n->order[i].n_path && n->order[i].field == n->model->pk)
            return true;
    return false;
}

/* LEFT JOINs for the keys' to-one paths: rows [<pre>1], [<pre>2], ... from
 * the row itself ([t0] for pre 'j', [c0] for pre 'c'). */
static void joins(struct poller_lsql *q, const struct cache_plan_node *n, char pre)
{
    char base = pre == 'j' ? 't' : pre;
    unsigned next = 1;
    for (size_t i = 0; i < n->n_order; i++) {
        const struct cache_order *k = &n->order[i];
        for (size_t h = 0; h < k->n_path; h++) {
            const struct schema_relation *r = k->path[h];
            unsigned to = next++;
            buf_puts(&q->sql, " LEFT JOIN ");
            table_as(q, r->target, pre, to);
            buf_puts(&q->sql, " ON ");
            ref(q, pre, to, r->target->pk->column);
            buf_puts(&q->sql, " = ");
            ref(q, h ? pre : base, h ? to - 1 : 0, r->fk->column);
        }
    }
}

static void order_by(struct poller_lsql *q, const struct cache_plan_node *n, bool reverse)
{
    buf_puts(&q->sql, " ORDER BY ");
    bool first = true;
    for (size_t i = 0; i < n->n_order; i++) {
        if (key_repeats(n, i))
            continue;
        if (!first)
            buf_puts(&q->sql, ", ");
        first = false;
        key_ref(q, key_at(n, i, 'j'));
        buf_puts(&q->sql, n->order[i].desc != reverse ? " DESC" : " ASC");
    }
    if (pk_ordered(n))
        return;
    if (!first)
        buf_puts(&q->sql, ", ");
    ref(q, 't', 0, n->model->pk->column);
    buf_puts(&q->sql, reverse ? " DESC" : " ASC");
}

/* Where Prisma pages in memory, the cursor row must itself match the
 * level's filters: EXISTS (the same row as [t<a>] AND where [AND the
 * collector's filter]), so a cursor row that does not match gives no rows. */
static void cursor_matches(struct poller_lsql *q, const struct cache_plan *p,
                           const struct cache_plan_node *n)
{
    unsigned a = ++q->alias;
    buf_puts(&q->sql, " AND EXISTS (SELECT 1 FROM ");
    table_as(q, n->model, 't', a);
    buf_puts(&q->sql, " WHERE ");
    ref(q, 't', a, n->model->pk->column);
    buf_puts(&q->sql, " = ");
    ref(q, 'c', 0, n->model->pk->column);
    if (p)
        fixed_where(q, p, a);
    if (n->where) {
        buf_puts(&q->sql, " AND (");
        where(q, n->model, n->where, a);
        buf_putc(&q->sql, ')');
    }
    buf_putc(&q->sql, ')');
}

/* CROSS JOIN (SELECT [c0].[pk] AS [k0], <key i's value> AS [k<i+1>]
 * [, [c0].[fk] AS [kp]] FROM T AS [c0] LEFT JOIN ... WHERE [c0].[cursor
 * field] = @p [AND it matches]) AS [cur]: no cursor row, no rows. In a
 * relation, [kp] is the cursor row's parent: only that parent's rows page
 * from it (cursor_cond). */
static void cursor_join(struct poller_lsql *q, const struct cache_plan *p,
                        const struct cache_plan_node *n)
{
    bool in_memory = cache_plan_cursor_in_memory(n);
    buf_puts(&q->sql, " CROSS JOIN (SELECT ");
    ref(q, 'c', 0, n->model->pk->column);
    buf_puts(&q->sql, " AS [k0]");
    for (size_t i = 0; i < n->n_order; i++) {
        buf_puts(&q->sql, ", ");
        key_ref(q, key_at(n, i, 'c'));
        buf_printf(&q->sql, " AS [k%zu]", i + 1);
    }
    if (n->via) {
        buf_puts(&q->sql, ", ");
        ref(q, 'c', 0, n->via->fk->column);
        buf_puts(&q->sql, " AS [kp]");
    }
    buf_puts(&q->sql, " FROM ");
    table_as(q, n->model, 'c', 0);
    joins(q, n, 'c');
    buf_puts(&q->sql, " WHERE ");
    ref(q, 'c', 0, n->cursor_field->column);
    buf_puts(&q->sql, " = ");
    value(q, n->cursor_field, &n->cursor);
    if (in_memory && ((p && p->n_where) || n->where))
        cursor_matches(q, p, n);
    buf_puts(&q->sql, ") AS [cur]");
}

/* Key i's value in the row, or in the cursor row (cur). */
static void key_value(struct poller_lsql *q, const struct cache_plan_node *n, size_t i, bool cur)
{
    if (cur)
        buf_printf(&q->sql, "[cur].[k%zu]", i + 1);
    else
        key_ref(q, key_at(n, i, 'j'));
}

/*
 * Prisma's cursor condition, key by key (x the row's value, c the cursor
 * row's; the comparison is the page's direction: > ascending, < descending,
 * swapped when a negative take reads backwards):
 *   a nullable field        x = c OR c IS NULL OR x IS NULL   (equal)
 *                           x > c OR x IS NULL OR c IS NULL   (after)
 *   a required field through a to-one path
 *                           x = c;   x > c OR <fk> IS NULL
 *     where <fk> is the path's last foreign key in the row that holds it
 *     (null too when a row before it is missing; a key naming no row is
 *     not null);
 *   anything else (never null: required fields, counts)   x = c;  x > c
 * Where that cannot be exact (cache_plan_cursor_in_memory) it is not "at or
 * after the cursor": the renderer then runs distinct over these rows and
 * starts the page at the cursor row (cursor_applied), as Prisma does in
 * memory and the cache does (page.c).
 */
static void key_nulls(struct poller_lsql *q, const struct cache_plan_node *n, size_t i, bool after)
{
    const struct cache_order *o = &n->order[i];
    if (o->field && o->field->optional) {
        buf_puts(&q->sql, " OR ");
        key_value(q, n, i, false);
        buf_puts(&q->sql, " IS NULL OR ");
        key_value(q, n, i, true);
        buf_puts(&q->sql, " IS NULL");
    } else if (o->field && o->n_path && after) {
        struct okey k = key_at(n, i, 'j');
        buf_puts(&q->sql, " OR ");
        ref(q, o->n_path > 1 ? 'j' : 't', o->n_path > 1 ? k.n - 1 : 0, o->path[o->n_path - 1]->fk->column);
        buf_puts(&q->sql, " IS NULL");
    }
}

static void key_after(struct poller_lsql *q, const struct cache_plan_node *n, size_t i, bool back)
{
    buf_puts(&q->sql, "(");
    key_value(q, n, i, false);
    buf_puts(&q->sql, n->order[i].desc != back ? " < " : " > ");
    key_value(q, n, i, true);
    key_nulls(q, n, i, true);
    buf_putc(&q->sql, ')');
}

static void key_equal(struct poller_lsql *q, const struct cache_plan_node *n, size_t i)
{
    buf_puts(&q->sql, "(");
    key_value(q, n, i, false);
    buf_puts(&q->sql, " = ");
    key_value(q, n, i, true);
    key_nulls(q, n, i, false);
    buf_putc(&q->sql, ')');
}

/* Prisma's cursor condition: for some key, the keys before it equal and
 * it after; or every key equal and the primary key at or after the
 * cursor's (at or before it when reading backwards). */
static void cursor_cond(struct poller_lsql *q, const struct cache_plan_node *n, bool back)
{
    buf_puts(&q->sql, " AND (");
    for (size_t i = 0; i < n->n_order; i++) {
        for (size_t j = 0; j < i; j++) {
            key_equal(q, n, j);
            buf_puts(&q->sql, " AND ");
        }
        key_after(q, n, i, back);
        buf_puts(&q->sql, " OR ");
    }
    for (size_t j = 0; j < n->n_order; j++) {
        key_equal(q, n, j);
        buf_puts(&q->sql, " AND ");
    }
    ref(q, 't', 0, n->model->pk->column);
    buf_puts(&q->sql, back ? " <= [cur].[k0])" : " >= [cur].[k0])");
    if (n->via) { /* the cursor row's parent's rows only */
        buf_puts(&q->sql, " AND ");
        ref(q, 't', 0, n->via->fk->column);
        buf_puts(&q->sql, " = [cur].[kp]");
    }
}

/* NUL-terminates the statement (not counted in its length). */
static int done(struct poller_lsql *q)
{
    buf_putc(&q->sql, '\0');
    q->sql.len--;
    return q->err;
}

/* ---- statements ------------------------------------------------------------------------ */

struct shape {
    bool keys_only;       /* SELECT [t0].[pk] (inside a count) */
    bool fixed;           /* the collector's filter (root) */
    const struct schema_relation *in_rel; /* rows of these parents (to-many) */
    const int64_t *in;
    size_t n_in;
    bool reverse;         /* read the order backwards (a negative take, paged here) */
    bool page;            /* OFFSET/FETCH */
    uint64_t skip;
    int64_t fetch;        /* -1: no FETCH */
};

static void in_keys(struct poller_lsql *q, const char *column, const int64_t *keys, size_t n)
{
    ref(q, 't', 0, column);
    buf_puts(&q->sql, " IN (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(&q->sql, ", ");
        param_int(q, keys[i]);
    }
    buf_putc(&q->sql, ')');
}

static void select_node(struct poller_lsql *q, const struct cache_plan *p, const struct cache_plan_node *n,
                       const struct shape *sh)
{
    buf_puts(&q->sql, "SELECT ");
    if (sh->keys_only)
        ref(q, 't', 0, n->model->pk->column);
    else
        columns(q, n->model);
    buf_puts(&q->sql, " FROM ");
    table_as(q, n->model, 't', 0);
    if (n->cursor_field)
        cursor_join(q, p, n);
    joins(q, n, 'j');
    buf_puts(&q->sql, " WHERE 1 = 1");
    if (sh->fixed)
        fixed_where(q, p, 0);
    if (sh->in_rel) {
        buf_puts(&q->sql, " AND ");
        in_keys(q, sh->in_rel->fk->column, sh->in, sh->n_in);
    }
    if (n->where) {
        buf_puts(&q->sql, " AND (");
        where(q, n->model, n->where, 0);
        buf_putc(&q->sql, ')');
    }
    if (n->cursor_field) /* a negative take pages back from the cursor, wherever it is paged */
        cursor_cond(q, n, n->has_take && n->take < 0);
    if (!sh->keys_only || sh->page) /* a derived table is ordered only to be paged */
        order_by(q, n, sh->reverse);
    if (sh->page) {
        buf_puts(&q->sql, " OFFSET ");
        param_int(q, (int64_t)sh->skip);
        buf_puts(&q->sql, " ROWS");
        if (sh->fetch >= 0) {
            buf_puts(&q->sql, " FETCH NEXT ");
            param_int(q, sh->fetch);
            buf_puts(&q->sql, " ROWS ONLY");
        }
    }
}

bool poller_lsql_root_paged(const struct cache_plan *p)
{
    const struct cache_plan_node *n = &p->root;
    return !n->n_distinct && !(n->cursor_field && cache_plan_cursor_in_memory(n)) && poller_lsql_fixed_exact(p);
}

int poller_lsql_root(struct poller_lsql *q, const struct cache_plan *p, bool count)
{
    const struct cache_plan_node *n = &p->root;
    reset(q);
    bool paged = poller_lsql_root_paged(p), back = n->has_take && n->take < 0;
    struct shape sh = {.fixed = true, .fetch = -1};
    if (paged) {
        sh.reverse = back;
        sh.skip = n->skip;
        if (n->has_take)
            sh.fetch = back ? -(n->take + 1) + 1 : n->take;
        else if (p->max_rows && p->max_rows <= INT64_MAX)
            sh.fetch = (int64_t)p->max_rows;
        sh.page = sh.skip || sh.fetch >= 0;
    }
    if (!count) {
        select_node(q, p, n, &sh);
        return done(q);
    }
    buf_puts(&q->sql, "SELECT COUNT_BIG(*) FROM (");
    sh.keys_only = true;
    select_node(q, p, n, &sh);
    buf_puts(&q->sql, ") AS [q]");
    return done(q);
}

int poller_lsql_children(struct poller_lsql *q, const struct cache_plan_node *n, const int64_t *parents,
                         size_t n_parents)
{
    reset(q);
    struct shape sh = {.in_rel = n->via, .in = parents, .n_in = n_parents, .fetch = -1};
    select_node(q, NULL, n, &sh);
    return done(q);
}

int poller_lsql_to_one(struct poller_lsql *q, const struct schema_model *m, const int64_t *keys, size_t n)
{
    reset(q);
    buf_puts(&q->sql, "SELECT ");
    columns(q, m);
    buf_puts(&q->sql, " FROM ");
    table_as(q, m, 't', 0);
    buf_puts(&q->sql, " WHERE ");
    in_keys(q, m->pk->column, keys, n);
    return done(q);
}

int poller_lsql_count(struct poller_lsql *q, const struct cache_count *c, const int64_t *parents,
                      size_t n_parents)
{
    const struct schema_model *m = c->rel->target;
    reset(q);
    buf_puts(&q->sql, "SELECT ");
    ref(q, 't', 0, c->rel->fk->column);
    buf_puts(&q->sql, ", COUNT_BIG(*) FROM ");
    table_as(q, m, 't', 0);
    buf_puts(&q->sql, " WHERE ");
    in_keys(q, c->rel->fk->column, parents, n_parents);
    if (c->where) {
        buf_puts(&q->sql, " AND (");
        where(q, m, c->where, 0);
        buf_putc(&q->sql, ')');
    }
    buf_puts(&q->sql, " GROUP BY ");
    ref(q, 't', 0, c->rel->fk->column);
    return done(q);
}
