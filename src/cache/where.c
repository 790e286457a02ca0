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

static int value_from_json(const struct schema_field *f, json_t *j, const char *text,
                           struct cache_value *v)
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
    int rc = j ? value_from_json(f, j, json_value, &v) : -EINVAL;
    if (rc == 0 && f->type == SCHEMA_BYTES) {
        json_put_str(out, (const char *)v.s.p, v.s.len); /* base64 text compares as given */
    } else if (rc == 0) {
        rc = cache_value_render(f, &v, out, err, errlen);
    }
    if (rc < 0)
        snprintf(err, errlen, "where: %s is not a valid %s value for field %s", json_value,
                 schema_type_name(f->type), f->name);
    json_decref(j);
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
    int rc = value_from_json(f, (json_t *)j, text, &v);
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
    buf_fini(&b);
    return rc;
}

static const char *type_expect(const struct schema_field *f)
{
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_BIGINT: return "an integer";
    case SCHEMA_FLOAT: return "a number";
    case SCHEMA_DECIMAL: return "a number or a decimal string";
    case SCHEMA_DATETIME: return "an ISO-8601 date-time string";
    case SCHEMA_BOOLEAN: return "true or false";
    default: return "a string";
    }
}

/* op "=" is the shorthand {field: value}: messages call it `equals`, and a
 * null on a required field names the field, as Prisma does. */
static int value_get(struct wparse *w, const struct schema_field *f, const json_t *j, const char *op,
                     bool null_ok, struct cache_fvalue *out)
{
    bool shorthand = strcmp(op, "=") == 0;
    const char *name = shorthand ? "equals" : op;
    if (json_is_null(j) && !null_ok)
        return wfail(w, "Invalid value for `%s` on field %s: null is not allowed here", name, f->name);
    if (json_is_null(j) && !f->optional)
        return wfail(w, "Argument `%s` %s", shorthand ? f->name : op,
                     w->in_list ? "is missing." : "must not be null.");
    if (cache_fvalue_make(w->arena, f, j, out) < 0) {
        char *t = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        int rc = wfail(w, "Invalid value %s for `%s` on field %s: expected %s", t ? t : "?", name,
                       f->name, type_expect(f));
        free(t);
        return rc;
    }
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
    if (!json_is_array(v)) { /* Prisma takes a single value as a one-element list */
        struct cache_fvalue *one = walloc(w, 1, sizeof *one);
        out->vals = one;
        out->n_vals = 1;
        return value_get(w, f, v, name, false, one);
    }
    struct cache_fvalue *vals = walloc(w, json_array_size(v), sizeof *vals);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        int rc = value_get(w, f, e, name, false, &vals[i]);
        if (rc < 0)
            return rc;
    }
    out->vals = vals;
    out->n_vals = json_array_size(v);
    return 0;
}

static int scalar_op(struct wparse *w, const struct schema_field *f, const char *name, const json_t *v,
                     struct cache_filter *out)
{
    size_t k = 0;
    while (k < sizeof scalar_ops / sizeof *scalar_ops && strcmp(scalar_ops[k].name, name) != 0)
        k++;
    if (k == sizeof scalar_ops / sizeof *scalar_ops)
        return wfail(w, "Unknown filter `%s` on field %s: use equals, not, in, notIn, lt, lte, gt, "
                        "gte, contains, startsWith, endsWith or mode", name, f->name);
    enum cache_filter_op op = scalar_ops[k].op;
    *out = (struct cache_filter){.op = op, .field = f};
    if (op >= CACHE_F_CONTAINS && f->type != SCHEMA_STRING)
        return wfail(w, "Filter `%s` needs a String field; %s is %s", name, f->name,
                     schema_type_name(f->type));
    if (op >= CACHE_F_LT && op <= CACHE_F_GTE && f->type == SCHEMA_BOOLEAN)
        return wfail(w, "Filter `%s` does not apply to Boolean field %s", name, f->name);
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
    return value_get(w, f, v, name, op == CACHE_F_EQ || op == CACHE_F_NE, one);
}

