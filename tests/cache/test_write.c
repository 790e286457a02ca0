#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_write, .init = fx_open, .fini = fx_close);

static enum cache_put put_category(struct cache_wtxn *w, int64_t id, const char *name)
{
    struct cache_value v[] = {cv_int(id), cv_text(name)};
    enum cache_put res = (enum cache_put)-1;
    char err[128];
    cr_assert_eq(cache_row_put(w, fx_model("Category"), v, &res, err, sizeof err), 0, "%s", err);
    return res;
}

static bool exists(int64_t id)
{
    struct cache_rd *rd;
    struct slice row;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    bool found = cache_row_get(rd, fx_model("Category"), (uint64_t)id, &row) == 0;
    cache_rd_free(rd);
    return found;
}

Test(cache_write, put_reports_inserted_updated_unchanged)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(put_category(w, 1, "a"), CACHE_PUT_INSERTED);
    cr_assert_eq(put_category(w, 1, "a"), CACHE_PUT_UNCHANGED);
    cr_assert_eq(put_category(w, 1, "b"), CACHE_PUT_UPDATED);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(put_category(w, 1, "b"), CACHE_PUT_UNCHANGED, "after commit too");
    cache_wtxn_abort(w);
}

Test(cache_write, unchanged_put_writes_nothing)
{
    fx_category(1, "a");
    struct cache_stats before, after;
    cr_assert_eq(cache_stats_get(fx_cache, &before), 0);
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(put_category(w, 1, "a"), CACHE_PUT_UNCHANGED);
    cache_wtxn_abort(w);
    cr_assert_eq(cache_stats_get(fx_cache, &after), 0);
    cr_assert_eq(before.last_txn_id, after.last_txn_id);
}

Test(cache_write, reads_in_the_txn_see_its_writes_and_abort_drops_them)
{
    struct cache_wtxn *w;
    struct slice row;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    put_category(w, 3, "c");
    struct cache_rd *rd = cache_wtxn_rd(w);
    cr_assert_eq(cache_rd_begin(rd), 0, "begin on a write view is harmless");
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 3, &row), 0);
    cache_rd_end(rd);
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 3, &row), 0, "end does not close a write view");
    cache_wtxn_abort(w);
    cr_assert_not(exists(3));
}

Test(cache_write, delete_removes_and_reports_missing_rows)
{
    fx_category(1, "a");
    fx_category(2, "b");
    fx_delete("Category", 1);
    cr_assert_not(exists(1));
    cr_assert(exists(2));
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_row_delete(w, fx_model("Category"), 1), -ENOENT);
    cache_wtxn_abort(w);
}

Test(cache_write, bad_row_is_refused_and_changes_nothing)
{
    struct cache_wtxn *w;
    char err[128] = "";
    struct cache_value v[] = {cv_int(1), cv_int(5)};
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_row_put(w, fx_model("Category"), v, NULL, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "name"), "%s", err);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert_not(exists(1));
}

Test(cache_write, rows_count_follows_inserts_and_deletes)
{
    fx_category(1, "a");
    fx_category(2, "b");
    fx_category(2, "b2");
    fx_delete("Category", 1);
    struct cache_rd *rd;
    struct cache_meta meta;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_meta_get(rd, fx_model("Category"), &meta), 0);
    cr_assert_eq(meta.rows, 1);
    cache_rd_free(rd);
}
