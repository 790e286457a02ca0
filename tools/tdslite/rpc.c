/*
 * RPC requests (MS-TDS 2.2.6.6). tdslite knows one procedure, sp_executesql
 * (by name or as ProcID 10), with @stmt, @params and typed parameters that
 * are named (@P1) or positional (matched to the names declared in @params).
 * Every length read from the request is checked against the message.
 */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define PROC_SP_EXECUTESQL 10

void tds_params_fini(struct tds_params *ps)
{
    free(ps->p);
    buf_fini(&ps->arena);
    ps->p = NULL;
    ps->n = 0;
}

static struct tds_param *param_push(struct tds_params *ps)
{
    ps->p = xrealloc(ps->p, (ps->n + 1) * sizeof *ps->p);
    struct tds_param *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    return p;
}

static void param_text(struct tds_params *ps, struct tds_param *p, const char *s, size_t n)
{
    p->cls = TDS_VAL_TEXT;
    p->off = ps->arena.len;
    buf_append(&ps->arena, s, n);
    p->len = n;
    buf_putc(&ps->arena, '\0'); /* @stmt is handed on as a C string */
}

static int64_t le_signed(const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    if (n < 8 && (v >> (8 * n - 1) & 1))
        v |= ~0ULL << (8 * n); /* sign-extend */
    return (int64_t)v;
}

/* Decimals bind as a double when a double holds them exactly enough to
 * compare with stored numbers, else as exact text. */
static void param_dec(struct tds_params *ps, struct tds_param *p, const struct tds_dec *d,
                      uint8_t scale)
{
    char txt[48];
    tds_dec_format(d, scale, txt);
    if (tds_dec_digits(d->mag) <= 15) {
        p->cls = TDS_VAL_REAL;
        p->d = strtod(txt, NULL);
        if (scale == 0) {
            p->cls = TDS_VAL_INT;
            p->i = d->neg ? -(int64_t)d->mag : (int64_t)d->mag;
        }
        return;
    }
    param_text(ps, p, txt, strlen(txt));
}

static void param_when(struct tds_params *ps, struct tds_param *p, const struct tds_when *w,
                       bool date_only)
{
    char txt[28];
    tds_when_format(w, date_only, txt);
    param_text(ps, p, txt, strlen(txt));
}

/* What some T-SQL servers (Babelfish) make of a datetime parameter: its
 * 1/300 s value goes through a float to whole milliseconds and lands below
 * the exact value (.190 arrives as .189). Modelled as the largest whole
 * millisecond strictly below it, so every value arrives low: a keyset
 * cursor on a datetime column then meets the failure it must survive. */
static void when_lossy(struct tds_when *w)
{
    if (w->ticks == 0) {
        w->days--;
        w->ticks = 864000000000ULL;
    }
    w->ticks = (w->ticks - 1) / 10000 * 10000;
}

static uint32_t u24(const uint8_t *b) { return (uint32_t)(b[0] | b[1] << 8 | b[2] << 16); }

/* Reads a PLP value into tmp; *is_null set for the NULL PLP. */
static int plp_read(struct tds_rd *r, struct buf *tmp, bool *is_null)
{
    uint64_t total = tds_rd_u64(r);
    *is_null = total == UINT64_MAX;
    if (*is_null)
        return r->bad ? -EPROTO : 0;
    for (;;) {
        uint32_t n = tds_rd_u32(r);
        if (r->bad)
            return -EPROTO;
        if (n == 0)
            return 0;
        const uint8_t *p = tds_rd_take(r, n);
        if (!p)
            return -EPROTO;
        buf_append(tmp, p, n);
    }
}

