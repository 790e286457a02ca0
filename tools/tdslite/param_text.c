/*
 * Text parameters as SQL Server converts them where they meet a typed
 * column. tedious (and so Prisma's SQL Server adapter) sends DateTime and
 * Decimal values as nvarchar strings; SQL Server converts such a string to
 * the column's type before comparing (datetime and decimal outrank
 * nvarchar). SQLite compares them as text with what tdslite stores, so:
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

int tds_text_param_bind(sqlite3_stmt *st, int i, const char *p, size_t n)
{
    struct tds_when w;
    if (datetime_shaped(p, n) && tds_when_parse(p, n, &w) == 0) {
        int32_t days;
        uint32_t t300;
        if (tds_when_to_datetime(&w, &days, &t300) == 0) {
            char out[28];
            tds_when_from_datetime(days, t300, &w);
            tds_when_format(&w, false, out);
            return sqlite3_bind_text(st, i, out, 27, SQLITE_TRANSIENT);
        }
    }
    bool is_int;
    sqlite3_int64 iv;
    double dv;
    if (number_canonical(p, n, &is_int, &iv, &dv))
        return is_int ? sqlite3_bind_int64(st, i, iv) : sqlite3_bind_double(st, i, dv);
    return sqlite3_bind_text(st, i, p, (int)n, SQLITE_STATIC);
}
