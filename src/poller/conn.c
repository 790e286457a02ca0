/*
 * One FreeTDS db-lib connection, shared by the poller thread, the live
 * pool and verification.
 *
 * db-lib's error and message handlers are process-wide. Each connection
 * stores a pointer to itself with dbsetuserdata(); the handlers find it with
 * dbgetuserdata() and keep the text, and the failing call returns -EIO with
 * it. During dbopen() the DBPROCESS carries no user data yet, so the thread
 * that logs in names its connection in a thread-local first.
 *
 * The first complaint of a call is its cause and is kept: db-lib follows a
 * server error with its own "General SQL Server error: Check messages from
 * the SQL Server" (SYBESMSG), which must not replace the server's words and
 * number. OS errors (connection refused, reset) keep their text.
 *
 * Every handler answer is INT_CANCEL: db-lib then fails the call in
 * progress (a timeout marks the connection dead), and the caller closes and
 * reconnects. INT_EXIT would end the whole process.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "poller/login.h"

static pthread_mutex_t lib_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned lib_users;
static _Thread_local struct poller_conn *tl_opening;

static struct poller_conn *owner(DBPROCESS *dbp)
{
    struct poller_conn *c = dbp ? (struct poller_conn *)dbgetuserdata(dbp) : NULL;
    return c ? c : tl_opening;
}

#define CONN_CLOSED "the connection to the source was closed (the server stopped or the network " \
                    "dropped it)"

static int on_error(DBPROCESS *dbp, int severity, int dberr, int oserr, char *dberrstr,
                    char *oserrstr)
{
    (void)severity;
    struct poller_conn *c = owner(dbp);
    const char *what = dberrstr ? dberrstr : "db-lib error";
    /* A connection lost in the middle of a call says so as one lost
     * between calls does (fail()), with db-lib's words after. */
    bool lost = dberr == SYBESEOF || dberr == SYBEREAD || dberr == SYBEWRIT;
    const char *pre = lost ? CONN_CLOSED ": " : "";
    /* db-lib passes oserr -1 or 0 ("Success") when the OS had nothing to say. */
    if (c && !c->err[0] && oserr > 0 && oserrstr && *oserrstr)
        snprintf(c->err, sizeof c->err, "%s%s (%s)", pre, what, oserrstr);
    else if (c && !c->err[0])
        snprintf(c->err, sizeof c->err, "%s%s", pre, what);
    /* SYBETIME included: a hung server must fail the call, never block. */
    return INT_CANCEL;
}

static int on_message(DBPROCESS *dbp, DBINT msgno, int msgstate, int severity, char *msgtext,
                      char *srvname, char *proc, int line)
{
    (void)msgstate, (void)srvname, (void)proc, (void)line;
    /* Severity 10 and below are informational ("Changed database context"). */
    if (severity <= 10)
        return 0;
    struct poller_conn *c = owner(dbp);
    if (c)
        c->answered = true;
    if (c && !c->err[0])
        snprintf(c->err, sizeof c->err, "SQL Server error %d (severity %d): %s", (int)msgno,
                 severity, msgtext ? msgtext : "");
    return 0;
}

int poller_conn_lib_acquire(void)
{
    pthread_mutex_lock(&lib_mu);
    int rc = 0;
    /* dbinit() counts its callers; dbexit() only tears down at zero. */
    if (dbinit() == FAIL) {
        rc = -EIO;
    } else {
        lib_users++;
        dberrhandle(on_error);
        dbmsghandle(on_message);
    }
    pthread_mutex_unlock(&lib_mu);
    return rc;
}

void poller_conn_lib_release(void)
{
    pthread_mutex_lock(&lib_mu);
    if (lib_users > 0) {
        lib_users--;
        dbexit();
    }
    pthread_mutex_unlock(&lib_mu);
}

int poller_conn_job_begin(struct cache *c, struct cache_rd **rd, char *err, size_t errlen)
{
    int rc = cache_rd_new(c, rd);
    if (rc < 0) {
        char why[CACHE_STRERROR_MAX];
        snprintf(err, errlen, "opening a cache reader: %s",
                 cache_strerror(c, rc, why, sizeof why));
        return rc;
    }
    if ((rc = poller_conn_lib_acquire()) < 0) {
        snprintf(err, errlen, "db-lib initialisation failed");
        cache_rd_free(*rd);
        *rd = NULL;
    }
    return rc;
}

void poller_conn_job_end(struct cache_rd *rd)
{
    poller_conn_lib_release();
    cache_rd_free(rd);
}

int poller_conn_open(struct poller_conn *c, const struct poller_db *db, char *err, size_t errlen)
{
    return poller_conn_open_within(c, db, NULL, err, errlen);
}

int poller_conn_open_within(struct poller_conn *c, const struct poller_db *db,
                            const struct poller_login_timeouts *t, char *err, size_t errlen)
{
    poller_conn_close(c);
    c->err[0] = '\0';
    c->answered = false;
    char why[256] = "";
    DBPROCESS *dbp;
    tl_opening = c;
    int rc = poller_login_open(&dbp, db, t, why, sizeof why);
    tl_opening = NULL;
    if (rc < 0) {
        c->answered = c->answered || why[0]; /* why: our own TLS settings cannot be applied */
        snprintf(err, errlen, "cannot connect to %s:%u (database %s, user %s): %s%s", db->host,
                 db->port, db->database, db->user, why[0] ? why : c->err[0] ? c->err : "login failed",
                 db->encrypt && !why[0] ? " (encrypt=true: the server must offer TLS, and with "
                                          "trustServerCertificate=false present a certificate "
                                          "for this host that the CA file trusts)" : "");
        return -EIO;
    }
    dbsetuserdata(dbp, (BYTE *)c);
    c->dbp = dbp;
    return 0;
}

