/*
 * SQL Server types: declared-type parsing and the value conversions the wire
 * needs (UTF-16, Windows-1252, dates, exact decimals, GUID byte order).
 * Pure functions: no sockets, no SQLite.
 */
#include "tdslite.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- UTF-8 / UTF-16 / Windows-1252 ---------------------------------------------------------- */

/* Decodes one code point; invalid or truncated sequences yield U+FFFD and consume one byte. */
static uint32_t utf8_next(const uint8_t *s, size_t len, size_t *i)
{
    uint8_t b = s[*i];
    if (b < 0x80) {
        (*i)++;
        return b;
    }
    size_t n = b >= 0xF0 && b < 0xF5 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
    if (n == 0 || *i + n > len) {
        (*i)++;
        return 0xFFFD;
    }
    uint32_t cp = b & (0x7F >> n);
    for (size_t k = 1; k < n; k++) {
        uint8_t c = s[*i + k];
        if ((c & 0xC0) != 0x80) {
            (*i)++;
            return 0xFFFD;
        }
        cp = cp << 6 | (c & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        (*i)++;
        return 0xFFFD;
    }
    *i += n;
    return cp;
}

size_t utf8_utf16_units(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t units = 0, i = 0;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            units++;
            continue;
        }
        units += utf8_next(u, len, &i) >= 0x10000 ? 2 : 1;
    }
    return units;
}

size_t utf8_to_utf16(struct buf *out, const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    buf_reserve(out, len * 2 + 4);
    uint8_t *d = buf_data(out) + out->len, *d0 = d;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) { /* the common case: ASCII, one unit per byte */
            *d++ = u[i++];
            *d++ = 0;
            continue;
        }
        uint32_t cp = utf8_next(u, len, &i);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            uint16_t hi = (uint16_t)(0xD800 | cp >> 10), lo = (uint16_t)(0xDC00 | (cp & 0x3FF));
            *d++ = (uint8_t)hi;
            *d++ = (uint8_t)(hi >> 8);
            *d++ = (uint8_t)lo;
            *d++ = (uint8_t)(lo >> 8);
        } else {
            *d++ = (uint8_t)cp;
            *d++ = (uint8_t)(cp >> 8);
        }
    }
    out->len += (size_t)(d - d0);
    return (size_t)(d - d0) / 2;
}

static void put_utf8(struct buf *out, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | cp >> 18);
        b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(out, b, n);
}

void utf16_to_utf8(struct buf *out, const uint8_t *p, size_t units)
{
    for (size_t i = 0; i < units; i++) {
        uint32_t u = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8);
        if (u >= 0xD800 && u < 0xDC00 && i + 1 < units) {
            uint32_t lo = (uint32_t)(p[2 * i + 2] | p[2 * i + 3] << 8);
            if (lo >= 0xDC00 && lo < 0xE000) {
                put_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
                i++;
                continue;
            }
        }
        if (u >= 0xD800 && u < 0xE000)
            u = 0xFFFD;
        if (u < 0x80)
            buf_putc(out, (char)u);
        else
            put_utf8(out, u);
    }
}

/* Windows-1252 0x80..0x9F; 0 marks the five unassigned bytes. */
static const uint16_t cp1252_hi[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

void cp1252_to_utf8(struct buf *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = p[i];
        if (cp >= 0x80 && cp < 0xA0)
            cp = cp1252_hi[cp - 0x80] ? cp1252_hi[cp - 0x80] : 0xFFFD;
        put_utf8(out, cp);
    }
}

void utf8_to_cp1252(struct buf *out, const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp = utf8_next(u, len, &i);
        char c = '?';
        if (cp < 0x80 || (cp >= 0xA0 && cp < 0x100)) {
            c = (char)cp;
        } else {
            for (int k = 0; k < 32; k++)
                if (cp1252_hi[k] == cp)
                    c = (char)(0x80 + k);
        }
        buf_putc(out, c);
    }
}

/* ---- declared types -------------------------------------------------------------------------- */

struct type_name {
    const char *name;
    enum tds_kind kind;
    uint8_t size;
    uint32_t length; /* default length when no argument is given */
};

