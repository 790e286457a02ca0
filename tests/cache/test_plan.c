#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_plan, .init = fx_open, .fini = fx_close);

static struct collector col(const char *model)
{
    return (struct collector){.event = "fetchX", .model = fx_model(model)};
}

static int parse(struct cache_plan *p, const char *model, const char *opts, char *err, size_t errlen)
{
    static struct collector c;
    c = col(model);
    json_t *j = opts ? json_loads(opts, JSON_DECODE_ANY, NULL) : NULL;
    cr_assert(!opts || j, "bad test JSON %s", opts);
    int rc = cache_plan_parse(p, &c, j, err, errlen);
    json_decref(j);
    return rc;
}

static void error_is(const char *model, const char *opts, const char *want)
{
    struct cache_plan p;
    char err[256] = "";
    cr_assert_eq(parse(&p, model, opts, err, sizeof err), -EINVAL, "%s accepted", opts);
    cr_assert_str_eq(err, want, "for %s: %s", opts, err);
    cr_assert_null(p.arena, "a failed parse frees what it allocated");
}

Test(cache_plan, no_opts_is_every_scalar_in_schema_order)
{
    struct cache_plan p;
    char err[128];
    cr_assert_eq(parse(&p, "Product", NULL, err, sizeof err), 0);
    cr_assert_eq(p.root.n_fields, 4);
    cr_assert_str_eq(p.root.fields[3]->name, "price");
    cr_assert_eq(p.root.n_children, 0);
    cache_plan_fini(&p);
    cr_assert_eq(parse(&p, "Product", "null", err, sizeof err), 0);
    cr_assert_eq(p.root.n_fields, 4);
    cache_plan_fini(&p);
    cr_assert_eq(parse(&p, "Product", "{}", err, sizeof err), 0);
    cr_assert_eq(p.root.n_fields, 4);
    cache_plan_fini(&p);
    cr_assert_eq(parse(&p, "Product", "{\"select\":null,\"include\":null}", err, sizeof err), 0);
    cr_assert_eq(p.root.n_fields, 4);
    cache_plan_fini(&p);
}

Test(cache_plan, select_keeps_schema_order_and_relations_in_request_order)
{
    struct cache_plan p;
    char err[128];
    cr_assert_eq(parse(&p, "Company", "{\"select\":{\"children\":true,\"name\":true,\"parent\":"
                                      "{\"select\":{\"id\":true}},\"id\":true,\"deleted\":false}}",
                       err, sizeof err), 0, "%s", err);
    cr_assert_eq(p.root.n_fields, 2);
    cr_assert_str_eq(p.root.fields[0]->name, "id");
    cr_assert_str_eq(p.root.fields[1]->name, "name");
    cr_assert_eq(p.root.n_children, 2);
    cr_assert_str_eq(p.root.children[0].via->name, "children");
    cr_assert_eq(p.root.children[0].n_fields, 4);
    cr_assert_str_eq(p.root.children[1].via->name, "parent");
    cr_assert_eq(p.root.children[1].n_fields, 1);
    cache_plan_fini(&p);
}

Test(cache_plan, arrays_dedupe_and_false_entries_are_left_out)
{
    struct cache_plan p;
    char err[128];
    cr_assert_eq(parse(&p, "Company", "{\"include\":[\"children\",\"children\"]}", err, sizeof err), 0);
    cr_assert_eq(p.root.n_children, 1);
    cache_plan_fini(&p);
    cr_assert_eq(parse(&p, "Company", "{\"include\":{\"children\":false,\"parent\":true}}", err,
                       sizeof err), 0);
    cr_assert_eq(p.root.n_children, 1);
    cr_assert_str_eq(p.root.children[0].via->name, "parent");
    cache_plan_fini(&p);
    cr_assert_eq(parse(&p, "Company", "{\"select\":[\"name\",\"name\"]}", err, sizeof err), 0);
    cr_assert_eq(p.root.n_fields, 1);
    cache_plan_fini(&p);
}

