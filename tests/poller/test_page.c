#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "poller/poller_int.h"
#include "schema_fixture.h"

TestSuite(poller_page);

static const char schema_text[] = "model Category {\n"
                                  "  id   Int    @id\n"
                                  "  name String\n"
                                  "}\n";

static struct schema *load(void) { return fixture_schema(schema_text); }

static void add(struct poller_page *pg, const struct schema_model *m, int64_t id, const char *name)
{
    struct cache_value v[] = {{.kind = CV_INT, .i = id},
                              {.kind = CV_TEXT, .s = slice_str(name)}};
    char err[128];
    cr_assert_eq(poller_page_add_row(pg, m, v, (uint64_t)id, err, sizeof err), 0, "%s", err);
}

/* The name field's JSON value in entry i. */
static char *name_of(const struct poller_page *pg, const struct schema_model *m, size_t i)
{
    struct slice v;
    cr_assert_eq(cache_row_value(poller_page_row(pg, i), m, &m->fields[1], &v), 0);
    return xstrndup((const char *)v.p, v.len); /* memcpy: v is not NUL-terminated */
}

Test(poller_page, rows_are_encoded_and_sorted_by_key_keeping_equal_keys_in_order)
{
    struct schema *s = load();
    const struct schema_model *m = &s->models[0];
    struct poller_page pg;
    poller_page_init(&pg);
    add(&pg, m, 30, "c");
    add(&pg, m, 10, "a1");
    add(&pg, m, 20, "b");
    add(&pg, m, 10, "a2");
    poller_page_sort(&pg);
    static const uint64_t keys[] = {10, 10, 20, 30};
    static const char *const names[] = {"\"a1\"", "\"a2\"", "\"b\"", "\"c\""};
    cr_assert_eq(pg.n, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(pg.ent[i].pk, keys[i]);
        cr_assert_eq(cache_row_pk(poller_page_row(&pg, i)), keys[i], "entry and row agree");
        char *n = name_of(&pg, m, i);
        cr_assert_str_eq(n, names[i], "the later version of a key stays later");
        free(n);
    }
    poller_page_fini(&pg);
    schema_free(s);
}

Test(poller_page, reset_keeps_capacity_and_clears_positions)
{
    struct schema *s = load();
    struct poller_page pg;
    poller_page_init(&pg);
    for (int i = 0; i < 3000; i++)
        add(&pg, &s->models[0], i, "x");
    pg.done = true;
    pg.last = (struct cache_cursor){true, 5, 6};
    size_t cap = pg.cap, rows_cap = pg.rows.cap;
    poller_page_reset(&pg);
    cr_assert_eq(pg.n, 0);
    cr_assert_eq(pg.rows.len, 0);
    cr_assert(!pg.done && !pg.last.set && !pg.capped.set);
    cr_assert_eq(pg.cap, cap, "no reallocation batch after batch");
    cr_assert_eq(pg.rows.cap, rows_cap);
    poller_page_add_key(&pg, 7);
    cr_assert_eq(pg.n, 1);
    cr_assert_eq(pg.ent[0].len, 0, "a key carries no row");
    poller_page_fini(&pg);
    schema_free(s);
}

Test(poller_page, a_row_the_model_cannot_store_is_refused_and_not_added)
{
    struct schema *s = load();
    struct poller_page pg;
    poller_page_init(&pg);
    struct cache_value v[] = {{.kind = CV_INT, .i = 1}, {.kind = CV_INT, .i = 2}};
    char err[128] = "";
    cr_assert_eq(poller_page_add_row(&pg, &s->models[0], v, 1, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "name"), "%s", err);
    cr_assert_eq(pg.n, 0);
    poller_page_fini(&pg);
    schema_free(s);
}