void poller_conn_close(struct poller_conn *c)
{
    if (c->dbp) {
        dbsetuserdata(c->dbp, NULL);
        dbclose(c->dbp);
        c->dbp = NULL;
    }
    free(c->types);
    c->types = NULL;
    c->types_cap = 0;
    c->ncols = 0;
}

int poller_conn_set_timeout(struct poller_conn *c, unsigned seconds)
{
    return c->dbp ? poller_login_set_timeout(c->dbp, seconds) : -ENOTCONN;
}

bool poller_conn_is_open(const struct poller_conn *c)
{
    return c->dbp && !dbdead(c->dbp);
}

bool poller_conn_lost(const struct poller_conn *c)
{
    return !c->answered && !poller_conn_is_open(c);
}

static int fail(struct poller_conn *c, const char *what)
{
    /* db-lib marks a connection the server closed between two calls dead
     * without calling a handler: say so rather than "query failed". */
    if (!c->err[0] && c->dbp && dbdead(c->dbp))
        snprintf(c->err, sizeof c->err, CONN_CLOSED);
    else if (!c->err[0])
        snprintf(c->err, sizeof c->err, "%s failed; db-lib gave no reason", what);
    if (c->dbp && !dbdead(c->dbp))
        dbcancel(c->dbp);
    return -EIO;
}

/* Positions on the first result set that has columns. */
static int first_result(struct poller_conn *c)
{
    RETCODE rc;
    if (dbsqlok(c->dbp) == FAIL)
        return fail(c, "query");
    while ((rc = dbresults(c->dbp)) == SUCCEED) {
        int n = dbnumcols(c->dbp);
        if (n <= 0)
            continue;
        if (n > c->types_cap) {
            c->types = xrealloc(c->types, sizeof *c->types * (size_t)n);
            c->types_cap = n;
        }
        for (int i = 0; i < n; i++)
            c->types[i] = dbcoltype(c->dbp, i + 1);
        c->ncols = n;
        return 0;
    }
    if (rc == FAIL)
        return fail(c, "dbresults");
    snprintf(c->err, sizeof c->err, "the query returned no result set");
    return -EIO;
}

int poller_conn_exec(struct poller_conn *c, const char *stmt, const struct poller_param *ps,
                     size_t n)
{
    if (!c->dbp)
        return -ENOTCONN;
    c->err[0] = '\0';
    c->answered = false;
    c->ncols = 0;
    struct buf decl;
    buf_init(&decl, 0);
    for (size_t i = 0; i < n; i++)
        buf_printf(&decl, "%s%s %s", i ? ", " : "", ps[i].name, ps[i].decl);
    int rc = -EIO;
    if (dbrpcinit(c->dbp, "sp_executesql", 0) == FAIL)
        goto out;
    /* Named @stmt/@params: some SQL Server-compatible servers reject them unnamed.
     * SYBVARCHAR goes out as nvarchar (db-lib converts from UTF-8). */
    if (dbrpcparam(c->dbp, "@stmt", 0, SYBVARCHAR, -1, (DBINT)strlen(stmt), (BYTE *)stmt) == FAIL)
        goto out;
    if (n && dbrpcparam(c->dbp, "@params", 0, SYBVARCHAR, -1, (DBINT)decl.len,
                        buf_data(&decl)) == FAIL)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (dbrpcparam(c->dbp, ps[i].name, 0, ps[i].type, -1, ps[i].len, (BYTE *)ps[i].val) ==
            FAIL)
            goto out;
    if (dbrpcsend(c->dbp) == FAIL)
        goto out;
    rc = first_result(c);
    buf_fini(&decl);
    return rc;
out:
    buf_fini(&decl);
    dbrpcinit(c->dbp, "", DBRPCRESET);
    return fail(c, "sp_executesql");
}

int poller_conn_batch(struct poller_conn *c, const char *sql)
{
    if (!c->dbp)
        return -ENOTCONN;
    c->err[0] = '\0';
    c->answered = false;
    c->ncols = 0;
    if (dbcmd(c->dbp, sql) == FAIL || dbsqlsend(c->dbp) == FAIL)
        return fail(c, "query");
    return first_result(c);
}

int poller_conn_next_row(struct poller_conn *c)
{
    STATUS st = dbnextrow(c->dbp);
    if (st == REG_ROW)
        return 1;
    if (st == NO_MORE_ROWS) {
        RETCODE rc;
        /* Drain what follows (sp_executesql's return status, DONE tokens). */
        while ((rc = dbresults(c->dbp)) == SUCCEED)
            while (dbnextrow(c->dbp) != NO_MORE_ROWS)
                ;
        if (rc == FAIL)
            return fail(c, "dbresults");
        return 0;
    }
    if (st == FAIL || st == BUF_FULL)
        return fail(c, "dbnextrow");
    /* A compute row: never produced by our SELECTs. */
    snprintf(c->err, sizeof c->err, "unexpected row kind %d", (int)st);
    return fail(c, "dbnextrow");
}

void poller_conn_cancel(struct poller_conn *c)
{
    if (c->dbp && !dbdead(c->dbp))
        dbcancel(c->dbp);
}

const BYTE *poller_conn_col_data(const struct poller_conn *c, int i, int *len)
{
    BYTE *p = dbdata(c->dbp, i + 1);
    *len = p ? dbdatlen(c->dbp, i + 1) : 0;
    return p;
}
