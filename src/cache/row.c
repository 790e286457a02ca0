/*
 * The stored row (layout in cache_int.h): the fields' rendered JSON values
 * and an offset table, so an answer copies each value as it is stored and
 * writes the key before it from the schema.
 * Rows are read in place from LMDB, possibly unaligned: every header
 * integer goes through get_be*.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <xxhash.h>


static int pk_check(const struct schema_model *m, const struct cache_value *vals, char *err,
                    size_t errlen)
{
    const struct cache_value *v = &vals[m->pk->index];
    if (v->kind == CV_INT)
        return 0;
    snprintf(err, errlen, "model %s: the key %s must be an integer, not %s", m->name, m->pk->name,
             v->kind == CV_NULL ? "null" : "another type");
    return -EINVAL;
}

/* The values after a wide (u32) offset table at `tab`: how long the body
 * is comes out only at the end. */
static int values_put(const struct schema_model *m, const struct cache_value *vals, struct buf *out,
                      size_t tab, char *err, size_t errlen)
{
    size_t body = tab + 4 * (m->n_fields + 1);
    for (size_t i = 0; i < m->n_fields; i++) {
        put_be32(buf_data(out) + tab + 4 * i, (uint32_t)(out->len - body));
        int rc = cache_value_render(&m->fields[i], &vals[i], out, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (out->len - body > UINT32_MAX) {
        snprintf(err, errlen, "model %s: row larger than 4 GiB", m->name);
        return -EINVAL;
    }
    put_be32(buf_data(out) + tab + 4 * m->n_fields, (uint32_t)(out->len - body));
    return 0;
}

/* A body under 64 KiB (every row but a huge one) gets u16 offsets: the
 * table is rewritten narrow in place (entry i is read before anything
 * writes over it) and the body moves down. False: the row stays wide. */
static bool offsets_narrow(struct buf *out, size_t tab, size_t n)
{
    uint8_t *t = buf_data(out) + tab;
    size_t len = get_be32(t + 4 * n);
    if (len > UINT16_MAX)
        return false;
    for (size_t i = 0; i <= n; i++)
        put_be16(t + 2 * i, (uint16_t)get_be32(t + 4 * i));
    memmove(t + 2 * (n + 1), t + 4 * (n + 1), len);
    out->len -= 2 * (n + 1);
    return true;
}

int cache_row_encode(const struct schema_model *m, const struct cache_value *vals, struct buf *out,
                     char *err, size_t errlen)
{
    size_t start = out->len;
    int rc = pk_check(m, vals, err, errlen);
    if (rc < 0)
        return rc;
    if (m->n_fields > UINT16_MAX)
        return -EINVAL;
    size_t head = CACHE_ROW_HDR + 4 * (m->n_fields + 1);
    buf_reserve(out, head);
    memset(buf_data(out) + start, 0, head);
    out->len += head;
    if ((rc = values_put(m, vals, out, start + CACHE_ROW_HDR, err, errlen)) < 0) {
        out->len = start;
        return rc;
    }
    bool narrow = offsets_narrow(out, start + CACHE_ROW_HDR, m->n_fields);
    uint8_t *h = buf_data(out) + start;
    h[0] = CACHE_ROW_VERSION;
    h[1] = narrow ? 0 : CACHE_ROW_WIDE;
    h[2] = (uint8_t)(m->n_fields >> 8);
    h[3] = (uint8_t)m->n_fields;
    put_be64(h + CACHE_ROW_PK, (uint64_t)vals[m->pk->index].i);
    put_be64(h + CACHE_ROW_HASH, XXH3_64bits(h + CACHE_ROW_HDR, out->len - start - CACHE_ROW_HDR));
    return 0;
}

int cache_row_view(struct slice row, const struct schema_model *m, struct cache_row_view *v)
{
    if (row.len < CACHE_ROW_HDR || row.p[0] != CACHE_ROW_VERSION || (row.p[1] & ~CACHE_ROW_WIDE))
        return -EPROTO;
    v->n = (size_t)row.p[2] << 8 | row.p[3];
    v->wide = row.p[1] & CACHE_ROW_WIDE;
    size_t head = CACHE_ROW_HDR + (v->wide ? 4 : 2) * (v->n + 1);
    if (v->n != m->n_fields || row.len < head)
        return -EPROTO;
    v->pk = get_be64(row.p + CACHE_ROW_PK);
    v->hash = get_be64(row.p + CACHE_ROW_HASH);
    v->off = row.p + CACHE_ROW_HDR;
    v->body = row.p + head;
    v->body_len = row.len - head;
    size_t end = v->wide ? get_be32(v->off + 4 * v->n) : get_be16(v->off + 2 * v->n);
    return end == v->body_len ? 0 : -EPROTO;
}

/*
 * Members are written as short copies of variable length, two per field
 * (the key, the value). A memcpy call each made a full record of 20 fields
 * cost 3.5x the old single copy of the stored members (bench_cache_render,
 * 5000 rows, all cached). Instead a key is one MOVE-byte move and a value
 * a loop of 16-byte moves, which read and write past the copy's end: the
 * output is reserved with MOVE bytes to spare, a key has SCHEMA_KEY_PAD
 * bytes after it, and a value is copied so only when the row's body goes
 * on for MOVE - 1 bytes past it (else by memcpy: the last values of a
 * row). A full record's loop also reads each offset once and tests once
 * per field (members_narrow): 1.6x the old copy, the same server CPU per
 * ack (its rows are a third of the leaves).
 */
#define MOVE 32u
_Static_assert(SCHEMA_KEY_PAD >= MOVE, "a key is read MOVE bytes at a time");

static inline uint8_t *key_put(uint8_t *p, const char *key, size_t n)
{
    memcpy(p, key, MOVE);
    for (size_t k = MOVE; k < n; k += MOVE)
        memcpy(p + k, key + k, MOVE);
    return p + n;
}

/* n bytes (at most MOVE - 1 before the source's end) in 16-byte moves. */
static inline uint8_t *moves16(uint8_t *p, const uint8_t *s, size_t n)
{
    uint8_t *e = p + n;
    do {
        memcpy(p, s, 16);
        p += 16, s += 16;
    } while (p < e);
    return e;
}

/* A row's layout in locals: stores through the output pointer may alias
 * anything in memory, so fields read from the view would be read again
 * after every copy. */
struct layout {
    const uint8_t *off, *body;
    size_t len;
    bool wide;
};

static inline struct layout layout_of(const struct cache_row_view *v)
{
    return (struct layout){v->off, v->body, v->body_len, v->wide};
}

static inline size_t off_at(struct layout l, size_t i)
{
    return l.wide ? get_be32(l.off + 4 * i) : get_be16(l.off + 2 * i);
}

/* `"key":value` (c = 1: the key without its comma). A damaged offset
 * writes the key alone rather than read past the body. */
static inline uint8_t *member_put(uint8_t *p, const struct schema_field *f, size_t c, struct layout l)
{
    p = key_put(p, f->key + c, f->key_len - c);
    size_t a = off_at(l, f->index), b = off_at(l, f->index + 1u);
    if (a >= b || b > l.len)
        return p;
    if (b + MOVE - 1 <= l.len)
        return moves16(p, l.body + a, b - a);
    memcpy(p, l.body + a, b - a);
    return p + (b - a);
}

/* buf_reserve's own check, inline: it runs once per rendered row. */
static inline uint8_t *room(struct buf *out, size_t n)
{
    if (!out->mem || out->cap - out->len < n)
        buf_reserve(out, n);
    return buf_data(out) + out->len;
}

/* Every member of a narrow row. The first member (no comma), a long key,
 * the values near the body's end and damaged offsets take member_put;
 * the rest a loop with one test. */
static uint8_t *members_narrow(uint8_t *p, const struct schema_field *f, size_t n, struct layout l)
{
    if (!n)
        return p;
    p = member_put(p, &f[0], 1, l);
    size_t i = 1, a = get_be16(l.off + 2);
    for (; i < n; i++) {
        size_t b = get_be16(l.off + 2 * (i + 1));
        if (b <= a || b + MOVE - 1 > l.len || f[i].key_len > MOVE)
            break;
        memcpy(p, f[i].key, MOVE);
        p = moves16(p + f[i].key_len, l.body + a, b - a);
        a = b;
    }
    for (; i < n; i++)
        p = member_put(p, &f[i], 0, l);
    return p;
}

void cache_row_members(const struct cache_row_view *v, const struct schema_model *m, struct buf *out)
{
    const struct schema_field *f = m->fields;
    size_t n = v->n, len = v->body_len + MOVE;
    for (size_t i = 0; i < n; i++)
        len += f[i].key_len;
    uint8_t *p = room(out, len), *start = p;
    struct layout l = layout_of(v);
    if (!l.wide)
        p = members_narrow(p, f, n, l);
    else
        for (size_t i = 0; i < n; i++)
            p = member_put(p, &f[i], i == 0, l);
    out->len += (size_t)(p - start);
}

void cache_row_select(const struct cache_row_view *v, const struct schema_field *const *fields,
                      size_t n, struct buf *out)
{
    size_t len = v->body_len + MOVE; /* the values are at most the body */
    for (size_t i = 0; i < n; i++)
        len += fields[i]->key_len;
    uint8_t *p = room(out, len), *start = p;
    struct layout l = layout_of(v);
    for (size_t i = 0; i < n; i++)
        p = member_put(p, fields[i], i == 0, l);
    out->len += (size_t)(p - start);
}

size_t cache_row_head_bytes(const struct schema_model *m) { return CACHE_ROW_HDR + 2 * (m->n_fields + 1); }

int cache_json_int(struct slice json, int64_t *out)
{
    if (json.len == 4 && memcmp(json.p, "null", 4) == 0)
        return -ENOENT;
    size_t i = json.len && json.p[0] == '-';
    if (i == json.len || json.len - i > 19)
        return -EPROTO;
    uint64_t u = 0;
    for (; i < json.len; i++) {
        if (json.p[i] < '0' || json.p[i] > '9')
            return -EPROTO;
        u = u * 10 + (uint64_t)(json.p[i] - '0');
    }
    bool neg = json.p[0] == '-';
    if (u > (uint64_t)INT64_MAX + neg)
        return -EPROTO;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

int cache_row_value(struct slice row, const struct schema_model *m, const struct schema_field *f,
                    struct slice *json_value)
{
    struct cache_row_view v;
    int rc = cache_row_view(row, m, &v);
    if (rc < 0)
        return rc;
    if (f->index >= v.n || &m->fields[f->index] != f)
        return -EINVAL;
    *json_value = cache_row_field(&v, f->index);
    return json_value->len ? 0 : -EPROTO;
}

uint64_t cache_row_pk(struct slice row) { return row.len >= CACHE_ROW_HDR ? get_be64(row.p + CACHE_ROW_PK) : 0; }

int cache_row_int(struct slice row, const struct schema_model *m, const struct schema_field *f,
                  int64_t *out)
{
    struct slice val;
    int rc = cache_row_value(row, m, f, &val);
    if (rc < 0)
        return rc;
    return cache_json_int(val, out);
}
