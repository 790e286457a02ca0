#include <criterion/criterion.h>
#include <errno.h>

#include <inttypes.h>
#include <string.h>

#include "cache/cache_int.h"
#include "fixture.h"

TestSuite(cache_read, .init = fx_open, .fini = fx_close);

static void categories(const int64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fx_category(ids[i], "x");
}

Test(cache_read, keys_next_pages_in_key_order)
{
    int64_t ids[] = {300, 7, 256, 1, 65536};
    categories(ids, 5);
    struct cache_rd *rd;
    uint64_t pks[3];
    size_t n;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    const struct schema_model *m = fx_model("Category");
    cr_assert_eq(cache_keys_next(rd, m, true, 0, pks, 3, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(pks[0], 1);
    cr_assert_eq(pks[1], 7);
    cr_assert_eq(pks[2], 256);
    cr_assert_eq(cache_keys_next(rd, m, false, 256, pks, 3, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(pks[0], 300);
    cr_assert_eq(pks[1], 65536);
    cr_assert_eq(cache_keys_next(rd, m, false, 8, pks, 1, &n), 0, "after a key that is absent");
    cr_assert_eq(n, 1);
    cr_assert_eq(pks[0], 256);
    cr_assert_eq(cache_keys_next(rd, m, false, 65536, pks, 3, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(cache_keys_next(rd, fx_model("Company"), true, 0, pks, 3, &n), 0);
    cr_assert_eq(n, 0, "empty model");
    cache_rd_free(rd);
}

static int count(void *arg, struct slice row)
{
    uint64_t *last = arg;
    cr_assert_gt(cache_row_pk(row), *last, "key order");
    *last = cache_row_pk(row);
    return 0;
}

Test(cache_read, handle_is_reused_across_requests_and_sees_new_commits)
{
    int64_t ids[] = {3, 1, 2};
    categories(ids, 3);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    for (int round = 0; round < 3; round++) {
        uint64_t last = 0;
        cr_assert_eq(cache_rd_begin(rd), 0);
        cr_assert_eq(cache_rd_begin(rd), -EBUSY, "begin twice without end");
        cr_assert_eq(cache_scan(rd, fx_model("Category"), count, &last), 0);
        cr_assert_eq(last, (uint64_t)(3 + round));
        cache_rd_end(rd);
        fx_category(4 + round, "new");
    }
    cache_rd_free(rd);
}

Test(cache_read, snapshot_holds_until_end)
{
    fx_category(1, "old");
    struct cache_rd *rd;
    struct slice row;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    fx_category(1, "new");
    fx_delete("Category", 1);
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 1, &row), 0);
    char *j = fx_row_json(row, fx_model("Category"));
    cr_assert_str_eq(j, "{\"id\":1,\"name\":\"old\"}");
    free(j);
    cache_rd_end(rd);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 1, &row), -ENOENT);
    cache_rd_free(rd);
}

Test(cache_read, calls_outside_begin_end_are_einval)
{
    struct cache_rd *rd;
    struct slice row;
    struct cache_meta meta;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 1, &row), -EINVAL);
    cr_assert_eq(cache_meta_get(rd, fx_model("Category"), &meta), -EINVAL);
    cache_rd_end(rd); /* harmless */
    cache_rd_free(rd);
    cache_rd_free(NULL);
}

struct nest {
    struct cache_rd *rd;
    int depth, calls;
};

/* Scans from inside a scan deeper than the cursor cache holds levels. */
static int nested(void *arg, struct slice row)
{
    struct nest *n = arg;
    (void)row;
    n->calls++;
    if (n->depth++ < CACHE_NEST_MAX + 2) {
        int rc = cache_scan(n->rd, fx_model("Category"), nested, n);
        if (rc)
            return rc;
    }
    return 1; /* stop after the first row of each level */
}

Test(cache_read, nested_scans_beyond_the_cursor_cache_work)
{
    int64_t ids[] = {1, 2};
    categories(ids, 2);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    struct nest n = {rd, 0, 0};
    cr_assert_eq(cache_scan(rd, fx_model("Category"), nested, &n), 1);
    cr_assert_eq(n.calls, CACHE_NEST_MAX + 3);
    cache_rd_free(rd);
}

/* ---- the tree read-ahead of a whole-table scan (lmdb.c) ---- */

struct walk {
    uint64_t last, rows, leaves, out_of_order;
    uintptr_t page;
};

static int walk_cb(void *arg, struct slice row)
{
    struct walk *w = arg;
    uintptr_t page = (uintptr_t)row.p & ~(uintptr_t)4095;
    cr_assert_gt(cache_row_pk(row), w->last, "key order");
    w->last = cache_row_pk(row);
    w->rows++;
    if (page != w->page) {
        w->out_of_order += w->page && page != w->page + 4096;
        w->leaves++;
        w->page = page;
    }
    return 0;
}

/* 3000 rows of ~520 bytes (~7 to a leaf, three levels), put in a scrambled
 * order over ten commits, so page splits leave the leaves out of map order:
 * the read-ahead must follow the tree to every leaf the cursor reaches
 * (never lost, every row prefetched once), for whole rows and for heads. */
Test(cache_read, scan_read_ahead_follows_the_tree_to_every_leaf)
{
    enum { N = 3000 };
    char name[501];
    memset(name, 'n', 500);
    name[500] = 0;
    for (int batch = 0; batch < 10; batch++) {
        struct cache_wtxn *w;
        char err[256];
        cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
        for (int i = batch * N / 10; i < (batch + 1) * N / 10; i++) {
            struct cache_value v[] = {cv_int((int64_t)i * 7919 % N + 1), cv_text(name)};
            cr_assert_eq(cache_row_put(w, fx_model("Category"), v, NULL, err, sizeof err), 0, "%s", err);
        }
        cr_assert_eq(cache_wtxn_commit(w), 0);
    }
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    for (int heads = 0; heads < 2; heads++) {
        cr_assert_eq(cache_rd_begin(rd), 0);
        rd->scan_row_bytes = heads ? 400 : 0;
        rd->ahead_leaves = rd->ahead_rows = rd->ahead_lost = 0;
        struct walk w = {0};
        cr_assert_eq(cache_scan(rd, fx_model("Category"), walk_cb, &w), 0);
        cr_assert_eq(w.rows, N);
        cr_assert_gt(w.out_of_order, 0, "the leaves are not all in map order: a test of the tree walk");
        cr_assert_eq(rd->ahead_lost, 0, "the read-ahead lost the cursor");
        cr_assert_eq(rd->ahead_leaves, w.leaves, "leaves followed: %" PRIu64 " of %" PRIu64,
                     rd->ahead_leaves, w.leaves);
        cr_assert_eq(rd->ahead_rows, N, "rows prefetched: %" PRIu64, rd->ahead_rows);
        cache_rd_end(rd);
    }
    cache_rd_free(rd);
}
