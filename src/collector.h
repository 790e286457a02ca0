#pragma once
/*
 * Collectors: one JSON file per public event in collectors/, the file name
 * being the event name (fetchCompanies.json -> event "fetchCompanies").
 *
 *   {"model": "Company",                     required: a schema model
 *    "where": {"deleteFlag": false},         optional fixed filter (equality on scalar fields)
 *    "maxRows": 100000,                      optional cap on rows returned (0 = none)
 *    "description": "..."}                   optional, for humans
 *
 * Unknown keys, unknown models and unknown fields stop startup with
 * "file: message", and so does a `where` value of the wrong JSON type for its
 * field (Int/BigInt: integer; Boolean: true/false; Float: number; Decimal:
 * number or decimal string; DateTime: ISO-8601 string; String/Bytes: string;
 * null only on optional fields). Immutable after loading.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "schema.h"

struct collector_filter {
    const struct schema_field *field;
    char *json_value;      /* the filter value as compact JSON text (e.g. "false", "\"x\"", "3") */
};

struct collector {
    char *event;                       /* "fetchCompanies" */
    const struct schema_model *model;
    struct collector_filter *where;    /* fixed equality filter, ANDed */
    size_t n_where;
    uint64_t max_rows;                 /* 0: unlimited */
};

struct collector_set {
    struct collector *items;           /* sorted by event name */
    size_t n;
};

/* Loads every *.json file of dir. Errors in err ("path: message"), -EINVAL;
 * -ENOENT (or -errno) when dir cannot be read or holds no *.json file.
 * On error *out is left empty. */
int collector_set_load(struct collector_set *out, const char *dir, const struct schema *s, char *err,
                       size_t errlen) MUST_CHECK;
void collector_set_fini(struct collector_set *cs);
const struct collector *collector_find(const struct collector_set *cs, const char *event, size_t len);
/* Every model a collector set can reach: each collector's model and, transitively,
 * the targets of their relations. out has s->n_models entries, true = needed. */
void collector_set_models(const struct collector_set *cs, const struct schema *s, bool *out);
