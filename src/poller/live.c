/*
 * The live fallback: answers a plan straight from the source when the
 * cache cannot (a model not warm yet). The request's plan becomes SQL
 * (livesql.c): the root's rows filtered, ordered, cut at the cursor and
 * paged by the server; each relation level one statement per chunk of
 * parent keys (IN lists of bound keys, as Prisma does), filtered, ordered
 * and cut by the server; `_count` a GROUP BY; `count: true` a COUNT_BIG.
 * Every row is encoded with cache_row_encode() (the stored format) and the
 * renderer (cache_query_render) writes the answer from these rows through
 * an in-memory struct cache_source, from a copy of the plan without what
 * SQL already applied: it applies the rest (distinct, and per parent the
 * skip and take of a to-many relation) in the order SQL returned the rows,
 * so the bytes are the ones the cached path gives for the same data.
 * Connections come from a small pool of their own, opened on first use
 * and reopened after a failure.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "poller/login.h"


struct poller_live {
    const struct poller_db *db;
    const struct schema *schema;
    unsigned timeout_ms;     /* one request's whole budget */
    struct poller_conn *conns;
    bool *busy;
    unsigned n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* ---- in-memory rows ------------------------------------------------------ */

struct lrow {
    uint64_t pk;
    int64_t parent;   /* a to-many node's row: its parent's key */
    size_t off, len;  /* in its model's lset data */
};

struct lset { /* every row of one model fetched for the request, for get() */
    struct buf data;
    struct lrow *rows;
    size_t n, cap;
    bool sorted;
};

struct lrows {
    struct lrow *v;
    size_t n, cap;
};

struct lcount { /* (parent, n) of one `_count` entry, sorted by parent */
    const struct cache_count *c;
    int64_t *parent;
    uint64_t *n;
    size_t len, cap;
};

/* One node of the request: the rows its SQL returned, in that order
 * (a to-many node's grouped by parent, order kept within each), and what
 * the renderer sees of it. */
struct lnode {
    const struct cache_plan_node *req;
    struct cache_plan_node *copy;
    struct lrows rows;
    struct lcount *counts; /* req->n_counts */
};

struct lstore {
    const struct schema *s;
    const struct schema_model *root_model;
    struct lset *sets;
    struct lnode *nodes;
    size_t n_nodes, cap_nodes;
};

static void lrows_push(struct lrows *l, struct lrow r)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = r;
}

static void lset_push(struct lset *s, struct lrow r)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->rows = xrealloc(s->rows, s->cap * sizeof *s->rows);
    }
    s->rows[s->n++] = r;
    s->sorted = false;
}

static struct slice lrow_slice(const struct lset *s, const struct lrow *r)
{
    return (struct slice){buf_data(&s->data) + r->off, r->len};
}

static void lstore_init(struct lstore *st, const struct schema *s)
{
    memset(st, 0, sizeof *st);
    st->s = s;
    st->sets = xcalloc(s->n_models ? s->n_models : 1, sizeof *st->sets);
}

static void lnode_fini(struct lnode *n)
{
    free(n->rows.v);
    for (size_t i = 0; n->counts && i < n->req->n_counts; i++) {
        free(n->counts[i].parent);
        free(n->counts[i].n);
    }
    free(n->counts);
    if (n->copy) /* a copy lives in its parent's array (the root's in the plan copy) */
        free(n->copy->children);
}

static void lstore_fini(struct lstore *st)
{
    for (size_t i = 0; i < st->s->n_models; i++) {
        buf_fini(&st->sets[i].data);
        free(st->sets[i].rows);
    }
    for (size_t i = st->n_nodes; i-- > 0;) /* children first: their copies live in their parents' arrays */
        lnode_fini(&st->nodes[i]);
    free(st->nodes);
    free(st->sets);
}

