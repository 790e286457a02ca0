/*
 * Statements on SQLite, results as TDS tokens.
 *
 * A SELECT is stepped once before COLMETADATA goes out: the first row lets
 * expression columns without a declared type be typed by their value. Every
 * other column is typed, in this order, by the catalog (origin table and
 * column), the rewrite's hint (COUNT_BIG -> bigint, MAX(col) -> col's type,
 * CAST(x AS t) -> t, ...), or SQLite's declared type.
 */
#include "session.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

void exec_done_flush(struct tds_session *s, bool more)
{
    if (!s->done_pending)
        return;
    tds_tok_done(&s->conn, s->done_token, (uint16_t)(s->done_status | (more ? TDS_DONE_MORE : 0)),
                 0, s->done_rows);
    s->done_pending = false;
}

static void done_hold(struct tds_session *s, bool in_proc, uint16_t status, uint64_t rows)
{
    exec_done_flush(s, true);
    s->done_pending = true;
    s->done_token = in_proc ? TDS_TOK_DONEINPROC : TDS_TOK_DONE;
    s->done_status = status;
    s->done_rows = rows;
}

void exec_error(struct tds_session *s, const struct tds_error *e, bool in_proc)
{
    exec_done_flush(s, true);
    tds_tok_message(&s->conn, true, e, in_proc ? "sp_executesql" : NULL);
    done_hold(s, in_proc, TDS_DONE_ERROR, 0);
}

static void info(struct tds_session *s, int32_t number, const char *fmt, const char *arg)
{
    struct tds_error e;
    tds_error_set(&e, number, 0, fmt, arg);
    tds_tok_message(&s->conn, false, &e, NULL);
}

