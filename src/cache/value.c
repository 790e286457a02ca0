/*
 * One source value rendered as Prisma's JSON renders the field's type. The
 * row encoder and the `where` canonicaliser both come through here, so a
 * filter value and a stored value of the same datum are the same bytes.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

static const char *kind_name(enum cache_value_kind k)
{
    static const char *const names[] = {"null", "integer", "float",    "boolean",
                                        "text", "decimal", "datetime", "bytes"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "unknown";
}

static int mismatch(const struct schema_field *f, const struct cache_value *v, char *err, size_t errlen)
{
    snprintf(err, errlen, "field %s (%s): cannot store a %s value", f->name,
             schema_type_name(f->type), kind_name(v->kind));
    return -EINVAL;
}

void cache_base64_put(struct buf *out, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    buf_reserve(out, (n + 2) / 3 * 4 + 2);
    buf_putc(out, '"');
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = {tab[w >> 18], tab[w >> 12 & 63], tab[w >> 6 & 63], tab[w & 63]};
        buf_append(out, q, 4);
    }
    if (i < n) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        char q[4] = {tab[w >> 18], tab[w >> 12 & 63], i + 1 < n ? tab[w >> 6 & 63] : '=', '='};
        buf_append(out, q, 4);
    }
    buf_putc(out, '"');
}

static int int_render(const struct schema_field *f, const struct cache_value *v, struct buf *out,
                      char *err, size_t errlen)
{
    if (v->kind != CV_INT)
        return mismatch(f, v, err, errlen);
    if (f->type == SCHEMA_INT && (v->i < INT32_MIN || v->i > INT32_MAX)) {
        snprintf(err, errlen, "field %s (Int): %lld is out of the 32-bit range", f->name,
                 (long long)v->i);
        return -EINVAL;
    }
    json_put_i64(out, v->i);
    return 0;
}

static int bool_render(const struct schema_field *f, const struct cache_value *v, struct buf *out,
                       char *err, size_t errlen)
{
    if (v->kind == CV_BOOL)
        json_put_bool(out, v->b);
    else if (v->kind == CV_INT) /* bit columns often arrive as integers */
        json_put_bool(out, v->i != 0);
    else
        return mismatch(f, v, err, errlen);
    return 0;
}

static int decimal_render(const struct schema_field *f, const struct cache_value *v, struct buf *out,
                          char *err, size_t errlen)
{
    buf_putc(out, '"');
    if (v->kind == CV_INT) {
        json_put_i64(out, v->i);
    } else if (v->kind != CV_DECIMAL) {
        return mismatch(f, v, err, errlen);
    } else if (cache_decimal_normalise((const char *)v->s.p, v->s.len, out) < 0) {
        snprintf(err, errlen, "field %s (Decimal): \"%.*s\" is not a decimal number", f->name,
                 (int)(v->s.len > 60 ? 60 : v->s.len), (const char *)v->s.p);
        return -EINVAL;
    }
    buf_putc(out, '"');
    return 0;
}

/* money and friends may arrive as decimal text: read it as a double. */
static int float_from_text(const struct schema_field *f, struct slice s, double *d, char *err,
                           size_t errlen)
{
    char t[128];
    struct buf chk;
    buf_init(&chk, 0);
    int rc = s.len < sizeof t ? cache_decimal_normalise((const char *)s.p, s.len, &chk) : -EINVAL;
    buf_fini(&chk);
    if (rc < 0) {
        snprintf(err, errlen, "field %s (Float): \"%.*s\" is not a number", f->name,
                 (int)(s.len > 60 ? 60 : s.len), (const char *)s.p);
        return -EINVAL;
    }
    memcpy(t, s.p, s.len);
    t[s.len] = '\0';
    *d = strtod(t, NULL);
    return 0;
}

static int float_render(const struct schema_field *f, const struct cache_value *v, struct buf *out,
                        char *err, size_t errlen)
{
    double d;
    if (v->kind == CV_FLOAT)
        d = v->f;
    else if (v->kind == CV_INT)
        d = (double)v->i;
    else if (v->kind == CV_DECIMAL) {
        if (float_from_text(f, v->s, &d, err, errlen) < 0)
            return -EINVAL;
    } else
        return mismatch(f, v, err, errlen);
    json_put_double(out, d);
    return 0;
}

static int value_render(const struct schema_field *f, const struct cache_value *v, struct buf *out,
                        char *err, size_t errlen)
{
    if (v->kind == CV_NULL) {
        buf_append(out, "null", 4);
        return 0;
    }
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_BIGINT: return int_render(f, v, out, err, errlen);
    case SCHEMA_BOOLEAN: return bool_render(f, v, out, err, errlen);
    case SCHEMA_DECIMAL: return decimal_render(f, v, out, err, errlen);
    case SCHEMA_FLOAT: return float_render(f, v, out, err, errlen);
    case SCHEMA_STRING:
        if (v->kind != CV_TEXT)
            return mismatch(f, v, err, errlen);
        json_put_str(out, (const char *)v->s.p, v->s.len);
        return 0;
    case SCHEMA_DATETIME:
        if (v->kind != CV_DATETIME)
            return mismatch(f, v, err, errlen);
        json_put_datetime_ms(out, v->ms);
        return 0;
    case SCHEMA_BYTES:
        if (v->kind != CV_BYTES)
            return mismatch(f, v, err, errlen);
        cache_base64_put(out, v->s.p, v->s.len);
        return 0;
    }
    snprintf(err, errlen, "field %s: unknown type", f->name);
    return -EINVAL;
}

int cache_value_render(const struct schema_field *f, const struct cache_value *v, struct buf *out,
                       char *err, size_t errlen)
{
    size_t len = out->len;
    int rc = value_render(f, v, out, err, errlen);
    if (rc < 0)
        out->len = len; /* no half-written value */
    return rc;
}
