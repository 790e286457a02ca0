/*
 * The data generator: one table per model of the Prisma schema, with the
 * SQL Server types its fields declare (@db.NVarChar(50) -> nvarchar(50),
 * Float @db.Money -> money, DateTime @db.DateTime -> datetime, DateTime ->
 * datetime2(7), ...), primary and foreign keys, and rows in ConnectWise-like
 * proportions to the number of companies. Row ids are 1..rows of each table,
 * so a foreign key can be drawn before its target table is filled.
 *
 * Speed: one transaction, prepared statements, WAL with synchronous=OFF, and
 * indexes built after the rows are in.
 */
#include "gen.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "genvalue.h"
#include "log.h"
#include "rewrite.h"
#include "net.h"
#include "schema.h"

/* Rows of each model per company count n: ConnectWise-like proportions. */
static uint64_t model_rows(const char *model, uint64_t n)
{
    uint64_t products = n / 2 > 20 ? n / 2 : 20;
    if (strcmp(model, "Company") == 0)
        return n;
    if (strcmp(model, "Contact") == 0)
        return 3 * n;
    if (strcmp(model, "SoOpportunity") == 0)
        return n;
    if (strcmp(model, "CompanyAddress") == 0)
        return n + n / 5;
    if (strcmp(model, "Member") == 0)
        return n / 50 > 10 ? n / 50 : 10;
    if (strcmp(model, "ProductCatalog") == 0)
        return products;
    if (strcmp(model, "ProductInventory") == 0)
        return 2 * products;
    if (strcmp(model, "ItemVendor") == 0)
        return products * 3 / 2;
    if (strcmp(model, "PmProject") == 0)
        return n / 5 > 5 ? n / 5 : 5;
    /* lookup tables: a small fixed count (5..50) per table */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = model; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return 5 + h % 46;
}

/* The SQL Server type of a field: its @db type, else the Prisma default for SQL Server. */
static int field_type(const struct schema_model *m, const struct schema_field *f,
                      struct tds_type *t)
{
    if (f->db_type) {
        char low[64];
        size_t i = 0;
        for (; f->db_type[i] && i < sizeof low - 1; i++)
            low[i] = (char)tolower((unsigned char)f->db_type[i]);
        low[i] = '\0';
        if (tds_type_parse(low, i, t) == 0)
            return 0;
        log_error(LOG_TDS, "%s.%s: @db.%s is not a type tdslite can store", m->name, f->name,
                  f->db_type);
        return -EINVAL;
    }
    static const char *const defaults[] = {
        [SCHEMA_INT] = "int",          [SCHEMA_BIGINT] = "bigint",
        [SCHEMA_STRING] = "nvarchar(255)", [SCHEMA_BOOLEAN] = "bit",
        [SCHEMA_DATETIME] = "datetime2(7)", [SCHEMA_DECIMAL] = "decimal(32,16)",
        [SCHEMA_FLOAT] = "float",      [SCHEMA_BYTES] = "varbinary(max)",
    };
    const char *d = defaults[f->type];
    return tds_type_parse(d, strlen(d), t);
}

static uint64_t signature(const struct schema *s, const struct gen_opts *o)
{
    uint64_t h = 1469598103934665603ULL ^ o->companies ^ (o->seed * 0x9E3779B97F4A7C15ULL);
#define MIX(str)                                                                                   \
    for (const char *p_ = (str); p_ && *p_; p_++)                                                  \
        h = (h ^ (uint8_t)*p_) * 1099511628211ULL;
    for (size_t i = 0; i < s->n_models; i++) {
        MIX(s->models[i].table);
        for (size_t k = 0; k < s->models[i].n_fields; k++) {
            MIX(s->models[i].fields[k].column);
            MIX(s->models[i].fields[k].db_type);
        }
    }
#undef MIX
    return h;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
        return 0;
    log_error(LOG_TDS, "generate: %s: %s", err ? err : "?", sql);
    sqlite3_free(err);
    return -EIO;
}

