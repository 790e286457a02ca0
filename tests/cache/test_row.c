#include <criterion/criterion.h>
#include <errno.h>

#include "fixture.h"

TestSuite(cache_row, .init = fx_open, .fini = fx_close);

static struct buf enc(const struct cache_value *vals)
{
    struct buf b;
    char err[128] = "";
    buf_init(&b, 0);
    cr_assert_eq(cache_row_encode(fx_model("AllTypes"), vals, &b, err, sizeof err), 0, "%s", err);
    return b;
}

static void expect_full(const struct cache_value *vals, const char *want)
{
    struct buf b = enc(vals);
    char *got = fx_row_json(buf_slice(&b), fx_model("AllTypes"));
    cr_assert_str_eq(got, want);
    free(got);
    buf_fini(&b);
}

Test(cache_row, full_record_is_keys_and_values_in_braces)
{
    struct cache_value v[] = {cv_int(7), cv_int(-5), cv_int(INT64_MIN), cv_text("a\"\\\t"),
                              cv_bool(false), cv_dt(1709294400000LL), cv_dec("12345678901234567890.123456789"),
                              cv_float(2.5), {.kind = CV_BYTES, .s = {(const uint8_t *)"hi", 2}}};
    expect_full(v, "{\"id\":7,\"i\":-5,\"b\":-9223372036854775808,\"s\":\"a\\\"\\\\\\t\",\"t\":false,"
                   "\"d\":\"2024-03-01T12:00:00.000Z\",\"dec\":\"12345678901234567890.123456789\","
                   "\"f\":2.5,\"by\":\"aGk=\"}");
}

Test(cache_row, nulls_empty_strings_and_extremes)
{
    struct cache_value v[] = {cv_int(INT64_MAX), cv_null(), cv_int(INT64_MAX), cv_text(""), cv_null(),
                              cv_dt(-62135596800000LL), cv_dec("-0.000"), cv_float(-1.7976931348623157e308),
                              cv_null()};
    expect_full(v, "{\"id\":9223372036854775807,\"i\":null,\"b\":9223372036854775807,\"s\":\"\","
                   "\"t\":null,\"d\":\"0001-01-01T00:00:00.000Z\",\"dec\":\"0\","
                   "\"f\":-1.7976931348623157e+308,\"by\":null}");
    struct cache_value w[] = {cv_int(1), cv_null(), cv_null(), cv_text("日本語 ünïcödé"), cv_null(),
                              cv_dt(253402300799999LL), cv_null(), cv_float(5e-324), cv_null()};
    expect_full(w, "{\"id\":1,\"i\":null,\"b\":null,\"s\":\"日本語 ünïcödé\",\"t\":null,"
                   "\"d\":\"9999-12-31T23:59:59.999Z\",\"dec\":null,\"f\":5e-324,\"by\":null}");
}

Test(cache_row, values_pk_and_ints_read_back_without_parsing_json)
{
    struct cache_value v[] = {cv_int(42), cv_int(-17), cv_null(), cv_text("x"), cv_bool(true),
                              cv_null(), cv_dec("1.50"), cv_null(), cv_null()};
    struct buf b = enc(v);
    const struct schema_model *m = fx_model("AllTypes");
    struct slice row = buf_slice(&b), val;
    cr_assert_eq(cache_row_pk(row), 42);
    cr_assert_eq(cache_row_value(row, m, fx_field("AllTypes", "dec"), &val), 0);
    cr_assert_eq(val.len, 5);
    cr_assert_eq(memcmp(val.p, "\"1.5\"", 5), 0);
    cr_assert_eq(cache_row_value(row, m, fx_field("AllTypes", "t"), &val), 0);
    cr_assert_eq(memcmp(val.p, "true", 4), 0);
    int64_t i;
    cr_assert_eq(cache_row_int(row, m, fx_field("AllTypes", "i"), &i), 0);
    cr_assert_eq(i, -17);
    cr_assert_eq(cache_row_int(row, m, fx_field("AllTypes", "b"), &i), -ENOENT);
    cr_assert_eq(cache_row_int(row, m, fx_field("AllTypes", "id"), &i), 0);
    cr_assert_eq(i, 42);
    buf_fini(&b);
}

