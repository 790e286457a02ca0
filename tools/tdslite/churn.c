/*
 * The churn simulator: what a busy ConnectWise instance does to its tables.
 * Inserts new rows, updates rows with Last_Update / Last_Update_UTC moved to
 * now (one in seven commits "late", dated 1-60 s in the past, as a long
 * transaction would), and hard-deletes rows of leaf tables (those no foreign
 * key points at). Tables are learnt from the data file itself (catalog and
 * foreign keys), so churn works on any generated file without the schema.
 */
#include "gen.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "genvalue.h"
#include "log.h"
#include "rewrite.h"

struct ctable {
    struct gv_table gt;
    char pk[129];
    bool leaf;       /* no foreign key points here: deletes are safe */
    bool stamped;    /* has Last_Update and/or Last_Update_UTC */
    uint64_t max_id;
    sqlite3_stmt *ins, *upd, *del;
    int upd_cols[4]; /* columns set by an update: the timestamps and one value */
    int n_upd;
};

struct cstate {
    sqlite3 *db;
    struct ctable *t;
    size_t n;
    struct rng r;
    uint64_t inserts, updates, deletes;
};

static sqlite3_stmt *prep(sqlite3 *db, struct buf *b)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, (const char *)buf_data(b), (int)b->len, &st, NULL) != SQLITE_OK)
        log_error(LOG_TDS, "churn: %s", sqlite3_errmsg(db));
    buf_reset(b);
    return st;
}

static uint64_t max_id(sqlite3 *db, const char *table, const char *pk)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "SELECT max(");
    rw_ident_put(&b, pk);
    buf_puts(&b, ") FROM ");
    rw_ident_put(&b, table);
    sqlite3_stmt *st = prep(db, &b);
    uint64_t v = 0;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    buf_fini(&b);
    return v;
}

/* Columns, key, foreign keys of one table, from the catalog and SQLite. */
static int ctable_load(struct cstate *cs, struct ctable *ct)
{
    struct buf b;
    buf_init(&b, 0);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db,
                           "SELECT p.name, c.sql_type, c.nullable, p.pk FROM pragma_table_info(?1) p"
                           " JOIN __tdslite_columns c ON c.table_name = ?1 AND c.column_name = p.name"
                           " ORDER BY p.cid",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, ct->gt.name, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        ct->gt.cols = xrealloc(ct->gt.cols, (ct->gt.n_cols + 1) * sizeof *ct->gt.cols);
        struct gv_col *c = &ct->gt.cols[ct->gt.n_cols++];
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s", (const char *)sqlite3_column_text(st, 0));
        const char *decl = (const char *)sqlite3_column_text(st, 1);
        if (!decl || tds_type_parse(decl, strlen(decl), &c->type) < 0)
            c->type = (struct tds_type){.kind = TK_NVARCHAR, .length = 50};
        c->nullable = sqlite3_column_int(st, 2) != 0;
        if (sqlite3_column_int(st, 3) == 1) {
            c->role = GV_PK;
            snprintf(ct->pk, sizeof ct->pk, "%s", c->name);
        }
    }
    sqlite3_finalize(st);
    if (!ct->pk[0] || ct->gt.n_cols == 0)
        return -ENOENT; /* not a generated table: left alone */
    ct->max_id = max_id(cs->db, ct->gt.name, ct->pk);
    ct->gt.rows = ct->max_id;
    buf_fini(&b);
    return 0;
}

