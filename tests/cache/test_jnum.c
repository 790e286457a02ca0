#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cache/cache_int.h"
#include "json.h"

TestSuite(cache_jnum);

/* xorshift64*: reproducible values without libc's rand state. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

typedef void (*put_i64)(struct buf *, int64_t);
typedef void (*put_dbl)(struct buf *, double);

static void same_i64(put_i64 fast, put_i64 ref, int64_t v)
{
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    fast(&a, v);
    ref(&b, v);
    cr_assert(a.len == b.len && memcmp(buf_data(&a), buf_data(&b), a.len) == 0,
              "%lld: got %.*s want %.*s", (long long)v, (int)a.len, (char *)buf_data(&a),
              (int)b.len, (char *)buf_data(&b));
    buf_fini(&a);
    buf_fini(&b);
}

static void same_double(double v)
{
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    cache_jnum_double(&a, v);
    json_put_double(&b, v);
    cr_assert(a.len == b.len && memcmp(buf_data(&a), buf_data(&b), a.len) == 0,
              "%.17g: got %.*s want %.*s", v, (int)a.len, (char *)buf_data(&a), (int)b.len,
              (char *)buf_data(&b));
    buf_fini(&a);
    buf_fini(&b);
}

Test(cache_jnum, integers_match_json_put_i64)
{
    static const int64_t edge[] = {0, 1, -1, 9, 10, -10, 99, 100, INT32_MAX, INT32_MIN,
                                   INT64_MAX, INT64_MIN, INT64_MIN + 1, 1000000000000000000};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        same_i64(cache_jnum_i64, json_put_i64, edge[i]);
    uint64_t s = 42;
    for (int i = 0; i < 100000; i++)
        same_i64(cache_jnum_i64, json_put_i64, (int64_t)(rnd(&s) >> (rnd(&s) % 64)));
}

Test(cache_jnum, money_and_decimals_match_json_put_double)
{
    /* What money columns deliver: count / 10000 as a double. */
    uint64_t s = 7;
    for (int i = 0; i < 100000; i++) {
        int64_t units = (int64_t)(rnd(&s) >> (rnd(&s) % 64 + 1));
        same_double((double)units / 10000.0);
        same_double(-(double)(units % 100000000) / 100.0);
    }
    static const double edge[] = {0.1, 0.2, 0.3, 1.5, 12.34, 1e-6, 1.5e-6, 9.99e-7, 1e-7,
                                  123456789012345.0, 999999999999999.9, 1e15, 1e21, 1e22,
                                  0.000001234, 4503599627370497.0, 9007199254740993.0,
                                  2.2250738585072014e-308, 5e-324, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        same_double(edge[i]);
        same_double(-edge[i]);
    }
}

Test(cache_jnum, special_and_arbitrary_doubles_match_json_put_double)
{
    same_double(0.0);
    same_double(-0.0);
    same_double(NAN);
    same_double(INFINITY);
    same_double(-INFINITY);
    uint64_t s = 99;
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rnd(&s);
        double v;
        memcpy(&v, &bits, sizeof v);
        same_double(v);                                 /* any bit pattern */
        same_double((double)(rnd(&s) % 1000000) / 7.0); /* long fractions: the slow path */
    }
}

Test(cache_jnum, datetimes_match_json_put_datetime_ms)
{
    static const int64_t edge[] = {0, -1, 1, 86399999, 86400000, -86400000, 951782400000,
                                   253402300799999,  /* 9999-12-31T23:59:59.999 */
                                   253402300800000,  /* year 10000: expanded form */
                                   -62167219200000,  /* 0000-01-01 */
                                   -62167219200001,  /* year -1 */
                                   8640000000000000, -8640000000000000, 8640000000000001,
                                   -8640000000000001, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        same_i64(cache_jnum_datetime, json_put_datetime_ms, edge[i]);
    uint64_t s = 3;
    for (int i = 0; i < 100000; i++) {
        /* 1900..2100 densely, then the whole ECMAScript range. */
        int64_t near = (int64_t)(rnd(&s) % 6311433600000ull) - 2208988800000;
        same_i64(cache_jnum_datetime, json_put_datetime_ms, near);
        int64_t any = (int64_t)(rnd(&s) % 17280000000000001ull) - 8640000000000000;
        same_i64(cache_jnum_datetime, json_put_datetime_ms, any);
    }
}