/* The one place where SQLite's errors become SQL Server's. */
static void error_from_sqlite(sqlite3 *db, struct tds_error *e)
{
    const char *m = sqlite3_errmsg(db);
    const char *p;
    if ((p = strstr(m, "no such table: "))) {
        const char *name = p + 15;
        if (strncmp(name, "main.", 5) == 0)
            name += 5;
        tds_error_set(e, 208, 16, "Invalid object name '%s'.", name);
    } else if ((p = strstr(m, "no such column: "))) {
        const char *dot = strrchr(p + 16, '.');
        tds_error_set(e, 207, 16, "Invalid column name '%s'.", dot ? dot + 1 : p + 16);
    } else if ((p = strstr(m, "no such function: "))) {
        tds_error_set(e, 195, 15, "'%s' is not a recognized built-in function name.", p + 18);
    } else if ((p = strstr(m, "near \""))) {
        const char *q = strchr(p + 6, '"');
        tds_error_set(e, 102, 15, "Incorrect syntax near '%.*s'.", q ? (int)(q - p - 6) : 0, p + 6);
    } else if (strstr(m, "incomplete input")) {
        tds_error_set(e, 102, 15, "Incorrect syntax near the end of the batch.");
    } else if ((p = strstr(m, "already exists"))) {
        const char *q = strstr(m, "table ");
        tds_error_set(e, 2714, 16, "There is already an object named '%s' in the database.",
                      q ? q + 6 : m);
        char *x = strstr(e->msg, " already exists");
        if (x)
            snprintf(x, sizeof e->msg - (size_t)(x - e->msg), "' in the database.");
    } else if ((p = strstr(m, "UNIQUE constraint failed: "))) {
        tds_error_set(e, 2627, 14,
                      "Violation of PRIMARY KEY or UNIQUE KEY constraint. Cannot insert duplicate "
                      "key (%s).",
                      p + 26);
    } else if ((p = strstr(m, "NOT NULL constraint failed: "))) {
        tds_error_set(e, 515, 16,
                      "Cannot insert the value NULL into column '%s'; column does not allow nulls.",
                      p + 28);
    } else if (strstr(m, "cannot commit - no transaction") ||
               strstr(m, "cannot rollback - no transaction")) {
        tds_error_set(e, m[7] == 'c' ? 3902 : 3903, 16,
                      "The %s TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                      m[7] == 'c' ? "COMMIT" : "ROLLBACK");
    } else {
        tds_error_set(e, 50000, 16, "%s", m);
    }
}

static const struct tds_type *catalog_lookup(struct tds_session *s, const char *table,
                                             const char *column, struct tds_type *t,
                                             bool *nullable)
{
    return catalog_column_type(s->db, table, column, t, nullable) == 0 ? t : NULL;
}

/* The declared type of the column parameter `name` is compared with, if
 * the rewrite saw one and a table of the statement has it. */
static const struct tds_type *compared_type(struct tds_session *s, const struct rw_stmt *rs, const char *name,
                                            struct tds_type *t)
{
    bool nullable;
    for (size_t i = 0; rs && i < rs->n_pcols; i++) {
        if (strcasecmp(rs->pcols[i].param, name) != 0)
            continue;
        for (size_t k = 0; k < rs->n_from; k++)
            if (catalog_lookup(s, rs->from[k], rs->pcols[i].column, t, &nullable))
                return t;
    }
    return NULL;
}

static int bind_params(struct tds_session *s, const struct rw_stmt *rs, sqlite3_stmt *st,
                       const struct tds_params *ps, struct tds_error *e)
{
    int n = sqlite3_bind_parameter_count(st);
    for (int i = 1; i <= n; i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        const struct tds_param *p = NULL;
        for (size_t k = 0; ps && name && k < ps->n; k++)
            if (strcasecmp(ps->p[k].name, name) == 0)
                p = &ps->p[k];
        if (!p) {
            tds_error_set(e, 137, 15, "Must declare the scalar variable \"%s\".",
                          name ? name : "?");
            return -EINVAL;
        }
        const uint8_t *bytes = buf_data(&ps->arena) + p->off;
        switch (p->cls) {
        case TDS_VAL_NULL:
            sqlite3_bind_null(st, i);
            break;
        case TDS_VAL_INT:
            sqlite3_bind_int64(st, i, p->i);
            break;
        case TDS_VAL_REAL:
            sqlite3_bind_double(st, i, p->d);
            break;
        case TDS_VAL_TEXT: {
            struct tds_type t;
            int rc = tds_text_param_bind(st, i, (const char *)bytes, p->len,
                                         compared_type(s, rs, name, &t), e);
            if (rc == -EIO) /* SQLite's own failure: e is not set */
                error_from_sqlite(s->db, e);
            if (rc < 0)
                return -EINVAL;
            break;
        }
        case TDS_VAL_BLOB:
            sqlite3_bind_blob(st, i, bytes, (int)p->len, SQLITE_STATIC);
            break;
        }
    }
    return 0;
}

/* SQL Server's result type of SUM/AVG over a column of type t. */
static void widen(enum rw_hint h, struct tds_type *t)
{
    if (t->kind == TK_INT && t->size < 4)
        t->size = 4;
    else if (t->kind == TK_DECIMAL) {
        if (h == RH_AVG && t->scale < 6)
            t->scale = 6;
        t->precision = 38;
    } else if (t->kind == TK_BIT) {
        *t = (struct tds_type){.kind = TK_INT, .size = 4};
    }
}

static bool type_from_hint(struct tds_session *s, const struct rw_stmt *rs,
                           const struct tds_params *ps, size_t col, struct tds_type *t)
{
    if (!rs || !rs->items_valid || col >= rs->n_items)
        return false;
    const struct rw_item *it = &rs->items[col];
    bool nullable;
    switch (it->hint) {
    case RH_TYPE:
        *t = it->type;
        return true;
    case RH_COLUMN:
    case RH_SUM:
    case RH_AVG:
        for (size_t k = 0; k < rs->n_from; k++)
            if (catalog_lookup(s, rs->from[k], it->name, t, &nullable)) {
                if (it->hint != RH_COLUMN)
                    widen(it->hint, t);
                return true;
            }
        return false;
    case RH_PARAM:
        for (size_t k = 0; ps && k < ps->n; k++)
            if (strcasecmp(ps->p[k].name, it->name) == 0) {
                *t = ps->p[k].type;
                return true;
            }
        return false;
    case RH_NONE:
        break;
    }
    return false;
}

/* Last resort: the storage class of the first row's value. */
static void type_from_value(sqlite3_stmt *st, int col, bool have_row, struct tds_type *t)
{
    int cls = have_row ? sqlite3_column_type(st, col) : SQLITE_NULL;
    switch (cls) {
    case SQLITE_INTEGER: {
        sqlite3_int64 v = sqlite3_column_int64(st, col);
        *t = (struct tds_type){.kind = TK_INT, .size = v >= INT32_MIN && v <= INT32_MAX ? 4 : 8};
        break;
    }
    case SQLITE_FLOAT:
        *t = (struct tds_type){.kind = TK_FLOAT, .size = 8};
        break;
    case SQLITE_BLOB:
        *t = (struct tds_type){.kind = TK_VARBINARY, .length = TDS_LEN_MAX};
        break;
    case SQLITE_TEXT:
        *t = (struct tds_type){.kind = TK_NVARCHAR, .length = TDS_LEN_MAX};
        break;
    default:
        *t = (struct tds_type){.kind = TK_INT, .size = 4}; /* SELECT NULL is an int in SQL Server */
    }
}

static void columns_resolve(struct tds_session *s, sqlite3_stmt *st, const struct rw_stmt *rs,
                            const struct tds_params *ps, bool have_row, struct tds_column *cols,
                            int n)
{
    for (int i = 0; i < n; i++) {
        struct tds_column *c = &cols[i];
        c->nullable = true;
        const char *name = sqlite3_column_name(st, i);
        bool anon = rs && rs->items_valid && (size_t)i < rs->n_items && rs->items[i].anon;
        snprintf(c->name, sizeof c->name, "%s", anon || !name ? "" : name);
        const char *tbl = sqlite3_column_table_name(st, i);
        const char *org = sqlite3_column_origin_name(st, i);
        if (tbl && org && catalog_lookup(s, tbl, org, &c->type, &c->nullable))
            continue;
        if (type_from_hint(s, rs, ps, (size_t)i, &c->type))
            continue;
        const char *decl = sqlite3_column_decltype(st, i);
        if (decl && tds_type_parse(decl, strlen(decl), &c->type) == 0)
            continue;
        type_from_value(st, i, have_row, &c->type);
    }
}

static void cell_read(sqlite3_stmt *st, int i, struct tds_val *v)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        *v = (struct tds_val){.cls = TDS_VAL_INT, .i = sqlite3_column_int64(st, i)};
        break;
    case SQLITE_FLOAT:
        *v = (struct tds_val){.cls = TDS_VAL_REAL, .d = sqlite3_column_double(st, i)};
        break;
    case SQLITE_TEXT:
        v->cls = TDS_VAL_TEXT;
        v->p = sqlite3_column_text(st, i);
        v->len = (size_t)sqlite3_column_bytes(st, i);
        break;
    case SQLITE_BLOB:
        v->cls = TDS_VAL_BLOB;
        v->p = sqlite3_column_blob(st, i);
        v->len = (size_t)sqlite3_column_bytes(st, i);
        break;
    default:
        v->cls = TDS_VAL_NULL;
    }
}