/* The lnode of a request node (nodes are few: a linear search). */
static struct lnode *lnode_of(struct lstore *st, const struct cache_plan_node *n, bool copy)
{
    for (size_t i = 0; i < st->n_nodes; i++)
        if ((copy ? st->nodes[i].copy : st->nodes[i].req) == n)
            return &st->nodes[i];
    return NULL;
}

static int cmp_lrow(const void *a, const void *b)
{
    const struct lrow *x = a, *y = b;
    if (x->pk != y->pk)
        return x->pk < y->pk ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Sorts a model's rows by key and drops rows fetched twice (two plan nodes). */
static void lset_sort(struct lset *s)
{
    if (s->sorted)
        return;
    qsort(s->rows, s->n, sizeof *s->rows, cmp_lrow);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++)
        if (w == 0 || s->rows[w - 1].pk != s->rows[i].pk)
            s->rows[w++] = s->rows[i];
    s->n = w;
    s->sorted = true;
}

/* ---- the cache_source over the fetched rows ------------------------------- */

static int mem_get(void *ctx, const struct schema_model *m, uint64_t pk, struct slice *row)
{
    struct lstore *st = ctx;
    struct lset *s = &st->sets[m->id];
    lset_sort(s);
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->rows[mid].pk < pk)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == s->n || s->rows[lo].pk != pk)
        return -ENOENT;
    *row = lrow_slice(s, &s->rows[lo]);
    return 0;
}

/* The root's rows, in the order its SQL gave them (the page's order). */
static int mem_walk(struct lstore *st, const struct schema_model *m, bool back, cache_row_cb cb,
                    void *arg)
{
    if (m != st->root_model || !st->n_nodes)
        return -EINVAL; /* the renderer's copy of the plan scans nothing else */
    const struct lrows *r = &st->nodes[0].rows;
    for (size_t k = 0; k < r->n; k++) {
        int rc = cb(arg, lrow_slice(&st->sets[m->id], &r->v[back ? r->n - 1 - k : k]));
        if (rc)
            return rc;
    }
    return 0;
}

static int mem_scan(void *ctx, const struct schema_model *m, cache_row_cb cb, void *arg)
{
    return mem_walk(ctx, m, false, cb, arg);
}

/* The copy of the plan has no cursor and no key bounds: ranges are whole. */
static int mem_range(void *ctx, const struct schema_model *m, uint64_t from, bool from_end, bool back,
                     cache_row_cb cb, void *arg)
{
    (void)from;
    return from_end ? mem_walk(ctx, m, back, cb, arg) : -EINVAL;
}

/* Relation filters ran in SQL: the copy of the plan asks for none. */
static int mem_children(void *ctx, const struct schema_relation *r, int64_t fk, cache_row_cb cb,
                        void *arg)
{
    (void)ctx, (void)r, (void)fk, (void)cb, (void)arg;
    return -EINVAL;
}

static int mem_node_rows(void *ctx, const struct cache_plan_node *n, int64_t parent, cache_row_cb cb,
                         void *arg)
{
    struct lstore *st = ctx;
    struct lnode *ln = lnode_of(st, n, true);
    if (!ln)
        return -EINVAL;
    const struct lrows *r = &ln->rows;
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->v[mid].parent < parent)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct lset *s = &st->sets[n->model->id];
    for (size_t i = lo; i < r->n && r->v[i].parent == parent; i++) {
        int rc = cb(arg, lrow_slice(s, &r->v[i]));
        if (rc)
            return rc;
    }
    return 0;
}

static int mem_count(void *ctx, const struct cache_count *c, int64_t parent, uint64_t *n)
{
    struct lstore *st = ctx;
    for (size_t i = 0; i < st->n_nodes; i++) {
        struct lnode *ln = &st->nodes[i];
        for (size_t k = 0; ln->counts && k < ln->req->n_counts; k++) {
            const struct lcount *lc = &ln->counts[k];
            if (lc->c != c)
                continue;
            size_t lo = 0, hi = lc->len;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (lc->parent[mid] < parent)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            *n = lo < lc->len && lc->parent[lo] == parent ? lc->n[lo] : 0;
            return 0;
        }
    }
    return -EINVAL;
}

