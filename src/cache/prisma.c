/*
 * Prisma Client 7's validation sentences, for the options parsers (plan.c,
 * where.c, order.c): the names it gives JSON values and field types, its
 * "Did you mean" suggestion, and the reason its DateTime parser (Rust's
 * chrono, RFC 3339) gives for a string it refuses. Read from Prisma 7.10's
 * runtime (@prisma/client/runtime/client.js) and its answers on tdslite.
 */
#include "cache/cache_int.h"

#include <stdio.h>
#include <string.h>

const char *cache_prisma_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "Object";
    case JSON_ARRAY: return "List";
    case JSON_STRING: return "String";
    case JSON_INTEGER: return "Int";
    case JSON_REAL: return "Float";
    case JSON_TRUE:
    case JSON_FALSE: return "Boolean";
    case JSON_NULL: return "Null";
    }
    return "Json";
}

const char *cache_prisma_type(enum schema_type t)
{
    switch (t) {
    case SCHEMA_INT: return "Int";
    case SCHEMA_BIGINT: return "BigInt";
    case SCHEMA_STRING: return "String";
    case SCHEMA_BOOLEAN: return "Boolean";
    case SCHEMA_DATETIME: return "DateTime";
    case SCHEMA_DECIMAL: return "Decimal";
    case SCHEMA_FLOAT: return "Float";
    case SCHEMA_BYTES: return "Bytes";
    }
    return "Json";
}

bool cache_prisma_accepts(enum schema_type t, const json_t *j)
{
    switch (t) {
    case SCHEMA_INT:
    case SCHEMA_BIGINT: return json_is_number(j); /* Prisma takes 1.5 for an Int */
    case SCHEMA_FLOAT: return json_is_number(j);
    case SCHEMA_DECIMAL: return json_is_number(j) || json_is_string(j);
    case SCHEMA_BOOLEAN: return json_is_boolean(j);
    default: return json_is_string(j);
    }
}

/* Levenshtein distance, as the js-levenshtein Prisma uses (names are ASCII). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

void cache_suggest_try(struct cache_suggest *s, const char *cand)
{
    size_t d = distance(s->name, cand);
    if (d <= 3 && d < s->best) { /* the first of the nearest, at most 3 edits away */
        s->best = d;
        s->pick = cand;
    }
}

void cache_suggest_fields(struct cache_suggest *s, const struct schema_model *m)
{
    for (size_t i = 0; i < m->n_fields; i++)
        cache_suggest_try(s, m->fields[i].name);
    for (size_t i = 0; i < m->n_relations; i++)
        cache_suggest_try(s, m->relations[i].name);
}

void cache_suggest_list(struct cache_suggest *s, const char *const *cands)
{
    for (; *cands; cands++)
        cache_suggest_try(s, *cands);
}

void cache_prisma_unknown_arg(char *err, size_t errlen, const struct cache_suggest *s)
{
    if (s->pick)
        snprintf(err, errlen, "Unknown argument `%s`. Did you mean `%s`?", s->name, s->pick);
    else
        snprintf(err, errlen, "Unknown argument `%s`.", s->name);
}

/* ---- chrono's RFC 3339 parser: the reason it refuses a string -------------------- */

#define TOO_SHORT "premature end of input"
#define INVALID "input contains invalid characters"
#define OUT_OF_RANGE "input is out of range"

/* `n` digits at *p: NULL, or the reason (short input, or a non-digit). */
static const char *digits(const char **p, int n, unsigned *out)
{
    if (strlen(*p) < (size_t)n)
        return TOO_SHORT;
    *out = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return INVALID;
        *out = *out * 10 + (unsigned)(**p - '0');
    }
    return NULL;
}

static const char *chr(const char **p, const char *set)
{
    if (!**p)
        return TOO_SHORT;
    if (!strchr(set, **p))
        return INVALID;
    (*p)++;
    return NULL;
}

static bool leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* chrono sets each field as it reads it, refusing one out of its range at
 * once; the calendar (February 30) is checked after the whole string. */
const char *cache_prisma_datetime_error(const char *s)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s, *e;
    unsigned y, mo, d, h, mi, sec, oh, om;
    if ((e = digits(&p, 4, &y)) || (e = chr(&p, "-")) || (e = digits(&p, 2, &mo)))
        return e;
    if (mo < 1 || mo > 12)
        return OUT_OF_RANGE;
    if ((e = chr(&p, "-")) || (e = digits(&p, 2, &d)))
        return e;
    if (d < 1 || d > 31)
        return OUT_OF_RANGE;
    if ((e = chr(&p, "Tt ")) || (e = digits(&p, 2, &h)))
        return e;
    if (h > 23)
        return OUT_OF_RANGE;
    if ((e = chr(&p, ":")) || (e = digits(&p, 2, &mi)))
        return e;
    if (mi > 59)
        return OUT_OF_RANGE;
    if ((e = chr(&p, ":")) || (e = digits(&p, 2, &sec)))
        return e;
    if (sec > 60)
        return OUT_OF_RANGE;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return *p ? INVALID : TOO_SHORT;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else {
        if ((e = chr(&p, "+-")) || (e = digits(&p, 2, &oh)) || (e = chr(&p, ":")) ||
            (e = digits(&p, 2, &om)))
            return e;
        if (oh > 23 || om > 59)
            return OUT_OF_RANGE;
    }
    if (*p)
        return "trailing input";
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap(y)))
        return OUT_OF_RANGE;
    return NULL;
}
