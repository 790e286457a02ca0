/*
 * The stored row (layout in cache_int.h): pre-rendered JSON members and an
 * offset table, so a full record is one copy and a select a few slices.
 * Rows are read in place from LMDB, possibly unaligned: every header
 * integer goes through get_be*.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <xxhash.h>


/* `"name":` is the name plus three bytes: Prisma identifiers need no escaping. */
static size_t key_len(const struct schema_field *f) { return strlen(f->name) + 3; }

/* `"name":` written in place. Field names come from schema_parse(), which
 * accepts only identifiers ([A-Za-z_][A-Za-z0-9_]*): they never need
 * escaping, so the bytes are what json_put_str would write, without its
 * per-byte scan on every row. */
static void key_put(const struct schema_field *f, struct buf *out)
{
    size_t n = key_len(f) - 3;
    buf_reserve(out, n + 3);
    uint8_t *p = buf_data(out) + out->len;
    p[0] = '"';
    memcpy(p + 1, f->name, n);
    p[n + 1] = '"';
    p[n + 2] = ':';
    out->len += n + 3;
}

static int member_put(const struct schema_field *f, const struct cache_value *v, struct buf *out,
                      char *err, size_t errlen)
{
    key_put(f, out);
    return cache_value_render(f, v, out, err, errlen);
}

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

static int body_put(const struct schema_model *m, const struct cache_value *vals, struct buf *out,
                    size_t hdr, char *err, size_t errlen)
{
    size_t body = hdr + CACHE_ROW_HDR + 4 * (m->n_fields + 1);
    for (size_t i = 0; i < m->n_fields; i++) {
        if (i)
            buf_putc(out, ',');
        put_be32(buf_data(out) + hdr + CACHE_ROW_HDR + 4 * i, (uint32_t)(out->len - body));
        int rc = member_put(&m->fields[i], &vals[i], out, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (out->len - body >= UINT32_MAX) {
        snprintf(err, errlen, "model %s: row larger than 4 GiB", m->name);
        return -EINVAL;
    }
    put_be32(buf_data(out) + hdr + CACHE_ROW_HDR + 4 * m->n_fields, (uint32_t)(out->len - body + 1));
    return 0;
}

int cache_row_encode(const struct schema_model *m, const struct cache_value *vals, struct buf *out,
                     char *err, size_t errlen)
{
    size_t hdr = out->len;
    int rc = pk_check(m, vals, err, errlen);
    if (rc < 0)
        return rc;
    if (m->n_fields > UINT16_MAX)
        return -EINVAL;
    size_t head = CACHE_ROW_HDR + 4 * (m->n_fields + 1);
    buf_reserve(out, head);
    memset(buf_data(out) + hdr, 0, head);
    out->len += head;
    if ((rc = body_put(m, vals, out, hdr, err, errlen)) < 0) {
        out->len = hdr;
        return rc;
    }
    uint8_t *h = buf_data(out) + hdr;
    h[0] = CACHE_ROW_VERSION;
    h[2] = (uint8_t)(m->n_fields >> 8);
    h[3] = (uint8_t)m->n_fields;
    put_be64(h + CACHE_ROW_PK, (uint64_t)vals[m->pk->index].i);
    put_be64(h + CACHE_ROW_HASH, XXH3_64bits(h + head, out->len - hdr - head));
    return 0;
}

int cache_row_view(struct slice row, const struct schema_model *m, struct cache_row_view *v)
{
    if (row.len < CACHE_ROW_HDR || row.p[0] != CACHE_ROW_VERSION)
        return -EPROTO;
    v->n = (size_t)row.p[2] << 8 | row.p[3];
    size_t head = CACHE_ROW_HDR + 4 * (v->n + 1);
    if (v->n != m->n_fields || row.len < head)
        return -EPROTO;
    v->pk = get_be64(row.p + CACHE_ROW_PK);
    v->hash = get_be64(row.p + CACHE_ROW_HASH);
    v->off = row.p + CACHE_ROW_HDR;
    v->body = row.p + head;
    v->body_len = row.len - head;
    if (get_be32(v->off + 4 * v->n) != v->body_len + 1)
        return -EPROTO;
    return 0;
}

struct slice cache_row_member_value(const struct cache_row_view *v, const struct schema_field *f)
{
    struct slice s = cache_row_member(v, f->index);
    size_t k = key_len(f);
    if (s.len <= k)
        return (struct slice){s.p, 0};
    return (struct slice){s.p + k, s.len - k};
}

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
    *json_value = cache_row_member_value(&v, f);
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
