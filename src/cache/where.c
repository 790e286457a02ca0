/*
 * Filter values and the `where` option. Each value is rendered once, at
 * plan time, exactly as the row encoder renders that field ("12.50" for a
 * Decimal becomes "\"12.5\"", a date-only DateTime becomes its ISO form),
 * so a row is matched against values in the stored form: the collector's
 * fixed filter by bytes, a request's `where` by typed comparison (match.c).
 *
 * The `where` grammar is Prisma's: {field: value | {equals, not, in, notIn,
 * lt, lte, gt, gte, contains, startsWith, endsWith, mode}}, AND/OR/NOT
 * (object or array), to-many relations {some|every|none: where}, to-one
 * relations {is|isNot: where|null}, a bare where, or null.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "civil.h"
#include "json.h"

static bool num(const char **p, int digits, unsigned *out)
{
    *out = 0;
    for (int i = 0; i < digits; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *out = *out * 10 + (unsigned)(**p - '0');
    }
    return true;
}

/* HH:MM:SS[.fff...] then Z or +HH:MM / -HH:MM; adds the time to *ms. */
static bool iso_time(const char *p, int64_t *ms)
{
    unsigned h, mi, s, frac = 0, oh, om;
    if (!num(&p, 2, &h) || *p++ != ':' || !num(&p, 2, &mi) || *p++ != ':' || !num(&p, 2, &s))
        return false;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac = frac * 10 + (unsigned)(*p - '0');
        for (; n < 3; n++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        if (!num(&p, 2, &oh) || *p++ != ':' || !num(&p, 2, &om))
            return false;
        off = sign * ((int64_t)oh * 60 + om) * 60000;
    } else if (*p++ != 'Z') {
        return false;
    }
    if (*p || h > 23 || mi > 59 || s > 59)
        return false;
    *ms += ((int64_t)h * 3600 + mi * 60 + s) * 1000 + frac - off;
    return true;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)" to epoch ms (UTC). */
static bool iso_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    unsigned y, mo, d;
    if (!num(&p, 4, &y) || *p++ != '-' || !num(&p, 2, &mo) || *p++ != '-' || !num(&p, 2, &d))
        return false;
    if (!civil_valid(y, mo, d)) /* 2024-02-30 is no date, not 2024-03-01 */
        return false;
    *ms = civil_to_days(y, mo, d) * 86400000;
    if (!*p)
        return true;
    return *p == 'T' && iso_time(p + 1, ms);
}

/* A value compared with a datetime column (@db.DateTime) is converted to
 * datetime first, as SQL Server converts the string tedious sends for it:
 * rounded to 1/300 s (.765 is .767), then held in whole ms as rows are
 * (tick 230 is .767). A value as returned is its own rounding. */
static int64_t datetime_round(int64_t ms)
{
    int64_t day = ms / 86400000 - (ms % 86400000 < 0), in = ms - day * 86400000;
    int64_t tick = (in * 3 + 5) / 10;
    return day * 86400000 + (tick * 10 + 1) / 3;
}

/* The scale of a Decimal field: @db.Decimal(p,s), else Prisma's
 * decimal(32,16) on SQL Server. */
static unsigned decimal_scale(const struct schema_field *f)
{
    const char *comma = f->db_type ? strchr(f->db_type, ',') : NULL;
    return comma ? (unsigned)strtoul(comma + 1, NULL, 10) : 16;
}

/* A value of f from its JSON (text: a number's own text); scratch holds a
 * Decimal's text rounded to the field's scale, as SQL Server converts the
 * string tedious sends for it to the column's decimal(p,s) (868.434 is
 * 868.43 in a decimal(18,2)). */
