#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_meta, .init = fx_open, .fini = fx_close);

static struct cache_meta sample(void)
{
    struct cache_meta m = {
        .state = CACHE_WARMING,
        .cursor = {.set = true, .ts = -123456789012345LL, .pk = UINT64_MAX - 1},
        .rows = 999,
        .source_newest_ts = 17000000000000000LL,
        .last_run_start_ms = 1709294400000LL,
        .last_run_end_ms = 1709294401000LL,
        .last_reconcile_ms = -1,
        .last_ok_ms = 1709294300000LL,
        .last_status = -EIO,
    };
    strcpy(m.last_error, "login failed: ünïcödé \"quoted\"");
    return m;
}

/* Field by field: padding bytes are not part of the record. */
static void meta_eq(const struct cache_meta *a, const struct cache_meta *b)
{
    cr_assert_eq(a->state, b->state);
    cr_assert_eq(a->cursor.set, b->cursor.set);
    cr_assert_eq(a->cursor.ts, b->cursor.ts);
    cr_assert_eq(a->cursor.pk, b->cursor.pk);
    cr_assert_eq(a->rows, b->rows);
    cr_assert_eq(a->source_newest_ts, b->source_newest_ts);
    cr_assert_eq(a->last_run_start_ms, b->last_run_start_ms);
    cr_assert_eq(a->last_run_end_ms, b->last_run_end_ms);
    cr_assert_eq(a->last_reconcile_ms, b->last_reconcile_ms);
    cr_assert_eq(a->last_ok_ms, b->last_ok_ms);
    cr_assert_eq(a->last_status, b->last_status);
    cr_assert_str_eq(a->last_error, b->last_error);
}

Test(cache_meta, never_written_reads_cold_and_zero)
{
    struct cache_rd *rd;
    struct cache_meta m;
    memset(&m, 0x5a, sizeof m);
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_meta_get(rd, fx_model("Company"), &m), 0);
    cr_assert_eq(m.state, CACHE_COLD);
    cr_assert_not(m.cursor.set);
    cr_assert_eq(m.rows, 0);
    cr_assert_eq(m.last_error[0], '\0');
    cache_rd_free(rd);
}

Test(cache_meta, put_then_get_round_trips_and_rows_is_maintained)
{
    struct cache_value none = cv_null();
    fx_company(1, "a", false, &none);
    fx_company(2, "b", false, &none);
    struct cache_meta in = sample(), out;
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_meta_put(w, fx_model("Company"), &in), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    struct cache_rd *rd;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_meta_get(rd, fx_model("Company"), &out), 0);
    in.rows = 2; /* whatever the caller passed */
    meta_eq(&in, &out);
    cr_assert_eq(cache_meta_get(rd, fx_model("Category"), &out), 0);
    cr_assert_eq(out.state, CACHE_COLD, "other models untouched");
    cache_rd_free(rd);
}

Test(cache_meta, encoding_is_fixed_and_versioned)
{
    struct cache_meta in = sample(), out;
    struct buf b;
    buf_init(&b, 0);
    cache_meta_encode(&in, &b);
    cr_assert_eq(b.len, 74 + strlen(in.last_error));
    cr_assert_eq(buf_data(&b)[0], CACHE_META_VERSION);
    cr_assert_eq(cache_meta_decode(buf_slice(&b), &out), 0);
    meta_eq(&in, &out);
    cr_assert_eq(cache_meta_decode((struct slice){buf_data(&b), b.len - 1}, &out), -EPROTO);
    buf_data(&b)[0] = 3;
    cr_assert_eq(cache_meta_decode(buf_slice(&b), &out), -EPROTO, "unknown version");
    buf_data(&b)[0] = CACHE_META_VERSION;
    buf_data(&b)[1] = 7;
    cr_assert_eq(cache_meta_decode(buf_slice(&b), &out), -EPROTO, "unknown state");
    buf_fini(&b);
}

Test(cache_meta, long_errors_are_truncated_not_overflowed)
{
    struct cache_meta in = sample(), out;
    memset(in.last_error, 'x', sizeof in.last_error); /* no terminator at all */
    struct buf b;
    buf_init(&b, 0);
    cache_meta_encode(&in, &b);
    cr_assert_eq(cache_meta_decode(buf_slice(&b), &out), 0);
    cr_assert_eq(strlen(out.last_error), CACHE_ERROR_MAX - 1);
    buf_fini(&b);
}

Test(cache_meta, state_names)
{
    cr_assert_str_eq(cache_state_name(CACHE_COLD), "cold");
    cr_assert_str_eq(cache_state_name(CACHE_WARMING), "warming");
    cr_assert_str_eq(cache_state_name(CACHE_WARM), "warm");
}

/* A store written before last_ok_ms: the last successful run is the last match. */
Test(cache_meta, version_1_records_still_read)
{
    struct cache_meta in = sample(), out;
    struct buf b;
    buf_init(&b, 0);
    cache_meta_encode(&in, &b);
    /* Version 1 is version 2 without the 8 bytes of last_ok_ms at 66. */
    uint8_t *p = buf_data(&b);
    memmove(p + 66, p + 74, b.len - 74);
    b.len -= 8;
    p[0] = 1;
    cr_assert_eq(cache_meta_decode(buf_slice(&b), &out), 0);
    cr_assert_str_eq(out.last_error, in.last_error);
    cr_assert_eq(out.last_ok_ms, 0, "its last run failed: no known match");
    p[60] = p[61] = p[62] = p[63] = 0; /* last_status 0 */
    cr_assert_eq(cache_meta_decode(buf_slice(&b), &out), 0);
    cr_assert_eq(out.last_ok_ms, in.last_run_end_ms);
    buf_fini(&b);
}