static const struct cache_source_ops mem_ops = {
    .get = mem_get,
    .scan = mem_scan,
    .children = mem_children,
    .range = mem_range,
    .node_rows = mem_node_rows,
    .count = mem_count,
};

/* ---- the renderer's copy of the plan ------------------------------------------
 * Each node without what its SQL already applied: where, orderBy and
 * cursor everywhere; at the root also skip and take when SQL paged it.
 * What remains (distinct; a to-many node's per-parent skip and take) the
 * renderer applies to the rows in the order SQL returned them. */

static struct lnode *lnode_add(struct lstore *st, const struct cache_plan_node *req)
{
    if (st->n_nodes == st->cap_nodes) {
        st->cap_nodes = st->cap_nodes ? st->cap_nodes * 2 : 8;
        st->nodes = xrealloc(st->nodes, st->cap_nodes * sizeof *st->nodes);
    }
    struct lnode *ln = &st->nodes[st->n_nodes++];
    memset(ln, 0, sizeof *ln);
    ln->req = req;
    return ln;
}

/* Adds lnodes for n and its subtree (n's first); copy receives n's copy.
 * Where Prisma pages a cursor in memory, SQL applied its cursor condition
 * but the page starts at the cursor row only after distinct: the copy
 * keeps the cursor for that (cursor_applied). */
static void copy_node(struct lstore *st, const struct cache_plan_node *n, struct cache_plan_node *copy)
{
    *copy = *n;
    copy->where = NULL;
    copy->order = NULL;
    copy->n_order = 0;
    copy->cursor_applied = n->cursor_field && cache_plan_cursor_in_memory(n);
    if (!copy->cursor_applied)
        copy->cursor_field = NULL;
    copy->children = xcalloc(n->n_children + 1, sizeof *copy->children);
    size_t at = st->n_nodes;
    lnode_add(st, n);
    st->nodes[at].counts = n->n_counts ? xcalloc(n->n_counts, sizeof *st->nodes[at].counts) : NULL;
    for (size_t i = 0; i < n->n_counts; i++)
        st->nodes[at].counts[i].c = &n->counts[i];
    for (size_t i = 0; i < n->n_children; i++)
        copy_node(st, &n->children[i], &copy->children[i]);
}

/* The lnodes of the plan, the first the root's; *out: the plan to render. */
static void plan_copy(struct lstore *st, const struct cache_plan *p, struct cache_plan *out)
{
    struct cache_plan_node *root = xcalloc(1, sizeof *root);
    copy_node(st, &p->root, root);
    st->nodes[0].copy = root;
    /* children's copies live in their parents' arrays: point the lnodes at them */
    for (size_t i = 0; i < st->n_nodes; i++) {
        const struct cache_plan_node *req = st->nodes[i].req;
        struct lnode *ln = &st->nodes[i];
        for (size_t c = 0; ln->copy && c < req->n_children; c++)
            lnode_of(st, &req->children[c], false)->copy = &ln->copy->children[c];
    }
    if (poller_lsql_root_paged(p) && !(root->has_take && root->take == 0)) {
        root->has_take = false;
        root->take = 0;
        root->skip = 0;
    }
    *out = *p;
    out->root = *root;
    out->arena = NULL;
    st->nodes[0].copy = &out->root; /* the renderer sees out->root */
    free(root);
}

/* ---- fetching -------------------------------------------------------------- */

struct fetch {
    struct poller_conn *c;
    struct lstore *st;
    struct poller_lsql q;
    char *err;
    size_t errlen;
};

/* Runs the built statement; rows of m go to its lset and to node (parent
 * read from the `parent` field when not NULL). */
