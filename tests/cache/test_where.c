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
