/*
 * DESIGN: SQLite stores loosely typed values; clients must see SQL Server's
 * declared types. Each table column therefore has two types:
 *   - a SQLite storage type chosen for exact values and correct ordering
 *     (INTEGER for integers and bit, REAL for float, TEXT for strings, dates
 *     and GUIDs, BLOB for binary, none for decimal/money: numbers stay numbers
 *     and decimals too long for a double stay exact text);
 *   - the declared SQL Server type, kept in __tdslite_columns.
 * Result columns find their declared type through SQLite's column metadata
 * (origin table and column). Dates are stored as 'YYYY-MM-DD HH:MM:SS.fffffff'
 * (100 ns ticks; datetime's 1/300 s values round-trip exactly), which sorts
 * and compares as text in time order.
 */
#include "tdslite.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

static const char catalog_sql[] =
    "CREATE TABLE IF NOT EXISTS __tdslite_columns ("
    " table_name nvarchar(128) NOT NULL COLLATE NOCASE,"
    " column_name nvarchar(128) NOT NULL COLLATE NOCASE,"
    " ordinal int NOT NULL,"
    " sql_type nvarchar(128) NOT NULL,"
    " nullable bit NOT NULL,"
    " is_identity bit NOT NULL DEFAULT 0,"
    " PRIMARY KEY (table_name, column_name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS __tdslite_meta ("
    " name nvarchar(64) NOT NULL PRIMARY KEY, value nvarchar(4000)) WITHOUT ROWID;";

int catalog_ensure(sqlite3 *db)
{
    char *err = NULL;
    if (sqlite3_exec(db, catalog_sql, NULL, NULL, &err) != SQLITE_OK) {
        log_error(LOG_TDS, "catalog: %s", err ? err : "?");
        sqlite3_free(err);
        return -EIO;
    }
    return 0;
}

int catalog_column_add(sqlite3 *db, const char *table, const char *column, int ordinal,
                       const struct tds_type *t, bool nullable, bool identity)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO __tdslite_columns(table_name, column_name, "
                           "ordinal, sql_type, nullable, is_identity) VALUES (?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    char decl[64];
    tds_type_format(t, decl, sizeof decl);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, ordinal);
    sqlite3_bind_text(st, 4, decl, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, nullable);
    sqlite3_bind_int(st, 6, identity);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(st);
    return rc;
}

int catalog_table_drop(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM __tdslite_columns WHERE table_name = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(st);
    return rc;
}

int catalog_column_type(sqlite3 *db, const char *table, const char *column, struct tds_type *t,
                        bool *nullable)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT sql_type, nullable FROM __tdslite_columns "
                           "WHERE table_name = ? AND column_name = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    int rc = -ENOENT;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *decl = (const char *)sqlite3_column_text(st, 0);
        rc = decl && tds_type_parse(decl, strlen(decl), t) == 0 ? 0 : -EIO;
        *nullable = sqlite3_column_int(st, 1) != 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- INFORMATION_SCHEMA ---------------------------------------------------------------------- */

