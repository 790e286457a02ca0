/*
 * bench_tds_stream: rows/s that tdslite streams to a FreeTDS db-lib client
 * for a Company-like table (int key, nvarchar, money, datetime, bit, decimal),
 * against a baseline measured in the same run: the same rows read straight
 * from the SQLite file in this process (what tdslite itself must do anyway).
 *
 *   bench_tds_stream --tdslite PATH [--rows N] [--runs R] [--dir D] [--smoke]
 *
 * Reports the median of R runs of each, and their ratio.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "poller/login.h"

#define RUNS_MAX 15

static int on_err(DBPROCESS *p, int sev, int dberr, int oserr, char *s, char *os)
{
    (void)p, (void)sev, (void)oserr, (void)os;
    fprintf(stderr, "db-lib %d: %s\n", dberr, s);
    return INT_CANCEL;
}

static int on_msg(DBPROCESS *p, DBINT no, int st, int sev, char *t, char *srv, char *proc, int line)
{
    (void)p, (void)st, (void)srv, (void)proc, (void)line;
    if (sev > 10)
        fprintf(stderr, "server %d: %s\n", no, t);
    return 0;
}

static pid_t server_start(const char *tdslite, const char *dir, int *port)
{
    char db[4096], ready[4096];
    snprintf(db, sizeof db, "%s/bench.db", dir);
    snprintf(ready, sizeof ready, "%s/port", dir);
    unlink(ready);
    pid_t pid = fork();
    if (pid == 0) {
        execl(tdslite, tdslite, "--db", db, "--port", "0", "--ready-file", ready, "--log-level",
              "warn", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(ready, "r");
        if (f) {
            int ok = fscanf(f, "%d", port) == 1;
            fclose(f);
            if (ok)
                return pid;
        }
        usleep(20000);
    }
    kill(pid, SIGTERM);
    return -1;
}

static int exec_sql(DBPROCESS *p, const char *sql)
{
    if (dbcmd(p, sql) == FAIL || dbsqlexec(p) == FAIL)
        return -1;
    while (dbresults(p) == SUCCEED)
        while (dbnextrow(p) != NO_MORE_ROWS)
            ;
    return 0;
}

/* Reads every row through db-lib, touching each value; returns rows. */
static long stream_dblib(DBPROCESS *p, unsigned long *sum)
{
    if (dbcmd(p, "SELECT [Company_RecID], [Company_Name], [Amount], [Last_Update], [Flag], "
                 "[Qty] FROM [dbo].[bench]") == FAIL ||
        dbsqlexec(p) == FAIL || dbresults(p) != SUCCEED)
        return -1;
    long rows = 0;
    while (dbnextrow(p) == REG_ROW) {
        for (int c = 1; c <= 6; c++)
            *sum += (unsigned long)dbdatlen(p, c);
        rows++;
    }
    while (dbresults(p) == SUCCEED)
        ;
    return rows;
}

/* The baseline: the same rows straight from SQLite. */
static long stream_sqlite(const char *path, unsigned long *sum)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT Company_RecID, Company_Name, Amount, Last_Update, Flag, Qty "
                               "FROM bench", -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    long rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < 6; c++)
            *sum += (unsigned long)sqlite3_column_bytes(st, c);
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
}

int main(int argc, char **argv)
{
    const char *tdslite = NULL, *dir = NULL;
    long want = 1000000;
    int runs = 5;
    static const struct option opts[] = {{"tdslite", 1, 0, 't'}, {"rows", 1, 0, 'n'},
                                         {"runs", 1, 0, 'r'},    {"dir", 1, 0, 'd'},
                                         {"smoke", 0, 0, 's'},   {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': tdslite = optarg; break;
        case 'n': want = atol(optarg); break;
        case 'r': runs = atoi(optarg); break;
        case 'd': dir = optarg; break;
        case 's': want = 2000; runs = 1; break;
        default: return 2;
        }
    }
    if (!tdslite || want < 1 || runs < 1 || runs > RUNS_MAX) {
        fprintf(stderr, "usage: bench_tds_stream --tdslite PATH [--rows N] [--runs 1..%d] "
                        "[--dir D] [--smoke]\n", RUNS_MAX);
        return 2;
    }
    char tmp[] = "/tmp/tds_stream.XXXXXX";
    if (!dir && !(dir = mkdtemp(tmp)))
        return 1;
    mkdir(dir, 0700);
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.db", dir);
    unlink(path);
    int port;
    pid_t srv = server_start(tdslite, dir, &port);
    if (srv < 0) {
        fprintf(stderr, "bench_tds_stream: tdslite did not start\n");
        return 1;
    }
    dbinit();
    dberrhandle(on_err);
    dbmsghandle(on_msg);
    /* The poller's own login: 32 KiB packets (tdslite honours them), UTF-8, TDS 7.4. */
    char url[160], err[256] = "";
    snprintf(url, sizeof url,
             "sqlserver://127.0.0.1:%d;database=cwwebapp_demo;user=sa;password=tdslite;"
             "encrypt=false", port);
    struct poller_db db = {0};
    DBPROCESS *p = NULL;
    int rc = 1;
    if (poller_db_parse(&db, url, err, sizeof err) < 0 ||
        poller_login_open(&p, &db, NULL, err, sizeof err) < 0) {
        if (err[0])
            fprintf(stderr, "bench_tds_stream: %s\n", err);
        goto out;
    }
    char fill[1024];
    snprintf(fill, sizeof fill,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %ld) "
             "INSERT INTO bench SELECT i, 'Company ' || i, i * 1.25, "
             "'2024-01-01 10:00:00.0033333', i %% 2, i / 7.0 FROM n",
             want);
    if (exec_sql(p, "CREATE TABLE dbo.bench ([Company_RecID] int NOT NULL PRIMARY KEY, "
                    "[Company_Name] nvarchar(50) NOT NULL, [Amount] money, [Last_Update] datetime "
                    "NOT NULL, [Flag] bit NOT NULL, [Qty] decimal(18,4))") < 0 ||
        exec_sql(p, fill) < 0)
        goto out;
    double tds[RUNS_MAX], lite[RUNS_MAX];
    unsigned long sum = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = clock_mono_s();
        long n1 = stream_dblib(p, &sum);
        double t1 = clock_mono_s();
        long n2 = stream_sqlite(path, &sum);
        double t2 = clock_mono_s();
        if (n1 != want || n2 != want) {
            fprintf(stderr, "bench_tds_stream: read %ld / %ld rows, want %ld\n", n1, n2, want);
            goto out;
        }
        tds[r] = (double)n1 / (t1 - t0);
        lite[r] = (double)n2 / (t2 - t1);
    }
    double mt = bench_median(tds, (size_t)runs), ml = bench_median(lite, (size_t)runs);
    printf("rows %ld, runs %d (medians)\n", want, runs);
    printf("  tdslite -> db-lib   %12.0f rows/s\n", mt);
    printf("  SQLite direct read  %12.0f rows/s  (baseline)\n", ml);
    printf("  ratio               %12.2f  (tdslite / baseline)\n", mt / ml);
    rc = 0;
out:
    if (p)
        dbclose(p);
    poller_db_fini(&db);
    dbexit();
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    unlink(path);
    return rc;
}
