#include <criterion/criterion.h>

#include "civil.h"

TestSuite(common_civil);

Test(common_civil, month_lengths_and_leap_years)
{
    cr_assert(civil_valid(2024, 2, 29));
    cr_assert_not(civil_valid(2024, 2, 30), "2024-02-30 is no date");
    cr_assert_not(civil_valid(2023, 2, 29));
    cr_assert(civil_valid(2000, 2, 29), "divisible by 400: leap");
    cr_assert_not(civil_valid(1900, 2, 29), "divisible by 100 only: not leap");
    cr_assert_not(civil_valid(2024, 4, 31));
    cr_assert(civil_valid(2024, 12, 31));
    cr_assert_not(civil_valid(2024, 0, 1));
    cr_assert_not(civil_valid(2024, 13, 1));
    cr_assert_not(civil_valid(2024, 1, 0));
}

Test(common_civil, known_day_numbers)
{
    cr_assert_eq(civil_to_days(1970, 1, 1), 0);
    cr_assert_eq(civil_to_days(2000, 3, 1), 11017);
    cr_assert_eq(civil_to_days(1969, 12, 31), -1);
    cr_assert_eq(civil_to_days(1900, 1, 1), -25567, "db-lib's epoch");
}

/* Every day from 1600 to 2400 maps to a valid date and back, and
 * consecutive days are consecutive dates. */
Test(common_civil, days_and_dates_round_trip)
{
    int64_t from = civil_to_days(1600, 1, 1), to = civil_to_days(2400, 12, 31);
    int64_t py = 0;
    unsigned pm = 0, pd = 0;
    for (int64_t z = from; z <= to; z++) {
        int64_t y;
        unsigned m, d;
        civil_from_days(z, &y, &m, &d);
        cr_assert(civil_valid(y, m, d), "%lld", (long long)z);
        cr_assert_eq(civil_to_days(y, m, d), z);
        if (z > from)
            cr_assert(d == pd + 1 || (d == 1 && (m == pm + 1 || (m == 1 && y == py + 1))));
        py = y, pm = m, pd = d;
    }
}