Test(cache_row, encode_appends_after_existing_bytes)
{
    struct cache_value v[] = {cv_int(1), cv_null(), cv_null(), cv_null(), cv_null(), cv_null(),
                              cv_null(), cv_null(), cv_null()};
    struct buf b;
    char err[64];
    buf_init(&b, 0);
    buf_append(&b, "abc", 3);
    cr_assert_eq(cache_row_encode(fx_model("AllTypes"), v, &b, err, sizeof err), 0);
    cr_assert_eq(memcmp(buf_data(&b), "abc", 3), 0);
    cr_assert_eq(cache_row_pk((struct slice){buf_data(&b) + 3, b.len - 3}), 1);
    buf_fini(&b);
}

Test(cache_row, same_values_same_fingerprint_changed_value_other)
{
    struct cache_value v[] = {cv_int(1), cv_int(2), cv_null(), cv_text("a"), cv_null(), cv_null(),
                              cv_null(), cv_null(), cv_null()};
    struct buf a = enc(v), b = enc(v);
    v[3] = cv_text("b");
    struct buf c = enc(v);
    struct cache_row_view va, vb, vc;
    cr_assert_eq(cache_row_view(buf_slice(&a), fx_model("AllTypes"), &va), 0);
    cr_assert_eq(cache_row_view(buf_slice(&b), fx_model("AllTypes"), &vb), 0);
    cr_assert_eq(cache_row_view(buf_slice(&c), fx_model("AllTypes"), &vc), 0);
    cr_assert_eq(va.hash, vb.hash);
    cr_assert_neq(va.hash, vc.hash);
    buf_fini(&a), buf_fini(&b), buf_fini(&c);
}

/* Values are stored back to back: i=12,b=3 and i=1,b=23 have the same
 * body ("1123"), so the fingerprint must cover the offsets, or the second
 * put would be taken for an unchanged row and never stored. */
Test(cache_row, same_body_split_differently_is_a_changed_row)
{
    struct cache_value v[] = {cv_int(1), cv_int(12), cv_int(3), cv_null(), cv_null(), cv_null(),
                              cv_null(), cv_null(), cv_null()};
    struct buf a = enc(v);
    v[1] = cv_int(1), v[2] = cv_int(23);
    struct buf b = enc(v);
    struct cache_row_view va, vb;
    cr_assert_eq(cache_row_view(buf_slice(&a), fx_model("AllTypes"), &va), 0);
    cr_assert_eq(cache_row_view(buf_slice(&b), fx_model("AllTypes"), &vb), 0);
    cr_assert_eq(va.body_len, vb.body_len);
    cr_assert_eq(memcmp(va.body, vb.body, va.body_len), 0, "the same bytes");
    cr_assert_neq(va.hash, vb.hash);
    struct cache_wtxn *w;
    enum cache_put res;
    char err[128];
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_row_put_encoded(w, fx_model("AllTypes"), buf_slice(&a), &res), 0);
    cr_assert_eq(cache_row_put(w, fx_model("AllTypes"), v, &res, err, sizeof err), 0, "%s", err);
    cr_assert_eq(res, CACHE_PUT_UPDATED);
    cache_wtxn_abort(w);
    buf_fini(&a), buf_fini(&b);
}

/* A row whose body is k + 31 bytes: s is k characters, the other values
 * "1" and seven nulls. */
static struct buf row_with_text(size_t k, char **text)
{
    *text = malloc(k + 1);
    memset(*text, 'x', k);
    (*text)[k] = '\0';
    struct cache_value v[] = {cv_int(1), cv_null(), cv_null(), cv_text(*text), cv_null(), cv_null(),
                              cv_null(), cv_null(), cv_null()};
    return enc(v);
}

/* Offsets are u16 while the body fits them (under 64 KiB), u32 past that;
 * both read back the same values and render the same record. */
