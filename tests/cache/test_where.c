#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_where, .init = fx_open, .fini = fx_close);

static void canon(const char *field, const char *in, const char *want)
{
    struct buf b;
    char err[160] = "";
    buf_init(&b, 0);
    cr_assert_eq(cache_where_canonical(fx_field("AllTypes", field), in, &b, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(b.len, strlen(want), "%s %s -> %.*s", field, in, (int)b.len, (char *)buf_data(&b));
    cr_assert_eq(memcmp(buf_data(&b), want, b.len), 0, "%s %s -> %.*s", field, in, (int)b.len,
                 (char *)buf_data(&b));
    buf_fini(&b);
}

static void bad(const char *field, const char *in)
{
    struct buf b;
    char err[160] = "";
    buf_init(&b, 0);
    cr_assert_eq(cache_where_canonical(fx_field("AllTypes", field), in, &b, err, sizeof err), -EINVAL,
                 "%s %s accepted", field, in);
    cr_assert(strstr(err, field), "%s", err);
    buf_fini(&b);
}

/* On a @db.DateTime field a value rounds to 1/300 s as SQL Server converts
 * the string Prisma's adapter sends: .765 is .767, .001 is .000; values as
 * returned (.763, .767, .770) stay. Without @db.DateTime (datetime2), ms stay. */
Test(cache_where, datetime_values_round_as_sql_server_converts_them)
{
    struct schema_field dt = *fx_field("AllTypes", "d");
    dt.db_type = "DateTime";
    static const char *const cases[][2] = {
        {"\"2024-03-01T12:00:00.765Z\"", "\"2024-03-01T12:00:00.767Z\""},
        {"\"2024-03-01T12:00:00.763Z\"", "\"2024-03-01T12:00:00.763Z\""},
        {"\"2024-03-01T12:00:00.001Z\"", "\"2024-03-01T12:00:00.000Z\""},
        {"\"2024-03-01T12:00:00.002Z\"", "\"2024-03-01T12:00:00.003Z\""},
        {"\"2024-03-01T12:00:00.769Z\"", "\"2024-03-01T12:00:00.770Z\""},
        {"\"2024-03-01T23:59:59.999Z\"", "\"2024-03-02T00:00:00.000Z\""},
        {"\"1969-12-31T23:59:59.998Z\"", "\"1969-12-31T23:59:59.997Z\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b;
        char err[160] = "";
        buf_init(&b, 0);
        cr_assert_eq(cache_where_canonical(&dt, cases[i][0], &b, err, sizeof err), 0, "%s", err);
        cr_assert(b.len == strlen(cases[i][1]) && memcmp(buf_data(&b), cases[i][1], b.len) == 0,
                  "%s -> %.*s, want %s", cases[i][0], (int)b.len, (char *)buf_data(&b), cases[i][1]);
        buf_fini(&b);
    }
    canon("d", "\"2024-03-01T12:00:00.765Z\"", "\"2024-03-01T12:00:00.765Z\"");
}

Test(cache_where, values_render_as_stored_rows_do)
{
    canon("t", "false", "false");
    canon("i", "-3", "-3");
    canon("b", "9223372036854775807", "9223372036854775807");
    canon("s", "\"a\\u00e9\\n\"", "\"aé\\n\"");
    canon("dec", "\"12.500\"", "\"12.5\"");
    canon("dec", "12.50", "\"12.5\"");
    canon("f", "2.50", "2.5");
    canon("f", "3", "3");
    canon("d", "\"2024-03-01\"", "\"2024-03-01T00:00:00.000Z\"");
    canon("d", "\"2024-02-29\"", "\"2024-02-29T00:00:00.000Z\"");
    canon("d", "\"2000-02-29\"", "\"2000-02-29T00:00:00.000Z\"");
    canon("d", "\"2024-03-01T12:00:00Z\"", "\"2024-03-01T12:00:00.000Z\"");
    canon("d", "\"2024-03-01T12:00:00.5+01:00\"", "\"2024-03-01T11:00:00.500Z\"");
    canon("by", "\"aGk=\"", "\"aGk=\"");
    canon("s", "null", "null");
}

Test(cache_where, wrong_types_are_refused)
{
    bad("t", "1");
    bad("i", "\"3\"");
    bad("i", "1.5");
    bad("dec", "\"abc\"");
    bad("d", "\"yesterday\"");
    bad("d", "\"2024-13-01\"");
    bad("d", "\"2024-02-30\""); /* no date: not read as 2024-03-01 */
    bad("d", "\"2023-02-29\"");
    bad("d", "\"2024-04-31\"");
    bad("d", "\"2024-01-00\"");
    bad("d", "\"2024-03-01T25:00:00Z\"");
    bad("s", "5");
    bad("i", "{");
}

static void where_bad(const char *model, const char *where, const char *want)
{
    void *arena = NULL;
    const struct cache_filter *f;
    char err[256] = "";
    json_t *j = json_loads(where, 0, NULL);
    cr_assert_not_null(j, "bad test JSON %s", where);
    cr_assert_eq(cache_where_parse(&arena, fx_model(model), j, &f, err, sizeof err), -EINVAL,
                 "%s accepted", where);
    cr_assert_str_eq(err, want, "for %s: %s", where, err);
    json_decref(j);
    cache_arena_free(&arena);
}

/* Prisma 7's own sentences, read from Prisma 7.10 on tdslite (docs/query.md) */
Test(cache_where, option_errors_are_prismas)
{
    /* unknown arguments, with a suggestion at most 3 edits away, in Prisma's order */
    where_bad("Company", "{\"nope\":1}", "Unknown argument `nope`. Did you mean `name`?");
    where_bad("Company", "{\"nmae\":1}", "Unknown argument `nmae`. Did you mean `name`?");
    where_bad("Company", "{\"zzzzzz\":1}", "Unknown argument `zzzzzz`.");
    where_bad("Company", "{\"id\":{\"like\":1}}", "Unknown argument `like`. Did you mean `lte`?");
    where_bad("Company", "{\"id\":{\"contains\":\"1\"}}", "Unknown argument `contains`.");
    where_bad("Company", "{\"deleted\":{\"lt\":true}}", "Unknown argument `lt`. Did you mean `not`?");
    where_bad("Company", "{\"id\":{\"mode\":\"insensitive\"}}", "Unknown argument `mode`. Did you mean `lte`?");
    where_bad("Company", "{\"children\":{\"any\":{}}}", "Unknown argument `any`. Did you mean `none`?");
    where_bad("Company", "{\"children\":{\"xyzzy\":{}}}", "Unknown argument `xyzzy`.");
    where_bad("Company", "{\"children\":{\"sme\":{}}}", "Unknown argument `sme`. Did you mean `some`?");
    where_bad("Company", "{\"parent\":{\"is\":{},\"id\":1}}", "Unknown argument `id`. Did you mean `is`?");
    where_bad("Company", "{\"parent\":{\"foo\":1}}", "Unknown argument `foo`. Did you mean `is`?");
    /* values of the wrong JSON type */
    where_bad("Company", "{\"id\":\"1\"}",
              "Argument `id`: Invalid value provided. Expected IntFilter or Int, provided String.");
    where_bad("AllTypes", "{\"i\":\"1\"}",
              "Argument `i`: Invalid value provided. Expected IntNullableFilter, Int or Null, provided String.");
    where_bad("Company", "{\"deleted\":\"x\"}",
              "Argument `deleted`: Invalid value provided. Expected BoolFilter or Boolean, provided String.");
    where_bad("Company", "{\"name\":{\"contains\":5}}",
              "Argument `contains`: Invalid value provided. Expected String or StringFieldRefInput, provided Int.");
    where_bad("AllTypes", "{\"t\":{\"equals\":\"x\"}}",
              "Argument `equals`: Invalid value provided. Expected Boolean, BooleanFieldRefInput or Null, "
              "provided String.");
    where_bad("AllTypes", "{\"f\":{\"gt\":true}}",
              "Argument `gt`: Invalid value provided. Expected Float or FloatFieldRefInput, provided Boolean.");
    where_bad("Company", "{\"id\":{\"not\":\"x\"}}",
              "Argument `not`: Invalid value provided. Expected Int or NestedIntFilter, provided String.");
    where_bad("AllTypes", "{\"i\":{\"not\":\"x\"}}",
              "Argument `not`: Invalid value provided. Expected Int, NestedIntNullableFilter or Null, "
              "provided String.");
    where_bad("Company", "{\"id\":{\"in\":\"x\"}}",
              "Argument `in`: Invalid value provided. Expected Int[], provided String.");
    where_bad("Company", "{\"id\":{\"in\":5}}", "Argument `in`: Invalid value provided. Expected Int[], provided Int.");
    where_bad("AllTypes", "{\"i\":{\"notIn\":\"x\"}}",
              "Argument `notIn`: Invalid value provided. Expected Int[] or Null, provided String.");
    where_bad("Company", "{\"id\":{\"in\":[\"x\"]}}",
              "Argument `in`: Invalid value provided. Expected Int, provided String.");
    /* DateTime strings: the reason RFC 3339's parser gives */
    where_bad("AllTypes", "{\"d\":{\"gt\":\"yesterday\"}}",
              "Invalid value for argument `gt`: input contains invalid characters. Expected ISO-8601 DateTime.");
    where_bad("AllTypes", "{\"d\":\"x\"}",
              "Invalid value for argument `d`: premature end of input. Expected ISO-8601 DateTime.");
    where_bad("AllTypes", "{\"d\":\"2024-13-01T00:00:00Z\"}",
              "Invalid value for argument `d`: input is out of range. Expected ISO-8601 DateTime.");
    where_bad("AllTypes", "{\"d\":\"2024-02-30T00:00:00Z\"}",
              "Invalid value for argument `d`: input is out of range. Expected ISO-8601 DateTime.");
    where_bad("AllTypes", "{\"d\":\"2024-01-01T00:00:00Z junk\"}",
              "Invalid value for argument `d`: trailing input. Expected ISO-8601 DateTime.");
    where_bad("AllTypes", "{\"d\":{\"in\":[\"2024-01\"]}}",
              "Invalid value for argument `in`: premature end of input. Expected ISO-8601 DateTime.");
    /* AND/OR/NOT and relation filters */
    where_bad("Company", "{\"OR\":5}",
              "Argument `OR`: Invalid value provided. Expected CompanyWhereInput[], provided Int.");
    where_bad("Company", "{\"OR\":{}}",
              "Argument `OR`: Invalid value provided. Expected CompanyWhereInput[], provided Object.");
    where_bad("Company", "{\"AND\":5}",
              "Argument `AND`: Invalid value provided. Expected CompanyWhereInput or CompanyWhereInput[], "
              "provided Int.");
    where_bad("Company", "{\"NOT\":[5]}",
              "Argument `NOT`: Invalid value provided. Expected CompanyWhereInput, provided Int.");
    where_bad("Company", "{\"children\":5}",
              "Argument `children`: Invalid value provided. Expected CompanyListRelationFilter, provided Int.");
    where_bad("Company", "{\"children\":{\"some\":5}}",
              "Argument `some`: Invalid value provided. Expected CompanyWhereInput, provided Int.");
    where_bad("Company", "{\"parent\":5}",
              "Argument `parent`: Invalid value provided. Expected CompanyNullableScalarRelationFilter, "
              "CompanyWhereInput or Null, provided Int.");
    where_bad("Company", "{\"parent\":{\"isNot\":5}}",
              "Argument `isNot`: Invalid value provided. Expected CompanyWhereInput or Null, provided Int.");
    /* nulls */
    where_bad("Company", "{\"name\":{\"lt\":null}}", "Argument `lt` must not be null.");
    where_bad("Company", "{\"name\":null}", "Argument `name` must not be null.");
    where_bad("Company", "{\"deleted\":{\"not\":null}}", "Argument `not` must not be null.");
    where_bad("Company", "{\"id\":{\"in\":null}}", "Argument `in` must not be null.");
    where_bad("Company", "{\"id\":{\"in\":[null]}}", "Argument `in` is missing.");
    where_bad("AllTypes", "{\"i\":{\"notIn\":[null]}}",
              "Argument `notIn`: Invalid value provided. Expected Null, provided (Null).");
    where_bad("Company", "{\"OR\":[{\"name\":null}]}", "Argument `name` is missing.");
    /* no Prisma sentence: cwcache's own, naming the option */
    where_bad("Company", "{\"name\":{\"mode\":\"loud\"}}",
              "Invalid value for `mode` on field name: expected \"default\" or \"insensitive\"");
    where_bad("AllTypes", "{\"i\":1.5}", "Invalid value 1.5 for `i` on field i: not a valid Int");
}

Test(cache_where, values_take_the_stored_form)
{
    void *arena = NULL;
    struct cache_fvalue v;
    json_t *j = json_loads("\"2024-03-01T13:00:00+01:00\"", JSON_DECODE_ANY, NULL);
    cr_assert_eq(cache_fvalue_make(&arena, fx_field("AllTypes", "d"), j, &v), 0);
    cr_assert(slice_eq(v.json, slice_str("\"2024-03-01T12:00:00.000Z\"")));
    json_decref(j);
    j = json_loads("0.1", JSON_DECODE_ANY, NULL);
    cr_assert_eq(cache_fvalue_make(&arena, fx_field("AllTypes", "dec"), j, &v), 0);
    cr_assert(slice_eq(v.json, slice_str("\"0.1\"")), "a number as JavaScript prints it");
    json_decref(j);
    j = json_loads("\"a\\\"b\"", JSON_DECODE_ANY, NULL);
    cr_assert_eq(cache_fvalue_make(&arena, fx_field("AllTypes", "s"), j, &v), 0);
    cr_assert(slice_eq(v.json, slice_str("\"a\\\"b\"")) && slice_eq(v.text, slice_str("a\"b")));
    json_decref(j);
    cache_arena_free(&arena);
}
