#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* Company names differ in case only ("kid"/"KID") and sort differently by
 * bytes and by the collation; subcategory 12 has a null name and 13 a
 * category that does not exist. */
static void data(void)
{
    fx_open();
    struct cache_value c1 = cv_int(1), c99 = cv_int(99), none = cv_null(), s10 = cv_int(10),
                       s11 = cv_int(11), s13 = cv_int(13), p1 = cv_int(1), p2 = cv_int(2);
    fx_category(1, "Tools");
    fx_category(2, "Empty");
    fx_subcategory(10, &c1, "Hammers");
    fx_subcategory(11, &c1, "Saws");
    fx_subcategory(12, &none, NULL);
    fx_subcategory(13, &c99, "Lost");
    fx_product(100, &s10, "Claw", "12.500");
    fx_product(101, &s11, "Rip", NULL);
    fx_product(102, &none, "Loose", "0.10");
    fx_product(103, &s13, "Odd", "-0");
    fx_product(104, &s10, "ball peen", "9.99");
    fx_company(1, "Root", false, &none);
    fx_company(2, "kid", false, &p1);
    fx_company(3, "Gone", true, &p1);
    fx_company(4, "Grandkid", false, &p2);
    fx_company(5, "alpha", false, &none);
    fx_company(6, "KID", false, &p1);
}

TestSuite(cache_page, .init = data, .fini = fx_close);

/* The ids a request returns, as "[1,2]", with select ["id"] added. */
static void ids(const char *model, const char *args, const char *want)
{
    char opts[512], err[256] = "", *got;
    snprintf(opts, sizeof opts, "{\"select\":[\"id\"]%s%s}", *args ? "," : "", args);
    cr_assert_eq(fx_render(model, opts, 0, &got, err, sizeof err), 0, "%s: %s", opts, err);
    char compact[512];
    size_t k = 0;
    compact[k++] = '[';
    for (const char *p = got; *p && k < sizeof compact - 2; p++)
        if ((*p >= '0' && *p <= '9') || (*p == ',' && p[-1] == '}'))
            compact[k++] = *p;
    compact[k++] = ']';
    compact[k] = '\0';
    cr_assert_str_eq(compact, want, "%s gave %s", opts, got);
    free(got);
}

Test(cache_page, scalar_filters_compare_strings_case_insensitively)
{
    ids("Company", "\"where\":{\"name\":\"KID\"}", "[2,6]");
    ids("Company", "\"where\":{\"name\":{\"equals\":\"kid\",\"mode\":\"insensitive\"}}", "[2,6]");
    ids("Company", "\"where\":{\"name\":{\"contains\":\"KI\"}}", "[2,4,6]");
    ids("Company", "\"where\":{\"name\":{\"startsWith\":\"g\"}}", "[3,4]");
    ids("Company", "\"where\":{\"name\":{\"endsWith\":\"T\"}}", "[1]");
    ids("Company", "\"where\":{\"name\":{\"gt\":\"h\",\"lte\":\"kid\"}}", "[2,6]");
}

Test(cache_page, numbers_lists_and_decimals)
{
    /* a value with more digits than the column's scale (decimal(32,16)
     * here) is rounded to it first, as SQL Server converts it */
    ids("Product", "\"where\":{\"price\":\"12.50000000000000004\"}", "[100]");
    ids("Product", "\"where\":{\"price\":{\"lt\":\"9.98999999999999999\"}}", "[102,103]");
    ids("Company", "\"where\":{\"id\":{\"in\":[1,3,99]}}", "[1,3]");
    ids("Company", "\"where\":{\"id\":{\"notIn\":[1,3]}}", "[2,4,5,6]");
    ids("Company", "\"where\":{\"id\":{\"in\":[]}}", "[]");
    ids("Company", "\"where\":{\"id\":{\"gte\":2,\"lt\":4}}", "[2,3]");
    ids("Product", "\"where\":{\"price\":{\"gt\":\"1\"}}", "[100,104]");
    ids("Product", "\"where\":{\"price\":{\"lt\":10}}", "[102,103,104]");
    ids("Product", "\"where\":{\"price\":\"12.50\"}", "[100]");
    ids("Company", "\"where\":{\"deleted\":true}", "[3]");
}

Test(cache_page, nulls_follow_sql_three_valued_logic)
{
    ids("Subcategory", "\"where\":{\"name\":{\"not\":\"Saws\"}}", "[10,13]");
    ids("Subcategory", "\"where\":{\"NOT\":{\"name\":\"Saws\"}}", "[10,13]");
    ids("Subcategory", "\"where\":{\"NOT\":[{\"name\":\"Saws\"},{\"id\":10}]}", "[13]");
    ids("Subcategory", "\"where\":{\"name\":null}", "[12]");
    ids("Subcategory", "\"where\":{\"name\":{\"not\":null}}", "[10,11,13]");
    ids("Subcategory", "\"where\":{\"OR\":[{\"name\":{\"not\":\"x\"}},{\"id\":12}]}", "[10,11,12,13]");
    ids("Subcategory", "\"where\":{\"name\":{\"notIn\":[\"Saws\"]}}", "[10,13]");
}

