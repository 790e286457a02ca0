#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_value, .init = fx_open, .fini = fx_close);

static void expect(const char *field, struct cache_value v, const char *want)
{
    struct buf b;
    char err[128] = "";
    buf_init(&b, 0);
    int rc = cache_value_render(fx_field("AllTypes", field), &v, &b, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: %s", field, err);
    cr_assert_eq(b.len, strlen(want), "%s: got %.*s want %s", field, (int)b.len, (char *)buf_data(&b), want);
    cr_assert_eq(memcmp(buf_data(&b), want, b.len), 0, "%s: got %.*s want %s", field, (int)b.len,
                 (char *)buf_data(&b), want);
    buf_fini(&b);
}

static void refuse(const char *field, struct cache_value v, const char *msg_part)
{
    struct buf b;
    char err[128] = "";
    buf_init(&b, 0);
    buf_append(&b, "xy", 2);
    cr_assert_eq(cache_value_render(fx_field("AllTypes", field), &v, &b, err, sizeof err), -EINVAL);
    cr_assert_eq(b.len, 2, "a refused value leaves nothing behind");
    cr_assert(strstr(err, msg_part), "message \"%s\" lacks \"%s\"", err, msg_part);
    buf_fini(&b);
}

Test(cache_value, each_type_renders_as_prisma_json)
{
    expect("i", cv_int(-2147483648LL), "-2147483648");
    expect("b", cv_int(INT64_MAX), "9223372036854775807");
    expect("b", cv_int(INT64_MIN), "-9223372036854775808");
    expect("s", cv_text("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
    expect("s", cv_text(""), "\"\"");
    expect("s", cv_text("Zoë ☃ 𝄞"), "\"Zoë ☃ 𝄞\"");
    expect("t", cv_bool(true), "true");
    expect("t", cv_int(0), "false");
    expect("t", cv_int(1), "true");
    expect("d", cv_dt(0), "\"1970-01-01T00:00:00.000Z\"");
    expect("d", cv_dt(1709294400123LL), "\"2024-03-01T12:00:00.123Z\"");
    expect("d", cv_dt(-1), "\"1969-12-31T23:59:59.999Z\"");
    expect("dec", cv_dec("0012.500"), "\"12.5\"");
    expect("dec", cv_int(42), "\"42\"");
    expect("f", cv_float(0.1), "0.1");
    expect("f", cv_float(1e21), "1e+21");
    expect("f", cv_float(-0.0), "0");
    expect("f", cv_int(3), "3");
    expect("f", cv_dec("12.5000"), "12.5");
    expect("i", cv_null(), "null");
}

Test(cache_value, bytes_render_as_base64)
{
    struct cache_value v = {.kind = CV_BYTES, .s = {(const uint8_t *)"", 0}};
    expect("by", v, "\"\"");
    v.s = (struct slice){(const uint8_t *)"f", 1};
    expect("by", v, "\"Zg==\"");
    v.s = (struct slice){(const uint8_t *)"fo", 2};
    expect("by", v, "\"Zm8=\"");
    v.s = (struct slice){(const uint8_t *)"foobar", 6};
    expect("by", v, "\"Zm9vYmFy\"");
    v.s = (struct slice){(const uint8_t *)"\xff\xfe\x00", 3};
    expect("by", v, "\"//4A\"");
}

Test(cache_value, mismatched_kinds_are_refused_naming_the_field)
{
    refuse("i", cv_text("1"), "field i (Int)");
    refuse("i", cv_int(2147483648LL), "out of the 32-bit range");
    refuse("s", cv_int(1), "field s (String)");
    refuse("t", cv_text("true"), "field t (Boolean)");
    refuse("d", cv_int(1), "field d (DateTime)");
    refuse("dec", cv_dec("1e5"), "not a decimal");
    refuse("dec", cv_float(1.5), "field dec (Decimal)");
    refuse("f", cv_dec("abc"), "not a number");
    refuse("by", cv_text("x"), "field by (Bytes)");
}
