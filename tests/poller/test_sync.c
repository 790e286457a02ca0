/*
 * The cursor advance of src/poller/sync.c without a source: pages are built
 * by hand as the fetch side would have read them, then the read position
 * (poller_sync_advance) and the committed cursor, state and run record
 * (poller_sync_apply into a real store) are checked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poller/poller_int.h"
#include "schema_fixture.h"

static const char schema_text[] = "/// @cursor lastUpdate\n"
                                  "model Tie {\n"
                                  "  id         Int       @id\n"
                                  "  lastUpdate DateTime? @db.DateTime\n"
                                  "}\n";

/* 2021-06-01 10:00:00.190, a datetime value (57/300 s past the second). */
#define T0 16225416001900000LL
#define BATCH 4

static struct schema *schema;
static const struct schema_model *model;
static struct cache *store;
static char dir[64];
static struct poller_sync sync;
static struct poller_sync_env env;
static struct poller_page page;

static void setup(void)
{
    schema = fixture_schema(schema_text);
    model = &schema->models[0];
    snprintf(dir, sizeof dir, "/tmp/cwcache-sync-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    struct cache_opts o = {.path = dir, .map_size = 64u << 20, .schema = schema};
    cr_assert_eq(cache_open(&store, &o), 0);
    poller_sync_init(&sync, model);
    sync.pass = POLLER_PASS_POLL;
    sync.clock = INT64_MAX;
    env = (struct poller_sync_env){.cache = store, .batch_rows = BATCH};
    poller_page_init(&page);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    poller_page_fini(&page);
    poller_sync_fini(&sync);
    cache_close(store);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    schema_free(schema);
}

TestSuite(poller_sync, .init = setup, .fini = teardown);

static struct cache_cursor at(int64_t ts, uint64_t pk)
{
    return (struct cache_cursor){true, ts, pk};
}

/* A page as the fetch side reads it: rows (ts, first..first+n-1) in source
 * order, last and capped (clock INT64_MAX: every row) tracked as in sync.c. */
static struct poller_page *rows(int64_t ts, uint64_t first, size_t n, size_t batch)
{
    poller_page_reset(&page);
    for (size_t i = 0; i < n; i++) {
        uint64_t pk = first + i;
        struct cache_value v[] = {{.kind = CV_INT, .i = (int64_t)pk},
                                  {.kind = CV_DATETIME, .ms = ts / 10000}};
        char err[128];
        cr_assert_eq(poller_page_add_row(&page, model, v, pk, err, sizeof err), 0, "%s", err);
        page.last = at(ts, pk);
        page.capped = page.last;
    }
    page.done = n < batch;
    return &page;
}

static void advance_ok(struct poller_page *pg)
{
    char err[256] = "";
    cr_assert_eq(poller_sync_advance(&sync, pg, err, sizeof err), 0, "%s", err);
}

Test(poller_sync, a_keyset_page_moves_the_read_position_to_its_last_row)
{
    advance_ok(rows(T0, 1, BATCH, BATCH));
    cr_assert(sync.scan.set && sync.scan.ts == T0 && sync.scan.pk == BATCH);
    cr_assert_not(page.stalled);
    cr_assert_not(sync.group.on);
}

Test(poller_sync, a_page_ending_where_it_started_starts_a_walk_of_one_datetime_tick)
{
    sync.scan = at(T0, BATCH);
    advance_ok(rows(T0, 1, BATCH, BATCH)); /* the same rows again: @t arrived low */
    cr_assert(page.stalled);
    cr_assert(sync.group.on);
    cr_assert_eq(sync.group.lo, T0);
    /* The next datetime value: .190 + 1/300 s = .1933333 (100 ns ticks). */
    cr_assert_eq(sync.group.hi, T0 + 33333);
    cr_assert_eq(sync.group.pk_next, 0);
    cr_assert(sync.scan.ts == T0 && sync.scan.pk == BATCH, "the read position stays put");
}

Test(poller_sync, a_walk_settles_the_cursor_only_when_it_ends_then_the_keyset_resumes_after_it)
{
    sync.scan = at(T0, BATCH);
    advance_ok(rows(T0, 1, BATCH, BATCH));
    advance_ok(rows(T0, 1, BATCH, BATCH)); /* the walk's first page, in key order */
    cr_assert_not(page.capped.set, "rows later in the window may still have smaller keys");
    cr_assert_eq(sync.group.pk_next, BATCH + 1);
    cr_assert_not(page.stalled);
    advance_ok(rows(T0, BATCH + 1, 2, BATCH)); /* short: the window is read */
    cr_assert_not(sync.group.on);
    cr_assert_not(page.done, "the pass goes on after the window");
    cr_assert(page.capped.set && page.capped.ts == T0 && page.capped.pk == BATCH + 2);
    cr_assert(sync.scan_from && sync.scan.ts == T0 + 33333);
    /* A page after the window moves the position even at its very first value. */
    advance_ok(rows(T0 + 33333, 1, BATCH, BATCH));
    cr_assert_not(page.stalled);
    cr_assert_not(sync.scan_from);
}

Test(poller_sync, stalling_again_where_a_walk_resumed_doubles_the_window)
{
    sync.scan = at(T0, BATCH);
    advance_ok(rows(T0, 1, BATCH, BATCH));
    advance_ok(rows(T0, 1, 0, BATCH)); /* the window held nothing the source would give */
    cr_assert(sync.scan_from);
    int64_t resume = sync.scan.ts;
    advance_ok(rows(T0, 1, BATCH, BATCH)); /* the group again: rounding reaches past the window */
    cr_assert(page.stalled);
    cr_assert(sync.group.on);
    cr_assert_eq(sync.group.lo, resume);
    cr_assert_eq(sync.group.width, 2);
    cr_assert_eq(sync.group.hi, poller_conv_ticks_step(SYBDATETIME, resume, 2));
}

Test(poller_sync, a_stalled_page_with_no_last_update_to_walk_abandons_the_pass)
{
    sync.scan = at(INT64_MIN, 7);
    sync.scan_nulls = true;
    char err[256] = "";
    cr_assert_eq(poller_sync_advance(&sync, rows(INT64_MIN, 4, BATCH, BATCH), err, sizeof err),
                 -EPROTO);
    cr_assert(strstr(err, "does not move the cursor"), "%s", err);
}

Test(poller_sync, a_walk_page_below_its_key_bound_abandons_the_pass)
{
    sync.scan = at(T0, BATCH);
    advance_ok(rows(T0, 1, BATCH, BATCH));
    advance_ok(rows(T0, 1, BATCH, BATCH));
    char err[256] = "";
    cr_assert_eq(poller_sync_advance(&sync, rows(T0, 1, BATCH, BATCH), err, sizeof err), -EPROTO);
    cr_assert(strstr(err, "ignored the key bound"), "%s", err);
}

Test(poller_sync, key_pages_must_move_past_the_previous_key)
{
    sync.pass = POLLER_PASS_RECONCILE;
    advance_ok(rows(T0, 10, BATCH, BATCH));
    cr_assert(sync.key_started && sync.key_after == 10 + BATCH - 1);
    char err[256] = "";
    cr_assert_eq(poller_sync_advance(&sync, rows(T0, 10, BATCH, BATCH), err, sizeof err), -EPROTO);
    cr_assert(strstr(err, "keys up to 13"), "%s", err);
}

/* ---- the writer side ------------------------------------------------------ */

static bool apply(struct poller_page *pg)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(store, &w), 0);
    bool dirty = false;
    char err[256] = "";
    cr_assert_eq(poller_sync_apply(&sync, &env, w, pg, &dirty, err, sizeof err), 0, "%s", err);
    if (dirty)
        cr_assert_eq(cache_wtxn_commit(w), 0);
    else
        cache_wtxn_abort(w);
    return dirty;
}