Test(cache_page, junctions)
{
    ids("Company", "\"where\":{\"OR\":[{\"id\":1},{\"name\":\"alpha\"}]}", "[1,5]");
    ids("Company", "\"where\":{\"AND\":[{\"deleted\":false},{\"parentId\":1}]}", "[2,6]");
    ids("Company", "\"where\":{\"AND\":{\"id\":4}}", "[4]");
    ids("Company", "\"where\":{}", "[1,2,3,4,5,6]");
}

Test(cache_page, relation_filters)
{
    ids("Category", "\"where\":{\"subcategories\":{\"some\":{\"name\":\"saws\"}}}", "[1]");
    ids("Category", "\"where\":{\"subcategories\":{\"none\":{}}}", "[2]");
    ids("Category", "\"where\":{\"subcategories\":{\"every\":{\"name\":{\"startsWith\":\"x\"}}}}", "[2]");
    ids("Category", "\"where\":{\"subcategories\":{\"every\":{\"name\":{\"contains\":\"a\"}}}}", "[1,2]");
    ids("Subcategory", "\"where\":{\"category\":{\"is\":{\"name\":\"tools\"}}}", "[10,11]");
    ids("Subcategory", "\"where\":{\"category\":{\"name\":\"Tools\"}}", "[10,11]");
    /* Prisma: `null` tests the foreign key, so 13's key naming no row is not null */
    ids("Subcategory", "\"where\":{\"category\":null}", "[12]");
    ids("Subcategory", "\"where\":{\"category\":{\"isNot\":null}}", "[10,11,13]");
    ids("Subcategory", "\"where\":{\"category\":{\"isNot\":{\"name\":\"Tools\"}}}", "[12,13]");
    ids("Subcategory", "\"where\":{\"category\":{\"is\":{}}}", "[10,11]");
    ids("Product", "\"where\":{\"subcategory\":{\"category\":{\"name\":\"tools\"}}}", "[100,101,104]");
}

/* Prisma joins a to-one relation (LEFT JOIN) and keeps SQL's unknown: the
 * parent of 2, 3 and 6 (1) has a null parentId, so `parentId = 5` on it is
 * unknown, and so is its negation; without a parent isNot holds. */
Test(cache_page, to_one_filters_keep_unknown)
{
    ids("Company", "\"where\":{\"parent\":{\"isNot\":{\"parentId\":5}}}", "[1,4,5]");
    ids("Company", "\"where\":{\"NOT\":{\"parent\":{\"parentId\":5}}}", "[1,4,5]");
    ids("Company", "\"where\":{\"NOT\":{\"parent\":{\"is\":{\"parentId\":{\"not\":5}}}}}", "[1,5]");
    ids("Company", "\"where\":{\"parent\":{\"is\":{\"parentId\":{\"not\":5}}}}", "[4]");
}

/* Prisma leaves empty conditions out: true in AND, dropped from OR (an OR
 * of nothing is false), NOT of one is none; a bare {rel: {}} is none too. */
Test(cache_page, empty_conditions_as_prisma)
{
    ids("Company", "\"where\":{\"OR\":[{\"id\":2},{}]}", "[2]");
    ids("Company", "\"where\":{\"OR\":[{}]}", "[]");
    ids("Company", "\"where\":{\"OR\":[{\"id\":2},{\"AND\":[{}]},{\"name\":{}}]}", "[2]");
    ids("Company", "\"where\":{\"NOT\":{}}", "[1,2,3,4,5,6]");
    ids("Company", "\"where\":{\"NOT\":[]}", "[1,2,3,4,5,6]");
    ids("Company", "\"where\":{\"NOT\":[{\"id\":2},{}]}", "[1,3,4,5,6]");
    ids("Company", "\"where\":{\"parent\":{}}", "[1,2,3,4,5,6]");
    ids("Company", "\"where\":{\"OR\":[{\"id\":5},{\"parent\":{}}]}", "[5]");
    ids("Company", "\"where\":{\"parent\":{\"NOT\":{}}}", "[2,3,4,6]");
    ids("Company", "\"where\":{\"children\":{\"some\":{\"NOT\":{}}}}", "[1,2]");
    ids("Company", "\"where\":{\"children\":{\"every\":{\"OR\":[{}]}}}", "[3,4,5,6]");
}

/* distinct with a cursor as Prisma 7 runs it: its SQL cursor condition lets
 * the rows with a null parentId through (null matches any value there),
 * distinct runs on them too, then the page starts at the cursor row or is
 * empty when distinct dropped it. Sorted: 1, 5 (null), 2, 3, 6 (1), 4 (2). */
Test(cache_page, distinct_then_cursor_as_prisma)
{
    ids("Company", "\"orderBy\":[{\"parentId\":\"asc\"},{\"id\":\"asc\"}],\"cursor\":{\"id\":6},"
                   "\"distinct\":[\"deleted\"]", "[]");
    ids("Company", "\"orderBy\":[{\"parentId\":\"asc\"},{\"id\":\"asc\"}],\"cursor\":{\"id\":3},"
                   "\"distinct\":[\"deleted\"]", "[3]");
    ids("Company", "\"orderBy\":[{\"parentId\":\"asc\"},{\"id\":\"asc\"}],\"cursor\":{\"id\":3},"
                   "\"distinct\":[\"name\"],\"skip\":1", "[6,4]");
    ids("Company", "\"orderBy\":[{\"name\":\"asc\"}],\"cursor\":{\"id\":4},\"distinct\":\"deleted\"", "[4]");
}