static const struct type_name type_names[] = {
    {"tinyint", TK_INT, 1, 0},          {"smallint", TK_INT, 2, 0},
    {"int", TK_INT, 4, 0},              {"bigint", TK_INT, 8, 0},
    {"bit", TK_BIT, 1, 0},              {"decimal", TK_DECIMAL, 0, 0},
    {"numeric", TK_DECIMAL, 0, 0},      {"money", TK_MONEY, 8, 0},
    {"smallmoney", TK_MONEY, 4, 0},     {"float", TK_FLOAT, 8, 0},
    {"real", TK_FLOAT, 4, 0},           {"datetime", TK_DATETIME, 8, 0},
    {"smalldatetime", TK_DATETIME, 4, 0}, {"datetime2", TK_DATETIME2, 0, 0},
    {"date", TK_DATE, 0, 0},            {"nvarchar", TK_NVARCHAR, 0, 1},
    {"nchar", TK_NVARCHAR, 0, 1},       {"ntext", TK_NVARCHAR, 0, TDS_LEN_MAX},
    {"sysname", TK_NVARCHAR, 0, 128},   {"varchar", TK_VARCHAR, 0, 1},
    {"char", TK_VARCHAR, 0, 1},         {"text", TK_VARCHAR, 0, TDS_LEN_MAX},
    {"uniqueidentifier", TK_GUID, 16, 0}, {"varbinary", TK_VARBINARY, 0, 1},
    {"binary", TK_VARBINARY, 0, 1},     {"image", TK_VARBINARY, 0, TDS_LEN_MAX},
    /* SQLite's own names, for tables created outside tdslite */
    {"integer", TK_INT, 8, 0},          {"blob", TK_VARBINARY, 0, TDS_LEN_MAX},
    {"double", TK_FLOAT, 8, 0},         {"clob", TK_NVARCHAR, 0, TDS_LEN_MAX},
    {"boolean", TK_BIT, 1, 0},
};

/* Reads one unsigned number or "max" in a type argument list. */
static int type_arg(const char **s, const char *end, uint32_t *v)
{
    while (*s < end && isspace((unsigned char)**s))
        (*s)++;
    if (end - *s >= 3 && strncasecmp(*s, "max", 3) == 0) {
        *s += 3;
        *v = TDS_LEN_MAX;
    } else if (*s < end && **s == '-' && end - *s >= 2 && (*s)[1] == '1') {
        *s += 2; /* -1 is how some tools spell (max) */
        *v = TDS_LEN_MAX;
    } else {
        if (*s >= end || !isdigit((unsigned char)**s))
            return -EINVAL;
        uint64_t n = 0;
        while (*s < end && isdigit((unsigned char)**s) && n <= UINT32_MAX)
            n = n * 10 + (uint64_t)(*(*s)++ - '0');
        if (n > 0x7FFFFFFF)
            return -EINVAL;
        *v = (uint32_t)n;
    }
    while (*s < end && isspace((unsigned char)**s))
        (*s)++;
    return 0;
}

static int type_apply_args(struct tds_type *t, const uint32_t *a, int n)
{
    switch (t->kind) {
    case TK_DECIMAL:
        t->precision = n >= 1 ? (uint8_t)(a[0] > 255 ? 255 : a[0]) : 18;
        t->scale = n >= 2 ? (uint8_t)(a[1] > 255 ? 255 : a[1]) : 0;
        return t->precision >= 1 && t->precision <= 38 && t->scale <= t->precision && n <= 2
                   ? 0
                   : -EINVAL;
    case TK_DATETIME2:
        t->scale = n >= 1 ? (uint8_t)(a[0] > 255 ? 255 : a[0]) : 7;
        return t->scale <= 7 && n <= 1 ? 0 : -EINVAL;
    case TK_FLOAT:
        if (n == 1 && a[0] >= 1 && a[0] <= 53) {
            t->size = a[0] <= 24 ? 4 : 8; /* float(n) as SQL Server reads it */
            return 0;
        }
        return n == 0 ? 0 : -EINVAL;
    case TK_NVARCHAR:
    case TK_VARCHAR:
    case TK_VARBINARY:
        if (n == 0)
            return 0;
        if (n > 1 || a[0] == 0)
            return -EINVAL;
        if (a[0] != TDS_LEN_MAX && a[0] > (t->kind == TK_NVARCHAR ? 4000u : 8000u))
            return -EINVAL;
        t->length = a[0];
        return 0;
    default:
        return n == 0 ? 0 : -EINVAL;
    }
}

