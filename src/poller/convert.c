/*
 * db-lib wire values -> struct cache_value.
 *
 * Dates are converted by hand from db-lib's structs rather than through
 * dbdatecrack(): the arithmetic is exact, needs no DBPROCESS and rounds
 * datetime's 1/300 s ticks to milliseconds the way the node tedious driver
 * (under the original Prisma service) does, so both render the same text.
 * Decimals are printed as text with their scale; the cache normalises the digits.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int64_t poller_conv_datetime_ms(int32_t days, int32_t ticks300)
{
    /* tedious: Math.round(ticks * 10 / 3). ticks*10 mod 3 is never 1.5, so
     * rounding half up is (ticks*10 + 1) / 3 in integers. */
    int64_t ms = ((int64_t)ticks300 * 10 + 1) / 3;
    return ((int64_t)days - POLLER_DAYS_1900_TO_1970) * 86400000LL + ms;
}

static int64_t datetime_ticks(int32_t days, int32_t ticks300)
{
    /* 1/300 s = 33333.33 ticks of 100 ns: rounded, and exact on the way back. */
    int64_t t = ((int64_t)ticks300 * 100000 + 1) / 3;
    return ((int64_t)days - POLLER_DAYS_1900_TO_1970) * POLLER_TICKS_PER_DAY + t;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void poller_conv_ticks_to_datetime(int64_t ticks, DBDATETIME *out)
{
    int64_t days = floor_div(ticks, POLLER_TICKS_PER_DAY);
    int64_t rem = ticks - days * POLLER_TICKS_PER_DAY;
    int64_t t300 = (rem * 3 + 50000) / 100000;
    if (t300 >= 300LL * 86400) {
        days++;
        t300 -= 300LL * 86400;
    }
    out->dtdays = (DBINT)(days + POLLER_DAYS_1900_TO_1970);
    out->dttime = (DBINT)t300;
}

int64_t poller_conv_ticks_step(int type, int64_t ticks, int64_t n)
{
    if (type != SYBDATETIME)
        return ticks + n;
    DBDATETIME dt;
    poller_conv_ticks_to_datetime(ticks, &dt);
    int64_t t300 = dt.dttime + n, per_day = 300LL * 86400;
    int64_t days = dt.dtdays + floor_div(t300, per_day);
    return datetime_ticks((int32_t)days, (int32_t)(t300 - floor_div(t300, per_day) * per_day));
}

void poller_conv_ticks_to_datetime2(int64_t ticks, DBDATETIMEALL *out)
{
    int64_t days = floor_div(ticks, POLLER_TICKS_PER_DAY);
    memset(out, 0, sizeof *out);
    out->time = (DBUBIGINT)(ticks - days * POLLER_TICKS_PER_DAY);
    out->date = (DBINT)(days + POLLER_DAYS_1900_TO_1970);
    out->time_prec = 7;
    out->has_time = 1;
    out->has_date = 1;
}

void poller_conv_uuid_text(const uint8_t b[16], char out[37])
{
    /* The first three groups are little-endian on the wire, printed
     * byte-swapped. Lower case: Prisma's SQL Server adapter lower-cases what
     * tedious prints (@prisma/adapter-mssql mapRow), so the original
     * service answers lower case whatever the server sends. */
    static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        uint8_t v = b[order[i]];
        *o++ = hex[v >> 4];
        *o++ = hex[v & 15];
    }
    *o = '\0';
}

static int64_t rd_i64(const BYTE *p, int n)
{
    switch (n) {
    case 1: return p[0]; /* tinyint is unsigned */
    case 2: { int16_t v; memcpy(&v, p, 2); return v; }
    case 4: { int32_t v; memcpy(&v, p, 4); return v; }
    default: { int64_t v; memcpy(&v, p, 8); return v; }
    }
}

/* The dates SQL Server can hold, in db-lib's days since 1900-01-01:
 * datetime from 1753-01-01, date/datetime2/datetimeoffset from 0001-01-01,
 * all up to 9999-12-31. Anything else is a malformed value, and refusing
 * it keeps the tick arithmetic below far from overflow. */
#define DAYS_MIN_DATETIME (-53690)
#define DAYS_MIN_DATE (-693595)
#define DAYS_MAX 2958463