enum {
    WT_NULL = 0x1F, WT_INT1 = 0x30, WT_BIT = 0x32, WT_INT2 = 0x34, WT_INT4 = 0x38,
    WT_INT8 = 0x7F, WT_FLT4 = 0x3B, WT_FLT8 = 0x3E, WT_MONEY = 0x3C, WT_MONEY4 = 0x7A,
    WT_DATETIM4 = 0x3A, WT_DATETIME = 0x3D, WT_GUID = 0x24, WT_INTN = 0x26, WT_BITN = 0x68,
    WT_DECIMALN = 0x6A, WT_NUMERICN = 0x6C, WT_FLTN = 0x6D, WT_MONEYN = 0x6E, WT_DATETIMN = 0x6F,
    WT_DATEN = 0x28, WT_TIMEN = 0x29, WT_DATETIME2N = 0x2A, WT_DTOFFSETN = 0x2B,
    WT_BIGVARBIN = 0xA5, WT_BIGVARCHR = 0xA7, WT_BIGBINARY = 0xAD, WT_BIGCHAR = 0xAF,
    WT_NVARCHAR = 0xE7, WT_NCHAR = 0xEF, WT_TEXT = 0x23, WT_IMAGE = 0x22, WT_NTEXT = 0x63,
};

/* Fixed-length types have no length byte: their size is implied. */
static int fixed_size(uint8_t wt)
{
    switch (wt) {
    case WT_NULL: return 0;
    case WT_INT1: case WT_BIT: return 1;
    case WT_INT2: return 2;
    case WT_INT4: case WT_FLT4: case WT_MONEY4: case WT_DATETIM4: return 4;
    case WT_INT8: case WT_FLT8: case WT_MONEY: case WT_DATETIME: return 8;
    default: return -1;
    }
}

/* Value of a number-like type (fixed or *N) of `len` bytes at b. */
static int number_value(struct tds_params *ps, struct tds_param *p, uint8_t wt, const uint8_t *b,
                        size_t len)
{
    switch (wt) {
    case WT_INT1: case WT_INT2: case WT_INT4: case WT_INT8: case WT_INTN: case WT_BIT:
    case WT_BITN:
        if (len != 1 && len != 2 && len != 4 && len != 8)
            return -EPROTO;
        p->cls = TDS_VAL_INT;
        p->i = len == 1 ? b[0] : le_signed(b, len);
        if (wt == WT_BIT || wt == WT_BITN) {
            p->i = p->i != 0;
            p->type = (struct tds_type){.kind = TK_BIT, .size = 1};
        } else {
            p->type = (struct tds_type){.kind = TK_INT, .size = (uint8_t)len};
        }
        return 0;
    case WT_FLT4: case WT_FLT8: case WT_FLTN:
        p->cls = TDS_VAL_REAL;
        if (len == 4) {
            float f;
            memcpy(&f, b, 4);
            p->d = f;
        } else if (len == 8) {
            memcpy(&p->d, b, 8);
        } else {
            return -EPROTO;
        }
        p->type = (struct tds_type){.kind = TK_FLOAT, .size = (uint8_t)len};
        return 0;
    case WT_MONEY: case WT_MONEY4: case WT_MONEYN: {
        int64_t v;
        if (len == 8)
            v = (int64_t)((uint64_t)(uint32_t)le_signed(b, 4) << 32 | (uint32_t)le_signed(b + 4, 4));
        else if (len == 4)
            v = le_signed(b, 4);
        else
            return -EPROTO;
        struct tds_dec d = {.neg = v < 0, .mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v};
        p->type = (struct tds_type){.kind = TK_MONEY, .size = (uint8_t)len};
        param_dec(ps, p, &d, 4);
        return 0;
    }
    case WT_DATETIME: case WT_DATETIM4: case WT_DATETIMN: {
        struct tds_when w;
        if (len == 8) {
            tds_when_from_datetime((int32_t)le_signed(b, 4), (uint32_t)le_signed(b + 4, 4), &w);
        } else if (len == 4) {
            w.days = (int32_t)(b[0] | b[1] << 8) + 693595;
            w.ticks = (uint64_t)(b[2] | b[3] << 8) * 600000000ULL;
        } else {
            return -EPROTO;
        }
        if (len == 8 && ps->lossy_datetime)
            when_lossy(&w);
        p->type = (struct tds_type){.kind = TK_DATETIME, .size = (uint8_t)len};
        param_when(ps, p, &w, false);
        return 0;
    }
    case WT_GUID: {
        if (len != 16)
            return -EPROTO;
        char txt[37];
        tds_guid_format(b, txt);
        p->type = (struct tds_type){.kind = TK_GUID, .size = 16};
        param_text(ps, p, txt, 36);
        return 0;
    }
    }
    return -EPROTO;
}

