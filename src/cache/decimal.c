/*
 * Decimal text as Prisma prints a Decimal: decimal.js toString(), i.e. no
 * trailing zeros, no leading zeros, no '+', "-0" as "0", and exponent
 * notation when the decimal exponent is <= -7 or >= 21 (decimal.js
 * defaults toExpNeg = -7, toExpPos = 21): "0.00000001" -> "1e-8".
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>

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
