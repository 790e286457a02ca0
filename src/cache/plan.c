/*
 * Request options -> a plan tree, with the original's (Prisma's) rules:
 *   select: ["a","b"] or {"a":true,"rel":true|{...},"_count":...}
 *   include: ["rel"] or {"rel":true|{...},"_count":...}
 * and, at the root and on every to-many relation, findMany's arguments:
 *   where, orderBy, take, skip, cursor, distinct (root also: count)
 * nested to CACHE_INCLUDE_DEPTH_MAX relation levels. `false` entries are
 * left out; select and include together is an error at any level. Every
 * name a client sends is resolved through the schema here and nowhere else.
 * All results live in the plan's arena; parse errors are client-facing.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

struct parse {
    void **arena;
    char *err;
    size_t errlen;
};

static int fail(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, ps->errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

static void node_init(struct parse *ps, struct cache_plan_node *n, const struct schema_model *m,
                      const struct schema_relation *via)
{
    n->model = m;
    n->via = via;
    n->fields = cache_arena_alloc(ps->arena, (m->n_fields + 1) * sizeof *n->fields);
    n->children = cache_arena_alloc(ps->arena, (m->n_relations + 1) * sizeof *n->children);
}

static void node_all_scalars(struct cache_plan_node *n)
{
    for (size_t i = 0; i < n->model->n_fields; i++)
        n->fields[i] = &n->model->fields[i];
    n->n_fields = n->model->n_fields;
}

static int node_args(struct parse *ps, struct cache_plan_node *n, const json_t *args, unsigned depth,
                     const char *where);
static int counts_parse(struct parse *ps, struct cache_plan_node *n, const json_t *val);

/* Adds relation r (once) as a child: full scalars for `true`, else parsed args. */
static int child_add(struct parse *ps, struct cache_plan_node *n, const struct schema_relation *r,
                     const json_t *args, unsigned depth)
{
    for (size_t i = 0; i < n->n_children; i++)
        if (n->children[i].via == r)
            return 0; /* named twice in an array: once is what Prisma renders */
    if (depth + 1 > CACHE_INCLUDE_DEPTH_MAX)
        return fail(ps, "Relation \"%s\" on model %s is nested too deep: at most %d levels of "
                        "include/select are allowed", r->name, n->model->name, CACHE_INCLUDE_DEPTH_MAX);
    struct cache_plan_node *c = &n->children[n->n_children++];
    node_init(ps, c, r->target, r);
    if (!args || json_is_true(args)) {
        node_all_scalars(c);
        return 0;
    }
    char where[160];
    snprintf(where, sizeof where, "relation \"%s\" on model %s", r->name, n->model->name);
    return node_args(ps, c, args, depth + 1, where);
}

/* ---- select ------------------------------------------------------------------ */

/* Appends a select member to the request-order list (n->items has room for
 * every field, relation and _count of the model). */
static void item_add(struct cache_plan_node *n, enum cache_item_kind kind, size_t index)
{
    struct cache_plan_item *it = (struct cache_plan_item *)n->items;
    it[n->n_items++] = (struct cache_plan_item){kind, (uint32_t)index};
}

/* One select entry: a scalar to mark or a relation to add. val is NULL for an array entry. */
static int select_entry(struct parse *ps, struct cache_plan_node *n, bool *mark, const char *name,
                        size_t len, const json_t *val, unsigned depth)
{
    const struct schema_model *m = n->model;
    bool on = !val || !json_is_false(val);
    if (len == 6 && memcmp(name, "_count", 6) == 0) {
        if (!on)
            return 0;
        if (!n->has_counts)
            item_add(n, CACHE_ITEM_COUNTS, 0);
        return counts_parse(ps, n, val);
    }
    if (val && !json_is_boolean(val) && !json_is_object(val))
        return fail(ps, "Invalid value for \"%.*s\" in select on model %s: expected true, false or "
                        "an object, got %s", (int)len, name, m->name, json_kind(val));
    const struct schema_field *f = schema_field_find(m, name, len);
    if (f) {
        if (val && json_is_object(val))
            return fail(ps, "Field \"%s\" on model %s is not a relation: select it with true",
                        f->name, m->name);
        if (on && !mark[f->index])
            item_add(n, CACHE_ITEM_FIELD, f->index);
        mark[f->index] |= on;
        return 0;
    }
    const struct schema_relation *r = schema_relation_find(m, name, len);
    if (!r)
        return fail(ps, "Unknown field `%.*s` for select statement on model `%s`.", (int)len, name,
                    m->name);
    if (!on)
        return 0;
    size_t had = n->n_children;
    int rc = child_add(ps, n, r, val, depth);
    if (rc == 0 && n->n_children > had)
        item_add(n, CACHE_ITEM_CHILD, had);
    return rc;
}

