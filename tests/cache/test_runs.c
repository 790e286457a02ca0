#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fixture.h"

TestSuite(cache_runs, .init = fx_open, .fini = fx_close);

struct seen {
    int64_t start[CACHE_RUNS_KEPT + 10];
    struct cache_run run[CACHE_RUNS_KEPT + 10];
    size_t n;
};

static int collect(void *arg, const struct cache_run *r)
{
    struct seen *s = arg;
    cr_assert_lt(s->n, CACHE_RUNS_KEPT + 10);
    s->run[s->n] = *r;
    s->start[s->n++] = r->start_ms;
    return 0;
}

/* One run of the poller: applied 0 and status 0 make it an idle poll. */
static void append_one(const char *model, const char *kind, int64_t start, uint64_t applied,
                       int32_t status)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    struct cache_run r = {.start_ms = start, .end_ms = start + 5, .read = 18, .applied = applied,
                          .skipped = 18 - applied, .status = status};
    strcpy(r.kind, kind);
    cr_assert_eq(cache_run_append(w, fx_model(model), &r), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

static void append(const char *model, int64_t start, size_t count)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    for (size_t i = 0; i < count; i++) {
        struct cache_run r = {.start_ms = start + (int64_t)i, .end_ms = start + (int64_t)i + 5,
                              .read = 10, .applied = 7, .skipped = 3, .deleted = 1, .status = 0};
        strcpy(r.kind, "poll");
        cr_assert_eq(cache_run_append(w, fx_model(model), &r), 0);
    }
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

static int count_runs(void *arg, const struct cache_run *r)
{
    (void)r;
    ++*(size_t *)arg;
    return 0;
}

static struct seen runs(const char *model, size_t max)
{
    struct seen s = {.n = 0};
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_runs(rd, fx_model(model), max, collect, &s), 0);
    cache_rd_free(rd);
    return s;
}

Test(cache_runs, newest_first_and_limited_by_max)
{
    append("Company", 100, 3);
    struct seen s = runs("Company", 0);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.start[0], 102);
    cr_assert_eq(s.start[2], 100);
    s = runs("Company", 2);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.start[1], 101);
    cr_assert_eq(runs("Category", 0).n, 0, "other models have none");
}

Test(cache_runs, history_keeps_a_day_then_drops_the_oldest)
{
    append("Company", 1000, CACHE_RUNS_KEPT + 5);
    append("Category", 1, 2); /* a neighbour's runs are not trimmed with it */
    append("Company", 5000, 1);
    cr_assert_eq(runs("Company", 0).n, CACHE_RUNS_KEPT + 6, "younger than a day: all kept");
    append("Company", 1000 + CACHE_RUNS_AGE_MS + 10, 1); /* a day after the oldest ended */
    struct seen s = runs("Company", 0);
    cr_assert_eq(s.n, CACHE_RUNS_KEPT, "older than a day: dropped down to the minimum");
    cr_assert_eq(s.start[0], 1000 + CACHE_RUNS_AGE_MS + 10);
    cr_assert_eq(s.start[CACHE_RUNS_KEPT - 1], 1000 + 7);
    cr_assert_eq(runs("Category", 0).n, 2);
}

Test(cache_runs, history_never_exceeds_its_maximum)
{
    append("Company", 1000, CACHE_RUNS_MAX + 3); /* all within a day */
    struct seen s = runs("Company", 1);
    cr_assert_eq(s.start[0], 1000 + CACHE_RUNS_MAX + 2);
    size_t n = 0;
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_runs(rd, fx_model("Company"), 0, count_runs, &n), 0);
    cache_rd_free(rd);
    cr_assert_eq(n, CACHE_RUNS_MAX);
}

/* The case: 300 idle polls after the warm-up leave the warm-up in
 * the history, as one idle record behind it. */
