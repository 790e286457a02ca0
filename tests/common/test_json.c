#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

/* Expected strings below were produced by Node 20's JSON.stringify. */

TestSuite(common_json);

static struct buf out;

static const char *text(void)
{
    buf_putc(&out, '\0');
    out.len--;
    return (const char *)buf_data(&out);
}

static void str_is(const char *in, size_t n, const char *want)
{
    buf_reset(&out);
    json_put_str(&out, in, n);
    cr_assert_eq(out.len, strlen(want), "got %s want %s", text(), want);
    cr_assert_str_eq(text(), want);
}

static void dbl_is(double v, const char *want)
{
    buf_reset(&out);
    json_put_double(&out, v);
    cr_assert_str_eq(text(), want, "%.17g", v);
}

static void dt_is(int64_t ms, const char *want)
{
    buf_reset(&out);
    json_put_datetime_ms(&out, ms);
    cr_assert_str_eq(text(), want, "%lld", (long long)ms);
}

Test(common_json, string_escapes_like_json_stringify)
{
    str_is("plain", 5, "\"plain\"");
    str_is("", 0, "\"\"");
    str_is("\"\\\b\f\n\r\t/", 8, "\"\\\"\\\\\\b\\f\\n\\r\\t/\"");
    /* Other controls as \u00XX; DEL and U+2028 pass through as JSON.stringify does. */
    str_is("\x00\x01\x1f\x7f", 4, "\"\\u0000\\u0001\\u001f\x7f\"");
    str_is("a\xe2\x80\xa8z", 5, "\"a\xe2\x80\xa8z\"");
    buf_fini(&out);
}

Test(common_json, valid_utf8_is_copied)
{
    str_is("\xc3\xa9t\xc3\xa9", 5, "\"\xc3\xa9t\xc3\xa9\"");       /* été */
    str_is("\xe2\x82\xac", 3, "\"\xe2\x82\xac\"");                 /* € */
    str_is("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"");         /* 😀 */
    str_is("\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\"");         /* U+10FFFF */
    str_is("\xef\xbf\xbf\xc2\x80", 5, "\"\xef\xbf\xbf\xc2\x80\""); /* U+FFFF, U+0080 */
    buf_fini(&out);
}

#define FFFD "\xef\xbf\xbd"

Test(common_json, invalid_utf8_becomes_fffd_per_maximal_subpart)
{
    /* The same bytes through Node's Buffer#toString then JSON.stringify. */
    str_is("a\xe2\x82"
           "b",
           4, "\"a" FFFD "b\"");                                  /* truncated 3-byte */
    str_is("\xed\xa0\x80", 3, "\"" FFFD FFFD FFFD "\"");          /* UTF-16 surrogate */
    str_is("\xf0\x9f\x98", 3, "\"" FFFD "\"");                    /* truncated at the end */
    str_is("\xf4\x90\x80\x80", 4, "\"" FFFD FFFD FFFD FFFD "\""); /* above U+10FFFF */
    str_is("\xc0\xaf", 2, "\"" FFFD FFFD "\"");                   /* overlong '/' */
    str_is("\xe0\x80\xaf", 3, "\"" FFFD FFFD FFFD "\"");          /* overlong 3-byte */
    str_is("\xff"
           "d",
           2, "\"" FFFD "d\"");
    str_is("\x80\x80", 2, "\"" FFFD FFFD "\""); /* lone continuations */
    str_is("\xc3", 1, "\"" FFFD "\"");
    str_is("\xc3\"", 2, "\"" FFFD "\\\"\""); /* quote after a broken lead */
    static const char mixed[] = "a\xe2\x82"
                                "b\xed\xa0\x80"
                                "c\xf0\x9f\x98\xf4\x90\x80\x80\xc0\xaf\xff"
                                "d\xe2\x82\xac";
    str_is(mixed, sizeof mixed - 1,
           "\"a" FFFD "b" FFFD FFFD FFFD "c" FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD
           "d\xe2\x82\xac\"");
    buf_fini(&out);
}

/* Long text is scanned 8 bytes at a time: every byte value at every
 * position of a 24-byte run must come out as it does on its own (a 1-byte
 * string takes the byte loop), and a sequence across two words intact. */
Test(common_json, every_byte_at_every_position_of_long_text)
{
    struct buf one;
    buf_init(&one, 0);
    char in[24], want[64];
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        buf_reset(&one);
        json_put_str(&one, &ch, 1);
        for (size_t pos = 0; pos < sizeof in; pos++) {
            memset(in, 'a', sizeof in);
            in[pos] = ch;
            int n = snprintf(want, sizeof want, "\"%.*s%.*s%.*s\"", (int)pos, in,
                             (int)one.len - 2, (const char *)buf_data(&one) + 1,
                             (int)(sizeof in - pos - 1), in + pos + 1);
            cr_assert_lt(n, (int)sizeof want);
            str_is(in, sizeof in, want);
        }
    }
    str_is("aaaaaaa\xc3\xa9" "bbbbbbbbbbbbbbb\"", 25,
           "\"aaaaaaa\xc3\xa9" "bbbbbbbbbbbbbbb\\\"\"");
    buf_fini(&one);
    buf_fini(&out);
}