/* A required field through a relation: Prisma's cursor condition is
 * `x = c` and `x > c OR <the path's last foreign key> IS NULL`. 102 has no
 * subcategory and 105 one that does not exist (so no row holds the
 * category key: null too); 103's subcategory 13 names category 99, which
 * does not exist: that key is not null, so 103 follows no cursor, not
 * even its own. Sorted: 102, 103, 105 (no category name), then 100, 101,
 * 104 (Tools). */
Test(cache_page, cursor_through_a_relation_as_prisma)
{
    struct cache_value s77 = cv_int(77);
    fx_product(105, &s77, "Ghost", NULL);
    const char *order = "\"orderBy\":[{\"subcategory\":{\"category\":{\"name\":\"asc\"}}},{\"id\":\"asc\"}],";
    char args[256];
    snprintf(args, sizeof args, "%s\"cursor\":{\"id\":103}", order);
    ids("Product", args, "[]");
    snprintf(args, sizeof args, "%s\"cursor\":{\"id\":102}", order);
    ids("Product", args, "[102,105]");
    snprintf(args, sizeof args, "%s\"cursor\":{\"id\":101}", order);
    ids("Product", args, "[101,104]");
    snprintf(args, sizeof args, "%s\"cursor\":{\"id\":105},\"take\":-5", order);
    ids("Product", args, "[102,105]");
    /* one hop: 105's own subcategory key names no row */
    ids("Product", "\"orderBy\":[{\"subcategory\":{\"id\":\"asc\"}},{\"id\":\"asc\"}],\"cursor\":{\"id\":102}",
        "[102]");
}

/* orderBy the number of a to-many relation's rows, as Prisma's
 * COALESCE(count, 0): 1 has children 2, 3, 6 and 2 has 4; through a
 * missing parent (1, 5) the count is 0. A count is never null, so a cursor
 * on it only positions (3 is deleted: the page still starts after it). */
Test(cache_page, order_by_a_relation_count)
{
    ids("Company", "\"orderBy\":[{\"children\":{\"_count\":\"desc\"}},{\"id\":\"desc\"}]", "[1,2,6,5,4,3]");
    ids("Company", "\"orderBy\":{\"children\":{\"_count\":\"asc\"}}", "[3,4,5,6,2,1]");
    ids("Company", "\"orderBy\":[{\"parent\":{\"children\":{\"_count\":\"asc\"}}},{\"id\":\"asc\"}]",
        "[1,5,4,2,3,6]");
    ids("Company", "\"orderBy\":{\"parent\":{\"children\":{\"_count\":\"asc\"}}},\"take\":-2", "[3,6]");
    ids("Company", "\"where\":{\"deleted\":false},\"orderBy\":{\"children\":{\"_count\":\"desc\"}},"
                   "\"cursor\":{\"id\":3}", "[4,5,6]");
    fx_expect("Company", "{\"where\":{\"id\":1},\"select\":{\"id\":true,\"children\":{\"orderBy\":"
                         "[{\"children\":{\"_count\":\"asc\"}},{\"id\":\"desc\"}],\"select\":[\"id\"]}}}",
              "[{\"id\":1,\"children\":[{\"id\":6},{\"id\":3},{\"id\":2}]}]");
}

Test(cache_page, order_by_collation_nulls_first_and_relations)
{
    ids("Company", "\"orderBy\":{\"name\":\"asc\"}", "[5,3,4,2,6,1]");
    ids("Company", "\"orderBy\":{\"name\":\"desc\"}", "[1,2,6,4,3,5]");
    ids("Company", "\"orderBy\":[{\"deleted\":\"desc\"},{\"id\":\"desc\"}]", "[3,6,5,4,2,1]");
    ids("Subcategory", "\"orderBy\":{\"name\":\"desc\"}", "[11,13,10,12]");
    ids("Subcategory", "\"orderBy\":{\"name\":\"asc\"}", "[12,10,13,11]");
    ids("Product", "\"orderBy\":{\"subcategory\":{\"name\":\"asc\"}}", "[102,100,104,103,101]");
    ids("Product", "\"orderBy\":{\"price\":\"desc\"}", "[100,104,102,103,101]");
}

Test(cache_page, take_skip_and_negative_take)
{
    ids("Company", "\"take\":2,\"skip\":1", "[2,3]");
    ids("Company", "\"take\":0", "[]");
    ids("Company", "\"skip\":5", "[6]");
    ids("Company", "\"take\":-2", "[5,6]");
    ids("Company", "\"take\":-2,\"skip\":1", "[4,5]");
    ids("Company", "\"orderBy\":{\"name\":\"asc\"},\"take\":-2", "[6,1]");
    ids("Company", "\"where\":{\"deleted\":false},\"take\":2", "[1,2]");
}