/* What poller_sync_begin resets for a poll (it also reads the source clock). */
static void new_pass(void)
{
    memset(&sync.run, 0, sizeof sync.run);
    sync.warmed_now = false;
}

static struct cache_meta meta(void)
{
    struct cache_rd *rd;
    struct cache_meta m;
    cr_assert_eq(cache_rd_new(store, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_meta_get(rd, model, &m), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
    return m;
}

static int newest_run(void *arg, const struct cache_run *r)
{
    *(struct cache_run *)arg = *r;
    return 1;
}

Test(poller_sync, the_committed_cursor_stops_at_the_clock_and_never_moves_back)
{
    sync.clock = T0;
    struct poller_page *pg = rows(T0, 1, BATCH, BATCH);
    pg->capped = at(T0, 2); /* rows 3 and 4 were read past the clock (fetch_row caps) */
    apply(pg);
    cr_assert(sync.cursor.ts == T0 && sync.cursor.pk == 2);
    cr_assert_eq(sync.state, CACHE_WARMING);
    struct cache_meta m = meta();
    cr_assert(m.cursor.ts == T0 && m.cursor.pk == 2, "the cursor commits with its rows");
    cr_assert_eq(m.rows, BATCH);
    pg = rows(T0 - 10000000, 1, 1, BATCH); /* an overlap re-read: older rows */
    apply(pg);
    cr_assert(sync.cursor.ts == T0 && sync.cursor.pk == 2);
    cr_assert_eq(sync.state, CACHE_WARM, "a short page reached the end");
}

Test(poller_sync, a_stalled_page_is_counted_in_the_run_record)
{
    sync.scan = at(T0, BATCH);
    struct poller_page *pg = rows(T0, 1, BATCH, BATCH);
    advance_ok(pg);
    apply(pg);
    apply(rows(T0, 1, 0, BATCH)); /* the pass ends */
    struct cache_rd *rd;
    struct cache_run r = {0};
    cr_assert_eq(cache_rd_new(store, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_geq(cache_runs(rd, model, 1, newest_run, &r), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cr_assert_eq(r.stalled, 1);
    cr_assert_eq(r.read, BATCH);
}

Test(poller_sync, an_idle_poll_commits_nothing)
{
    apply(rows(T0, 1, 2, BATCH)); /* warm, and its run recorded */
    new_pass();
    apply(rows(T0, 1, 0, BATCH)); /* the first idle poll is recorded */
    new_pass();
    cr_assert_not(apply(rows(T0, 1, 0, BATCH)), "an idle poll right after must not commit");
}

/* A round slower than reconcile_s finds the reconciliation due at every
 * turn: the poll, due longer, still gets its turn (the starvation that
 * left inserts and updates unread in fault.kill9_warm on a loaded machine). */
Test(poller_sync, a_reconciliation_due_at_every_turn_does_not_starve_the_poll)
{
    sync.state = CACHE_WARM;
    sync.next_poll_ms = 0;
    sync.next_reconcile_ms = 0;
    int64_t now = 1000;
    cr_assert_eq(poller_due_pass(&sync, now), POLLER_PASS_RECONCILE, "at start: reconcile first");
    int polls = 0;
    for (int turn = 0; turn < 10; turn++) {
        now += 3000; /* each round takes 3 s; reconcile_s is 1 s, the interval 0.2 s */
        enum poller_sync_pass p = poller_due_pass(&sync, now);
        if (p == POLLER_PASS_RECONCILE) {
            sync.next_reconcile_ms = now + 1000;
        } else {
            cr_assert_eq(p, POLLER_PASS_POLL);
            sync.next_poll_ms = now + 200;
            polls++;
        }
    }
    cr_assert_geq(polls, 4, "%d polls in 10 turns", polls);
    sync.next_poll_ms = now + 200;
    sync.next_reconcile_ms = now + 1000;
    cr_assert_eq(poller_due_pass(&sync, now), POLLER_PASS_NONE);
    cr_assert_eq(poller_due_pass(&sync, now + 500), POLLER_PASS_POLL);
    cr_assert_eq(poller_due_pass(&sync, now + 1000), POLLER_PASS_POLL, "the poll was due first");
}

/* A reconciliation that fails (a full map, a source answering nonsense)
 * waits its back-off like any pass, and the poll goes first: retried at
 * once, it would spin the poller thread (its due time stays in the past). */
Test(poller_sync, a_failed_reconciliation_waits_and_lets_the_poll_go_first)
{
    sync.state = CACHE_WARM;
    sync.next_poll_ms = 0;
    sync.next_reconcile_ms = 0;
    int64_t now = 1000;
    cr_assert_eq(poller_due_pass(&sync, now), POLLER_PASS_RECONCILE);
    poller_retry_at(&sync, POLLER_PASS_RECONCILE, now + 500);
    cr_assert_eq(poller_next_due_ms(&sync), now + 500, "the back-off, not a time past");
    cr_assert_eq(poller_due_pass(&sync, now), POLLER_PASS_NONE);
    cr_assert_eq(poller_due_pass(&sync, now + 499), POLLER_PASS_NONE);
    cr_assert_eq(poller_due_pass(&sync, now + 500), POLLER_PASS_POLL, "the poll first");
    cr_assert_eq(poller_due_pass(&sync, now + 501), POLLER_PASS_POLL, "the poll, due longer");
    sync.next_poll_ms = now + 700; /* it ran */
    cr_assert_eq(poller_due_pass(&sync, now + 501), POLLER_PASS_RECONCILE, "then the reconciliation");
    /* a failed poll waits too */
    poller_retry_at(&sync, POLLER_PASS_POLL, now + 900);
    sync.next_reconcile_ms = now + 5000;
    cr_assert_eq(poller_next_due_ms(&sync), now + 900);
}