static int dt2_value(struct tds_params *ps, struct tds_param *p, uint8_t wt, uint8_t scale,
                     const uint8_t *b, size_t len)
{
    struct tds_when w = {0};
    size_t tl = scale <= 2 ? 3 : scale <= 4 ? 4 : 5;
    uint64_t mul = 1;
    for (int i = scale; i < 7; i++)
        mul *= 10;
    if (wt == WT_DATEN) {
        if (len != 3)
            return -EPROTO;
        w.days = (int32_t)u24(b);
        p->type = (struct tds_type){.kind = TK_DATE};
        param_when(ps, p, &w, true);
        return 0;
    }
    size_t want = tl + (wt == WT_TIMEN ? 0 : 3) + (wt == WT_DTOFFSETN ? 2 : 0);
    if (len != want || scale > 7)
        return -EPROTO;
    uint64_t units = 0;
    for (size_t i = 0; i < tl; i++)
        units |= (uint64_t)b[i] << (8 * i);
    w.ticks = units * mul;
    if (w.ticks >= 864000000000ULL)
        return -EPROTO;
    if (wt == WT_TIMEN) {
        char txt[28];
        tds_when_format(&w, false, txt);
        p->type = (struct tds_type){.kind = TK_NVARCHAR, .length = 16};
        param_text(ps, p, txt + 11, 16); /* HH:MM:SS.fffffff */
        return 0;
    }
    w.days = (int32_t)u24(b + tl);
    p->type = (struct tds_type){.kind = TK_DATETIME2, .scale = scale};
    param_when(ps, p, &w, false); /* datetimeoffset: kept as its UTC instant */
    return 0;
}

static int chars_value(struct tds_params *ps, struct tds_param *p, uint8_t wt, const uint8_t *b,
                       size_t len, uint32_t maxlen)
{
    struct buf u8;
    buf_init(&u8, 0);
    bool bin = wt == WT_BIGVARBIN || wt == WT_BIGBINARY || wt == WT_IMAGE;
    bool wide = wt == WT_NVARCHAR || wt == WT_NCHAR || wt == WT_NTEXT;
    if (wide && len % 2)
        return -EPROTO;
    if (bin) {
        p->cls = TDS_VAL_BLOB;
        p->off = ps->arena.len;
        buf_append(&ps->arena, b, len);
        p->len = len;
        p->type = (struct tds_type){.kind = TK_VARBINARY, .length = maxlen};
        return 0;
    }
    if (wide)
        utf16_to_utf8(&u8, b, len / 2);
    else
        cp1252_to_utf8(&u8, b, len);
    p->type = (struct tds_type){.kind = wide ? TK_NVARCHAR : TK_VARCHAR, .length = maxlen};
    param_text(ps, p, (const char *)buf_data(&u8) ? (const char *)buf_data(&u8) : "", u8.len);
    buf_fini(&u8);
    return 0;
}

static int unsupported_type(struct tds_error *e, uint8_t wt)
{
    tds_error_set(e, 8016, 16,
                  "The incoming tabular data stream (TDS) remote procedure call (RPC) protocol "
                  "stream is incorrect. tdslite does not accept parameters of wire type 0x%02X.",
                  wt);
    return -ENOTSUP;
}