static int value_from_json(const struct schema_field *f, json_t *j, const char *text,
                           struct buf *scratch, struct cache_value *v)
{
    if (json_is_null(j)) {
        v->kind = CV_NULL;
        return 0;
    }
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_BIGINT:
        if (!json_is_integer(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_INT, .i = json_integer_value(j)};
        return 0;
    case SCHEMA_BOOLEAN:
        if (!json_is_boolean(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_BOOL, .b = json_is_true(j)};
        return 0;
    case SCHEMA_FLOAT:
        if (!json_is_number(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_FLOAT, .f = json_number_value(j)};
        return 0;
    case SCHEMA_DECIMAL:
        /* the number's own text: jansson would round it through a double */
        if (json_is_string(j))
            text = json_string_value(j);
        else if (!json_is_number(j))
            return -EINVAL;
        buf_reset(scratch);
        if (cache_decimal_round(text, strlen(text), decimal_scale(f), scratch) == 0)
            text = (const char *)buf_data(scratch);
        *v = (struct cache_value){.kind = CV_DECIMAL, .s = slice_str(text)};
        return 0;
    case SCHEMA_DATETIME:
        *v = (struct cache_value){.kind = CV_DATETIME};
        if (!json_is_string(j) || !iso_parse(json_string_value(j), &v->ms))
            return -EINVAL;
        if (f->db_type && strcasecmp(f->db_type, "DateTime") == 0)
            v->ms = datetime_round(v->ms);
        return 0;
    case SCHEMA_STRING:
        if (!json_is_string(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_TEXT,
                                  .s = {(const uint8_t *)json_string_value(j), json_string_length(j)}};
        return 0;
    case SCHEMA_BYTES:
        if (!json_is_string(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_TEXT,
                                  .s = {(const uint8_t *)json_string_value(j), json_string_length(j)}};
        return 0;
    }
    return -EINVAL;
}

int cache_where_canonical(const struct schema_field *f, const char *json_value, struct buf *out,
                          char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *j = json_loads(json_value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    struct cache_value v;
    struct buf scratch;
    buf_init(&scratch, 0);
    int rc = j ? value_from_json(f, j, json_value, &scratch, &v) : -EINVAL;
    if (rc == 0 && f->type == SCHEMA_BYTES) {
        json_put_str(out, (const char *)v.s.p, v.s.len); /* base64 text compares as given */
    } else if (rc == 0) {
        rc = cache_value_render(f, &v, out, err, errlen);
    }
    if (rc < 0)
        snprintf(err, errlen, "where: %s is not a valid %s value for field %s", json_value,
                 schema_type_name(f->type), f->name);
    json_decref(j);
    buf_fini(&scratch);
    return rc;
}

/* ---- the `where` option ------------------------------------------------------- */

#define WHERE_DEPTH_MAX 16 /* nesting of AND/OR/NOT and relation filters */

struct wparse {
    void **arena;
    char *err;
    size_t errlen;
    unsigned depth;
    unsigned in_list; /* inside an AND/OR/NOT array: Prisma words a null differently there */
};

static int wfail(struct wparse *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int wfail(struct wparse *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, w->errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static void *walloc(struct wparse *w, size_t n, size_t size)
{
    return cache_arena_alloc(w->arena, (n ? n : 1) * size);
}

static struct slice arena_copy(void **arena, const void *p, size_t n)
{
    uint8_t *c = cache_arena_alloc(arena, n + 1);
    if (n)
        memcpy(c, p, n);
    return (struct slice){c, n};
}

int cache_fvalue_make(void **arena, const struct schema_field *f, const json_t *j, struct cache_fvalue *out)
{
    memset(out, 0, sizeof *out);
    struct buf b;
    buf_init(&b, 0);
    char num[40];
    const char *text = NULL;
    if (f->type == SCHEMA_DECIMAL && json_is_number(j)) { /* as JavaScript printed the number */
        json_put_double(&b, json_number_value(j));
        size_t n = b.len < sizeof num - 1 ? b.len : sizeof num - 1;
        memcpy(num, buf_data(&b), n);
        num[n] = '\0';
        text = num;
        buf_reset(&b);
    }
    struct cache_value v;
    char err[8];
    struct buf scratch;
    buf_init(&scratch, 0);
    int rc = value_from_json(f, (json_t *)j, text, &scratch, &v);
    if (rc == 0 && f->type == SCHEMA_BYTES && v.kind != CV_NULL)
        json_put_str(&b, (const char *)v.s.p, v.s.len);
    else if (rc == 0)
        rc = cache_value_render(f, &v, &b, err, sizeof err);
    if (rc == 0) {
        out->json = arena_copy(arena, buf_data(&b), b.len);
        if (v.kind == CV_TEXT)
            out->text = arena_copy(arena, v.s.p, v.s.len);
        if (v.kind == CV_INT)
            out->i = v.i;
        if (v.kind == CV_FLOAT)
            out->f = v.f;
    }
    buf_fini(&scratch);
    buf_fini(&b);
    return rc;
}

/* Prisma's "Expected ..." for a value of field f given to op: "=" is the
 * shorthand {field: value}, `elem` an element of an in/notIn list. */
static void expected(const struct schema_field *f, const char *op, bool elem, char *out, size_t n)
{
    const char *t = cache_prisma_type(f->type);
    const char *ft = f->type == SCHEMA_BOOLEAN ? "Bool" : t; /* BoolFilter, NestedBoolFilter */
    bool opt = f->optional;
    if (strcmp(op, "=") == 0)
        snprintf(out, n, opt ? "%sNullableFilter, %s or Null" : "%sFilter or %s", ft, t);
    else if (elem)
        snprintf(out, n, "%s", t);
    else if (strcmp(op, "not") == 0)
        snprintf(out, n, opt ? "%s, Nested%sNullableFilter or Null" : "%s or Nested%sFilter", t, ft);
    else if (strcmp(op, "in") == 0 || strcmp(op, "notIn") == 0)
        snprintf(out, n, opt ? "%s[] or Null" : "%s[]", t);
    else if (strcmp(op, "equals") == 0 && opt)
        snprintf(out, n, "%s, %sFieldRefInput or Null", t, t);
    else
        snprintf(out, n, "%s or %sFieldRefInput", t, t);
}

/* A value cwcache cannot take: Prisma's sentence where Prisma refuses it too
 * (a JSON type the field does not take, a DateTime string RFC 3339 does not
 * parse), otherwise ours. */
static int value_fail(struct wparse *w, const struct schema_field *f, const json_t *j, const char *op,
                      bool elem)
{
    const char *arg = strcmp(op, "=") == 0 ? f->name : op;
    char want[160];
    if (!cache_prisma_accepts(f->type, j)) {
        expected(f, op, elem, want, sizeof want);
        return wfail(w, "Argument `%s`: Invalid value provided. Expected %s, provided %s.", arg, want,
                     cache_prisma_kind(j));
    }
    const char *why = f->type == SCHEMA_DATETIME ? cache_prisma_datetime_error(json_string_value(j)) : NULL;
    if (why)
        return wfail(w, "Invalid value for argument `%s`: %s. Expected ISO-8601 DateTime.", arg, why);
    char *t = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    int rc = wfail(w, "Invalid value %s for `%s` on field %s: not a valid %s", t ? t : "?", arg, f->name,
                   cache_prisma_type(f->type));
    free(t);
    return rc;
}

/* op "=" is the shorthand {field: value}: a null on a required field names
 * the field, as Prisma does; `elem`: an element of an in/notIn list. */
static int value_get(struct wparse *w, const struct schema_field *f, const json_t *j, const char *op,
                     bool null_ok, bool elem, struct cache_fvalue *out)
{
    bool shorthand = strcmp(op, "=") == 0;
    if (json_is_null(j) && elem && f->optional)
        return wfail(w, "Argument `%s`: Invalid value provided. Expected Null, provided (Null).", op);
    if (json_is_null(j) && (elem || (w->in_list && !f->optional && null_ok)))
        return wfail(w, "Argument `%s` is missing.", shorthand ? f->name : op);
    if (json_is_null(j) && (!null_ok || !f->optional))
        return wfail(w, "Argument `%s` must not be null.", shorthand ? f->name : op);
    if (cache_fvalue_make(w->arena, f, j, out) < 0)
        return value_fail(w, f, j, op, elem);
    return 0;
}

static const struct {
    const char *name;
    enum cache_filter_op op;
} scalar_ops[] = {
    {"equals", CACHE_F_EQ}, {"not", CACHE_F_NE}, {"in", CACHE_F_IN}, {"notIn", CACHE_F_NOTIN},
    {"lt", CACHE_F_LT}, {"lte", CACHE_F_LTE}, {"gt", CACHE_F_GT}, {"gte", CACHE_F_GTE},
    {"contains", CACHE_F_CONTAINS}, {"startsWith", CACHE_F_STARTS}, {"endsWith", CACHE_F_ENDS},
};

static int scalar_filter(struct wparse *w, const struct schema_field *f, const json_t *val,
                         struct cache_filter *out);

static int list_op(struct wparse *w, const struct schema_field *f, const char *name, const json_t *v,
                   struct cache_filter *out)
{
    if (json_is_null(v))
        return wfail(w, "Argument `%s` must not be null.", name);
    if (!json_is_array(v)) { /* Prisma 7 takes a list only */
        char want[160];
        expected(f, name, false, want, sizeof want);
        return wfail(w, "Argument `%s`: Invalid value provided. Expected %s, provided %s.", name, want,
                     cache_prisma_kind(v));
    }
    struct cache_fvalue *vals = walloc(w, json_array_size(v), sizeof *vals);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        int rc = value_get(w, f, e, name, false, true, &vals[i]);
        if (rc < 0)
            return rc;
    }
    out->vals = vals;
    out->n_vals = json_array_size(v);
    return 0;
}

/* Prisma's filter arguments for a field of type t, in its order (the "Did you
 * mean" candidates). */
static const char *const *filter_names(enum schema_type t)
{
    static const char *const str[] = {"equals", "in", "notIn", "lt", "lte", "gt", "gte", "contains",
                                      "startsWith", "endsWith", "not", NULL};
    static const char *const boolean[] = {"equals", "not", NULL};
    static const char *const other[] = {"equals", "in", "notIn", "lt", "lte", "gt", "gte", "not", NULL};
    return t == SCHEMA_STRING ? str : t == SCHEMA_BOOLEAN ? boolean : other;
}

/* An argument Prisma does not take here: its "Unknown argument" sentence. */
static int unknown_arg(struct wparse *w, const char *name, const char *const *cands,
                       const struct schema_model *fields_of)
{
    struct cache_suggest sg = CACHE_SUGGEST(name);
    if (cands)
        cache_suggest_list(&sg, cands);
    if (fields_of)
        cache_suggest_fields(&sg, fields_of);
    cache_prisma_unknown_arg(w->err, w->errlen, &sg);
    return -EINVAL;
}

static int scalar_op(struct wparse *w, const struct schema_field *f, const char *name, const json_t *v,
                     struct cache_filter *out)
{
    size_t k = 0;
    while (k < sizeof scalar_ops / sizeof *scalar_ops && strcmp(scalar_ops[k].name, name) != 0)
        k++;
    bool known = k < sizeof scalar_ops / sizeof *scalar_ops;
    if (!known || (scalar_ops[k].op >= CACHE_F_CONTAINS && f->type != SCHEMA_STRING) ||
        (scalar_ops[k].op >= CACHE_F_LT && scalar_ops[k].op <= CACHE_F_GTE && f->type == SCHEMA_BOOLEAN))
        return unknown_arg(w, name, filter_names(f->type), NULL);
    enum cache_filter_op op = scalar_ops[k].op;
    *out = (struct cache_filter){.op = op, .field = f};
    if (op == CACHE_F_NE && json_is_object(v)) { /* not: {nested filter} */
        struct cache_filter *sub = walloc(w, 1, sizeof *sub);
        *out = (struct cache_filter){.op = CACHE_F_NOT, .sub = sub, .n_sub = 1};
        return scalar_filter(w, f, v, sub);
    }
    if (op == CACHE_F_IN || op == CACHE_F_NOTIN)
        return list_op(w, f, name, v, out);
    struct cache_fvalue *one = walloc(w, 1, sizeof *one);
    out->vals = one;
    out->n_vals = 1;
    return value_get(w, f, v, name, op == CACHE_F_EQ || op == CACHE_F_NE, false, one);
}

/* {equals, not, ...}: the ANDed conditions; a bare value is `equals`. */
static int scalar_filter(struct wparse *w, const struct schema_field *f, const json_t *val,
                         struct cache_filter *out)
{
    if (!json_is_object(val)) {
        struct cache_fvalue *one = walloc(w, 1, sizeof *one);
        *out = (struct cache_filter){.op = CACHE_F_EQ, .field = f, .vals = one, .n_vals = 1};
        return value_get(w, f, val, "=", true, false, one);
    }
    struct cache_filter *sub = walloc(w, json_object_size(val), sizeof *sub);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)val, k, v) {
        if (strcmp(k, "mode") == 0) { /* the collation is case-insensitive already */
            if (!json_is_string(v) || (strcmp(json_string_value(v), "insensitive") != 0 &&
                                       strcmp(json_string_value(v), "default") != 0))
                return wfail(w, "Invalid value for `mode` on field %s: expected \"default\" or "
                                "\"insensitive\"", f->name);
            if (f->type != SCHEMA_STRING) /* Prisma takes mode on no SQL Server field */
                return unknown_arg(w, k, filter_names(f->type), NULL);
            continue;
        }
        int rc = scalar_op(w, f, k, v, &sub[n++]);
        if (rc < 0)
            return rc;
    }
    *out = (struct cache_filter){.op = CACHE_F_AND, .sub = sub, .n_sub = n};
    return 0;
}

static int where_object(struct wparse *w, const struct schema_model *m, const json_t *obj,
                        struct cache_filter *out);

/* AND/OR/NOT take an object or an array of objects. NOT [a, b] is NOT a AND NOT b. */
static int junction(struct wparse *w, const struct schema_model *m, const char *key, const json_t *v,
                    struct cache_filter *out)
{
    bool or = strcmp(key, "OR") == 0; /* Prisma: OR takes a list only */
    if (or && !json_is_array(v))
        return wfail(w, "Argument `OR`: Invalid value provided. Expected %sWhereInput[], provided %s.",
                     m->name, cache_prisma_kind(v));
    if (!json_is_object(v) && !json_is_array(v))
        return wfail(w, "Argument `%s`: Invalid value provided. Expected %sWhereInput or %sWhereInput[], "
                        "provided %s.", key, m->name, m->name, cache_prisma_kind(v));
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    struct cache_filter *sub = walloc(w, n, sizeof *sub);
    bool not = strcmp(key, "NOT") == 0;
    w->in_list += json_is_array(v);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_object(e))
            return wfail(w, "Argument `%s`: Invalid value provided. Expected %sWhereInput, provided %s.",
                         key, m->name, cache_prisma_kind(e));
        struct cache_filter *t = &sub[i];
        if (not) {
            struct cache_filter *inner = walloc(w, 1, sizeof *inner);
            *t = (struct cache_filter){.op = CACHE_F_NOT, .sub = inner, .n_sub = 1};
            t = inner;
        }
        int rc = where_object(w, m, e, t);
        if (rc < 0)
            return rc;
    }
    w->in_list -= json_is_array(v);
    *out = (struct cache_filter){.op = or ? CACHE_F_OR : CACHE_F_AND, .sub = sub,
                                 .n_sub = n};
    return 0;
}

static int relation_where(struct wparse *w, const struct schema_relation *r, const json_t *v,
                          struct cache_filter *out)
{
    struct cache_filter *sub = walloc(w, 1, sizeof *sub);
    *out = (struct cache_filter){.rel = r, .sub = sub, .n_sub = 1};
    return where_object(w, r->target, v, sub);
}

static int to_many_filter(struct wparse *w, const struct schema_relation *r, const json_t *val,
                          struct cache_filter *out)
{
    static const char *const names[] = {"some", "every", "none", NULL};
    static const char *const prisma_order[] = {"every", "some", "none", NULL};
    if (!json_is_object(val))
        return wfail(w, "Argument `%s`: Invalid value provided. Expected %sListRelationFilter, "
                        "provided %s.", r->name, r->target->name, cache_prisma_kind(val));
    struct cache_filter *sub = walloc(w, json_object_size(val), sizeof *sub);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)val, k, v) {
        size_t i = 0;
        while (i < 3 && strcmp(names[i], k) != 0)
            i++;
        if (i == 3)
            return unknown_arg(w, k, prisma_order, NULL);
        if (!json_is_object(v))
            return wfail(w, "Argument `%s`: Invalid value provided. Expected %sWhereInput, provided %s.",
                         k, r->target->name, cache_prisma_kind(v));
        int rc = relation_where(w, r, v, &sub[n]);
        sub[n++].op = (enum cache_filter_op)(CACHE_F_SOME + i);
        if (rc < 0)
            return rc;
    }
    *out = (struct cache_filter){.op = CACHE_F_AND, .sub = sub, .n_sub = n};
    return 0;
}

