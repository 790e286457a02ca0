#pragma once
/*
 * T-SQL subset -> SQLite. A batch is tokenized once (strings, [brackets],
 * "quoted" names, comments and N'' literals handled by the tokenizer), split
 * into statements, and each statement is rewritten token by token:
 *   TOP (n) / TOP n               -> LIMIT n at the end of that SELECT
 *   OFFSET n ROWS FETCH NEXT m ROWS ONLY -> LIMIT m OFFSET n
 *   [name], dbo.x, db.dbo.x, db..x -> "name", "x"
 *   @P1, @Name                    -> SQLite named parameters @p1, @name (values are bound;
 *                                    the column one is compared with noted: rw_pcol)
 *   WITH (NOLOCK), OPTION (...)   -> dropped
 *   SYSUTCDATETIME() GETDATE() DB_NAME() COUNT_BIG() ISNULL() LEN() @@VERSION ...
 *                                 -> tdslite_* SQL functions or SQLite built-ins
 *   INFORMATION_SCHEMA.X          -> temp tables filled from the catalog
 *   CREATE TABLE                  -> SQLite types + catalog rows with the declared types
 *   SET ..., USE db, BEGIN/COMMIT/ROLLBACK TRAN
 * Anything else fails with a SQL Server-style error in *e.
 */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "tdslite.h"

enum rw_kind {
    RW_QUERY,        /* SELECT / WITH ... SELECT: returns rows */
    RW_DML,          /* INSERT / UPDATE / DELETE: row count */
    RW_CREATE_TABLE, /* + catalog rows from cols */
    RW_DROP_TABLE,   /* + catalog cleanup for target */
    RW_DDL,          /* CREATE INDEX, DROP INDEX, ... */
    RW_IGNORE,       /* SET options: accepted and ignored */
    RW_USE,          /* USE target */
    RW_BEGIN,
    RW_COMMIT,
    RW_ROLLBACK,
};

/* How to type a result column that is not a plain table column. */
enum rw_hint {
    RH_NONE,   /* a column reference, or unknown: the catalog / the value decides */
    RH_TYPE,   /* the type is known: COUNT_BIG(*) -> bigint, CAST(x AS t) -> t, ... */
    RH_COLUMN, /* MIN/MAX/ISNULL of a column: that column's declared type */
    RH_SUM,    /* SUM of a column: widened as SQL Server widens it */
    RH_AVG,    /* AVG of a column */
    RH_PARAM,  /* a bare @parameter: the parameter's type */
};

struct rw_item {
    enum rw_hint hint;
    struct tds_type type; /* RH_TYPE */
    char name[129];       /* RH_COLUMN/RH_SUM/RH_AVG: column; RH_PARAM: "@p1" */
    bool anon;            /* an expression without alias: SQL Server sends an empty name */
};

#define RW_NAME_MAX 129

/* A parameter compared with a column (`col op @p`, `col [NOT] IN (@p, ...)`):
 * SQL Server converts it to the column's type, so exec.c binds it so. */
struct rw_pcol {
    char param[RW_NAME_MAX]; /* "@p1" */
    char column[RW_NAME_MAX];
};

struct rw_coldef {
    char name[129];
    struct tds_type type;
    bool nullable, identity;
};


struct rw_stmt {
    enum rw_kind kind;
    struct buf sql;            /* SQLite text, NUL-terminated */
    char target[RW_NAME_MAX];  /* USE database, CREATE/DROP TABLE name */
    bool info_schema;          /* refresh INFORMATION_SCHEMA temp tables before running */
    struct rw_item *items;     /* top-level select list, when items_valid */
    size_t n_items;
    bool items_valid;          /* false with '*' in the list: positions unknown */
    char (*from)[RW_NAME_MAX]; /* tables named after FROM / JOIN */
    size_t n_from;
    struct rw_coldef *cols;    /* RW_CREATE_TABLE */
    size_t n_cols;
    struct rw_pcol *pcols;     /* parameters compared with a column */
    size_t n_pcols;
};

struct rw_batch {
    struct rw_stmt *stmts;
    size_t n;
};

/* Rewrites a batch. dbname is the database the connection uses (its name
 * may prefix object names). 0, or -EINVAL with the error in *e; on error
 * *out holds nothing to free. */
int rw_batch_parse(struct rw_batch *out, const char *sql, size_t len, const char *dbname,
                   struct tds_error *e) MUST_CHECK;
void rw_batch_fini(struct rw_batch *b);

/* Parses sp_executesql's @params ("@P1 int, @d datetime2(7) OUTPUT") into
 * lower-case names ("@p1"). *names is malloc'ed; -EINVAL with *e set. */
int rw_params_decl(const char *decl, size_t len, char (**names)[RW_NAME_MAX], size_t *n,
                   struct tds_error *e) MUST_CHECK;

/* Appends name as a quoted SQLite identifier ("a""b" for a"b), as rewritten
 * statements name tables and columns; the generator and churn use it too. */
void rw_ident_put(struct buf *b, const char *name);
