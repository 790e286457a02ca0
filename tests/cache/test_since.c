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

/* ---- models a request reads outside its include tree -----------------------------
 * A relation filter, `_count` and an orderBy through a to-one relation read
 * other models' rows: a change there can make a root row start or stop
 * matching, or render differently, so it must reach the root too. */

Test(cache_since, a_relation_filter_sends_the_rows_that_start_or_stop_matching)
{
    const char *q = "{\"where\":{\"subcategories\":{\"some\":{\"name\":\"Drills\"}}}}";
    uint64_t v = now_txn();
    struct cache_value c1 = cv_int(1), c2 = cv_int(2);
    fx_subcategory(11, &c1, "Drills"); /* category 1 starts matching */
    expect("Category", q, v, "1");
    v = now_txn();
    fx_subcategory(12, &c2, "Drills"); /* a new child: category 2 starts matching */
    expect("Category", q, v, "2");
    v = now_txn();
    fx_delete("Subcategory", 12); /* category 2 stops matching */
    fx_subcategory(11, &c2, "Drills"); /* moved: 1 stops, 2 starts */
    expect("Category", q, v, "1,2");
    expect("Category", "{\"where\":{\"subcategories\":{\"none\":{\"name\":\"Drills\"}}}}", v, "1,2");
    expect("Category", "{\"where\":{\"subcategories\":{\"every\":{\"name\":\"Drills\"}}}}", v, "1,2");
    expect("Category", NULL, v, ""); /* a request that reads no subcategory */
}

Test(cache_since, a_nested_relation_filter_maps_up_level_by_level)
{
    uint64_t v = now_txn();
    struct cache_value s11 = cv_int(11);
    fx_product(101, &s11, "Rip", "9");
    expect("Category",
           "{\"where\":{\"subcategories\":{\"some\":{\"products\":{\"some\":{\"price\":{\"gt\":5}}}}}}}", v,
           "1");
    /* in an include's where: the root row renders another child list */
    expect("Category",
           "{\"include\":{\"subcategories\":{\"where\":{\"products\":{\"some\":{\"price\":{\"gt\":5}}}}}}}",
           v, "1");
    /* inside a logical operator */
    expect("Category", "{\"where\":{\"OR\":[{\"id\":7},{\"subcategories\":{\"some\":{\"products\":{\"some\":"
                       "{\"name\":\"Rip\"}}}}}]}}",
           v, "1");
}

Test(cache_since, a_to_one_filter_sends_the_rows_pointing_at_a_changed_target)
{
    uint64_t v = now_txn();
    struct cache_value c1 = cv_int(1);
    fx_subcategory(11, &c1, "Rasps");
    expect("Product", "{\"where\":{\"subcategory\":{\"is\":{\"name\":\"Saws\"}}}}", v, "101");
    expect("Product", "{\"where\":{\"subcategory\":{\"isNot\":{\"name\":\"Saws\"}}}}", v, "101");
    v = now_txn();
    fx_category(1, "Gear");
    expect("Product", "{\"where\":{\"subcategory\":{\"is\":{\"category\":{\"is\":{\"name\":\"Tools\"}}}}}}",
           v, "100,101");
}

Test(cache_since, a_count_sends_the_rows_whose_count_changed)
{
    uint64_t v = now_txn();
    struct cache_value c2 = cv_int(2);
    fx_subcategory(12, &c2, "New");
    expect("Category", "{\"select\":{\"id\":true,\"_count\":{\"select\":{\"subcategories\":true}}}}", v, "2");
    expect("Category", "{\"include\":{\"_count\":true}}", v, "2");
    v = now_txn();
    struct cache_value s10 = cv_int(10);
    fx_product(100, &s10, "Claw", "7");
    expect("Category",
           "{\"include\":{\"_count\":{\"select\":{\"subcategories\":{\"where\":{\"products\":{\"some\":"
           "{\"price\":{\"gt\":5}}}}}}}}}",
           v, "1");
    /* in an include: the count of the included rows' relation */
    v = now_txn();
    fx_product(102, &s10, "Peen", "1");
    expect("Category", "{\"include\":{\"subcategories\":{\"include\":{\"_count\":true}}}}", v, "1");
}

