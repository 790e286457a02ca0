/*
 * The live fallback: answers a plan straight from the source when the
 * cache cannot (a model not warm yet). It fetches what the plan renders,
 * encodes every row with cache_row_encode() (the stored format), and hands
 * the rows to cache_query_render() through an in-memory struct
 * cache_source, so the bytes are the ones the cached path would give:
 *
 *   root      SELECT cols FROM t [WHERE collector filter] ORDER BY pk
 *   to-one    SELECT cols FROM target WHERE [pk] IN (@P1, ...)          (parents' foreign keys)
 *   to-many   SELECT cols FROM target WHERE [fk] IN (@P1, ...) ORDER BY pk (parents' keys)
 *
 * one IN query per relation level in chunks, as Prisma does. The same
 * queries fetch what the request's where, orderBy and _count read (related
 * rows of relation conditions, to-one rows of an orderBy path): the
 * renderer then filters, orders and pages these rows exactly as it does
 * the store's. Connections
 * come from a small pool of their own, opened on first use and reopened
 * after a failure.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
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
    size_t off, len;
};

struct lset { /* every row of one model fetched for the request */
    struct buf data;
    struct lrow *rows;
    size_t n, cap;
    bool sorted;
};

struct lidx {
    int64_t fk;
    size_t row;
};

struct lrows { /* the rows of one plan node */
    struct lrow *v;
    size_t n, cap;
};

struct lstore {
    const struct schema *s;
    const struct schema_model *root_model;
    struct lset *sets;
    struct lidx **idx;     /* per to-many relation id, built on first use */
    size_t *n_idx;
    struct lrows root;
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
    st->idx = xcalloc(s->n_to_many ? s->n_to_many : 1, sizeof *st->idx);
    st->n_idx = xcalloc(s->n_to_many ? s->n_to_many : 1, sizeof *st->n_idx);
}

