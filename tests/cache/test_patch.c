#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fixture.h"

static void open_warm(void)
{
    fx_open();
    fx_warm("Category");
    fx_warm("Subcategory");
    fx_warm("Product");
    fx_warm("Company");
}

TestSuite(cache_patch, .init = open_warm, .fini = fx_close);

/* A plan of a collector on model with opts, kept with the collector. */
struct req {
    struct collector col;
    struct cache_plan p;
};

static void req_parse(struct req *r, const char *model, const char *opts)
{
    r->col = (struct collector){.event = "fetchX", .model = fx_model(model)};
    char err[256] = "";
    json_t *j = opts ? json_loads(opts, 0, NULL) : NULL;
    cr_assert(!opts || j, "bad test JSON %s", opts);
    cr_assert_eq(cache_plan_parse(&r->p, &r->col, j, err, sizeof err), 0, "%s: %s", opts, err);
    json_decref(j);
}

static bool patchable(const char *model, const char *opts)
{
    struct req r;
    req_parse(&r, model, opts);
    bool ok = cache_plan_patchable(&r.p);
    cache_plan_fini(&r.p);
    return ok;
}

/* The largest data version of the models the plan reads (what sio keeps
 * with an answer). */
static uint64_t plan_version(struct cache_rd *rd, const struct cache_plan *p)
{
    const uint64_t *vers;
    cr_assert_eq(cache_versions_get(rd, &vers), 0);
    uint16_t ids[16];
    size_t n = cache_plan_models(p, ids);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = vers[ids[i]] > v ? vers[ids[i]] : v;
    return v;
}

/* An answer as sio keeps it: bytes, rows and the data version it shows. */
struct kept {
    struct buf b;
    struct cache_rows rows;
    uint64_t version;
};

static void full_render(struct cache_rd *rd, const struct cache_plan *p, struct kept *k)
{
    struct cache_source src = cache_source_lmdb(rd);
    size_t size;
    buf_reset(&k->b);
    cr_assert_eq(cache_query_render_rows(p, &src, &k->b, 0, &size, &k->rows), 0);
    k->version = plan_version(rd, p);
}

/* The row table must say where each root row is in the bytes. */
static void rows_check(const struct kept *k, const struct schema_model *m)
{
    const uint8_t *d = buf_data(&k->b);
    cr_assert_eq(k->rows.off[k->rows.n], k->b.len);
    for (size_t i = 0; i < k->rows.n; i++) {
        cr_assert_eq(d[k->rows.off[i]], '{');
        cr_assert(d[k->rows.off[i] - 1] == (i ? ',' : '['));
        cr_assert(i == 0 || k->rows.pk[i] > k->rows.pk[i - 1], "rows in key order");
        char key[64]; /* where the row shows its key first (every scalar) */
        int n = snprintf(key, sizeof key, "\"%s\":", m->pk->name);
        if (memcmp(d + k->rows.off[i] + 1, key, (size_t)n) != 0)
            continue;
        snprintf(key + n, sizeof key - (size_t)n, "%llu,", (unsigned long long)k->rows.pk[i]);
        cr_assert(memcmp(d + k->rows.off[i] + 1, key, strlen(key)) == 0, "row %zu is key %s", i, key);
    }
}

/* ---- which plans patch ------------------------------------------------------------- */

Test(cache_patch, plans_in_key_order_of_local_rows_patch_the_rest_render_in_full)
{
    cr_assert(patchable("Category", NULL));
    cr_assert(patchable("Category", "{\"select\":[\"name\"]}"));
    cr_assert(patchable("Category", "{\"where\":{\"name\":{\"startsWith\":\"a\"}},\"include\":{\"subcategories\":{\"include\":{\"products\":{\"orderBy\":{\"name\":\"desc\"},\"take\":2}}}}}"));
    cr_assert(patchable("Product", "{\"include\":{\"subcategory\":{\"include\":{\"category\":true}}}}"));
    cr_assert(patchable("Company", "{\"where\":{\"id\":{\"gt\":3}},\"include\":{\"children\":{\"skip\":1}}}"));
    cr_assert(!patchable("Category", "{\"take\":3}"));
    cr_assert(!patchable("Category", "{\"skip\":1}"));
    cr_assert(!patchable("Category", "{\"orderBy\":{\"name\":\"asc\"}}"));
    cr_assert(!patchable("Category", "{\"distinct\":[\"name\"]}"));
    cr_assert(!patchable("Category", "{\"cursor\":{\"id\":2}}"));
    cr_assert(!patchable("Category", "{\"count\":true}"));
    cr_assert(!patchable("Subcategory", "{\"include\":{\"products\":{\"cursor\":{\"id\":3}}}}"));
    /* the change log maps what these read to the root rows (since.c) */
    cr_assert(patchable("Category", "{\"where\":{\"subcategories\":{\"some\":{\"name\":\"x\"}}}}"));
    cr_assert(patchable("Category", "{\"include\":{\"_count\":{\"select\":{\"subcategories\":true}}}}"));
    cr_assert(patchable("Category", "{\"include\":{\"subcategories\":{\"where\":{\"products\":{\"none\":{}}}}}}"));
    cr_assert(patchable("Category", "{\"include\":{\"subcategories\":{\"include\":{\"products\":{\"orderBy\":{\"subcategory\":{\"name\":\"asc\"}}}}}}}"));
}