Test(cache_since, an_order_through_a_to_one_relation_sends_the_rows_it_orders)
{
    uint64_t v = now_txn();
    fx_category(1, "Aaa");
    expect("Product", "{\"orderBy\":{\"subcategory\":{\"category\":{\"name\":\"asc\"}}}}", v, "100,101");
    expect("Category",
           "{\"include\":{\"subcategories\":{\"include\":{\"products\":{\"orderBy\":{\"subcategory\":"
           "{\"category\":{\"name\":\"asc\"}}}}}}}}",
           v, "1");
}

/* ---- the property: since + the old answer = a fresh fetch -------------------------
 * After any sequence of changes, the old answer with the `since` answer
 * applied (data upserted by id, deleted removed) equals a fresh answer to
 * the same request, for requests that read other models through relation
 * filters, counts and relation orders. A seeded random churn over every
 * model checks it after each step. */

struct mirror {
    const char *model, *opts;
    struct cache_plan plan;
    json_t *rows; /* id (as text) -> row */
    uint64_t version;
};

static struct collector mirror_col[8];

/* Upserts each row of the JSON array `text` by its id into rows. */
static void mirror_upsert(json_t *rows, const char *text)
{
    json_t *a = json_loads(text, 0, NULL);
    cr_assert(json_is_array(a), "not an array: %s", text);
    size_t i;
    json_t *r;
    json_array_foreach(a, i, r)
    {
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(r, "id")));
        json_object_set(rows, id, r);
    }
    json_decref(a);
}

/* The rows as one JSON text in id order (the order of these requests' answers). */
static char *mirror_text(json_t *rows)
{
    json_t *a = json_array();
    for (long long id = 0; id < 1000; id++) {
        char k[32];
        snprintf(k, sizeof k, "%lld", id);
        json_t *r = json_object_get(rows, k);
        if (r)
            json_array_append(a, r);
    }
    char *t = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(a);
    return t;
}

static char *render_all(struct cache_rd *rd, const struct cache_plan *p)
{
    struct cache_source src = cache_source_lmdb(rd);
    struct buf b;
    buf_init(&b, 0);
    size_t size;
    cr_assert_eq(cache_query_render(p, &src, &b, 0, &size), 0);
    char *t = fx_strdup_slice(buf_slice(&b));
    buf_fini(&b);
    return t;
}

/* Brings m up to the store with a since answer, then checks it against a fresh fetch. */
static void mirror_step(struct mirror *m, struct cache_rd *rd, int step)
{
    uint64_t *keys;
    size_t n;
    cr_assert_eq(cache_since_keys(rd, &m->plan, m->version, &keys, &n), 0);
    struct cache_source src = cache_source_lmdb(rd);
    struct buf data, del;
    buf_init(&data, 0);
    buf_init(&del, 0);
    cr_assert_eq(cache_query_render_keys(&m->plan, &src, keys, n, &data, &del), 0);
    free(keys);
    char *d = fx_strdup_slice(buf_slice(&data)), *x = fx_strdup_slice(buf_slice(&del));
    mirror_upsert(m->rows, d);
    json_t *gone = json_loads(x, 0, NULL);
    size_t i;
    json_t *g;
    json_array_foreach(gone, i, g)
    {
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(g));
        json_object_del(m->rows, id);
    }
    json_decref(gone);
    m->version = cache_versions_snapshot(rd);
    char *fresh = render_all(rd, &m->plan);
    json_t *fj = json_loads(fresh, 0, NULL);
    char *want = json_dumps(fj, JSON_COMPACT | JSON_PRESERVE_ORDER), *got = mirror_text(m->rows);
    cr_assert_str_eq(got, want, "step %d, %s %s: the old answer with since %s applied (deleted %s) "
                                "differs from a fresh fetch",
                     step, m->model, m->opts, d, x);
    json_decref(fj);
    free(fresh);
    free(want);
    free(got);
    free(d);
    free(x);
    buf_fini(&data);
    buf_fini(&del);
}

static const char *pick(unsigned *seed, const char *const *from, size_t n) { return from[rand_r(seed) % n]; }

