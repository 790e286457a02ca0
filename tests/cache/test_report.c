#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_report, .init = fx_open, .fini = fx_close);

/* 2024-03-01T12:00:00.123Z plus 4567 ticks below the millisecond. */
#define CURSOR_TS (17092944001230000LL + 4567)

/* Compares the whole text, so a changed key, order or
 * number format fails here before it reaches the status page's clients. */
static void json_eq(struct buf *b, const char *want)
{
    char *got = fx_strdup_slice(buf_slice(b));
    cr_assert_str_eq(got, want);
    free(got);
}

static struct cache_meta warm_failed(void)
{
    struct cache_meta m = {
        .state = CACHE_WARM,
        .cursor = {.set = true, .ts = CURSOR_TS, .pk = 42},
        .rows = 7,
        .source_newest_ts = CURSOR_TS + 25000000, /* 2.5 s ahead */
        .last_run_start_ms = 1709294400000LL,
        .last_run_end_ms = 1709294401500LL,
        .last_reconcile_ms = 1709290800000LL,
        .last_status = -EIO,
    };
    strcpy(m.last_error, "login failed: \"sa\"");
    return m;
}

Test(cache_report, cold_model_has_nulls_and_is_not_ready)
{
    struct cache_meta m = {.state = CACHE_COLD};
    struct buf b;
    buf_init(&b, 0);
    cache_report_model_json(&b, fx_model("Company"), &m, true);
    json_eq(&b, "{\"model\":\"Company\",\"needed\":true,\"ready\":false,\"state\":\"cold\","
                "\"rows\":0,\"cursor\":null,\"sourceNewest\":null,\"lagSeconds\":null,"
                "\"lastRunStart\":null,\"lastRunEnd\":null,\"lastRunMs\":0,\"lastStatus\":0,"
                "\"lastError\":\"\",\"lastReconcile\":null}");
    buf_fini(&b);
}

Test(cache_report, warm_model_with_cursor_lag_and_error)
{
    struct cache_meta m = warm_failed();
    struct buf b;
    buf_init(&b, 0);
    cache_report_model_json(&b, fx_model("Category"), &m, false);
    json_eq(&b, "{\"model\":\"Category\",\"needed\":false,\"ready\":false,\"state\":\"warm\","
                "\"rows\":7,\"cursor\":{\"lastUpdate\":\"2024-03-01T12:00:00.123Z\","
                "\"recId\":42},\"sourceNewest\":\"2024-03-01T12:00:02.623Z\","
                "\"lagSeconds\":2.5,\"lastRunStart\":\"2024-03-01T12:00:00.000Z\","
                "\"lastRunEnd\":\"2024-03-01T12:00:01.500Z\",\"lastRunMs\":1500,"
                "\"lastStatus\":-5,\"lastError\":\"login failed: \\\"sa\\\"\","
                "\"lastReconcile\":\"2024-03-01T11:00:00.000Z\"}");
    buf_fini(&b);
}

Test(cache_report, failed_run_without_text_reports_strerror)
{
    struct cache_meta m = warm_failed();
    m.last_error[0] = '\0';
    cr_assert_str_eq(cache_meta_error(&m), strerror(EIO));
    m.last_status = 0;
    strcpy(m.last_error, "stale text of an earlier failure");
    cr_assert_str_eq(cache_meta_error(&m), "");
}

Test(cache_report, ready_needs_warm_and_a_successful_last_run)
{
    struct cache_meta m = warm_failed();
    cr_assert_not(cache_meta_ready(&m));
    m.last_status = 0;
    cr_assert(cache_meta_ready(&m));
    m.state = CACHE_WARMING;
    cr_assert_not(cache_meta_ready(&m));
}

Test(cache_report, lag_is_unknown_without_both_times_and_never_negative)
{
    struct cache_meta m = warm_failed();
    double lag = -1;
    cr_assert(cache_meta_lag_s(&m, &lag));
    cr_assert_float_eq(lag, 2.5, 1e-9);
    m.source_newest_ts = m.cursor.ts - 10000000; /* cursor passed the last poll's newest */
    cr_assert(cache_meta_lag_s(&m, &lag));
    cr_assert_eq(lag, 0);
    m.source_newest_ts = 0;
    lag = -1;
    cr_assert_not(cache_meta_lag_s(&m, &lag));
    cr_assert_eq(lag, -1, "untouched when unknown");
    m.source_newest_ts = CURSOR_TS;
    m.cursor.set = false;
    cr_assert_not(cache_meta_lag_s(&m, &lag));
}

Test(cache_report, ticks_floor_to_milliseconds_on_both_sides_of_the_epoch)
{
    cr_assert_eq(cache_ticks_ms(0), 0);
    cr_assert_eq(cache_ticks_ms(19999), 1);
    cr_assert_eq(cache_ticks_ms(-1), -1);
    cr_assert_eq(cache_ticks_ms(-10000), -1);
    cr_assert_eq(cache_ticks_ms(-10001), -2);
}

Test(cache_report, summary_counts_states_failures_and_needed_models_not_ready)
{
    struct cache_report_sum s = {0};
    struct cache_meta cold = {.state = CACHE_COLD}, failed = warm_failed(), ok = warm_failed();
    ok.last_status = 0;
    struct cache_meta warming = {.state = CACHE_WARMING, .rows = 3};
    cache_report_sum_add(&s, &cold, false);    /* not needed: does not count against ready */
    cache_report_sum_add(&s, &ok, true);
    cache_report_sum_add(&s, &warming, false);
    struct buf b;
    buf_init(&b, 0);
    cache_report_summary_json(&b, &s);
    json_eq(&b, "{\"models\":3,\"warm\":1,\"warming\":1,\"cold\":1,\"failed\":0,\"notReady\":0,"
                "\"rows\":10,\"ready\":true}");
    cache_report_sum_add(&s, &failed, true);
    buf_reset(&b);
    cache_report_summary_json(&b, &s);
    json_eq(&b, "{\"models\":4,\"warm\":2,\"warming\":1,\"cold\":1,\"failed\":1,\"notReady\":1,"
                "\"rows\":17,\"ready\":false}");
    buf_fini(&b);
}