static int select_entries(struct parse *ps, struct cache_plan_node *n, bool *mark, const json_t *sel,
                          unsigned depth)
{
    int rc = 0;
    if (json_is_array(sel)) {
        size_t i;
        const json_t *v;
        json_array_foreach(sel, i, v) {
            if (!json_is_string(v))
                return fail(ps, "Invalid select on model %s: array entries must be field names, "
                                "got %s", n->model->name, json_kind(v));
            if ((rc = select_entry(ps, n, mark, json_string_value(v), json_string_length(v), NULL,
                                   depth)) < 0)
                return rc;
        }
        return 0;
    }
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)sel, k, klen, v) {
        if ((rc = select_entry(ps, n, mark, k, klen, v, depth)) < 0)
            return rc;
    }
    return 0;
}

/* True when the request order is the scalars in schema order, then the
 * relations and _count: what rendering without items produces. */
static bool items_plain(const struct cache_plan_node *n)
{
    size_t i = 0, next = 0;
    for (; i < n->n_items && n->items[i].kind == CACHE_ITEM_FIELD; i++)
        if (n->items[i].index < next)
            return false;
        else
            next = n->items[i].index + 1;
    for (; i < n->n_items; i++)
        if (n->items[i].kind == CACHE_ITEM_FIELD)
            return false;
    return true;
}

static int node_select(struct parse *ps, struct cache_plan_node *n, const json_t *sel, unsigned depth)
{
    const struct schema_model *m = n->model;
    if (!json_is_array(sel) && !json_is_object(sel))
        return fail(ps, "The `select` statement for type %s needs at least one truthy value.", m->name);
    bool *mark = cache_arena_alloc(ps->arena, m->n_fields + 1);
    n->items = cache_arena_alloc(ps->arena, (m->n_fields + m->n_relations + 2) * sizeof *n->items);
    int rc = select_entries(ps, n, mark, sel, depth);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < m->n_fields; i++)
        if (mark[i])
            n->fields[n->n_fields++] = &m->fields[i];
    if (!n->n_fields && !n->n_children && !n->has_counts)
        return fail(ps, "The `select` statement for type %s must not be empty.", m->name);
    if (items_plain(n)) { /* the common order renders faster: fields, then the rest */
        n->items = NULL;
        n->n_items = 0;
    }
    return 0;
}

/* ---- include ----------------------------------------------------------------- */

static int include_entry(struct parse *ps, struct cache_plan_node *n, const char *name, size_t len,
                         const json_t *val, unsigned depth)
{
    const struct schema_model *m = n->model;
    if (len == 6 && memcmp(name, "_count", 6) == 0)
        return val && json_is_false(val) ? 0 : counts_parse(ps, n, val);
    if (val && !json_is_boolean(val) && !json_is_object(val))
        return fail(ps, "Invalid value for \"%.*s\" in include on model %s: expected true, false or "
                        "an object, got %s", (int)len, name, m->name, json_kind(val));
    const struct schema_relation *r = schema_relation_find(m, name, len);
    if (!r) {
        if (schema_field_find(m, name, len))
            return fail(ps, "Invalid scalar field `%.*s` for include statement on model %s.\nNote "
                            "that include statements only accept relation fields.", (int)len, name,
                        m->name);
        return fail(ps, "Unknown field `%.*s` for include statement on model `%s`.", (int)len, name,
                    m->name);
    }
    if (val && json_is_false(val))
        return 0;
    return child_add(ps, n, r, val, depth);
}