/* The generator's view of one model: columns with roles and SQL types. */
static int table_build(const struct schema *s, const struct schema_model *m, uint64_t n,
                       uint64_t seed, struct gv_table *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", m->table);
    t->rows = model_rows(m->name, n);
    t->seed = seed ^ ((uint64_t)m->id + 1) * 0xD1B54A32D192ED03ULL;
    t->cols = xcalloc(m->n_fields, sizeof *t->cols);
    t->n_cols = m->n_fields;
    for (size_t i = 0; i < m->n_fields; i++) {
        const struct schema_field *f = &m->fields[i];
        struct gv_col *c = &t->cols[i];
        snprintf(c->name, sizeof c->name, "%s", f->column);
        if (field_type(m, f, &c->type) < 0)
            return -EINVAL;
        c->nullable = f->optional;
        c->role = f == m->pk ? GV_PK : GV_PLAIN;
    }
    for (size_t r = 0; r < m->n_relations; r++) {
        const struct schema_relation *rel = &m->relations[r];
        if (rel->to_many || !rel->fk)
            continue;
        struct gv_col *c = &t->cols[rel->fk->index];
        c->role = rel->target == m ? GV_SELF_FK : GV_FK;
        c->fk_max = model_rows(rel->target->name, n);
    }
    for (size_t i = 0; i < t->n_cols; i++)
        gv_col_classify(&t->cols[i]);
    (void)s;
    return 0;
}

static int table_create(sqlite3 *db, const struct schema_model *m, const struct gv_table *t)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "CREATE TABLE ");
    rw_ident_put(&b, t->name);
    buf_puts(&b, " (");
    for (size_t i = 0; i < t->n_cols; i++) {
        const struct gv_col *c = &t->cols[i];
        if (i)
            buf_puts(&b, ", ");
        rw_ident_put(&b, c->name);
        buf_printf(&b, " %s", tds_type_sqlite_decl(&c->type));
        if (c->role == GV_PK)
            buf_puts(&b, " PRIMARY KEY"); /* INTEGER PRIMARY KEY: the rowid itself */
        else if (!c->nullable)
            buf_puts(&b, " NOT NULL");
        if (c->type.kind == TK_GUID)
            buf_puts(&b, " COLLATE GUID"); /* SQL Server's GUID order (collation.c) */
        else if (tds_type_is_text(&c->type))
            buf_puts(&b, " COLLATE NOCASE"); /* SQL Server's usual _CI_ collations */
    }
    for (size_t r = 0; r < m->n_relations; r++) {
        const struct schema_relation *rel = &m->relations[r];
        if (rel->to_many || !rel->fk || !rel->target->pk)
            continue;
        buf_puts(&b, ", FOREIGN KEY (");
        rw_ident_put(&b, rel->fk->column);
        buf_puts(&b, ") REFERENCES ");
        rw_ident_put(&b, rel->target->table);
        buf_putc(&b, '(');
        rw_ident_put(&b, rel->target->pk->column);
        buf_putc(&b, ')');
    }
    buf_puts(&b, ")");
    buf_putc(&b, '\0');
    int rc = exec(db, (const char *)buf_data(&b));
    buf_fini(&b);
    for (size_t i = 0; rc == 0 && i < t->n_cols; i++)
        rc = catalog_column_add(db, t->name, t->cols[i].name, (int)i + 1, &t->cols[i].type,
                                t->cols[i].nullable && t->cols[i].role != GV_PK, false);
    return rc;
}

