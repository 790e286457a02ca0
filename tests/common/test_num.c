#include <criterion/criterion.h>
#include <errno.h>

#include "num.h"

TestSuite(common_num);

Test(common_num, whole_unsigned_decimals_within_range)
{
    uint64_t v = 7;
    cr_assert_eq(num_parse_u64("0", 10, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(num_parse_u64("65535", 65535, &v), 0);
    cr_assert_eq(v, 65535);
    cr_assert_eq(num_parse_u64("007", 10, &v), 0);
    cr_assert_eq(v, 7);
    cr_assert_eq(num_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
}

Test(common_num, anything_else_is_refused_and_out_untouched)
{
    static const char *const bad[] = {"", " 1", "1 ", "+1", "-0", "-1", "0x10", "1e3", "1.0", "١"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t v = 42;
        cr_assert_eq(num_parse_u64(bad[i], UINT64_MAX, &v), -EINVAL, "\"%s\"", bad[i]);
        cr_assert_eq(v, 42);
    }
    uint64_t v = 42;
    cr_assert_eq(num_parse_u64(NULL, 1, &v), -EINVAL);
    cr_assert_eq(num_parse_u64("65536", 65535, &v), -ERANGE);
    cr_assert_eq(num_parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE, "2^64");
    cr_assert_eq(num_parse_u64("99999999999999999999x", UINT64_MAX, &v), -EINVAL,
                 "a non-digit wins over an overflow");
    cr_assert_eq(v, 42);
}
