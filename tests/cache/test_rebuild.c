#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_rebuild, .init = fx_open, .fini = fx_close);

static char *name_of(struct cache_rd *rd, int64_t id)
{
    struct slice row, val;
    int rc = cache_row_get(rd, fx_model("Subcategory"), (uint64_t)id, &row);
    if (rc == -ENOENT)
        return strdup("(none)");
    cr_assert_eq(rc, 0);
    cr_assert_eq(cache_row_value(row, fx_model("Subcategory"), fx_field("Subcategory", "name"), &val), 0);
    return fx_strdup_slice(val);
}

static void rebuild_op(int (*op)(struct cache_wtxn *, const struct schema_model *))
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(op(w, fx_model("Subcategory")), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

static int count_children(void *arg, struct slice row)
{
    (void)row;
    ++*(int *)arg;
    return 0;
}

static int children_of(struct cache_rd *rd, int64_t cat)
{
    int n = 0;
    cr_assert_eq(cache_children(rd, fx_rel("Category", "subcategories"), cat, count_children, &n), 0);
    return n;
}

Test(cache_rebuild, readers_see_the_old_copy_until_the_swap_commits)
{
    struct cache_value c1 = cv_int(1), c2 = cv_int(2);
    fx_subcategory(10, &c1, "old10");
    fx_subcategory(11, &c1, "old11");
    rebuild_op(cache_rebuild_begin);
    fx_subcategory(10, &c2, "new10"); /* into the shadow */
    fx_subcategory(12, &c2, "new12");
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    char *s = name_of(rd, 10);
    cr_assert_str_eq(s, "\"old10\"");
    free(s);
    cr_assert_eq(children_of(rd, 1), 2);
    cr_assert_eq(children_of(rd, 2), 0);
    struct cache_meta meta;
    cr_assert_eq(cache_meta_get(rd, fx_model("Subcategory"), &meta), 0);
    cr_assert_eq(meta.rows, 2);
    rebuild_op(cache_rebuild_swap);
    s = name_of(rd, 10); /* still the snapshot taken before the swap */
    cr_assert_str_eq(s, "\"old10\"");
    free(s);
    cache_rd_end(rd);

    cr_assert_eq(cache_rd_begin(rd), 0);
    s = name_of(rd, 10);
    cr_assert_str_eq(s, "\"new10\"");
    free(s);
    s = name_of(rd, 11);
    cr_assert_str_eq(s, "(none)", "rows not rewritten by the rebuild are gone");
    free(s);
    cr_assert_eq(children_of(rd, 1), 0, "the index was swapped with the rows");
    cr_assert_eq(children_of(rd, 2), 2);
    cr_assert_eq(cache_meta_get(rd, fx_model("Subcategory"), &meta), 0);
    cr_assert_eq(meta.rows, 2);
    cache_rd_free(rd);
}

Test(cache_rebuild, abandon_discards_the_shadow)
{
    struct cache_value c1 = cv_int(1);
    fx_subcategory(10, &c1, "old");
    rebuild_op(cache_rebuild_begin);
    fx_subcategory(10, &c1, "new");
    rebuild_op(cache_rebuild_abandon);
    fx_subcategory(11, &c1, "after"); /* writes go live again */
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    char *s = name_of(rd, 10);
    cr_assert_str_eq(s, "\"old\"");
    free(s);
    cr_assert_eq(children_of(rd, 1), 2);
    cache_rd_free(rd);
    rebuild_op(cache_rebuild_abandon); /* nothing open: a no-op */
}

Test(cache_rebuild, begin_discards_an_unfinished_earlier_shadow)
{
    struct cache_value c1 = cv_int(1);
    rebuild_op(cache_rebuild_begin);
    fx_subcategory(10, &c1, "stale");
    rebuild_op(cache_rebuild_begin);
    fx_subcategory(11, &c1, "fresh");
    rebuild_op(cache_rebuild_swap);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    char *s = name_of(rd, 10);
    cr_assert_str_eq(s, "(none)");
    free(s);
    cr_assert_eq(children_of(rd, 1), 1);
    cache_rd_free(rd);
}

Test(cache_rebuild, swap_without_begin_is_einval_and_swaps_twice_alternate)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_rebuild_swap(w, fx_model("Subcategory")), -EINVAL);
    cache_wtxn_abort(w);
    struct cache_value c1 = cv_int(1);
    for (int i = 0; i < 3; i++) {
        rebuild_op(cache_rebuild_begin);
        fx_subcategory(10 + i, &c1, "x");
        rebuild_op(cache_rebuild_swap);
    }
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(children_of(rd, 1), 1);
    cache_rd_free(rd);
}

Test(cache_rebuild, open_rebuild_survives_reopen_and_is_swapped_in_the_callers_txn)
{
    struct cache_value c1 = cv_int(1);
    fx_subcategory(10, &c1, "old");
    rebuild_op(cache_rebuild_begin);
    fx_subcategory(10, &c1, "new");
    cache_close(fx_cache);
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_rebuild_swap(w, fx_model("Subcategory")), 0);
    char *s = name_of(cache_wtxn_rd(w), 10);
    cr_assert_str_eq(s, "\"new\"", "the txn itself sees the swap");
    free(s);
    cache_wtxn_abort(w); /* and an aborted swap never happened */
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    s = name_of(rd, 10);
    cr_assert_str_eq(s, "\"old\"");
    free(s);
    cache_rd_free(rd);
}
