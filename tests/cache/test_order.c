#include <criterion/criterion.h>

#include <errno.h>

#include "fixture.h"

static void setup(void) { fx_schema = fx_schema_parse(fx_schema_text); }
static void teardown(void) { schema_free(fx_schema); }

TestSuite(cache_order, .init = setup, .fini = teardown);

static int parse(const char *model, const char *ob, const struct cache_order **keys, size_t *n,
                 void **arena, char *err)
{
    json_t *j = json_loads(ob, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(j, "bad test JSON %s", ob);
    int rc = cache_order_parse(arena, fx_model(model), j, keys, n, err, 256);
    json_decref(j);
    return rc;
}

Test(cache_order, forms_and_relation_paths)
{
    void *arena = NULL;
    const struct cache_order *k;
    size_t n;
    char err[256] = "";
    cr_assert_eq(parse("Product", "[{\"name\":\"desc\"},{\"subcategory\":{\"category\":{\"name\":"
                                  "\"asc\"}}},{\"price\":{\"sort\":\"desc\"}}]", &k, &n, &arena, err), 0, "%s", err);
    cr_assert_eq(n, 3);
    cr_assert(k[0].desc && k[0].n_path == 0);
    cr_assert(!k[1].desc && k[1].n_path == 2 && k[1].field == fx_field("Category", "name"));
    cr_assert(k[2].desc && k[2].field == fx_field("Product", "price"), "{sort} on a nullable field");
    /* the number of a to-many relation's rows, at the end of a path too */
    cr_assert_eq(parse("Product", "[{\"subcategory\":{\"category\":{\"subcategories\":{\"_count\":"
                                  "\"desc\"}}}},{\"id\":\"asc\"}]", &k, &n, &arena, err), 0, "%s", err);
    cr_assert_eq(n, 2);
    cr_assert(k[0].desc && k[0].n_path == 2 && !k[0].field);
    cr_assert_eq(k[0].count, schema_relation_find(fx_model("Category"), "subcategories", 13));
    cr_assert(!k[1].count && k[1].field == fx_field("Product", "id"));
    cache_arena_free(&arena);
}

Test(cache_order, errors_name_the_problem)
{
    void *arena = NULL;
    const struct cache_order *k;
    size_t n;
    char err[256] = "";
    cr_assert_eq(parse("Product", "{\"name\":\"up\"}", &k, &n, &arena, err), -EINVAL);
    cr_assert_str_eq(err, "Invalid value for argument `name`. Expected SortOrder.");
    /* Prisma 7's sentences (docs/query.md) */
    static const char *const cases[][2] = {
        {"{\"nope\":\"asc\"}", "Unknown argument `nope`. Did you mean `name`?"},
        {"{\"zzzzzz\":\"asc\"}", "Unknown argument `zzzzzz`."},
        {"{\"subcategory\":{\"nme\":\"asc\"}}", "Unknown argument `nme`. Did you mean `name`?"},
        {"{\"name\":{\"sort\":\"asc\"}}",
         "Argument `name`: Invalid value provided. Expected SortOrder, provided Object."},
        {"{\"name\":5}", "Argument `name`: Invalid value provided. Expected SortOrder, provided Int."},
        {"{\"price\":{\"sort\":\"up\"}}", "Invalid value for argument `sort`. Expected SortOrder."},
        {"{\"price\":{\"nulls\":\"first\"}}", "Argument `sort` is missing."},
        {"{\"subcategory\":\"asc\"}", "Argument `subcategory`: Invalid value provided. Expected "
                                        "SubcategoryOrderByWithRelationInput, provided String."},
        {"5", "Argument `orderBy`: Invalid value provided. Expected ProductOrderByWithRelationInput[] or "
              "ProductOrderByWithRelationInput, provided Int."},
        {"[5]", "Argument `orderBy`: Invalid value provided. Expected ProductOrderByWithRelationInput, "
                "provided (Int)."},
        {"{\"name\":\"asc\",\"id\":\"asc\"}", "Argument `orderBy`: Invalid value provided. Expected "
                                            "ProductOrderByWithRelationInput[], provided Object."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_assert_eq(parse("Product", cases[i][0], &k, &n, &arena, err), -EINVAL, "%s accepted", cases[i][0]);
        cr_assert_str_eq(err, cases[i][1], "for %s", cases[i][0]);
    }
    cr_assert_eq(parse("Category", "{\"subcategories\":\"asc\"}", &k, &n, &arena, err), -EINVAL);
    cr_assert_str_eq(err, "Argument `subcategories`: Invalid value provided. Expected "
                          "SubcategoryOrderByRelationAggregateInput, provided String.");
    static const char *const counts[][2] = {
        {"{\"subcategories\":{}}", "Argument `subcategories` of type SubcategoryOrderByRelationAggregateInput "
                                   "needs at least one argument."},
        {"{\"subcategories\":{\"_cont\":\"asc\"}}", "Unknown argument `_cont`. Did you mean `_count`?"},
        {"{\"subcategories\":{\"_count\":\"asc\",\"name\":\"asc\"}}", "Unknown argument `name`."},
        {"{\"subcategories\":{\"_count\":null}}", "Argument `_count` must not be null."},
        {"{\"subcategories\":{\"_count\":{\"sort\":\"asc\"}}}",
         "Argument `_count`: Invalid value provided. Expected SortOrder, provided Object."},
        {"{\"subcategories\":{\"_count\":\"up\"}}", "Invalid value for argument `_count`. Expected SortOrder."},
    };
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        cr_assert_eq(parse("Category", counts[i][0], &k, &n, &arena, err), -EINVAL, "%s accepted", counts[i][0]);
        cr_assert_str_eq(err, counts[i][1], "for %s", counts[i][0]);
    }
    cache_arena_free(&arena);
}

Test(cache_order, nulls_first_ascending_then_key)
{
    struct cache_order key = {.field = fx_field("AllTypes", "i")};
    struct slice null = slice_str("null"), one = slice_str("1");
    struct buf tmp;
    buf_init(&tmp, 0);
    cr_assert_lt(cache_order_cmp(&key, 1, &null, 9, &one, 1, &tmp), 0);
    key.desc = true;
    cr_assert_gt(cache_order_cmp(&key, 1, &null, 9, &one, 1, &tmp), 0, "nulls last descending");
    cr_assert_lt(cache_order_cmp(&key, 1, &one, 1, &one, 2, &tmp), 0, "ties: key ascending");
    cr_assert_lt(cache_order_cmp(&key, 0, NULL, 1, NULL, 2, &tmp), 0);
    buf_fini(&tmp);
}