/* One ROW, or an NBCROW when some value is NULL (its bitmap replaces the NULLs). */
static int row_put(struct tds_session *s, sqlite3_stmt *st, const struct tds_column *cols, int n,
                   struct tds_error *e)
{
    struct buf *row = &s->row;
    buf_reset(row);
    size_t bm_len = ((size_t)n + 7) / 8;
    bool any_null = false;
    buf_putc(row, 0);
    buf_reserve(row, bm_len);
    uint8_t *bm = buf_data(row) + 1;
    memset(bm, 0, bm_len);
    for (int i = 0; i < n; i++)
        if (sqlite3_column_type(st, i) == SQLITE_NULL) {
            bm[i / 8] |= (uint8_t)(1u << (i % 8));
            any_null = true;
        }
    buf_data(row)[0] = any_null ? 0xD2 : 0xD1;
    if (any_null)
        row->len += bm_len;
    for (int i = 0; i < n; i++) {
        if (any_null && (buf_data(row)[1 + i / 8] >> (i % 8) & 1))
            continue;
        struct tds_val v;
        cell_read(st, i, &v);
        if (tds_val_put(row, &cols[i].type, &v, &s->scratch, e) < 0)
            return -EINVAL;
    }
    tds_put(&s->conn, buf_data(row), row->len);
    return 0;
}

