/*
 * One level of an answer (the root's rows, or one row's to-many relation):
 * filter, order, cursor, distinct, skip and take, as Prisma's findMany
 * applies them:
 *   - rows matching `where` (and, at the root, the collector's filter),
 *     in orderBy order, the primary key ascending breaking ties;
 *   - cursor: from the cursor row's position on (inclusive), found by its
 *     unique field whether or not it matches `where`; no such row, no rows;
 *     where Prisma pages in memory (cache_plan_cursor_in_memory) the cursor row must
 *     be among the matching rows, else the page is empty;
 *     a cursor row with nulls in its orderBy values keeps its place in the
 *     order (nulls first ascending), as Prisma's cursor conditions do;
 *   - a negative take reads backwards from the end (or from the cursor),
 *     and the rows still come out in the requested order;
 *   - distinct keeps the first row of each value combination in reading
 *     order, before skip and take (Prisma does it in memory, so values
 *     compare exactly, not by the collation).
 *
 * ACCESS PATHS: the planner (cache_plan_path) picks how a level reads its
 * rows; here they are read. The key's B-tree is read in the page's
 * reading direction, starting at the cursor (or at a bound of the where's
 * key conditions: equals/in/gt/gte/lt/lte on the key, ANDed at the top)
 * and stopping once the page is full or past the other bound: a cursor
 * page costs O(log n) plus the rows it returns; `where: {key: 5}` is one
 * lookup. A secondary index is read the same way when the page is in its
 * order, or within the where's bounds on its field and then sorted.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>
#include <xxhash.h>

#define PAGE_STOP 1 /* the level has all it needs: ends the scan, not an error */

struct pick {
    struct slice row;
    uint64_t pk;
    const struct slice *keys; /* n_order values */
};

static bool streams(const struct cache_plan_node *n)
{
    return !n->n_order && !n->cursor_field && !n->n_distinct && !(n->has_take && n->take < 0);
}

/* Rows arrive from the source in the page's order (or its reverse). */
static bool keyed(const struct cache_level *l) { return l->access != CACHE_ACCESS_ALL; }

/* Rows are kept until all are read, then sorted and paged. */
static bool collects(const struct cache_level *l)
{
    return (!streams(l->node) || l->shuffled) && !keyed(l);
}

static int pick_push(struct cache_level *l, struct slice row, uint64_t pk)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->rows = xrealloc(l->rows, l->cap * sizeof *l->rows);
    }
    l->rows[l->n++] = (struct pick){row, pk, NULL};
    return 0;
}

static uint64_t topk_size(const struct cache_plan_node *n);
static int topk_push(struct cache_level *l, struct slice row, const struct cache_row_view *v,
                     uint64_t k);

static int candidate_cb(void *arg, struct slice row)
{
    struct cache_level *l = arg;
    const struct cache_plan_node *n = l->node;
    struct cache_row_view v;
    int rc = cache_row_view(row, n->model, &v);
    if (rc < 0)
        return rc;
    if (l->bounded && (l->back ? (int64_t)v.pk < l->bound : (int64_t)v.pk > l->bound))
        return PAGE_STOP; /* past the key range the where allows */
    if (!cache_level_fixed_match(l, &v))
        return 0;
    if (n->where && (rc = cache_filter_eval(&l->r->ev, n->where, &v)) != CACHE_TRI_T)
        return rc < 0 ? rc : 0;
    if (collects(l)) {
        uint64_t k = topk_size(n);
        return k ? topk_push(l, row, &v, k) : pick_push(l, row, v.pk);
    }
    if (l->skipped < n->skip) {
        l->skipped++;
        return 0;
    }
    uint64_t want = n->take < 0 ? (uint64_t)-(n->take + 1) + 1 : (uint64_t)n->take;
    if (l->access == CACHE_ACCESS_REVERSED) /* emitted in page order once read */
        rc = pick_push(l, row, v.pk);
    else
        rc = l->emit(l, &v);
    if (rc != 0)
        return rc;
    size_t got = l->access == CACHE_ACCESS_REVERSED ? l->n : l->emitted;
    return n->has_take && got >= want ? PAGE_STOP : 0;
}