int tds_type_parse(const char *decl, size_t len, struct tds_type *out)
{
    const char *s = decl, *end = decl + len;
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    const char *w = s;
    while (s < end && (isalnum((unsigned char)*s) || *s == '_'))
        s++;
    size_t wl = (size_t)(s - w);
    const struct type_name *tn = NULL;
    for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++)
        if (strlen(type_names[i].name) == wl && strncasecmp(type_names[i].name, w, wl) == 0)
            tn = &type_names[i];
    if (!tn)
        return -EINVAL;
    *out = (struct tds_type){.kind = tn->kind, .size = tn->size, .length = tn->length};
    if (tn->kind == TK_DECIMAL)
        out->precision = 18;
    if (tn->kind == TK_DATETIME2)
        out->scale = 7;
    while (s < end && isspace((unsigned char)*s))
        s++;
    uint32_t args[3];
    int n = 0;
    if (s < end && *s == '(') {
        s++;
        for (;;) {
            if (n == 3 || type_arg(&s, end, &args[n]) < 0)
                return -EINVAL;
            n++;
            if (s < end && *s == ',') {
                s++;
                continue;
            }
            if (s < end && *s == ')') {
                s++;
                break;
            }
            return -EINVAL;
        }
    }
    if (s != end)
        return -EINVAL;
    return type_apply_args(out, args, n);
}

const char *tds_type_name(const struct tds_type *t)
{
    switch (t->kind) {
    case TK_INT:
        return t->size == 1 ? "tinyint" : t->size == 2 ? "smallint" : t->size == 4 ? "int" : "bigint";
    case TK_BIT: return "bit";
    case TK_DECIMAL: return "decimal";
    case TK_MONEY: return t->size == 4 ? "smallmoney" : "money";
    case TK_FLOAT: return t->size == 4 ? "real" : "float";
    case TK_DATETIME: return t->size == 4 ? "smalldatetime" : "datetime";
    case TK_DATETIME2: return "datetime2";
    case TK_DATE: return "date";
    case TK_NVARCHAR: return "nvarchar";
    case TK_VARCHAR: return "varchar";
    case TK_GUID: return "uniqueidentifier";
    case TK_VARBINARY: return "varbinary";
    }
    return "?";
}

void tds_type_format(const struct tds_type *t, char *out, size_t outlen)
{
    const char *n = tds_type_name(t);
    switch (t->kind) {
    case TK_DECIMAL:
        snprintf(out, outlen, "%s(%u,%u)", n, t->precision, t->scale);
        break;
    case TK_DATETIME2:
        snprintf(out, outlen, "%s(%u)", n, t->scale);
        break;
    case TK_NVARCHAR:
    case TK_VARCHAR:
    case TK_VARBINARY:
        if (t->length == TDS_LEN_MAX)
            snprintf(out, outlen, "%s(max)", n);
        else
            snprintf(out, outlen, "%s(%u)", n, t->length);
        break;
    default:
        snprintf(out, outlen, "%s", n);
    }
}

const char *tds_type_sqlite_decl(const struct tds_type *t)
{
    switch (t->kind) {
    case TK_INT:
    case TK_BIT:
        return "INTEGER";
    case TK_FLOAT:
        return "REAL";
    case TK_DECIMAL:
    case TK_MONEY:
        /* No affinity: values keep the class they were stored with. Numbers
         * stay numbers (so they compare numerically) and a decimal with more
         * digits than a double holds is stored as exact text. */
        return "";
    case TK_VARBINARY:
        return "BLOB";
    default:
        return "TEXT";
    }
}

bool tds_type_is_text(const struct tds_type *t)
{
    return t->kind == TK_NVARCHAR || t->kind == TK_VARCHAR;
}

/* ---- dates ----------------------------------------------------------------------------------- */

