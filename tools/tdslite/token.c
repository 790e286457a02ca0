/*
 * Token stream writers (MS-TDS 2.2.7): everything a reply message contains.
 * Values are converted from SQLite's storage classes to the declared SQL
 * Server type of their column here, with SQL Server's error numbers when a
 * value does not fit.
 */
#include "tdslite.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, CI/AS flags, sort id 52 (code page 1252). */
const uint8_t tds_collation[5] = {0x09, 0x04, 0xD0, 0x00, 0x34};

enum {
    TOK_COLMETADATA = 0x81,
    TOK_RETURNSTATUS = 0x79,
    TOK_LOGINACK = 0xAD,
    TOK_ERROR = 0xAA,
    TOK_INFO = 0xAB,
    TOK_ENVCHANGE = 0xE3,
    TOK_ROW = 0xD1,
};

enum {
    WT_INTN = 0x26,
    WT_BITN = 0x68,
    WT_DECIMALN = 0x6A,
    WT_MONEYN = 0x6E,
    WT_FLTN = 0x6D,
    WT_DATETIMEN = 0x6F,
    WT_DATEN = 0x28,
    WT_DATETIME2N = 0x2A,
    WT_NVARCHAR = 0xE7,
    WT_BIGVARCHAR = 0xA7,
    WT_GUID = 0x24,
    WT_BIGVARBINARY = 0xA5,
};