static int fetch_rows(struct fetch *f, const struct schema_model *m, const struct schema_field *parent,
                      struct lrows *node)
{
    size_t np;
    const struct poller_param *ps = poller_lsql_params(&f->q, &np);
    int rc = poller_conn_exec(f->c, (const char *)buf_data(&f->q.sql), ps, np);
    if (rc < 0) {
        snprintf(f->err, f->errlen, "model %s: %s", m->name, f->c->err);
        return rc;
    }
    struct poller_row row;
    poller_row_init(&row, m);
    struct lset *set = &f->st->sets[m->id];
    while ((rc = poller_conn_next_row(f->c)) == 1) {
        rc = poller_row_read(&row, f->c, f->err, f->errlen);
        size_t off = set->data.len;
        if (rc == 0)
            rc = cache_row_encode(m, row.vals, &set->data, f->err, f->errlen);
        if (rc < 0) {
            poller_conn_cancel(f->c);
            break;
        }
        struct lrow r = {poller_row_pk(&row), 0, off, set->data.len - off};
        if (parent && cache_row_int(lrow_slice(set, &r), m, parent, &r.parent) < 0)
            r.parent = INT64_MIN; /* a null foreign key: under no parent */
        lset_push(set, r);
        if (node)
            lrows_push(node, r);
    }
    if (rc < 0 && rc == -EIO && f->c->err[0])
        snprintf(f->err, f->errlen, "model %s: %s", m->name, f->c->err);
    poller_row_fini(&row);
    return rc < 0 ? rc : 0;
}

/* A builder's failure, in words. */
static int built(struct fetch *f, const struct schema_model *m, int rc)
{
    if (rc < 0)
        snprintf(f->err, f->errlen, "model %s: the live SQL cannot be written: %s", m->name, f->q.why);
    return rc;
}

/* The only column of the only row: COUNT_BIG(*). */
static int fetch_number(struct fetch *f, const struct schema_model *m, uint64_t *out)
{
    size_t np;
    const struct poller_param *ps = poller_lsql_params(&f->q, &np);
    int rc = poller_conn_exec(f->c, (const char *)buf_data(&f->q.sql), ps, np);
    *out = 0;
    while (rc == 0 && (rc = poller_conn_next_row(f->c)) == 1) {
        int len;
        const BYTE *d = poller_conn_col_data(f->c, 0, &len);
        int64_t v = 0;
        if (d && len == 8)
            memcpy(&v, d, 8);
        *out = (uint64_t)v;
        rc = 0;
    }
    if (rc < 0)
        snprintf(f->err, f->errlen, "model %s: %s", m->name, f->c->err);
    return rc < 0 ? rc : 0;
}

static void lrows_reverse(struct lrows *r)
{
    for (size_t i = 0; i < r->n / 2; i++) {
        struct lrow t = r->v[i];
        r->v[i] = r->v[r->n - 1 - i];
        r->v[r->n - 1 - i] = t;
    }
}

static int fetch_root(struct fetch *f, const struct cache_plan *p, bool *counted, uint64_t *count)
{
    const struct cache_plan_node *n = &p->root;
    struct lnode *ln = &f->st->nodes[0];
    bool paged = poller_lsql_root_paged(p);
    if (n->has_take && n->take == 0)
        return 0;
    if (p->count && paged) { /* the number alone: COUNT_BIG over the page */
        int rc = built(f, n->model, poller_lsql_root(&f->q, p, true));
        if (rc == 0)
            rc = fetch_number(f, n->model, count);
        if (p->max_rows && *count > p->max_rows)
            *count = p->max_rows;
        *counted = true;
        return rc;
    }
    int rc = built(f, n->model, poller_lsql_root(&f->q, p, false));
    if (rc == 0)
        rc = fetch_rows(f, n->model, NULL, &ln->rows);
    if (rc == 0 && paged && n->has_take && n->take < 0)
        lrows_reverse(&ln->rows); /* read backwards: the page in its order */
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The distinct keys relation r needs from a node's rows (of model pm):
 * their keys (to-many) or their foreign keys (to-one). */
static size_t rel_keys(const struct lstore *st, const struct schema_model *pm, const struct lrows *rows,
                       const struct schema_relation *r, int64_t **out)
{
    int64_t *k = xmalloc((rows->n ? rows->n : 1) * sizeof *k);
    size_t n = 0;
    const struct lset *set = &st->sets[pm->id];
    for (size_t i = 0; i < rows->n; i++) {
        if (r->to_many) {
            k[n++] = (int64_t)rows->v[i].pk;
            continue;
        }
        int64_t fk;
        if (cache_row_int(lrow_slice(set, &rows->v[i]), pm, r->fk, &fk) == 0)
            k[n++] = fk;
    }
    qsort(k, n, sizeof *k, cmp_i64);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || k[w - 1] != k[i])
            k[w++] = k[i];
    *out = k;
    return w;
}

