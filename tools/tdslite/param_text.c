/*
 * Text parameters as SQL Server converts them where they meet a typed
 * column. tedious (and so Prisma's SQL Server adapter) sends DateTime and
 * Decimal values as nvarchar strings; SQL Server converts such a string to
 * the column's type before comparing (datetime and decimal outrank
 * nvarchar). SQLite compares them as text with what tdslite stores, so:
 *   - a string compared with a decimal(p,s) or money column (the rewrite
 *     notes which column a parameter meets: `col > @P1`, `col IN (@P1,
 *     ...)`) is converted to that type as SQL Server converts it: rounded
 *     half away from zero to the column's scale ('868.4299999999999' is
 *     868.43 in a decimal(18,2), '191525.2400' is 191525.24, '12' is 12),
 *     error 8114 when it is no number, 8115 when it has more than p - s
 *     integer digits; then bound as stored decimals are (a double when it
 *     holds the value, else its exact text);
 *   - a string shaped as a date and time ('YYYY-MM-DD HH:MM:SS[.fff]', 'T'
 *     or 'Z' allowed: what clients send) is bound in the stored form,
 *     rounded to datetime's 1/300 s as SQL Server's string -> datetime
 *     conversion rounds (every DateTime of the schema is datetime);
 *   - a string that is a number in its canonical form ('664298.95', '12')
 *     is bound as that number, so a decimal column compares numerically.
 *     A text column gives the number back its text (TEXT affinity), the
 *     same characters, so string comparisons are unchanged.
 * Anything else stays text.
 */
#include "tdslite.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 'YYYY-MM-DD' then ' ' or 'T' and a time: a date alone stays text (date
 * columns store it as is). */
static bool datetime_shaped(const char *p, size_t n)
{
    if (n < 16 || n > 30 || !isdigit((unsigned char)p[0]) || p[4] != '-' || p[7] != '-' ||
        (p[10] != ' ' && p[10] != 'T') || p[13] != ':')
        return false;
    /* More than 3 fraction digits: typed date parameters arrive in the
     * stored form (7 digits) and compare exactly; SQL Server refuses such
     * a string as a datetime anyway. */
    const char *dot = memchr(p, '.', n);
    size_t frac = 0;
    for (const char *q = dot ? dot + 1 : p + n; q < p + n && isdigit((unsigned char)*q); q++)
        frac++;
    return frac <= 3;
}

static bool number_canonical(const char *p, size_t n, bool *is_int, sqlite3_int64 *i, double *d)
{
    char text[64], back[64];
    if (n == 0 || n >= sizeof text || !(isdigit((unsigned char)p[0]) || p[0] == '-'))
        return false;
    memcpy(text, p, n);
    text[n] = '\0';
    char *end;
    errno = 0;
    if (!memchr(text, '.', n) && !memchr(text, 'e', n) && !memchr(text, 'E', n)) {
        long long v = strtoll(text, &end, 10);
        if (*end || errno)
            return false;
        snprintf(back, sizeof back, "%lld", v);
        *is_int = true;
        *i = v;
        return strcmp(back, text) == 0;
    }
    double v = strtod(text, &end);
    if (*end || errno || !memchr(text, '.', n))
        return false;
    snprintf(back, sizeof back, "%.15g", v); /* what SQLite prints for a REAL */
    *is_int = false;
    *d = v;
    return strcmp(back, text) == 0;
}

/* The text converted to col's decimal(p,s) (money: scale 4), bound as
 * tdslite stores such values (catalog.c; the same rule as rpc.c's typed
 * decimal parameters). */
static int bind_decimal(sqlite3_stmt *st, int i, const char *p, size_t n, const struct tds_type *col,
                        struct tds_error *e)
{
    uint8_t scale = col->kind == TK_MONEY ? 4 : col->scale;
    unsigned precision = col->kind == TK_MONEY ? (col->size == 4 ? 10 : 19) : col->precision;
    struct tds_dec d;
    /* SQL Server's nvarchar -> numeric takes no exponent ('1e3' fails) */
    int rc = memchr(p, 'e', n) || memchr(p, 'E', n) ? -EINVAL : tds_dec_parse(p, n, scale, &d);
    if (rc == -EINVAL) {
        tds_error_set(e, 8114, 16, "Error converting data type nvarchar to %s.",
                      col->kind == TK_MONEY ? "money" : "numeric");
        return rc;
    }
    if (rc < 0 || tds_dec_digits(d.mag) > precision) {
        tds_error_set(e, 8115, 16, "Arithmetic overflow error converting nvarchar to data type %s.",
                      col->kind == TK_MONEY ? "money" : "numeric");
        return -ERANGE;
    }
    char txt[48];
    tds_dec_format(&d, scale, txt);
    if (tds_dec_digits(d.mag) > 15)
        return sqlite3_bind_text(st, i, txt, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -EIO;
    if (scale == 0)
        return sqlite3_bind_int64(st, i, d.neg ? -(sqlite3_int64)d.mag : (sqlite3_int64)d.mag) == SQLITE_OK
                   ? 0 : -EIO;
    return sqlite3_bind_double(st, i, strtod(txt, NULL)) == SQLITE_OK ? 0 : -EIO;
}

int tds_text_param_bind(sqlite3_stmt *st, int i, const char *p, size_t n, const struct tds_type *col,
                        struct tds_error *e)
{
    if (col && (col->kind == TK_DECIMAL || col->kind == TK_MONEY))
        return bind_decimal(st, i, p, n, col, e);
    struct tds_when w;
    if (datetime_shaped(p, n) && tds_when_parse(p, n, &w) == 0) {
        int32_t days;
        uint32_t t300;
        if (tds_when_to_datetime(&w, &days, &t300) == 0) {
            char out[28];
            tds_when_from_datetime(days, t300, &w);
            tds_when_format(&w, false, out);
            return sqlite3_bind_text(st, i, out, 27, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -EIO;
        }
    }
    int rc;
    bool is_int;
    sqlite3_int64 iv;
    double dv;
    if (number_canonical(p, n, &is_int, &iv, &dv))
        rc = is_int ? sqlite3_bind_int64(st, i, iv) : sqlite3_bind_double(st, i, dv);
    else
        rc = sqlite3_bind_text(st, i, p, (int)n, SQLITE_STATIC);
    return rc == SQLITE_OK ? 0 : -EIO;
}