Test(common_json, length_is_explicit)
{
    str_is("a\0b", 3, "\"a\\u0000b\"");
    buf_reset(&out);
    json_put_cstr(&out, "x\"y");
    cr_assert_str_eq(text(), "\"x\\\"y\"");
    buf_fini(&out);
}

Test(common_json, doubles_print_like_javascript)
{
    dbl_is(0.1, "0.1");
    dbl_is(1e21, "1e+21");
    dbl_is(1e20, "100000000000000000000");
    dbl_is(999999999999999900000.0, "999999999999999900000");
    dbl_is(1.5e-7, "1.5e-7");
    dbl_is(1e-7, "1e-7");
    dbl_is(-1e-7, "-1e-7");
    dbl_is(0.000001, "0.000001");
    dbl_is(0.00001234, "0.00001234");
    dbl_is(123456789012.0, "123456789012");
    dbl_is(-0.0, "0");
    dbl_is(0.0, "0");
    dbl_is(12.3456, "12.3456");
    dbl_is(1234.5678, "1234.5678");
    dbl_is(3657691.5, "3657691.5");
    dbl_is(9.95, "9.95");
    dbl_is(4.35, "4.35");
    dbl_is(0.1 + 0.2, "0.30000000000000004");
    dbl_is(1.0 / 3, "0.3333333333333333");
    dbl_is(100, "100");
    dbl_is(-1.5, "-1.5");
    dbl_is(9007199254740992.0, "9007199254740992");
    dbl_is(9007199254740994.0, "9007199254740994");
    dbl_is(5e-324, "5e-324");
    dbl_is(1.7976931348623157e308, "1.7976931348623157e+308");
    dbl_is(1e300, "1e+300");
    dbl_is(NAN, "null");
    dbl_is(INFINITY, "null");
    dbl_is(-INFINITY, "null");
    buf_fini(&out);
}

Test(common_json, datetimes_like_date_to_json)
{
    dt_is(0, "\"1970-01-01T00:00:00.000Z\"");
    dt_is(-1, "\"1969-12-31T23:59:59.999Z\"");
    dt_is(1709208000000, "\"2024-02-29T12:00:00.000Z\"");
    dt_is(-6847804800000, "\"1753-01-01T00:00:00.000Z\"");  /* SQL Server datetime minimum */
    dt_is(253402300799999, "\"9999-12-31T23:59:59.999Z\""); /* and maximum year */
    dt_is(-62135596800000, "\"0001-01-01T00:00:00.000Z\"");
    dt_is(-62135596800001, "\"0000-12-31T23:59:59.999Z\"");
    dt_is(253402300800000, "\"+010000-01-01T00:00:00.000Z\"");
    dt_is(8640000000000000, "\"+275760-09-13T00:00:00.000Z\"");
    dt_is(-8640000000000000, "\"-271821-04-20T00:00:00.000Z\"");
    dt_is(8640000000000001, "null");
    dt_is(INT64_MIN, "null");
    buf_fini(&out);
}

Test(common_json, integers_and_bools)
{
    buf_reset(&out);
    json_put_i64(&out, INT64_MIN);
    buf_putc(&out, ' ');
    json_put_i64(&out, -1);
    buf_putc(&out, ' ');
    json_put_u64(&out, UINT64_MAX);
    buf_putc(&out, ' ');
    json_put_bool(&out, true);
    buf_putc(&out, ' ');
    json_put_bool(&out, false);
    cr_assert_str_eq(text(), "-9223372036854775808 -1 18446744073709551615 true false");
    buf_fini(&out);
}

