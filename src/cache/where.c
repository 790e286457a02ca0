/*
 * The collector's fixed `where`: each value is rendered once, at plan
 * time, exactly as the row encoder renders that field ("12.50" for a
 * Decimal becomes "\"12.5\"", a date-only DateTime becomes its ISO form),
 * so matching a row is a byte comparison of the stored value slice.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "civil.h"
#include "json.h"

static bool num(const char **p, int digits, unsigned *out)
{
    *out = 0;
    for (int i = 0; i < digits; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *out = *out * 10 + (unsigned)(**p - '0');
    }
    return true;
}

/* HH:MM:SS[.fff...] then Z or +HH:MM / -HH:MM; adds the time to *ms. */
static bool iso_time(const char *p, int64_t *ms)
{
    unsigned h, mi, s, frac = 0, oh, om;
    if (!num(&p, 2, &h) || *p++ != ':' || !num(&p, 2, &mi) || *p++ != ':' || !num(&p, 2, &s))
        return false;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac = frac * 10 + (unsigned)(*p - '0');
        for (; n < 3; n++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        if (!num(&p, 2, &oh) || *p++ != ':' || !num(&p, 2, &om))
            return false;
        off = sign * ((int64_t)oh * 60 + om) * 60000;
    } else if (*p++ != 'Z') {
        return false;
    }
    if (*p || h > 23 || mi > 59 || s > 59)
        return false;
    *ms += ((int64_t)h * 3600 + mi * 60 + s) * 1000 + frac - off;
    return true;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)" to epoch ms (UTC). */
static bool iso_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    unsigned y, mo, d;
    if (!num(&p, 4, &y) || *p++ != '-' || !num(&p, 2, &mo) || *p++ != '-' || !num(&p, 2, &d))
        return false;
    if (!civil_valid(y, mo, d)) /* 2024-02-30 is no date, not 2024-03-01 */
        return false;
    *ms = civil_to_days(y, mo, d) * 86400000;
    if (!*p)
        return true;
    return *p == 'T' && iso_time(p + 1, ms);
}

static int value_from_json(const struct schema_field *f, json_t *j, const char *text,
                           struct cache_value *v)
{
    if (json_is_null(j)) {
        v->kind = CV_NULL;
        return 0;
    }
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_BIGINT:
        if (!json_is_integer(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_INT, .i = json_integer_value(j)};
        return 0;
    case SCHEMA_BOOLEAN:
        if (!json_is_boolean(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_BOOL, .b = json_is_true(j)};
        return 0;
    case SCHEMA_FLOAT:
        if (!json_is_number(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_FLOAT, .f = json_number_value(j)};
        return 0;
    case SCHEMA_DECIMAL:
        /* the number's own text: jansson would round it through a double */
        if (json_is_string(j))
            text = json_string_value(j);
        else if (!json_is_number(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_DECIMAL, .s = slice_str(text)};
        return 0;
    case SCHEMA_DATETIME:
        *v = (struct cache_value){.kind = CV_DATETIME};
        return json_is_string(j) && iso_parse(json_string_value(j), &v->ms) ? 0 : -EINVAL;
    case SCHEMA_STRING:
        if (!json_is_string(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_TEXT,
                                  .s = {(const uint8_t *)json_string_value(j), json_string_length(j)}};
        return 0;
    case SCHEMA_BYTES:
        if (!json_is_string(j))
            return -EINVAL;
        *v = (struct cache_value){.kind = CV_TEXT,
                                  .s = {(const uint8_t *)json_string_value(j), json_string_length(j)}};
        return 0;
    }
    return -EINVAL;
}

int cache_where_canonical(const struct schema_field *f, const char *json_value, struct buf *out,
                          char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *j = json_loads(json_value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    struct cache_value v;
    int rc = j ? value_from_json(f, j, json_value, &v) : -EINVAL;
    if (rc == 0 && f->type == SCHEMA_BYTES) {
        json_put_str(out, (const char *)v.s.p, v.s.len); /* base64 text compares as given */
    } else if (rc == 0) {
        rc = cache_value_render(f, &v, out, err, errlen);
    }
    if (rc < 0)
        snprintf(err, errlen, "where: %s is not a valid %s value for field %s", json_value,
                 schema_type_name(f->type), f->name);
    json_decref(j);
    return rc;
}
