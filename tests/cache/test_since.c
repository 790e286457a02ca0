#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

/* Category 1 > subcategories 10, 11 > products 100 (in 10), 101 (in 11);
 * category 2 with nothing; companies 1 > 2 > 3. All warm. */
static void data(void)
{
    fx_open();
    struct cache_value c1 = cv_int(1), s10 = cv_int(10), s11 = cv_int(11), none = cv_null(),
                       p1 = cv_int(1), p2 = cv_int(2);
    fx_category(1, "Tools");
    fx_category(2, "Empty");
    fx_subcategory(10, &c1, "Hammers");
    fx_subcategory(11, &c1, "Saws");
    fx_product(100, &s10, "Claw", "1");
    fx_product(101, &s11, "Rip", "2");
    fx_company(1, "Root", false, &none);
    fx_company(2, "Kid", false, &p1);
    fx_company(3, "Grandkid", false, &p2);
    fx_warm("Category");
    fx_warm("Subcategory");
    fx_warm("Product");
    fx_warm("Company");
}

TestSuite(cache_since, .init = data, .fini = fx_close);

static uint64_t now_txn(void) { return cache_versions_newest_txn(fx_cache); }

/* The root keys changed since `since` for a request, as "1,2,3", or the error. */
static char *since(const char *model, const char *opts, uint64_t v, int *rc)
{
    struct collector col = {.event = "fetchX", .model = fx_model(model)};
    struct cache_plan p;
    char err[256] = "";
    json_t *j = opts ? json_loads(opts, 0, NULL) : NULL;
    cr_assert_eq(cache_plan_parse(&p, &col, j, err, sizeof err), 0, "%s", err);
    json_decref(j);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    uint64_t *keys;
    size_t n;
    *rc = cache_since_keys(rd, &p, v, &keys, &n);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_plan_fini(&p);
    char *s = calloc(1, 512);
    for (size_t i = 0; *rc == 0 && i < n; i++)
        snprintf(s + strlen(s), 512 - strlen(s), "%s%llu", i ? "," : "", (unsigned long long)keys[i]);
    free(keys);
    return s;
}

static void expect(const char *model, const char *opts, uint64_t v, const char *want)
{
    int rc;
    char *got = since(model, opts, v, &rc);
    cr_assert_eq(rc, 0, "%s %s: error %d", model, opts ? opts : "", rc);
    cr_assert_str_eq(got, want, "%s %s", model, opts ? opts : "");
    free(got);
}

static void expect_stale(const char *model, const char *opts, uint64_t v)
{
    int rc;
    free(since(model, opts, v, &rc));
    cr_assert_eq(rc, -ESTALE, "%s %s: %d", model, opts ? opts : "", rc);
}

Test(cache_since, nothing_changed_is_an_empty_answer)
{
    expect("Category", "{\"include\":{\"subcategories\":true}}", now_txn(), "");
}

Test(cache_since, root_rows_inserted_updated_and_deleted)
{
    uint64_t v = now_txn();
    fx_category(3, "New");
    fx_category(1, "Tools!");
    fx_delete("Category", 2);
    expect("Category", NULL, v, "1,2,3");
}

Test(cache_since, a_changed_child_sends_its_parent_again)
{
    uint64_t v = now_txn();
    struct cache_value c1 = cv_int(1);
    fx_subcategory(11, &c1, "Saws!");
    expect("Category", "{\"include\":{\"subcategories\":true}}", v, "1");
    expect("Category", NULL, v, ""); /* a request that does not include them */
}

Test(cache_since, a_child_moved_away_or_deleted_sends_its_old_parent)
{
    uint64_t v = now_txn();
    struct cache_value c2 = cv_int(2);
    fx_subcategory(10, &c2, "Hammers");
    expect("Category", "{\"include\":{\"subcategories\":true}}", v, "1,2");
    v = now_txn();
    fx_delete("Subcategory", 11);
    expect("Category", "{\"include\":{\"subcategories\":true}}", v, "1");
}

Test(cache_since, a_change_deep_in_nested_includes_reaches_the_root)
{
    uint64_t v = now_txn();
    struct cache_value s11 = cv_int(11);
    fx_product(101, &s11, "Rip", "3");
    expect("Category", "{\"include\":{\"subcategories\":{\"include\":{\"products\":true}}}}", v, "1");
    expect("Product", "{\"include\":{\"subcategory\":{\"include\":{\"category\":true}}}}", v, "101");
}

Test(cache_since, a_changed_to_one_target_sends_the_rows_that_point_at_it)
{
    uint64_t v = now_txn();
    fx_category(1, "Tools!");
    expect("Product", "{\"include\":{\"subcategory\":{\"include\":{\"category\":true}}}}", v, "100,101");
    expect("Subcategory", "{\"include\":{\"category\":true}}", v, "10,11");
    v = now_txn();
    fx_delete("Category", 1);
    expect("Subcategory", "{\"select\":{\"id\":true,\"category\":true}}", v, "10,11");
}

