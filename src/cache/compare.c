/*
 * Typed comparison of two rendered JSON values of one field: what `where`
 * and `orderBy` need. Rows store values as JSON text, so comparing reads
 * the text: integers and floats as numbers, Decimals digit by digit,
 * DateTimes as their fixed-width ISO text, Strings by the shared collation
 * (collate.h) on the unescaped text.
 */
#include "cache/cache_int.h"

#include <stdlib.h>

#include "collate.h"

static unsigned hex4(const uint8_t *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static void utf8_put(struct buf *b, unsigned cp)
{
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xC0 | cp >> 6));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        buf_putc(b, (char)(0xE0 | cp >> 12));
        buf_putc(b, (char)(0x80 | (cp >> 6 & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        buf_putc(b, (char)(0xF0 | cp >> 18));
        buf_putc(b, (char)(0x80 | (cp >> 12 & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp >> 6 & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* Decodes one escape at body[*i] ('\\' already seen at *i - 1). */
static void unescape_one(const uint8_t *s, size_t n, size_t *i, struct buf *tmp)
{
    uint8_t c = s[(*i)++];
    static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        buf_putc(tmp, to[k - from]);
        return;
    }
    if (c != 'u' || *i + 4 > n) {
        buf_putc(tmp, (char)c); /* \" \\ \/ */
        return;
    }
    unsigned cp = hex4(s + *i);
    *i += 4;
    if (cp >= 0xD800 && cp < 0xDC00 && *i + 6 <= n && s[*i] == '\\' && s[*i + 1] == 'u') {
        unsigned lo = hex4(s + *i + 2);
        if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            *i += 6;
        }
    }
    utf8_put(tmp, cp);
}

struct slice cache_json_text(struct slice json, struct buf *tmp)
{
    if (json.len < 2 || json.p[0] != '"')
        return json;
    struct slice body = {json.p + 1, json.len - 2};
    if (!memchr(body.p, '\\', body.len))
        return body;
    size_t start = tmp->len;
    for (size_t i = 0; i < body.len;) {
        if (body.p[i] == '\\') {
            i++;
            unescape_one(body.p, body.len, &i, tmp);
        } else {
            buf_putc(tmp, (char)body.p[i++]);
        }
    }
    return (struct slice){buf_data(tmp) + start, tmp->len - start};
}

static double json_double(struct slice s)
{
    char t[64];
    size_t n = s.len < sizeof t - 1 ? s.len : sizeof t - 1;
    memcpy(t, s.p, n);
    t[n] = '\0';
    return strtod(t, NULL);
}

static int cmp_i(int64_t a, int64_t b) { return (a > b) - (a < b); }

int cache_value_cmp(const struct schema_field *f, struct slice a, struct slice b, struct buf *tmp)
{
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_BIGINT: {
        int64_t x = 0, y = 0;
        if (cache_json_int(a, &x) < 0 || cache_json_int(b, &y) < 0)
            break;
        return cmp_i(x, y);
    }
    case SCHEMA_FLOAT: {
        double x = json_double(a), y = json_double(b);
        return (x > y) - (x < y);
    }
    case SCHEMA_DECIMAL:
        if (a.len < 2 || b.len < 2)
            break;
        return cache_decimal_cmp((struct slice){a.p + 1, a.len - 2}, (struct slice){b.p + 1, b.len - 2});
    case SCHEMA_STRING: {
        size_t mark = tmp->len;
        buf_reserve(tmp, a.len + b.len); /* x must not move while y is decoded */
        struct slice x = cache_json_text(a, tmp), y = cache_json_text(b, tmp);
        int c = f->guid ? collate_guid_cmp(x.p, x.len, y.p, y.len) : collate_cmp(x.p, x.len, y.p, y.len);
        tmp->len = mark;
        return c;
    }
    case SCHEMA_BOOLEAN: /* false < true; "false" is longer than "true" */
        return cmp_i(a.len == 4, b.len == 4);
    case SCHEMA_DATETIME:
    case SCHEMA_BYTES:
        break;
    }
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? (c > 0) - (c < 0) : cmp_i((int64_t)a.len, (int64_t)b.len);
}