void tds_error_set(struct tds_error *e, int32_t number, uint8_t class_, const char *fmt, ...)
{
    e->number = number;
    e->class_ = class_;
    e->state = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void tds_put_bvarchar(struct tds_conn *c, const char *s)
{
    size_t len = strlen(s);
    struct buf tmp;
    buf_init(&tmp, 0);
    size_t units = utf8_to_utf16(&tmp, s, len);
    if (units > 255)
        units = 255;
    tds_put_u8(c, (uint8_t)units);
    tds_put(c, buf_data(&tmp), units * 2);
    buf_fini(&tmp);
}

void tds_put_usvarchar(struct tds_conn *c, const char *s, size_t len)
{
    struct buf tmp;
    buf_init(&tmp, 0);
    size_t units = utf8_to_utf16(&tmp, s, len);
    if (units > 65535)
        units = 65535;
    tds_put_u16(c, (uint16_t)units);
    tds_put(c, buf_data(&tmp), units * 2);
    buf_fini(&tmp);
}

void tds_tok_done(struct tds_conn *c, uint8_t token, uint16_t status, uint16_t curcmd,
                  uint64_t rows)
{
    uint8_t b[13] = {token, (uint8_t)status, (uint8_t)(status >> 8), (uint8_t)curcmd,
                     (uint8_t)(curcmd >> 8)};
    for (int i = 0; i < 8; i++)
        b[5 + i] = (uint8_t)(rows >> (8 * i));
    tds_put(c, b, sizeof b);
}

void tds_tok_message(struct tds_conn *c, bool is_error, const struct tds_error *e,
                     const char *proc)
{
    size_t mlen = strlen(e->msg);
    size_t mu = utf8_utf16_units(e->msg, mlen);
    size_t su = utf8_utf16_units(TDS_SERVER_NAME, strlen(TDS_SERVER_NAME));
    size_t pu = proc ? utf8_utf16_units(proc, strlen(proc)) : 0;
    size_t len = 4 + 1 + 1 + 2 + mu * 2 + 1 + su * 2 + 1 + pu * 2 + 4;
    tds_put_u8(c, is_error ? TOK_ERROR : TOK_INFO);
    tds_put_u16(c, (uint16_t)len);
    tds_put_u32(c, (uint32_t)e->number);
    tds_put_u8(c, e->state);
    tds_put_u8(c, e->class_);
    tds_put_usvarchar(c, e->msg, mlen);
    tds_put_bvarchar(c, TDS_SERVER_NAME);
    tds_put_bvarchar(c, proc ? proc : "");
    tds_put_u32(c, 1); /* line number */
}

void tds_tok_envchange_str(struct tds_conn *c, uint8_t type, const char *newv, const char *oldv)
{
    size_t nu = utf8_utf16_units(newv, strlen(newv)), ou = utf8_utf16_units(oldv, strlen(oldv));
    tds_put_u8(c, TOK_ENVCHANGE);
    tds_put_u16(c, (uint16_t)(1 + 1 + nu * 2 + 1 + ou * 2));
    tds_put_u8(c, type);
    tds_put_bvarchar(c, newv);
    tds_put_bvarchar(c, oldv);
}

void tds_tok_envchange_collation(struct tds_conn *c)
{
    tds_put_u8(c, TOK_ENVCHANGE);
    tds_put_u16(c, 1 + 1 + 5 + 1);
    tds_put_u8(c, 7); /* SQL collation */
    tds_put_u8(c, 5);
    tds_put(c, tds_collation, 5);
    tds_put_u8(c, 0);
}

void tds_tok_loginack(struct tds_conn *c)
{
    static const char prog[] = "Microsoft SQL Server";
    size_t pu = sizeof prog - 1;
    tds_put_u8(c, TOK_LOGINACK);
    tds_put_u16(c, (uint16_t)(1 + 4 + 1 + pu * 2 + 4));
    tds_put_u8(c, 1); /* SQL_TSQL */
    /* TDS 7.4, sent most significant byte first (unlike LOGIN7's field). */
    static const uint8_t ver[4] = {0x74, 0x00, 0x00, 0x04};
    tds_put(c, ver, 4);
    tds_put_bvarchar(c, prog);
    static const uint8_t progver[4] = {16, 0, 0x10, 0x00}; /* reported as SQL Server 2022 (16.x) */
    tds_put(c, progver, 4);
}

void tds_tok_returnstatus(struct tds_conn *c, int32_t status)
{
    tds_put_u8(c, TOK_RETURNSTATUS);
    tds_put_u32(c, (uint32_t)status);
}

static uint8_t dec_wire_len(uint8_t precision)
{
    return precision <= 9 ? 5 : precision <= 19 ? 9 : precision <= 28 ? 13 : 17;
}

static uint8_t dt2_time_len(uint8_t scale) { return scale <= 2 ? 3 : scale <= 4 ? 4 : 5; }

static void put_type_info(struct tds_conn *c, const struct tds_type *t)
{
    switch (t->kind) {
    case TK_INT:
        tds_put_u8(c, WT_INTN);
        tds_put_u8(c, t->size);
        break;
    case TK_BIT:
        tds_put_u8(c, WT_BITN);
        tds_put_u8(c, 1);
        break;
    case TK_DECIMAL:
        tds_put_u8(c, WT_DECIMALN);
        tds_put_u8(c, dec_wire_len(t->precision));
        tds_put_u8(c, t->precision);
        tds_put_u8(c, t->scale);
        break;
    case TK_MONEY:
        tds_put_u8(c, WT_MONEYN);
        tds_put_u8(c, t->size);
        break;
    case TK_FLOAT:
        tds_put_u8(c, WT_FLTN);
        tds_put_u8(c, t->size);
        break;
    case TK_DATETIME:
        tds_put_u8(c, WT_DATETIMEN);
        tds_put_u8(c, t->size);
        break;
    case TK_DATE:
        tds_put_u8(c, WT_DATEN);
        break;
    case TK_DATETIME2:
        tds_put_u8(c, WT_DATETIME2N);
        tds_put_u8(c, t->scale);
        break;
    case TK_GUID:
        tds_put_u8(c, WT_GUID);
        tds_put_u8(c, 16);
        break;
    case TK_NVARCHAR:
    case TK_VARCHAR:
    case TK_VARBINARY: {
        uint8_t wt = t->kind == TK_NVARCHAR  ? WT_NVARCHAR
                     : t->kind == TK_VARCHAR ? WT_BIGVARCHAR
                                             : WT_BIGVARBINARY;
        tds_put_u8(c, wt);
        uint32_t bytes = t->length == TDS_LEN_MAX ? 0xFFFF
                         : t->kind == TK_NVARCHAR ? t->length * 2
                                                  : t->length;
        tds_put_u16(c, (uint16_t)bytes);
        if (t->kind != TK_VARBINARY)
            tds_put(c, tds_collation, 5);
        break;
    }
    }
}

void tds_tok_colmetadata(struct tds_conn *c, const struct tds_column *cols, size_t n)
{
    tds_put_u8(c, TOK_COLMETADATA);
    tds_put_u16(c, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        tds_put_u32(c, 0);                                 /* UserType */
        tds_put_u16(c, cols[i].nullable ? 0x0009 : 0x0008); /* fNullable, updatable */
        put_type_info(c, &cols[i].type);
        tds_put_bvarchar(c, cols[i].name);
    }
}

/* ---- values ----------------------------------------------------------------------------------
 * A row is encoded into a buffer first and sent whole: a value that does not
 * fit its type then yields an ERROR after the last complete row, never in the
 * middle of one. */

static void buf_putc_u8(struct buf *b, uint8_t v) { buf_append(b, &v, 1); }
static void wbuf_u16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_append(b, x, 2);
}
static void wbuf_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_append(b, x, 4);
}
static void wbuf_u64(struct buf *b, uint64_t v)
{
    wbuf_u32(b, (uint32_t)v);
    wbuf_u32(b, (uint32_t)(v >> 32));
}

