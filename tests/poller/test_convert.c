#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "poller/poller_int.h"

TestSuite(poller_convert);

static struct cache_value conv(int type, const void *data, int len)
{
    static char slot[POLLER_CONV_SLOT];
    char err[128];
    struct cache_value v;
    int rc = poller_conv_value(type, data, len, slot, &v, err, sizeof err);
    cr_assert_eq(rc, 0, "type %d: %s", type, err);
    return v;
}

static bool text_is(struct cache_value v, const char *s)
{
    return v.s.len == strlen(s) && memcmp(v.s.p, s, v.s.len) == 0;
}

Test(poller_convert, integers_of_every_width)
{
    uint8_t u8 = 200;
    int16_t i16 = -12345;
    int32_t i32 = -2000000000;
    int64_t i64 = INT64_C(-9000000000000);
    struct cache_value v = conv(SYBINT1, &u8, 1);
    cr_assert_eq(v.kind, CV_INT);
    cr_assert_eq(v.i, 200, "tinyint is unsigned");
    cr_assert_eq(conv(SYBINT2, &i16, 2).i, -12345);
    cr_assert_eq(conv(SYBINT4, &i32, 4).i, -2000000000);
    cr_assert_eq(conv(SYBINT8, &i64, 8).i, i64);
    cr_assert_eq(conv(SYBINTN, &i32, 4).i, -2000000000);
    cr_assert_eq(conv(SYBINTN, &i64, 8).i, i64);
}

Test(poller_convert, nulls_of_any_type)
{
    int types[] = {SYBINT4,     SYBBIT,         SYBDECIMAL, SYBMONEY, SYBFLT8,
                   SYBDATETIME, SYBMSDATETIME2, SYBVARCHAR, SYBNTEXT, POLLER_TYPE_UNIQUE,
                   SYBVARBINARY};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        cr_assert_eq(conv(types[i], NULL, 0).kind, CV_NULL, "type %d", types[i]);
}

Test(poller_convert, bits)
{
    uint8_t one = 1, zero = 0;
    cr_assert_eq(conv(SYBBIT, &one, 1).kind, CV_BOOL);
    cr_assert(conv(SYBBIT, &one, 1).b);
    cr_assert_not(conv(SYBBITN, &zero, 1).b);
}

Test(poller_convert, money_divides_like_tedious)
{
    DBMONEY m = {.mnyhigh = 0, .mnylow = 123456789}; /* 12345.6789 */
    struct cache_value v = conv(SYBMONEY, &m, sizeof m);
    cr_assert_eq(v.kind, CV_FLOAT);
    cr_assert_eq(v.f, 123456789 / 10000.0);
    int64_t neg = -150000; /* -15.0000 */
    DBMONEY n = {.mnyhigh = (DBINT)(neg >> 32), .mnylow = (DBUINT)(uint64_t)neg};
    cr_assert_eq(conv(SYBMONEYN, &n, 8).f, -15.0);
    int32_t m4 = 25000; /* smallmoney 2.5 */
    cr_assert_eq(conv(SYBMONEY4, &m4, 4).f, 2.5);
}

Test(poller_convert, floats_keep_their_precision)
{
    float f = 0.1f;
    double d = 1234.5678;
    cr_assert_eq(conv(SYBREAL, &f, 4).f, (double)0.1f);
    cr_assert_eq(conv(SYBFLT8, &d, 8).f, 1234.5678);
    cr_assert_eq(conv(SYBFLTN, &f, 4).f, (double)0.1f);
}

static DBNUMERIC numeric(int prec, int scale, bool neg, unsigned __int128 mag)
{
    static const uint8_t bytes[39] = {1,  2,  2,  3,  3,  4,  4,  4,  5,  5,  6,  6,  6,
                                      7,  7,  8,  8,  9,  9,  9,  10, 10, 11, 11, 11, 12,
                                      12, 13, 13, 14, 14, 14, 15, 15, 16, 16, 16, 17, 17};
    DBNUMERIC n;
    memset(&n, 0, sizeof n);
    n.precision = (unsigned char)prec;
    n.scale = (unsigned char)scale;
    n.array[0] = neg ? 1 : 0;
    for (int i = bytes[prec] - 1; i >= 1; i--, mag >>= 8)
        n.array[i] = (unsigned char)mag;
    return n;
}

