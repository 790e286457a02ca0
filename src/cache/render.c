/*
 * Plan + rows -> the `data` array. Rows are read in place: a full record is
 * '{' + the stored body + '}', a select copies member slices, relations
 * recurse through the source (LMDB or the live fallback's rows). Nothing
 * is allocated per row: the per-level state lives on the stack and output
 * goes straight into the caller's buffer.
 */
#include "cache/cache_int.h"

#include <errno.h>

#include "json.h"

#define RENDER_STOP 1 /* max_rows reached: ends the scan, not an error */

struct render {
    const struct cache_source *src;
    struct buf *out;
};

/* State of one array being rendered (the root or a to-many relation). */
struct level {
    struct render *r;
    const struct cache_plan_node *node;
    const struct cache_plan *plan; /* root only: filter and max_rows */
    uint64_t count;
};

static int row_render(struct render *r, const struct cache_plan_node *n, struct slice row);

static int to_one_render(struct render *r, const struct cache_plan_node *c,
                         const struct cache_row_view *v)
{
    int64_t fk;
    struct slice target;
    int rc = cache_json_int(cache_row_member_value(v, c->via->fk), &fk);
    if (rc == 0)
        rc = r->src->ops->get(r->src->ctx, c->model, (uint64_t)fk, &target);
    if (rc == -ENOENT) { /* null foreign key, or a target not (yet) present: null */
        buf_append(r->out, "null", 4);
        return 0;
    }
    return rc < 0 ? rc : row_render(r, c, target);
}

static int child_cb(void *arg, struct slice row)
{
    struct level *l = arg;
    if (l->count++)
        buf_putc(l->r->out, ',');
    return row_render(l->r, l->node, row);
}

static int to_many_render(struct render *r, const struct cache_plan_node *c,
                          const struct cache_row_view *v)
{
    struct level l = {r, c, NULL, 0};
    buf_putc(r->out, '[');
    int rc = r->src->ops->children(r->src->ctx, c->via, (int64_t)v->pk, child_cb, &l);
    buf_putc(r->out, ']');
    return rc;
}

static void scalars_render(struct buf *out, const struct cache_plan_node *n,
                           const struct cache_row_view *v)
{
    if (n->n_fields == n->model->n_fields) { /* every scalar, in order: the stored body as is */
        buf_append(out, v->body, v->body_len);
        return;
    }
    for (size_t i = 0; i < n->n_fields; i++) {
        struct slice s = cache_row_member(v, n->fields[i]->index);
        if (i)
            buf_putc(out, ',');
        buf_append(out, s.p, s.len);
    }
}

static int relations_render(struct render *r, const struct cache_plan_node *n,
                            const struct cache_row_view *v)
{
    for (size_t i = 0; i < n->n_children; i++) {
        const struct cache_plan_node *c = &n->children[i];
        if (i || n->n_fields)
            buf_putc(r->out, ',');
        json_put_str(r->out, c->via->name, strlen(c->via->name));
        buf_putc(r->out, ':');
        int rc = c->via->to_many ? to_many_render(r, c, v) : to_one_render(r, c, v);
        if (rc)
            return rc;
    }
    return 0;
}

static int view_render(struct render *r, const struct cache_plan_node *n, const struct cache_row_view *v)
{
    buf_putc(r->out, '{');
    scalars_render(r->out, n, v);
    int rc = relations_render(r, n, v);
    buf_putc(r->out, '}');
    return rc;
}

static int row_render(struct render *r, const struct cache_plan_node *n, struct slice row)
{
    struct cache_row_view v;
    int rc = cache_row_view(row, n->model, &v);
    return rc < 0 ? rc : view_render(r, n, &v);
}

static bool where_match(const struct cache_plan *p, const struct cache_row_view *v)
{
    for (size_t i = 0; i < p->n_where; i++)
        if (!slice_eq(cache_row_member_value(v, p->where[i].field), p->where[i].json))
            return false;
    return true;
}

static int root_cb(void *arg, struct slice row)
{
    struct level *l = arg;
    const struct cache_plan *p = l->plan;
    struct cache_row_view v;
    int rc = cache_row_view(row, l->node->model, &v);
    if (rc < 0)
        return rc;
    if (!where_match(p, &v))
        return 0;
    if (l->count++)
        buf_putc(l->r->out, ',');
    if ((rc = view_render(l->r, l->node, &v)) != 0)
        return rc;
    return p->max_rows && l->count >= p->max_rows ? RENDER_STOP : 0;
}

int cache_query_render(const struct cache_plan *p, const struct cache_source *src, struct buf *out)
{
    size_t start = out->len;
    struct render r = {src, out};
    struct level l = {&r, &p->root, p, 0};
    buf_putc(out, '[');
    int rc = src->ops->scan(src->ctx, p->root.model, root_cb, &l);
    if (rc == RENDER_STOP)
        rc = 0;
    if (rc > 0) /* a source callback must not return a positive code of its own */
        rc = -EIO;
    if (rc < 0) {
        out->len = start; /* never half an answer */
        return rc;
    }
    buf_putc(out, ']');
    return 0;
}

/* One root key of a since answer: its row, or a place in `deleted`. */
static int key_render(struct level *l, uint64_t key, struct buf *deleted, size_t *n_deleted)
{
    struct slice row;
    struct cache_row_view v;
    int rc = l->r->src->ops->get(l->r->src->ctx, l->node->model, key, &row);
    if (rc == 0 && (rc = cache_row_view(row, l->node->model, &v)) == 0 && !where_match(l->plan, &v))
        rc = -ENOENT; /* filtered out now: gone for this request */
    if (rc == -ENOENT) {
        if ((*n_deleted)++)
            buf_putc(deleted, ',');
        json_put_i64(deleted, (int64_t)key);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (l->count++)
        buf_putc(l->r->out, ',');
    return view_render(l->r, l->node, &v);
}

int cache_query_render_keys(const struct cache_plan *p, const struct cache_source *src,
                            const uint64_t *keys, size_t n, struct buf *data, struct buf *deleted)
{
    size_t start = data->len, dstart = deleted->len, n_deleted = 0;
    struct render r = {src, data};
    struct level l = {&r, &p->root, p, 0};
    buf_putc(data, '[');
    buf_putc(deleted, '[');
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = key_render(&l, keys[i], deleted, &n_deleted);
    if (rc > 0)
        rc = -EIO;
    if (rc < 0) {
        data->len = start;
        deleted->len = dstart;
        return rc;
    }
    buf_putc(data, ']');
    buf_putc(deleted, ']');
    return 0;
}

/* ---- the LMDB source ------------------------------------------------------------ */

static int lmdb_get(void *ctx, const struct schema_model *m, uint64_t pk, struct slice *row)
{
    return cache_row_get(ctx, m, pk, row);
}

static int lmdb_scan(void *ctx, const struct schema_model *m, cache_row_cb cb, void *arg)
{
    return cache_scan(ctx, m, cb, arg);
}

static int lmdb_children(void *ctx, const struct schema_relation *r, int64_t fk, cache_row_cb cb,
                         void *arg)
{
    return cache_children(ctx, r, fk, cb, arg);
}

static const struct cache_source_ops lmdb_ops = {lmdb_get, lmdb_scan, lmdb_children};

struct cache_source cache_source_lmdb(struct cache_rd *rd) { return (struct cache_source){&lmdb_ops, rd}; }