Test(cache_page, cursor_pages)
{
    ids("Company", "\"cursor\":{\"id\":3},\"take\":2", "[3,4]");
    ids("Company", "\"cursor\":{\"id\":3},\"take\":2,\"skip\":1", "[4,5]");
    ids("Company", "\"cursor\":{\"id\":3},\"take\":-2", "[2,3]");
    ids("Company", "\"cursor\":{\"id\":42},\"take\":2", "[]");
    ids("Company", "\"orderBy\":{\"name\":\"asc\"},\"cursor\":{\"id\":4},\"take\":2", "[4,2]");
    ids("Company", "\"where\":{\"deleted\":false},\"cursor\":{\"id\":3},\"take\":2", "[4,5]");
    ids("Subcategory", "\"orderBy\":{\"name\":\"asc\"},\"cursor\":{\"id\":12}", "[12,10,13,11]");
    ids("Subcategory", "\"orderBy\":{\"name\":\"desc\"},\"cursor\":{\"id\":12},\"take\":-2", "[10,12]");
    ids("Subcategory", "\"orderBy\":{\"name\":\"asc\"},\"cursor\":{\"id\":10}", "[10,13,11]");
}

/* Prisma pages in memory when the cursor's SQL condition cannot be exact
 * (a nullable or relation orderBy, distinct, a relation level): the cursor
 * row must then be among the rows that match, else the page is empty. With
 * a required orderBy the cursor only positions, matching or not. */
Test(cache_page, cursor_outside_where_where_prisma_pages_in_memory)
{
    ids("Subcategory", "\"where\":{\"name\":{\"not\":null}},\"orderBy\":{\"name\":\"asc\"},\"cursor\":{\"id\":12}", "[]");
    ids("Subcategory", "\"where\":{\"name\":{\"not\":null}},\"orderBy\":{\"name\":\"asc\"},\"cursor\":{\"id\":13}", "[13,11]");
    ids("Product", "\"where\":{\"id\":{\"gt\":100}},\"orderBy\":{\"subcategory\":{\"name\":\"asc\"}},\"cursor\":{\"id\":100}", "[]");
    ids("Company", "\"where\":{\"deleted\":false},\"distinct\":[\"name\"],\"cursor\":{\"id\":3}", "[]");
    ids("Company", "\"where\":{\"deleted\":false},\"orderBy\":{\"name\":\"asc\"},\"cursor\":{\"id\":3}", "[4,2,6,1]");
}

Test(cache_page, distinct_keeps_the_first_row_of_each_exact_value)
{
    fx_expect("Company", "{\"distinct\":[\"deleted\"],\"select\":[\"id\",\"deleted\"]}",
              "[{\"id\":1,\"deleted\":false},{\"id\":3,\"deleted\":true}]");
    ids("Company", "\"distinct\":\"name\"", "[1,2,3,4,5,6]");
    ids("Company", "\"distinct\":[\"parentId\"],\"take\":-2", "[5,6]");
    ids("Company", "\"distinct\":[\"parentId\"],\"skip\":1", "[2,4]");
}

Test(cache_page, counts)
{
    fx_expect("Category", "{\"select\":{\"id\":true,\"_count\":{\"select\":{\"subcategories\":true}}}}",
              "[{\"id\":1,\"_count\":{\"subcategories\":2}},{\"id\":2,\"_count\":{\"subcategories\":0}}]");
    fx_expect("Category", "{\"include\":{\"_count\":true}}",
              "[{\"id\":1,\"name\":\"Tools\",\"_count\":{\"subcategories\":2}},"
              "{\"id\":2,\"name\":\"Empty\",\"_count\":{\"subcategories\":0}}]");
    fx_expect("Category",
              "{\"select\":{\"id\":true,\"_count\":{\"select\":{\"subcategories\":{\"where\":"
              "{\"name\":\"Saws\"}}}}}}",
              "[{\"id\":1,\"_count\":{\"subcategories\":1}},{\"id\":2,\"_count\":{\"subcategories\":0}}]");
    fx_expect("Company", "{\"count\":true,\"where\":{\"deleted\":false}}", "5");
    fx_expect("Company", "{\"count\":true,\"take\":2}", "2");
}

Test(cache_page, arguments_inside_relations)
{
    fx_expect("Category",
              "{\"select\":{\"id\":true,\"subcategories\":{\"where\":{\"name\":{\"not\":\"Saws\"}},"
              "\"select\":[\"id\"]}}}",
              "[{\"id\":1,\"subcategories\":[{\"id\":10}]},{\"id\":2,\"subcategories\":[]}]");
    fx_expect("Category",
              "{\"select\":{\"id\":true,\"subcategories\":{\"orderBy\":{\"name\":\"desc\"},\"take\":1,"
              "\"select\":[\"name\"]}}}",
              "[{\"id\":1,\"subcategories\":[{\"name\":\"Saws\"}]},{\"id\":2,\"subcategories\":[]}]");
    fx_expect("Company", "{\"where\":{\"id\":1},\"select\":{\"id\":true,\"children\":{\"take\":-1,"
                         "\"select\":[\"id\"]}}}",
              "[{\"id\":1,\"children\":[{\"id\":6}]}]");
}

/* ---- top-k: a page by an unindexed order keeps only skip + |take| rows ---- */