/* One random change to one random model. */
static void churn_one(unsigned *seed)
{
    static const char *const names[] = {"A", "B", "Drills"};
    static const char *const prices[] = {"1", "6", "9"};
    int r = rand_r(seed) % 9;
    struct cache_value none = cv_null();
    int64_t c = 1 + rand_r(seed) % 4, s = 10 + rand_r(seed) % 6, p = 100 + rand_r(seed) % 10,
            k = 1 + rand_r(seed) % 6;
    struct cache_value cat = rand_r(seed) % 5 ? cv_int(1 + rand_r(seed) % 4) : none;
    struct cache_value sub = rand_r(seed) % 5 ? cv_int(10 + rand_r(seed) % 6) : none;
    struct cache_value par = rand_r(seed) % 3 ? cv_int(1 + rand_r(seed) % 6) : none;
    switch (r) {
    case 0: fx_category(c, pick(seed, names, 3)); break;
    case 1: case 2: fx_subcategory(s, &cat, pick(seed, names, 3)); break;
    case 3: case 4: fx_product(p, &sub, pick(seed, names, 3), pick(seed, prices, 3)); break;
    case 5: fx_company(k, pick(seed, names, 3), rand_r(seed) % 2, &par); break;
    case 6: fx_delete_maybe(pick(seed, (const char *const[]){"Category", "Company"}, 2), (uint64_t)c); break;
    case 7: fx_delete_maybe("Subcategory", (uint64_t)s); break;
    default: fx_delete_maybe("Product", (uint64_t)p); break;
    }
}

Test(cache_since, applying_since_to_the_old_answer_equals_a_fresh_fetch_under_random_churn)
{
    static const char *const reqs[][2] = {
        {"Category", "{\"where\":{\"subcategories\":{\"some\":{\"name\":\"Drills\"}}}}"},
        {"Category", "{\"where\":{\"subcategories\":{\"every\":{\"products\":{\"some\":{\"price\":{\"gt\":5}}}}}}}"},
        {"Category", "{\"include\":{\"_count\":true,\"subcategories\":{\"where\":{\"products\":{\"none\":"
                     "{\"name\":\"A\"}}},\"include\":{\"_count\":true}}}}"},
        {"Category", "{\"select\":{\"id\":true,\"_count\":{\"select\":{\"subcategories\":{\"where\":"
                     "{\"products\":{\"some\":{\"name\":\"B\"}}}}}}}}"},
        {"Product", "{\"where\":{\"subcategory\":{\"is\":{\"category\":{\"is\":{\"name\":\"A\"}}}}},"
                    "\"include\":{\"subcategory\":true}}"},
        {"Company", "{\"where\":{\"OR\":[{\"children\":{\"some\":{\"deleted\":true}}},{\"parent\":"
                    "{\"isNot\":{\"name\":\"A\"}}}]},\"include\":{\"parent\":true}}"},
        {"Subcategory", "{\"include\":{\"products\":{\"orderBy\":[{\"subcategory\":{\"category\":{\"name\":"
                        "\"desc\"}}},{\"id\":\"desc\"}]}}}"},
        {"Category", "{\"include\":{\"subcategories\":{\"include\":{\"products\":true}}}}"},
    };
    enum { N = sizeof reqs / sizeof reqs[0] };
    struct mirror m[N];
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    for (size_t i = 0; i < N; i++) {
        m[i] = (struct mirror){.model = reqs[i][0], .opts = reqs[i][1], .rows = json_object()};
        mirror_col[i] = (struct collector){.event = "fetchX", .model = fx_model(m[i].model)};
        char err[256] = "";
        json_t *j = json_loads(m[i].opts, 0, NULL);
        cr_assert_not_null(j, "bad JSON %s", m[i].opts);
        cr_assert_eq(cache_plan_parse(&m[i].plan, &mirror_col[i], j, err, sizeof err), 0, "%s: %s",
                     m[i].opts, err);
        json_decref(j);
        char *all = render_all(rd, &m[i].plan);
        mirror_upsert(m[i].rows, all);
        free(all);
        m[i].version = cache_versions_snapshot(rd);
    }
    cache_rd_end(rd);
    unsigned seed = 17;
    for (int step = 0; step < 300; step++) {
        for (int k = rand_r(&seed) % 3; k >= 0; k--)
            churn_one(&seed);
        cr_assert_eq(cache_rd_begin(rd), 0);
        for (size_t i = 0; i < N; i++)
            mirror_step(&m[i], rd, step);
        cache_rd_end(rd);
    }
    for (size_t i = 0; i < N; i++) {
        cache_plan_fini(&m[i].plan);
        json_decref(m[i].rows);
    }
    cache_rd_free(rd);
}
