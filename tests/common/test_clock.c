#include <criterion/criterion.h>
#include <time.h>

#include "clock.h"

TestSuite(common_clock);

Test(common_clock, wall_time_is_the_epoch_in_ms)
{
    time_t before = time(NULL);
    int64_t ms = clock_wall_ms();
    time_t after = time(NULL);
    cr_assert_geq(ms / 1000, (int64_t)before);
    cr_assert_leq(ms / 1000, (int64_t)after);
}

Test(common_clock, monotonic_units_agree_and_never_go_back)
{
    uint64_t ns = clock_mono_ns();
    int64_t us = clock_mono_us(), ms = clock_mono_ms();
    double s = clock_mono_s();
    uint64_t ns2 = clock_mono_ns();
    cr_assert_geq(ns2, ns);
    cr_assert_geq(us, (int64_t)(ns / 1000));
    cr_assert_geq(ms, (int64_t)(ns / 1000000));
    cr_assert_leq(ms, (int64_t)(ns2 / 1000000));
    cr_assert(s >= (double)ns / 1e9 && s <= (double)ns2 / 1e9);
    struct timespec d = {0, 2000000};
    nanosleep(&d, NULL);
    cr_assert_geq(clock_mono_ms() - ms, 2, "2 ms slept");
}
