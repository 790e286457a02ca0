#pragma once
/*
 * Shared fixture of the cache tests: a small schema (a category >
 * subcategory > product chain, a self relation, every scalar type) and a
 * store in a fresh mkdtemp directory, removed by fx_close().
 */
#include <stdbool.h>

#include "cache/cache_int.h"
#include "collector.h"
#include "schema.h"

extern const char fx_schema_text[];
extern struct schema *fx_schema;
extern struct cache *fx_cache;
extern char fx_dir[64];

void fx_open(void);  /* Criterion .init: schema + writable store */
void fx_close(void); /* Criterion .fini */
struct schema *fx_schema_parse(const char *text);
void fx_dir_remove(const char *dir);

const struct schema_model *fx_model(const char *name);
const struct schema_field *fx_field(const char *model, const char *field);
const struct schema_relation *fx_rel(const char *model, const char *rel);

static inline struct cache_value cv_null(void) { return (struct cache_value){.kind = CV_NULL}; }
static inline struct cache_value cv_int(int64_t i) { return (struct cache_value){.kind = CV_INT, .i = i}; }
static inline struct cache_value cv_bool(bool b) { return (struct cache_value){.kind = CV_BOOL, .b = b}; }
static inline struct cache_value cv_float(double f) { return (struct cache_value){.kind = CV_FLOAT, .f = f}; }
static inline struct cache_value cv_dt(int64_t ms) { return (struct cache_value){.kind = CV_DATETIME, .ms = ms}; }
static inline struct cache_value cv_text(const char *s) { return (struct cache_value){.kind = CV_TEXT, .s = slice_str(s)}; }
static inline struct cache_value cv_dec(const char *s) { return (struct cache_value){.kind = CV_DECIMAL, .s = slice_str(s)}; }

/* Writes rows in one transaction, asserting success. */
void fx_put(const char *model, const struct cache_value *vals);
void fx_category(int64_t id, const char *name);
void fx_subcategory(int64_t id, const struct cache_value *category, const char *name);
void fx_product(int64_t id, const struct cache_value *subcategory, const char *name, const char *price);
void fx_company(int64_t id, const char *name, bool deleted, const struct cache_value *parent);
void fx_delete(const char *model, uint64_t pk);
void fx_delete_maybe(const char *model, uint64_t pk); /* no row: nothing */
void fx_warm(const char *model);

/* A NUL-terminated copy of a slice (caller frees); strndup would read past it
 * under ASan's strict string checks. */
char *fx_strdup_slice(struct slice s);

/* Parses opts for a collector of model and renders from the store: 0 and
 * *out (caller frees), or the parse error (err) / -EFBIG (err holds the size). */
int fx_render(const char *model, const char *opts, size_t max_bytes, char **out, char *err,
              size_t errlen);
/* fx_render must succeed with exactly want / fail to parse with exactly want. */
void fx_expect(const char *model, const char *opts, const char *want);
void fx_expect_error(const char *model, const char *opts, const char *want);

/* The row's full record rendered as a string (caller frees). */
char *fx_row_json(struct slice row, const struct schema_model *m);
