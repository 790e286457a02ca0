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
    cr_assert_str_eq(err, want, "for %s", where);
    json_decref(j);
    cache_arena_free(&arena);
}

Test(cache_where, option_errors_name_field_and_filter)
{
    where_bad("Company", "{\"nope\":1}", "Unknown field \"nope\" in where on model Company");
    where_bad("Company", "{\"id\":{\"like\":1}}",
              "Unknown filter `like` on field id: use equals, not, in, notIn, lt, lte, gt, gte, "
              "contains, startsWith, endsWith or mode");
    where_bad("Company", "{\"id\":\"1\"}",
              "Invalid value \"1\" for `equals` on field id: expected an integer");
    where_bad("Company", "{\"id\":{\"contains\":\"1\"}}", "Filter `contains` needs a String field; id is Int");
    where_bad("Company", "{\"deleted\":{\"lt\":true}}", "Filter `lt` does not apply to Boolean field deleted");
    where_bad("Company", "{\"name\":{\"mode\":\"loud\"}}",
              "Invalid value for `mode` on field name: expected \"default\" or \"insensitive\"");
    where_bad("Company", "{\"children\":{\"any\":{}}}",
              "Unknown filter `any` on relation children of model Company: use some, every or none");
    where_bad("Company", "{\"parent\":{\"is\":{},\"id\":1}}",
              "Invalid filter on relation parent of model Company: `is`/`isNot` cannot be mixed with "
              "field conditions");
    where_bad("Company", "{\"OR\":5}",
              "Invalid value for `OR` in where on model Company: expected an object or an array of objects");
    where_bad("AllTypes", "{\"d\":{\"gt\":\"yesterday\"}}",
              "Invalid value \"yesterday\" for `gt` on field d: expected an ISO-8601 date-time string");
    where_bad("Company", "{\"name\":{\"lt\":null}}", "Invalid value for `lt` on field name: null is not allowed here");
    where_bad("Company", "{\"name\":null}", "Argument `name` must not be null.");
    where_bad("Company", "{\"deleted\":{\"not\":null}}", "Argument `not` must not be null.");
    where_bad("Company", "{\"OR\":[{\"name\":null}]}", "Argument `name` is missing.");
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
