/*
 * Patching a rendered answer: after a change to k of an answer's N root
 * rows, the next answer renders those k rows and copies the bytes of the
 * others from the answer before, instead of rendering all N again.
 *
 * The answer before comes with its row table (cache_rows: each root row's
 * key and where its bytes start, recorded as it was rendered). The change
 * log names every root row whose rendering may differ since that answer's
 * data version (cache_since_keys: rows of the root model changed, inserted
 * or deleted, and rows whose included relations, or the models their
 * filters, counts and orders read, changed, mapped up through the
 * relations). The new answer walks the named keys in key order: the run
 * of old rows before each one is copied with a single memcpy (the commas
 * between them included), the named row is looked up and rendered as a
 * full render would render it, or left out when it is gone or no longer
 * passes the filters. The row table of the result is written as it goes,
 * so patches chain.
 *
 * This is right only when the full answer is "every root row that passes
 * the filters, in key order, each rendered from what the change log
 * covers": cache_plan_patchable() says which plans are so. Anything that
 * depends on other rows (take, skip, cursor, distinct, maxRows, counts of
 * root rows) or on data the log does not map to root rows (a cursor row
 * found by a unique value anywhere in a model) is rendered in full
 * instead. Relation filters, `_count` and orderBy through relations below
 * the root are mapped (since.c), so they patch.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>

/* A node whose rendering of a row depends only on rows the change log maps
 * up to it (cache_since_keys): its own, its includes', and those its
 * relation filters, `_count` and orderBy through relations read. A cursor
 * is the exception: its row is found by a unique value anywhere in the
 * model, which maps to no row. */
static bool node_local(const struct cache_plan_node *n)
{
    if (n->cursor_field)
        return false;
    for (size_t i = 0; i < n->n_children; i++)
        if (!node_local(&n->children[i]))
            return false;
    return true;
}

bool cache_plan_patchable(const struct cache_plan *p)
{
    const struct cache_plan_node *r = &p->root;
    return !p->count && !p->max_rows && !r->n_order && !r->has_take && !r->skip &&
           !r->n_distinct && node_local(r);
}

/* The first old row whose key is >= key, from lo on. */
static size_t lower_bound(const struct cache_rows *r, size_t lo, uint64_t key)
{
    size_t hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->pk[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct patch {
    struct cache_level *l;
    struct slice old;
    const struct cache_rows *from;
    struct cache_rows *rows;
    size_t start; /* the new array's '[' in out */
};

/* Copies old rows [i, e), with the commas between them, as one run. */
static void run_copy(struct patch *pt, size_t i, size_t e)
{
    if (i == e)
        return;
    struct buf *out = pt->l->r->out;
    if (pt->l->emitted)
        buf_putc(out, ',');
    size_t at = out->len - pt->start, base = pt->from->off[i];
    for (size_t t = i; t < e; t++)
        cache_rows_add(pt->rows, pt->from->pk[t], pt->from->off[t] - base + at);
    buf_append(out, pt->old.p + base, pt->from->off[e] - 1 - base);
    pt->l->emitted += e - i;
}

/* Renders the named root row, or nothing when it is gone or filtered out. */
static int key_patch(struct patch *pt, uint64_t key)
{
    struct buf *out = pt->l->r->out;
    size_t at = out->len - pt->start + (pt->l->emitted ? 1 : 0);
    size_t n = pt->rows->n;
    cache_rows_add(pt->rows, key, at);
    int rc = cache_render_root_key(pt->l, key);
    if (rc == -ENOENT) {
        pt->rows->n = n;
        return 0;
    }
    return rc;
}

static int patch_run(struct patch *pt, const uint64_t *keys, size_t n_keys)
{
    size_t i = 0;
    for (size_t k = 0; k < n_keys; k++) {
        size_t e = lower_bound(pt->from, i, keys[k]);
        run_copy(pt, i, e);
        i = e < pt->from->n && pt->from->pk[e] == keys[k] ? e + 1 : e;
        int rc = key_patch(pt, keys[k]);
        if (rc < 0)
            return rc;
    }
    run_copy(pt, i, pt->from->n);
    return 0;
}

int cache_query_patch(const struct cache_plan *p, struct cache_rd *rd, uint64_t since,
                      struct slice old, const struct cache_rows *old_rows, struct buf *out,
                      size_t max_bytes, struct cache_rows *rows, size_t *n_changed)
{
    rows->n = 0;
    *n_changed = 0;
    if (!cache_plan_patchable(p))
        return -ENOTSUP;
    uint64_t *keys;
    size_t n_keys;
    int rc = cache_since_keys(rd, p, since, &keys, &n_keys);
    if (rc < 0)
        return rc;
    *n_changed = n_keys;
    if (n_keys > old_rows->n / 2 + 1) {
        free(keys);
        return -E2BIG;
    }
    struct cache_source src = cache_source_lmdb(rd);
    struct cache_render r = {.src = &src, .out = out, .ev = {.src = &src}, .start = out->len};
    struct cache_level l = {.r = &r, .node = &p->root, .plan = p};
    struct patch pt = {&l, old, old_rows, rows, out->len};
    buf_init(&r.ev.tmp, 0);
    /* About the old answer's size: one allocation, not a doubling series
     * that copies the answer again at each step. */
    buf_reserve(out, old.len + old.len / 16 + 256);
    cache_rows_reserve(rows, old_rows->n + n_keys + 1);
    buf_putc(out, '[');
    rc = patch_run(&pt, keys, n_keys);
    buf_putc(out, ']');
    buf_fini(&r.ev.tmp);
    free(keys);
    if (rc == 0 && max_bytes && out->len - pt.start > max_bytes)
        rc = -EFBIG;
    if (rc > 0)
        rc = -EIO;
    if (rc < 0) {
        out->len = pt.start;
        rows->n = 0;
        return rc;
    }
    cache_rows_add(rows, 0, out->len - pt.start);
    rows->n--; /* the end mark is off[n], not a row */
    return 0;
}
