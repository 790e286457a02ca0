/*
 * orderBy: parsing Prisma's forms into keys, and comparing two rows by
 * them. {"name":"desc"}, [{"a":"asc"},{"b":"desc"}], {"sort":"asc"} as the
 * direction, to-one relation paths ({"company":{"name":"asc"}}) and the
 * number of a to-many relation's rows ({"contacts":{"_count":"desc"}},
 * at the end of a path too). Nulls sort first ascending and last
 * descending, as on SQL Server; the primary key ascending ends every
 * order, so pages are stable.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#define ORDER_PATH_MAX 4 /* to-one hops in one key */

struct oparse {
    void **arena;
    char *err;
    size_t errlen;
    struct cache_order *keys;
    size_t n, cap;
};

static int ofail(struct oparse *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ofail(struct oparse *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, o->errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Prisma's sentences: a required field takes a SortOrder string, a nullable
 * one also {sort: SortOrder} (SortOrderInput). */
static int direction(struct oparse *o, const struct schema_field *f, const json_t *v, bool *desc)
{
    const char *arg = f->name;
    if (json_is_object(v) && f->optional) { /* {sort: "asc"} */
        const json_t *s = json_object_get(v, "sort");
        if (!s)
            return ofail(o, "Argument `sort` is missing.");
        if (json_object_size(v) != 1)
            return ofail(o, "Invalid orderBy for field %s: only {\"sort\": \"asc\"|\"desc\"} is "
                            "supported (not nulls)", f->name);
        v = s;
        arg = "sort";
    }
    if (!json_is_string(v))
        return ofail(o, "Argument `%s`: Invalid value provided. Expected SortOrder%s, provided %s.", arg,
                     f->optional && arg == f->name ? " or SortOrderInput" : "", cache_prisma_kind(v));
    const char *d = json_string_value(v);
    if (strcmp(d, "asc") != 0 && strcmp(d, "desc") != 0)
        return ofail(o, "Invalid value for argument `%s`. Expected SortOrder.", arg);
    *desc = d[0] == 'd';
    return 0;
}

static int order_object(struct oparse *o, const struct schema_model *m, const json_t *obj,
                        const struct schema_relation **path, size_t n_path);

static int key_add(struct oparse *o, const struct schema_relation **path, size_t n_path,
                   const struct schema_field *f, const struct schema_relation *count, bool desc)
{
    if (o->n == o->cap)
        return ofail(o, "orderBy has too many keys");
    const struct schema_relation **p = cache_arena_alloc(o->arena, (n_path + 1) * sizeof *p);
    memcpy(p, path, n_path * sizeof *p);
    o->keys[o->n++] = (struct cache_order){p, n_path, f, count, desc};
    return 0;
}

/* {"rel":{"_count":"asc"}} on a to-many relation (Prisma's
 * <Target>OrderByRelationAggregateInput: `_count` is its only argument). */
static int count_entry(struct oparse *o, const struct schema_relation *r, const json_t *v,
                       const struct schema_relation **path, size_t n_path)
{
    if (!json_is_object(v))
        return ofail(o, "Argument `%s`: Invalid value provided. Expected %sOrderByRelationAggregateInput, "
                        "provided %s.", r->name, r->target->name, cache_prisma_kind(v));
    if (!json_object_size(v))
        return ofail(o, "Argument `%s` of type %sOrderByRelationAggregateInput needs at least one argument.",
                     r->name, r->target->name);
    const char *k;
    json_t *d;
    json_object_foreach((json_t *)v, k, d) {
        if (strcmp(k, "_count") != 0) {
            static const char *const only[] = {"_count", NULL};
            struct cache_suggest sg = CACHE_SUGGEST(k);
            cache_suggest_list(&sg, only);
            cache_prisma_unknown_arg(o->err, o->errlen, &sg);
            return -EINVAL;
        }
    }
    d = json_object_get(v, "_count");
    if (json_is_null(d))
        return ofail(o, "Argument `_count` must not be null.");
    if (!json_is_string(d))
        return ofail(o, "Argument `_count`: Invalid value provided. Expected SortOrder, provided %s.",
                     cache_prisma_kind(d));
    const char *s = json_string_value(d);
    if (strcmp(s, "asc") != 0 && strcmp(s, "desc") != 0)
        return ofail(o, "Invalid value for argument `_count`. Expected SortOrder.");
    return key_add(o, path, n_path, NULL, r, s[0] == 'd');
}

static int order_entry(struct oparse *o, const struct schema_model *m, const char *k, size_t klen,
                       const json_t *v, const struct schema_relation **path, size_t n_path)
{
    const struct schema_field *f = schema_field_find(m, k, klen);
    if (f) {
        bool desc = false; /* set by direction() on success; gcc -O3 cannot see that */
        int rc = direction(o, f, v, &desc);
        return rc < 0 ? rc : key_add(o, path, n_path, f, NULL, desc);
    }
    const struct schema_relation *r = schema_relation_find(m, k, klen);
    if (!r) {
        struct cache_suggest sg = CACHE_SUGGEST(k);
        cache_suggest_fields(&sg, m);
        cache_prisma_unknown_arg(o->err, o->errlen, &sg);
        return -EINVAL;
    }
    if (r->to_many)
        return count_entry(o, r, v, path, n_path);
    if (!json_is_object(v))
        return ofail(o, "Argument `%s`: Invalid value provided. Expected %sOrderByWithRelationInput, "
                        "provided %s.", r->name, r->target->name, cache_prisma_kind(v));
    if (n_path == ORDER_PATH_MAX)
        return ofail(o, "orderBy on model %s follows more than %d relations", m->name, ORDER_PATH_MAX);
    path[n_path] = r;
    return order_object(o, r->target, v, path, n_path + 1);
}

static int order_object(struct oparse *o, const struct schema_model *m, const json_t *obj,
                        const struct schema_relation **path, size_t n_path)
{
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, k, klen, v) {
        int rc = order_entry(o, m, k, klen, v, path, n_path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static size_t count_keys(const json_t *j)
{
    if (json_is_array(j)) {
        size_t n = 0, i;
        const json_t *e;
        json_array_foreach(j, i, e) n += count_keys(e);
        return n;
    }
    if (!json_is_object(j))
        return 1;
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) n += json_is_object(v) ? count_keys(v) : 1;
    return n;
}

int cache_order_parse(void **arena, const struct schema_model *m, const json_t *ob,
                      const struct cache_order **out, size_t *n, char *err, size_t errlen)
{
    struct oparse o = {arena, err, errlen, NULL, 0, count_keys(ob) + 1};
    o.keys = cache_arena_alloc(arena, o.cap * sizeof *o.keys);
    const struct schema_relation *path[ORDER_PATH_MAX];
    int rc = 0;
    if (json_is_array(ob)) {
        size_t i;
        const json_t *e;
        json_array_foreach(ob, i, e) {
            if (!json_is_object(e))
                rc = ofail(&o, "Argument `orderBy`: Invalid value provided. Expected "
                               "%sOrderByWithRelationInput, provided (%s).", m->name, cache_prisma_kind(e));
            if (rc < 0 || (rc = order_object(&o, m, e, path, 0)) < 0)
                break;
        }
    } else if (!json_is_object(ob)) {
        rc = ofail(&o, "Argument `orderBy`: Invalid value provided. Expected %sOrderByWithRelationInput[] "
                       "or %sOrderByWithRelationInput, provided %s.", m->name, m->name, cache_prisma_kind(ob));
    } else if (json_object_size(ob) > 1) { /* Prisma: several keys need the array form */
        rc = ofail(&o, "Argument `orderBy`: Invalid value provided. Expected %sOrderByWithRelationInput[], "
                       "provided Object.", m->name);
    } else {
        rc = order_object(&o, m, ob, path, 0);
    }
    *out = o.keys;
    *n = rc == 0 ? o.n : 0;
    return rc;
}

static const struct slice null_value = {(const uint8_t *)"null", 4};
/* The same null for a key whose path's last foreign key names no row: it
 * orders as null, but Prisma's cursor condition tests that key column
 * (`fk IS NULL`), so it is told apart by its address. */
static const uint8_t dangling_text[] = "null";
static const struct slice dangling_value = {dangling_text, 4};

bool cache_order_dangling(struct slice v) { return v.p == dangling_text; }

static int count_cb(void *arg, struct slice row)
{
    (void)row;
    ++*(uint64_t *)arg;
    return 0;
}

int cache_source_children_count(const struct cache_source *src, const struct schema_relation *r,
                                int64_t parent, uint64_t *n)
{
    *n = 0;
    if (src->ops->children_count)
        return src->ops->children_count(src->ctx, r, parent, n);
    return src->ops->children(src->ctx, r, parent, count_cb, n);
}

/* A count key's value: the number big-endian in 8 bytes of *arena, so
 * that byte order is numeric order. */
static int count_value(const struct cache_source *src, const struct cache_order *k, uint64_t pk,
                       bool missing, void **arena, struct slice *out)
{
    uint64_t n = 0;
    int rc = missing ? 0 : cache_source_children_count(src, k->count, (int64_t)pk, &n);
    uint8_t *p = cache_arena_alloc(arena, 8);
    put_be64(p, n);
    *out = (struct slice){p, 8};
    return rc;
}

int cache_order_value(const struct cache_source *src, const struct cache_order *k, void **arena,
                      const struct cache_row_view *v, struct slice *out)
{
    struct cache_row_view cur = *v;
    for (size_t i = 0; i < k->n_path; i++) {
        const struct schema_relation *r = k->path[i];
        int64_t fk;
        struct slice row;
        int rc = cache_json_int(cache_row_member_value(&cur, r->fk), &fk);
        bool has_fk = rc == 0;
        if (rc == 0)
            rc = src->ops->get(src->ctx, r->target, (uint64_t)fk, &row);
        if (rc == 0)
            rc = cache_row_view(row, r->target, &cur);
        if (rc == -ENOENT && k->count) /* COALESCE(count, 0) over a missing row */
            return count_value(src, k, 0, true, arena, out);
        if (rc == -ENOENT) {
            *out = has_fk && i + 1 == k->n_path ? dangling_value : null_value;
            return 0;
        }
        if (rc < 0)
            return rc;
    }
    if (k->count)
        return count_value(src, k, cur.pk, false, arena, out);
    *out = cache_row_member_value(&cur, k->field);
    return 0;
}

static bool is_null(struct slice v) { return slice_eq(v, null_value); }

int cache_order_key_cmp(const struct cache_order *k, struct slice a, struct slice b, struct buf *tmp)
{
    if (k->count)
        return memcmp(a.p, b.p, 8) > 0 ? 1 : memcmp(a.p, b.p, 8) < 0 ? -1 : 0;
    return cache_value_cmp(k->field, a, b, tmp);
}

int cache_order_cmp(const struct cache_order *keys, size_t n, const struct slice *a, uint64_t apk,
                    const struct slice *b, uint64_t bpk, struct buf *tmp)
{
    for (size_t i = 0; i < n; i++) {
        bool an = is_null(a[i]), bn = is_null(b[i]);
        int c = an || bn ? (int)bn - (int)an : cache_order_key_cmp(&keys[i], a[i], b[i], tmp);
        if (c)
            return keys[i].desc ? -c : c;
    }
    return (apk > bpk) - (apk < bpk);
}