static const char *kind_label(const struct tds_type *t) { return tds_type_name(t); }

/* Text of a cell for messages and parsing; points into scratch or the value. */
static const char *val_text(const struct tds_val *v, struct buf *scratch, size_t *len)
{
    buf_reset(scratch);
    switch (v->cls) {
    case TDS_VAL_INT:
        buf_printf(scratch, "%" PRId64, v->i);
        break;
    case TDS_VAL_REAL:
        buf_printf(scratch, "%.17g", v->d);
        break;
    case TDS_VAL_TEXT:
    case TDS_VAL_BLOB:
        *len = v->len;
        return (const char *)v->p;
    case TDS_VAL_NULL:
        break;
    }
    *len = scratch->len;
    return (const char *)buf_data(scratch);
}

static int conv_fail(const struct tds_type *t, const struct tds_val *v, struct buf *scratch,
                     struct tds_error *e)
{
    size_t len;
    const char *s = val_text(v, scratch, &len);
    tds_error_set(e, 245, 16, "Conversion failed when converting the value '%.*s' to data type %s.",
                  (int)(len > 100 ? 100 : len), s, kind_label(t));
    return -EINVAL;
}

static int val_int(const struct tds_type *t, const struct tds_val *v, struct buf *scratch,
                   int64_t *out, struct tds_error *e)
{
    switch (v->cls) {
    case TDS_VAL_INT:
        *out = v->i;
        return 0;
    case TDS_VAL_REAL:
        if (!(v->d >= -9.2233720368547758e18 && v->d < 9.2233720368547758e18))
            break;
        *out = (int64_t)v->d;
        return 0;
    case TDS_VAL_TEXT: {
        char tmp[32];
        if (v->len == 0 || v->len >= sizeof tmp)
            break;
        memcpy(tmp, v->p, v->len);
        tmp[v->len] = '\0';
        char *end;
        errno = 0;
        long long x = strtoll(tmp, &end, 10);
        if (errno || *end)
            break;
        *out = x;
        return 0;
    }
    default:
        break;
    }
    return conv_fail(t, v, scratch, e);
}

static int put_int(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                   struct buf *scratch, struct tds_error *e)
{
    int64_t x;
    if (val_int(t, v, scratch, &x, e) < 0)
        return -EINVAL;
    bool ok = t->size == 8 || (t->size == 4 && x >= INT32_MIN && x <= INT32_MAX) ||
              (t->size == 2 && x >= INT16_MIN && x <= INT16_MAX) ||
              (t->size == 1 && x >= 0 && x <= 255);
    if (!ok) {
        tds_error_set(e, 220, 16, "Arithmetic overflow error for data type %s, value = %" PRId64 ".",
                      kind_label(t), x);
        return -ERANGE;
    }
    uint8_t b[9] = {t->size};
    for (int i = 0; i < t->size; i++)
        b[1 + i] = (uint8_t)((uint64_t)x >> (8 * i));
    buf_append(c, b, 1u + t->size);
    return 0;
}

