#include <criterion/criterion.h>

#include "fixture.h"

static void data(void)
{
    fx_open();
    struct cache_value c1 = cv_int(1), none = cv_null();
    fx_category(1, "Tools");
    fx_subcategory(10, &c1, NULL);
    fx_subcategory(11, &none, "Saws");
}

TestSuite(cache_match, .init = data, .fini = fx_close);

/* Evaluates where on row pk of model. */
static int eval(const char *model, uint64_t pk, const char *where)
{
    void *arena = NULL;
    const struct cache_filter *f;
    char err[256] = "";
    json_t *j = json_loads(where, 0, NULL);
    cr_assert_not_null(j, "bad test JSON %s", where);
    cr_assert_eq(cache_where_parse(&arena, fx_model(model), j, &f, err, sizeof err), 0, "%s", err);
    json_decref(j);
    struct cache_rd *rd;
    struct slice row;
    struct cache_row_view v;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_row_get(rd, fx_model(model), pk, &row), 0);
    cr_assert_eq(cache_row_view(row, fx_model(model), &v), 0);
    struct cache_source src = cache_source_lmdb(rd);
    struct cache_eval e = {.src = &src};
    buf_init(&e.tmp, 0);
    int rc = cache_filter_eval(&e, f, &v);
    buf_fini(&e.tmp);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_arena_free(&arena);
    return rc;
}

Test(cache_match, comparisons_with_null_are_unknown_and_not_keeps_them_unknown)
{
    cr_assert_eq(eval("Subcategory", 10, "{\"name\":\"Saws\"}"), CACHE_TRI_U);
    cr_assert_eq(eval("Subcategory", 10, "{\"NOT\":{\"name\":\"Saws\"}}"), CACHE_TRI_U);
    cr_assert_eq(eval("Subcategory", 10, "{\"name\":{\"not\":\"Saws\"}}"), CACHE_TRI_U);
    cr_assert_eq(eval("Subcategory", 10, "{\"name\":null}"), CACHE_TRI_T, "IS NULL is never unknown");
    cr_assert_eq(eval("Subcategory", 11, "{\"name\":{\"not\":\"Saws\"}}"), CACHE_TRI_F);
}

Test(cache_match, junctions_combine_three_values)
{
    cr_assert_eq(eval("Subcategory", 10, "{\"OR\":[{\"name\":\"x\"},{\"id\":10}]}"), CACHE_TRI_T);
    cr_assert_eq(eval("Subcategory", 10, "{\"OR\":[{\"name\":\"x\"},{\"id\":9}]}"), CACHE_TRI_U);
    cr_assert_eq(eval("Subcategory", 10, "{\"AND\":[{\"name\":\"x\"},{\"id\":9}]}"), CACHE_TRI_F);
    cr_assert_eq(eval("Subcategory", 10, "{\"OR\":[]}"), CACHE_TRI_F, "an empty OR is false");
}

Test(cache_match, every_is_not_broken_by_unknown_children)
{
    /* Category 1's only subcategory has a null name: unknown, so not a counterexample. */
    cr_assert_eq(eval("Category", 1, "{\"subcategories\":{\"every\":{\"name\":\"Saws\"}}}"), CACHE_TRI_T);
    cr_assert_eq(eval("Category", 1, "{\"subcategories\":{\"some\":{\"name\":\"Saws\"}}}"), CACHE_TRI_F);
    cr_assert_eq(eval("Category", 1, "{\"subcategories\":{\"none\":{\"id\":10}}}"), CACHE_TRI_F);
}

Test(cache_match, to_one_conditions)
{
    cr_assert_eq(eval("Subcategory", 10, "{\"category\":{\"is\":{\"name\":\"TOOLS\"}}}"), CACHE_TRI_T);
    cr_assert_eq(eval("Subcategory", 11, "{\"category\":{\"is\":null}}"), CACHE_TRI_T);
    cr_assert_eq(eval("Subcategory", 11, "{\"category\":{\"isNot\":{\"name\":\"x\"}}}"), CACHE_TRI_T);
    cr_assert_eq(eval("Subcategory", 10, "{\"category\":{\"isNot\":null}}"), CACHE_TRI_T);
}