Test(cache_row, offsets_are_narrow_up_to_64_kib_and_wide_past_it)
{
    const struct schema_model *m = fx_model("AllTypes");
    for (size_t k = 65503; k <= 65506; k++) {
        char *text;
        struct buf b = row_with_text(k, &text);
        bool wide = k + 31 > 65535;
        struct cache_row_view v;
        cr_assert_eq(cache_row_view(buf_slice(&b), m, &v), 0, "k=%zu", k);
        cr_assert_eq(v.wide, wide, "k=%zu", k);
        cr_assert_eq(v.body_len, k + 31);
        cr_assert_eq(b.len, CACHE_ROW_HDR + (wide ? 4 : 2) * (m->n_fields + 1) + k + 31);
        struct slice s;
        cr_assert_eq(cache_row_value(buf_slice(&b), m, fx_field("AllTypes", "s"), &s), 0);
        cr_assert_eq(s.len, k + 2);
        cr_assert_eq(memcmp(s.p + 1, text, k), 0);
        cr_assert_eq(cache_row_value(buf_slice(&b), m, fx_field("AllTypes", "by"), &s), 0);
        cr_assert_eq(s.len, 4);
        cr_assert_eq(memcmp(s.p, "null", 4), 0);
        char *got = fx_row_json(buf_slice(&b), m);
        size_t n = strlen(got);
        cr_assert_eq(n, k + 31 + 50, "k=%zu", k); /* 9 keys: 40 bytes, 8 commas, 2 braces */
        cr_assert_eq(memcmp(got, "{\"id\":1,\"i\":null,\"b\":null,\"s\":\"xx", 30), 0);
        cr_assert_str_eq(got + n - 53, "xxx\",\"t\":null,\"d\":null,\"dec\":null,\"f\":null,\"by\":null}");
        free(got), free(text);
        buf_fini(&b);
    }
}

Test(cache_row, bad_values_fail_and_leave_the_buffer_as_it_was)
{
    struct cache_value v[] = {cv_int(1), cv_text("nope"), cv_null(), cv_null(), cv_null(), cv_null(),
                              cv_null(), cv_null(), cv_null()};
    struct buf b;
    char err[128] = "";
    buf_init(&b, 0);
    cr_assert_eq(cache_row_encode(fx_model("AllTypes"), v, &b, err, sizeof err), -EINVAL);
    cr_assert_eq(b.len, 0);
    cr_assert(strstr(err, "field i"), "%s", err);
    v[1] = cv_null();
    v[0] = cv_null();
    cr_assert_eq(cache_row_encode(fx_model("AllTypes"), v, &b, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "key id"), "%s", err);
    buf_fini(&b);
}

Test(cache_row, damaged_or_foreign_rows_are_rejected)
{
    struct cache_value v[] = {cv_int(1), cv_null(), cv_null(), cv_null(), cv_null(), cv_null(),
                              cv_null(), cv_null(), cv_null()};
    struct buf b = enc(v);
    struct cache_row_view view;
    struct slice s = buf_slice(&b), val;
    cr_assert_eq(cache_row_view((struct slice){s.p, 10}, fx_model("AllTypes"), &view), -EPROTO);
    cr_assert_eq(cache_row_view((struct slice){s.p, s.len - 1}, fx_model("AllTypes"), &view), -EPROTO);
    cr_assert_eq(cache_row_view(s, fx_model("Category"), &view), -EPROTO, "field count differs");
    cr_assert_eq(cache_row_value(s, fx_model("AllTypes"), fx_field("Category", "name"), &val), -EINVAL);
    buf_data(&b)[1] = 2;
    cr_assert_eq(cache_row_view(s, fx_model("AllTypes"), &view), -EPROTO, "unknown flag");
    buf_data(&b)[1] = 0;
    buf_data(&b)[CACHE_ROW_HDR + 2 * 9 + 1]--; /* off[n] short of the body's length */
    cr_assert_eq(cache_row_view(s, fx_model("AllTypes"), &view), -EPROTO, "damaged offsets");
    buf_data(&b)[CACHE_ROW_HDR + 2 * 9 + 1]++;
    cr_assert_eq(cache_row_view(s, fx_model("AllTypes"), &view), 0);
    buf_data(&b)[0] = 1;
    cr_assert_eq(cache_row_view(s, fx_model("AllTypes"), &view), -EPROTO, "the old layout");
    buf_data(&b)[0] = 9;
    cr_assert_eq(cache_row_view(s, fx_model("AllTypes"), &view), -EPROTO, "unknown version");
    buf_fini(&b);
}

