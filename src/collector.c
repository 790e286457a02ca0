#include "collector.h"

#include "dirlist.h"

/*
 * Collector definitions are read once at startup with jansson. Every key is
 * checked against a fixed table and every `where` value against its field's
 * type, so a typo stops startup with "path: message" instead of silently
 * serving unfiltered or empty data.
 */

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, const char *path,
                                                      const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s: ", path);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

static void collector_fini(struct collector *c)
{
    for (size_t i = 0; i < c->n_where; i++)
        free(c->where[i].json_value);
    free(c->where);
    free(c->event);
    *c = (struct collector){0};
}

/* "YYYY-MM-DDTHH:MM:SS" with optional ".fff" fraction and "Z": the form the
 * cache renders, so a fixed filter can be compared with stored values. */
static bool datetime_text_ok(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    for (; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    if (s[i] == '.') {
        size_t d = 0;
        while (s[++i] >= '0' && s[i] <= '9')
            d++;
        if (d == 0 || d > 7)
            return false;
    }
    return (s[i] == 'Z' && s[i + 1] == '\0') || s[i] == '\0';
}

/* A decimal literal as text: optional '-', digits, optional fraction. */
static bool decimal_text_ok(const char *s)
{
    if (*s == '-')
        s++;
    size_t digits = 0;
    while (*s >= '0' && *s <= '9')
        s++, digits++;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9')
            s++, digits++;
    }
    return digits > 0 && *s == '\0';
}

/* Whether v may be compared with field f; the message says what is expected. */
static const char *where_value_check(const struct schema_field *f, const json_t *v)
{
    if (json_is_null(v))
        return f->optional ? NULL : "null on a required field";
    switch (f->type) {
    case SCHEMA_INT:
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX)
            return "expected a 32-bit integer";
        return NULL;
    case SCHEMA_BIGINT:
        return json_is_integer(v) ? NULL : "expected an integer";
    case SCHEMA_BOOLEAN:
        return json_is_boolean(v) ? NULL : "expected true or false";
    case SCHEMA_FLOAT:
        return json_is_number(v) ? NULL : "expected a number";
    case SCHEMA_DECIMAL:
        if (json_is_number(v) || (json_is_string(v) && decimal_text_ok(json_string_value(v))))
            return NULL;
        return "expected a number or a decimal string";
    case SCHEMA_DATETIME:
        if (json_is_string(v) && datetime_text_ok(json_string_value(v)))
            return NULL;
        return "expected an ISO-8601 string (\"2024-03-01T12:00:00.000Z\")";
    case SCHEMA_STRING:
    case SCHEMA_BYTES:
        return json_is_string(v) ? NULL : "expected a string";
    }
    return "unsupported field type";
}

static int where_parse(struct collector *c, const json_t *where, const char *path, char *err,
                       size_t errlen)
{
    if (!json_is_object(where))
        return fail(err, errlen, path, "\"where\" must be an object");
    c->where = xcalloc(json_object_size(where), sizeof *c->where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)where, key, v)
    {
        const struct schema_field *f = schema_field_find(c->model, key, strlen(key));
        if (!f) {
            if (schema_relation_find(c->model, key, strlen(key)))
                return fail(err, errlen, path,
                            "where: \"%s\" is a relation; only scalar fields "
                            "can be filtered",
                            key);
            return fail(err, errlen, path, "where: unknown field \"%s\" in model %s", key,
                        c->model->name);
        }
        const char *why = where_value_check(f, v);
        if (why)
            return fail(err, errlen, path, "where.%s (%s): %s", key, schema_type_name(f->type),
                        why);
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            abort(); /* jansson fails only on OOM here */
        c->where[c->n_where].field = f;
        c->where[c->n_where++].json_value = xstrdup(text);
        free(text);
    }
    return 0;
}

static int max_rows_parse(struct collector *c, const json_t *v, const char *path, char *err,
                          size_t errlen)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(err, errlen, path, "\"maxRows\" must be a non-negative integer");
    c->max_rows = (uint64_t)json_integer_value(v);
    return 0;
}