static bool datetime_ok(const DBDATETIME *d)
{
    return d->dtdays >= DAYS_MIN_DATETIME && d->dtdays <= DAYS_MAX && d->dttime >= 0 &&
           d->dttime < 300 * 86400;
}

static int date_value(int type, const BYTE *data, int len, int64_t *ticks)
{
    switch (type) {
    case SYBDATETIME: {
        DBDATETIME d;
        if (len < (int)sizeof d)
            return -EPROTO;
        memcpy(&d, data, sizeof d);
        if (!datetime_ok(&d))
            return -EPROTO;
        *ticks = datetime_ticks(d.dtdays, d.dttime);
        return 0;
    }
    case SYBDATETIME4: {
        DBDATETIME4 d;
        if (len < (int)sizeof d)
            return -EPROTO;
        memcpy(&d, data, sizeof d);
        if (d.minutes >= 24 * 60)
            return -EPROTO;
        *ticks = ((int64_t)d.days - POLLER_DAYS_1900_TO_1970) * POLLER_TICKS_PER_DAY +
                 (int64_t)d.minutes * 60 * CACHE_TICKS_PER_S;
        return 0;
    }
    case SYBDATETIMN:
        if (len == 4)
            return date_value(SYBDATETIME4, data, len, ticks);
        return date_value(SYBDATETIME, data, len, ticks);
    case SYBMSDATE:
    case SYBMSDATETIME2:
    case SYBMSDATETIMEOFFSET: {
        DBDATETIMEALL d;
        if (len < (int)sizeof d)
            return -EPROTO;
        memcpy(&d, data, sizeof d);
        if (d.date < DAYS_MIN_DATE || d.date > DAYS_MAX || d.time >= (DBUBIGINT)POLLER_TICKS_PER_DAY)
            return -EPROTO;
        /* time counts 100 ns units; for datetimeoffset date/time are UTC already. */
        *ticks =
            ((int64_t)d.date - POLLER_DAYS_1900_TO_1970) * POLLER_TICKS_PER_DAY + (int64_t)d.time;
        return 0;
    }
    default:
        return -EPROTO;
    }
}

int poller_conv_ticks(int type, const BYTE *data, int len, int64_t *ticks)
{
    if (!data)
        return -EPROTO;
    return date_value(type, data, len, ticks);
}

/* Bytes of a TDS numeric (sign byte included) by precision, as on the wire. */
static const uint8_t numeric_bytes[39] = {1,  2,  2,  3,  3,  4,  4,  4,  5,  5,  6,  6,  6,
                                          7,  7,  8,  8,  9,  9,  9,  10, 10, 11, 11, 11, 12,
                                          12, 13, 13, 14, 14, 14, 15, 15, 16, 16, 16, 17, 17};

/* DBNUMERIC -> "-123.4500": db-lib keeps array[0] as the sign (1: negative)
 * and the magnitude big-endian after it. Done by hand because dbconvert()
 * needs a DBPROCESS for numerics; 38 digits fit in 128 bits. */
int poller_conv_decimal_text(const DBNUMERIC *n, char out[POLLER_CONV_SLOT])
{
    if (n->precision < 1 || n->precision > 38 || n->scale > n->precision)
        return -EPROTO;
    unsigned __int128 v = 0;
    for (int i = 1; i < numeric_bytes[n->precision]; i++)
        v = v << 8 | n->array[i];
    char digits[48];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (nd <= n->scale)
        digits[nd++] = '0';
    int o = 0;
    if (n->array[0] == 1)
        out[o++] = '-';
    for (int i = nd - 1; i >= 0; i--) {
        out[o++] = digits[i];
        if (i == n->scale && i > 0)
            out[o++] = '.';
    }
    out[o] = '\0';
    return o;
}

static int decimal_text(const BYTE *data, int len, char slot[POLLER_CONV_SLOT],
                        struct cache_value *out)
{
    DBNUMERIC n;
    memset(&n, 0, sizeof n);
    memcpy(&n, data, (size_t)len < sizeof n ? (size_t)len : sizeof n);
    int o = poller_conv_decimal_text(&n, slot);
    if (o < 0)
        return o;
    out->kind = CV_DECIMAL;
    out->s = (struct slice){(const uint8_t *)slot, (size_t)o};
    return 0;
}