/* Foreign keys give FK roles (and mark their targets as non-leaves). */
static void fks_load(struct cstate *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        cs->t[i].leaf = true;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db, "SELECT \"table\", \"from\" FROM pragma_foreign_key_list(?)", -1,
                           &st, NULL) != SQLITE_OK)
        return;
    for (size_t i = 0; i < cs->n; i++) {
        struct ctable *ct = &cs->t[i];
        sqlite3_bind_text(st, 1, ct->gt.name, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *target = (const char *)sqlite3_column_text(st, 0);
            const char *from = (const char *)sqlite3_column_text(st, 1);
            for (size_t k = 0; k < cs->n; k++) {
                if (strcmp(cs->t[k].gt.name, target) != 0)
                    continue;
                if (k != i)
                    cs->t[k].leaf = false;
                for (size_t c = 0; c < ct->gt.n_cols; c++)
                    if (strcmp(ct->gt.cols[c].name, from) == 0) {
                        ct->gt.cols[c].role = k == i ? GV_SELF_FK : GV_FK;
                        ct->gt.cols[c].fk_max = cs->t[k].max_id;
                    }
            }
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

static void stmts_build(struct cstate *cs, struct ctable *ct)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "INSERT INTO ");
    rw_ident_put(&b, ct->gt.name);
    buf_puts(&b, " VALUES (");
    for (size_t i = 0; i < ct->gt.n_cols; i++)
        buf_puts(&b, i ? ", ?" : "?");
    buf_puts(&b, ")");
    ct->ins = prep(cs->db, &b);
    /* update: the timestamps plus the first plain text column */
    for (size_t i = 0; i < ct->gt.n_cols && ct->n_upd < 4; i++) {
        const struct gv_col *c = &ct->gt.cols[i];
        if (c->role == GV_LAST_UPDATE || c->role == GV_LAST_UPDATE_UTC)
            ct->upd_cols[ct->n_upd++] = (int)i;
    }
    ct->stamped = ct->n_upd > 0;
    for (size_t i = 0; i < ct->gt.n_cols && ct->stamped; i++)
        if (ct->gt.cols[i].role == GV_PLAIN && tds_type_is_text(&ct->gt.cols[i].type)) {
            ct->upd_cols[ct->n_upd++] = (int)i;
            break;
        }
    buf_puts(&b, "UPDATE ");
    rw_ident_put(&b, ct->gt.name);
    buf_puts(&b, " SET ");
    for (int k = 0; k < ct->n_upd; k++) {
        if (k)
            buf_puts(&b, ", ");
        rw_ident_put(&b, ct->gt.cols[ct->upd_cols[k]].name);
        buf_printf(&b, " = ?%d", k + 1);
    }
    const char *where_fmt = " WHERE %s = (SELECT %s FROM %s WHERE %s >= ?%d ORDER BY %s LIMIT 1)";
    struct buf qt, qp;
    buf_init(&qt, 0);
    buf_init(&qp, 0);
    rw_ident_put(&qt, ct->gt.name);
    buf_putc(&qt, '\0');
    rw_ident_put(&qp, ct->pk);
    buf_putc(&qp, '\0');
    const char *t = (const char *)buf_data(&qt), *p = (const char *)buf_data(&qp);
    buf_printf(&b, where_fmt, p, p, t, p, ct->n_upd + 1, p);
    if (ct->stamped)
        ct->upd = prep(cs->db, &b);
    buf_reset(&b);
    buf_printf(&b, "DELETE FROM %s", t);
    buf_printf(&b, where_fmt, p, p, t, p, 1, p);
    ct->del = prep(cs->db, &b);
    buf_fini(&qt);
    buf_fini(&qp);
    buf_fini(&b);
}

static void cstate_free(struct cstate *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        sqlite3_finalize(cs->t[i].ins);
        sqlite3_finalize(cs->t[i].upd);
        sqlite3_finalize(cs->t[i].del);
        free(cs->t[i].gt.cols);
    }
    free(cs->t);
    sqlite3_close(cs->db);
    memset(cs, 0, sizeof *cs);
}

static int cstate_open(struct cstate *cs, const char *path, uint64_t seed)
{
    memset(cs, 0, sizeof *cs);
    if (catalog_open(&cs->db, path, "churn", 0, false) < 0)
        return -EIO;
    rng_seed(&cs->r, seed, "churn");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db,
                           "SELECT DISTINCT table_name FROM __tdslite_columns ORDER BY table_name",
                           -1, &st, NULL) != SQLITE_OK) {
        log_error(LOG_TDS, "churn: %s has no tdslite catalog (run --generate first)", path);
        cstate_free(cs);
        return -ENOENT;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        cs->t = xrealloc(cs->t, (cs->n + 1) * sizeof *cs->t);
        struct ctable *ct = &cs->t[cs->n];
        memset(ct, 0, sizeof *ct);
        snprintf(ct->gt.name, sizeof ct->gt.name, "%s", (const char *)sqlite3_column_text(st, 0));
        ct->gt.seed = seed ^ (cs->n + 1) * 0xD1B54A32D192ED03ULL;
        if (ctable_load(cs, ct) == 0)
            cs->n++;
        else
            free(ct->gt.cols);
    }
    sqlite3_finalize(st);
    fks_load(cs);
    for (size_t i = 0; i < cs->n; i++) {
        for (size_t c = 0; c < cs->t[i].gt.n_cols; c++)
            gv_col_classify(&cs->t[i].gt.cols[c]);
        stmts_build(cs, &cs->t[i]);
    }
    if (cs->n == 0) {
        log_error(LOG_TDS, "churn: %s holds no generated tables", path);
        cstate_free(cs);
        return -ENOENT;
    }
    return 0;
}