/* Fills c from the parsed document; c is finalised by the caller on error. */
static int collector_from_json(struct collector *c, const json_t *root, const struct schema *s,
                               const char *path, char *err, size_t errlen)
{
    if (!json_is_object(root))
        return fail(err, errlen, path, "expected a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v)
    {
        if (strcmp(key, "model") && strcmp(key, "where") && strcmp(key, "maxRows") &&
            strcmp(key, "description"))
            return fail(err, errlen, path,
                        "unknown key \"%s\" (expected model, where, maxRows, "
                        "description)",
                        key);
    }
    json_t *model = json_object_get(root, "model");
    if (!json_is_string(model))
        return fail(err, errlen, path, "\"model\" is required and must be a string");
    c->model = schema_model_find(s, json_string_value(model));
    if (!c->model)
        return fail(err, errlen, path, "unknown model \"%s\"", json_string_value(model));
    json_t *desc = json_object_get(root, "description");
    if (desc && !json_is_string(desc))
        return fail(err, errlen, path, "\"description\" must be a string");
    json_t *max = json_object_get(root, "maxRows");
    int rc;
    if (max && (rc = max_rows_parse(c, max, path, err, errlen)) < 0)
        return rc;
    json_t *where = json_object_get(root, "where");
    if (where && (rc = where_parse(c, where, path, err, errlen)) < 0)
        return rc;
    return 0;
}

static bool event_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int collector_load(struct collector *c, const char *path, const char *event, size_t n,
                          const struct schema *s, char *err, size_t errlen)
{
    if (!event_name_ok(event, n))
        return fail(err, errlen, path, "event name must be letters, digits, '_' or '-'");
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fail(err, errlen, path, "line %d column %d: %s", je.line, je.column, je.text);
    c->event = xstrndup(event, n);
    int rc = collector_from_json(c, root, s, path, err, errlen);
    json_decref(root);
    return rc;
}

static int collector_cmp(const void *a, const void *b)
{
    return strcmp(((const struct collector *)a)->event, ((const struct collector *)b)->event);
}

int collector_set_load(struct collector_set *out, const char *dir, const struct schema *s,
                       char *err, size_t errlen)
{
    *out = (struct collector_set){0};
    struct dirlist files;
    int rc = dirlist_read(&files, dir, ".json", err, errlen);
    if (rc < 0)
        return rc;
    out->items = xcalloc(files.n, sizeof *out->items);
    for (size_t i = 0; i < files.n && rc == 0; i++) {
        const char *name = files.names[i];
        char *path = dirlist_path(dir, name);
        rc = collector_load(&out->items[out->n++], path, name, strlen(name) - 5, s, err, errlen);
        free(path);
    }
    if (rc == 0 && out->n == 0) {
        snprintf(err, errlen, "%s: no *.json collector files", dir);
        rc = -ENOENT;
    }
    dirlist_fini(&files);
    if (rc < 0) {
        collector_set_fini(out);
        return rc;
    }
    qsort(out->items, out->n, sizeof *out->items, collector_cmp);
    return 0;
}

void collector_set_fini(struct collector_set *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        collector_fini(&cs->items[i]);
    free(cs->items);
    *cs = (struct collector_set){0};
}

const struct collector *collector_find(const struct collector_set *cs, const char *event,
                                       size_t len)
{
    if (memchr(event, '\0', len))
        return NULL; /* no event name contains NUL; strncmp would stop early */
    size_t lo = 0, hi = cs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *name = cs->items[mid].event;
        int c = strncmp(name, event, len);
        if (c == 0 && name[len] != '\0')
            c = 1; /* name is longer, so it sorts after event */
        if (c == 0)
            return &cs->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void collector_set_models(const struct collector_set *cs, const struct schema *s, bool *out)
{
    memset(out, 0, s->n_models * sizeof *out);
    /* Work list of models whose relations are still to be followed: each
     * model enters it once, when first marked. */
    uint16_t *todo = xmalloc(s->n_models * sizeof *todo);
    size_t n = 0;
    for (size_t i = 0; i < cs->n; i++) {
        uint16_t id = cs->items[i].model->id;
        if (!out[id])
            out[id] = true, todo[n++] = id;
    }
    while (n > 0) {
        const struct schema_model *m = &s->models[todo[--n]];
        for (size_t j = 0; j < m->n_relations; j++) {
            uint16_t id = m->relations[j].target->id;
            if (!out[id])
                out[id] = true, todo[n++] = id;
        }
    }
    free(todo);
}