static int to_one_cond(struct wparse *w, const struct schema_relation *r, enum cache_filter_op op,
                       const json_t *v, struct cache_filter *out)
{
    if (json_is_null(v)) {
        *out = (struct cache_filter){.op = op, .rel = r};
        return 0;
    }
    if (!json_is_object(v))
        return wfail(w, "Argument `%s`: Invalid value provided. Expected %sWhereInput or Null, "
                        "provided %s.", op == CACHE_F_IS ? "is" : "isNot", r->target->name,
                     cache_prisma_kind(v));
    int rc = relation_where(w, r, v, out);
    out->op = op;
    return rc;
}

/* The first key of obj that is no where key of m (field, relation, AND/OR/NOT), or NULL. */
static const char *foreign_key(const struct schema_model *m, const json_t *obj)
{
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, k, klen, v) {
        bool junction = strcmp(k, "AND") == 0 || strcmp(k, "OR") == 0 || strcmp(k, "NOT") == 0;
        if (!junction && !schema_field_find(m, k, klen) && !schema_relation_find(m, k, klen))
            return k;
    }
    return NULL;
}

/* {is: x, isNot: y}, or a bare where (Prisma's shorthand for is), or null.
 * A bare {} is no condition at all in Prisma (not "is: {}"). */
static int to_one_filter(struct wparse *w, const struct schema_relation *r, const json_t *val,
                         struct cache_filter *out)
{
    static const char *const names[] = {"is", "isNot", NULL};
    if (!json_is_object(val) && !json_is_null(val)) {
        bool opt = r->fk && r->fk->optional;
        return wfail(w, "Argument `%s`: Invalid value provided. Expected %s%sScalarRelationFilter%s"
                        "%sWhereInput%s, provided %s.", r->name, r->target->name,
                     opt ? "Nullable" : "", opt ? ", " : " or ", r->target->name, opt ? " or Null" : "",
                     cache_prisma_kind(val));
    }
    if (json_is_object(val) && json_object_size(val) == 0) {
        *out = (struct cache_filter){.op = CACHE_F_AND};
        return 0;
    }
    const json_t *is = json_is_object(val) ? json_object_get(val, "is") : NULL;
    const json_t *is_not = json_is_object(val) ? json_object_get(val, "isNot") : NULL;
    if (!is && !is_not) { /* a bare where: Prisma names a key of neither form as is/isNot's */
        const char *bad = json_is_object(val) ? foreign_key(r->target, val) : NULL;
        return bad ? unknown_arg(w, bad, names, NULL) : to_one_cond(w, r, CACHE_F_IS, val, out);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)val, k, v) {
        if (strcmp(k, "is") != 0 && strcmp(k, "isNot") != 0)
            return unknown_arg(w, k, names, NULL);
    }
    struct cache_filter *sub = walloc(w, 2, sizeof *sub);
    size_t n = 0;
    int rc = 0;
    if (is)
        rc = to_one_cond(w, r, CACHE_F_IS, is, &sub[n++]);
    if (rc == 0 && is_not)
        rc = to_one_cond(w, r, CACHE_F_ISNOT, is_not, &sub[n++]);
    *out = (struct cache_filter){.op = CACHE_F_AND, .sub = sub, .n_sub = n};
    return rc;
}