/* The root's scan yields rows in key order: apply the collector's fixed filter. */
bool cache_level_fixed_match(const struct cache_level *l, const struct cache_row_view *v)
{
    const struct cache_plan *p = l->plan;
    for (size_t i = 0; p && i < p->n_where; i++)
        if (!slice_eq(cache_row_member_value(v, p->where[i].field), p->where[i].json))
            return false;
    return true;
}

/* ---- ordering ------------------------------------------------------------------- */

struct sort_ctx {
    const struct cache_plan_node *n;
    struct buf *tmp;
};

static int pick_cmp(const void *a, const void *b, void *arg)
{
    const struct pick *x = a, *y = b;
    const struct sort_ctx *s = arg;
    return cache_order_cmp(s->n->order, s->n->n_order, x->keys, x->pk, y->keys, y->pk, s->tmp);
}

static int keys_of(struct cache_level *l, const struct cache_row_view *v, struct slice *keys)
{
    const struct cache_plan_node *n = l->node;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < n->n_order; k++)
        rc = cache_order_value(l->r->src, &n->order[k], &l->arena, v, &keys[k]);
    return rc;
}

static int keys_fill(struct cache_level *l, struct slice *keys, struct pick *p)
{
    struct cache_row_view v;
    int rc = cache_row_view(p->row, l->node->model, &v);
    p->keys = keys;
    return rc ? rc : keys_of(l, &v, keys);
}

/* ---- top-k ------------------------------------------------------------------------- *
 *
 * A collected level with take, and no cursor or distinct (which need every
 * matching row), keeps only the skip + |take| rows its page can return:
 * a bounded heap whose top is the worst of them (the last in page order;
 * the first, for a negative take, which reads from the end), replaced when
 * a better row arrives. Memory is those rows and their sort keys, not
 * every matching row's (about 33 bytes a row: 12 MB for 20 contacts by an
 * unindexed field out of 360k). The order is total (the primary key breaks
 * ties), so the heap holds exactly the rows the full sort's page starts
 * with; level_finish sorts them as it sorts every collected level. */

static uint64_t topk_size(const struct cache_plan_node *n)
{
    if (!n->has_take || n->cursor_field || n->n_distinct)
        return 0;
    uint64_t t = n->take < 0 ? (uint64_t)-(n->take + 1) + 1 : (uint64_t)n->take;
    return t > UINT64_MAX - n->skip ? 0 : t + n->skip; /* past any count: the full sort */
}

/* > 0: a is worse for the page than b (further from its start). */
static int topk_worse(struct cache_level *l, const struct pick *a, const struct pick *b)
{
    const struct cache_plan_node *n = l->node;
    int c = cache_order_cmp(n->order, n->n_order, a->keys, a->pk, b->keys, b->pk, &l->r->ev.tmp);
    return n->take < 0 ? -c : c;
}

static void pick_swap(struct pick *a, struct pick *b)
{
    struct pick t = *a;
    *a = *b;
    *b = t;
}

