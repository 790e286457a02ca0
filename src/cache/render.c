/*
 * Plan + rows -> the `data` array. Rows are read in place: a member is its
 * key (from the schema) and its stored value, relations
 * recurse through the source (LMDB or the live fallback's rows).
 *
 * Each array (the root, or a to-many relation of one row) is one level:
 * rows come from a scan or a relation index in key order and pass the
 * filters. Without orderBy, cursor, distinct or a negative take, a level
 * streams: rows render as they arrive and the scan stops at `take`. Else
 * the level collects the matching rows (views into the snapshot), sorts
 * them, cuts at the cursor and applies distinct, skip and take (page.c),
 * then renders them. Output goes straight into the caller's buffer.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>

#include "json.h"

#define RENDER_STOP 1 /* take or max_rows reached: ends the scan, not an error */

static int row_render(struct cache_render *r, const struct cache_plan_node *n, struct slice row);
static int level_emit(struct cache_level *l, const struct cache_row_view *v);

static int to_one_render(struct cache_render *r, const struct cache_plan_node *c,
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

static int to_many_render(struct cache_render *r, const struct cache_plan_node *c,
                          const struct cache_row_view *v)
{
    struct cache_level l = {.r = r, .node = c, .parent_pk = v->pk, .emit = level_emit};
    buf_putc(r->out, '[');
    int rc = cache_level_run(&l);
    buf_putc(r->out, ']');
    return rc;
}

static void scalars_render(struct buf *out, const struct cache_plan_node *n,
                           const struct cache_row_view *v)
{
    if (n->n_fields == n->model->n_fields) /* every scalar, in order */
        cache_row_members(v, n->model, out);
    else
        cache_row_select(v, n->fields, n->n_fields, out);
}

struct count_ctx {
    struct cache_eval *ev;
    const struct cache_count *c;
    uint64_t n;
};

static int count_cb(void *arg, struct slice row)
{
    struct count_ctx *cc = arg;
    if (!cc->c->where) {
        cc->n++;
        return 0;
    }
    struct cache_row_view v;
    int rc = cache_row_view(row, cc->c->rel->target, &v);
    if (rc == 0)
        rc = cache_filter_eval(cc->ev, cc->c->where, &v);
    if (rc < 0)
        return rc;
    cc->n += rc == CACHE_TRI_T;
    return 0;
}

/* "_count":{"rel":N,...} */
static int counts_render(struct cache_render *r, const struct cache_plan_node *n,
                         const struct cache_row_view *v)
{
    buf_puts(r->out, "\"_count\":{");
    for (size_t i = 0; i < n->n_counts; i++) {
        struct count_ctx cc = {&r->ev, &n->counts[i], 0};
        int rc = r->src->ops->count ? r->src->ops->count(r->src->ctx, cc.c, (int64_t)v->pk, &cc.n)
                 : !cc.c->where     ? cache_source_children_count(r->src, cc.c->rel, (int64_t)v->pk, &cc.n)
                 : r->src->ops->children(r->src->ctx, cc.c->rel, (int64_t)v->pk, count_cb, &cc);
        if (rc < 0)
            return rc;
        if (i)
            buf_putc(r->out, ',');
        json_put_cstr(r->out, cc.c->rel->name);
        buf_putc(r->out, ':');
        json_put_u64(r->out, cc.n);
    }
    buf_putc(r->out, '}');
    return 0;
}

static int relation_render(struct cache_render *r, const struct cache_plan_node *c,
                           const struct cache_row_view *v)
{
    json_put_str(r->out, c->via->name, strlen(c->via->name));
    buf_putc(r->out, ':');
    return c->via->to_many ? to_many_render(r, c, v) : to_one_render(r, c, v);
}

static int relations_render(struct cache_render *r, const struct cache_plan_node *n,
                            const struct cache_row_view *v)
{
    bool first = n->n_fields == 0;
    for (size_t i = 0; i <= n->n_children; i++) {
        int rc = 0;
        if (n->has_counts && n->counts_at == i) {
            if (!first)
                buf_putc(r->out, ',');
            first = false;
            if ((rc = counts_render(r, n, v)) != 0)
                return rc;
        }
        if (i == n->n_children)
            break;
        if (!first)
            buf_putc(r->out, ',');
        first = false;
        if ((rc = relation_render(r, &n->children[i], v)) != 0)
            return rc;
    }
    return 0;
}

/* A select in request order (n->items): Prisma's order for a select. */
static int items_render(struct cache_render *r, const struct cache_plan_node *n,
                        const struct cache_row_view *v)
{
    for (size_t i = 0; i < n->n_items; i++) {
        const struct cache_plan_item *it = &n->items[i];
        if (i)
            buf_putc(r->out, ',');
        int rc = 0;
        if (it->kind == CACHE_ITEM_FIELD) {
            const struct schema_field *f = &n->model->fields[it->index];
            struct slice s = cache_row_field(v, it->index);
            buf_append(r->out, f->key + 1, f->key_len - 1);
            buf_append(r->out, s.p, s.len);
        } else if (it->kind == CACHE_ITEM_COUNTS) {
            rc = counts_render(r, n, v);
        } else {
            rc = relation_render(r, &n->children[it->index], v);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int view_render(struct cache_render *r, const struct cache_plan_node *n,
                       const struct cache_row_view *v)
{
    buf_putc(r->out, '{');
    int rc;
    if (n->items) {
        rc = items_render(r, n, v);
    } else {
        scalars_render(r->out, n, v);
        rc = relations_render(r, n, v);
    }
    buf_putc(r->out, '}');
    return rc;
}

static int row_render(struct cache_render *r, const struct cache_plan_node *n, struct slice row)
{
    struct cache_row_view v;
    int rc = cache_row_view(row, n->model, &v);
    return rc < 0 ? rc : view_render(r, n, &v);
}

/* Past max_bytes the root keeps rendering only to learn the answer's size:
 * each row is measured and dropped, so memory stays at the limit. */
static void size_check(struct cache_render *r, size_t row_start)
{
    if (!r->max_bytes)
        return;
    if (!r->over && r->out->len - r->start > r->max_bytes)
        r->over = true;
    if (r->over) {
        r->dropped += r->out->len - row_start;
        r->out->len = row_start;
    }
}

static int level_emit(struct cache_level *l, const struct cache_row_view *v)
{
    struct cache_render *r = l->r;
    const struct cache_plan *p = l->plan;
    if (p && p->max_rows && l->emitted >= p->max_rows)
        return RENDER_STOP;
    l->emitted++;
    if (r->counting && p)
        return 0;
    size_t row_start = r->out->len;
    if (l->emitted > 1)
        buf_putc(r->out, ',');
    if (p && r->rows)
        cache_rows_add(r->rows, v->pk, r->out->len - r->start);
    int rc = view_render(r, l->node, v);
    if (rc == 0 && p)
        size_check(r, row_start);
    return rc;
}

/* How much of each row the root's scan reads, a hint for the LMDB scan's
 * prefetch (cache_scan_range): a select of leading fields only, without
 * filter or order, reads a row's head (its header, offset table and first
 * HEAD_FIELDS members, about HEAD_BODY bytes); anything else the whole row
 * (0). Fetching whole rows for a 2-field select of 50k companies took 40%
 * longer than heads, heads for the full records 35% longer than whole rows
 * (docs/cache.md). */
#define HEAD_FIELDS 8u
#define HEAD_BODY 192u
#define NODE_HEAD 16u /* LMDB's node header and the 8-byte key before the row */

static size_t root_row_bytes(const struct cache_plan *p)
{
    const struct cache_plan_node *n = &p->root;
    if (p->n_where || n->where || n->n_order || n->n_distinct || n->cursor_field ||
        n->n_fields == n->model->n_fields)
        return 0;
    for (size_t i = 0; i < n->n_fields; i++)
        if (n->fields[i]->index >= HEAD_FIELDS)
            return 0;
    for (size_t i = 0; i < n->n_children; i++)
        if (!n->children[i].via->to_many && n->children[i].via->fk->index >= HEAD_FIELDS)
            return 0;
    return NODE_HEAD + cache_row_head_bytes(n->model) + HEAD_BODY;
}

static const struct cache_source_ops lmdb_ops;

static int render_all(const struct cache_plan *p, const struct cache_source *src, struct buf *out,
                      size_t max_bytes, size_t *size, struct cache_rows *rows)
{
    struct cache_rd *rd = src->ops == &lmdb_ops ? src->ctx : NULL;
    if (rd)
        rd->scan_row_bytes = root_row_bytes(p);
    size_t start = out->len;
    struct cache_render r = {.src = src, .out = out, .ev = {.src = src}, .start = start,
                             .max_bytes = max_bytes, .counting = p->count, .rows = rows};
    buf_init(&r.ev.tmp, 0);
    struct cache_level l = {.r = &r, .node = &p->root, .plan = p, .emit = level_emit};
    if (!p->count)
        buf_putc(out, '[');
    int rc = cache_level_run(&l);
    if (rd)
        rd->scan_row_bytes = 0;
    buf_fini(&r.ev.tmp);
    if (rc == RENDER_STOP)
        rc = 0;
    if (rc > 0) /* a source callback must not return a positive code of its own */
        rc = -EIO;
    if (rc == 0 && r.over) {
        if (size)
            *size = out->len - start + 1 + r.dropped;
        rc = -EFBIG;
    }
    if (rc < 0) {
        out->len = start; /* never half an answer */
        return rc;
    }
    if (p->count)
        json_put_u64(out, l.emitted);
    else
        buf_putc(out, ']');
    if (size)
        *size = out->len - start;
    if (rows)
        cache_rows_add(rows, 0, out->len - start); /* off[n]: the array's end */
    return 0;
}

int cache_query_render(const struct cache_plan *p, const struct cache_source *src, struct buf *out,
                       size_t max_bytes, size_t *size)
{
    return render_all(p, src, out, max_bytes, size, NULL);
}

int cache_query_render_rows(const struct cache_plan *p, const struct cache_source *src,
                            struct buf *out, size_t max_bytes, size_t *size,
                            struct cache_rows *rows)
{
    rows->n = 0;
    int rc = render_all(p, src, out, max_bytes, size, rows);
    rows->n = rc == 0 ? rows->n - 1 : 0; /* the end mark is off[n], not a row */
    return rc;
}

int cache_render_root_key(struct cache_level *l, uint64_t key)
{
    const struct cache_plan_node *n = l->node;
    struct slice row;
    struct cache_row_view v;
    int rc = l->r->src->ops->get(l->r->src->ctx, n->model, key, &row);
    if (rc == 0 && (rc = cache_row_view(row, n->model, &v)) == 0) {
        if (!cache_level_fixed_match(l, &v))
            rc = -ENOENT;
        else if (n->where && (rc = cache_filter_eval(&l->r->ev, n->where, &v)) >= 0)
            rc = rc == CACHE_TRI_T ? 0 : -ENOENT;
    }
    if (rc < 0)
        return rc;
    if (l->emitted++)
        buf_putc(l->r->out, ',');
    return view_render(l->r, n, &v);
}

/* One root key of a since answer: its row, or a place in `deleted` when
 * it is gone or no longer passes the request's filters. */
static int key_render(struct cache_level *l, uint64_t key, struct buf *deleted, size_t *n_deleted)
{
    int rc = cache_render_root_key(l, key);
    if (rc == -ENOENT) {
        if ((*n_deleted)++)
            buf_putc(deleted, ',');
        json_put_i64(deleted, (int64_t)key);
        return 0;
    }
    return rc;
}

int cache_query_render_keys(const struct cache_plan *p, const struct cache_source *src,
                            const uint64_t *keys, size_t n, struct buf *data, struct buf *deleted)
{
    size_t start = data->len, dstart = deleted->len, n_deleted = 0;
    struct cache_render r = {.src = src, .out = data, .ev = {.src = src}, .start = start};
    struct cache_level l = {.r = &r, .node = &p->root, .plan = p, .emit = level_emit};
    buf_init(&r.ev.tmp, 0);
    buf_putc(data, '[');
    buf_putc(deleted, '[');
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = key_render(&l, keys[i], deleted, &n_deleted);
    buf_fini(&r.ev.tmp);
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

void cache_err_too_large(char *err, size_t errlen, size_t size, size_t max_bytes)
{
    /* MiB, rounded up: an answer just over the limit never reads "96 MB > 96 MB" */
    snprintf(err, errlen, "answer too large (%zu MB > %zu MB): page it with take and cursor",
             (size + (1u << 20) - 1) >> 20, max_bytes >> 20);
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

static int lmdb_children_count(void *ctx, const struct schema_relation *r, int64_t fk, uint64_t *n)
{
    return cache_children_count(ctx, r, fk, n);
}

static int lmdb_range(void *ctx, const struct schema_model *m, uint64_t from, bool from_end, bool back,
                      cache_row_cb cb, void *arg)
{
    return cache_scan_range(ctx, m, from, from_end, back, cb, arg);
}

static int lmdb_index(void *ctx, const struct schema_model *m, const struct schema_field *f,
                      const struct cache_sindex_range *r, cache_row_cb cb, void *arg)
{
    return cache_sindex_read(ctx, m, f, r, cb, arg);
}

static const struct cache_source_ops lmdb_ops = {
    .get = lmdb_get,
    .scan = lmdb_scan,
    .children = lmdb_children,
    .range = lmdb_range,
    .index = lmdb_index,
    .children_count = lmdb_children_count,
};

struct cache_source cache_source_lmdb(struct cache_rd *rd) { return (struct cache_source){&lmdb_ops, rd}; }