static int cmp_parent(const void *a, const void *b)
{
    const struct lrow *x = a, *y = b;
    if (x->parent != y->parent)
        return x->parent < y->parent ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off; /* fetch order: appended in it */
}

/* A relation node's rows for its parents' rows, chunk by chunk. */
static int fetch_child(struct fetch *f, const struct lnode *parent, struct lnode *ln)
{
    const struct cache_plan_node *n = ln->req;
    const struct schema_relation *r = n->via;
    if (r->to_many && n->has_take && n->take == 0)
        return 0; /* renders [] */
    int64_t *keys;
    size_t nk = rel_keys(f->st, parent->req->model, &parent->rows, r, &keys);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nk; i += POLLER_SQL_IN_MAX) {
        size_t c = nk - i < POLLER_SQL_IN_MAX ? nk - i : POLLER_SQL_IN_MAX;
        if (r->to_many)
            rc = built(f, n->model, poller_lsql_children(&f->q, n, keys + i, c));
        else
            rc = built(f, n->model, poller_lsql_to_one(&f->q, n->model, keys + i, c));
        if (rc == 0)
            rc = fetch_rows(f, n->model, r->to_many ? r->fk : NULL, &ln->rows);
    }
    free(keys);
    /* Each parent's rows came in one chunk, in page order: grouped by
     * parent, that order stays (the sort breaks ties by fetch position). */
    if (rc == 0 && r->to_many && ln->rows.n > 1)
        qsort(ln->rows.v, ln->rows.n, sizeof *ln->rows.v, cmp_parent);
    return rc;
}

static int lcount_add(struct lcount *lc, int64_t parent, uint64_t n)
{
    if (lc->len == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 64;
        lc->parent = xrealloc(lc->parent, lc->cap * sizeof *lc->parent);
        lc->n = xrealloc(lc->n, lc->cap * sizeof *lc->n);
    }
    lc->parent[lc->len] = parent;
    lc->n[lc->len++] = n;
    return 0;
}

static int get_i64(struct poller_conn *c, int col, int64_t *out)
{
    int len;
    const BYTE *d = poller_conn_col_data(c, col, &len);
    if (!d)
        return -ENOENT;
    if (len == 8) {
        memcpy(out, d, 8);
    } else if (len == 4) {
        int32_t v;
        memcpy(&v, d, 4);
        *out = v;
    } else if (len == 2) {
        int16_t v;
        memcpy(&v, d, 2);
        *out = v;
    } else if (len == 1) {
        *out = *d;
    } else {
        return -EPROTO;
    }
    return 0;
}

