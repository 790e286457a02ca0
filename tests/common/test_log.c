#include <criterion/criterion.h>

#include "log.h"

TestSuite(common_log);

/* Three models failing with the same error in turn: each is told once per
 * window, where a single shared slot logged every one of them each time. */
Test(common_log, repeats_are_kept_per_key)
{
    struct log_repeat r;
    log_repeat_init(&r, 4, 60000);
    const char *msg[] = {"model A: storing a row: disk full", "model B: storing a row: disk full",
                         "model C: storing a row: disk full"};
    int said = 0;
    for (int round = 0; round < 10; round++)
        for (size_t m = 0; m < 3; m++)
            said += log_repeat_due(&r, m, msg[m], 1000 + round * 1000);
    cr_assert_eq(said, 3, "once per model, got %d", said);
    log_repeat_fini(&r);
}

Test(common_log, a_changed_message_or_an_elapsed_window_is_said_again)
{
    struct log_repeat r;
    log_repeat_init(&r, 2, 60000);
    cr_assert(log_repeat_due(&r, 0, "connection refused", 0));
    cr_assert_not(log_repeat_due(&r, 0, "connection refused", 59999));
    cr_assert(log_repeat_due(&r, 0, "login failed", 60000), "news is logged at once");
    cr_assert(log_repeat_due(&r, 0, "connection refused", 60001));
    cr_assert(log_repeat_due(&r, 0, "connection refused", 120001), "a minute later, again");
    cr_assert(log_repeat_due(&r, 1, "connection refused", 120001), "keys are independent");
    log_repeat_fini(&r);
}

Test(common_log, the_first_message_of_a_key_is_said_even_at_time_zero)
{
    struct log_repeat r;
    log_repeat_init(&r, 1, 60000);
    cr_assert(log_repeat_due(&r, 0, "", 0));
    log_repeat_fini(&r);
    log_repeat_fini(&r); /* a finished limiter is zeroed */
}