/* The answer as JSON (select ["id"] and, for Company, its children's ids). */
static json_t *answer(const char *model, const char *opts)
{
    char err[256] = "", *got;
    cr_assert_eq(fx_render(model, opts, 0, &got, err, sizeof err), 0, "%s: %s", opts, err);
    json_t *j = json_loads(got, 0, NULL);
    cr_assert(j, "%s gave %s", opts, got);
    free(got);
    return j;
}

/* The rows of `all` (the full sort) that a page of take/skip/cursor returns,
 * as Prisma pages: from the cursor row on (or back to it, for a negative
 * take), skip rows, then |take| rows, in the order of `all`. */
static json_t *page_of(json_t *all, int64_t take, uint64_t skip, int64_t cursor)
{
    int64_t n = (int64_t)json_array_size(all), at = take < 0 ? n - 1 : 0;
    for (int64_t i = 0; cursor && i < n; i++)
        if (json_integer_value(json_object_get(json_array_get(all, (size_t)i), "id")) == cursor)
            at = i;
    int64_t want = take < 0 ? -take : take, step = take < 0 ? -1 : 1;
    at += step * (int64_t)skip;
    json_t *page = json_array();
    for (int64_t k = 0; k < want && at >= 0 && at < n; k++, at += step)
        json_array_append(page, json_array_get(all, (size_t)at));
    if (take < 0) { /* read backwards, returned in order */
        json_t *r = json_array();
        for (size_t i = json_array_size(page); i-- > 0;)
            json_array_append(r, json_array_get(page, i));
        json_decref(page);
        page = r;
    }
    return page;
}

static void same_page(const char *what, json_t *got, json_t *want)
{
    char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
    cr_assert(json_equal(got, want), "%s: got %s, the full sort's page is %s", what, g, w);
    free(g);
    free(w);
}

/* A root page by `order` (and `where`) equals the same page cut from the
 * full sort of every matching row. */
static void root_page(const char *order, const char *where, int64_t take, uint64_t skip, int64_t cursor)
{
    char base[512], opts[640], cur[48] = "";
    snprintf(base, sizeof base, "{\"select\":[\"id\"],\"orderBy\":%s%s%s", order, *where ? ",\"where\":" : "", where);
    if (cursor)
        snprintf(cur, sizeof cur, ",\"cursor\":{\"id\":%lld}", (long long)cursor);
    snprintf(opts, sizeof opts, "%s,\"take\":%lld,\"skip\":%llu%s}", base, (long long)take,
             (unsigned long long)skip, cur);
    strcat(base, "}");
    json_t *all = answer("Company", base), *got = answer("Company", opts);
    json_t *want = page_of(all, take, skip, cursor);
    same_page(opts, got, want);
    json_decref(all), json_decref(got), json_decref(want);
}

/* The same for each parent's children (a relation level, paged per parent). */
static void children_page(const char *order, int64_t take, uint64_t skip)
{
    char all_opts[512], opts[640];
    snprintf(all_opts, sizeof all_opts,
             "{\"select\":{\"id\":true,\"children\":{\"orderBy\":%s,\"select\":[\"id\"]}}}", order);
    snprintf(opts, sizeof opts,
             "{\"select\":{\"id\":true,\"children\":{\"orderBy\":%s,\"take\":%lld,\"skip\":%llu,"
             "\"select\":[\"id\"]}}}", order, (long long)take, (unsigned long long)skip);
    json_t *all = answer("Company", all_opts), *got = answer("Company", opts);
    cr_assert_eq(json_array_size(all), json_array_size(got));
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *want = page_of(json_object_get(json_array_get(all, i), "children"), take, skip, 0);
        same_page(opts, json_object_get(json_array_get(got, i), "children"), want);
        json_decref(want);
    }
    json_decref(all), json_decref(got);
}

/* 40 companies: many ties on `deleted` and `parentId` (nulls among them),
 * so the primary key decides most places; children under 1-4. */
static void more_companies(void)
{
    for (int64_t id = 7; id <= 40; id++) {
        char name[32];
        snprintf(name, sizeof name, "c%lld", (long long)(id * 7 % 11));
        struct cache_value parent = id % 5 == 0 ? cv_null() : cv_int(id % 4 + 1);
        fx_company(id, name, id % 3 == 0, &parent);
    }
}

Test(cache_page, top_k_pages_equal_the_full_sort)
{
    more_companies();
    static const char *orders[] = {
        "{\"deleted\":\"desc\"}",
        "[{\"deleted\":\"asc\"},{\"parentId\":\"desc\"}]",
        "{\"parentId\":\"asc\"}",
        "{\"parent\":{\"deleted\":\"desc\"}}",
        "[{\"parentId\":\"desc\"},{\"id\":\"desc\"}]",
        "{\"children\":{\"_count\":\"desc\"}}",
        "[{\"parent\":{\"children\":{\"_count\":\"asc\"}}},{\"deleted\":\"asc\"}]",
    };
    static const int64_t takes[] = {1, 2, 3, 7, 39, 41, -1, -2, -3, -7, -41};
    static const uint64_t skips[] = {0, 1, 3, 38};
    for (size_t o = 0; o < sizeof orders / sizeof *orders; o++)
        for (size_t t = 0; t < sizeof takes / sizeof *takes; t++)
            for (size_t k = 0; k < sizeof skips / sizeof *skips; k++) {
                root_page(orders[o], "", takes[t], skips[k], 0);
                root_page(orders[o], "{\"deleted\":false}", takes[t], skips[k], 0);
                root_page(orders[o], "", takes[t], skips[k], 17); /* a cursor: the full sort */
                if (skips[k] < 5)
                    children_page(orders[o], takes[t], skips[k]);
            }
}