Test(poller_convert, decimals_become_text_with_their_scale)
{
    DBNUMERIC n = numeric(18, 4, true, 36576915000);
    struct cache_value v = conv(SYBNUMERIC, &n, sizeof n);
    cr_assert_eq(v.kind, CV_DECIMAL);
    cr_assert(text_is(v, "-3657691.5000"), "%.*s", (int)v.s.len, v.s.p);
    n = numeric(5, 2, false, 5);
    cr_assert(text_is(conv(SYBDECIMAL, &n, sizeof n), "0.05"));
    n = numeric(10, 0, false, 0);
    cr_assert(text_is(conv(SYBDECIMAL, &n, sizeof n), "0"));
    unsigned __int128 big = 1;
    for (int i = 0; i < 38; i++)
        big *= 10;
    n = numeric(38, 10, false, big - 1);
    cr_assert(text_is(conv(SYBDECIMAL, &n, sizeof n), "9999999999999999999999999999.9999999999"));
    n = numeric(38, 0, false, 1);
    n.precision = 39;
    char slot[POLLER_CONV_SLOT], err[64];
    cr_assert_eq(
        poller_conv_value(SYBDECIMAL, (const BYTE *)&n, sizeof n, slot, &v, err, sizeof err),
        -EPROTO, "precision 39 is malformed");
}

Test(poller_convert, datetime_milliseconds_round_like_tedious)
{
    /* 1900-01-01 + 25567 days = 1970-01-01. ticks of 1/300 s. */
    cr_assert_eq(poller_conv_datetime_ms(25567, 0), 0);
    cr_assert_eq(poller_conv_datetime_ms(25567, 1), 3); /* 3.33 -> 3 */
    cr_assert_eq(poller_conv_datetime_ms(25567, 2), 7); /* 6.67 -> 7 */
    cr_assert_eq(poller_conv_datetime_ms(25567, 299), 997);
    cr_assert_eq(poller_conv_datetime_ms(25566, 0), -86400000);
    DBDATETIME d = {.dtdays = 25567 + 19783, .dttime = 300 * 3600 * 12 + 2}; /* 2024-03-01 12:00:00.007 */
    struct cache_value v = conv(SYBDATETIME, &d, sizeof d);
    cr_assert_eq(v.kind, CV_DATETIME);
    cr_assert_eq(v.ms, INT64_C(1709294400007));
    cr_assert_eq(conv(SYBDATETIMN, &d, sizeof d).ms, INT64_C(1709294400007));
}

Test(poller_convert, smalldatetime_datetime2_and_date)
{
    DBDATETIME4 d4 = {.days = 25567 + 1, .minutes = 90};
    cr_assert_eq(conv(SYBDATETIME4, &d4, sizeof d4).ms, 86400000 + 90 * 60000);
    DBDATETIMEALL a;
    memset(&a, 0, sizeof a);
    a.date = 25567 + 19783;
    a.time = UINT64_C(432000000000) + 1234567; /* 12:00:00.1234567 */
    a.time_prec = 7, a.has_date = 1, a.has_time = 1;
    cr_assert_eq(conv(SYBMSDATETIME2, &a, sizeof a).ms, INT64_C(1709294400123), "truncated");
    a.time = 0, a.has_time = 0;
    cr_assert_eq(conv(SYBMSDATE, &a, sizeof a).ms, INT64_C(1709251200000));
}