static int node_include(struct parse *ps, struct cache_plan_node *n, const json_t *inc, unsigned depth)
{
    int rc = 0;
    node_all_scalars(n);
    if (json_is_array(inc)) {
        size_t i;
        const json_t *v;
        json_array_foreach(inc, i, v) {
            if (!json_is_string(v))
                return fail(ps, "Invalid include on model %s: array entries must be relation "
                                "names, got %s", n->model->name, json_kind(v));
            if ((rc = include_entry(ps, n, json_string_value(v), json_string_length(v), NULL,
                                    depth)) < 0)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(inc))
        return fail(ps, "Invalid include on model %s: expected an array of relation names or an "
                        "object, got %s", n->model->name, json_kind(inc));
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)inc, k, klen, v) {
        if ((rc = include_entry(ps, n, k, klen, v, depth)) < 0)
            return rc;
    }
    return 0;
}

/* ---- {select?, include?} ------------------------------------------------------- */

/* Prisma's "Unknown argument" for the first key of obj other than `known`. */
static int unknown_arg(struct parse *ps, const json_t *obj, const char *known)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (strcmp(k, known) != 0)
            break;
    }
    const char *const cands[] = {known, NULL};
    struct cache_suggest sg = CACHE_SUGGEST(k);
    cache_suggest_list(&sg, cands);
    cache_prisma_unknown_arg(ps->err, ps->errlen, &sg);
    return -EINVAL;
}

/* ---- _count -------------------------------------------------------------------- */

static struct cache_count *counts_room(struct parse *ps, struct cache_plan_node *n)
{
    struct cache_count *c = cache_arena_alloc(ps->arena, (n->model->n_relations + 1) * sizeof *c);
    n->counts = c;
    n->n_counts = 0;
    n->has_counts = true;
    n->counts_at = n->n_children;
    return c;
}

static int count_entry(struct parse *ps, struct cache_plan_node *n, struct cache_count *c,
                       const char *k, size_t klen, const json_t *v)
{
    const struct schema_relation *r = schema_relation_find(n->model, k, klen);
    if (!r || !r->to_many)
        return fail(ps, "Unknown field `%s` for select statement on model `%sCountOutputType`.", k,
                    n->model->name);
    if (json_is_false(v))
        return 0;
    const struct cache_filter *w = NULL;
    if (json_is_object(v)) {
        const json_t *wj = json_object_get(v, "where");
        if (json_object_size(v) != (wj ? 1u : 0u))
            return unknown_arg(ps, v, "where");
        int rc = wj ? cache_where_parse(ps->arena, r->target, wj, &w, ps->err, ps->errlen) : 0;
        if (rc < 0)
            return rc;
    } else if (!json_is_true(v)) {
        return fail(ps, "Invalid _count of relation %s on model %s: expected true, false or "
                        "{\"where\":...}", r->name, n->model->name);
    }
    c[n->n_counts++] = (struct cache_count){r, w};
    return 0;
}

/* _count: true (every to-many relation) or {select: {rel: true|{where}}}. */
static int counts_parse(struct parse *ps, struct cache_plan_node *n, const json_t *val)
{
    struct cache_count *c = counts_room(ps, n);
    if (!val || json_is_true(val)) {
        for (size_t i = 0; i < n->model->n_relations; i++)
            if (n->model->relations[i].to_many)
                c[n->n_counts++] = (struct cache_count){&n->model->relations[i], NULL};
        return 0;
    }
    if (!json_is_object(val))
        return fail(ps, "Unknown field at \"_count selection\"");
    const json_t *sel = json_object_get(val, "select");
    if (json_object_size(val) != (sel ? 1u : 0u))
        return unknown_arg(ps, val, "select");
    if (!json_is_object(sel))
        return fail(ps, "The `select` statement for type %sCountOutputType needs at least one truthy "
                        "value.", n->model->name);
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)sel, k, klen, v) {
        int rc = count_entry(ps, n, c, k, klen, v);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- findMany arguments: take, skip, cursor, distinct ------------------------------ */

/* Prisma: "Argument `cursor` of type CompanyWhereUniqueInput needs at least
 * one of `companyRecId` arguments." (the unique fields joined by " or "). */
static int cursor_fail(struct parse *ps, const struct schema_model *m)
{
    char names[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < m->n_fields && len < sizeof names; i++)
        if (m->fields[i].is_unique)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s`%s`", len ? " or " : "",
                                    m->fields[i].name);
    return fail(ps, "Argument `cursor` of type %sWhereUniqueInput needs at least one of %s arguments.",
                m->name, names);
}