Test(cache_page, an_answer_over_the_limit_reports_its_full_size)
{
    char err[64] = "", *full, *got;
    cr_assert_eq(fx_render("Company", NULL, 0, &full, err, sizeof err), 0);
    cr_assert_eq(fx_render("Company", NULL, 100, &got, err, sizeof err), -EFBIG);
    cr_assert_null(got);
    cr_assert_eq(strtoul(err, NULL, 10), strlen(full), "size %s, answer %zu bytes", err, strlen(full));
    free(full);
    cr_assert_eq(fx_render("Company", NULL, 100000, &got, err, sizeof err), 0);
    free(got);
}

/* ---- the root's access path: rows read per request ------------------------------- */

static struct cache_source counted_inner;
static unsigned rows_read;

struct counted_arg {
    cache_row_cb cb;
    void *arg;
};

static int counted_cb(void *arg, struct slice row)
{
    struct counted_arg *c = arg;
    rows_read++;
    return c->cb(c->arg, row);
}

static int counted_get(void *ctx, const struct schema_model *m, uint64_t pk, struct slice *row)
{
    (void)ctx;
    int rc = counted_inner.ops->get(counted_inner.ctx, m, pk, row);
    rows_read += rc == 0;
    return rc;
}

static int counted_scan(void *ctx, const struct schema_model *m, cache_row_cb cb, void *arg)
{
    (void)ctx;
    struct counted_arg c = {cb, arg};
    return counted_inner.ops->scan(counted_inner.ctx, m, counted_cb, &c);
}

static int counted_range(void *ctx, const struct schema_model *m, uint64_t from, bool from_end, bool back,
                         cache_row_cb cb, void *arg)
{
    (void)ctx;
    struct counted_arg c = {cb, arg};
    return counted_inner.ops->range(counted_inner.ctx, m, from, from_end, back, counted_cb, &c);
}

static int counted_index(void *ctx, const struct schema_model *m, const struct schema_field *f,
                         const struct cache_sindex_range *r, cache_row_cb cb, void *arg)
{
    (void)ctx;
    struct counted_arg c = {cb, arg};
    return counted_inner.ops->index(counted_inner.ctx, m, f, r, counted_cb, &c);
}

static int counted_children(void *ctx, const struct schema_relation *r, int64_t fk, cache_row_cb cb,
                            void *arg)
{
    (void)ctx;
    struct counted_arg c = {cb, arg};
    return counted_inner.ops->children(counted_inner.ctx, r, fk, counted_cb, &c);
}

static bool no_index; /* reads() offers the source without its secondary indexes */
static char *last_answer; /* reads()'s last answer (want NULL: not checked) */

/* Renders opts on model and returns how many rows the source delivered. */
static unsigned reads_of(const char *model, const char *opts, const char *want)
{
    static struct collector c;
    c = (struct collector){.event = "fetchX", .model = fx_model(model)};
    struct cache_plan p;
    char err[256] = "";
    json_t *j = json_loads(opts, 0, NULL);
    cr_assert_eq(cache_plan_parse(&p, &c, j, err, sizeof err), 0, "%s", err);
    json_decref(j);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    counted_inner = cache_source_lmdb(rd);
    struct cache_source_ops ops = *counted_inner.ops;
    ops.get = counted_get;
    ops.scan = counted_scan;
    ops.range = counted_range;
    ops.index = no_index ? NULL : counted_index;
    ops.children = counted_children;
    struct cache_source src = {&ops, NULL};
    struct buf out;
    buf_init(&out, 0);
    rows_read = 0;
    cr_assert_eq(cache_query_render(&p, &src, &out, 0, NULL), 0);
    char *got = fx_strdup_slice(buf_slice(&out));
    if (want)
        cr_assert_str_eq(got, want, "%s", opts);
    free(last_answer);
    last_answer = got;
    buf_fini(&out);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_plan_fini(&p);
    return rows_read;
}

static unsigned reads(const char *opts, const char *want) { return reads_of("Company", opts, want); }

Test(cache_page, key_pages_read_only_what_they_return)
{
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"id\":4}}", "[{\"id\":4}]"), 1);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"id\":{\"in\":[5,2,9]}}}", "[{\"id\":2},{\"id\":5}]"), 2);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"cursor\":{\"id\":3},\"take\":2}", "[{\"id\":3},{\"id\":4}]"),
                 3, "the cursor lookup and the two rows");
    cr_assert_eq(reads("{\"select\":[\"id\"],\"cursor\":{\"id\":3},\"take\":-2}", "[{\"id\":2},{\"id\":3}]"), 3);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"take\":-2}", "[{\"id\":5},{\"id\":6}]"), 2);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"id\":\"desc\"},\"take\":2}",
                       "[{\"id\":6},{\"id\":5}]"), 2);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"id\":{\"gt\":2,\"lte\":4}}}",
                       "[{\"id\":3},{\"id\":4}]"), 3, "from the lower bound to one row past the upper");
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"id\":{\"gt\":2,\"lt\":3}}}", "[]"), 0);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"deleted\":\"asc\"},\"take\":1}",
                       "[{\"id\":1}]"), 6, "an order on an unindexed field reads every row");
}