Test(poller_convert, cursor_ticks_round_trip_exactly_through_datetime)
{
    for (int32_t t = 0; t < 3000; t += 7) {
        DBDATETIME d = {.dtdays = 45000, .dttime = 25000000 + t}, back;
        int64_t ticks;
        cr_assert_eq(poller_conv_ticks(SYBDATETIME, (const BYTE *)&d, sizeof d, &ticks), 0);
        poller_conv_ticks_to_datetime(ticks, &back);
        cr_assert_eq(back.dtdays, d.dtdays);
        cr_assert_eq(back.dttime, d.dttime);
    }
    DBDATETIME last = {.dtdays = 45000, .dttime = 300 * 86400 - 1}, back;
    int64_t ticks;
    cr_assert_eq(poller_conv_ticks(SYBDATETIME, (const BYTE *)&last, sizeof last, &ticks), 0);
    poller_conv_ticks_to_datetime(ticks, &back);
    cr_assert_eq(back.dttime, last.dttime);
    DBDATETIMEALL a, b;
    poller_conv_ticks_to_datetime2(INT64_C(17092944001234567), &a);
    cr_assert_eq(poller_conv_ticks(SYBMSDATETIME2, (const BYTE *)&a, sizeof a, &ticks), 0);
    cr_assert_eq(ticks, INT64_C(17092944001234567));
    poller_conv_ticks_to_datetime2(-1, &b);
    cr_assert_eq(b.date, 25566);
    cr_assert_eq(b.time, UINT64_C(863999999999));
}

Test(poller_convert, text_and_binary_are_views)
{
    const char s[] = "Zürich";
    struct cache_value v = conv(SYBCHAR, s, (int)strlen(s));
    cr_assert_eq(v.kind, CV_TEXT);
    cr_assert_eq((const void *)v.s.p, (const void *)s);
    cr_assert(text_is(conv(SYBNVARCHAR, s, (int)strlen(s)), s));
    cr_assert(text_is(conv(SYBTEXT, "", 0), ""));
    cr_assert(text_is(conv(POLLER_TYPE_XNVARCHAR, s, 3), "Zü"));
    const uint8_t b[] = {0, 1, 255};
    v = conv(SYBVARBINARY, b, 3);
    cr_assert_eq(v.kind, CV_BYTES);
    cr_assert_eq(v.s.len, 3);
    cr_assert_eq(conv(SYBIMAGE, b, 3).kind, CV_BYTES);
}

Test(poller_convert, uniqueidentifier_prints_like_prisma)
{
    /* 6F9619FF-8B86-D011-B42D-00C04FC964FF as stored on the wire */
    const uint8_t w[16] = {0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0,
                           0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF};
    struct cache_value v = conv(POLLER_TYPE_UNIQUE, w, 16);
    cr_assert_eq(v.kind, CV_TEXT);
    cr_assert(text_is(v, "6f9619ff-8b86-d011-b42d-00c04fc964ff"), "%.*s", (int)v.s.len, v.s.p);
}

Test(poller_convert, bad_input_is_an_error_not_a_crash)
{
    char slot[POLLER_CONV_SLOT], err[128];
    struct cache_value v;
    uint8_t b[3] = {1, 2, 3};
    cr_assert_eq(poller_conv_value(SYBINTN, b, 3, slot, &v, err, sizeof err), -EPROTO);
    cr_assert_eq(poller_conv_value(POLLER_TYPE_UNIQUE, b, 3, slot, &v, err, sizeof err), -EPROTO);
    cr_assert_eq(poller_conv_value(SYBFLTN, b, 3, slot, &v, err, sizeof err), -EPROTO);
    cr_assert_eq(poller_conv_value(SYBDATETIME, b, 3, slot, &v, err, sizeof err), -EPROTO);
    cr_assert_eq(poller_conv_value(12345, b, 3, slot, &v, err, sizeof err), -EPROTO);
    cr_assert(strstr(err, "12345"), "%s", err);
    int64_t t;
    cr_assert_eq(poller_conv_ticks(SYBINT4, b, 4, &t), -EPROTO);
    cr_assert_eq(poller_conv_ticks(SYBDATETIME, NULL, 0, &t), -EPROTO);
}