static int take_skip(struct parse *ps, struct cache_plan_node *n, const char *k, const json_t *v)
{
    if (!json_is_integer(v))
        return fail(ps, "Argument `%s`: Invalid value provided. Expected Int, provided %s.", k,
                    cache_prisma_kind(v));
    json_int_t i = json_integer_value(v);
    if (k[0] == 't') {
        n->has_take = true;
        n->take = i;
        return 0;
    }
    if (i < 0)
        return fail(ps, "Invalid value for skip argument: Value can only be positive, found: %" JSON_INTEGER_FORMAT, i);
    n->skip = (uint64_t)i;
    return 0;
}

static int cursor_parse(struct parse *ps, struct cache_plan_node *n, const json_t *v)
{
    const char *k = NULL;
    size_t klen = 0;
    json_t *val = NULL;
    if (json_is_object(v) && json_object_size(v) == 1)
        json_object_keylen_foreach((json_t *)v, k, klen, val) break;
    const struct schema_field *f = k ? schema_field_find(n->model, k, klen) : NULL;
    if (!json_is_object(v))
        return fail(ps, "Argument `cursor`: Invalid value provided. Expected %sWhereUniqueInput, "
                        "provided %s.", n->model->name, cache_prisma_kind(v));
    if (!f || !f->is_unique)
        return cursor_fail(ps, n->model);
    if (json_is_null(val))
        return fail(ps, "Argument `%s` must not be null.", f->name);
    if (!cache_prisma_accepts(f->type, val))
        return fail(ps, "Argument `%s`: Invalid value provided. Expected %s, provided %s.", f->name,
                    cache_prisma_type(f->type), cache_prisma_kind(val));
    if (cache_fvalue_make(ps->arena, f, val, &n->cursor) < 0)
        return fail(ps, "Invalid value for cursor field %s on model %s", f->name, n->model->name);
    n->cursor_field = f;
    return 0;
}

static int distinct_parse(struct parse *ps, struct cache_plan_node *n, const json_t *v)
{
    if (!json_is_array(v) && !json_is_string(v))
        return fail(ps, "Argument `distinct`: Invalid value provided. Expected %sScalarFieldEnum or "
                        "%sScalarFieldEnum[], provided %s.", n->model->name, n->model->name,
                    cache_prisma_kind(v));
    size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
    const struct schema_field **d = cache_arena_alloc(ps->arena, (cnt + 1) * sizeof *d);
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        const struct schema_field *f =
            json_is_string(e) ? schema_field_find(n->model, json_string_value(e), json_string_length(e)) : NULL;
        if (!f)
            return fail(ps, "Invalid value for argument `distinct`. Expected %sScalarFieldEnum.",
                        n->model->name);
        d[i] = f;
    }
    n->distinct = d;
    n->n_distinct = cnt;
    return 0;
}

/* ---- {select?, include?, where?, orderBy?, ...} ---------------------------------- */

/* findMany's own arguments (Prisma's order: its "Did you mean" candidates). */
static const char *const find_args[] = {"where", "orderBy", "cursor", "take", "skip", "distinct", NULL};
static const char *const to_one_args[] = {"where", NULL};

/* Prisma's "Unknown argument `k`." with its suggestion among cands. */
static int unknown_option(struct parse *ps, const char *k, const char *const *cands)
{
    struct cache_suggest sg = CACHE_SUGGEST(k);
    cache_suggest_list(&sg, cands);
    cache_prisma_unknown_arg(ps->err, ps->errlen, &sg);
    return -EINVAL;
}

/* findMany's own arguments of one node; 1 when k is none of them. */
static int find_arg(struct parse *ps, struct cache_plan_node *n, const char *k, const json_t *v,
                    const char *where)
{
    bool known = strcmp(k, "where") == 0 || strcmp(k, "orderBy") == 0 || strcmp(k, "take") == 0 ||
                 strcmp(k, "skip") == 0 || strcmp(k, "cursor") == 0 || strcmp(k, "distinct") == 0;
    if (!known)
        return 1;
    if (n->via && !n->via->to_many && strcmp(k, "where") == 0)
        return fail(ps, "Unknown option \"where\" in %s: a to-one relation takes only select and "
                        "include", where);
    if (n->via && !n->via->to_many)
        return unknown_option(ps, k, to_one_args);
    if (json_is_null(v))
        return 0;
    if (strcmp(k, "where") == 0)
        return cache_where_parse(ps->arena, n->model, v, &n->where, ps->err, ps->errlen);
    if (strcmp(k, "orderBy") == 0)
        return cache_order_parse(ps->arena, n->model, v, &n->order, &n->n_order, ps->err, ps->errlen);
    if (strcmp(k, "cursor") == 0)
        return cursor_parse(ps, n, v);
    if (strcmp(k, "distinct") == 0)
        return distinct_parse(ps, n, v);
    return take_skip(ps, n, k, v);
}

