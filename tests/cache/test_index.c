#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_index, .init = fx_open, .fini = fx_close);

struct ids {
    uint64_t v[16];
    size_t n;
};

static int collect(void *arg, struct slice row)
{
    struct ids *ids = arg;
    ids->v[ids->n++] = cache_row_pk(row);
    return 0;
}

static struct ids children(int64_t category)
{
    struct ids ids = {.n = 0};
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_children(rd, fx_rel("Category", "subcategories"), category, collect, &ids), 0);
    cache_rd_free(rd);
    return ids;
}

/* Number of entries in the live index, to prove there are no duplicates. */
static size_t index_entries(void)
{
    struct cache_rd *rd;
    MDB_stat st;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    const struct schema_relation *r = fx_rel("Category", "subcategories");
    size_t db = cache_db_index(fx_cache, r->to_many_id, cache_slot_live(rd->slots, r->target->id));
    cr_assert_eq(mdb_stat(rd->txn, fx_cache->dbi[db], &st), 0);
    cache_rd_free(rd);
    return st.ms_entries;
}

Test(cache_index, children_come_in_key_order)
{
    struct cache_value c1 = cv_int(1), c2 = cv_int(2);
    fx_subcategory(30, &c1, "c");
    fx_subcategory(10, &c1, "a");
    fx_subcategory(20, &c2, "b");
    fx_subcategory(5, &c1, "d");
    struct ids ids = children(1);
    cr_assert_eq(ids.n, 3);
    cr_assert_eq(ids.v[0], 5);
    cr_assert_eq(ids.v[1], 10);
    cr_assert_eq(ids.v[2], 30);
    cr_assert_eq(children(2).n, 1);
    cr_assert_eq(children(3).n, 0);
}

Test(cache_index, changed_fk_moves_the_entry)
{
    struct cache_value c1 = cv_int(1), c2 = cv_int(2);
    fx_subcategory(10, &c1, "a");
    fx_subcategory(10, &c2, "a");
    cr_assert_eq(children(1).n, 0);
    cr_assert_eq(children(2).n, 1);
    cr_assert_eq(index_entries(), 1);
}

Test(cache_index, fk_becoming_null_removes_it_and_null_is_never_indexed)
{
    struct cache_value c1 = cv_int(1), none = cv_null();
    fx_subcategory(10, &c1, "a");
    fx_subcategory(10, &none, "a");
    cr_assert_eq(children(1).n, 0);
    fx_subcategory(11, &none, "b");
    cr_assert_eq(index_entries(), 0);
    fx_subcategory(11, &c1, "b");
    cr_assert_eq(children(1).n, 1);
}

Test(cache_index, other_column_changes_keep_one_entry)
{
    struct cache_value c1 = cv_int(1);
    fx_subcategory(10, &c1, "a");
    fx_subcategory(10, &c1, "b");
    fx_subcategory(10, &c1, "c");
    cr_assert_eq(children(1).n, 1);
    cr_assert_eq(index_entries(), 1);
}

Test(cache_index, delete_removes_the_entry)
{
    struct cache_value c1 = cv_int(1);
    fx_subcategory(10, &c1, "a");
    fx_subcategory(11, &c1, "b");
    fx_delete("Subcategory", 10);
    struct ids ids = children(1);
    cr_assert_eq(ids.n, 1);
    cr_assert_eq(ids.v[0], 11);
    cr_assert_eq(index_entries(), 1);
}

Test(cache_index, self_relation_is_indexed)
{
    struct cache_value none = cv_null(), p1 = cv_int(1);
    fx_company(1, "root", false, &none);
    fx_company(2, "kid", false, &p1);
    fx_company(1, "root", false, &p1); /* a row that is its own parent */
    struct cache_rd *rd;
    struct ids ids = {.n = 0};
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_children(rd, fx_rel("Company", "children"), 1, collect, &ids), 0);
    cr_assert_eq(ids.n, 2);
    cr_assert_eq(cache_children(rd, fx_rel("Company", "parent"), 1, collect, &ids), -EINVAL,
                 "to-one relations have no index");
    cache_rd_free(rd);
}

Test(cache_index, repeated_add_and_missing_del_are_no_ops)
{
    struct cache_wtxn *w;
    const struct schema_relation *r = fx_rel("Category", "subcategories");
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_index_add(w, r, 0, 1, 10), 0);
    cr_assert_eq(cache_index_add(w, r, 0, 1, 10), 0);
    cr_assert_eq(cache_index_del(w, r, 0, 1, 99), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert_eq(index_entries(), 1);
}

static int stop_at_first(void *arg, struct slice row)
{
    (void)row;
    ++*(int *)arg;
    return 7;
}

Test(cache_index, callback_result_stops_the_walk)
{
    struct cache_value c1 = cv_int(1);
    fx_subcategory(10, &c1, "a");
    fx_subcategory(11, &c1, "b");
    struct cache_rd *rd;
    int calls = 0;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_children(rd, fx_rel("Category", "subcategories"), 1, stop_at_first, &calls), 7);
    cr_assert_eq(calls, 1);
    cache_rd_free(rd);
}