/* TYPE_INFO and value of one parameter. */
static int param_value(struct tds_rd *r, struct tds_params *ps, struct tds_param *p,
                       struct tds_error *e)
{
    uint8_t wt = tds_rd_u8(r);
    int fs = fixed_size(wt);
    if (fs >= 0) {
        const uint8_t *b = tds_rd_take(r, (size_t)fs);
        if (!b)
            return -EPROTO;
        if (fs == 0) {
            p->cls = TDS_VAL_NULL;
            p->type = (struct tds_type){.kind = TK_INT, .size = 4};
            return 0;
        }
        return number_value(ps, p, wt, b, (size_t)fs);
    }
    switch (wt) {
    case WT_INTN: case WT_BITN: case WT_FLTN: case WT_MONEYN: case WT_DATETIMN: case WT_GUID: {
        uint8_t max = tds_rd_u8(r), len = tds_rd_u8(r);
        const uint8_t *b = tds_rd_take(r, len);
        if (!b || len > max)
            return -EPROTO;
        if (len == 0) {
            p->cls = TDS_VAL_NULL;
            uint8_t dummy[16] = {0};
            int rc = number_value(ps, p, wt, dummy, max); /* for the type only */
            p->cls = TDS_VAL_NULL;
            return rc;
        }
        return number_value(ps, p, wt, b, len);
    }
    case WT_DECIMALN: case WT_NUMERICN: {
        uint8_t max = tds_rd_u8(r), prec = tds_rd_u8(r), scale = tds_rd_u8(r), len = tds_rd_u8(r);
        const uint8_t *b = tds_rd_take(r, len);
        if (!b || len > max || len > 17 || prec < 1 || prec > 38 || scale > prec)
            return -EPROTO;
        p->type = (struct tds_type){.kind = TK_DECIMAL, .precision = prec, .scale = scale};
        if (len == 0) {
            p->cls = TDS_VAL_NULL;
            return 0;
        }
        struct tds_dec d = {.neg = b[0] == 0};
        for (int i = len - 2; i >= 0; i--)
            d.mag = d.mag << 8 | b[1 + i];
        param_dec(ps, p, &d, scale);
        return 0;
    }
    case WT_DATEN: case WT_TIMEN: case WT_DATETIME2N: case WT_DTOFFSETN: {
        uint8_t scale = wt == WT_DATEN ? 0 : tds_rd_u8(r), len = tds_rd_u8(r);
        const uint8_t *b = tds_rd_take(r, len);
        if (!b)
            return -EPROTO;
        if (len == 0) {
            p->cls = TDS_VAL_NULL;
            p->type = (struct tds_type){.kind = wt == WT_DATEN ? TK_DATE : TK_DATETIME2,
                                        .scale = scale};
            return 0;
        }
        return dt2_value(ps, p, wt, scale, b, len);
    }
    case WT_BIGVARCHR: case WT_BIGCHAR: case WT_NVARCHAR: case WT_NCHAR: case WT_BIGVARBIN:
    case WT_BIGBINARY: {
        uint16_t max = tds_rd_u16(r);
        if (wt != WT_BIGVARBIN && wt != WT_BIGBINARY && !tds_rd_take(r, 5))
            return -EPROTO; /* collation */
        bool wide = wt == WT_NVARCHAR || wt == WT_NCHAR;
        uint32_t maxlen = max == 0xFFFF ? TDS_LEN_MAX : wide ? max / 2u : max;
        if (max == 0xFFFF) {
            struct buf tmp;
            buf_init(&tmp, 0);
            bool is_null;
            int rc = plp_read(r, &tmp, &is_null);
            if (rc == 0 && is_null) {
                p->cls = TDS_VAL_NULL;
                p->type = (struct tds_type){.kind = wide ? TK_NVARCHAR : TK_VARCHAR,
                                            .length = TDS_LEN_MAX};
                if (wt == WT_BIGVARBIN)
                    p->type.kind = TK_VARBINARY;
            } else if (rc == 0) {
                rc = chars_value(ps, p, wt, buf_data(&tmp), tmp.len, maxlen);
            }
            buf_fini(&tmp);
            return rc;
        }
        uint16_t len = tds_rd_u16(r);
        if (r->bad)
            return -EPROTO;
        if (len == 0xFFFF) {
            p->cls = TDS_VAL_NULL;
            p->type = (struct tds_type){.kind = wide ? TK_NVARCHAR : TK_VARCHAR, .length = maxlen};
            return 0;
        }
        const uint8_t *b = tds_rd_take(r, len);
        return b ? chars_value(ps, p, wt, b, len, maxlen) : -EPROTO;
    }
    case WT_TEXT: case WT_NTEXT: case WT_IMAGE: {
        tds_rd_u32(r);
        if (wt != WT_IMAGE && !tds_rd_take(r, 5))
            return -EPROTO;
        uint32_t len = tds_rd_u32(r);
        if (r->bad)
            return -EPROTO;
        if (len == 0xFFFFFFFF) {
            p->cls = TDS_VAL_NULL;
            p->type = (struct tds_type){.kind = TK_NVARCHAR, .length = TDS_LEN_MAX};
            return 0;
        }
        const uint8_t *b = tds_rd_take(r, len);
        return b ? chars_value(ps, p, wt, b, len, TDS_LEN_MAX) : -EPROTO;
    }
    default:
        return r->bad ? -EPROTO : unsupported_type(e, wt);
    }
}

