/*
 * Changes since a version: which root rows of a plan render differently
 * now than at version V, from the change log (changes.c).
 *
 * Each plan node collects the keys of its model that changed after V: rows
 * logged for its model, and parents named by the log's index entries of
 * the relation that leads to a child node (a child added, removed or moved
 * away, whose row may be gone now). Then, from the leaves up, a node's
 * keys are mapped to its parent's rows:
 *   to-many  child rows carry the parent's key: read it from each child
 *            that still exists (the ones gone are in the index entries);
 *   to-one   parent rows carry the child's key: the inverse relation's
 *            index lists them, or, when the schema declares no inverse,
 *            one scan of the parent model finds them.
 * What reaches the root is every root row whose rendering may differ. It
 * is a superset only where a change touched a field the request does not
 * render.
 *
 * A node also reads models outside the include tree, and they get nodes of
 * their own that render nothing but map up the same way: each relation of
 * its where (some/every/none/is/isNot, nested ones under theirs), each
 * `_count` (and the relations its where reads), each to-one step of an
 * orderBy path and the to-many relation an orderBy counts. A child that starts or stops matching a filter, a count
 * that moves, an order key that changes: each reaches the rows that read
 * it, so a root row that starts matching is sent and one that stops is
 * reported deleted (cache_query_render_keys), as a fresh fetch would show.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>

struct keys {
    uint64_t *v;
    size_t n, cap;
};

static void keys_add(struct keys *k, uint64_t key)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 16;
        k->v = xrealloc(k->v, k->cap * sizeof *k->v);
    }
    k->v[k->n++] = key;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void keys_sort_unique(struct keys *k)
{
    if (k->n < 2)
        return;
    qsort(k->v, k->n, sizeof *k->v, u64_cmp);
    size_t o = 1;
    for (size_t i = 1; i < k->n; i++)
        if (k->v[i] != k->v[o - 1])
            k->v[o++] = k->v[i];
    k->n = o;
}

static bool keys_has(const struct keys *k, uint64_t key)
{
    return bsearch(&key, k->v, k->n, sizeof key, u64_cmp) != NULL;
}

/* A model read by a plan node, and the relation that reaches it from its
 * parent node (NULL at the root). */
struct since_node {
    const struct schema_model *model;
    const struct schema_relation *via;
};

/* The plan's nodes in pre-order, each with its parent's position: children
 * come after their parent, so a reverse walk visits leaves first. */
struct since {
    struct cache_rd *rd;
    struct since_node *node;
    size_t *parent;
    struct keys *keys;
    size_t n, cap;
};

static size_t node_add(struct since *s, const struct schema_model *m, const struct schema_relation *via,
                       size_t parent)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->node = xrealloc(s->node, s->cap * sizeof *s->node);
        s->parent = xrealloc(s->parent, s->cap * sizeof *s->parent);
    }
    size_t me = s->n++;
    s->node[me] = (struct since_node){m, via};
    s->parent[me] = parent;
    return me;
}

/* The relations a filter on node `at` reads, each a node under it; the
 * conditions of a relation filter are on its target, so theirs go under it. */
static void filter_add(struct since *s, const struct cache_filter *f, size_t at)
{
    if (!f)
        return;
    if (f->rel)
        at = node_add(s, f->rel->target, f->rel, at);
    for (size_t i = 0; i < f->n_sub; i++)
        filter_add(s, &f->sub[i], at);
}

static void nodes_add(struct since *s, const struct cache_plan_node *n, size_t parent)
{
    size_t me = node_add(s, n->model, n->via, parent);
    filter_add(s, n->where, me);
    for (size_t i = 0; i < n->n_counts; i++)
        filter_add(s, n->counts[i].where, node_add(s, n->counts[i].rel->target, n->counts[i].rel, me));
    for (size_t i = 0; i < n->n_order; i++) {
        size_t at = me;
        for (size_t k = 0; k < n->order[i].n_path; k++)
            at = node_add(s, n->order[i].path[k]->target, n->order[i].path[k], at);
        if (n->order[i].count)
            node_add(s, n->order[i].count->target, n->order[i].count, at);
    }
    for (size_t i = 0; i < n->n_children; i++)
        nodes_add(s, &n->children[i], me);
}