static int val_double(const struct tds_type *t, const struct tds_val *v, struct buf *scratch,
                      double *out, struct tds_error *e)
{
    if (v->cls == TDS_VAL_INT) {
        *out = (double)v->i;
        return 0;
    }
    if (v->cls == TDS_VAL_REAL) {
        *out = v->d;
        return 0;
    }
    if (v->cls == TDS_VAL_TEXT && v->len > 0 && v->len < 64) {
        char tmp[64], *end;
        memcpy(tmp, v->p, v->len);
        tmp[v->len] = '\0';
        *out = strtod(tmp, &end);
        if (*end == '\0')
            return 0;
    }
    return conv_fail(t, v, scratch, e);
}

static int val_dec(const struct tds_type *t, const struct tds_val *v, uint8_t scale,
                   struct buf *scratch, struct tds_dec *d, struct tds_error *e)
{
    char tmp[64];
    const char *s;
    size_t len;
    if (v->cls == TDS_VAL_REAL) {
        if (!isfinite(v->d))
            return conv_fail(t, v, scratch, e);
        /* printf rounds the binary double correctly at the column's scale:
         * 19.99 stored as 19.989999999999998 prints as 19.99. */
        buf_reset(scratch);
        buf_printf(scratch, "%.*f", scale, v->d);
        s = (const char *)buf_data(scratch);
        len = scratch->len;
    } else if (v->cls == TDS_VAL_INT) {
        len = (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, v->i);
        s = tmp;
    } else if (v->cls == TDS_VAL_TEXT) {
        s = (const char *)v->p;
        len = v->len;
    } else {
        return conv_fail(t, v, scratch, e);
    }
    int rc = tds_dec_parse(s, len, scale, d);
    if (rc == -EINVAL)
        return conv_fail(t, v, scratch, e);
    if (rc < 0) {
        tds_error_set(e, 8115, 16, "Arithmetic overflow error converting expression to data type %s.",
                      kind_label(t));
        return rc;
    }
    return 0;
}

static int put_decimal(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                       struct buf *scratch, struct tds_error *e)
{
    struct tds_dec d;
    if (val_dec(t, v, t->scale, scratch, &d, e) < 0)
        return -EINVAL;
    if (tds_dec_digits(d.mag) > t->precision) {
        tds_error_set(e, 8115, 16, "Arithmetic overflow error converting %s to data type numeric.",
                      kind_label(t));
        return -ERANGE;
    }
    uint8_t len = dec_wire_len(t->precision);
    uint8_t b[18] = {len, d.neg ? 0 : 1};
    for (int i = 0; i < len - 1; i++)
        b[2 + i] = (uint8_t)(d.mag >> (8 * i));
    buf_append(c, b, 1u + len);
    return 0;
}