/* Streams a result set. 0, 1 (SQL error reported), -ECANCELED. */
static int query_stream(struct tds_session *s, sqlite3_stmt *st, const struct rw_stmt *rs,
                        const struct tds_params *ps, bool in_proc)
{
    struct tds_error e;
    int n = sqlite3_column_count(st);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        error_from_sqlite(s->db, &e);
        exec_error(s, &e, in_proc);
        return 1;
    }
    struct tds_column *cols = xcalloc((size_t)n, sizeof *cols);
    columns_resolve(s, st, rs, ps, rc == SQLITE_ROW, cols, n);
    exec_done_flush(s, true);
    tds_tok_colmetadata(&s->conn, cols, (size_t)n);
    uint64_t rows = 0;
    int out = 0;
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        if (s->conn.attention) {
            out = -ECANCELED;
            break;
        }
        if (row_put(s, st, cols, n, &e) < 0) {
            exec_error(s, &e, in_proc);
            out = 1;
            break;
        }
        rows++;
    }
    if (out == 0 && rc != SQLITE_DONE) {
        error_from_sqlite(s->db, &e);
        exec_error(s, &e, in_proc);
        out = 1;
    }
    if (out == 0)
        done_hold(s, in_proc, TDS_DONE_COUNT, rows);
    /* With the statement above it: the statement log says what each cost. */
    log_debug(LOG_TDS, "spid %u: %" PRIu64 " rows sent", s->conn.spid, rows);
    free(cols);
    return out;
}

static int run_sql(struct tds_session *s, const struct rw_stmt *rs, const struct tds_params *ps,
                   bool in_proc)
{
    struct tds_error e;
    sqlite3_stmt *st = NULL;
    /* Queries are kept prepared: clients repeat them (a poller's summary,
     * keyset pages). DML and DDL change the data or schema: prepared anew. */
    if (plans_prepare(&s->plans, s->db, (const char *)buf_data(&rs->sql), rs->sql.len,
                      rs->kind == RW_QUERY, &st) != SQLITE_OK) {
        error_from_sqlite(s->db, &e);
        exec_error(s, &e, in_proc);
        return 1;
    }
    if (!st) { /* nothing but comments */
        done_hold(s, in_proc, TDS_DONE_FINAL, 0);
        return 0;
    }
    int rc;
    if (bind_params(s, rs, st, ps, &e) < 0) {
        exec_error(s, &e, in_proc);
        rc = 1;
    } else if (sqlite3_column_count(st) > 0) {
        rc = query_stream(s, st, rs, ps, in_proc);
    } else if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
        error_from_sqlite(s->db, &e);
        exec_error(s, &e, in_proc);
        rc = 1;
    } else {
        bool counted = rs->kind == RW_DML;
        done_hold(s, in_proc, counted ? TDS_DONE_COUNT : TDS_DONE_FINAL,
                  counted ? (uint64_t)sqlite3_changes64(s->db) : 0);
        rc = 0;
    }
    plans_release(&s->plans, st);
    return rc;
}