static int money_value(int type, const BYTE *data, int len, struct cache_value *out)
{
    int64_t v;
    if (len != 4 && len != 8)
        return -EPROTO;
    if (type == SYBMONEY4 || len == 4) {
        int32_t m4;
        memcpy(&m4, data, 4);
        v = m4;
    } else {
        DBMONEY m;
        memcpy(&m, data, sizeof m);
        v = (int64_t)((uint64_t)(uint32_t)m.mnyhigh << 32 | m.mnylow);
    }
    /* tedious divides the 64-bit count of 1/10000 units by 10000 as a double. */
    out->kind = CV_FLOAT;
    out->f = (double)v / 10000.0;
    return 0;
}

static int float_value(const BYTE *data, int len, struct cache_value *out)
{
    out->kind = CV_FLOAT;
    if (len == 4) {
        float f;
        memcpy(&f, data, 4);
        out->f = f;
    } else if (len == 8) {
        memcpy(&out->f, data, 8);
    } else {
        return -EPROTO;
    }
    return 0;
}

static int int_value(const BYTE *data, int len, struct cache_value *out)
{
    if (len != 1 && len != 2 && len != 4 && len != 8)
        return -EPROTO;
    out->kind = CV_INT;
    out->i = rd_i64(data, len);
    return 0;
}

int poller_conv_value(int type, const BYTE *data, int len, char slot[POLLER_CONV_SLOT],
                      struct cache_value *out, char *err, size_t errlen)
{
    int rc = 0;
    if (!data) {
        out->kind = CV_NULL;
        return 0;
    }
    switch (type) {
    case SYBINT1: case SYBINT2: case SYBINT4: case SYBINT8: case SYBINTN:
        rc = int_value(data, len, out);
        break;
    case SYBBIT: case SYBBITN:
        out->kind = CV_BOOL;
        out->b = len > 0 && data[0] != 0;
        break;
    case SYBDECIMAL: case SYBNUMERIC:
        rc = decimal_text(data, len, slot, out);
        break;
    case SYBMONEY: case SYBMONEY4: case SYBMONEYN:
        rc = money_value(type, data, len, out);
        break;
    case SYBREAL: case SYBFLT8: case SYBFLTN:
        rc = float_value(data, len, out);
        break;
    case SYBDATETIME: case SYBDATETIME4: case SYBDATETIMN:
    case SYBMSDATE: case SYBMSDATETIME2: case SYBMSDATETIMEOFFSET: {
        out->kind = CV_DATETIME;
        if ((type == SYBDATETIME || type == SYBDATETIMN) && len == (int)sizeof(DBDATETIME)) {
            DBDATETIME d;
            memcpy(&d, data, sizeof d);
            if (!datetime_ok(&d)) {
                rc = -EPROTO;
                break;
            }
            out->ms = poller_conv_datetime_ms(d.dtdays, d.dttime);
            break;
        }
        int64_t t = 0;
        rc = date_value(type, data, len, &t);
        /* Below a millisecond JavaScript's Date truncates; floor keeps pre-1970 right. */
        out->ms = floor_div(t, POLLER_TICKS_PER_MS);
        break;
    }
    case SYBCHAR: case SYBVARCHAR: case SYBTEXT: case SYBNTEXT: case SYBNVARCHAR:
    case POLLER_TYPE_XVARCHAR:
    case POLLER_TYPE_XCHAR:
    case POLLER_TYPE_XNVARCHAR:
    case POLLER_TYPE_XNCHAR:
        out->kind = CV_TEXT;
        out->s = (struct slice){data, (size_t)len};
        break;
    case SYBBINARY:
    case SYBVARBINARY:
    case SYBIMAGE:
    case POLLER_TYPE_XVARBINARY:
    case POLLER_TYPE_XBINARY:
        out->kind = CV_BYTES;
        out->s = (struct slice){data, (size_t)len};
        break;
    case POLLER_TYPE_UNIQUE:
        if (len != 16) {
            rc = -EPROTO;
            break;
        }
        poller_conv_uuid_text(data, slot);
        out->kind = CV_TEXT;
        out->s = (struct slice){(const uint8_t *)slot, 36};
        break;
    default:
        snprintf(err, errlen, "unsupported SQL wire type %d", type);
        return -EPROTO;
    }
    if (rc < 0)
        snprintf(err, errlen, "malformed value of SQL wire type %d (%d bytes)", type, len);
    return rc;
}
