/*
 * Integers, doubles and dates rendered for stored rows without printf.
 * json.c's writers go through snprintf (and, for doubles, up to seventeen
 * snprintf/strtod round trips); encoding a wide row spent most of its time
 * there. These produce the same bytes as json_put_i64, json_put_double and
 * json_put_datetime_ms (tests/cache/test_jnum.c compares them value by
 * value) and hand anything outside their fast path to json.c.
 */
#include "cache/cache_int.h"

#include <math.h>

#include "json.h"

static const double pow10_d[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
static const uint64_t pow10_u[] = {1,      10,      100,      1000,     10000,
                                   100000, 1000000, 10000000, 100000000};

/* Decimal digits of u, right-aligned ending at end; returns the start. */
static char *digits_put(char *end, uint64_t u)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

void cache_jnum_i64(struct buf *out, int64_t v)
{
    char t[24], *end = t + sizeof t;
    char *p = digits_put(end, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    if (v < 0)
        *--p = '-';
    buf_append(out, p, (size_t)(end - p));
}

/*
 * v (positive) as n / 10^k with the fewest fraction digits k, when n has at
 * most 15 digits. Two different decimals of at most 15 significant digits
 * never round to the same double, so the one found is the shortest text
 * that reads back as v: exactly the digits ECMAScript's Number::toString
 * (and json_put_double) choose. n / 10^k with n < 2^53 and k <= 8 is one
 * correctly rounded division, equal to strtod() of the text. Fixed notation
 * holds for 1e-6 <= v < 1e21, so the range below needs no exponent form.
 */
static bool double_fixed(struct buf *out, double v)
{
    if (!(v >= 1e-6 && v < 1e15))
        return false;
    for (unsigned k = 0; k < sizeof pow10_d / sizeof *pow10_d; k++) {
        double s = v * pow10_d[k];
        if (s >= 1e15)
            return false;
        uint64_t n = (uint64_t)(s + 0.5);
        if ((double)n / pow10_d[k] != v)
            continue;
        char t[40], *end = t + sizeof t;
        char *p = end;
        if (k) {
            uint64_t frac = n % pow10_u[k];
            for (unsigned i = 0; i < k; i++, frac /= 10)
                *--p = (char)('0' + frac % 10);
            *--p = '.';
        }
        p = digits_put(p, n / pow10_u[k]);
        buf_append(out, p, (size_t)(end - p));
        return true;
    }
    return false;
}

void cache_jnum_double(struct buf *out, double v)
{
    if (!isfinite(v) || v == 0) {
        json_put_double(out, v); /* null, and 0 for -0 */
        return;
    }
    if (v < 0) {
        buf_putc(out, '-');
        v = -v;
    }
    if (!double_fixed(out, v))
        json_put_double(out, v);
}

/* Proleptic Gregorian date of a day count from 1970-01-01 (H. Hinnant's
 * civil_from_days, the algorithm ECMAScript dates follow). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static char *two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

void cache_jnum_datetime(struct buf *out, int64_t ms)
{
    /* Beyond ECMAScript's range json.c writes null; keep the arithmetic there. */
    if (ms > 8640000000000000 || ms < -8640000000000000) {
        json_put_datetime_ms(out, ms);
        return;
    }
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000, y;
    unsigned mo, d;
    civil(days, &y, &mo, &d);
    if (y < 0 || y > 9999) { /* the expanded-year form */
        json_put_datetime_ms(out, ms);
        return;
    }
    char t[26], *p = t;
    *p++ = '"';
    p = two(p, (unsigned)(y / 100));
    p = two(p, (unsigned)(y % 100));
    *p++ = '-';
    p = two(p, mo);
    *p++ = '-';
    p = two(p, d);
    *p++ = 'T';
    p = two(p, (unsigned)(rem / 3600000));
    *p++ = ':';
    p = two(p, (unsigned)(rem / 60000 % 60));
    *p++ = ':';
    p = two(p, (unsigned)(rem / 1000 % 60));
    *p++ = '.';
    unsigned milli = (unsigned)(rem % 1000);
    *p++ = (char)('0' + milli / 100);
    p = two(p, milli % 100);
    *p++ = 'Z';
    *p++ = '"';
    buf_append(out, t, (size_t)(p - t));
}