/* Found by tests/fuzz (convert): a broken server decides every byte. */
Test(poller_convert, dates_outside_sql_server_ranges_are_malformed)
{
    char slot[POLLER_CONV_SLOT], err[128];
    struct cache_value v;
    int64_t t;
    DBDATETIME bad_days = {.dtdays = 1732200995, .dttime = 0};
    DBDATETIME before_1753 = {.dtdays = -53691, .dttime = 0};
    DBDATETIME bad_time = {.dtdays = 45000, .dttime = 300 * 86400};
    DBDATETIME first = {.dtdays = -53690, .dttime = 0}, last = {.dtdays = 2958463, .dttime = 0};
    for (int type = SYBDATETIME; type; type = type == SYBDATETIME ? SYBDATETIMN : 0) {
        cr_assert_eq(poller_conv_value(type, (BYTE *)&bad_days, 8, slot, &v, err, sizeof err), -EPROTO);
        cr_assert_eq(poller_conv_value(type, (BYTE *)&before_1753, 8, slot, &v, err, sizeof err), -EPROTO);
        cr_assert_eq(poller_conv_value(type, (BYTE *)&bad_time, 8, slot, &v, err, sizeof err), -EPROTO);
        cr_assert_eq(poller_conv_ticks(type, (BYTE *)&bad_days, 8, &t), -EPROTO);
        cr_assert_eq(poller_conv_value(type, (BYTE *)&first, 8, slot, &v, err, sizeof err), 0);
        cr_assert_eq(poller_conv_value(type, (BYTE *)&last, 8, slot, &v, err, sizeof err), 0);
    }
    DBDATETIME4 bad_minutes = {.days = 45000, .minutes = 24 * 60};
    cr_assert_eq(poller_conv_value(SYBDATETIME4, (BYTE *)&bad_minutes, 4, slot, &v, err, sizeof err),
                 -EPROTO);
    DBDATETIMEALL a;
    memset(&a, 0, sizeof a);
    a.date = 1732200995;
    cr_assert_eq(poller_conv_value(SYBMSDATETIME2, (BYTE *)&a, sizeof a, slot, &v, err, sizeof err),
                 -EPROTO);
    cr_assert_eq(poller_conv_ticks(SYBMSDATETIMEOFFSET, (BYTE *)&a, sizeof a, &t), -EPROTO);
    a.date = 45000;
    a.time = UINT64_MAX;
    cr_assert_eq(poller_conv_ticks(SYBMSDATETIME2, (BYTE *)&a, sizeof a, &t), -EPROTO);
    a.date = -693595; /* 0001-01-01 */
    a.time = UINT64_C(863999999999);
    cr_assert_eq(poller_conv_ticks(SYBMSDATE, (BYTE *)&a, sizeof a, &t), 0);
}

Test(poller_convert, money_of_a_wrong_length_is_malformed)
{
    char slot[POLLER_CONV_SLOT], err[128];
    struct cache_value v;
    uint8_t b[2] = {1, 2};
    cr_assert_eq(poller_conv_value(SYBMONEYN, b, 2, slot, &v, err, sizeof err), -EPROTO);
    cr_assert_eq(poller_conv_value(SYBMONEY, b, 2, slot, &v, err, sizeof err), -EPROTO);
    cr_assert(strstr(err, "2 bytes"), "%s", err);
}

Test(poller_convert, a_step_of_the_column_type_lands_on_its_next_value)
{
    /* datetime: 1/300 s steps, exact 100 ns values, across midnight. */
    int64_t day = 18779 * POLLER_TICKS_PER_DAY; /* 2021-06-01 */
    cr_assert_eq(poller_conv_ticks_step(SYBDATETIME, day + 1900000, 1), day + 1933333);
    cr_assert_eq(poller_conv_ticks_step(SYBDATETIME, day + 1933333, 1), day + 1966667);
    cr_assert_eq(poller_conv_ticks_step(SYBDATETIME, day + 1900000, 3), day + 2000000);
    cr_assert_eq(poller_conv_ticks_step(SYBDATETIME, day - 33333, 1), day,
                 "23:59:59.997 -> midnight");
    cr_assert_eq(poller_conv_ticks_step(SYBDATETIME, day + 1900400, 0), day + 1900000,
                 "a value between ticks is taken as the column would store it");
    /* datetime2(7): 100 ns steps. */
    cr_assert_eq(poller_conv_ticks_step(SYBMSDATETIME2, day + 5, 2), day + 7);
}