/* Temp tables (not views) so that their columns carry declared types. */
static const char info_schema_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS __tdslite_is_tables (TABLE_CATALOG nvarchar(128),"
    " TABLE_SCHEMA nvarchar(128), TABLE_NAME nvarchar(128), TABLE_TYPE varchar(10));"
    "CREATE TEMP TABLE IF NOT EXISTS __tdslite_is_columns (TABLE_CATALOG nvarchar(128),"
    " TABLE_SCHEMA nvarchar(128), TABLE_NAME nvarchar(128), COLUMN_NAME nvarchar(128),"
    " ORDINAL_POSITION int, COLUMN_DEFAULT nvarchar(4000), IS_NULLABLE varchar(3),"
    " DATA_TYPE nvarchar(128), CHARACTER_MAXIMUM_LENGTH int, CHARACTER_OCTET_LENGTH int,"
    " NUMERIC_PRECISION tinyint, NUMERIC_SCALE int, DATETIME_PRECISION smallint,"
    " COLLATION_NAME nvarchar(128));"
    "CREATE TEMP TABLE IF NOT EXISTS __tdslite_is_key_column_usage (CONSTRAINT_CATALOG"
    " nvarchar(128), CONSTRAINT_SCHEMA nvarchar(128), CONSTRAINT_NAME nvarchar(128),"
    " TABLE_CATALOG nvarchar(128), TABLE_SCHEMA nvarchar(128), TABLE_NAME nvarchar(128),"
    " COLUMN_NAME nvarchar(128), ORDINAL_POSITION int);"
    "CREATE TEMP TABLE IF NOT EXISTS __tdslite_is_table_constraints (CONSTRAINT_CATALOG"
    " nvarchar(128), CONSTRAINT_SCHEMA nvarchar(128), CONSTRAINT_NAME nvarchar(128),"
    " TABLE_CATALOG nvarchar(128), TABLE_SCHEMA nvarchar(128), TABLE_NAME nvarchar(128),"
    " CONSTRAINT_TYPE varchar(11));"
    "CREATE TEMP TABLE IF NOT EXISTS __tdslite_is_referential_constraints (CONSTRAINT_CATALOG"
    " nvarchar(128), CONSTRAINT_SCHEMA nvarchar(128), CONSTRAINT_NAME nvarchar(128),"
    " UNIQUE_CONSTRAINT_CATALOG nvarchar(128), UNIQUE_CONSTRAINT_SCHEMA nvarchar(128),"
    " UNIQUE_CONSTRAINT_NAME nvarchar(128), MATCH_OPTION varchar(7), UPDATE_RULE varchar(11),"
    " DELETE_RULE varchar(11));"
    "DELETE FROM temp.__tdslite_is_tables; DELETE FROM temp.__tdslite_is_columns;"
    "DELETE FROM temp.__tdslite_is_key_column_usage;"
    "DELETE FROM temp.__tdslite_is_table_constraints;"
    "DELETE FROM temp.__tdslite_is_referential_constraints;"
    "CREATE TEMP VIEW IF NOT EXISTS __tdslite_user_tables AS SELECT name FROM main.sqlite_master"
    " WHERE type = 'table' AND name NOT LIKE '\\_\\_tdslite%' ESCAPE '\\'"
    " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\';"
    "INSERT INTO temp.__tdslite_is_tables SELECT tdslite_db_name(), 'dbo', name, 'BASE TABLE'"
    " FROM temp.__tdslite_user_tables;"
    "INSERT INTO temp.__tdslite_is_columns SELECT tdslite_db_name(), 'dbo', t.name, p.name,"
    " p.cid + 1, p.dflt_value,"
    " CASE WHEN coalesce(c.nullable, p.\"notnull\" = 0 AND p.pk = 0) THEN 'YES' ELSE 'NO' END,"
    " tdslite_type_info(coalesce(c.sql_type, p.type), 'name'),"
    " tdslite_type_info(coalesce(c.sql_type, p.type), 'maxlen'),"
    " tdslite_type_info(coalesce(c.sql_type, p.type), 'octets'),"
    " tdslite_type_info(coalesce(c.sql_type, p.type), 'precision'),"
    " tdslite_type_info(coalesce(c.sql_type, p.type), 'scale'),"
    " tdslite_type_info(coalesce(c.sql_type, p.type), 'dtprecision'),"
    " tdslite_type_info(coalesce(c.sql_type, p.type), 'collation')"
    " FROM temp.__tdslite_user_tables t JOIN pragma_table_info(t.name) p"
    " LEFT JOIN main.__tdslite_columns c ON c.table_name = t.name AND c.column_name = p.name;"
    "INSERT INTO temp.__tdslite_is_key_column_usage SELECT tdslite_db_name(), 'dbo',"
    " 'PK_' || t.name, tdslite_db_name(), 'dbo', t.name, p.name, p.pk"
    " FROM temp.__tdslite_user_tables t JOIN pragma_table_info(t.name) p WHERE p.pk > 0"
    " UNION ALL SELECT tdslite_db_name(), 'dbo', 'FK_' || t.name || '_' || f.\"table\" || '_' ||"
    " f.id, tdslite_db_name(), 'dbo', t.name, f.\"from\", f.seq + 1"
    " FROM temp.__tdslite_user_tables t JOIN pragma_foreign_key_list(t.name) f;"
    "INSERT INTO temp.__tdslite_is_table_constraints SELECT DISTINCT tdslite_db_name(), 'dbo',"
    " 'PK_' || t.name, tdslite_db_name(), 'dbo', t.name, 'PRIMARY KEY'"
    " FROM temp.__tdslite_user_tables t JOIN pragma_table_info(t.name) p WHERE p.pk > 0"
    " UNION ALL SELECT DISTINCT tdslite_db_name(), 'dbo', 'FK_' || t.name || '_' || f.\"table\""
    " || '_' || f.id, tdslite_db_name(), 'dbo', t.name, 'FOREIGN KEY'"
    " FROM temp.__tdslite_user_tables t JOIN pragma_foreign_key_list(t.name) f;"
    "INSERT INTO temp.__tdslite_is_referential_constraints SELECT DISTINCT tdslite_db_name(),"
    " 'dbo', 'FK_' || t.name || '_' || f.\"table\" || '_' || f.id, tdslite_db_name(), 'dbo',"
    " 'PK_' || f.\"table\", 'SIMPLE', upper(f.on_update), upper(f.on_delete)"
    " FROM temp.__tdslite_user_tables t JOIN pragma_foreign_key_list(t.name) f;";

int catalog_info_schema_refresh(sqlite3 *db, const char *dbname)
{
    (void)dbname; /* tdslite_db_name() already knows it */
    char *err = NULL;
    if (sqlite3_exec(db, info_schema_sql, NULL, NULL, &err) != SQLITE_OK) {
        log_error(LOG_TDS, "INFORMATION_SCHEMA: %s", err ? err : "?");
        sqlite3_free(err);
        return -EIO;
    }
    return 0;
}

/* ---- SQL functions ----------------------------------------------------------------------------- */

struct fn_ctx {
    char dbname[129];
    int spid;
};

static void now_when(bool utc, bool datetime_precision, struct tds_when *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    if (utc)
        gmtime_r(&ts.tv_sec, &tm);
    else
        localtime_r(&ts.tv_sec, &tm);
    w->days = tds_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
    w->ticks = ((uint64_t)tm.tm_hour * 3600 + (uint64_t)tm.tm_min * 60 + (uint64_t)tm.tm_sec) *
                   10000000ULL +
               (uint64_t)ts.tv_nsec / 100;
    int32_t d;
    uint32_t t300;
    if (datetime_precision && tds_when_to_datetime(w, &d, &t300) == 0)
        tds_when_from_datetime(d, t300, w);
}

static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    intptr_t mode = (intptr_t)sqlite3_user_data(ctx);
    struct tds_when w;
    now_when(mode & 1, mode & 2, &w);
    char out[28];
    tds_when_format(&w, false, out);
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

static void fn_db_name(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    struct fn_ctx *f = sqlite3_user_data(ctx);
    sqlite3_result_text(ctx, f->dbname, -1, SQLITE_STATIC);
}

static void fn_spid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    struct fn_ctx *f = sqlite3_user_data(ctx);
    sqlite3_result_int(ctx, f->spid);
}

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    char v[300];
    snprintf(v, sizeof v,
             "Microsoft SQL Server 2022 (RTM) - 16.0.2000 (X64)\n\ttdslite: a TDS 7.4 test "
             "server backed by SQLite %s",
             sqlite3_libversion());
    sqlite3_result_text(ctx, v, -1, SQLITE_TRANSIENT);
}