static int where_entry(struct wparse *w, const struct schema_model *m, const char *k, size_t klen,
                       const json_t *v, struct cache_filter *out)
{
    if (strcmp(k, "AND") == 0 || strcmp(k, "OR") == 0 || strcmp(k, "NOT") == 0)
        return junction(w, m, k, v, out);
    const struct schema_field *f = schema_field_find(m, k, klen);
    if (f)
        return scalar_filter(w, f, v, out);
    const struct schema_relation *r = schema_relation_find(m, k, klen);
    if (!r) {
        static const char *const junctions[] = {"AND", "OR", "NOT", NULL};
        return unknown_arg(w, k, junctions, m);
    }
    return r->to_many ? to_many_filter(w, r, v, out) : to_one_filter(w, r, v, out);
}

static int where_object(struct wparse *w, const struct schema_model *m, const json_t *obj,
                        struct cache_filter *out)
{
    if (!json_is_object(obj)) /* the level's where: elements and relation filters check their own */
        return wfail(w, "Argument `where`: Invalid value provided. Expected %sWhereInput, provided %s.",
                     m->name, cache_prisma_kind(obj));
    if (++w->depth > WHERE_DEPTH_MAX)
        return wfail(w, "The where on model %s is nested too deep (more than %d levels)", m->name,
                     WHERE_DEPTH_MAX);
    struct cache_filter *sub = walloc(w, json_object_size(obj), sizeof *sub);
    size_t n = 0;
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, k, klen, v) {
        int rc = where_entry(w, m, k, klen, v, &sub[n++]);
        if (rc < 0)
            return rc;
    }
    w->depth--;
    *out = (struct cache_filter){.op = CACHE_F_AND, .sub = sub, .n_sub = n};
    return 0;
}