/* The view checks the header and the last offset; a damaged offset inside
 * the table renders that member's key alone (the full record's fast loop
 * and the select alike), never bytes outside the row. */
Test(cache_row, a_damaged_offset_renders_the_key_alone)
{
    struct cache_value v[] = {cv_int(1), cv_int(2), cv_int(3), cv_text("abc"), cv_bool(true), cv_null(),
                              cv_dec("12345678901234567890.123456789"), cv_null(), cv_null()}; /* a body for the fast loop */
    const struct schema_model *m = fx_model("AllTypes");
    struct buf b = enc(v);
    /* Copied into a block of its exact size: a read past it trips ASan. */
    uint8_t *row = malloc(b.len);
    memcpy(row, buf_data(&b), b.len);
    put_be16(row + CACHE_ROW_HDR + 2 * 2, 0xFFFF); /* off[2]: i ends, b starts past the body */
    struct cache_row_view view;
    cr_assert_eq(cache_row_view((struct slice){row, b.len}, m, &view), 0);
    struct buf out;
    buf_init(&out, 0);
    cache_row_members(&view, m, &out);
    const char *want = "\"id\":1,\"i\":,\"b\":,\"s\":\"abc\",\"t\":true,\"d\":null,"
                       "\"dec\":\"12345678901234567890.123456789\",\"f\":null,\"by\":null";
    cr_assert_eq(out.len, strlen(want));
    cr_assert_eq(memcmp(buf_data(&out), want, out.len), 0);
    const struct schema_field *sel[] = {fx_field("AllTypes", "b"), fx_field("AllTypes", "s")};
    buf_reset(&out);
    cache_row_select(&view, sel, 2, &out);
    cr_assert_eq(out.len, strlen("\"b\":,\"s\":\"abc\""));
    put_be16(row + CACHE_ROW_HDR + 2 * 3, 0xFFF0); /* off[3]: s starts after it ends */
    buf_reset(&out);
    cache_row_select(&view, sel, 2, &out);
    cr_assert_eq(out.len, strlen("\"b\":,\"s\":"));
    buf_reset(&out);
    cache_row_members(&view, m, &out);
    want = "\"id\":1,\"i\":,\"b\":,\"s\":,\"t\":true,";
    cr_assert_eq(memcmp(buf_data(&out), want, strlen(want)), 0);
    memcpy(row, buf_data(&b), b.len);
    put_be16(row + CACHE_ROW_HDR + 2 * 3, 1); /* off[3] before off[2], both in the body */
    buf_reset(&out);
    cache_row_members(&view, m, &out);
    want = "\"id\":1,\"i\":2,\"b\":,\"s\":23\"abc\",\"t\":true,";
    cr_assert_eq(memcmp(buf_data(&out), want, strlen(want)), 0, "%.*s", (int)out.len, buf_data(&out));
    buf_fini(&out);
    free(row);
    buf_fini(&b);
}

Test(cache_row, json_int_parser)
{
    int64_t i;
    cr_assert_eq(cache_json_int(slice_str("0"), &i), 0);
    cr_assert_eq(i, 0);
    cr_assert_eq(cache_json_int(slice_str("-9223372036854775808"), &i), 0);
    cr_assert_eq(i, INT64_MIN);
    cr_assert_eq(cache_json_int(slice_str("9223372036854775807"), &i), 0);
    cr_assert_eq(i, INT64_MAX);
    cr_assert_eq(cache_json_int(slice_str("null"), &i), -ENOENT);
    cr_assert_eq(cache_json_int(slice_str("9223372036854775808"), &i), -EPROTO);
    cr_assert_eq(cache_json_int(slice_str("\"1\""), &i), -EPROTO);
    cr_assert_eq(cache_json_int(slice_str("-"), &i), -EPROTO);
    cr_assert_eq(cache_json_int(slice_str(""), &i), -EPROTO);
}