/* `where` names the object for messages: "options" or "relation ... on model ...".
 * count (root only) is set to NULL below the root. */
static int node_args_count(struct parse *ps, struct cache_plan_node *n, const json_t *args,
                           unsigned depth, const char *where, bool *count)
{
    if (!json_is_object(args))
        return fail(ps, "Invalid %s: expected an object with select or include, got %s", where,
                    json_kind(args));
    const json_t *sel = NULL, *inc = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)args, k, v) {
        int rc;
        if (strcmp(k, "select") == 0) {
            sel = json_is_null(v) ? NULL : v;
        } else if (strcmp(k, "include") == 0) {
            inc = json_is_null(v) ? NULL : v;
        } else if (count && strcmp(k, "count") == 0) {
            if (!json_is_boolean(v))
                return fail(ps, "Invalid value for `count` in options: expected true or false");
            *count = json_is_true(v);
        } else if ((rc = find_arg(ps, n, k, v, where)) <= 0) {
            if (rc < 0)
                return rc;
        } else {
            return unknown_option(ps, k, n->via && !n->via->to_many ? to_one_args : find_args);
        }
    }
    if (sel && inc)
        return fail(ps, "%s", CACHE_ERR_SELECT_AND_INCLUDE);
    if (count && *count && (sel || inc))
        return fail(ps, "`count: true` answers a number: it cannot be combined with select or "
                        "include");
    if (sel)
        return node_select(ps, n, sel, depth);
    if (inc)
        return node_include(ps, n, inc, depth);
    node_all_scalars(n);
    return 0;
}

static int node_args(struct parse *ps, struct cache_plan_node *n, const json_t *args, unsigned depth,
                     const char *where)
{
    return node_args_count(ps, n, args, depth, where, NULL);
}

/* ---- the collector's fixed filter ---------------------------------------------- */

static int plan_where(struct parse *ps, struct cache_plan *p, const struct collector *col)
{
    struct cache_plan_where *w = cache_arena_alloc(ps->arena, (col->n_where + 1) * sizeof *w);
    struct buf b;
    buf_init(&b, 0);
    int rc = 0;
    for (size_t i = 0; i < col->n_where && rc == 0; i++) {
        buf_reset(&b);
        rc = cache_where_canonical(col->where[i].field, col->where[i].json_value, &b, ps->err,
                                   ps->errlen);
        uint8_t *copy = cache_arena_alloc(ps->arena, b.len + 1);
        if (b.len)
            memcpy(copy, buf_data(&b), b.len);
        w[i] = (struct cache_plan_where){col->where[i].field, {copy, b.len}};
    }
    buf_fini(&b);
    p->where = w;
    p->n_where = col->n_where;
    return rc;
}

int cache_plan_parse(struct cache_plan *p, const struct collector *col, const json_t *opts, char *err,
                     size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (errlen)
        err[0] = '\0';
    struct parse ps = {&p->arena, err, errlen};
    if (!col || !col->model)
        return fail(&ps, "collector has no model");
    p->collector = col;
    p->max_rows = col->max_rows;
    node_init(&ps, &p->root, col->model, NULL);
    int rc = plan_where(&ps, p, col);
    if (rc == 0 && (!opts || json_is_null(opts)))
        node_all_scalars(&p->root);
    else if (rc == 0)
        rc = node_args_count(&ps, &p->root, opts, 0, "options", &p->count);
    if (rc < 0)
        cache_plan_fini(p);
    return rc;
}

void cache_plan_fini(struct cache_plan *p)
{
    if (!p)
        return;
    cache_arena_free(&p->arena);
    memset(p, 0, sizeof *p);
}