/*
 * Prisma leaves empty conditions out ({}, an AND or NOT of nothing, {f: {}},
 * a bare {rel: {}}) rather than reading them as true: in an AND or at the
 * top that is the same, but an OR drops them (OR [a, {}] is a, OR [{}] is
 * false: 1=0) and NOT of one is none again (NOT {} keeps every row).
 * Inside some/every/none/is/isNot an empty condition is true (1=1).
 * Rewrites the tree in place; true when f itself is empty.
 */
static bool simplify(struct cache_filter *f)
{
    struct cache_filter *sub = (struct cache_filter *)f->sub;
    switch (f->op) {
    case CACHE_F_AND:
    case CACHE_F_OR: {
        size_t n = 0;
        for (size_t i = 0; i < f->n_sub; i++)
            if (!simplify(&sub[i]))
                sub[n++] = sub[i];
        f->n_sub = n;
        return f->op == CACHE_F_AND && n == 0;
    }
    case CACHE_F_NOT:
        if (!simplify(&sub[0]))
            return false;
        *f = (struct cache_filter){.op = CACHE_F_AND};
        return true;
    default:
        if (f->rel && f->n_sub)
            simplify(&sub[0]);
        return false;
    }
}

int cache_where_parse(void **arena, const struct schema_model *m, const json_t *where,
                      const struct cache_filter **out, char *err, size_t errlen)
{
    struct wparse w = {arena, err, errlen, 0};
    struct cache_filter *f = walloc(&w, 1, sizeof *f);
    int rc = where_object(&w, m, where, f);
    if (rc == 0)
        simplify(f);
    *out = rc == 0 ? f : NULL;
    return rc;
}