static void fn_trancount(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int(ctx, !sqlite3_get_autocommit(sqlite3_context_db_handle(ctx)));
}

static void fn_datalength(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    int t = sqlite3_value_type(argv[0]);
    if (t == SQLITE_NULL)
        return;
    if (t == SQLITE_TEXT) {
        const char *s = (const char *)sqlite3_value_text(argv[0]);
        sqlite3_result_int64(ctx, (sqlite3_int64)utf8_utf16_units(
                                      s, (size_t)sqlite3_value_bytes(argv[0])) * 2);
        return;
    }
    sqlite3_result_int(ctx, sqlite3_value_bytes(argv[0]));
}

static void fn_newid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    uint8_t g[16];
    sqlite3_randomness(16, g);
    g[7] = (uint8_t)((g[7] & 0x0F) | 0x40); /* version 4, in SQL Server's byte order */
    g[8] = (uint8_t)((g[8] & 0x3F) | 0x80);
    char out[37];
    tds_guid_format(g, out);
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

static void fn_charindex(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *needle = (const char *)sqlite3_value_text(argv[0]);
    const char *hay = (const char *)sqlite3_value_text(argv[1]);
    if (!needle || !hay)
        return;
    long start = argc > 2 ? (long)sqlite3_value_int64(argv[2]) - 1 : 0;
    size_t hl = strlen(hay), nl = strlen(needle);
    if (start < 0)
        start = 0;
    for (size_t i = (size_t)start; nl && i + nl <= hl; i++)
        if (strncasecmp(hay + i, needle, nl) == 0) {
            sqlite3_result_int64(ctx, (sqlite3_int64)i + 1);
            return;
        }
    sqlite3_result_int(ctx, 0);
}