#define TICKS_PER_DAY 864000000000ULL
#define DAYS_0001_TO_1900 693595

/* Howard Hinnant's civil calendar algorithms, shifted to day 0 = 0001-01-01. */
int32_t tds_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days_1970 = (int64_t)era * 146097 + (int64_t)doe - 719468;
    return (int32_t)(days_1970 + 719162);
}

void tds_civil_from_days(int32_t days, int *y, unsigned *m, unsigned *d)
{
    int64_t z = (int64_t)days - 719162 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static int digits(const char **s, const char *end, int n, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (*s >= end || !isdigit((unsigned char)**s))
            return -EINVAL;
        *v = *v * 10 + (unsigned)(**s - '0');
    }
    return 0;
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int tds_when_parse(const char *s, size_t len, struct tds_when *out)
{
    const char *end = s + len;
    unsigned y, mo, d, h = 0, mi = 0, se = 0;
    uint64_t frac = 0;
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (digits(&s, end, 4, &y) || s >= end || *s++ != '-' || digits(&s, end, 2, &mo) ||
        s >= end || *s++ != '-' || digits(&s, end, 2, &d))
        return -EINVAL;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && leap((int)y) ? 1u : 0u))
        return -EINVAL;
    if (s < end) {
        if (*s != ' ' && *s != 'T')
            return -EINVAL;
        s++;
        if (digits(&s, end, 2, &h) || s >= end || *s++ != ':' || digits(&s, end, 2, &mi))
            return -EINVAL;
        if (s < end && *s == ':') {
            s++;
            if (digits(&s, end, 2, &se))
                return -EINVAL;
            if (s < end && *s == '.') {
                s++;
                int n = 0;
                for (; s < end && isdigit((unsigned char)*s); s++, n++)
                    if (n < 7)
                        frac = frac * 10 + (uint64_t)(*s - '0');
                if (n == 0)
                    return -EINVAL;
                for (; n < 7; n++)
                    frac *= 10;
            }
        }
        if (s < end && *s == 'Z')
            s++;
        if (s != end || h > 23 || mi > 59 || se > 59)
            return -EINVAL;
    }
    out->days = tds_days_from_civil((int)y, mo, d);
    out->ticks = ((uint64_t)h * 3600 + mi * 60 + se) * 10000000ULL + frac;
    return 0;
}

void tds_when_format(const struct tds_when *w, bool date_only, char out[28])
{
    int y;
    unsigned m, d;
    tds_civil_from_days(w->days, &y, &m, &d);
    if (date_only) {
        snprintf(out, 28, "%04d-%02u-%02u", y % 10000, m % 13, d % 32);
        return;
    }
    uint64_t secs = w->ticks / 10000000ULL, frac = w->ticks % 10000000ULL;
    char tmp[64]; /* roomy, so the compiler can prove nothing is cut */
    snprintf(tmp, sizeof tmp, "%04d-%02u-%02u %02u:%02u:%02u.%07u", y, m, d,
             (unsigned)(secs / 3600 % 24), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60),
             (unsigned)frac);
    memcpy(out, tmp, 27);
    out[27] = '\0';
}

void tds_when_from_datetime(int32_t days1900, uint32_t t300, struct tds_when *out)
{
    out->days = days1900 + DAYS_0001_TO_1900;
    /* 1/300 s is not a whole number of 100 ns ticks: round to the nearest,
     * which tds_when_to_datetime() maps back to the same t300 exactly. */
    out->ticks = ((uint64_t)t300 * 100000ULL + 1) / 3;
}

int tds_when_to_datetime(const struct tds_when *w, int32_t *days1900, uint32_t *t300)
{
    int32_t days = w->days - DAYS_0001_TO_1900;
    uint64_t t = (w->ticks * 3 + 50000) / 100000;
    if (t >= 300ULL * 86400) { /* .9999999 rounds up into the next day, as SQL Server does */
        t -= 300ULL * 86400;
        days++;
    }
    /* datetime covers 1753-01-01 .. 9999-12-31 */
    if (days < -53690 || days > 2958463)
        return -ERANGE;
    *days1900 = days;
    *t300 = (uint32_t)t;
    return 0;
}

