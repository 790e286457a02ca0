#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_versions, .init = fx_open, .fini = fx_close);

/* The data version of one model in a fresh snapshot. */
static uint64_t version_of(const char *model)
{
    struct cache_rd *rd;
    const uint64_t *vers;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_versions_get(rd, &vers), 0);
    uint64_t v = vers[fx_model(model)->id];
    cache_rd_end(rd);
    cache_rd_free(rd);
    return v;
}

static void meta_put(const char *model, enum cache_state state)
{
    struct cache_wtxn *w;
    struct cache_meta m = {.state = state};
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_meta_put(w, fx_model(model), &m), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

static void rebuild(int (*op)(struct cache_wtxn *, const struct schema_model *))
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(op(w, fx_model("Subcategory")), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

Test(cache_versions, a_new_store_reads_all_zero)
{
    cr_assert_eq(version_of("Category"), 0);
    cr_assert_eq(version_of("Product"), 0);
}

Test(cache_versions, a_changed_row_moves_its_model_only)
{
    fx_category(1, "one");
    uint64_t cat = version_of("Category");
    cr_assert_gt(cat, 0);
    cr_assert_eq(version_of("Product"), 0, "other models keep their version");
    fx_category(1, "one");
    cr_assert_eq(version_of("Category"), cat, "the same bytes again are no change");
    fx_category(1, "uno");
    cr_assert_gt(version_of("Category"), cat, "new bytes are");
    cat = version_of("Category");
    fx_delete("Category", 1);
    cr_assert_gt(version_of("Category"), cat, "a delete is");
}

Test(cache_versions, meta_and_runs_without_a_state_change_are_no_change)
{
    fx_category(1, "one");
    meta_put("Category", CACHE_WARM);
    uint64_t v = version_of("Category");
    meta_put("Category", CACHE_WARM); /* an idle poll: cursor and run history only */
    struct cache_wtxn *w;
    struct cache_run r = {.kind = "poll"};
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_run_append(w, fx_model("Category"), &r), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert_eq(version_of("Category"), v);
    meta_put("Category", CACHE_WARMING);
    cr_assert_gt(version_of("Category"), v, "leaving warm changes where answers come from");
}

Test(cache_versions, a_rebuild_moves_the_version_at_the_swap_only)
{
    struct cache_value c1 = cv_int(1);
    fx_subcategory(10, &c1, "old");
    uint64_t v = version_of("Subcategory");
    rebuild(cache_rebuild_begin);
    fx_subcategory(10, &c1, "new"); /* into the shadow: readers still see "old" */
    fx_subcategory(11, &c1, "new");
    cr_assert_eq(version_of("Subcategory"), v);
    rebuild(cache_rebuild_swap);
    cr_assert_gt(version_of("Subcategory"), v);
}

Test(cache_versions, the_snapshot_id_is_the_newest_commit_it_shows)
{
    fx_category(1, "one");
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_versions_snapshot(rd), 0, "not active");
    cr_assert_eq(cache_rd_begin(rd), 0);
    const uint64_t *vers;
    cr_assert_eq(cache_versions_get(rd, &vers), 0);
    cr_assert_eq(cache_versions_snapshot(rd), vers[fx_model("Category")->id]);
    cache_rd_end(rd);
    cache_rd_free(rd);
}

Test(cache_versions, the_newest_txn_moves_with_every_commit)
{
    uint64_t before = cache_versions_newest_txn(fx_cache);
    fx_category(1, "one");
    cr_assert_gt(cache_versions_newest_txn(fx_cache), before);
}

Test(cache_versions, version_strings_name_their_store)
{
    char s[CACHE_VERSION_LEN + 1];
    uint64_t v;
    cache_version_format(fx_cache, 0x1234, s);
    cr_assert_eq(strlen(s), CACHE_VERSION_LEN);
    cr_assert_eq(cache_version_parse(fx_cache, s, strlen(s), &v), 0);
    cr_assert_eq(v, 0x1234);
    cr_assert_eq(cache_version_parse(fx_cache, s, 31, &v), -EINVAL);
    s[20] = 'X';
    cr_assert_eq(cache_version_parse(fx_cache, s, strlen(s), &v), -EINVAL);
    s[20] = '0';
    s[0] = s[0] == '0' ? '1' : '0'; /* another store's id */
    cr_assert_eq(cache_version_parse(fx_cache, s, strlen(s), &v), -ESTALE);
}
