/*
 * Decimal text as Prisma prints a Decimal: decimal.js toString(), i.e. no
 * trailing zeros, no leading zeros, no '+', "-0" as "0", and exponent
 * notation when the decimal exponent is <= -7 or >= 21 (decimal.js
 * defaults toExpNeg = -7, toExpPos = 21): "0.00000001" -> "1e-8".
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct digits {
    const char *p;
    size_t n;
};

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Splits [-]int[.frac] into its digit runs; false for anything else. */
static bool decimal_split(const char *t, size_t len, bool *neg, struct digits *ip, struct digits *fp)
{
    size_t i = 0;
    *neg = len > 0 && t[0] == '-';
    i += *neg;
    ip->p = t + i;
    while (i < len && is_digit(t[i]))
        i++;
    ip->n = (size_t)(t + i - ip->p);
    fp->p = t + i;
    fp->n = 0;
    if (i < len && t[i] == '.') {
        fp->p = t + ++i;
        while (i < len && is_digit(t[i]))
            i++;
        fp->n = (size_t)(t + i - fp->p);
    }
    return i == len && ip->n + fp->n > 0;
}

/* The significant digits: a run from the integer part followed by a run
 * from the fraction (either may be empty), without leading/trailing zeros. */
struct significand {
    struct digits a, b;
    long exp; /* decimal exponent of the first significant digit */
};

static size_t sig_len(const struct significand *s) { return s->a.n + s->b.n; }
static char sig_at(const struct significand *s, size_t k)
{
    return k < s->a.n ? s->a.p[k] : s->b.p[k - s->a.n];
}

/* False for zero. */
static bool decimal_significand(struct digits ip, struct digits fp, struct significand *s)
{
    while (ip.n && ip.p[0] == '0')
        ip.p++, ip.n--;
    while (fp.n && fp.p[fp.n - 1] == '0')
        fp.n--;
    if (ip.n) {
        s->exp = (long)ip.n - 1;
        if (!fp.n)
            while (ip.n > 1 && ip.p[ip.n - 1] == '0')
                ip.n--;
        s->a = ip;
        s->b = fp;
        return true;
    }
    while (fp.n && fp.p[0] == '0')
        fp.p++, fp.n--, s->exp--;
    if (!fp.n)
        return false;
    s->exp = s->exp - 1;
    s->a = (struct digits){fp.p, 0};
    s->b = fp;
    return true;
}

static void digits_put(struct buf *out, const struct significand *s, size_t from, size_t to)
{
    for (size_t k = from; k < to; k++)
        buf_putc(out, sig_at(s, k));
}

static void zeros_put(struct buf *out, long n)
{
    for (long i = 0; i < n; i++)
        buf_putc(out, '0');
}

static void decimal_exp_put(struct buf *out, const struct significand *s)
{
    size_t nd = sig_len(s);
    digits_put(out, s, 0, 1);
    if (nd > 1) {
        buf_putc(out, '.');
        digits_put(out, s, 1, nd);
    }
    buf_printf(out, "e%s%ld", s->exp < 0 ? "" : "+", s->exp);
}

static void decimal_plain_put(struct buf *out, const struct significand *s)
{
    size_t nd = sig_len(s);
    if (s->exp < 0) {
        buf_append(out, "0.", 2);
        zeros_put(out, -s->exp - 1);
        digits_put(out, s, 0, nd);
    } else if ((long)nd > s->exp + 1) {
        digits_put(out, s, 0, (size_t)s->exp + 1);
        buf_putc(out, '.');
        digits_put(out, s, (size_t)s->exp + 1, nd);
    } else {
        digits_put(out, s, 0, nd);
        zeros_put(out, s->exp + 1 - (long)nd);
    }
}

