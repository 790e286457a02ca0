#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "civil.h"

static const char hex[] = "0123456789abcdef";

/* Scans one UTF-8 sequence at s (n > 0 bytes, s[0] >= 0x80) the way the
 * WHATWG decoder does (Node's Buffer#toString, TextDecoder): returns how many
 * bytes it covers and sets *ok. An invalid sequence covers its "maximal
 * subpart" (the longest prefix that could still have become valid, at least
 * one byte), which is replaced by a single U+FFFD: so the replacement
 * characters match what JavaScript would have produced from the same bytes. */
static size_t utf8_scan(const uint8_t *s, size_t n, bool *ok)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    *ok = false;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 1; /* 80..C1, F5..FF never start a sequence */
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi)
            return i; /* the maximal subpart ends before this byte */
        lo = 0x80, hi = 0xBF; /* only the second byte has special bounds */
    }
    *ok = true;
    return need + 1;
}

/* Whether the 8 bytes at s are all copied as they are (printable ASCII
 * other than '"' and '\\'), tested a word at a time: the values a source
 * row holds are mostly such text, and a byte loop over them was most of
 * encoding a row (the fetch thread's CPU in a warm-up). The tests are the
 * exact "some byte is zero / less than n" bit tricks, so a word passes
 * only when the byte loop would pass each of its bytes. */
static inline bool plain8(const uint8_t *s)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t w, q, bs;
    memcpy(&w, s, 8);
    q = w ^ (ones * '"');
    bs = w ^ (ones * '\\');
    uint64_t ctl = (w - ones * 0x20) & ~w;
    uint64_t quote = (q - ones) & ~q;
    uint64_t back = (bs - ones) & ~bs;
    return !((ctl | quote | back | w) & high);
}

void json_put_str(struct buf *b, const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str;
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    for (size_t i = 0; i < n;) {
        if (i + 8 <= n && plain8(s + i)) {
            i += 8;
            continue;
        }
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t len = 1;
        if (c >= 0x80) {
            bool ok;
            len = utf8_scan(s + i, n - i, &ok);
            if (ok) {
                i += len;
                continue;
            }
        }
        buf_append(b, s + run, i - run);
        switch (c) {
        case '"': buf_append(b, "\\\"", 2); break;
        case '\\': buf_append(b, "\\\\", 2); break;
        case '\b': buf_append(b, "\\b", 2); break;
        case '\f': buf_append(b, "\\f", 2); break;
        case '\n': buf_append(b, "\\n", 2); break;
        case '\r': buf_append(b, "\\r", 2); break;
        case '\t': buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(b, e, 6);
            } else {
                buf_append(b, "\xEF\xBF\xBD", 3); /* invalid UTF-8: U+FFFD */
            }
        }
        i += len;
        run = i;
    }
    buf_append(b, s + run, n - run);
    buf_putc(b, '"');
}

void json_put_cstr(struct buf *b, const char *s) { json_put_str(b, s, strlen(s)); }

/* Decimal digits of u, right-aligned ending at end; returns the start.
 * The number writers avoid printf: encoding a wide row spends most of its
 * time formatting numbers and dates. */
static char *digits_put(char *end, uint64_t u)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

/* Digits of u, by comparisons (a division per digit cost as much as
 * writing them). */
static size_t digits_count(uint64_t u)
{
    size_t n = 1;
    for (uint64_t p = 10; n < 20 && u >= p; p *= 10)
        n++;
    return n;
}

/* Written in place: a memcpy call per value cost more than the digits. */
void json_put_i64(struct buf *b, int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = digits_count(u) + (v < 0);
    buf_reserve(b, n);
    char *end = (char *)buf_data(b) + b->len + n;
    char *p = digits_put(end, u);
    if (v < 0)
        *--p = '-';
    b->len += n;
}

void json_put_u64(struct buf *b, uint64_t v)
{
    char t[24], *end = t + sizeof t;
    char *p = digits_put(end, v);
    buf_append(b, p, (size_t)(end - p));
}

void json_put_bool(struct buf *b, bool v)
{
    if (v)
        buf_append(b, "true", 4);
    else
        buf_append(b, "false", 5);
}

/* Shortest digits that read back as v: "d.ddde[+-]x" split into digits and
 * a decimal exponent, as ECMAScript's Number::toString specifies. */
static int shortest_digits(double v, char *digits, int *exp10)
{
    char t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*e", prec - 1, v);
        if (strtod(t, NULL) == v)
            break;
    }
    int nd = 0;
    char *p = t;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    *exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    return nd;
}

