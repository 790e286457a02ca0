#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char hex[] = "0123456789abcdef";

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        len = 2, min = 0x80;
    else if (c < 0xF0)
        len = 3, min = 0x800;
    else if (c < 0xF5)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    uint32_t cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void json_put_str(struct buf *b, const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str;
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t ulen = c >= 0x80 ? utf8_seq_len(s + i, n - i) : 0;
        if (ulen) {
            i += ulen;
            continue;
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
                buf_append(b, "\xEF\xBF\xBD", 3); /* invalid UTF-8 byte: U+FFFD */
            }
        }
        run = ++i;
    }
    buf_append(b, s + run, n - run);
    buf_putc(b, '"');
}

void json_put_cstr(struct buf *b, const char *s) { json_put_str(b, s, strlen(s)); }

void json_put_i64(struct buf *b, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%" PRId64, v);
    buf_append(b, t, (size_t)n);
}

void json_put_u64(struct buf *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%" PRIu64, v);
    buf_append(b, t, (size_t)n);
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

/* Days since 1970-01-01 to a civil date (proleptic Gregorian), after
 * Howard Hinnant's days_from_civil inverse; exact for negative days. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void json_put_datetime_ms(struct buf *b, int64_t ms)
{
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    buf_printf(b, "\"%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ\"", y, mo, d,
               (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60),
               (unsigned)(rem / 1000 % 60), (unsigned)(rem % 1000));
}