/* tdslite_type_info(decl, field): INFORMATION_SCHEMA.COLUMNS facts of a declared type. */
static void fn_type_info(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *decl = (const char *)sqlite3_value_text(argv[0]);
    const char *field = (const char *)sqlite3_value_text(argv[1]);
    struct tds_type t;
    if (!decl || !field || tds_type_parse(decl, strlen(decl), &t) < 0)
        return;
    bool chars = tds_type_is_text(&t) || t.kind == TK_VARBINARY;
    if (strcmp(field, "name") == 0) {
        sqlite3_result_text(ctx, tds_type_name(&t), -1, SQLITE_STATIC);
    } else if (strcmp(field, "maxlen") == 0 || strcmp(field, "octets") == 0) {
        if (!chars)
            return;
        int64_t n = t.length == TDS_LEN_MAX ? -1 : (int64_t)t.length;
        if (field[0] == 'o' && n > 0 && t.kind == TK_NVARCHAR)
            n *= 2;
        sqlite3_result_int64(ctx, n);
    } else if (strcmp(field, "precision") == 0) {
        static const int int_prec[9] = {0, 3, 5, 0, 10, 0, 0, 0, 19};
        int p = t.kind == TK_INT       ? int_prec[t.size]
                : t.kind == TK_DECIMAL ? t.precision
                : t.kind == TK_MONEY   ? (t.size == 8 ? 19 : 10)
                : t.kind == TK_FLOAT   ? (t.size == 8 ? 53 : 24)
                                       : -1;
        if (p >= 0)
            sqlite3_result_int(ctx, p);
    } else if (strcmp(field, "scale") == 0) {
        if (t.kind == TK_INT)
            sqlite3_result_int(ctx, 0);
        else if (t.kind == TK_DECIMAL)
            sqlite3_result_int(ctx, t.scale);
        else if (t.kind == TK_MONEY)
            sqlite3_result_int(ctx, 4);
    } else if (strcmp(field, "dtprecision") == 0) {
        if (t.kind == TK_DATETIME)
            sqlite3_result_int(ctx, t.size == 8 ? 3 : 0);
        else if (t.kind == TK_DATETIME2)
            sqlite3_result_int(ctx, t.scale);
        else if (t.kind == TK_DATE)
            sqlite3_result_int(ctx, 0);
    } else if (strcmp(field, "collation") == 0 && tds_type_is_text(&t)) {
        sqlite3_result_text(ctx, "SQL_Latin1_General_CP1_CI_AS", -1, SQLITE_STATIC);
    }
}

/* CONCAT(a, b, ...): T-SQL treats NULL as an empty string (Prisma's
 * contains/startsWith/endsWith send LIKE CONCAT('%', @P1, '%')). */
static void fn_concat(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < argc; i++)
        if (sqlite3_value_type(argv[i]) != SQLITE_NULL)
            buf_append(&b, sqlite3_value_text(argv[i]), (size_t)sqlite3_value_bytes(argv[i]));
    sqlite3_result_text(ctx, b.len ? (const char *)buf_data(&b) : "", (int)b.len, SQLITE_TRANSIENT);
    buf_fini(&b);
}

int catalog_functions_register(sqlite3 *db, const char *dbname, int spid)
{
    struct fn_ctx *f = xcalloc(1, sizeof *f);
    snprintf(f->dbname, sizeof f->dbname, "%s", dbname);
    f->spid = spid;
    const int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC, vol = SQLITE_UTF8;
    /* The context is freed with the connection, through the first registration. */
    int rc = sqlite3_create_function_v2(db, "tdslite_db_name", 0, det, f, fn_db_name, NULL, NULL,
                                        free);
    rc |= sqlite3_create_function(db, "tdslite_spid", 0, det, f, fn_spid, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_sysutcdatetime", 0, vol, (void *)1, fn_now, NULL,
                                  NULL);
    rc |= sqlite3_create_function(db, "tdslite_sysdatetime", 0, vol, (void *)0, fn_now, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_getutcdate", 0, vol, (void *)3, fn_now, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_getdate", 0, vol, (void *)2, fn_now, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_version", 0, det, NULL, fn_version, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_trancount", 0, vol, NULL, fn_trancount, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_datalength", 1, det, NULL, fn_datalength, NULL,
                                  NULL);
    rc |= sqlite3_create_function(db, "tdslite_newid", 0, vol, NULL, fn_newid, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_charindex", 2, det, NULL, fn_charindex, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_charindex", 3, det, NULL, fn_charindex, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_type_info", 2, det, NULL, fn_type_info, NULL, NULL);
    rc |= sqlite3_create_function(db, "tdslite_concat", -1, det, NULL, fn_concat, NULL, NULL);
    return rc == SQLITE_OK ? 0 : -EIO;
}

int catalog_open(sqlite3 **out, const char *path, const char *dbname, int spid, bool create)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        log_error(LOG_TDS, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -EIO;
    }
    /* WAL: the churn writer never blocks readers; readers see committed rows only. */
    sqlite3_busy_timeout(db, 10000);
    char *err = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &err) != SQLITE_OK ||
        catalog_functions_register(db, dbname, spid) < 0 || tds_collation_register(db) < 0) {
        log_error(LOG_TDS, "%s: %s", path, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        sqlite3_close(db);
        return -EIO;
    }
    *out = db;
    return 0;
}