/* CREATE TABLE and its catalog rows succeed or fail together. */
static int create_table(struct tds_session *s, const struct rw_stmt *rs, bool in_proc)
{
    sqlite3_exec(s->db, "SAVEPOINT tdslite_ddl", NULL, NULL, NULL);
    int rc = run_sql(s, rs, NULL, in_proc);
    for (size_t i = 0; rc == 0 && i < rs->n_cols; i++) {
        const struct rw_coldef *c = &rs->cols[i];
        if (catalog_column_add(s->db, rs->target, c->name, (int)i + 1, &c->type, c->nullable,
                               c->identity) < 0) {
            struct tds_error e;
            error_from_sqlite(s->db, &e);
            exec_error(s, &e, in_proc);
            rc = 1;
        }
    }
    sqlite3_exec(s->db, rc == 0 ? "RELEASE tdslite_ddl" : "ROLLBACK TO tdslite_ddl; RELEASE tdslite_ddl",
                 NULL, NULL, NULL);
    return rc;
}

static int use_db(struct tds_session *s, const struct rw_stmt *rs, bool in_proc)
{
    if (strcasecmp(rs->target, s->srv->database) != 0 && strcasecmp(rs->target, "master") != 0) {
        struct tds_error e;
        tds_error_set(&e, 911, 16,
                      "Database '%s' does not exist. Make sure that the name is entered correctly.",
                      rs->target);
        exec_error(s, &e, in_proc);
        return 1;
    }
    /* master is an alias of the one database there is */
    exec_done_flush(s, true);
    tds_tok_envchange_str(&s->conn, 1, s->srv->database, s->dbname);
    info(s, 5701, "Changed database context to '%s'.", s->srv->database);
    snprintf(s->dbname, sizeof s->dbname, "%s", s->srv->database);
    done_hold(s, in_proc, TDS_DONE_FINAL, 0);
    return 0;
}

static int tran(struct tds_session *s, const char *sql, bool in_proc)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        struct tds_error e;
        error_from_sqlite(s->db, &e);
        exec_error(s, &e, in_proc);
        return 1;
    }
    done_hold(s, in_proc, TDS_DONE_FINAL, 0);
    return 0;
}

static int exec_stmt(struct tds_session *s, const struct rw_stmt *rs, const struct tds_params *ps,
                     bool in_proc)
{
    struct tds_error e;
    if (rs->info_schema && catalog_info_schema_refresh(s->db, s->dbname) < 0) {
        error_from_sqlite(s->db, &e);
        exec_error(s, &e, in_proc);
        return 1;
    }
    switch (rs->kind) {
    case RW_IGNORE:
        done_hold(s, in_proc, TDS_DONE_FINAL, 0);
        return 0;
    case RW_USE:
        return use_db(s, rs, in_proc);
    case RW_BEGIN:
        return tran(s, "BEGIN", in_proc);
    case RW_COMMIT:
        return tran(s, "COMMIT", in_proc);
    case RW_ROLLBACK:
        return tran(s, "ROLLBACK", in_proc);
    case RW_CREATE_TABLE:
        return create_table(s, rs, in_proc);
    case RW_DROP_TABLE: {
        int rc = run_sql(s, rs, NULL, in_proc);
        if (rc == 0 && catalog_table_drop(s->db, rs->target) < 0)
            log_warn(LOG_TDS, "catalog cleanup of %s failed", rs->target);
        return rc;
    }
    case RW_QUERY:
    case RW_DML:
    case RW_DDL:
        return run_sql(s, rs, ps, in_proc);
    }
    return 0;
}

int exec_batch(struct tds_session *s, const char *sql, size_t len, const struct tds_params *ps,
               bool in_proc)
{
    struct rw_batch b;
    struct tds_error e;
    if (rw_batch_parse(&b, sql, len, s->dbname, &e) < 0) {
        exec_error(s, &e, in_proc);
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < b.n && rc == 0; i++) {
        log_debug(LOG_TDS, "spid %u: %s", s->conn.spid, (const char *)buf_data(&b.stmts[i].sql));
        rc = exec_stmt(s, &b.stmts[i], ps, in_proc);
    }
    rw_batch_fini(&b);
    if (rc == -ECANCELED)
        return rc;
    return s->conn.broken ? -EPIPE : rc;
}
