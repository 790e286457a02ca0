#include <criterion/criterion.h>

#include "fixture.h"

TestSuite(cache_compare);

static int cmp(const char *field, const char *a, const char *b)
{
    struct buf tmp;
    buf_init(&tmp, 0);
    int c = cache_value_cmp(fx_field("AllTypes", field), slice_str(a), slice_str(b), &tmp);
    cr_assert_eq(tmp.len, 0, "scratch left as found");
    buf_fini(&tmp);
    return (c > 0) - (c < 0);
}

static void setup(void) { fx_schema = fx_schema_parse(fx_schema_text); }
static void teardown(void) { schema_free(fx_schema); }

TestSuite(cache_compare_typed, .init = setup, .fini = teardown);

Test(cache_compare_typed, numbers_compare_numerically)
{
    cr_assert_eq(cmp("i", "9", "10"), -1);
    cr_assert_eq(cmp("b", "-9007199254740993", "-9007199254740992"), -1);
    cr_assert_eq(cmp("f", "1e+21", "999"), 1);
    cr_assert_eq(cmp("f", "-0.5", "0.25"), -1);
}

Test(cache_compare_typed, decimals_compare_exactly)
{
    cr_assert_eq(cmp("dec", "\"12.5\"", "\"9.99\""), 1);
    cr_assert_eq(cmp("dec", "\"-12.5\"", "\"-9.99\""), -1);
    cr_assert_eq(cmp("dec", "\"1e-7\"", "\"0.000001\""), -1);
    cr_assert_eq(cmp("dec", "\"0\"", "\"-1e-7\""), 1);
    cr_assert_eq(cmp("dec", "\"1.5e+21\"", "\"999999999999999999999\""), 1);
    cr_assert_eq(cmp("dec", "\"100\"", "\"100\""), 0);
    cr_assert_eq(cmp("dec", "\"0.1000000000000000000001\"", "\"0.1\""), 1, "beyond a double's digits");
}

Test(cache_compare_typed, strings_unescape_then_collate)
{
    cr_assert_eq(cmp("s", "\"ACME\"", "\"acme\""), 0);
    cr_assert_eq(cmp("s", "\"a\\\"b\"", "\"A\\\"B\""), 0);
    cr_assert_eq(cmp("s", "\"a\\\\\"", "\"a]\""), -1, "backslash (0x5C) sorts before ] (0x5D)");
    cr_assert_eq(cmp("s", "\"\\u00e9\"", "\"É\""), 0, "\\u escapes decode before folding");
}

Test(cache_compare_typed, dates_booleans_and_bytes)
{
    cr_assert_eq(cmp("d", "\"2024-03-01T00:00:00.000Z\"", "\"2024-02-29T23:59:59.999Z\""), 1);
    cr_assert_eq(cmp("t", "false", "true"), -1);
    cr_assert_eq(cmp("t", "true", "true"), 0);
    cr_assert_eq(cmp("by", "\"AAE=\"", "\"AAI=\""), -1);
}

Test(cache_compare, json_text_views_or_decodes)
{
    struct buf tmp;
    buf_init(&tmp, 0);
    struct slice s = cache_json_text(slice_str("\"plain\""), &tmp);
    cr_assert_eq(tmp.len, 0, "no escape: a view, nothing decoded");
    cr_assert(slice_eq(s, slice_str("plain")));
    s = cache_json_text(slice_str("\"t\\tab\\ud83d\\ude00\""), &tmp);
    cr_assert(slice_eq(s, slice_str("t\tab\xF0\x9F\x98\x80")), "a surrogate pair becomes one code point");
    buf_fini(&tmp);
}

/* A uniqueidentifier String orders as SQL Server orders GUIDs, not as text. */
Test(cache_compare, guid_strings_order_as_sql_server)
{
    struct schema *s = fx_schema_parse("model G {\n  id Int @id\n  g String? @db.UniqueIdentifier\n"
                                       "  t String? @db.NVarChar(40)\n}\n");
    const struct schema_model *m = schema_model_find(s, "G");
    cr_assert_not_null(m);
    const struct schema_field *g = &m->fields[1], *t = &m->fields[2];
    const char *a = "\"ff000000-0000-0000-0000-000000000001\"", *b = "\"00000000-0000-0000-0000-000000000002\"";
    struct buf tmp;
    buf_init(&tmp, 0);
    cr_assert_lt(cache_value_cmp(g, slice_str(a), slice_str(b), &tmp), 0, "the last group decides");
    cr_assert_gt(cache_value_cmp(t, slice_str(a), slice_str(b), &tmp), 0, "text compares as text");
    buf_fini(&tmp);
    schema_free(s);
}
