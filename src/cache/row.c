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

void cache_row_members(const struct cache_row_view *v, const struct schema_model *m, struct buf *out)
{
    size_t len = v->body_len;
    for (size_t i = 0; i < v->n; i++)
        len += m->fields[i].key_len;
    buf_reserve(out, len);
    uint8_t *p = buf_data(out) + out->len;
    for (size_t i = 0; i < v->n; i++) {
        const struct schema_field *f = &m->fields[i];
        size_t c = i == 0; /* the first member has no comma before it */
        memcpy(p, f->key + c, f->key_len - c);
        p += f->key_len - c;
        struct slice s = cache_row_field(v, i);
        memcpy(p, s.p, s.len);
        p += s.len;
    }
    out->len = (size_t)(p - buf_data(out));
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