static void lstore_fini(struct lstore *st)
{
    for (size_t i = 0; i < st->s->n_models; i++) {
        buf_fini(&st->sets[i].data);
        free(st->sets[i].rows);
    }
    for (size_t i = 0; i < st->s->n_to_many; i++)
        free(st->idx[i]);
    free(st->sets);
    free(st->idx);
    free(st->n_idx);
    free(st->root.v);
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

/* The rows a scan of m sees, in key order: the root query's rows for the
 * root model (fetched ORDER BY pk), else every fetched row. */
static const struct lrow *mem_rows(struct lstore *st, const struct schema_model *m, size_t *n)
{
    struct lset *s = &st->sets[m->id];
    if (m == st->root_model) {
        *n = st->root.n;
        return st->root.v;
    }
    lset_sort(s);
    *n = s->n;
    return s->rows;
}

static int mem_walk(struct lstore *st, const struct schema_model *m, size_t from, size_t to, bool back,
                    cache_row_cb cb, void *arg)
{
    size_t n;
    const struct lrow *v = mem_rows(st, m, &n);
    for (size_t k = from; k < to; k++) {
        int rc = cb(arg, lrow_slice(&st->sets[m->id], &v[back ? to - 1 - (k - from) : k]));
        if (rc)
            return rc;
    }
    return 0;
}

static int mem_scan(void *ctx, const struct schema_model *m, cache_row_cb cb, void *arg)
{
    size_t n;
    mem_rows(ctx, m, &n);
    return mem_walk(ctx, m, 0, n, false, cb, arg);
}

static int mem_range(void *ctx, const struct schema_model *m, uint64_t from, bool from_end, bool back,
                     cache_row_cb cb, void *arg)
{
    size_t n, lo = 0, hi;
    const struct lrow *v = mem_rows(ctx, m, &n);
    hi = n;
    while (!from_end && lo < hi) { /* first row with pk >= from (forward), > from (backward) */
        size_t mid = lo + (hi - lo) / 2;
        if (back ? v[mid].pk <= from : v[mid].pk < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (from_end)
        lo = back ? n : 0;
    return back ? mem_walk(ctx, m, 0, lo, true, cb, arg) : mem_walk(ctx, m, lo, n, false, cb, arg);
}

static int cmp_lidx(const void *a, const void *b)
{
    const struct lidx *x = a, *y = b;
    if (x->fk != y->fk)
        return x->fk < y->fk ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row; /* rows are in key order */
}

static void idx_build(struct lstore *st, const struct schema_relation *r)
{
    struct lset *s = &st->sets[r->target->id];
    lset_sort(s);
    struct lidx *v = xmalloc((s->n ? s->n : 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        int64_t fk;
        if (cache_row_int(lrow_slice(s, &s->rows[i]), r->target, r->fk, &fk) == 0)
            v[n++] = (struct lidx){fk, i};
    }
    qsort(v, n, sizeof *v, cmp_lidx);
    st->idx[r->to_many_id] = v;
    st->n_idx[r->to_many_id] = n;
}

static int mem_children(void *ctx, const struct schema_relation *r, int64_t fk, cache_row_cb cb,
                        void *arg)
{
    struct lstore *st = ctx;
    if (!r->to_many || r->to_many_id >= st->s->n_to_many)
        return -EINVAL;
    if (!st->idx[r->to_many_id])
        idx_build(st, r);
    const struct lidx *v = st->idx[r->to_many_id];
    size_t n = st->n_idx[r->to_many_id], lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].fk < fk)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct lset *s = &st->sets[r->target->id];
    for (size_t i = lo; i < n && v[i].fk == fk; i++) {
        int rc = cb(arg, lrow_slice(s, &s->rows[v[i].row]));
        if (rc)
            return rc;
    }
    return 0;
}

static const struct cache_source_ops mem_ops = {mem_get, mem_scan, mem_children, mem_range};

/* ---- fetching -------------------------------------------------------------- */

struct fetch {
    struct poller_conn *c;
    struct lstore *st;
    struct buf sql;
    char *err;
    size_t errlen;
};

/* Runs the prepared statement and stores every row of m (and in node rows). */
static int fetch_rows(struct fetch *f, const struct schema_model *m, const struct poller_param *ps,
                      size_t n, struct lrows *node)
{
    int rc = poller_conn_exec(f->c, (const char *)buf_data(&f->sql), ps, n);
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
        struct lrow r = {poller_row_pk(&row), off, set->data.len - off};
        lset_push(set, r);
        lrows_push(node, r);
    }
    if (rc < 0 && rc == -EIO && f->c->err[0])
        snprintf(f->err, f->errlen, "model %s: %s", m->name, f->c->err);
    poller_row_fini(&row);
    return rc < 0 ? rc : 0;
}

struct wparam {
    int64_t i;
    int32_t b;
    json_t *j;
};

/* The collector's filter, where it translates exactly, as conditions and
 * their values (wv[k] for conds[k]); *exact false when some condition is
 * left to the renderer (then no TOP either). Returns the number of conditions. */
static size_t root_where(const struct cache_plan *p, struct poller_sql_cond *conds,
                         struct wparam *wv, bool *exact)
{
    size_t n = 0;
    *exact = true;
    for (size_t i = 0; i < p->n_where; i++) {
        const struct cache_plan_where *w = &p->where[i];
        json_t *j = json_loadb((const char *)w->json.p, w->json.len, JSON_DECODE_ANY, NULL);
        if (!j || !(json_is_null(j) || json_is_boolean(j) || json_is_integer(j) || json_is_string(j))) {
            json_decref(j);
            *exact = false;
            continue;
        }
        /* SQL Server compares strings case-insensitively, the renderer by bytes. */
        if (json_is_string(j))
            *exact = false;
        wv[n].j = j;
        conds[n++] = (struct poller_sql_cond){w->field->column, json_is_null(j)};
    }
    return n;
}

/* The parameter bound to condition c (not IS NULL), from the JSON value in wv. */
static struct poller_param where_param(const struct poller_sql_cond *c, struct wparam *wv)
{
    json_t *j = wv->j;
    if (json_is_string(j))
        return (struct poller_param){c->name, "nvarchar(4000)", SYBVARCHAR, json_string_value(j),
                                     (int)json_string_length(j)};
    if (json_is_boolean(j)) {
        wv->b = json_is_true(j) ? 1 : 0;
        return (struct poller_param){c->name, "int", SYBINT4, &wv->b, -1};
    }
    wv->i = json_integer_value(j);
    return (struct poller_param){c->name, "bigint", SYBINT8, &wv->i, -1};
}

static int fetch_root(struct fetch *f, const struct cache_plan *p)
{
    const struct schema_model *m = p->root.model;
    size_t nw = p->n_where;
    struct poller_param *ps = xcalloc(nw + 1, sizeof *ps);
    struct wparam *wv = xcalloc(nw + 1, sizeof *wv);
    struct poller_sql_cond *conds = xcalloc(nw + 1, sizeof *conds);
    bool exact;
    size_t nc = root_where(p, conds, wv, &exact);
    int32_t max = p->max_rows && p->max_rows <= INT32_MAX ? (int32_t)p->max_rows : 0;
    bool top = exact && max;
    poller_sql_live_root(&f->sql, m, top, conds, nc);
    size_t n = 0;
    for (size_t k = 0; k < nc; k++)
        if (!conds[k].is_null)
            ps[n++] = where_param(&conds[k], &wv[k]);
    if (top)
        ps[n++] = (struct poller_param){"@max", "int", SYBINT4, &max, -1};
    int rc = fetch_rows(f, m, ps, n, &f->st->root);
    for (size_t k = 0; k < nc; k++)
        json_decref(wv[k].j);
    free(conds);
    free(wv);
    free(ps);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Distinct keys relation r needs from the parent rows (of model pm). */
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

/* The column a relation's rows are fetched by: the target's key (to-one)
 * or its foreign key to the parent (to-many). */
static const char *in_column(const struct schema_relation *r)
{
    return r->to_many ? r->fk->column : r->target->pk->column;
}

static int fetch_in_chunk(struct fetch *f, const struct schema_relation *r, const int64_t *keys,
                          size_t n, struct lrows *node)
{
    struct poller_param ps[POLLER_SQL_IN_MAX];
    char names[POLLER_SQL_IN_MAX][POLLER_SQL_NAME_MAX];
    poller_sql_live_in(&f->sql, r->target, in_column(r), n, names);
    for (size_t i = 0; i < n; i++)
        ps[i] = (struct poller_param){names[i], "bigint", SYBINT8, &keys[i], -1};
    return fetch_rows(f, r->target, ps, n, node);
}

/* Every row of relation r for the parent rows (of model pm), into *out. The
 * rows are all the relation holds: the renderer filters and pages them. */
static int fetch_rel(struct fetch *f, const struct schema_model *pm, const struct lrows *rows,
                     const struct schema_relation *r, struct lrows *out)
{
    int64_t *keys;
    size_t nk = rel_keys(f->st, pm, rows, r, &keys);
    size_t chunk = poller_sql_live_in_max(r->target, in_column(r));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nk; i += chunk)
        rc = fetch_in_chunk(f, r, keys + i, nk - i < chunk ? nk - i : chunk, out);
    free(keys);
    return rc;
}

/* The related rows a `where` reads (relation conditions, nested), for rows of m. */
static int fetch_filter(struct fetch *f, const struct schema_model *m, const struct lrows *rows,
                        const struct cache_filter *w)
{
    if (!w)
        return 0;
    if (w->rel) {
        struct lrows got = {0};
        int rc = fetch_rel(f, m, rows, w->rel, &got);
        if (rc == 0 && w->n_sub)
            rc = fetch_filter(f, w->rel->target, &got, &w->sub[0]);
        free(got.v);
        return rc;
    }
    for (size_t i = 0; i < w->n_sub; i++) {
        int rc = fetch_filter(f, m, rows, &w->sub[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The to-one rows an orderBy key follows. */
static int fetch_order_path(struct fetch *f, const struct schema_model *m, const struct lrows *rows,
                            const struct cache_order *k, size_t hop)
{
    if (hop == k->n_path)
        return 0;
    struct lrows got = {0};
    int rc = fetch_rel(f, m, rows, k->path[hop], &got);
    if (rc == 0)
        rc = fetch_order_path(f, k->path[hop]->target, &got, k, hop + 1);
    free(got.v);
    return rc;
}

/* Everything a plan node reads besides its own rows: what its filter,
 * orderBy and _count read, and its relations with what they read. */
static int fetch_node(struct fetch *f, const struct cache_plan_node *n, const struct lrows *rows)
{
    int rc = fetch_filter(f, n->model, rows, n->where);
    for (size_t i = 0; rc == 0 && i < n->n_order; i++)
        rc = fetch_order_path(f, n->model, rows, &n->order[i], 0);
    for (size_t i = 0; rc == 0 && i < n->n_counts; i++) {
        struct lrows got = {0};
        rc = fetch_rel(f, n->model, rows, n->counts[i].rel, &got);
        if (rc == 0)
            rc = fetch_filter(f, n->counts[i].rel->target, &got, n->counts[i].where);
        free(got.v);
    }
    for (size_t i = 0; rc == 0 && i < n->n_children; i++) {
        const struct cache_plan_node *c = &n->children[i];
        struct lrows got = {0};
        rc = fetch_rel(f, n->model, rows, c->via, &got);
        if (rc == 0)
            rc = fetch_node(f, c, &got);
        free(got.v);
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
    lstore_init(&st, s);
    st.root_model = p->root.model;
    struct fetch f = {.c = c, .st = &st, .err = err, .errlen = errlen};
    buf_init(&f.sql, 0);
    int rc = fetch_root(&f, p);
    if (rc == 0)
        rc = fetch_node(&f, &p->root, &st.root);
    if (rc == 0) {
        struct cache_source src = {&mem_ops, &st};
        size_t size;
        rc = cache_query_render(p, &src, out, max_bytes, &size);
        if (rc == -EFBIG)
            cache_err_too_large(err, errlen, size, max_bytes);
        else if (rc < 0)
            snprintf(err, errlen, "rendering the live answer: error %d", rc);
    }
    buf_fini(&f.sql);
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