/* ---- secondary indexes (@@index([name]) on Company) ------------------------------------
 * Collation order of the names: alpha 5, Gone 3, Grandkid 4, kid 2 = KID 6, Root 1. */

Test(cache_page, index_pages_read_only_what_they_return)
{
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"name\":\"asc\"},\"take\":2}",
                       "[{\"id\":5},{\"id\":3}]"), 2);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"name\":\"desc\"},\"take\":3}",
                       "[{\"id\":1},{\"id\":2},{\"id\":6}]"), 3, "equal names by key ascending");
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"KID\"}}", "[{\"id\":2},{\"id\":6}]"), 2);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"kid\"},\"orderBy\":{\"id\":\"desc\"},"
                       "\"take\":1}", "[{\"id\":6}]"), 1);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"name\":\"asc\"},\"cursor\":{\"id\":4},\"take\":2}",
                       "[{\"id\":4},{\"id\":2}]"), 3, "the cursor lookup and the two rows");
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"name\":\"desc\"},\"cursor\":{\"id\":6},\"take\":2}",
                       "[{\"id\":6},{\"id\":4}]"), 3);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"name\":\"desc\"},\"cursor\":{\"id\":2},\"take\":-2}",
                       "[{\"id\":1},{\"id\":2}]"), 3);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"name\":\"asc\"},\"take\":-2}",
                       "[{\"id\":6},{\"id\":1}]"), 2);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":{\"gte\":\"g\",\"lt\":\"k\"}},"
                       "\"orderBy\":{\"id\":\"desc\"}}", "[{\"id\":4},{\"id\":3}]"), 2,
                 "a range reads its rows, then sorts them");
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":{\"gt\":\"h\"}}}",
                       "[{\"id\":1},{\"id\":2},{\"id\":6}]"), 3);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":{\"gt\":\"z\",\"lt\":\"b\"}}}", "[]"), 0);
}

/* The same answer through the index as through a scan, for every shape of request. */
static void same_without_index(const char *model, const char *opts)
{
    no_index = false;
    reads_of(model, opts, NULL);
    char *with = last_answer;
    last_answer = NULL;
    no_index = true;
    reads_of(model, opts, NULL);
    no_index = false;
    cr_assert_str_eq(with, last_answer, "%s on %s", opts, model);
    free(with);
    free(last_answer);
    last_answer = NULL;
}

static void all_types(int64_t id, struct cache_value i, const char *s, struct cache_value t, struct cache_value d,
                      struct cache_value f)
{
    struct cache_value v[] = {cv_int(id), i, cv_null(), s ? cv_text(s) : cv_null(), t, d, cv_null(), f, cv_null()};
    fx_put("AllTypes", v);
}

Test(cache_page, index_answers_equal_scans)
{
    struct cache_value n = cv_null();
    all_types(1, cv_int(-5), "b ", cv_bool(true), cv_dt(1700000000000), cv_float(-0.5));
    all_types(2, cv_int(7), "B", cv_bool(false), cv_dt(-86400000), cv_float(2.5));
    all_types(3, n, NULL, n, n, n);
    all_types(4, cv_int(INT32_MIN), "\xc3\xa9t\xc3\xa9", cv_bool(true), cv_dt(0), cv_float(-0.0));
    all_types(5, cv_int(7), "a\"b", cv_bool(false), cv_dt(1700000000000), cv_float(1e300));
    all_types(6, cv_int(INT32_MAX), "", n, cv_dt(253402300799000), cv_float(-1e-300));
    const char *fields[] = {"i", "s", "t", "d", "f"};
    for (size_t k = 0; k < 5; k++) {
        const char *f = fields[k];
        char o[256];
        const char *shapes[] = {
            "{\"orderBy\":{\"%s\":\"asc\"}}", "{\"orderBy\":{\"%s\":\"desc\"},\"take\":4}",
            "{\"orderBy\":{\"%s\":\"desc\"},\"take\":-3}", "{\"orderBy\":{\"%s\":\"asc\"},\"skip\":2,\"take\":-2}",
            "{\"orderBy\":{\"%s\":\"desc\"},\"cursor\":{\"id\":5},\"take\":3}",
            "{\"orderBy\":{\"%s\":\"asc\"},\"cursor\":{\"id\":2},\"take\":-3}",
            "{\"orderBy\":{\"%s\":\"asc\"},\"cursor\":{\"id\":3}}",
            "{\"where\":{\"%s\":null}}", "{\"where\":{\"%s\":{\"not\":null}},\"orderBy\":{\"%s\":\"desc\"}}",
        };
        for (size_t j = 0; j < sizeof shapes / sizeof *shapes; j++) {
            snprintf(o, sizeof o, shapes[j], f, f);
            same_without_index("AllTypes", o);
        }
    }
    const char *values[] = {
        "{\"where\":{\"i\":7}}", "{\"where\":{\"i\":{\"gt\":-5,\"lte\":2147483647}}}",
        "{\"where\":{\"i\":{\"lt\":8}},\"orderBy\":{\"i\":\"desc\"},\"take\":2}",
        "{\"where\":{\"s\":\"B\"}}", "{\"where\":{\"s\":{\"gte\":\"a\"}},\"orderBy\":{\"s\":\"asc\"}}",
        "{\"where\":{\"s\":{\"lt\":\"b\"}},\"orderBy\":{\"t\":\"asc\"}}",
        "{\"where\":{\"t\":true},\"take\":1}", "{\"where\":{\"t\":false,\"i\":7}}",
        "{\"where\":{\"d\":{\"gte\":\"1970-01-01T00:00:00.000Z\"}},\"orderBy\":{\"d\":\"desc\"}}",
        "{\"where\":{\"d\":\"2023-11-14T22:13:20.000Z\"}}", "{\"where\":{\"f\":0}}",
        "{\"where\":{\"f\":{\"gt\":-1,\"lt\":3}},\"orderBy\":{\"f\":\"asc\"}}",
        "{\"where\":{\"OR\":[{\"i\":7},{\"s\":\"b\"}]},\"orderBy\":{\"s\":\"asc\"}}",
        "{\"where\":{\"i\":{\"in\":[7,-5]}},\"orderBy\":{\"i\":\"asc\"},\"distinct\":[\"i\"]}",
        "{\"where\":{\"i\":7},\"count\":true}",
    };
    for (size_t j = 0; j < sizeof values / sizeof *values; j++)
        same_without_index("AllTypes", values[j]);
    same_without_index("Company", "{\"orderBy\":{\"name\":\"desc\"},\"include\":{\"children\":{\"orderBy\":{\"name\":\"asc\"}}}}");
}