/* ---- the models a plan reads ------------------------------------------------------
 * Relations rendered, and also those a filter, an orderBy path or a _count
 * reads: every one must be warm for the cache to answer, and every one's
 * data version decides whether a kept answer is still right. */

typedef bool (*model_visit)(void *arg, const struct schema_model *m); /* false: stop */

static bool filter_models(const struct cache_filter *f, model_visit fn, void *arg)
{
    if (!f)
        return true;
    if (f->rel && !fn(arg, f->rel->target))
        return false;
    for (size_t i = 0; i < f->n_sub; i++)
        if (!filter_models(&f->sub[i], fn, arg))
            return false;
    return true;
}

static bool node_visit(const struct cache_plan_node *n, model_visit fn, void *arg)
{
    if (!fn(arg, n->model) || !filter_models(n->where, fn, arg))
        return false;
    for (size_t i = 0; i < n->n_order; i++) {
        for (size_t k = 0; k < n->order[i].n_path; k++)
            if (!fn(arg, n->order[i].path[k]->target))
                return false;
        if (n->order[i].count && !fn(arg, n->order[i].count->target))
            return false;
    }
    for (size_t i = 0; i < n->n_counts; i++)
        if (!fn(arg, n->counts[i].rel->target) || !filter_models(n->counts[i].where, fn, arg))
            return false;
    for (size_t c = 0; c < n->n_children; c++)
        if (!node_visit(&n->children[c], fn, arg))
            return false;
    return true;
}

static bool warm_visit(void *arg, const struct schema_model *m)
{
    struct cache_meta meta;
    return cache_meta_get(arg, m, &meta) == 0 && meta.state == CACHE_WARM;
}

bool cache_plan_warm(const struct cache_plan *p, struct cache_rd *rd)
{
    return p->root.model && node_visit(&p->root, warm_visit, rd);
}

static bool visit_count(void *arg, const struct schema_model *m)
{
    (void)m;
    ++*(size_t *)arg;
    return true;
}

bool cache_plan_rows_at_most(const struct cache_plan *p, struct cache_rd *rd, uint64_t max)
{
    /* Visited once: only the root's own rows are read (a relation to the
     * same model, in a filter, an order or an include, is a second visit). */
    size_t visits = 0;
    if (!p->root.model || !rd->active)
        return false;
    node_visit(&p->root, visit_count, &visits);
    return visits == 1 && cache_meta_live_rows(rd, p->root.model) <= max;
}

struct model_set {
    uint16_t *ids;
    size_t n;
};

static bool set_visit(void *arg, const struct schema_model *m)
{
    struct model_set *s = arg;
    size_t i = 0;
    while (i < s->n && s->ids[i] != m->id)
        i++;
    if (i == s->n)
        s->ids[s->n++] = (uint16_t)m->id;
    return true;
}

size_t cache_plan_models(const struct cache_plan *p, uint16_t *out)
{
    struct model_set s = {out, 0};
    if (p->root.model)
        node_visit(&p->root, set_visit, &s);
    return s.n;
}

/* ---- the access path ------------------------------------------------------------------
 * The planner picks, for a level:
 *   - a relation's rows: its children through the relation index;
 *   - distinct: a scan (it reads every row anyway);
 *   - ordered by the key (or not ordered): the key's B-tree when the where
 *     bounds the key or a cursor gives the start; else a secondary index when
 *     the where pins an indexed field to one value (its rows come in key
 *     order), or bounds one and there is no take (the range is read, then
 *     sorted; with a take the key's order stops early instead); else the key;
 *   - ordered by one indexed field: that index, in page order, within the
 *     where's bounds on it;
 *   - any other order: the index of an indexed field the where pins or
 *     bounds (read, then sorted), else a scan. */

static bool value_null(const struct cache_filter *f)
{
    return !f->n_vals || slice_eq(f->vals[0].json, slice_str("null"));
}

static bool op_range(enum cache_filter_op op) { return op >= CACHE_F_LT && op <= CACHE_F_GTE; }

/* The top-level AND chain's conditions: what bounds the key, which indexed
 * field is pinned to one value, which is bounded. */
struct conds {
    bool key;
    const struct schema_field *eq, *range;
};

