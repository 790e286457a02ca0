#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

static void data(void)
{
    fx_open();
    struct cache_value c1 = cv_int(1), c99 = cv_int(99), none = cv_null(), s10 = cv_int(10),
                       s11 = cv_int(11), s13 = cv_int(13), p1 = cv_int(1), p2 = cv_int(2);
    fx_category(2, "Empty");
    fx_category(1, "Tools");
    fx_subcategory(11, &c1, "Saws");
    fx_subcategory(10, &c1, "Hammers");
    fx_subcategory(12, &none, NULL);
    fx_subcategory(13, &c99, "Lost");
    fx_product(100, &s10, "Claw", "12.500");
    fx_product(101, &s11, "Rip \"16\"", NULL);
    fx_product(102, &none, "Loose", "0.10");
    fx_product(103, &s13, "Odd", "-0");
    fx_company(1, "Root", false, &none);
    fx_company(2, "Kid", false, &p1);
    fx_company(3, "Gone", true, &p1);
    fx_company(4, "Grandkid", false, &p2);
}

TestSuite(cache_render, .init = data, .fini = fx_close);

static char *render_col(const struct collector *c, const char *opts)
{
    struct cache_plan p;
    char err[256] = "";
    json_t *j = opts ? json_loads(opts, 0, NULL) : NULL;
    cr_assert(!opts || j, "bad test JSON %s", opts);
    cr_assert_eq(cache_plan_parse(&p, c, j, err, sizeof err), 0, "%s", err);
    json_decref(j);
    struct cache_rd *rd;
    struct buf out;
    buf_init(&out, 0);
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    struct cache_source src = cache_source_lmdb(rd);
    cr_assert_eq(cache_query_render(&p, &src, &out, 0, NULL), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_plan_fini(&p);
    char *s = fx_strdup_slice(buf_slice(&out));
    buf_fini(&out);
    return s;
}

static void expect(const char *model, const char *opts, const char *want)
{
    struct collector c = {.event = "fetchX", .model = fx_model(model)};
    char *got = render_col(&c, opts);
    cr_assert_str_eq(got, want, "opts %s", opts ? opts : "(none)");
    free(got);
}

Test(cache_render, full_records)
{
    expect("Category", NULL, "[{\"id\":1,\"name\":\"Tools\"},{\"id\":2,\"name\":\"Empty\"}]");
    expect("Product", NULL,
           "[{\"id\":100,\"subcategoryId\":10,\"name\":\"Claw\",\"price\":\"12.5\"},"
           "{\"id\":101,\"subcategoryId\":11,\"name\":\"Rip \\\"16\\\"\",\"price\":null},"
           "{\"id\":102,\"subcategoryId\":null,\"name\":\"Loose\",\"price\":\"0.1\"},"
           "{\"id\":103,\"subcategoryId\":13,\"name\":\"Odd\",\"price\":\"0\"}]");
}

Test(cache_render, empty_model_is_an_empty_array)
{
    expect("AllTypes", NULL, "[]");
}

/* Prisma 7 renders a select's members in the order the request names them
 * (the original's helper turns a list into {name: true} in list order). */
Test(cache_render, select_array_in_request_order)
{
    expect("Product", "{\"select\":[\"price\",\"id\"]}",
           "[{\"price\":\"12.5\",\"id\":100},{\"price\":null,\"id\":101},"
           "{\"price\":\"0.1\",\"id\":102},{\"price\":\"0\",\"id\":103}]");
    expect("Product", "{\"select\":[\"id\",\"price\",\"id\"]}", /* named twice: once, first place */
           "[{\"id\":100,\"price\":\"12.5\"},{\"id\":101,\"price\":null},"
           "{\"id\":102,\"price\":\"0.1\"},{\"id\":103,\"price\":\"0\"}]");
}

Test(cache_render, select_object)
{
    expect("Category", "{\"select\":{\"name\":true,\"id\":false}}",
           "[{\"name\":\"Tools\"},{\"name\":\"Empty\"}]");
}

Test(cache_render, include_array_with_to_many_empty)
{
    expect("Category", "{\"include\":[\"subcategories\"]}",
           "[{\"id\":1,\"name\":\"Tools\",\"subcategories\":["
           "{\"id\":10,\"categoryId\":1,\"name\":\"Hammers\"},"
           "{\"id\":11,\"categoryId\":1,\"name\":\"Saws\"}]},"
           "{\"id\":2,\"name\":\"Empty\",\"subcategories\":[]}]");
}

Test(cache_render, to_one_null_fk_and_missing_target_are_null)
{
    expect("Subcategory", "{\"include\":[\"category\"]}",
           "[{\"id\":10,\"categoryId\":1,\"name\":\"Hammers\",\"category\":{\"id\":1,\"name\":\"Tools\"}},"
           "{\"id\":11,\"categoryId\":1,\"name\":\"Saws\",\"category\":{\"id\":1,\"name\":\"Tools\"}},"
           "{\"id\":12,\"categoryId\":null,\"name\":null,\"category\":null},"
           "{\"id\":13,\"categoryId\":99,\"name\":\"Lost\",\"category\":null}]");
}

Test(cache_render, nested_include_object)
{
    expect("Product", "{\"include\":{\"subcategory\":{\"include\":{\"category\":true}}}}",
           "[{\"id\":100,\"subcategoryId\":10,\"name\":\"Claw\",\"price\":\"12.5\",\"subcategory\":"
           "{\"id\":10,\"categoryId\":1,\"name\":\"Hammers\",\"category\":{\"id\":1,\"name\":\"Tools\"}}},"
           "{\"id\":101,\"subcategoryId\":11,\"name\":\"Rip \\\"16\\\"\",\"price\":null,\"subcategory\":"
           "{\"id\":11,\"categoryId\":1,\"name\":\"Saws\",\"category\":{\"id\":1,\"name\":\"Tools\"}}},"
           "{\"id\":102,\"subcategoryId\":null,\"name\":\"Loose\",\"price\":\"0.1\",\"subcategory\":null},"
           "{\"id\":103,\"subcategoryId\":13,\"name\":\"Odd\",\"price\":\"0\",\"subcategory\":"
           "{\"id\":13,\"categoryId\":99,\"name\":\"Lost\",\"category\":null}}]");
}

Test(cache_render, include_with_nested_select)
{
    expect("Category", "{\"include\":{\"subcategories\":{\"select\":{\"name\":true}}}}",
           "[{\"id\":1,\"name\":\"Tools\",\"subcategories\":[{\"name\":\"Hammers\"},{\"name\":\"Saws\"}]},"
           "{\"id\":2,\"name\":\"Empty\",\"subcategories\":[]}]");
}

Test(cache_render, select_relations_in_request_order)
{
    expect("Subcategory", "{\"select\":{\"category\":{\"select\":[\"name\"]},\"name\":true,\"products\":true}}",
           "[{\"category\":{\"name\":\"Tools\"},\"name\":\"Hammers\",\"products\":"
           "[{\"id\":100,\"subcategoryId\":10,\"name\":\"Claw\",\"price\":\"12.5\"}]},"
           "{\"category\":{\"name\":\"Tools\"},\"name\":\"Saws\",\"products\":"
           "[{\"id\":101,\"subcategoryId\":11,\"name\":\"Rip \\\"16\\\"\",\"price\":null}]},"
           "{\"category\":null,\"name\":null,\"products\":[]},"
           "{\"category\":null,\"name\":\"Lost\",\"products\":"
           "[{\"id\":103,\"subcategoryId\":13,\"name\":\"Odd\",\"price\":\"0\"}]}]");
    expect("Category", "{\"select\":[\"subcategories\"]}",
           "[{\"subcategories\":[{\"id\":10,\"categoryId\":1,\"name\":\"Hammers\"},"
           "{\"id\":11,\"categoryId\":1,\"name\":\"Saws\"}]},{\"subcategories\":[]}]");
}

Test(cache_render, self_relation_nested_in_itself)
{
    expect("Company", "{\"select\":{\"name\":true,\"children\":{\"select\":{\"name\":true,"
                      "\"children\":{\"select\":[\"name\"]},\"parent\":{\"select\":[\"id\"]}}}}}",
           "[{\"name\":\"Root\",\"children\":["
           "{\"name\":\"Kid\",\"children\":[{\"name\":\"Grandkid\"}],\"parent\":{\"id\":1}},"
           "{\"name\":\"Gone\",\"children\":[],\"parent\":{\"id\":1}}]},"
           "{\"name\":\"Kid\",\"children\":[{\"name\":\"Grandkid\",\"children\":[],\"parent\":{\"id\":2}}]},"
           "{\"name\":\"Gone\",\"children\":[]},"
           "{\"name\":\"Grandkid\",\"children\":[]}]");
}

Test(cache_render, collector_where_and_max_rows)
{
    struct collector_filter f = {fx_field("Company", "deleted"), "false"};
    struct collector c = {.event = "fetchCompanies", .model = fx_model("Company"), .where = &f, .n_where = 1};
    char *s = render_col(&c, "{\"select\":[\"id\"]}");
    cr_assert_str_eq(s, "[{\"id\":1},{\"id\":2},{\"id\":4}]");
    free(s);
    c.max_rows = 2;
    s = render_col(&c, "{\"select\":[\"id\"]}");
    cr_assert_str_eq(s, "[{\"id\":1},{\"id\":2}]");
    free(s);
    struct collector_filter g[] = {{fx_field("Company", "deleted"), "false"},
                                   {fx_field("Company", "parentId"), "1"}};
    c = (struct collector){.event = "x", .model = fx_model("Company"), .where = g, .n_where = 2};
    s = render_col(&c, "{\"select\":[\"name\"]}");
    cr_assert_str_eq(s, "[{\"name\":\"Kid\"}]");
    free(s);
    struct collector_filter h = {fx_field("Product", "price"), "12.5000"};
    c = (struct collector){.event = "x", .model = fx_model("Product"), .where = &h, .n_where = 1};
    s = render_col(&c, "{\"select\":[\"id\"]}");
    cr_assert_str_eq(s, "[{\"id\":100}]", "decimal filter compared canonically");
    free(s);
}

/* A source that fails on the second row: the output must be left as it was. */
static int failing_scan(void *ctx, const struct schema_model *m, cache_row_cb cb, void *arg)
{
    struct cache_rd *rd = ctx;
    struct slice row;
    int rc = cache_row_get(rd, m, 1, &row);
    if (rc == 0)
        rc = cb(arg, row);
    return rc ? rc : -EIO;
}

Test(cache_render, a_failing_source_leaves_no_partial_output)
{
    struct collector c = {.event = "x", .model = fx_model("Category")};
    struct cache_plan p;
    char err[64];
    cr_assert_eq(cache_plan_parse(&p, &c, NULL, err, sizeof err), 0);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    struct cache_source_ops ops = *cache_source_lmdb(rd).ops;
    ops.scan = failing_scan;
    struct cache_source src = {&ops, rd};
    struct buf out;
    buf_init(&out, 0);
    buf_append(&out, "keep", 4);
    cr_assert_eq(cache_query_render(&p, &src, &out, 0, NULL), -EIO);
    cr_assert_eq(out.len, 4);
    buf_fini(&out);
    cache_rd_free(rd);
    cache_plan_fini(&p);
}

static int warm_meta(const char *model, enum cache_state st)
{
    struct cache_wtxn *w;
    struct cache_meta m = {.state = st};
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_meta_put(w, fx_model(model), &m), 0);
    return cache_wtxn_commit(w);
}

Test(cache_render, plan_is_warm_only_when_every_model_it_reads_is)
{
    struct collector c = {.event = "x", .model = fx_model("Product")};
    struct cache_plan p;
    char err[64];
    json_t *j = json_loads("{\"include\":{\"subcategory\":{\"include\":[\"category\"]}}}", 0, NULL);
    cr_assert_eq(cache_plan_parse(&p, &c, j, err, sizeof err), 0);
    json_decref(j);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(warm_meta("Product", CACHE_WARM), 0);
    cr_assert_eq(warm_meta("Subcategory", CACHE_WARM), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_not(cache_plan_warm(&p, rd), "Category is still cold");
    cache_rd_end(rd);
    cr_assert_eq(warm_meta("Category", CACHE_WARM), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert(cache_plan_warm(&p, rd));
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_plan_fini(&p);
}