/* ---- churn ----------------------------------------------------------------------------- */

static const char *const names[] = {"alpha", "beta", "gamma", "delta", "apple", "zeta", "avocado", "omega"};
#define N_NAMES (sizeof names / sizeof *names)

static struct cache_value maybe_ref(unsigned range)
{
    return rand() % 6 == 0 ? cv_null() : cv_int(1 + rand() % (int)range);
}

/* One random change: an insert, update or delete of a category,
 * subcategory, product or company (ids drawn so inserts, updates and
 * deletes all happen, and references sometimes point at nothing). */
static void churn_one(void)
{
    int what = rand() % 4, op = rand() % 4;
    char price[16];
    snprintf(price, sizeof price, "%d.%d", rand() % 100, rand() % 10);
    const char *name = names[rand() % N_NAMES];
    if (what == 0) {
        uint64_t id = 1 + (uint64_t)(rand() % 45);
        if (op == 0)
            fx_delete_maybe("Category", id);
        else
            fx_category((int64_t)id, name);
    } else if (what == 1) {
        uint64_t id = 1 + (uint64_t)(rand() % 90);
        struct cache_value c = maybe_ref(45);
        if (op == 0)
            fx_delete_maybe("Subcategory", id);
        else
            fx_subcategory((int64_t)id, &c, rand() % 5 ? name : NULL);
    } else if (what == 2) {
        uint64_t id = 1 + (uint64_t)(rand() % 170);
        struct cache_value sc = maybe_ref(90);
        if (op == 0)
            fx_delete_maybe("Product", id);
        else
            fx_product((int64_t)id, &sc, name, rand() % 3 ? price : NULL);
    } else {
        uint64_t id = 1 + (uint64_t)(rand() % 70);
        struct cache_value parent = maybe_ref(70);
        if (op == 0)
            fx_delete_maybe("Company", id);
        else
            fx_company((int64_t)id, name, rand() % 2, &parent);
    }
}

static const struct {
    const char *model, *opts;
} churned[] = {
    {"Category", NULL},
    {"Category", "{\"include\":{\"subcategories\":{\"include\":{\"products\":true}}}}"},
    {"Category", "{\"where\":{\"name\":{\"startsWith\":\"a\"}},\"select\":{\"name\":true,\"subcategories\":{\"where\":{\"name\":{\"not\":null}},\"orderBy\":{\"name\":\"desc\"},\"take\":2,\"select\":[\"name\"]}}}"},
    {"Subcategory", "{\"include\":{\"category\":true,\"products\":{\"skip\":1}}}"},
    {"Product", "{\"include\":{\"subcategory\":{\"include\":{\"category\":true}}}}"},
    {"Product", "{\"where\":{\"price\":{\"gte\":\"20\"}},\"select\":[\"name\",\"price\"]}"},
    {"Company", "{\"include\":{\"parent\":true,\"children\":{\"where\":{\"deleted\":false}}}}"},
    {"Company", "{\"where\":{\"id\":{\"lte\":50},\"deleted\":false}}"},
    /* other models read through relation filters, counts and orders */
    {"Category", "{\"where\":{\"subcategories\":{\"some\":{\"products\":{\"some\":{\"name\":{\"startsWith\":\"a\"}}}}}},\"include\":{\"_count\":true}}"},
    {"Subcategory", "{\"where\":{\"category\":{\"isNot\":{\"name\":\"beta\"}}},\"include\":{\"products\":{\"orderBy\":[{\"subcategory\":{\"category\":{\"name\":\"desc\"}}},{\"name\":\"asc\"}]}}}"},
    {"Company", "{\"where\":{\"children\":{\"every\":{\"deleted\":false}}},\"select\":{\"name\":true,\"_count\":{\"select\":{\"children\":{\"where\":{\"children\":{\"some\":{\"deleted\":true}}}}}}}}"},
    {"Category", "{\"include\":{\"subcategories\":{\"where\":{\"products\":{\"none\":{\"price\":{\"gt\":\"50\"}}}},\"include\":{\"_count\":true}}}}"},
};
#define N_CHURNED (sizeof churned / sizeof *churned)