static void conds_collect(const struct schema_model *m, const struct cache_filter *f, struct conds *c)
{
    if (!f)
        return;
    if (f->op == CACHE_F_AND) {
        for (size_t i = 0; i < f->n_sub; i++)
            conds_collect(m, &f->sub[i], c);
        return;
    }
    if (!f->field || f->rel)
        return;
    if (f->field == m->pk) {
        c->key |= !value_null(f) && (f->op == CACHE_F_EQ || f->op == CACHE_F_IN || op_range(f->op));
        return;
    }
    if (!f->field->sindex)
        return;
    if (f->op == CACHE_F_EQ && !c->eq)
        c->eq = f->field;
    else if (op_range(f->op) && !value_null(f) && !c->range)
        c->range = f->field;
}

static void path_index(struct cache_path *out, const struct schema_field *f, const struct schema_field *order)
{
    *out = (struct cache_path){CACHE_PATH_INDEX, f, order};
}

void cache_plan_path(const struct cache_plan_node *n, struct cache_path *out)
{
    *out = (struct cache_path){CACHE_PATH_SCAN, NULL, NULL};
    if (n->via) {
        out->kind = CACHE_PATH_CHILDREN;
        return;
    }
    if (n->n_distinct || n->cursor_applied) /* every row; the source's order */
        return;
    struct conds c = {0};
    conds_collect(n->model, n->where, &c);
    const struct cache_order *o = n->order;
    bool one = n->n_order == 1 && !o[0].n_path && o[0].field;
    if (!n->n_order || (one && o[0].field == n->model->pk)) {
        if (c.key || n->cursor_field)
            out->kind = CACHE_PATH_KEY;
        else if (c.eq)
            path_index(out, c.eq, n->model->pk);
        else if (c.range && !n->has_take)
            path_index(out, c.range, NULL);
        else
            out->kind = CACHE_PATH_KEY;
        return;
    }
    if (one && o[0].field->sindex)
        path_index(out, o[0].field, o[0].field);
    else if (c.eq || c.range)
        path_index(out, c.eq ? c.eq : c.range, NULL);
}

/* Keeps the larger (want_max) or smaller of *cur and key. */
static void bound_keep(struct buf *cur, const struct buf *key, bool want_max)
{
    int c = slice_cmp(buf_slice(cur), buf_slice(key));
    if (!cur->len || (want_max ? c < 0 : c > 0)) {
        buf_reset(cur);
        buf_append(cur, buf_data(key), key->len);
    }
}

static void bounds_walk(const struct cache_filter *w, const struct schema_field *f, struct buf *lo,
                        struct buf *hi, struct buf *key, struct buf *tmp)
{
    if (!w)
        return;
    if (w->op == CACHE_F_AND) {
        for (size_t i = 0; i < w->n_sub; i++)
            bounds_walk(&w->sub[i], f, lo, hi, key, tmp);
        return;
    }
    if (w->field != f || w->rel || !(w->op == CACHE_F_EQ || op_range(w->op)))
        return;
    bool null = value_null(w);
    if (null && w->op != CACHE_F_EQ)
        return; /* a comparison with null: the filter answers it */
    buf_reset(key);
    if (cache_sindex_value_key(f, null ? slice_str("null") : w->vals[0].json, tmp, key) < 0)
        return;
    bool low = w->op == CACHE_F_EQ || w->op == CACHE_F_GT || w->op == CACHE_F_GTE;
    bool high = w->op == CACHE_F_EQ || w->op == CACHE_F_LT || w->op == CACHE_F_LTE;
    if (low)
        bound_keep(lo, key, true);
    if (high)
        bound_keep(hi, key, false);
    if (!null && !low) { /* a comparison is never true for null: start after the nulls */
        buf_reset(key);
        buf_putc(key, 1);
        bound_keep(lo, key, true);
    }
}

bool cache_plan_index_bounds(const struct cache_filter *w, const struct schema_field *f,
                             struct buf *lo, struct buf *hi, struct buf *tmp)
{
    struct buf key;
    buf_init(&key, 0);
    buf_reset(lo);
    buf_reset(hi);
    bounds_walk(w, f, lo, hi, &key, tmp);
    buf_fini(&key);
    return !lo->len || !hi->len || slice_cmp(buf_slice(lo), buf_slice(hi)) <= 0;
}
