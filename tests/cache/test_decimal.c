#include <criterion/criterion.h>
#include <errno.h>

#include "cache/cache_int.h"

static void check(const char *in, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = cache_decimal_normalise(in, strlen(in), &b);
    cr_assert_eq(rc, 0, "\"%s\" rejected", in);
    cr_assert_eq(b.len, strlen(want), "\"%s\" -> \"%.*s\", want \"%s\"", in, (int)b.len,
                 (char *)buf_data(&b), want);
    cr_assert_eq(memcmp(buf_data(&b), want, b.len), 0, "\"%s\" -> \"%.*s\", want \"%s\"", in,
                 (int)b.len, (char *)buf_data(&b), want);
    buf_fini(&b);
}

static void reject(const char *in)
{
    struct buf b;
    buf_init(&b, 0);
    cr_assert_eq(cache_decimal_normalise(in, strlen(in), &b), -EINVAL, "\"%s\" accepted", in);
    buf_fini(&b);
}

Test(cache_decimal, strips_trailing_zeros_and_point)
{
    check("12.5000", "12.5");
    check("3657691.50", "3657691.5");
    check("12.000", "12");
    check("12.", "12");
    check("100", "100");
    check("1200.0", "1200");
    check("1200.05", "1200.05");
}

Test(cache_decimal, strips_leading_zeros)
{
    check("0012.500", "12.5");
    check(".5", "0.5");
    check("-.5", "-0.5");
    check("000", "0");
    check("0.10", "0.1");
    check("-0.10", "-0.1");
    check("0.0001", "0.0001");
}

Test(cache_decimal, negative_zero_is_zero)
{
    check("-0", "0");
    check("-0.000", "0");
    check("-.0", "0");
}

Test(cache_decimal, large_values_keep_every_digit)
{
    check("12345678901234567890.123456789", "12345678901234567890.123456789");
    check("-99999999999999999999.9999999999", "-99999999999999999999.9999999999");
    check("100000000000000000000", "100000000000000000000"); /* exponent 20: still plain */
}

Test(cache_decimal, exponent_form_as_decimal_js)
{
    check("0.000001", "0.000001"); /* exponent -6: plain */
    check("0.0000001", "1e-7");
    check("0.00000001234", "1.234e-8");
    check("-0.00000005", "-5e-8");
    check("1000000000000000000000", "1e+21");
    check("1234567890123456789012.5", "1.2345678901234567890125e+21");
}

Test(cache_decimal, rejects_what_is_not_a_decimal)
{
    reject("");
    reject("-");
    reject(".");
    reject("+1");
    reject("1e5");
    reject("1.2.3");
    reject(" 1");
    reject("1 ");
    reject("0x10");
    reject("NaN");
    reject("--1");
    reject("1,5");
}

Test(cache_decimal, compares_normalised_text)
{
    cr_assert_lt(cache_decimal_cmp(slice_str("-1"), slice_str("0")), 0);
    cr_assert_gt(cache_decimal_cmp(slice_str("12.5"), slice_str("12.49999")), 0);
    cr_assert_eq(cache_decimal_cmp(slice_str("1e+21"), slice_str("1000000000000000000000")), 0);
    cr_assert_lt(cache_decimal_cmp(slice_str("-1e-7"), slice_str("-1e-8")), 0);
}

static void rounds(const char *in, unsigned scale, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    cr_assert_eq(cache_decimal_round(in, strlen(in), scale, &b), 0, "\"%s\" rejected", in);
    cr_assert_str_eq((const char *)buf_data(&b), want, "\"%s\" at scale %u", in, scale);
    buf_fini(&b);
}

/* As SQL Server converts a value to decimal(p,s): half away from zero. */
Test(cache_decimal, rounds_to_a_scale_half_away_from_zero)
{
    rounds("868.4299999999999", 2, "868.43");
    rounds("733406.120004", 4, "733406.1200");
    rounds("9.995", 2, "10.00");
    rounds("-9.995", 2, "-10.00");
    rounds("-0.004", 2, "-0.00");
    rounds("99.5", 0, "100");
    rounds("12.34", 4, "12.34");
    rounds("12", 2, "12");
    struct buf b;
    buf_init(&b, 0);
    cr_assert_eq(cache_decimal_round("1e3", 3, 2, &b), -EINVAL);
    buf_fini(&b);
}
