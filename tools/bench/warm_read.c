/*
 * warm_read: the baseline of the warm-up benchmark. Reads the same tables
 * the warm-up reads (every model the collectors need), through the same
 * wire and client library (TDS via FreeTDS db-lib), in key order, and
 * throws the rows away: no value conversion, no encoding, no LMDB write.
 * warm time / warm_read time is then what the cache adds on top of reading
 * the source.
 *
 * Usage: warm_read --schema PATH --collectors DIR   (DATABASE_URL from the environment)
 * Prints one line: "rows N seconds S".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "buf.h"
#include "collector.h"
#include "poller/login.h"
#include "schema.h"

static int on_err(DBPROCESS *p, int sev, int dberr, int oserr, char *msg, char *osmsg)
{
    (void)p, (void)sev, (void)dberr, (void)oserr, (void)osmsg;
    fprintf(stderr, "warm_read: db-lib: %s\n", msg);
    return INT_CANCEL;
}

static int on_msg(DBPROCESS *p, DBINT no, int st, int sev, char *msg, char *srv, char *proc,
                  int line)
{
    (void)p, (void)st, (void)srv, (void)proc, (void)line;
    if (sev > 10)
        fprintf(stderr, "warm_read: server message %d: %s\n", (int)no, msg);
    return 0;
}

/* The poller's own login: the baseline reads through the same session settings. */
static DBPROCESS *db_connect(const struct poller_db *db)
{
    DBPROCESS *p;
    char err[256] = "";
    if (poller_login_open(&p, db, NULL, err, sizeof err) == 0)
        return p;
    if (err[0])
        fprintf(stderr, "warm_read: %s\n", err);
    return NULL;
}

/* SELECT every column of the model's table in key order; returns rows read or -1. */
static int64_t table_read(DBPROCESS *p, const struct schema_model *m)
{
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, "SELECT ");
    for (size_t i = 0; i < m->n_fields; i++)
        buf_printf(&q, "%s[%s]", i ? ", " : "", m->fields[i].column);
    buf_printf(&q, " FROM [dbo].[%s] ORDER BY [%s]", m->table, m->pk->column);
    buf_putc(&q, '\0');
    int64_t rows = 0;
    if (dbcmd(p, (char *)buf_data(&q)) == FAIL || dbsqlexec(p) == FAIL) {
        buf_fini(&q);
        return -1;
    }
    buf_fini(&q);
    RETCODE rc;
    while ((rc = dbresults(p)) == SUCCEED)
        while (dbnextrow(p) != NO_MORE_ROWS)
            rows++;
    return rc == FAIL ? -1 : rows;
}

int main(int argc, char **argv)
{
    const char *schema_path = "schema/", *coll_dir = "collectors/";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--schema"))
            schema_path = argv[i + 1];
        else if (!strcmp(argv[i], "--collectors"))
            coll_dir = argv[i + 1];
    }
    const char *url = getenv("DATABASE_URL");
    char err[512];
    struct schema *s;
    struct collector_set cs;
    struct poller_db db;
    if (!url || poller_db_parse(&db, url, err, sizeof err) < 0) {
        fprintf(stderr, "warm_read: DATABASE_URL missing or bad\n");
        return 2;
    }
    if (schema_load(&s, schema_path, err, sizeof err) < 0 ||
        collector_set_load(&cs, coll_dir, s, err, sizeof err) < 0) {
        fprintf(stderr, "warm_read: %s\n", err);
        return 1;
    }
    bool *needed = xcalloc(s->n_models, sizeof *needed);
    collector_set_models(&cs, s, needed);
    dbinit();
    dberrhandle(on_err);
    dbmsghandle(on_msg);
    double t0 = clock_mono_s();
    DBPROCESS *p = db_connect(&db);
    int64_t total = 0;
    int rc = p ? 0 : 1;
    for (size_t i = 0; rc == 0 && i < s->n_models; i++) {
        if (!needed[i])
            continue;
        int64_t n = table_read(p, &s->models[i]);
        if (n < 0)
            rc = 1;
        total += n;
    }
    double t1 = clock_mono_s();
    if (p)
        dbclose(p);
    dbexit();
    if (rc == 0)
        printf("rows %" PRId64 " seconds %.3f\n", total, t1 - t0);
    free(needed);
    collector_set_fini(&cs);
    schema_free(s);
    poller_db_fini(&db);
    return rc;
}