int rpc_params_decode(struct tds_rd *r, struct tds_params *ps, struct tds_error *e)
{
    while (r->off < r->len) {
        uint8_t b = r->p[r->off];
        if (b == 0xFF || b == 0x80 || b == 0xFE)
            return 0; /* batch separator: the next RPC follows */
        struct tds_param *p = param_push(ps);
        uint8_t nl = tds_rd_u8(r);
        const uint8_t *name = tds_rd_take(r, (size_t)nl * 2);
        tds_rd_u8(r); /* status flags: by-reference (OUTPUT) values are returned as NULL-less input */
        if (!name || r->bad)
            return -EPROTO;
        struct buf u8;
        buf_init(&u8, 0);
        utf16_to_utf8(&u8, name, nl);
        size_t k = 0;
        for (; k < u8.len && k < RW_NAME_MAX - 1; k++) {
            char c = (char)buf_data(&u8)[k];
            p->name[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        p->name[k] = '\0';
        buf_fini(&u8);
        int rc = param_value(r, ps, p, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- sp_executesql --------------------------------------------------------------------------- */

/* Names the positional value parameters after @params' declarations. */
static int params_name(struct tds_params *ps, size_t first, const char *decl, size_t dlen,
                       struct tds_error *e)
{
    char(*names)[RW_NAME_MAX] = NULL;
    size_t n = 0;
    if (decl && rw_params_decl(decl, dlen, &names, &n, e) < 0)
        return -EINVAL;
    size_t pos = 0;
    for (size_t i = first; i < ps->n; i++, pos++) {
        if (ps->p[i].name[0])
            continue;
        if (pos >= n) {
            free(names);
            tds_error_set(e, 8178, 16,
                          "The parameterized query expects fewer parameters than were supplied.");
            return -EINVAL;
        }
        snprintf(ps->p[i].name, RW_NAME_MAX, "%s", names[pos]);
    }
    free(names);
    return 0;
}

static int sp_executesql(struct tds_session *s, struct tds_params *ps)
{
    struct tds_error e;
    /* As SQL Server: the first two parameters are the statement and the
     * declarations by position, whatever their names (FreeTDS sends @stmt
     * and @params, tedious @statement and @params, some clients none). */
    const struct tds_param *stmt = ps->n > 0 ? &ps->p[0] : NULL;
    const struct tds_param *decl = ps->n > 1 ? &ps->p[1] : NULL;
    size_t first = ps->n < 2 ? ps->n : 2;
    if (!stmt || stmt->cls != TDS_VAL_TEXT) {
        tds_error_set(&e, 214, 16, "Procedure expects parameter '@statement' of type "
                                   "'ntext/nchar/nvarchar'.");
        exec_error(s, &e, true);
        return 1;
    }
    const char *dtext = decl && decl->cls == TDS_VAL_TEXT
                            ? (const char *)buf_data(&ps->arena) + decl->off
                            : NULL;
    if (params_name(ps, first, dtext, decl ? decl->len : 0, &e) < 0) {
        exec_error(s, &e, true);
        return 1;
    }
    /* @stmt lives in the arena, which exec_batch does not touch. */
    return exec_batch(s, (const char *)buf_data(&ps->arena) + stmt->off, stmt->len, ps, true);
}

/* One RPC request at r: name or id, flags, parameters; its reply tokens. */
static int rpc_one(struct tds_session *s, struct tds_rd *r)
{
    char proc[RW_NAME_MAX] = "";
    uint16_t nl = tds_rd_u16(r);
    uint16_t id = 0;
    if (nl == 0xFFFF) {
        id = tds_rd_u16(r);
    } else {
        const uint8_t *name = tds_rd_take(r, (size_t)nl * 2);
        if (!name)
            return -EPROTO;
        struct buf u8;
        buf_init(&u8, 0);
        utf16_to_utf8(&u8, name, nl);
        snprintf(proc, sizeof proc, "%.*s", (int)u8.len, (const char *)buf_data(&u8));
        buf_fini(&u8);
    }
    tds_rd_u16(r); /* option flags */
    if (r->bad)
        return -EPROTO;
    struct tds_params ps = {.lossy_datetime = s->srv->lossy_datetime_params};
    buf_init(&ps.arena, 0);
    struct tds_error e;
    int rc = rpc_params_decode(r, &ps, &e);
    if (rc == -EPROTO) {
        tds_params_fini(&ps);
        return rc;
    }
    const char *bare = proc;
    if (strncasecmp(bare, "sys.", 4) == 0 || strncasecmp(bare, "dbo.", 4) == 0)
        bare += 4;
    if (rc < 0) {
        exec_error(s, &e, true);
        rc = 1;
    } else if (id == PROC_SP_EXECUTESQL || strcasecmp(bare, "sp_executesql") == 0) {
        rc = sp_executesql(s, &ps);
    } else {
        if (id)
            snprintf(proc, sizeof proc, "procedure id %u", id);
        tds_error_set(&e, 2812, 16, "Could not find stored procedure '%s'.", proc);
        exec_error(s, &e, true);
        rc = 1;
    }
    tds_params_fini(&ps);
    if (rc < 0)
        return rc; /* cancelled or gone */
    exec_done_flush(s, true);
    tds_tok_returnstatus(&s->conn, rc == 0 ? 0 : 1);
    s->done_pending = true;
    s->done_token = TDS_TOK_DONEPROC;
    s->done_status = rc == 0 ? TDS_DONE_FINAL : TDS_DONE_ERROR;
    s->done_rows = 0;
    return 0;
}

int rpc_handle(struct tds_session *s)
{
    struct tds_rd r = {.p = buf_data(&s->conn.msg), .len = s->conn.msg.len};
    /* ALL_HEADERS (TDS 7.2+): skipped, but its length must make sense. */
    uint32_t hl = tds_rd_u32(&r);
    if (r.bad || hl < 4 || hl > r.len)
        return -EPROTO;
    r.off = hl;
    tds_out_begin(&s->conn, TDS_PKT_REPLY);
    int rc = 0;
    while (rc == 0 && r.off < r.len) {
        rc = rpc_one(s, &r);
        if (rc == 0 && r.off < r.len)
            r.off++; /* batch separator */
    }
    if (rc == -EPROTO)
        return rc;
    if (rc == -ECANCELED || s->conn.attention) {
        s->done_pending = false;
        tds_tok_done(&s->conn, TDS_TOK_DONE, TDS_DONE_ATTN, 0, 0);
        s->conn.attention = false;
    } else {
        if (!s->done_pending)
            tds_tok_done(&s->conn, TDS_TOK_DONEPROC, TDS_DONE_FINAL, 0, 0);
        exec_done_flush(s, false);
    }
    return tds_out_end(&s->conn);
}
