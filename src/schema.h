#pragma once
/*
 * The data model, read from the .prisma files of schema/ (a subset of the Prisma schema
 * language). Immutable after schema_load(); every thread reads it freely.
 *
 * Field and relation names from requests are only ever resolved through
 * schema_field_find()/schema_relation_find(): nothing a client sends reaches
 * SQL or an LMDB key without that lookup.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum schema_type {
    SCHEMA_INT,      /* Int: 32-bit, JSON number */
    SCHEMA_BIGINT,   /* BigInt: JSON number (as the original's JSON) */
    SCHEMA_STRING,   /* String: JSON string (UTF-8) */
    SCHEMA_BOOLEAN,  /* Boolean: true/false */
    SCHEMA_DATETIME, /* DateTime: "2024-03-01T12:00:00.000Z" */
    SCHEMA_DECIMAL,  /* Decimal: JSON string without trailing zeros ("3657691.5") */
    SCHEMA_FLOAT,    /* Float (also money declared @db.Money): JSON number */
    SCHEMA_BYTES,    /* Bytes: base64 JSON string */
};

struct schema_model;

#define SCHEMA_KEY_PAD 32

struct schema_field {
    char *name;            /* camelCase name clients use */
    /* `,"name":`, the field's JSON member key as a renderer writes it
     * after another member (key + 1 without the comma). Stored rows keep
     * values only (src/cache/row.c); every answer writes the key from here.
     * Names are identifiers: nothing to escape. SCHEMA_KEY_PAD zero bytes
     * follow it, so a renderer may copy it in 32-byte moves. */
    char *key;
    size_t key_len;
    char *column;          /* SQL column (@map, else the name) */
    char *db_type;         /* native type from @db.X with blanks removed, e.g. "NVarChar(50)",
                            * "Money", "Decimal(18,4)"; NULL if none */
    enum schema_type type;
    bool optional;         /* declared with '?' */
    bool is_id;            /* @id */
    bool is_unique;        /* @id or @unique: a `cursor` may name it */
    bool guid;             /* @db.UniqueIdentifier: ordered as SQL Server orders GUIDs */
    uint16_t index;        /* position in model->fields */
    /* 1 + the dense number (0..schema->n_indexes-1, over all models) of the
     * secondary index this field leads (@@index([field, ...])); 0: none. */
    uint16_t sindex;
};

struct schema_relation {
    char *name;                        /* field name, e.g. "opportunityCompanies" */
    char *relation_name;               /* @relation("Name"), or NULL */
    struct schema_model *model;        /* the model this relation is declared on */
    struct schema_model *target;       /* the related model */
    bool to_many;                      /* Target[] */
    /* to-one: the field of `model` holding the target's key (fields: [x]).
     * to-many: the field of `target` holding this model's key (the inverse's fields). */
    const struct schema_field *fk;
    /* to-one: the inverse to-many relation on target, if declared; to-many: the to-one it mirrors. */
    struct schema_relation *inverse;
    uint16_t index;                    /* position in model->relations */
    /* Dense number over all to-many relations of the schema (0..schema->n_to_many-1):
     * the cache keeps one LMDB index per to-many relation. UINT16_MAX for to-one. */
    uint16_t to_many_id;
};

struct schema_model {
    char *name;                    /* "Company" */
    char *table;                   /* "Company" (@@map), SQL table name without schema */
    struct schema_field *fields;   /* scalar fields, declaration order */
    size_t n_fields;
    struct schema_relation *relations;
    size_t n_relations;
    const struct schema_field *pk;     /* the @id field: Int or BigInt */
    const struct schema_field *cursor; /* last-update field (/// @cursor fieldName), or NULL: re-read fully.
                                        * Always DateTime; may be optional (NULL values in the table). */
    uint16_t id;                   /* position in schema->models */
};

struct schema {
    struct schema_model *models;
    size_t n_models;
    uint16_t n_to_many;            /* number of to-many relations over all models */
    uint16_t n_indexes;            /* number of secondary indexes over all models */
    const struct schema_field **indexed; /* n_indexes: the field each index leads, by number */
};

/* The longest String a secondary index keeps whole, in characters: an
 * indexed String field must declare a length (@db.NVarChar(n)) of at most this. */
#define SCHEMA_INDEX_TEXT_MAX 160

/* Parses one .prisma file or every *.prisma file of a directory (sorted by
 * name) into *out. Errors are reported in err as "file:line:col: message"
 * and return -EINVAL (-errno for I/O). The caller frees with schema_free(). */
int schema_load(struct schema **out, const char *path, char *err, size_t errlen) MUST_CHECK;
/* Same from a string; `name` is used in error messages. */
int schema_parse(struct schema **out, const char *name, const char *text, size_t len, char *err,
                 size_t errlen) MUST_CHECK;
void schema_free(struct schema *s); /* accepts NULL */

const struct schema_model *schema_model_find(const struct schema *s, const char *name);
const struct schema_field *schema_field_find(const struct schema_model *m, const char *name,
                                             size_t len);
const struct schema_relation *schema_relation_find(const struct schema_model *m, const char *name,
                                                   size_t len);
const char *schema_type_name(enum schema_type t); /* "Int", "String", ... */