Test(cache_plan, nesting_up_to_the_limit_is_accepted)
{
    struct cache_plan p;
    char err[256];
    cr_assert_eq(parse(&p, "Company", "{\"include\":{\"children\":{\"include\":{\"children\":{\"include\":"
                                      "{\"children\":{\"include\":{\"parent\":true}}}}}}}}",
                       err, sizeof err), 0, "%s", err);
    cache_plan_fini(&p);
}

Test(cache_plan, collector_filter_and_max_rows_are_kept)
{
    struct cache_plan p;
    char err[128];
    struct collector_filter f = {fx_field("Product", "price"), "\"12.50\""};
    struct collector c = col("Product");
    c.where = &f;
    c.n_where = 1;
    c.max_rows = 5;
    cr_assert_eq(cache_plan_parse(&p, &c, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(p.max_rows, 5);
    cr_assert_eq(p.n_where, 1);
    cr_assert_eq(p.where[0].json.len, 6);
    cr_assert_eq(memcmp(p.where[0].json.p, "\"12.5\"", 6), 0);
    cache_plan_fini(&p);
    f.json_value = "\"twelve\"";
    cr_assert_eq(cache_plan_parse(&p, &c, NULL, err, sizeof err), -EINVAL);
}

Test(cache_plan, select_and_include_together)
{
    error_is("Company", "{\"select\":[\"id\"],\"include\":[\"parent\"]}", CACHE_ERR_SELECT_AND_INCLUDE);
    error_is("Company", "{\"include\":{\"parent\":{\"select\":{\"id\":true},\"include\":{\"parent\":true}}}}",
             CACHE_ERR_SELECT_AND_INCLUDE);
}

Test(cache_plan, unknown_names)
{
    error_is("Company", "{\"select\":[\"foo\"]}", "Unknown field `foo` for select statement on model `Company`.");
    error_is("Company", "{\"select\":{\"id\":true,\"foo\":true}}",
             "Unknown field `foo` for select statement on model `Company`.");
    error_is("Company", "{\"include\":[\"foo\"]}", "Unknown field `foo` for include statement on model `Company`.");
    error_is("Company", "{\"include\":{\"parent\":{\"include\":{\"bar\":true}}}}",
             "Unknown field `bar` for include statement on model `Company`.");
    error_is("Product", "{\"include\":{\"subcategory\":{\"select\":[\"nope\"]}}}",
             "Unknown field `nope` for select statement on model `Subcategory`.");
    error_is("Company", "{\"include\":[\"name\"]}",
             "Invalid scalar field `name` for include statement on model Company.\nNote that include "
             "statements only accept relation fields.");
}

Test(cache_plan, unknown_options)
{
    /* Prisma 7's sentences: a suggestion at most 3 edits away, among its findMany arguments */
    error_is("Company", "{\"wher\":{\"id\":1}}", "Unknown argument `wher`. Did you mean `where`?");
    error_is("Company", "{\"foo\":1}", "Unknown argument `foo`.");
    error_is("Company", "{\"include\":{\"children\":{\"count\":true}}}", "Unknown argument `count`.");
    error_is("Company", "{\"include\":{\"children\":{\"nope\":1}}}",
             "Unknown argument `nope`. Did you mean `take`?");
    error_is("Company", "{\"include\":{\"parent\":{\"take\":1}}}", "Unknown argument `take`.");
    error_is("Company", "{\"include\":{\"parent\":{\"wher\":1}}}",
             "Unknown argument `wher`. Did you mean `where`?");
    /* Prisma filters a to-one include; cwcache does not (yet): its own words */
    error_is("Company", "{\"include\":{\"parent\":{\"where\":{}}}}",
             "Unknown option \"where\" in relation \"parent\" on model Company: a to-one relation "
             "takes only select and include");
}

Test(cache_plan, find_many_arguments)
{
    error_is("Company", "{\"take\":\"2\"}",
             "Argument `take`: Invalid value provided. Expected Int, provided String.");
    error_is("Company", "{\"skip\":1.5}", "Argument `skip`: Invalid value provided. Expected Int, provided Float.");
    error_is("Company", "{\"skip\":-1}", "Invalid value for skip argument: Value can only be positive, found: -1");
    error_is("Company", "{\"cursor\":{\"name\":\"x\"}}",
             "Argument `cursor` of type CompanyWhereUniqueInput needs at least one of `id` arguments.");
    error_is("Company", "{\"distinct\":[\"nope\"]}",
             "Invalid value for argument `distinct`. Expected CompanyScalarFieldEnum.");
    error_is("Company", "{\"count\":true,\"select\":[\"id\"]}",
             "`count: true` answers a number: it cannot be combined with select or include");
    error_is("Company", "{\"cursor\":5}",
             "Argument `cursor`: Invalid value provided. Expected CompanyWhereUniqueInput, provided Int.");
    error_is("Company", "{\"cursor\":{\"id\":null}}", "Argument `id` must not be null.");
    error_is("Company", "{\"cursor\":{\"id\":\"7\"}}",
             "Argument `id`: Invalid value provided. Expected Int, provided String.");
    error_is("Company", "{\"distinct\":5}",
             "Argument `distinct`: Invalid value provided. Expected CompanyScalarFieldEnum or "
             "CompanyScalarFieldEnum[], provided Int.");
    error_is("Company", "{\"where\":5}",
             "Argument `where`: Invalid value provided. Expected CompanyWhereInput, provided Int.");
    error_is("Company", "{\"include\":{\"children\":{\"where\":[]}}}",
             "Argument `where`: Invalid value provided. Expected CompanyWhereInput, provided List.");
    error_is("Company", "{\"select\":{\"_count\":{\"select\":{\"parent\":true}}}}",
             "Unknown field `parent` for select statement on model `CompanyCountOutputType`.");
    error_is("Company", "{\"include\":{\"_count\":5}}", "Unknown field at \"_count selection\"");
    error_is("Company", "{\"include\":{\"_count\":{\"nope\":1}}}", "Unknown argument `nope`.");
    error_is("Company", "{\"include\":{\"_count\":{\"select\":5}}}",
             "The `select` statement for type CompanyCountOutputType needs at least one truthy value.");
    error_is("Company", "{\"include\":{\"_count\":{\"select\":{\"children\":{\"take\":1}}}}}",
             "Unknown argument `take`.");
    error_is("Company", "{\"include\":{\"_count\":{\"select\":{\"children\":{\"wher\":{}}}}}}",
             "Unknown argument `wher`. Did you mean `where`?");
    struct cache_plan p;
    char err[256];
    cr_assert_eq(parse(&p, "Company", "{\"take\":-3,\"skip\":2,\"cursor\":{\"id\":7},"
                                      "\"distinct\":\"name\",\"count\":true}", err, sizeof err), 0, "%s", err);
    cr_assert(p.count && p.root.has_take && p.root.take == -3 && p.root.skip == 2);
    cr_assert_eq(p.root.cursor_field, fx_field("Company", "id"));
    cr_assert_eq(p.root.cursor.i, 7);
    cr_assert_eq(p.root.n_distinct, 1);
    cache_plan_fini(&p);
}

Test(cache_plan, models_read_include_filters_orders_and_counts)
{
    struct cache_plan p;
    char err[256];
    uint16_t ids[8];
    cr_assert_eq(parse(&p, "Product", "{\"where\":{\"subcategory\":{\"category\":{\"name\":\"x\"}}}}",
                       err, sizeof err), 0, "%s", err);
    cr_assert_eq(cache_plan_models(&p, ids), 3, "Product, Subcategory and Category are read");
    cache_plan_fini(&p);
    cr_assert_eq(parse(&p, "Category", "{\"select\":{\"_count\":true}}", err, sizeof err), 0, "%s", err);
    cr_assert_eq(cache_plan_models(&p, ids), 2);
    cr_assert_eq(ids[1], fx_model("Subcategory")->id);
    cache_plan_fini(&p);
    cr_assert_eq(parse(&p, "Product", "{\"orderBy\":{\"subcategory\":{\"name\":\"asc\"}}}", err,
                       sizeof err), 0, "%s", err);
    cr_assert_eq(cache_plan_models(&p, ids), 2);
    cache_plan_fini(&p);
}

Test(cache_plan, too_deep)
{
    error_is("Company", "{\"include\":{\"children\":{\"include\":{\"children\":{\"include\":"
                        "{\"children\":{\"include\":{\"children\":{\"include\":{\"parent\":true}}}}}}}}}}",
             "Relation \"parent\" on model Company is nested too deep: at most 4 levels of "
             "include/select are allowed");
    error_is("Company", "{\"select\":{\"parent\":{\"select\":{\"parent\":{\"select\":{\"parent\":"
                        "{\"select\":{\"parent\":{\"select\":{\"parent\":true}}}}}}}}}}",
             "Relation \"parent\" on model Company is nested too deep: at most 4 levels of "
             "include/select are allowed");
}

Test(cache_plan, bad_types)
{
    error_is("Company", "[\"id\"]", "Invalid options: expected an object with select or include, got an array");
    error_is("Company", "\"id\"", "Invalid options: expected an object with select or include, got a string");
    error_is("Company", "{\"select\":\"id\"}",
             "The `select` statement for type Company needs at least one truthy value.");
    error_is("Company", "{\"select\":[1]}",
             "Invalid select on model Company: array entries must be field names, got a number");
    error_is("Company", "{\"select\":{\"id\":1}}",
             "Invalid value for \"id\" in select on model Company: expected true, false or an object, got a number");
    error_is("Company", "{\"select\":{\"id\":{\"select\":{}}}}",
             "Field \"id\" on model Company is not a relation: select it with true");
    error_is("Company", "{\"include\":true}",
             "Invalid include on model Company: expected an array of relation names or an object, got a boolean");
    error_is("Company", "{\"include\":[null]}",
             "Invalid include on model Company: array entries must be relation names, got null");
    error_is("Company", "{\"include\":{\"parent\":\"yes\"}}",
             "Invalid value for \"parent\" in include on model Company: expected true, false or an object, got a string");
    error_is("Company", "{\"include\":{\"parent\":[\"id\"]}}",
             "Invalid value for \"parent\" in include on model Company: expected true, false or an object, got an array");
    error_is("Company", "{\"select\":{}}", "The `select` statement for type Company must not be empty.");
    error_is("Company", "{\"select\":{\"id\":false}}",
             "The `select` statement for type Company must not be empty.");
    error_is("Company", "{\"select\":[]}", "The `select` statement for type Company must not be empty.");
}

Test(cache_plan, fini_accepts_null_and_twice)
{
    struct cache_plan p;
    char err[64];
    cr_assert_eq(parse(&p, "Company", NULL, err, sizeof err), 0);
    cache_plan_fini(&p);
    cache_plan_fini(&p);
    cache_plan_fini(NULL);
}

Test(cache_plan, models_read_are_listed_once_each)
{
    struct cache_plan p;
    char err[128];
    uint16_t ids[8];
    cr_assert_eq(parse(&p, "Category", "{\"include\":{\"subcategories\":{\"include\":[\"products\"]}}}",
                       err, sizeof err), 0, "%s", err);
    cr_assert_eq(cache_plan_models(&p, ids), 3);
    cr_assert_eq(ids[0], fx_model("Category")->id);
    cr_assert_eq(ids[1], fx_model("Subcategory")->id);
    cr_assert_eq(ids[2], fx_model("Product")->id);
    cache_plan_fini(&p);
    cr_assert_eq(parse(&p, "Company", "{\"include\":[\"children\",\"parent\"]}", err, sizeof err), 0);
    cr_assert_eq(cache_plan_models(&p, ids), 1, "a self relation reads the same model");
    cr_assert_eq(ids[0], fx_model("Company")->id);
    cache_plan_fini(&p);
}

/* ---- the access path ---------------------------------------------------------------- */

static void path_is(const char *model, const char *opts, enum cache_path_kind kind, const char *field,
                    const char *order_field)
{
    struct cache_plan p;
    char err[256] = "";
    cr_assert_eq(parse(&p, model, opts, err, sizeof err), 0, "%s: %s", opts, err);
    struct cache_path path;
    cache_plan_path(&p.root, &path);
    cr_assert_eq(path.kind, kind, "%s: path %d", opts, path.kind);
    cr_assert_str_eq(path.field ? path.field->name : "-", field, "%s", opts);
    cr_assert_str_eq(path.order_field ? path.order_field->name : "-", order_field, "%s", opts);
    if (p.root.n_children) {
        cache_plan_path(&p.root.children[0], &path);
        cr_assert_eq(path.kind, CACHE_PATH_CHILDREN, "%s: a relation reads its children", opts);
    }
    cache_plan_fini(&p);
}

Test(cache_plan, the_planner_picks_key_index_or_scan)
{
    path_is("Company", "{}", CACHE_PATH_KEY, "-", "-");
    path_is("Company", "{\"where\":{\"id\":{\"gt\":3}},\"orderBy\":{\"id\":\"desc\"}}", CACHE_PATH_KEY, "-", "-");
    path_is("Company", "{\"where\":{\"id\":4,\"name\":\"x\"}}", CACHE_PATH_KEY, "-", "-");
    path_is("Company", "{\"cursor\":{\"id\":4},\"where\":{\"name\":\"x\"}}", CACHE_PATH_KEY, "-", "-");
    path_is("Company", "{\"where\":{\"name\":\"x\"}}", CACHE_PATH_INDEX, "name", "id");
    path_is("AllTypes", "{\"where\":{\"s\":null},\"take\":3}", CACHE_PATH_INDEX, "s", "id");
    path_is("Company", "{\"where\":{\"name\":{\"gt\":\"x\"}}}", CACHE_PATH_INDEX, "name", "-");
    path_is("Company", "{\"where\":{\"name\":{\"gt\":\"x\"}},\"take\":5}", CACHE_PATH_KEY, "-", "-");
    path_is("Company", "{\"where\":{\"name\":{\"not\":\"x\"}}}", CACHE_PATH_KEY, "-", "-");
    path_is("Company", "{\"where\":{\"OR\":[{\"name\":\"x\"}]}}", CACHE_PATH_KEY, "-", "-");
    path_is("Company", "{\"orderBy\":{\"name\":\"desc\"},\"take\":5}", CACHE_PATH_INDEX, "name", "name");
    path_is("Company", "{\"orderBy\":[{\"name\":\"asc\"}],\"where\":{\"name\":{\"lt\":\"m\"}},"
                       "\"include\":{\"children\":true}}", CACHE_PATH_INDEX, "name", "name");
    path_is("Company", "{\"orderBy\":[{\"name\":\"asc\"},{\"deleted\":\"asc\"}]}", CACHE_PATH_SCAN, "-", "-");
    path_is("Company", "{\"orderBy\":{\"deleted\":\"asc\"},\"where\":{\"name\":\"x\"}}", CACHE_PATH_INDEX, "name", "-");
    path_is("Company", "{\"orderBy\":{\"parent\":{\"name\":\"asc\"}}}", CACHE_PATH_SCAN, "-", "-");
    path_is("Company", "{\"orderBy\":{\"name\":\"asc\"},\"distinct\":[\"name\"]}", CACHE_PATH_SCAN, "-", "-");
    path_is("Company", "{\"orderBy\":{\"deleted\":\"asc\"}}", CACHE_PATH_SCAN, "-", "-");
    path_is("Product", "{\"orderBy\":{\"name\":\"asc\"}}", CACHE_PATH_SCAN, "-", "-");
    path_is("AllTypes", "{\"where\":{\"s\":\"a\",\"i\":{\"gte\":1}}}", CACHE_PATH_INDEX, "s", "id");
    path_is("AllTypes", "{\"where\":{\"i\":{\"gte\":1},\"t\":true}}", CACHE_PATH_INDEX, "t", "id");
}

static void bounds_are(const char *opts, const char *lo, const char *hi, bool possible)
{
    struct cache_plan p;
    char err[256] = "";
    cr_assert_eq(parse(&p, "AllTypes", opts, err, sizeof err), 0, "%s: %s", opts, err);
    struct buf l, h, tmp, hex;
    buf_init(&l, 0), buf_init(&h, 0), buf_init(&tmp, 0), buf_init(&hex, 0);
    cr_assert_eq(cache_plan_index_bounds(p.root.where, fx_field("AllTypes", "i"), &l, &h, &tmp), possible, "%s", opts);
    for (int k = 0; k < 2; k++) {
        struct buf *b = k ? &h : &l;
        buf_reset(&hex);
        for (size_t i = 0; i < b->len; i++)
            buf_printf(&hex, "%02x", buf_data(b)[i]);
        char *got = fx_strdup_slice(buf_slice(&hex));
        cr_assert_str_eq(got, k ? hi : lo, "%s %s", opts, k ? "hi" : "lo");
        free(got);
    }
    buf_fini(&l), buf_fini(&h), buf_fini(&tmp), buf_fini(&hex);
    cache_plan_fini(&p);
}

Test(cache_plan, index_bounds_come_from_the_top_level_and)
{
    bounds_are("{\"where\":{\"i\":5}}", "018000000000000005", "018000000000000005", true);
    bounds_are("{\"where\":{\"i\":null}}", "00", "00", true);
    bounds_are("{\"where\":{\"i\":{\"lt\":-1}}}", "01", "017fffffffffffffff", true);
    bounds_are("{\"where\":{\"AND\":[{\"i\":{\"gte\":2}},{\"i\":{\"gt\":3,\"lte\":9}}]}}", "018000000000000003",
               "018000000000000009", true);
    bounds_are("{\"where\":{\"i\":{\"gt\":9,\"lt\":2}}}", "018000000000000009", "018000000000000002", false);
    bounds_are("{\"where\":{\"OR\":[{\"i\":1}],\"s\":\"x\"}}", "", "", true);
}

/* true when the plan reads at most max rows in a fresh snapshot. */
static bool rows_at_most(const char *model, const char *opts, uint64_t max)
{
    struct cache_plan p;
    struct cache_rd *rd;
    char err[256];
    cr_assert_eq(parse(&p, model, opts, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    bool at_most = cache_plan_rows_at_most(&p, rd, max);
    cache_rd_end(rd);
    cr_assert_not(cache_plan_rows_at_most(&p, rd, max), "no snapshot: no answer");
    cache_rd_free(rd);
    cache_plan_fini(&p);
    return at_most;
}

Test(cache_plan, rows_at_most_counts_the_root_model_and_no_relation)
{
    struct cache_value null = cv_null(), one = cv_int(1);
    fx_company(1, "one", false, &null);
    fx_company(2, "two", false, &one);
    fx_company(3, "three", false, &one);
    cr_assert(rows_at_most("Company", NULL, 3));
    cr_assert(rows_at_most("Company", "{\"select\":[\"name\"],\"where\":{\"name\":\"two\"},"
                                      "\"orderBy\":{\"name\":\"desc\"},\"take\":1}", 3));
    cr_assert_not(rows_at_most("Company", NULL, 2), "three rows, over 2");
    /* A relation to the same model still reads more rows than the model holds. */
    cr_assert_not(rows_at_most("Company", "{\"include\":{\"children\":true}}", 100));
    cr_assert_not(rows_at_most("Company", "{\"include\":{\"parent\":true}}", 100));
    cr_assert_not(rows_at_most("Company", "{\"where\":{\"parent\":{\"name\":\"one\"}}}", 100));
    cr_assert_not(rows_at_most("Company", "{\"orderBy\":{\"parent\":{\"name\":\"asc\"}}}", 100));
    cr_assert_not(rows_at_most("Company", "{\"select\":{\"id\":true,\"_count\":true}}", 100));
    cr_assert(rows_at_most("Category", NULL, 0), "an empty model");
}