static const double pow10_d[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
static const uint64_t pow10_u[] = {1,      10,      100,      1000,     10000,
                                   100000, 1000000, 10000000, 100000000};

/*
 * The fast path for the values rows mostly hold (money, quantities): v
 * (positive) as n / 10^k with the fewest fraction digits k, when n has at
 * most 15 digits. Two different decimals of at most 15 significant digits
 * never round to the same double, so the one found is the shortest text
 * that reads back as v: exactly the digits Number::toString chooses. n /
 * 10^k with n < 2^53 and k <= 8 is one correctly rounded division, equal to
 * strtod() of the text. Fixed notation holds for 1e-6 <= v < 1e21, so this
 * range needs no exponent form. False: use shortest_digits().
 */
static bool double_fixed(struct buf *b, double v)
{
    if (!(v >= 1e-6 && v < 1e15))
        return false;
    for (unsigned k = 0; k < sizeof pow10_d / sizeof *pow10_d; k++) {
        double sc = v * pow10_d[k];
        if (sc >= 1e15)
            return false;
        uint64_t n = (uint64_t)(sc + 0.5);
        if ((double)n / pow10_d[k] != v)
            continue;
        char t[40], *end = t + sizeof t, *p = end;
        if (k) {
            uint64_t frac = n % pow10_u[k];
            for (unsigned i = 0; i < k; i++, frac /= 10)
                *--p = (char)('0' + frac % 10);
            *--p = '.';
        }
        p = digits_put(p, n / pow10_u[k]);
        buf_append(b, p, (size_t)(end - p));
        return true;
    }
    return false;
}

void json_put_double(struct buf *b, double v)
{
    if (!isfinite(v)) {
        buf_append(b, "null", 4);
        return;
    }
    if (v == 0) {
        buf_putc(b, '0'); /* JSON.stringify(-0) is "0" */
        return;
    }
    if (v < 0) {
        buf_putc(b, '-');
        v = -v;
    }
    if (double_fixed(b, v))
        return;
    char d[24];
    int e, k = shortest_digits(v, d, &e);
    int n = e + 1; /* position of the decimal point relative to the digits */
    if (k <= n && n <= 21) {
        buf_append(b, d, (size_t)k);
        for (int i = k; i < n; i++)
            buf_putc(b, '0');
    } else if (0 < n && n <= 21) {
        buf_append(b, d, (size_t)n);
        buf_putc(b, '.');
        buf_append(b, d + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        buf_append(b, "0.", 2);
        for (int i = n; i < 0; i++)
            buf_putc(b, '0');
        buf_append(b, d, (size_t)k);
    } else {
        buf_putc(b, d[0]);
        if (k > 1) {
            buf_putc(b, '.');
            buf_append(b, d + 1, (size_t)(k - 1));
        }
        buf_printf(b, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
}

static char *two_digits(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

void json_put_datetime_ms(struct buf *b, int64_t ms)
{
    /* ECMAScript dates span +-8.64e15 ms; outside it a Date is invalid and
     * JSON.stringify writes null. The bound also keeps the arithmetic below
     * far from overflow. */
    if (ms > 8640000000000000 || ms < -8640000000000000) {
        buf_append(b, "null", 4);
        return;
    }
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    /* Years outside 0..9999 use the expanded form: sign and six digits.
     * Written in place (at most 30 bytes), as json_put_i64. */
    buf_reserve(b, 32);
    char *t = (char *)buf_data(b) + b->len, *p = t;
    *p++ = '"';
    if (y >= 0 && y <= 9999) {
        p = two_digits(p, (unsigned)(y / 100));
        p = two_digits(p, (unsigned)(y % 100));
    } else {
        uint64_t ay = y < 0 ? 0 - (uint64_t)y : (uint64_t)y;
        *p++ = y < 0 ? '-' : '+';
        for (int i = 5; i >= 0; i--, ay /= 10)
            p[i] = (char)('0' + ay % 10);
        p += 6;
    }
    unsigned milli = (unsigned)(rem % 1000);
    *p++ = '-';
    p = two_digits(p, mo);
    *p++ = '-';
    p = two_digits(p, d);
    *p++ = 'T';
    p = two_digits(p, (unsigned)(rem / 3600000));
    *p++ = ':';
    p = two_digits(p, (unsigned)(rem / 60000 % 60));
    *p++ = ':';
    p = two_digits(p, (unsigned)(rem / 1000 % 60));
    *p++ = '.';
    *p++ = (char)('0' + milli / 100);
    p = two_digits(p, milli % 100);
    *p++ = 'Z';
    *p++ = '"';
    b->len += (size_t)(p - t);
}