/* {equals, not, ...}: the ANDed conditions; a bare value is `equals`. */
static int scalar_filter(struct wparse *w, const struct schema_field *f, const json_t *val,
                         struct cache_filter *out)
{
    if (!json_is_object(val)) {
        struct cache_fvalue *one = walloc(w, 1, sizeof *one);
        *out = (struct cache_filter){.op = CACHE_F_EQ, .field = f, .vals = one, .n_vals = 1};
        return value_get(w, f, val, "=", true, one);
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
            if (f->type != SCHEMA_STRING)
                return wfail(w, "`mode` applies to String fields only; %s is %s", f->name,
                             schema_type_name(f->type));
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
    if (!json_is_object(v) && !json_is_array(v))
        return wfail(w, "Invalid value for `%s` in where on model %s: expected an object or an "
                        "array of objects", key, m->name);
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    struct cache_filter *sub = walloc(w, n, sizeof *sub);
    bool not = strcmp(key, "NOT") == 0;
    w->in_list += json_is_array(v);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_object(e))
            return wfail(w, "Invalid value in `%s` on model %s: expected an object", key, m->name);
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
    *out = (struct cache_filter){.op = strcmp(key, "OR") == 0 ? CACHE_F_OR : CACHE_F_AND, .sub = sub,
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
    static const char *names[] = {"some", "every", "none"};
    if (!json_is_object(val))
        return wfail(w, "Invalid filter on relation %s of model %s: expected an object with some, "
                        "every or none", r->name, r->model->name);
    struct cache_filter *sub = walloc(w, json_object_size(val), sizeof *sub);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)val, k, v) {
        size_t i = 0;
        while (i < 3 && strcmp(names[i], k) != 0)
            i++;
        if (i == 3)
            return wfail(w, "Unknown filter `%s` on relation %s of model %s: use some, every or "
                            "none", k, r->name, r->model->name);
        if (!json_is_object(v))
            return wfail(w, "Invalid value for `%s` on relation %s: expected an object", k, r->name);
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
        return wfail(w, "Invalid value for relation %s of model %s: expected an object or null",
                     r->name, r->model->name);
    int rc = relation_where(w, r, v, out);
    out->op = op;
    return rc;
}

/* {is: x, isNot: y}, or a bare where (Prisma's shorthand for is), or null. */
static int to_one_filter(struct wparse *w, const struct schema_relation *r, const json_t *val,
                         struct cache_filter *out)
{
    const json_t *is = json_is_object(val) ? json_object_get(val, "is") : NULL;
    const json_t *is_not = json_is_object(val) ? json_object_get(val, "isNot") : NULL;
    if (!is && !is_not)
        return to_one_cond(w, r, CACHE_F_IS, val, out);
    if (json_object_size(val) != (size_t)(!!is + !!is_not))
        return wfail(w, "Invalid filter on relation %s of model %s: `is`/`isNot` cannot be mixed "
                        "with field conditions", r->name, r->model->name);
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
    if (!r)
        return wfail(w, "Unknown field \"%s\" in where on model %s", k, m->name);
    return r->to_many ? to_many_filter(w, r, v, out) : to_one_filter(w, r, v, out);
}

static int where_object(struct wparse *w, const struct schema_model *m, const json_t *obj,
                        struct cache_filter *out)
{
    if (!json_is_object(obj))
        return wfail(w, "Invalid where on model %s: expected an object", m->name);
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

int cache_where_parse(void **arena, const struct schema_model *m, const json_t *where,
                      const struct cache_filter **out, char *err, size_t errlen)
{
    struct wparse w = {arena, err, errlen, 0};
    struct cache_filter *f = walloc(&w, 1, sizeof *f);
    int rc = where_object(&w, m, where, f);
    *out = rc == 0 ? f : NULL;
    return rc;
}
