/*
 * Request options -> a plan tree, with the original's (Prisma's) rules:
 *   select: ["a","b"] or {"a":true,"rel":true|{select|include}}
 *   include: ["rel"] or {"rel":true|{select?|include?}}
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

/* One select entry: a scalar to mark or a relation to add. val is NULL for an array entry. */
static int select_entry(struct parse *ps, struct cache_plan_node *n, bool *mark, const char *name,
                        size_t len, const json_t *val, unsigned depth)
{
    const struct schema_model *m = n->model;
    if (val && !json_is_boolean(val) && !json_is_object(val))
        return fail(ps, "Invalid value for \"%.*s\" in select on model %s: expected true, false or "
                        "an object, got %s", (int)len, name, m->name, json_kind(val));
    bool on = !val || !json_is_false(val);
    const struct schema_field *f = schema_field_find(m, name, len);
    if (f) {
        if (val && json_is_object(val))
            return fail(ps, "Field \"%s\" on model %s is not a relation: select it with true",
                        f->name, m->name);
        mark[f->index] |= on;
        return 0;
    }
    const struct schema_relation *r = schema_relation_find(m, name, len);
    if (!r)
        return fail(ps, "Unknown field \"%.*s\" on model %s", (int)len, name, m->name);
    return on ? child_add(ps, n, r, val, depth) : 0;
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

static int node_select(struct parse *ps, struct cache_plan_node *n, const json_t *sel, unsigned depth)
{
    const struct schema_model *m = n->model;
    if (!json_is_array(sel) && !json_is_object(sel))
        return fail(ps, "Invalid select on model %s: expected an array of field names or an "
                        "object, got %s", m->name, json_kind(sel));
    bool *mark = cache_arena_alloc(ps->arena, m->n_fields + 1);
    int rc = select_entries(ps, n, mark, sel, depth);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < m->n_fields; i++) /* schema declaration order, whatever the request's */
        if (mark[i])
            n->fields[n->n_fields++] = &m->fields[i];
    if (!n->n_fields && !n->n_children)
        return fail(ps, "The select on model %s needs at least one field set to true", m->name);
    return 0;
}

/* ---- include ----------------------------------------------------------------- */

static int include_entry(struct parse *ps, struct cache_plan_node *n, const char *name, size_t len,
                         const json_t *val, unsigned depth)
{
    const struct schema_model *m = n->model;
    if (val && !json_is_boolean(val) && !json_is_object(val))
        return fail(ps, "Invalid value for \"%.*s\" in include on model %s: expected true, false or "
                        "an object, got %s", (int)len, name, m->name, json_kind(val));
    const struct schema_relation *r = schema_relation_find(m, name, len);
    if (!r) {
        if (schema_field_find(m, name, len))
            return fail(ps, "Field \"%.*s\" on model %s is not a relation and cannot be included",
                        (int)len, name, m->name);
        return fail(ps, "Unknown relation \"%.*s\" on model %s", (int)len, name, m->name);
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

/* `where` names the object for messages: "options" or "relation ... on model ...". */
static int node_args(struct parse *ps, struct cache_plan_node *n, const json_t *args, unsigned depth,
                     const char *where)
{
    if (!json_is_object(args))
        return fail(ps, "Invalid %s: expected an object with select or include, got %s", where,
                    json_kind(args));
    const json_t *sel = NULL, *inc = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)args, k, v) {
        if (strcmp(k, "select") == 0)
            sel = json_is_null(v) ? NULL : v;
        else if (strcmp(k, "include") == 0)
            inc = json_is_null(v) ? NULL : v;
        else
            return fail(ps, "Unknown option \"%s\" in %s: only select and include are supported",
                        k, where);
    }
    if (sel && inc)
        return fail(ps, "%s", CACHE_ERR_SELECT_AND_INCLUDE);
    if (sel)
        return node_select(ps, n, sel, depth);
    if (inc)
        return node_include(ps, n, inc, depth);
    node_all_scalars(n);
    return 0;
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
        rc = node_args(&ps, &p->root, opts, 0, "options");
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

static bool node_warm(const struct cache_plan_node *n, struct cache_rd *rd)
{
    struct cache_meta meta;
    if (cache_meta_get(rd, n->model, &meta) < 0 || meta.state != CACHE_WARM)
        return false;
    for (size_t i = 0; i < n->n_children; i++)
        if (!node_warm(&n->children[i], rd))
            return false;
    return true;
}

bool cache_plan_warm(const struct cache_plan *p, struct cache_rd *rd)
{
    return p->root.model && node_warm(&p->root, rd);
}

static size_t node_models(const struct cache_plan_node *n, uint16_t *out, size_t k)
{
    size_t i = 0;
    while (i < k && out[i] != n->model->id)
        i++;
    if (i == k)
        out[k++] = (uint16_t)n->model->id;
    for (size_t c = 0; c < n->n_children; c++)
        k = node_models(&n->children[c], out, k);
    return k;
}

size_t cache_plan_models(const struct cache_plan *p, uint16_t *out)
{
    return p->root.model ? node_models(&p->root, out, 0) : 0;
}