static void topk_up(struct cache_level *l, size_t i)
{
    while (i > 0 && topk_worse(l, &l->rows[i], &l->rows[(i - 1) / 2]) > 0) {
        pick_swap(&l->rows[i], &l->rows[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

static void topk_down(struct cache_level *l, size_t i)
{
    for (;;) {
        size_t w = i, c = 2 * i + 1;
        if (c < l->n && topk_worse(l, &l->rows[c], &l->rows[w]) > 0)
            w = c;
        if (c + 1 < l->n && topk_worse(l, &l->rows[c + 1], &l->rows[w]) > 0)
            w = c + 1;
        if (w == i)
            return;
        pick_swap(&l->rows[i], &l->rows[w]);
        i = w;
    }
}

/* Room for one more row below k, and the spare key slot: the keys move
 * to a new block in row order (row i's keys at slot i). */
static void topk_grow(struct cache_level *l, uint64_t k)
{
    size_t no = l->node->n_order, cap = l->cap ? l->cap * 2 : 64;
    if (cap > k)
        cap = (size_t)k;
    struct slice *keys = xmalloc((cap + 1) * no * sizeof *keys + 1);
    for (size_t i = 0; i < l->n; i++) {
        memcpy(keys + i * no, l->rows[i].keys, no * sizeof *keys);
        l->rows[i].keys = keys + i * no;
    }
    free(l->keys);
    l->keys = keys;
    l->rows = xrealloc(l->rows, cap * sizeof *l->rows);
    l->cap = cap;
}

static int topk_push(struct cache_level *l, struct slice row, const struct cache_row_view *v,
                     uint64_t k)
{
    size_t no = l->node->n_order;
    if (l->n < k && l->n == l->cap)
        topk_grow(l, k);
    /* A free slot: the next row's while filling, else the spare one past cap. */
    struct pick p = {row, v->pk, l->keys + (l->n < k ? l->n : l->cap) * no};
    int rc = keys_of(l, v, (struct slice *)p.keys);
    if (rc < 0)
        return rc;
    if (l->n < k) {
        l->rows[l->n++] = p;
        topk_up(l, l->n - 1);
        return 0;
    }
    if (topk_worse(l, &p, &l->rows[0]) >= 0)
        return 0; /* no better than the worst kept */
    memcpy((struct slice *)l->rows[0].keys, p.keys, no * sizeof *p.keys);
    l->rows[0].row = p.row;
    l->rows[0].pk = p.pk;
    topk_down(l, 0);
    return 0;
}

/* ---- cursor ------------------------------------------------------------------------ */

struct find_ctx {
    const struct cache_plan_node *n;
    struct buf *tmp;
    struct slice found;
};

static int find_cb(void *arg, struct slice row)
{
    struct find_ctx *f = arg;
    struct cache_row_view v;
    int rc = cache_row_view(row, f->n->model, &v);
    if (rc < 0)
        return rc;
    struct slice val = cache_row_member_value(&v, f->n->cursor_field);
    if (cache_value_cmp(f->n->cursor_field, val, f->n->cursor.json, f->tmp) != 0)
        return 0;
    f->found = row;
    return PAGE_STOP;
}

/* The cursor row, by primary key or a scan for its unique value; -ENOENT if none. */
static int cursor_row(struct cache_level *l, struct slice *row)
{
    const struct cache_plan_node *n = l->node;
    const struct cache_source *src = l->r->src;
    if (n->cursor_field->is_id)
        return src->ops->get(src->ctx, n->model, (uint64_t)n->cursor.i, row);
    struct find_ctx f = {n, &l->r->ev.tmp, {0}};
    int rc = src->ops->scan(src->ctx, n->model, find_cb, &f);
    if (rc < 0)
        return rc;
    *row = f.found;
    return f.found.len ? 0 : -ENOENT;
}

/* Prisma pages in memory (query plan "pagination" operations) when the
 * cursor's SQL condition cannot be exact: a relation level (paged per
 * parent), distinct, or an order on a nullable field or a relation path.
 * It then looks for the cursor row among the rows that matched, and finds
 * none when the cursor row does not match `where` (or is another
 * parent's): the page is empty. Otherwise the cursor only positions. */
bool cache_plan_cursor_in_memory(const struct cache_plan_node *n)
{
    if (n->via || n->n_distinct)
        return true;
    for (size_t k = 0; k < n->n_order; k++) /* a count is never null (COALESCE): exact */
        if (!n->order[k].count && (n->order[k].n_path || n->order[k].field->optional))
            return true;
    return false;
}

/* Does the cursor row match the level's filters? (the root's: a relation
 * level checks its collected rows instead) */
static int cursor_matches(struct cache_level *l, struct slice row)
{
    const struct cache_plan_node *n = l->node;
    struct cache_row_view v;
    int rc = cache_row_view(row, n->model, &v);
    if (rc < 0)
        return rc;
    if (!cache_level_fixed_match(l, &v))
        return 0;
    if (!n->where)
        return 1;
    rc = cache_filter_eval(&l->r->ev, n->where, &v);
    return rc < 0 ? rc : rc == CACHE_TRI_T;
}

/* Cuts rows[] (sorted) at the cursor: [*lo, *hi) remains. Where Prisma's
 * cursor condition is exact (orderBy on required fields only): the cursor
 * row positions, matching the where or not. */
static int cursor_cut(struct cache_level *l, struct sort_ctx *sc, size_t *lo, size_t *hi)
{
    const struct cache_plan_node *n = l->node;
    struct slice row;
    int rc = cursor_row(l, &row);
    if (rc == -ENOENT) {
        *lo = *hi = 0;
        return 0;
    }
    struct slice *keys = xmalloc((n->n_order + 1) * sizeof *keys);
    struct pick c = {row, cache_row_pk(row), NULL};
    if (rc == 0)
        rc = keys_fill(l, keys, &c);
    bool back = n->has_take && n->take < 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        int cmp = pick_cmp(&l->rows[i], &c, sc);
        if (!back && cmp < 0)
            *lo = i + 1;
        if (back && cmp > 0 && *hi > i)
            *hi = i;
    }
    free(keys);
    return rc;
}

/* ---- distinct ------------------------------------------------------------------------ */

struct seen {
    size_t *slot; /* index + 1 into picks, 0 = empty */
    size_t mask;
};

static uint64_t distinct_hash(const struct cache_plan_node *n, const struct cache_row_view *v)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n->n_distinct; i++) { /* chained: each value seeds the next */
        struct slice s = cache_row_member_value(v, n->distinct[i]);
        h = XXH3_64bits_withSeed(s.p, s.len, h + s.len);
    }
    return h;
}

static bool distinct_same(const struct cache_plan_node *n, const struct cache_row_view *a,
                          const struct cache_row_view *b)
{
    for (size_t i = 0; i < n->n_distinct; i++)
        if (!slice_eq(cache_row_member_value(a, n->distinct[i]), cache_row_member_value(b, n->distinct[i])))
            return false;
    return true;
}

/* An empty table for up to `rows` rows, at most half full. */
static struct seen seen_new(size_t rows)
{
    size_t cap = 16;
    while (cap < 2 * rows)
        cap *= 2;
    return (struct seen){xcalloc(cap, sizeof(size_t)), cap - 1};
}

/* The rows a page returns at most (take, or all), and whether it reads backwards. */
static uint64_t page_want(const struct cache_plan_node *n, bool *back)
{
    *back = n->has_take && n->take < 0;
    return !n->has_take ? UINT64_MAX : *back ? (uint64_t)-(n->take + 1) + 1 : (uint64_t)n->take;
}

/* true when row i repeats the distinct values of a row seen before (then not added). */
static bool seen_add(struct cache_level *l, struct seen *s, size_t i)
{
    const struct cache_plan_node *n = l->node;
    struct cache_row_view v, w;
    if (cache_row_view(l->rows[i].row, n->model, &v) < 0)
        return true;
    for (size_t h = distinct_hash(n, &v) & s->mask;; h = (h + 1) & s->mask) {
        if (!s->slot[h]) {
            s->slot[h] = i + 1;
            return false;
        }
        if (cache_row_view(l->rows[s->slot[h] - 1].row, n->model, &w) == 0 && distinct_same(n, &v, &w))
            return true;
    }
}

/* ---- a cursor Prisma pages in memory -----------------------------------------------------
 * Where its cursor condition cannot be exact (cache_plan_cursor_in_memory),
 * Prisma 7 takes the rows its SQL cursor condition returns, runs distinct
 * on them in memory, then looks for the cursor row among them
 * (client-engine-runtime: distinctBy, then paginate's findIndex; no cursor
 * row: an empty page) and pages from there. That condition is not "at or
 * after the cursor": a nullable orderBy field matches and follows anything
 * when either side is null, and a key through a relation follows when the
 * relation is missing, but a required one through a relation matches
 * nothing when the cursor's is missing. So earlier rows can take part in
 * distinct (and drop the cursor row), and later ones can be left out.
 * "Missing" is what Prisma's SQL tests: the path's last foreign key IS
 * NULL (or a row before it is missing); a key naming no row is not. */

static bool is_null_json(struct slice v) { return v.len == 4 && memcmp(v.p, "null", 4) == 0; }

/* Prisma's cursor condition for key k: x at or after (after) / equal to c. */
static bool key_passes(const struct cache_order *k, struct slice x, struct slice c, bool after, bool back,
                       struct buf *tmp)
{
    bool xn = is_null_json(x), cn = is_null_json(c);
    if (k->field && k->field->optional && (xn || cn)) /* x = c OR c IS NULL OR x IS NULL, and so for after */
        return true;
    if (xn || cn) /* a required field through a relation: after also when x's relation is missing */
        return after && xn && !cache_order_dangling(x);
    int cmp = cache_order_key_cmp(k, x, c, tmp);
    if (!after)
        return cmp == 0;
    return (k->desc != back) ? cmp < 0 : cmp > 0;
}

/* OR over i of (keys before i equal AND key i after), the primary key last and inclusive. */
static bool cursor_passes(const struct cache_plan_node *n, const struct pick *r, const struct pick *c,
                          bool back, struct buf *tmp)
{
    for (size_t i = 0; i < n->n_order; i++) {
        bool eq = true;
        for (size_t j = 0; j < i && eq; j++)
            eq = key_passes(&n->order[j], r->keys[j], c->keys[j], false, back, tmp);
        if (eq && key_passes(&n->order[i], r->keys[i], c->keys[i], true, back, tmp))
            return true;
    }
    for (size_t j = 0; j < n->n_order; j++)
        if (!key_passes(&n->order[j], r->keys[j], c->keys[j], false, back, tmp))
            return false;
    return back ? r->pk <= c->pk : r->pk >= c->pk;
}

/* Is collected row i the cursor row? (by its unique value) */
static bool is_cursor_row(struct cache_level *l, size_t i)
{
    const struct cache_plan_node *n = l->node;
    struct cache_row_view v;
    return cache_row_view(l->rows[i].row, n->model, &v) == 0 &&
           cache_value_cmp(n->cursor_field, cache_row_member_value(&v, n->cursor_field), n->cursor.json,
                           &l->r->ev.tmp) == 0;
}

/* The page from the cursor row on: over the rows in page order (from the
 * end for a negative take) that pass Prisma's cursor condition against c
 * (c NULL: the source applied it, n->cursor_applied), distinct first, then
 * the cursor row, skip and take. */
static void window_from_cursor(struct cache_level *l, const struct pick *c, struct buf *tmp, bool *keep)
{
    const struct cache_plan_node *n = l->node;
    bool back, found = false;
    uint64_t want = page_want(n, &back), skipped = 0, taken = 0;
    struct seen s = seen_new(l->n);
    for (size_t k = 0; k < l->n && taken < want; k++) {
        size_t i = back ? l->n - 1 - k : k;
        if ((c && !cursor_passes(n, &l->rows[i], c, back, tmp)) || (n->n_distinct && seen_add(l, &s, i)))
            continue;
        found |= c ? l->rows[i].pk == c->pk : is_cursor_row(l, i);
        if (!found)
            continue;
        if (skipped < n->skip) {
            skipped++;
            continue;
        }
        keep[i] = true;
        taken++;
    }
    free(s.slot);
}

/* Marks the page of a level whose cursor Prisma pages in memory (rows sorted, keys filled). */
static int cursor_window(struct cache_level *l, struct sort_ctx *sc, bool *keep)
{
    const struct cache_plan_node *n = l->node;
    if (n->cursor_applied) {
        window_from_cursor(l, NULL, sc->tmp, keep);
        return 0;
    }
    struct slice row;
    int rc = cursor_row(l, &row);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    struct slice *ckeys = xmalloc((n->n_order + 1) * sizeof *ckeys);
    struct pick c = {row, cache_row_pk(row), NULL};
    if ((rc = keys_fill(l, ckeys, &c)) == 0)
        window_from_cursor(l, &c, sc->tmp, keep);
    free(ckeys);
    return rc;
}

/* ---- the window ----------------------------------------------------------------------- */

/* Marks the rows of [lo, hi) the page returns, reading backwards for a negative take. */
static size_t window(struct cache_level *l, size_t lo, size_t hi, bool *keep)
{
    const struct cache_plan_node *n = l->node;
    bool back;
    uint64_t want = page_want(n, &back), skipped = 0, taken = 0;
    struct seen s = n->n_distinct ? seen_new(hi - lo) : (struct seen){0};
    for (size_t k = 0; k < hi - lo && taken < want; k++) {
        size_t i = back ? hi - 1 - k : lo + k;
        if (n->n_distinct && seen_add(l, &s, i))
            continue;
        if (skipped < n->skip) {
            skipped++;
            continue;
        }
        keep[i] = true;
        taken++;
    }
    free(s.slot);
    return taken;
}

/* Emits the level's collected row i. */
static int emit_row(struct cache_level *l, size_t i)
{
    struct cache_row_view v;
    int rc = cache_row_view(l->rows[i].row, l->node->model, &v);
    return rc ? rc : l->emit(l, &v);
}

static int emit_kept(struct cache_level *l, const bool *keep)
{
    for (size_t i = 0; i < l->n; i++) {
        int rc = keep[i] ? emit_row(l, i) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

static int level_finish(struct cache_level *l)
{
    const struct cache_plan_node *n = l->node;
    bool heaped = l->keys != NULL; /* top-k: keys made as rows came, rows in heap order */
    struct slice *keys = heaped ? NULL : xmalloc((l->n * n->n_order + 1) * sizeof *keys);
    bool *keep = xcalloc(l->n + 1, sizeof *keep);
    struct sort_ctx sc = {n, &l->r->ev.tmp};
    int rc = 0;
    for (size_t i = 0; rc == 0 && !heaped && i < l->n; i++)
        rc = keys_fill(l, keys + i * n->n_order, &l->rows[i]);
    if (rc == 0 && (n->n_order || l->shuffled || heaped) && l->n > 1) /* rows is NULL when empty */
        qsort_r(l->rows, l->n, sizeof *l->rows, pick_cmp, &sc);
    size_t lo = 0, hi = l->n;
    if (rc == 0 && n->cursor_field && (n->cursor_applied || cache_plan_cursor_in_memory(n))) {
        lo = hi; /* no window: cursor_window marks the page */
        if ((rc = cursor_window(l, &sc, keep)) == 0)
            rc = emit_kept(l, keep);
    } else if (rc == 0 && n->cursor_field) {
        rc = cursor_cut(l, &sc, &lo, &hi);
    }
    if (rc == 0 && lo < hi) {
        window(l, lo, hi, keep);
        rc = emit_kept(l, keep);
    }
    free(keep);
    free(keys);
    return rc;
}

/* ---- the root's access path ------------------------------------------------------------ */

struct key_bounds {
    bool has_lo, has_hi, empty;
    int64_t lo, hi;                  /* inclusive */
    const struct cache_filter *in;   /* an `in` list on the key */
};

static void bound_tighten(struct key_bounds *b, const struct cache_filter *f)
{
    int64_t v = f->vals[0].i;
    bool lo = f->op == CACHE_F_GT || f->op == CACHE_F_GTE || f->op == CACHE_F_EQ;
    bool hi = f->op == CACHE_F_LT || f->op == CACHE_F_LTE || f->op == CACHE_F_EQ;
    if ((f->op == CACHE_F_GT && v == INT64_MAX) || (f->op == CACHE_F_LT && v == INT64_MIN)) {
        b->empty = true;
        return;
    }
    v += f->op == CACHE_F_GT ? 1 : f->op == CACHE_F_LT ? -1 : 0;
    if (lo && (!b->has_lo || v > b->lo))
        b->lo = v, b->has_lo = true;
    if (hi && (!b->has_hi || v < b->hi))
        b->hi = v, b->has_hi = true;
}

/* Key conditions every returned row must meet: the top-level AND chain. */
static void bounds_collect(const struct schema_model *m, const struct cache_filter *f,
                           struct key_bounds *b)
{
    if (!f)
        return;
    if (f->op == CACHE_F_AND) {
        for (size_t i = 0; i < f->n_sub; i++)
            bounds_collect(m, &f->sub[i], b);
        return;
    }
    if (f->field != m->pk || !f->n_vals || slice_eq(f->vals[0].json, slice_str("null")))
        return;
    if (f->op == CACHE_F_IN && !b->in)
        b->in = f;
    else if (f->op == CACHE_F_EQ || (f->op >= CACHE_F_LT && f->op <= CACHE_F_GTE))
        bound_tighten(b, f);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* where: {key: v} or {key: {in: [...]}}: one lookup per key, in reading order. */
static int keys_read(struct cache_level *l, int64_t *k, size_t n)
{
    const struct cache_source *src = l->r->src;
    qsort(k, n, sizeof *k, cmp_i64);
    int rc = 0;
    for (size_t j = 0; rc == 0 && j < n; j++) {
        size_t i = l->back ? n - 1 - j : j;
        if (j && k[i] == k[l->back ? i + 1 : i - 1])
            continue;
        struct slice row;
        rc = src->ops->get(src->ctx, l->node->model, (uint64_t)k[i], &row);
        if (rc == -ENOENT)
            rc = 0;
        else if (rc == 0)
            rc = candidate_cb(l, row);
    }
    return rc;
}

static int in_read(struct cache_level *l, const struct cache_filter *in)
{
    int64_t *k = xmalloc((in->n_vals + 1) * sizeof *k);
    for (size_t i = 0; i < in->n_vals; i++)
        k[i] = in->vals[i].i;
    int rc = keys_read(l, k, in->n_vals);
    free(k);
    return rc;
}

/* Reads a root whose order is its key: from the cursor or a bound, in the
 * reading direction, until the page is full. */
static int keyed_read(struct cache_level *l)
{
    const struct cache_plan_node *n = l->node;
    const struct cache_source *src = l->r->src;
    bool desc = n->n_order && n->order[0].desc, neg = n->has_take && n->take < 0;
    struct key_bounds b = {0};
    bounds_collect(n->model, n->where, &b);
    l->back = desc != neg;
    l->access = neg ? CACHE_ACCESS_REVERSED : CACHE_ACCESS_ORDERED;
    if (b.empty || (b.has_lo && b.has_hi && b.lo > b.hi))
        return 0;
    bool from_end = true;
    int64_t from = 0;
    if (n->cursor_field) {
        struct slice row;
        int rc = cursor_row(l, &row);
        if (rc < 0)
            return rc == -ENOENT ? 0 : rc;
        from = (int64_t)cache_row_pk(row);
        from_end = false;
    }
    const bool *has_start = l->back ? &b.has_hi : &b.has_lo;
    int64_t start = l->back ? b.hi : b.lo;
    if (*has_start && (from_end || (l->back ? start < from : start > from)))
        from = start, from_end = false;
    l->bounded = l->back ? b.has_lo : b.has_hi;
    l->bound = l->back ? b.lo : b.hi;
    if (b.in && !n->cursor_field)
        return in_read(l, b.in);
    if (b.has_lo && b.has_hi && b.lo == b.hi && !n->cursor_field)
        return keys_read(l, &b.lo, 1);
    if (from_end && !l->back) /* the whole table forwards: the prefetching scan */
        return src->ops->scan(src->ctx, n->model, candidate_cb, l);
    return src->ops->range(src->ctx, n->model, (uint64_t)from, from_end, l->back, candidate_cb, l);
}

/* The start of an index walk at the cursor row: its value and key. */
static int index_start(struct cache_level *l, const struct schema_field *f, struct buf *start,
                       struct cache_sindex_range *r)
{
    struct slice row, v;
    int rc = cursor_row(l, &row);
    if (rc == 0 && cache_plan_cursor_in_memory(l->node) && (rc = cursor_matches(l, row)) >= 0)
        rc = rc ? 0 : -ENOENT; /* not among the matching rows: an empty page */
    if (rc == 0)
        rc = cache_row_value(row, l->node->model, f, &v);
    if (rc == 0)
        rc = cache_sindex_value_key(f, v, &l->r->ev.tmp, start);
    r->start = buf_slice(start);
    r->start_pk = rc == 0 ? cache_row_pk(row) : 0;
    return rc;
}

/* Reads a level along a secondary index: in page order when the planner
 * says rows arrive so, else within the bounds, then sorted. -ENOTSUP
 * before any row when the source has no such index. */
static int index_read(struct cache_level *l, const struct cache_path *p)
{
    const struct cache_plan_node *n = l->node;
    const struct cache_source *src = l->r->src;
    if (!src->ops->index)
        return -ENOTSUP;
    struct buf lo, hi, start;
    buf_init(&lo, 0);
    buf_init(&hi, 0);
    buf_init(&start, 0);
    struct cache_sindex_range r = {0};
    int rc = 0;
    if (!cache_plan_index_bounds(n->where, p->field, &lo, &hi, &l->r->ev.tmp))
        goto out; /* no row can match */
    r.lo = lo.len ? buf_slice(&lo) : (struct slice){NULL, 0};
    r.hi = hi.len ? buf_slice(&hi) : (struct slice){NULL, 0};
    bool desc = n->n_order && n->order[0].desc, neg = n->has_take && n->take < 0;
    if (p->order_field) {
        l->access = neg ? CACHE_ACCESS_REVERSED : CACHE_ACCESS_ORDERED;
        r.back = desc != neg;
        r.pk_back = p->order_field == n->model->pk ? r.back : neg;
        if (n->cursor_field && (rc = index_start(l, p->field, &start, &r)) < 0)
            goto out;
    } else {
        l->shuffled = true;
    }
    rc = src->ops->index(src->ctx, n->model, p->field, &r, candidate_cb, l);
out:
    buf_fini(&start);
    buf_fini(&hi);
    buf_fini(&lo);
    return rc == -ENOENT ? 0 : rc; /* -ENOENT: no cursor row, no rows */
}

/* Page order from rows read backwards: emit what was collected, reversed. */
static int emit_reversed(struct cache_level *l)
{
    for (size_t i = l->n; i-- > 0;) {
        int rc = emit_row(l, i);
        if (rc)
            return rc;
    }
    return 0;
}

int cache_level_run(struct cache_level *l)
{
    const struct cache_plan_node *n = l->node;
    const struct cache_source *src = l->r->src;
    int rc = 0;
    if (n->has_take && n->take == 0)
        return 0;
    struct cache_path path;
    cache_plan_path(n, &path);
    if (path.kind == CACHE_PATH_CHILDREN && src->ops->node_rows)
        rc = src->ops->node_rows(src->ctx, n, (int64_t)l->parent_pk, candidate_cb, l);
    else if (path.kind == CACHE_PATH_CHILDREN)
        rc = src->ops->children(src->ctx, n->via, (int64_t)l->parent_pk, candidate_cb, l);
    else if (path.kind == CACHE_PATH_KEY)
        rc = keyed_read(l);
    else if (path.kind == CACHE_PATH_INDEX)
        rc = index_read(l, &path);
    if (path.kind == CACHE_PATH_SCAN || rc == -ENOTSUP) {
        l->access = CACHE_ACCESS_ALL;
        l->shuffled = false;
        rc = src->ops->scan(src->ctx, n->model, candidate_cb, l);
    }
    if (rc == PAGE_STOP)
        rc = 0;
    if (rc == 0 && l->access == CACHE_ACCESS_REVERSED)
        rc = emit_reversed(l);
    else if (rc == 0 && collects(l))
        rc = level_finish(l);
    free(l->rows);
    free(l->keys);
    cache_arena_free(&l->arena);
    l->rows = NULL;
    l->keys = NULL;
    l->n = l->cap = 0;
    return rc;
}