/* `_count` entry k of a node: (parent, n) by SQL's GROUP BY, then sorted. */
static int fetch_count(struct fetch *f, const struct lnode *ln, size_t k)
{
    struct lcount *lc = &ln->counts[k];
    const struct schema_model *m = lc->c->rel->target;
    int64_t *keys;
    size_t nk = rel_keys(f->st, ln->req->model, &ln->rows, lc->c->rel, &keys);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nk; i += POLLER_SQL_IN_MAX) {
        size_t c = nk - i < POLLER_SQL_IN_MAX ? nk - i : POLLER_SQL_IN_MAX;
        rc = built(f, m, poller_lsql_count(&f->q, lc->c, keys + i, c));
        size_t np;
        const struct poller_param *ps = poller_lsql_params(&f->q, &np);
        if (rc == 0)
            rc = poller_conn_exec(f->c, (const char *)buf_data(&f->q.sql), ps, np);
        while (rc == 0 && (rc = poller_conn_next_row(f->c)) == 1) {
            int64_t parent, n;
            rc = get_i64(f->c, 0, &parent) == 0 && get_i64(f->c, 1, &n) == 0
                     ? lcount_add(lc, parent, (uint64_t)n) : 0;
        }
        if (rc < 0 && f->c->err[0])
            snprintf(f->err, f->errlen, "model %s: %s", m->name, f->c->err);
    }
    free(keys);
    /* chunks hold distinct parents, each sorted: sort the pairs by parent */
    for (size_t i = 1; rc == 0 && i < lc->len; i++)
        for (size_t j = i; j > 0 && lc->parent[j - 1] > lc->parent[j]; j--) {
            int64_t tp = lc->parent[j];
            uint64_t tn = lc->n[j];
            lc->parent[j] = lc->parent[j - 1], lc->n[j] = lc->n[j - 1];
            lc->parent[j - 1] = tp, lc->n[j - 1] = tn;
        }
    return rc < 0 ? rc : 0;
}

/* What a node's rows need: its counts, its relations' rows, recursively. */
static int fetch_below(struct fetch *f, struct lnode *ln)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ln->req->n_counts; i++)
        rc = fetch_count(f, ln, i);
    for (size_t i = 0; rc == 0 && i < ln->req->n_children; i++) {
        struct lnode *c = lnode_of(f->st, &ln->req->children[i], false);
        rc = fetch_child(f, ln, c);
        if (rc == 0)
            rc = fetch_below(f, c);
    }
    return rc;
}

/* ---- the pool ------------------------------------------------------------ */

int poller_live_new(struct poller_live **out, const struct poller_db *db, const struct schema *s,
                    unsigned pool_size, unsigned timeout_ms)
{
    *out = NULL;
    if (!db || !s)
        return -EINVAL;
    int rc = poller_conn_lib_acquire();
    if (rc < 0)
        return rc;
    struct poller_live *l = xcalloc(1, sizeof *l);
    l->db = db;
    l->schema = s;
    l->timeout_ms = timeout_ms;
    l->n = pool_size ? pool_size : 2;
    l->conns = xcalloc(l->n, sizeof *l->conns);
    l->busy = xcalloc(l->n, sizeof *l->busy);
    pthread_mutex_init(&l->mu, NULL);
    /* Deadlines are monotonic: a wall clock step must not stretch a wait. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = l;
    return 0;
}

void poller_live_free(struct poller_live *l)
{
    if (!l)
        return;
    for (unsigned i = 0; i < l->n; i++)
        poller_conn_close(&l->conns[i]);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->conns);
    free(l->busy);
    free(l);
    poller_conn_lib_release();
}

/* A free connection by the deadline (monotonic ms), or -ETIMEDOUT. */
static int pool_take(struct poller_live *l, int64_t deadline_ms)
{
    struct timespec until = {.tv_sec = deadline_ms / 1000, .tv_nsec = deadline_ms % 1000 * 1000000};
    pthread_mutex_lock(&l->mu);
    for (;;) {
        for (unsigned i = 0; i < l->n; i++)
            if (!l->busy[i]) {
                l->busy[i] = true;
                pthread_mutex_unlock(&l->mu);
                return (int)i;
            }
        if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&l->mu);
            return -ETIMEDOUT;
        }
    }
}