int cache_decimal_normalise(const char *text, size_t len, struct buf *out)
{
    bool neg;
    struct digits ip, fp;
    struct significand s = {.exp = 0};
    if (!decimal_split(text, len, &neg, &ip, &fp))
        return -EINVAL;
    if (!decimal_significand(ip, fp, &s)) {
        buf_putc(out, '0'); /* "-0", "0.000": decimal.js prints "0" */
        return 0;
    }
    if (neg)
        buf_putc(out, '-');
    if (s.exp <= -7 || s.exp >= 21)
        decimal_exp_put(out, &s);
    else
        decimal_plain_put(out, &s);
    return 0;
}

int cache_decimal_round(const char *text, size_t len, unsigned scale, struct buf *out)
{
    bool neg;
    struct digits ip, fp;
    if (!decimal_split(text, len, &neg, &ip, &fp))
        return -EINVAL;
    if (fp.n <= scale) {
        buf_append(out, text, len);
        buf_putc(out, '\0');
        out->len--;
        return 0;
    }
    /* The kept digits (int and `scale` fraction digits) with a leading 0
     * for the carry, incremented when the first dropped digit is >= 5. */
    size_t start = out->len, n = 1 + ip.n + scale;
    buf_putc(out, '0');
    buf_append(out, ip.p, ip.n);
    buf_append(out, fp.p, scale);
    uint8_t *d = buf_data(out) + start;
    for (size_t k = n; fp.p[scale] >= '5' && k-- > 0;) {
        if (d[k] != '9') {
            d[k]++;
            break;
        }
        d[k] = '0';
    }
    /* [-]digits[.frac] from the kept digits */
    struct buf t;
    buf_init(&t, 0);
    if (neg)
        buf_putc(&t, '-');
    size_t lead = d[0] == '0' && n - scale > 1; /* the carry's digit, unused */
    buf_append(&t, d + lead, n - scale - lead);
    if (scale) {
        buf_putc(&t, '.');
        buf_append(&t, d + n - scale, scale);
    }
    out->len = start;
    buf_append(out, buf_data(&t), t.len);
    buf_putc(out, '\0');
    out->len--;
    buf_fini(&t);
    return 0;
}

/* A normalised decimal ("-12.5", "1e-7", "1.5e+21") as sign and significand. */
static bool decimal_parse(struct slice t, bool *neg, bool *zero, struct significand *s)
{
    const char *p = (const char *)t.p;
    size_t n = t.len, e = 0;
    while (e < n && p[e] != 'e' && p[e] != 'E')
        e++;
    long shift = 0;
    if (e < n) {
        char tmp[24];
        size_t el = n - e - 1;
        if (el == 0 || el >= sizeof tmp)
            return false;
        memcpy(tmp, p + e + 1, el);
        tmp[el] = '\0';
        char *end;
        shift = strtol(tmp, &end, 10);
        if (*end)
            return false;
    }
    struct digits ip, fp;
    if (!decimal_split(p, e, neg, &ip, &fp))
        return false;
    s->exp = 0;
    *zero = !decimal_significand(ip, fp, s);
    s->exp += shift;
    return true;
}

int cache_decimal_cmp(struct slice a, struct slice b)
{
    bool an, bn, az, bz;
    struct significand sa, sb;
    if (!decimal_parse(a, &an, &az, &sa) || !decimal_parse(b, &bn, &bz, &sb))
        return slice_eq(a, b) ? 0 : (a.len < b.len ? -1 : 1); /* never stored: keep a total order */
    int sign_a = az ? 0 : an ? -1 : 1, sign_b = bz ? 0 : bn ? -1 : 1;
    if (sign_a != sign_b || sign_a == 0)
        return (sign_a > sign_b) - (sign_a < sign_b);
    int mag = 0; /* |a| vs |b| */
    if (sa.exp != sb.exp) {
        mag = sa.exp < sb.exp ? -1 : 1;
    } else {
        size_t na = sig_len(&sa), nb = sig_len(&sb);
        for (size_t k = 0; k < na || k < nb; k++) {
            char x = k < na ? sig_at(&sa, k) : '0', y = k < nb ? sig_at(&sb, k) : '0';
            if (x != y) {
                mag = x < y ? -1 : 1;
                break;
            }
        }
    }
    return sign_a < 0 ? -mag : mag;
}