Test(cache_since, a_self_relation_maps_level_by_level)
{
    uint64_t v = now_txn();
    struct cache_value p2 = cv_int(2);
    fx_company(3, "Grandkid!", false, &p2);
    expect("Company", "{\"include\":{\"children\":{\"include\":{\"children\":true}}}}", v, "1,2,3");
    expect("Company", "{\"include\":{\"parent\":true}}", v, "3");
}

Test(cache_since, versions_the_log_cannot_answer_are_stale)
{
    expect_stale("Category", NULL, now_txn() + 1); /* from the future */
    uint64_t v = now_txn();
    struct cache_wtxn *w;
    struct cache_meta m = {.state = CACHE_WARMING};
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_meta_put(w, fx_model("Subcategory"), &m), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    expect_stale("Category", "{\"include\":{\"subcategories\":true}}", v); /* not warm */
    expect("Category", NULL, v, "");                                    /* not read: fine */
    fx_warm("Subcategory");
    expect_stale("Category", "{\"include\":{\"subcategories\":true}}", v); /* replaced */
    expect("Category", "{\"include\":{\"subcategories\":true}}", now_txn(), "");
}

Test(cache_since, versions_before_the_horizon_are_stale)
{
    cache_close(fx_cache);
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema,
                           .change_log_max_entries = 1};
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
    uint64_t v = now_txn();
    fx_category(1, "a");
    fx_category(1, "b"); /* drops the first change */
    expect_stale("Category", NULL, v);
    expect("Category", NULL, v + 1, "1");
}

Test(cache_since, keys_render_as_rows_or_as_deleted)
{
    struct collector col = {.event = "fetchX", .model = fx_model("Category")};
    struct cache_plan p;
    char err[256] = "";
    cr_assert_eq(cache_plan_parse(&p, &col, NULL, err, sizeof err), 0);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    struct cache_source src = cache_source_lmdb(rd);
    struct buf data, del;
    buf_init(&data, 0);
    buf_init(&del, 0);
    uint64_t keys[] = {1, 5, 7};
    cr_assert_eq(cache_query_render_keys(&p, &src, keys, 3, &data, &del), 0);
    char *d = fx_strdup_slice(buf_slice(&data)), *x = fx_strdup_slice(buf_slice(&del));
    cr_assert_str_eq(d, "[{\"id\":1,\"name\":\"Tools\"}]");
    cr_assert_str_eq(x, "[5,7]");
    free(d);
    free(x);
    buf_fini(&data);
    buf_fini(&del);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_plan_fini(&p);
}

Test(cache_since, a_to_one_without_an_inverse_is_found_by_a_scan)
{
    cache_close(fx_cache);
    fx_dir_remove(fx_dir);
    schema_free(fx_schema);
    fx_schema = fx_schema_parse("model Owner {\n  id Int @id\n  name String\n}\n"
                                "model Pet {\n  id Int @id\n  ownerId Int?\n"
                                "  owner Owner? @relation(fields: [ownerId], references: [id])\n}\n");
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
    fx_warm("Owner");
    fx_warm("Pet");
    struct cache_value o1[] = {cv_int(1), cv_text("Ann")}, o2[] = {cv_int(2), cv_text("Bo")};
    struct cache_value a[] = {cv_int(7), cv_int(1)}, b[] = {cv_int(8), cv_int(2)},
                       c[] = {cv_int(9), cv_int(1)};
    fx_put("Owner", o1);
    fx_put("Owner", o2);
    fx_put("Pet", a);
    fx_put("Pet", b);
    fx_put("Pet", c);
    uint64_t v = now_txn();
    o1[1] = cv_text("Anna");
    fx_put("Owner", o1);
    expect("Pet", "{\"include\":{\"owner\":true}}", v, "7,9");
}

Test(cache_since, the_check_alone_sees_a_replacement_after_since)
{
    uint64_t v = now_txn();
    struct collector col = {.event = "fetchX", .model = fx_model("Category")};
    struct cache_plan p;
    char err[256] = "";
    json_t *j = json_loads("{\"include\":{\"subcategories\":true}}", 0, NULL);
    cr_assert_eq(cache_plan_parse(&p, &col, j, err, sizeof err), 0, "%s", err);
    json_decref(j);
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_rebuild_begin(w, fx_model("Subcategory")), 0);
    cr_assert_eq(cache_rebuild_swap(w, fx_model("Subcategory")), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_since_check(rd, &p, v), -ESTALE);
    cr_assert_eq(cache_since_check(rd, &p, now_txn()), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_plan_fini(&p);
}
