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

/* LMDB commits a transaction that dirtied no page without writing a new
 * meta page, so the environment's last txn id moves only if something was
 * written. (After an abort it never moves: that proves nothing.) */
static uint64_t txn_id_after_commit(int64_t id, const char *name)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    put_category(w, id, name);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    struct cache_stats st;
    cr_assert_eq(cache_stats_get(fx_cache, &st), 0);
    return st.last_txn_id;
}

Test(cache_write, unchanged_put_writes_nothing)
{
    fx_category(1, "a");
    struct cache_stats before;
    cr_assert_eq(cache_stats_get(fx_cache, &before), 0);
    cr_assert_eq(txn_id_after_commit(1, "a"), before.last_txn_id, "the same row wrote a page");
    cr_assert_gt(txn_id_after_commit(1, "b"), before.last_txn_id, "a changed row writes");
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

static enum cache_put put_encoded(struct cache_wtxn *w, int64_t id, const char *name)
{
    struct cache_value v[] = {cv_int(id), cv_text(name)};
    struct buf b;
    char err[128];
    buf_init(&b, 0);
    cr_assert_eq(cache_row_encode(fx_model("Category"), v, &b, err, sizeof err), 0, "%s", err);
    enum cache_put res = (enum cache_put)-1;
    cr_assert_eq(cache_row_put_encoded(w, fx_model("Category"), buf_slice(&b), &res), 0);
    buf_fini(&b);
    return res;
}

static void expect_keys(const uint64_t *want, size_t n)
{
    struct cache_rd *rd;
    uint64_t got[16];
    size_t ngot;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_keys_next(rd, fx_model("Category"), true, 0, got, 16, &ngot), 0);
    cache_rd_free(rd);
    cr_assert_eq(ngot, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "key %zu: %llu, want %llu", i, (unsigned long long)got[i],
                     (unsigned long long)want[i]);
}

Test(cache_write, keys_past_the_tail_append_and_others_upsert_in_any_order)
{
    fx_category(0, "zero"); /* key 0 stored: the tail starts at an existing key */
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(put_encoded(w, 0, "zero"), CACHE_PUT_UNCHANGED, "key 0 is not above the tail");
    cr_assert_eq(put_encoded(w, 5, "e"), CACHE_PUT_INSERTED);
    cr_assert_eq(put_encoded(w, 10, "j"), CACHE_PUT_INSERTED);
    cr_assert_eq(put_encoded(w, 7, "g"), CACHE_PUT_INSERTED, "below the tail: looked up");
    cr_assert_eq(put_encoded(w, 10, "j"), CACHE_PUT_UNCHANGED);
    cr_assert_eq(put_encoded(w, 10, "J"), CACHE_PUT_UPDATED);
    cr_assert_eq(cache_row_delete(w, fx_model("Category"), 10), 0);
    /* The tail (10) is stale after the delete: 9 takes the ordinary path. */
    cr_assert_eq(put_encoded(w, 9, "i"), CACHE_PUT_INSERTED);
    cr_assert_eq(put_encoded(w, 12, "l"), CACHE_PUT_INSERTED);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    expect_keys((const uint64_t[]){0, 5, 7, 9, 12}, 5);
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(put_encoded(w, 12, "l"), CACHE_PUT_UNCHANGED, "the tail is read again per txn");
    cr_assert_eq(put_encoded(w, 13, "m"), CACHE_PUT_INSERTED);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    expect_keys((const uint64_t[]){0, 5, 7, 9, 12, 13}, 6);
}

Test(cache_write, first_put_into_an_empty_store_appends_key_zero)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(put_encoded(w, 0, "zero"), CACHE_PUT_INSERTED);
    cr_assert_eq(put_encoded(w, 0, "zero"), CACHE_PUT_UNCHANGED);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    expect_keys((const uint64_t[]){0}, 1);
}

Test(cache_write, put_encoded_refuses_bytes_that_are_not_a_row_of_the_model)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    static const uint8_t junk[24] = {9};
    cr_assert_eq(cache_row_put_encoded(w, fx_model("Category"), (struct slice){junk, sizeof junk},
                                       NULL),
                 -EPROTO);
    struct cache_value v[] = {cv_int(1), cv_text("a")};
    struct buf b;
    char err[128];
    buf_init(&b, 0);
    cr_assert_eq(cache_row_encode(fx_model("Category"), v, &b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cache_row_put_encoded(w, fx_model("Product"), buf_slice(&b), NULL), -EPROTO,
                 "a Category row is not a Product row");
    buf_fini(&b);
    cache_wtxn_abort(w);
}