Test(common_json, appends_after_headroom_and_existing_data)
{
    struct buf b;
    buf_init(&b, 16);
    buf_puts(&b, "[");
    json_put_cstr(&b, "x");
    buf_putc(&b, ',');
    json_put_double(&b, 2.5);
    buf_putc(&b, ']');
    cr_assert_eq(b.len, 9);
    cr_assert(memcmp(buf_data(&b), "[\"x\",2.5]", 9) == 0);
    cr_assert_eq(buf_data(&b), b.mem + 16);
    buf_fini(&b);
}

/* ---- Sweeps against independent references (printf, strtod, gmtime) ---- */

/* xorshift64*: reproducible values without libc's rand state. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

Test(common_json, integers_match_printf)
{
    static const int64_t edge[] = {0, 1, -1, 9, 10, -10, INT32_MAX, INT32_MIN, INT64_MAX,
                                   INT64_MIN, INT64_MIN + 1};
    char want[32];
    uint64_t s = 42;
    for (int i = 0; i < 100000; i++) {
        int64_t v = i < (int)(sizeof edge / sizeof *edge) ? edge[i]
                                                          : (int64_t)(rnd(&s) >> (rnd(&s) % 64));
        buf_reset(&out);
        json_put_i64(&out, v);
        snprintf(want, sizeof want, "%lld", (long long)v);
        cr_assert_str_eq(text(), want);
        buf_reset(&out);
        json_put_u64(&out, (uint64_t)v);
        snprintf(want, sizeof want, "%llu", (unsigned long long)v);
        cr_assert_str_eq(text(), want);
    }
}

/* Significant digits of a JSON number: leading zeros, the point, the sign
 * and trailing zeros of an integer part do not count. */
static int sig_digits(const char *t)
{
    const char *e = strpbrk(t, "e");
    size_t n = e ? (size_t)(e - t) : strlen(t);
    char d[64];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] >= '0' && t[i] <= '9' && (k || t[i] != '0'))
            d[k++] = t[i];
    while (k > 1 && d[k - 1] == '0')
        k--;
    return (int)k;
}

/* The fewest significant digits that read back as v (ECMAScript's choice). */
static int shortest(double v)
{
    char t[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(t, sizeof t, "%.*e", p - 1, v);
        if (strtod(t, NULL) == v)
            return p;
    }
    return 17;
}

/* JSON.stringify's number: reads back exactly, shortest digits, fixed
 * notation exactly for 1e-6 <= |v| < 1e21. */
static void dbl_ok(double v)
{
    buf_reset(&out);
    json_put_double(&out, v);
    const char *t = text();
    if (v == 0) {
        cr_assert_str_eq(t, "0");
        return;
    }
    cr_assert_eq(strtod(t, NULL), v, "%.17g wrote %s", v, t);
    cr_assert_eq(sig_digits(t), shortest(v), "%.17g wrote %s", v, t);
    double a = fabs(v);
    bool fixed = a >= 1e-6 && a < 1e21;
    cr_assert_eq(strchr(t, 'e') == NULL, fixed, "%.17g wrote %s", v, t);
}

Test(common_json, money_values_are_shortest_round_trips)
{
    uint64_t s = 7;
    for (int i = 0; i < 100000; i++) {
        int64_t units = (int64_t)(rnd(&s) >> (rnd(&s) % 63 + 1));
        dbl_ok((double)units / 10000.0); /* what money columns deliver */
        dbl_ok(-(double)(units % 100000000) / 100.0);
    }
}

Test(common_json, arbitrary_doubles_are_shortest_round_trips)
{
    uint64_t s = 99;
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rnd(&s);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v) && v != 0)
            dbl_ok(v);
        dbl_ok((double)(rnd(&s) % 1000000) / 7.0); /* long fractions: the slow path */
    }
}

Test(common_json, datetimes_match_gmtime)
{
    uint64_t s = 3;
    char want[96];
    for (int i = 0; i < 100000; i++) {
        /* Years 0001..9999, the range SQL Server's types hold. */
        int64_t ms = (int64_t)(rnd(&s) % 315537897600000ull) - 62135596800000;
        time_t sec = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
        struct tm tm;
        gmtime_r(&sec, &tm);
        snprintf(want, sizeof want, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms - (int64_t)sec * 1000));
        buf_reset(&out);
        json_put_datetime_ms(&out, ms);
        cr_assert_str_eq(text(), want, "%lld", (long long)ms);
    }
}
