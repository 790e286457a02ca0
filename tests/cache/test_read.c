#include <criterion/criterion.h>
#include <errno.h>

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
