#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    /* every test also checks the count read from the index alone */
    uint64_t n = 99;
    cr_assert_eq(cache_children_count(rd, fx_rel("Category", "subcategories"), category, &n), 0);
    cr_assert_eq(n, ids.n, "count %llu, walk %zu", (unsigned long long)n, ids.n);
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

/* The writer keeps moving children between parents, 40 rows a txn. */
static void churn_forever(void)
{
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
    if (cache_open(&fx_cache, &o))
        _exit(1);
    unsigned seed = 1;
    for (;;) {
        struct cache_wtxn *w;
        char err[64];
        if (cache_wtxn_begin(fx_cache, &w))
            _exit(1);
        for (int k = 0; k < 40; k++) {
            int64_t id = rand_r(&seed) % 200, cat = rand_r(&seed) % 6;
            struct cache_value v[] = {cv_int(id), cat ? cv_int(cat) : cv_null(), cv_text("x")};
            int rc = rand_r(&seed) % 5 ? cache_row_put(w, fx_model("Subcategory"), v, NULL, err, sizeof err)
                                       : cache_row_delete(w, fx_model("Subcategory"), (uint64_t)id);
            if (rc && rc != -ENOENT)
                _exit(1);
        }
        if (cache_wtxn_commit(w))
            _exit(1);
    }
}

struct check {
    struct cache_rd *rd;
    size_t indexed_rows;
};

static int check_row(void *arg, struct slice row)
{
    struct check *c = arg;
    int64_t cat;
    if (cache_row_int(row, fx_model("Subcategory"), fx_field("Subcategory", "categoryId"), &cat) == 0)
        c->indexed_rows++;
    return 0;
}

static int child_matches(void *arg, struct slice row)
{
    int64_t *want = arg, cat;
    cr_assert_eq(cache_row_int(row, fx_model("Subcategory"), fx_field("Subcategory", "categoryId"), &cat), 0);
    cr_assert_eq(cat, *want, "index entry under %lld for a row with fk %lld", (long long)*want, (long long)cat);
    return 0;
}

Test(cache_index, kill_9_mid_write_leaves_rows_and_index_consistent)
{
    cache_close(fx_cache);
    fx_cache = NULL;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        churn_forever();
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "the writer failed instead of being killed");
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
    struct check c = {0};
    cr_assert_eq(cache_rd_new(fx_cache, &c.rd), 0);
    cr_assert_eq(cache_rd_begin(c.rd), 0);
    cr_assert_eq(cache_scan(c.rd, fx_model("Subcategory"), check_row, &c), 0);
    for (int64_t cat = 1; cat < 6; cat++)
        cr_assert_eq(cache_children(c.rd, fx_rel("Category", "subcategories"), cat, child_matches, &cat), 0);
    cache_rd_free(c.rd);
    cr_assert_gt(c.indexed_rows, 0, "the writer got some work done");
    cr_assert_eq(index_entries(), c.indexed_rows, "one entry per row with a foreign key, no more");
}