Test(cache_runs, idle_polls_fold_into_one_record_and_the_warm_up_stays)
{
    append_one("Company", "warm", 100, 2000, 0);
    for (int i = 0; i < 300; i++)
        append_one("Company", "poll", 1000 + 10 * i, 0, 0);
    struct seen s = runs("Company", 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.run[1].kind, "warm");
    cr_assert_eq(s.run[1].applied, 2000);
    cr_assert_str_eq(s.run[0].kind, "idle");
    cr_assert_eq(s.run[0].polls, 300);
    cr_assert_eq(s.run[0].start_ms, 1000);
    cr_assert_eq(s.run[0].end_ms, 1000 + 10 * 299 + 5);
    cr_assert_eq(s.run[0].read, 300 * 18);
    cr_assert_eq(s.run[0].skipped, 300 * 18);
}

Test(cache_runs, a_change_or_a_failure_ends_the_idle_record)
{
    append_one("Company", "poll", 100, 0, 0);
    append_one("Company", "poll", 200, 0, 0);
    append_one("Company", "poll", 300, 3, 0);    /* applied rows: kept on its own */
    append_one("Company", "poll", 400, 0, 0);
    append_one("Company", "poll", 500, 0, -EIO); /* failed: kept on its own */
    append_one("Company", "poll", 600, 0, 0);
    append_one("Company", "reconcile", 700, 0, 0);
    append_one("Company", "poll", 800, 0, 0);
    struct seen s = runs("Company", 0);
    static const char *const kinds[] = {"idle", "reconcile", "idle", "poll", "idle", "poll", "idle"};
    static const uint32_t polls[] = {1, 1, 1, 1, 1, 1, 2};
    cr_assert_eq(s.n, 7);
    for (size_t i = 0; i < 7; i++) {
        cr_assert_str_eq(s.run[i].kind, kinds[i], "record %zu", i);
        cr_assert_eq(s.run[i].polls, polls[i], "record %zu", i);
    }
    cr_assert_eq(s.run[3].status, -EIO);
}

Test(cache_runs, record_round_trips_all_fields)
{
    struct cache_run in = {.start_ms = -5, .end_ms = INT64_MAX, .read = UINT64_MAX, .applied = 1,
                           .skipped = 2, .deleted = 3, .stalled = 4, .status = -ETIMEDOUT}, out;
    strcpy(in.kind, "reconcile");
    strcpy(in.error, "timeout after 120 s");
    struct buf b;
    buf_init(&b, 0);
    cache_run_encode(&in, &b);
    cr_assert_eq(cache_run_decode(buf_slice(&b), &out), 0);
    cr_assert_eq(in.start_ms, out.start_ms);
    cr_assert_eq(in.end_ms, out.end_ms);
    cr_assert_eq(in.read, out.read);
    cr_assert_eq(in.applied, out.applied);
    cr_assert_eq(in.skipped, out.skipped);
    cr_assert_eq(in.deleted, out.deleted);
    cr_assert_eq(in.stalled, out.stalled);
    cr_assert_eq(in.status, out.status);
    cr_assert_eq(out.polls, 1, "0 is stored as one poll");
    cr_assert_str_eq(in.kind, out.kind);
    cr_assert_str_eq(in.error, out.error);
    cr_assert_eq(cache_run_decode((struct slice){buf_data(&b), 20}, &out), -EPROTO);
    buf_data(&b)[0] = 0;
    cr_assert_eq(cache_run_decode(buf_slice(&b), &out), -EPROTO);
    buf_fini(&b);
}

Test(cache_runs, version_1_records_still_read_with_no_stalled_pages)
{
    /* A version 1 record as stores written before the stalled count hold it. */
    uint8_t v1[56 + 4] = {1, 4, 0, 0};
    v1[27] = 9; /* read = 9 */
    memcpy(v1 + 56, "poll", 4);
    struct cache_run out;
    cr_assert_eq(cache_run_decode((struct slice){v1, sizeof v1}, &out), 0);
    cr_assert_eq(out.read, 9);
    cr_assert_eq(out.stalled, 0);
    cr_assert_str_eq(out.kind, "poll");
}

static int stop(void *arg, const struct cache_run *r)
{
    (void)arg, (void)r;
    return 42;
}

Test(cache_runs, callback_result_stops_the_walk)
{
    append("Company", 1, 3);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_runs(rd, fx_model("Company"), 0, stop, NULL), 42);
    cache_rd_free(rd);
}
