#include <criterion/criterion.h>
#include <errno.h>
#include <unistd.h>

#include "fixture.h"

TestSuite(cache_changes, .init = fx_open, .fini = fx_close);

static void warm_all(void)
{
    fx_warm("Category");
    fx_warm("Subcategory");
    fx_warm("Product");
    fx_warm("Company");
}

/* The log after txn `after` as text: "Model:key:op" or "rel:key:op" entries. */
struct seen {
    char text[1024];
    size_t n;
};

static int seen_cb(void *arg, uint16_t id, uint64_t key, uint8_t op)
{
    struct seen *s = arg;
    const struct schema *sc = fx_schema;
    const char *name = id < sc->n_models ? sc->models[id].name : "rel";
    s->n++;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof s->text - len, "%s%s:%llu:%c", len ? " " : "", name,
             (unsigned long long)key, op);
    return 0;
}

static struct seen log_after(uint64_t after)
{
    struct seen s = {"", 0};
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_changes_walk(rd, after, seen_cb, &s), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
    return s;
}

static uint64_t horizon(void)
{
    uint64_t h;
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_changes_horizon(rd, &h), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
    return h;
}

static uint64_t now_txn(void) { return cache_versions_newest_txn(fx_cache); }

Test(cache_changes, rows_of_warm_models_are_logged_with_their_txn)
{
    warm_all();
    uint64_t v0 = now_txn();
    fx_category(2, "two");
    fx_category(1, "one");
    uint64_t v1 = now_txn();
    fx_category(1, "one"); /* the same bytes: no change, no entry */
    fx_delete("Category", 2);
    cr_assert_str_eq(log_after(v0).text, "Category:2:c Category:1:c Category:2:c");
    cr_assert_str_eq(log_after(v1).text, "Category:2:c", "only what came after v1");
    cr_assert_eq(log_after(now_txn()).n, 0);
}

Test(cache_changes, models_not_warm_are_not_logged)
{
    uint64_t v0 = now_txn();
    fx_category(1, "one");
    cr_assert_eq(log_after(v0).n, 0);
    fx_warm("Category");
    cr_assert_str_eq(log_after(v0).text, "Category:0:r", "turning warm replaces the model");
}

Test(cache_changes, a_child_that_moves_or_goes_names_its_old_and_new_parent)
{
    warm_all();
    struct cache_value c1 = cv_int(1), c2 = cv_int(2);
    fx_subcategory(10, &c1, "s");
    uint64_t v = now_txn();
    fx_subcategory(10, &c2, "s");
    cr_assert_str_eq(log_after(v).text, "Subcategory:10:c rel:1:c rel:2:c");
    v = now_txn();
    fx_subcategory(10, &c2, "renamed");
    cr_assert_str_eq(log_after(v).text, "Subcategory:10:c", "same parent: the row alone");
    v = now_txn();
    fx_delete("Subcategory", 10);
    cr_assert_str_eq(log_after(v).text, "Subcategory:10:c rel:2:c");
}

Test(cache_changes, a_swapped_rebuild_replaces_the_model)
{
    warm_all();
    uint64_t v = now_txn();
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_rebuild_begin(w, fx_model("Company")), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    struct cache_value none = cv_null();
    fx_company(5, "shadow", false, &none);
    cr_assert_eq(log_after(v).n, 0, "rows into the shadow are not seen yet");
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_rebuild_swap(w, fx_model("Company")), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert_str_eq(log_after(v).text, "Company:0:r");
}

Test(cache_changes, a_new_store_knows_only_its_newest_version)
{
    cr_assert_eq(horizon(), 0);
    fx_warm("Category");
    cr_assert_eq(horizon(), now_txn() - 1, "complete from the first logged txn on");
}

static void reopen(size_t max_entries, unsigned max_age_s)
{
    cache_close(fx_cache);
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema,
                           .change_log_max_entries = max_entries,
                           .change_log_max_age_s = max_age_s};
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
}

static void two_categories_in_one_txn(int64_t a, int64_t b)
{
    struct cache_wtxn *w;
    char err[128];
    struct cache_value x[] = {cv_int(a), cv_text("a")}, y[] = {cv_int(b), cv_text("b")};
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_row_put(w, fx_model("Category"), x, NULL, err, sizeof err), 0);
    cr_assert_eq(cache_row_put(w, fx_model("Category"), y, NULL, err, sizeof err), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

Test(cache_changes, the_oldest_transactions_go_whole_beyond_the_entry_limit)
{
    reopen(3, 0);
    warm_all();
    two_categories_in_one_txn(1, 2);
    uint64_t first = now_txn();
    two_categories_in_one_txn(3, 4); /* 4 entries > 3: the first txn goes, both of its entries */
    cr_assert_eq(horizon(), first);
    cr_assert_str_eq(log_after(0).text, "Category:3:c Category:4:c");
}

Test(cache_changes, transactions_older_than_the_age_limit_go)
{
    reopen(0, 1);
    warm_all();
    fx_category(1, "one");
    uint64_t first = now_txn();
    cr_assert_eq(log_after(first - 1).n, 1);
    usleep(2100 * 1000); /* the log keeps whole seconds: beyond 1 s for sure */
    fx_category(2, "two");
    cr_assert_eq(horizon(), first);
    cr_assert_str_eq(log_after(0).text, "Category:2:c");
}