static void pool_give(struct poller_live *l, unsigned i)
{
    pthread_mutex_lock(&l->mu);
    l->busy[i] = false;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static int live_fetch_render(struct poller_conn *c, const struct schema *s,
                             const struct cache_plan *p, size_t max_bytes, struct buf *out, char *err,
                             size_t errlen)
{
    struct lstore st;
    struct cache_plan copy;
    lstore_init(&st, s);
    st.root_model = p->root.model;
    plan_copy(&st, p, &copy);
    struct fetch f = {.c = c, .st = &st, .err = err, .errlen = errlen};
    poller_lsql_init(&f.q);
    bool counted = false;
    uint64_t count = 0;
    int rc = fetch_root(&f, p, &counted, &count);
    if (rc == 0 && !counted)
        rc = fetch_below(&f, &st.nodes[0]);
    if (rc == 0 && counted) {
        json_put_u64(out, count);
    } else if (rc == 0) {
        struct cache_source src = {&mem_ops, &st};
        size_t size;
        rc = cache_query_render(&copy, &src, out, max_bytes, &size);
        if (rc == -EFBIG)
            cache_err_too_large(err, errlen, size, max_bytes);
        else if (rc < 0)
            snprintf(err, errlen, "rendering the live answer: error %d", rc);
    }
    poller_lsql_fini(&f.q);
    lstore_fini(&st);
    return rc;
}

/* One try on connection c within the time left: opens it if needed, bounds
 * its waits, fetches and renders. */
static int attempt(struct poller_live *l, struct poller_conn *c, const struct cache_plan *p,
                   size_t max_bytes, struct buf *out, int64_t left_ms, char *err, size_t errlen)
{
    unsigned s = (unsigned)((left_ms + 999) / 1000); /* db-lib counts whole seconds */
    int rc = 0;
    if (!poller_conn_is_open(c)) {
        struct poller_login_timeouts t = {
            .login_s = s < l->db->login_timeout_s ? s : l->db->login_timeout_s, .query_s = s};
        rc = poller_conn_open_within(c, l->db, &t, err, errlen);
    } else {
        rc = poller_conn_set_timeout(c, s);
    }
    return rc < 0 ? rc : live_fetch_render(c, l->schema, p, max_bytes, out, err, errlen);
}

int poller_live_query(struct poller_live *l, const struct cache_plan *p, size_t max_bytes,
                      struct buf *out, char *err, size_t errlen)
{
    const char *model = p->root.model->name;
    int64_t deadline = clock_mono_ms() + l->timeout_ms;
    int i = pool_take(l, deadline);
    if (i < 0) {
        log_warn(LOG_LIVE, "%s: no live connection came free within %u ms", model, l->timeout_ms);
        snprintf(err, errlen, "model %s: source database unavailable (busy)", model);
        return -ETIMEDOUT;
    }
    struct poller_conn *c = &l->conns[i];
    char why[POLLER_CONN_ERR_MAX + 256] = "";
    size_t mark = out->len;
    int rc = -ETIMEDOUT;
    /* A pooled connection the server dropped since its last use fails at
     * once: it is reopened and the request tried again, within the budget. */
    for (int tries = 0; tries < 2; tries++) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            break;
        rc = attempt(l, c, p, max_bytes, out, left, why, sizeof why);
        if (rc == 0 || poller_conn_is_open(c))
            break; /* answered, or the query itself failed on a live connection */
        log_warn(LOG_LIVE, "%s", why);
        poller_conn_close(c);
        out->len = mark;
    }
    if (rc < 0 && poller_conn_is_open(c)) {
        log_warn(LOG_LIVE, "%s", why);
        snprintf(err, errlen, "model %s: the source database could not answer (see the server log)",
                 model);
    } else if (rc < 0) {
        snprintf(err, errlen, "model %s: source database unavailable", model);
    }
    pool_give(l, (unsigned)i);
    return rc < 0 ? (rc == -ETIMEDOUT ? rc : -EIO) : 0;
}