/* A table picked with probability proportional to its size (+1). */
static struct ctable *pick(struct cstate *cs, bool need_leaf, bool need_stamp)
{
    uint64_t total = 0;
    for (size_t i = 0; i < cs->n; i++)
        if ((!need_leaf || cs->t[i].leaf) && (!need_stamp || cs->t[i].upd))
            total += cs->t[i].max_id + 1;
    if (total == 0)
        return NULL;
    uint64_t x = rng_below(&cs->r, total);
    for (size_t i = 0; i < cs->n; i++) {
        if ((need_leaf && !cs->t[i].leaf) || (need_stamp && !cs->t[i].upd))
            continue;
        if (x < cs->t[i].max_id + 1)
            return &cs->t[i];
        x -= cs->t[i].max_id + 1;
    }
    return NULL;
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int change_one(struct cstate *cs)
{
    struct gv_clock clk = {.churn = true, .now_s = (int64_t)time(NULL)};
    unsigned op = (unsigned)rng_below(&cs->r, 100);
    struct ctable *ct;
    if (op < 60 && (ct = pick(cs, false, true)) && ct->max_id > 0) {
        if (rng_chance(&cs->r, 15))
            clk.late_s = 1 + (unsigned)rng_below(&cs->r, 60); /* a late commit */
        uint64_t id = 1 + rng_below(&cs->r, ct->max_id);
        for (int k = 0; k < ct->n_upd; k++)
            gv_value_bind(ct->upd, k + 1, &ct->gt, &ct->gt.cols[ct->upd_cols[k]], id, &cs->r, &clk);
        sqlite3_bind_int64(ct->upd, ct->n_upd + 1, (sqlite3_int64)id);
        cs->updates++;
        return step_done(ct->upd);
    }
    if (op < 85 || !(ct = pick(cs, true, false)) || ct->max_id == 0) {
        if (!(ct = pick(cs, false, false)))
            return 0;
        uint64_t id = ++ct->max_id;
        gv_row_bind(ct->ins, &ct->gt, id, &cs->r, &clk);
        cs->inserts++;
        return step_done(ct->ins);
    }
    sqlite3_bind_int64(ct->del, 1, (sqlite3_int64)(1 + rng_below(&cs->r, ct->max_id)));
    cs->deletes++;
    return step_done(ct->del);
}

static int apply(struct cstate *cs, uint64_t n)
{
    if (sqlite3_exec(cs->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -EBUSY;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++)
        rc = change_one(cs);
    if (rc < 0)
        log_error(LOG_TDS, "churn: %s", sqlite3_errmsg(cs->db));
    sqlite3_exec(cs->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int churn_once(const char *db_path, uint64_t n, uint64_t seed)
{
    struct cstate cs;
    if (cstate_open(&cs, db_path, seed) < 0)
        return -EIO;
    int rc = apply(&cs, n);
    if (rc == 0)
        log_info(LOG_TDS, "churn: %" PRIu64 " inserts, %" PRIu64 " updates, %" PRIu64 " deletes",
                 cs.inserts, cs.updates, cs.deletes);
    cstate_free(&cs);
    return rc;
}

struct churn {
    struct cstate cs;
    double rate;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *churn_thread(void *arg)
{
    struct churn *c = arg;
    double due = 0;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100000000; /* ten rounds a second */
        if (until.tv_nsec >= 1000000000) {
            until.tv_nsec -= 1000000000;
            until.tv_sec++;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &until);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        due += c->rate / 10.0;
        uint64_t n = (uint64_t)due;
        due -= (double)n;
        if (n > 0 && apply(&c->cs, n) < 0)
            log_warn(LOG_TDS, "churn: a round of %" PRIu64 " changes failed", n);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int churn_start(struct churn **out, const char *db_path, double rate, uint64_t seed)
{
    struct churn *c = xcalloc(1, sizeof *c);
    if (cstate_open(&c->cs, db_path, seed) < 0) {
        free(c);
        return -EIO;
    }
    c->rate = rate;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->th, NULL, churn_thread, c) != 0) {
        cstate_free(&c->cs);
        free(c);
        return -EAGAIN;
    }
    log_info(LOG_TDS, "churn: %.1f changes per second over %zu tables", rate, c->cs.n);
    *out = c;
    return 0;
}

void churn_stop(struct churn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->th, NULL);
    log_info(LOG_TDS, "churn: %" PRIu64 " inserts, %" PRIu64 " updates, %" PRIu64 " deletes",
             c->cs.inserts, c->cs.updates, c->cs.deletes);
    cstate_free(&c->cs);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