static int entry_cb(void *arg, uint16_t id, uint64_t key, uint8_t op)
{
    struct since *s = arg;
    size_t n_models = s->rd->c->schema->n_models;
    for (size_t i = 0; i < s->n; i++) {
        const struct since_node *n = &s->node[i];
        if (id < n_models && n->model->id == id) {
            if (op == CACHE_CHANGE_RESET)
                return -ESTALE;
            keys_add(&s->keys[i], key);
        } else if (id >= n_models && i && n->via->to_many && n->via->to_many_id == id - n_models) {
            keys_add(&s->keys[s->parent[i]], key);
        }
    }
    return 0;
}

struct to_one_scan {
    const struct schema_field *fk;
    const struct schema_model *model;
    const struct keys *child;
    struct keys *out;
};

static int to_one_scan_cb(void *arg, struct slice row)
{
    struct to_one_scan *t = arg;
    int64_t fk;
    int rc = cache_row_int(row, t->model, t->fk, &fk);
    if (rc == -ENOENT)
        return 0;
    if (rc == 0 && keys_has(t->child, (uint64_t)fk))
        keys_add(t->out, cache_row_pk(row));
    return rc;
}

static int parent_add_cb(void *arg, struct slice row)
{
    keys_add(arg, cache_row_pk(row));
    return 0;
}

/* Adds to `out` the keys of the parent rows that render the child keys `in`. */
static int keys_map_up(struct cache_rd *rd, const struct schema_relation *via, const struct keys *in,
                       struct keys *out)
{
    int rc = 0;
    if (via->to_many) {
        for (size_t i = 0; rc == 0 && i < in->n; i++) {
            struct slice row;
            int64_t fk;
            rc = cache_row_get(rd, via->target, in->v[i], &row);
            if (rc == 0)
                rc = cache_row_int(row, via->target, via->fk, &fk);
            if (rc == 0)
                keys_add(out, (uint64_t)fk);
            if (rc == -ENOENT) /* gone (its index entry named the parent), or no parent */
                rc = 0;
        }
        return rc;
    }
    if (via->inverse) {
        for (size_t i = 0; rc == 0 && i < in->n; i++)
            rc = cache_children(rd, via->inverse, (int64_t)in->v[i], parent_add_cb, out);
        return rc;
    }
    struct to_one_scan t = {via->fk, via->model, in, out};
    return in->n ? cache_scan(rd, via->model, to_one_scan_cb, &t) : 0;
}

int cache_since_check(struct cache_rd *rd, const struct cache_plan *p, uint64_t since)
{
    uint64_t horizon;
    int rc = cache_changes_horizon(rd, &horizon);
    if (rc < 0)
        return rc;
    if (since < horizon || since > cache_versions_snapshot(rd) || !cache_plan_warm(p, rd))
        return -ESTALE;
    uint16_t *ids = xmalloc(rd->c->schema->n_models * sizeof *ids);
    uint64_t replaced;
    rc = cache_changes_replaced(rd, ids, cache_plan_models(p, ids), &replaced);
    free(ids);
    if (rc == 0 && replaced > since)
        rc = -ESTALE;
    return rc;
}

static int since_run(struct since *s, const struct cache_plan *p, uint64_t since)
{
    int rc = cache_since_check(s->rd, p, since);
    if (rc < 0)
        return rc;
    if ((rc = cache_changes_walk(s->rd, since, entry_cb, s)) < 0)
        return rc;
    for (size_t i = s->n; i-- > 1;) {
        keys_sort_unique(&s->keys[i]);
        if ((rc = keys_map_up(s->rd, s->node[i].via, &s->keys[i], &s->keys[s->parent[i]])) < 0)
            return rc;
    }
    keys_sort_unique(&s->keys[0]);
    return 0;
}

int cache_since_keys(struct cache_rd *rd, const struct cache_plan *p, uint64_t since, uint64_t **keys,
                     size_t *n)
{
    struct since s = {.rd = rd};
    *keys = NULL;
    *n = 0;
    nodes_add(&s, &p->root, 0);
    s.keys = xcalloc(s.n, sizeof *s.keys);
    int rc = since_run(&s, p, since);
    if (rc == 0) {
        *keys = s.keys[0].v;
        *n = s.keys[0].n;
        s.keys[0].v = NULL;
    }
    for (size_t i = 0; i < s.n; i++)
        free(s.keys[i].v);
    free(s.keys);
    free(s.node);
    free(s.parent);
    return rc;
}