static int put_money(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                     struct buf *scratch, struct tds_error *e)
{
    struct tds_dec d;
    if (val_dec(t, v, 4, scratch, &d, e) < 0)
        return -EINVAL;
    unsigned __int128 lim = t->size == 8 ? (unsigned __int128)INT64_MAX + d.neg
                                         : (unsigned __int128)INT32_MAX + d.neg;
    if (d.mag > lim) {
        tds_error_set(e, 8115, 16, "Arithmetic overflow error converting expression to data type %s.",
                      kind_label(t));
        return -ERANGE;
    }
    int64_t x = d.neg ? (int64_t)(0 - (uint64_t)d.mag) : (int64_t)d.mag;
    uint64_t u = (uint64_t)x;
    if (t->size == 8) {
        /* money: the high 32 bits first, each half little-endian */
        uint8_t b[9] = {8};
        for (int i = 0; i < 4; i++) {
            b[1 + i] = (uint8_t)(u >> (32 + 8 * i));
            b[5 + i] = (uint8_t)(u >> (8 * i));
        }
        buf_append(c, b, 9);
    } else {
        uint8_t b[5] = {4, (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        buf_append(c, b, 5);
    }
    return 0;
}

static int put_float(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                     struct buf *scratch, struct tds_error *e)
{
    double d = 0;
    if (val_double(t, v, scratch, &d, e) < 0)
        return -EINVAL;
    if (t->size == 4) {
        float f = (float)d;
        uint8_t b[5] = {4};
        memcpy(b + 1, &f, 4); /* x86-64 and every Debian target we build on are little-endian */
        buf_append(c, b, 5);
    } else {
        uint8_t b[9] = {8};
        memcpy(b + 1, &d, 8);
        buf_append(c, b, 9);
    }
    return 0;
}

static int val_when(const struct tds_type *t, const struct tds_val *v, struct buf *scratch,
                    struct tds_when *w, struct tds_error *e)
{
    if (v->cls == TDS_VAL_TEXT && tds_when_parse((const char *)v->p, v->len, w) == 0)
        return 0;
    size_t len;
    const char *s = val_text(v, scratch, &len);
    tds_error_set(e, 241, 16,
                  "Conversion failed when converting date and/or time from character string "
                  "('%.*s' to %s).",
                  (int)(len > 60 ? 60 : len), s, kind_label(t));
    return -EINVAL;
}

static void put_u24(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
}

static int put_datetime(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                        struct buf *scratch, struct tds_error *e)
{
    struct tds_when w;
    if (val_when(t, v, scratch, &w, e) < 0)
        return -EINVAL;
    int32_t days;
    uint32_t t300;
    if (tds_when_to_datetime(&w, &days, &t300) < 0) {
        tds_error_set(e, 242, 16,
                      "The conversion of a varchar data type to a datetime data type resulted in "
                      "an out-of-range value.");
        return -ERANGE;
    }
    if (t->size == 4) {
        uint32_t mins = (uint32_t)((w.ticks + 300000000ULL) / 600000000ULL);
        if (mins >= 1440) {
            mins -= 1440;
            days++;
        }
        if (days < 0 || days > 65535) {
            tds_error_set(e, 242, 16, "The conversion to smalldatetime resulted in an out-of-range value.");
            return -ERANGE;
        }
        uint8_t b[5] = {4, (uint8_t)days, (uint8_t)(days >> 8), (uint8_t)mins, (uint8_t)(mins >> 8)};
        buf_append(c, b, 5);
        return 0;
    }
    uint32_t d = (uint32_t)days;
    uint8_t b[9] = {8,           (uint8_t)d,          (uint8_t)(d >> 8),     (uint8_t)(d >> 16),
                    (uint8_t)(d >> 24), (uint8_t)t300, (uint8_t)(t300 >> 8), (uint8_t)(t300 >> 16),
                    (uint8_t)(t300 >> 24)};
    buf_append(c, b, 9);
    return 0;
}

static int put_datetime2(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                         struct buf *scratch, struct tds_error *e)
{
    struct tds_when w;
    if (val_when(t, v, scratch, &w, e) < 0)
        return -EINVAL;
    uint8_t b[9];
    if (t->kind == TK_DATE) {
        b[0] = 3;
        put_u24(b + 1, (uint32_t)w.days);
        buf_append(c, b, 4);
        return 0;
    }
    uint64_t div = 1;
    for (int i = t->scale; i < 7; i++)
        div *= 10;
    uint64_t units = (w.ticks + div / 2) / div;
    if (units * div >= 864000000000ULL) {
        units = 0;
        w.days++;
    }
    uint8_t tl = dt2_time_len(t->scale);
    b[0] = (uint8_t)(tl + 3);
    for (int i = 0; i < tl; i++)
        b[1 + i] = (uint8_t)(units >> (8 * i));
    put_u24(b + 1 + tl, (uint32_t)w.days);
    buf_append(c, b, 4u + tl);
    return 0;
}

static int put_guid(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                    struct buf *scratch, struct tds_error *e)
{
    uint8_t b[17] = {16};
    if (v->cls == TDS_VAL_BLOB && v->len == 16) {
        memcpy(b + 1, v->p, 16);
    } else if (v->cls != TDS_VAL_TEXT || tds_guid_parse((const char *)v->p, v->len, b + 1) < 0) {
        size_t len;
        const char *s = val_text(v, scratch, &len);
        tds_error_set(e, 8169, 16,
                      "Conversion failed when converting from a character string to %s ('%.*s').",
                      kind_label(t), (int)(len > 60 ? 60 : len), s);
        return -EINVAL;
    }
    buf_append(c, b, 17);
    return 0;
}

/* PLP: total length, then one chunk and the terminator (MS-TDS 2.2.5.2.3). */
static void put_plp(struct buf *c, const void *p, size_t n)
{
    wbuf_u64(c, n);
    if (n > 0) {
        wbuf_u32(c, (uint32_t)n);
        buf_append(c, p, n);
    }
    wbuf_u32(c, 0);
}

static int put_chars(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                     struct buf *scratch)
{
    size_t len;
    const char *s;
    char num[64];
    if (v->cls == TDS_VAL_TEXT || v->cls == TDS_VAL_BLOB) {
        s = (const char *)v->p;
        len = v->len;
    } else if (v->cls == TDS_VAL_INT) {
        len = (size_t)snprintf(num, sizeof num, "%" PRId64, v->i);
        s = num;
    } else {
        len = (size_t)snprintf(num, sizeof num, "%.17g", v->d);
        s = num;
    }
    buf_reset(scratch);
    if (t->kind == TK_VARBINARY)
        buf_append(scratch, s, len);
    else if (t->kind == TK_NVARCHAR)
        utf8_to_utf16(scratch, s, len);
    else
        utf8_to_cp1252(scratch, s, len);
    size_t n = scratch->len;
    if (t->length != TDS_LEN_MAX) {
        /* Declared lengths bound what a client allocates: never send more. */
        size_t lim = t->kind == TK_NVARCHAR ? (size_t)t->length * 2 : t->length;
        if (n > lim)
            n = lim;
        wbuf_u16(c, (uint16_t)n);
        buf_append(c, buf_data(scratch), n);
    } else {
        put_plp(c, buf_data(scratch), n);
    }
    return 0;
}

static void put_null(struct buf *c, const struct tds_type *t)
{
    if (tds_type_is_text(t) || t->kind == TK_VARBINARY) {
        if (t->length == TDS_LEN_MAX)
            wbuf_u64(c, UINT64_MAX);
        else
            wbuf_u16(c, 0xFFFF);
        return;
    }
    buf_putc_u8(c, 0);
}

int tds_val_put(struct buf *c, const struct tds_type *t, const struct tds_val *v,
                struct buf *scratch, struct tds_error *e)
{
    if (v->cls == TDS_VAL_NULL) {
        put_null(c, t);
        return 0;
    }
    switch (t->kind) {
    case TK_INT:
        return put_int(c, t, v, scratch, e);
    case TK_BIT: {
        int64_t x;
        if (val_int(t, v, scratch, &x, e) < 0)
            return -EINVAL;
        uint8_t b[2] = {1, x != 0};
        buf_append(c, b, 2);
        return 0;
    }
    case TK_DECIMAL:
        return put_decimal(c, t, v, scratch, e);
    case TK_MONEY:
        return put_money(c, t, v, scratch, e);
    case TK_FLOAT:
        return put_float(c, t, v, scratch, e);
    case TK_DATETIME:
        return put_datetime(c, t, v, scratch, e);
    case TK_DATETIME2:
    case TK_DATE:
        return put_datetime2(c, t, v, scratch, e);
    case TK_GUID:
        return put_guid(c, t, v, scratch, e);
    case TK_NVARCHAR:
    case TK_VARCHAR:
    case TK_VARBINARY:
        return put_chars(c, t, v, scratch);
    }
    return -EINVAL;
}
