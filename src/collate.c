/*
 * The shared string collation (rule in collate.h). No allocation and no
 * locale: the same bytes compare the same everywhere, in the server, in
 * tools and in tdslite's SQLite.
 */
#include "collate.h"

uint32_t collate_fold(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return c | 1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return c & 1u ? c + 1 : c;
    if (c == 0x178)
        return 0xFF;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
        return c + 32;
    if (c >= 0x410 && c <= 0x42F)
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    return c;
}

/* Length of a valid sequence starting with lead byte b, 0 if b cannot lead. */
static size_t seq_len(uint8_t b)
{
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

uint32_t collate_next(const uint8_t *s, size_t n, size_t *i)
{
    uint8_t b = s[*i];
    size_t len = b < 0x80 ? 1 : seq_len(b);
    if (len <= 1 || *i + len > n) {
        (*i)++;
        return b;
    }
    uint32_t cp = b & (0x7Fu >> len);
    for (size_t k = 1; k < len; k++) {
        uint8_t c = s[*i + k];
        if ((c & 0xC0) != 0x80) {
            (*i)++;
            return b;
        }
        cp = cp << 6 | (c & 0x3Fu);
    }
    *i += len;
    return cp;
}

static size_t trim_spaces(const uint8_t *s, size_t n)
{
    while (n && s[n - 1] == ' ')
        n--;
    return n;
}

int collate_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    alen = trim_spaces(a, alen);
    blen = trim_spaces(b, blen);
    size_t i = 0, j = 0;
    while (i < alen && j < blen) {
        uint32_t x = collate_fold(collate_next(a, alen, &i));
        uint32_t y = collate_fold(collate_next(b, blen, &j));
        if (x != y)
            return x < y ? -1 : 1;
    }
    return (i < alen) - (j < blen);
}

/* Whether needle matches hay from byte offset at, up to needle's end. */
static bool match_at(const uint8_t *hay, size_t hlen, size_t at, const uint8_t *needle, size_t nlen)
{
    size_t j = 0;
    while (j < nlen) {
        if (at >= hlen)
            return false;
        if (collate_fold(collate_next(hay, hlen, &at)) != collate_fold(collate_next(needle, nlen, &j)))
            return false;
    }
    return true;
}

static size_t count_cps(const uint8_t *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; k++)
        collate_next(s, n, &i);
    return k;
}

bool collate_match(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen,
                   enum collate_match how)
{
    if (how == COLLATE_STARTS)
        return match_at(hay, hlen, 0, needle, nlen);
    if (how == COLLATE_ENDS) {
        size_t h = count_cps(hay, hlen), k = count_cps(needle, nlen), at = 0;
        if (k > h)
            return false;
        for (size_t skip = h - k; skip; skip--)
            collate_next(hay, hlen, &at);
        return match_at(hay, hlen, at, needle, nlen);
    }
    for (size_t at = 0;;) {
        if (match_at(hay, hlen, at, needle, nlen))
            return true;
        if (at >= hlen)
            return false;
        collate_next(hay, hlen, &at);
    }
}

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The 16 bytes of a GUID's text, in text order; false unless it is one. */
static bool guid_bytes(const uint8_t *s, size_t n, uint8_t out[16])
{
    if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return false;
    for (size_t i = 0, k = 0; k < 16; k++) {
        if (s[i] == '-')
            i++;
        int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[k] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return true;
}

int collate_guid_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    /* text positions, most significant first (stored bytes 10-15, 8-9, 6-7, 4-5, 0-3) */
    static const uint8_t order[16] = {10, 11, 12, 13, 14, 15, 8, 9, 7, 6, 5, 4, 3, 2, 1, 0};
    uint8_t x[16], y[16];
    if (!guid_bytes(a, alen, x) || !guid_bytes(b, blen, y))
        return collate_cmp(a, alen, b, blen);
    for (size_t k = 0; k < 16; k++)
        if (x[order[k]] != y[order[k]])
            return x[order[k]] < y[order[k]] ? -1 : 1;
    return 0;
}
