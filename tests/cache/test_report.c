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

/* The report's clock: 60 s after the last run below; readiness allows 300 s. */
static const struct cache_report_clock clock_ = {.now_ms = 1709294461500LL,
                                                 .max_staleness_ms = 300000};

/* Two models with cursors: one on a UTC column, one on a local-time column. */
static const char cursors_schema[] =
    "/// @cursor lastUpdateUtc\n"
    "model Utc {\n  id Int @id\n  lastUpdateUtc DateTime @map(\"Last_Update_UTC\")\n}\n"
    "/// @cursor lastUpdate\n"
    "model Local {\n  id Int @id\n  lastUpdate DateTime @map(\"Last_Update\")\n}\n";

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
        .last_ok_ms = 1709294340000LL, /* the last success: 121.5 s before the clock */
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
    cache_report_model_json(&b, fx_model("Company"), &m, true, &clock_);
    json_eq(&b, "{\"model\":\"Company\",\"needed\":true,\"ready\":false,\"state\":\"cold\","
                "\"rows\":0,\"cursor\":null,\"sourceNewest\":null,\"lagSeconds\":null,"
                "\"lastSuccess\":null,\"stalenessSeconds\":null,"
                "\"lastRunStart\":null,\"lastRunEnd\":null,\"lastRunMs\":0,\"lastStatus\":null,"
                "\"lastError\":\"\",\"lastReconcile\":null}");
    buf_fini(&b);
}

Test(cache_report, warm_model_with_cursor_lag_staleness_and_error)
{
    struct schema *s = fx_schema_parse(cursors_schema);
    struct cache_meta m = warm_failed();
    struct buf b;
    buf_init(&b, 0);
    cache_report_model_json(&b, &s->models[0], &m, false, &clock_);
    json_eq(&b, "{\"model\":\"Utc\",\"needed\":false,\"ready\":true,\"state\":\"warm\","
                "\"rows\":7,\"cursor\":{\"column\":\"Last_Update_UTC\",\"zone\":\"UTC\","
                "\"lastUpdate\":\"2024-03-01T12:00:00.123Z\","
                "\"recId\":42},\"sourceNewest\":\"2024-03-01T12:00:02.623Z\","
                "\"lagSeconds\":2.5,\"lastSuccess\":\"2024-03-01T11:59:00.000Z\","
                "\"stalenessSeconds\":121.5,\"lastRunStart\":\"2024-03-01T12:00:00.000Z\","
                "\"lastRunEnd\":\"2024-03-01T12:00:01.500Z\",\"lastRunMs\":1500,"
                "\"lastStatus\":\"failed\",\"lastError\":\"login failed: \\\"sa\\\"\","
                "\"lastReconcile\":\"2024-03-01T11:00:00.000Z\"}");
    /* A local-time column: the same digits, no Z, and the zone in words. */
    buf_reset(&b);
    cache_report_model_json(&b, &s->models[1], &m, false, &clock_);
    char *got = fx_strdup_slice(buf_slice(&b));
    cr_assert(strstr(got, "\"cursor\":{\"column\":\"Last_Update\",\"zone\":\"source local time\","
                          "\"lastUpdate\":\"2024-03-01T12:00:00.123\",\"recId\":42},"
                          "\"sourceNewest\":\"2024-03-01T12:00:02.623\","), "%s", got);
    free(got);
    buf_fini(&b);
    schema_free(s);
}

Test(cache_report, source_state_in_words)
{
    struct cache_health up = {.known = true, .up = true, .since_ms = 1709294400000LL},
                        down = {.known = true, .since_ms = 1709294400000LL}, unknown = {0};
    strcpy(down.error, "connecting to 127.0.0.1:1433: Connection refused");
    struct buf b;
    buf_init(&b, 0);
    cache_report_health_json(&b, &up, 1709294401500LL);
    json_eq(&b, "{\"state\":\"up\",\"since\":\"2024-03-01T12:00:00.000Z\","
                "\"lastSuccess\":\"2024-03-01T12:00:01.500Z\",\"error\":\"\"}");
    buf_reset(&b);
    cache_report_health_json(&b, &down, 1709294340000LL);
    json_eq(&b, "{\"state\":\"down\",\"since\":\"2024-03-01T12:00:00.000Z\","
                "\"lastSuccess\":\"2024-03-01T11:59:00.000Z\","
                "\"error\":\"connecting to 127.0.0.1:1433: Connection refused\"}");
    buf_reset(&b);
    cache_report_health_json(&b, &unknown, 0);
    json_eq(&b, "{\"state\":\"unknown\",\"since\":null,\"lastSuccess\":null,\"error\":\"\"}");
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

Test(cache_report, ready_means_warm_and_matched_the_source_within_max_staleness)
{
    struct cache_meta m = warm_failed(); /* the last run failed 121.5 s after the last success */
    cr_assert(cache_meta_ready(&m, &clock_), "a failed run alone keeps correct data servable");
    struct cache_report_clock later = clock_;
    later.now_ms = m.last_ok_ms + 300000;
    cr_assert(cache_meta_ready(&m, &later));
    later.now_ms++;
    cr_assert_not(cache_meta_ready(&m, &later), "older than max_staleness");
    m.last_ok_ms = 0;
    cr_assert_not(cache_meta_ready(&m, &clock_), "never matched the source");
    m = warm_failed();
    m.state = CACHE_WARMING;
    cr_assert_not(cache_meta_ready(&m, &clock_));
    double st = -1;
    m.last_ok_ms = clock_.now_ms + 5; /* a clock step back: no negative staleness */
    cr_assert(cache_meta_staleness_s(&m, clock_.now_ms, &st));
    cr_assert_eq(st, 0);
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
    failed.last_ok_ms = 1; /* long stale */
    cache_report_sum_add(&s, &cold, false, &clock_); /* not needed: does not count against ready */
    cache_report_sum_add(&s, &ok, true, &clock_);
    cache_report_sum_add(&s, &warming, false, &clock_);
    cr_assert_eq(s.last_ok_ms, ok.last_ok_ms);
    struct buf b;
    buf_init(&b, 0);
    cache_report_summary_json(&b, &s);
    json_eq(&b, "{\"models\":3,\"warm\":1,\"warming\":1,\"cold\":1,\"failed\":0,\"notReady\":0,"
                "\"rows\":10,\"ready\":true}");
    cache_report_sum_add(&s, &failed, true, &clock_);
    buf_reset(&b);
    cache_report_summary_json(&b, &s);
    json_eq(&b, "{\"models\":4,\"warm\":2,\"warming\":1,\"cold\":1,\"failed\":1,\"notReady\":1,"
                "\"rows\":17,\"ready\":false}");
    buf_fini(&b);
}