Test(cache_patch, patched_answers_equal_fresh_renders_byte_for_byte_under_churn)
{
    srand(14);
    for (int i = 0; i < 120; i++)
        churn_one();
    struct req r[N_CHURNED];
    struct kept k[N_CHURNED];
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    for (size_t q = 0; q < N_CHURNED; q++) {
        req_parse(&r[q], churned[q].model, churned[q].opts);
        cr_assert(cache_plan_patchable(&r[q].p), "%s", churned[q].opts);
        k[q] = (struct kept){0};
        buf_init(&k[q].b, 0);
        full_render(rd, &r[q].p, &k[q]);
        rows_check(&k[q], r[q].p.root.model);
    }
    cache_rd_end(rd);
    struct kept fresh = {0}, next = {0};
    buf_init(&fresh.b, 0);
    buf_init(&next.b, 0);
    size_t patched = 0, changed_rows = 0;
    for (int round = 0; round < 80; round++) {
        for (int c = rand() % 6 + (round % 10 == 0 ? 0 : 1); c > 0; c--)
            churn_one();
        cr_assert_eq(cache_rd_begin(rd), 0);
        for (size_t q = 0; q < N_CHURNED; q++) {
            full_render(rd, &r[q].p, &fresh);
            buf_reset(&next.b);
            size_t changed;
            int rc = cache_query_patch(&r[q].p, rd, k[q].version, buf_slice(&k[q].b), &k[q].rows,
                                       &next.b, 0, &next.rows, &changed);
            cr_assert(rc == 0 || rc == -E2BIG, "round %d %s: %d", round, churned[q].opts, rc);
            if (rc == -E2BIG) { /* more than half changed: the caller renders in full */
                struct kept t = k[q];
                k[q] = fresh;
                fresh = t;
                continue;
            }
            patched++;
            changed_rows += changed;
            next.version = plan_version(rd, &r[q].p);
            char *want = fx_strdup_slice(buf_slice(&fresh.b)), *got = fx_strdup_slice(buf_slice(&next.b));
            cr_assert_str_eq(got, want, "round %d, %s %s, %zu changed", round, churned[q].model,
                             churned[q].opts ? churned[q].opts : "null", changed);
            free(want);
            free(got);
            cr_assert_eq(next.rows.n, fresh.rows.n);
            cr_assert(memcmp(next.rows.pk, fresh.rows.pk, fresh.rows.n * sizeof *fresh.rows.pk) == 0);
            cr_assert(memcmp(next.rows.off, fresh.rows.off, (fresh.rows.n + 1) * sizeof *fresh.rows.off) == 0,
                      "round %d %s: row offsets", round, churned[q].opts);
            struct kept t = k[q]; /* the patched answer is the next base: patches chain */
            k[q] = next;
            next = t;
        }
        cache_rd_end(rd);
    }
    /* Most answers took the patch path, with changes to patch. */
    cr_assert_gt(patched, 80 * N_CHURNED / 2, "patched %zu", patched);
    cr_assert_gt(changed_rows, patched, "changed rows %zu", changed_rows);
    for (size_t q = 0; q < N_CHURNED; q++) {
        buf_fini(&k[q].b);
        cache_rows_fini(&k[q].rows);
        cache_plan_fini(&r[q].p);
    }
    buf_fini(&fresh.b);
    cache_rows_fini(&fresh.rows);
    buf_fini(&next.b);
    cache_rows_fini(&next.rows);
    cache_rd_free(rd);
}

/* ---- the limits ------------------------------------------------------------------------- */

static int patch_once(struct req *r, struct kept *k, size_t max_bytes, struct buf *out, size_t *changed)
{
    struct cache_rows rows = {0};
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    int rc = cache_query_patch(&r->p, rd, k->version, buf_slice(&k->b), &k->rows, out, max_bytes,
                               &rows, changed);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_rows_fini(&rows);
    return rc;
}

static void keep_now(struct req *r, struct kept *k)
{
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    buf_init(&k->b, 0);
    full_render(rd, &r->p, k);
    cache_rd_end(rd);
    cache_rd_free(rd);
}

Test(cache_patch, a_patch_over_the_limit_or_mostly_changed_or_past_the_log_leaves_out_alone)
{
    for (int i = 1; i <= 10; i++)
        fx_category(i, "cat");
    struct req r;
    req_parse(&r, "Category", NULL);
    struct kept k = {0};
    keep_now(&r, &k);
    struct buf out;
    buf_init(&out, 0);
    buf_puts(&out, "head");
    size_t changed;
    fx_category(3, "a much longer name than before");
    cr_assert_eq(patch_once(&r, &k, k.b.len, &out, &changed), -EFBIG);
    cr_assert_eq(out.len, 4);
    cr_assert_eq(patch_once(&r, &k, 0, &out, &changed), 0);
    cr_assert_eq(changed, 1);
    for (int i = 1; i <= 7; i++)
        fx_category(i, "renamed");
    out.len = 4;
    cr_assert_eq(patch_once(&r, &k, 0, &out, &changed), -E2BIG);
    cr_assert_eq(out.len, 4);
    /* A model replaced wholesale since (turned cold and warm again): the log cannot tell. */
    struct cache_wtxn *w;
    struct cache_meta m = {.state = CACHE_COLD};
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_meta_put(w, fx_model("Category"), &m), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    fx_warm("Category");
    cr_assert_eq(patch_once(&r, &k, 0, &out, &changed), -ESTALE);
    cr_assert_eq(out.len, 4);
    buf_fini(&out);
    buf_fini(&k.b);
    cache_rows_fini(&k.rows);
    cache_plan_fini(&r.p);
}
