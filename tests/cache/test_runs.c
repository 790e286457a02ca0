#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_runs, .init = fx_open, .fini = fx_close);

struct seen {
    int64_t start[CACHE_RUNS_KEPT + 10];
    size_t n;
};

static int collect(void *arg, const struct cache_run *r)
{
    struct seen *s = arg;
    s->start[s->n++] = r->start_ms;
    return 0;
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

Test(cache_runs, history_is_bounded_dropping_the_oldest)
{
    append("Company", 1000, CACHE_RUNS_KEPT + 5);
    append("Category", 1, 2); /* a neighbour's runs are not trimmed with it */
    append("Company", 5000, 1);
    struct seen s = runs("Company", 0);
    cr_assert_eq(s.n, CACHE_RUNS_KEPT);
    cr_assert_eq(s.start[0], 5000);
    cr_assert_eq(s.start[CACHE_RUNS_KEPT - 1], 1000 + 6);
    cr_assert_eq(runs("Category", 0).n, 2);
}

Test(cache_runs, record_round_trips_all_fields)
{
    struct cache_run in = {.start_ms = -5, .end_ms = INT64_MAX, .read = UINT64_MAX, .applied = 1,
                           .skipped = 2, .deleted = 3, .status = -ETIMEDOUT}, out;
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
    cr_assert_eq(in.status, out.status);
    cr_assert_str_eq(in.kind, out.kind);
    cr_assert_str_eq(in.error, out.error);
    cr_assert_eq(cache_run_decode((struct slice){buf_data(&b), 20}, &out), -EPROTO);
    buf_data(&b)[0] = 0;
    cr_assert_eq(cache_run_decode(buf_slice(&b), &out), -EPROTO);
    buf_fini(&b);
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