static int table_fill(sqlite3 *db, const struct gv_table *t, uint64_t seed)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "INSERT INTO ");
    rw_ident_put(&b, t->name);
    buf_puts(&b, " VALUES (");
    for (size_t i = 0; i < t->n_cols; i++)
        buf_puts(&b, i ? ", ?" : "?");
    buf_puts(&b, ")");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, (const char *)buf_data(&b), (int)b.len, &st, NULL);
    buf_fini(&b);
    if (rc != SQLITE_OK) {
        log_error(LOG_TDS, "generate %s: %s", t->name, sqlite3_errmsg(db));
        return -EIO;
    }
    struct rng r;
    rng_seed(&r, seed, t->name);
    struct gv_clock clk = {0};
    for (uint64_t id = 1; id <= t->rows; id++) {
        gv_row_bind(st, t, id, &r, &clk);
        if (sqlite3_step(st) != SQLITE_DONE) {
            log_error(LOG_TDS, "generate %s row %" PRIu64 ": %s", t->name, id, sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return -EIO;
        }
        sqlite3_reset(st);
        if (id % 65536 == 0 && net_stop_requested()) {
            sqlite3_finalize(st);
            return -EINTR;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

/* Indexes for what the poller and the live fallback ask: keyset pages on the
 * cursor column and lookups by foreign key. */
static int table_index(sqlite3 *db, const struct schema_model *m)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = 0;
    if (m->cursor && m->pk) {
        buf_printf(&b, "CREATE INDEX \"ix_%s_cursor\" ON ", m->table);
        rw_ident_put(&b, m->table);
        buf_putc(&b, '(');
        rw_ident_put(&b, m->cursor->column);
        buf_puts(&b, ", ");
        rw_ident_put(&b, m->pk->column);
        buf_puts(&b, ")");
        buf_putc(&b, '\0');
        rc = exec(db, (const char *)buf_data(&b));
    }
    for (size_t r = 0; rc == 0 && r < m->n_relations; r++) {
        const struct schema_relation *rel = &m->relations[r];
        if (rel->to_many || !rel->fk)
            continue;
        buf_reset(&b);
        buf_printf(&b, "CREATE INDEX IF NOT EXISTS \"ix_%s_%s\" ON ", m->table, rel->fk->column);
        rw_ident_put(&b, m->table);
        buf_putc(&b, '(');
        rw_ident_put(&b, rel->fk->column);
        buf_puts(&b, ")");
        buf_putc(&b, '\0');
        rc = exec(db, (const char *)buf_data(&b));
    }
    buf_fini(&b);
    return rc;
}

/* True when path already holds the data set with this signature. */
static bool already_there(const char *path, uint64_t sig)
{
    if (access(path, F_OK) != 0)
        return false;
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return false;
    }
    bool same = false;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT value FROM __tdslite_meta WHERE name = 'generated'", -1,
                           &st, NULL) == SQLITE_OK) {
        char want[32];
        snprintf(want, sizeof want, "%016" PRIx64, sig);
        same = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
               strcmp((const char *)sqlite3_column_text(st, 0), want) == 0;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return same;
}

static void remove_db(const char *path)
{
    char p[4096];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int generate(sqlite3 *db, const struct schema *s, const struct gen_opts *o, uint64_t sig)
{
    /* A fresh file that is deleted on any failure needs no journal: without
     * one, the rows are written once instead of once to the WAL and again to
     * the file (gigabytes at 1M companies). WAL comes back at the end. */
    if (exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;"
                 " PRAGMA temp_store=MEMORY;") < 0 ||
        catalog_ensure(db) < 0 || exec(db, "BEGIN") < 0)
        return -EIO;
    uint64_t total = 0;
    double t0 = now_s();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n_models; i++) {
        const struct schema_model *m = &s->models[i];
        struct gv_table t;
        double t1 = now_s();
        rc = table_build(s, m, o->companies, o->seed, &t);
        if (rc == 0)
            rc = table_create(db, m, &t);
        if (rc == 0)
            rc = table_fill(db, &t, o->seed);
        if (rc == 0)
            rc = table_index(db, m);
        if (rc == 0 && !o->quiet && t.rows >= 10000)
            log_info(LOG_TDS, "generate: %-28s %10" PRIu64 " rows in %.1f s", t.name, t.rows,
                     now_s() - t1);
        total += t.rows;
        free(t.cols);
    }
    if (rc == 0) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "INSERT OR REPLACE INTO __tdslite_meta VALUES ('generated', '%016" PRIx64 "'),"
                 " ('companies', '%" PRIu64 "'), ('seed', '%" PRIu64 "')",
                 sig, o->companies, o->seed);
        rc = exec(db, sql);
    }
    if (rc == 0)
        rc = exec(db, "COMMIT");
    if (rc == 0 && !o->quiet)
        log_info(LOG_TDS, "generate: %" PRIu64 " rows in %zu tables in %.1f s", total, s->n_models,
                 now_s() - t0);
    return rc;
}

int gen_run(const struct gen_opts *o)
{
    struct schema *s;
    char err[512];
    if (schema_load(&s, o->schema_path, err, sizeof err) < 0) {
        log_error(LOG_TDS, "--schema: %s", err);
        return -EINVAL;
    }
    uint64_t sig = signature(s, o);
    if (already_there(o->db_path, sig)) {
        if (!o->quiet)
            log_info(LOG_TDS, "generate: %s already holds this data set", o->db_path);
        schema_free(s);
        return 0;
    }
    remove_db(o->db_path);
    sqlite3 *db;
    int rc = catalog_open(&db, o->db_path, "generate", 0, true);
    if (rc == 0) {
        rc = generate(db, s, o, sig);
        if (rc == 0)
            rc = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
        sqlite3_close(db);
    }
    if (rc < 0)
        remove_db(o->db_path); /* never leave a half-made data set behind */
    schema_free(s);
    return rc;
}