/* ---- exact decimals -------------------------------------------------------------------------- */

static const unsigned __int128 dec_max = (((unsigned __int128)5421010862427522170ULL) << 64) |
                                         687399551400673279ULL; /* 10^38 - 1 */

unsigned tds_dec_digits(unsigned __int128 mag)
{
    unsigned n = 1;
    while (mag >= 10) {
        mag /= 10;
        n++;
    }
    return n;
}

int tds_dec_parse(const char *s, size_t len, uint8_t scale, struct tds_dec *out)
{
    const char *end = s + len;
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    bool neg = false;
    if (s < end && (*s == '-' || *s == '+'))
        neg = *s++ == '-';
    /* Collect the digits and where the decimal point sits. */
    char dig[80];
    int nd = 0, point = -1, exp = 0;
    bool any = false;
    for (; s < end; s++) {
        if (isdigit((unsigned char)*s)) {
            any = true;
            if (nd == 0 && *s == '0' && point < 0)
                continue; /* leading zeros */
            if (nd >= (int)sizeof dig - 1)
                return -ERANGE;
            dig[nd++] = *s;
        } else if (*s == '.' && point < 0) {
            point = nd;
        } else {
            break;
        }
    }
    if (!any)
        return -EINVAL;
    if (point < 0)
        point = nd;
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        bool eneg = false;
        if (s < end && (*s == '-' || *s == '+'))
            eneg = *s++ == '-';
        if (s >= end)
            return -EINVAL;
        for (; s < end && isdigit((unsigned char)*s); s++)
            if (exp < 1000)
                exp = exp * 10 + (*s - '0');
        if (eneg)
            exp = -exp;
    }
    if (s != end)
        return -EINVAL;
    /* value = 0.dig * 10^(point+exp); we want round(value * 10^scale). */
    int int_digits = point + exp + scale; /* digits that land left of the point after scaling */
    unsigned __int128 mag = 0;
    for (int i = 0; i < int_digits && i < nd; i++) {
        if (mag > dec_max / 10)
            return -ERANGE;
        mag = mag * 10 + (unsigned)(dig[i] - '0');
    }
    for (int i = nd; i < int_digits; i++) {
        if (mag > dec_max / 10)
            return -ERANGE;
        mag *= 10;
    }
    if (int_digits >= 0 && int_digits < nd && dig[int_digits] >= '5')
        mag++; /* half away from zero */
    if (mag > dec_max)
        return -ERANGE;
    out->neg = neg && mag != 0;
    out->mag = mag;
    return 0;
}

void tds_dec_format(const struct tds_dec *d, uint8_t scale, char *out)
{
    char rev[48];
    int n = 0;
    unsigned __int128 m = d->mag;
    do {
        rev[n++] = (char)('0' + (int)(m % 10));
        m /= 10;
    } while (m);
    while (n <= scale)
        rev[n++] = '0';
    char *o = out;
    if (d->neg)
        *o++ = '-';
    for (int i = n - 1; i >= 0; i--) {
        *o++ = rev[i];
        if (i == scale && scale > 0)
            *o++ = '.';
    }
    *o = '\0';
}

/* ---- uniqueidentifier ------------------------------------------------------------------------ */

/* Text position of each wire byte: groups 1-3 are stored little-endian. */
static const uint8_t guid_order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int tds_guid_parse(const char *s, size_t len, uint8_t out[16])
{
    if (len == 38 && s[0] == '{' && s[37] == '}') {
        s++;
        len = 36;
    }
    if (len != 36)
        return -EINVAL;
    uint8_t text[16];
    size_t k = 0;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-')
                return -EINVAL;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        text[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    for (int i = 0; i < 16; i++)
        out[i] = text[guid_order[i]];
    return 0;
}

void tds_guid_format(const uint8_t in[16], char out[37])
{
    uint8_t text[16];
    for (int i = 0; i < 16; i++)
        text[guid_order[i]] = in[i];
    static const char hx[] = "0123456789ABCDEF";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hx[text[i] >> 4];
        *o++ = hx[text[i] & 15];
    }
    *o = '\0';
}