static uint64_t index_entries(const char *db)
{
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    uint64_t n = UINT64_MAX;
    for (size_t i = 0; i < fx_cache->n_db; i++)
        if (strcmp(fx_cache->db_name[i], db) == 0) {
            MDB_stat st;
            cr_assert_eq(cache_lmdb_stat(rd->txn, fx_cache->dbi[i], &st), 0);
            n = st.ms_entries;
        }
    cache_rd_end(rd);
    cache_rd_free(rd);
    return n;
}

Test(cache_page, index_follows_updates_and_deletes)
{
    struct cache_value p1 = cv_int(1);
    cr_assert_eq(index_entries("x:Company.name@0"), 6);
    fx_company(2, "zed", false, &p1);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"kid\"}}", "[{\"id\":6}]"), 1);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"ZED\"}}", "[{\"id\":2}]"), 1);
    fx_company(6, "KID ", true, &p1); /* the same key: the entry stays */
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"kid\"}}", "[{\"id\":6}]"), 1);
    fx_delete("Company", 6);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"kid\"}}", "[]"), 0);
    cr_assert_eq(index_entries("x:Company.name@0"), 5, "one entry per row");
    fx_company(7, "new", false, &p1);
    cr_assert_eq(index_entries("x:Company.name@0"), 6);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"orderBy\":{\"name\":\"desc\"},\"take\":2}",
                       "[{\"id\":2},{\"id\":1}]"), 2);
}

Test(cache_page, a_rebuild_carries_the_index)
{
    struct cache_wtxn *w;
    struct cache_value none = cv_null();
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_rebuild_begin(w, fx_model("Company")), 0);
    struct cache_value v[] = {cv_int(9), cv_text("Nine"), cv_bool(false), none};
    cr_assert_eq(cache_row_put(w, fx_model("Company"), v, NULL, NULL, 0), 0);
    cr_assert_eq(cache_rebuild_swap(w, fx_model("Company")), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert_eq(index_entries("x:Company.name@0"), 0, "the old slot's index is emptied with its rows");
    cr_assert_eq(index_entries("x:Company.name@1"), 1);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"nine\"}}", "[{\"id\":9}]"), 1);
}

/* A store written before the @@index was declared gets it at its first writable open. */
Test(cache_page, an_index_declared_later_is_built_at_open)
{
    cache_close(fx_cache);
    char *text = strdup(fx_schema_text);
    char *at = strstr(text, "  @@index([name])\n");
    memset(at, ' ', strlen("  @@index([name])")); /* the same schema without the index */
    struct schema *plain = fx_schema_parse(text);
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = plain};
    cr_assert_eq(cache_open(&fx_cache, &o), 0, "dropping an index keeps the store");
    cache_close(fx_cache);
    o.schema = fx_schema;
    o.read_only = true;
    o.map_size = 0;
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"kid\"}}", "[{\"id\":2},{\"id\":6}]"), 6,
                 "a reader before the build scans");
    cache_close(fx_cache);
    o.read_only = false;
    o.map_size = 64u << 20;
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
    cr_assert_eq(index_entries("x:Company.name@0"), 6);
    cr_assert_eq(reads("{\"select\":[\"id\"],\"where\":{\"name\":\"kid\"}}", "[{\"id\":2},{\"id\":6}]"), 2);
    schema_free(plain);
    free(text);
}
