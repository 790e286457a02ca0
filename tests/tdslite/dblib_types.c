/*
 * tdslite over FreeTDS db-lib: every supported wire type read back exactly
 * (boundaries and NULLs), values inserted through SQL literals and through
 * sp_executesql RPC parameters, a wrong password refused with 18456, and
 * keyset paging over thousands of equal timestamps returning every row once.
 *
 * usage: dblib_types DATABASE_URL   (exit 0 = all checks passed)
 *
 * It logs in through the project's one db-lib login (poller/login.h), as
 * the poller does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poller/login.h"

static int failures;
static int last_msgno;
static char last_msg[1024];

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static int on_msg(DBPROCESS *p, DBINT no, int state, int sev, char *text, char *srv, char *proc,
                  int line)
{
    (void)p, (void)state, (void)srv, (void)proc, (void)line;
    if (sev > 0) {
        last_msgno = no;
        snprintf(last_msg, sizeof last_msg, "%s", text);
    }
    return 0;
}

static int on_err(DBPROCESS *p, int sev, int dberr, int oserr, char *dberrstr, char *oserrstr)
{
    (void)p, (void)sev, (void)oserr, (void)oserrstr;
    if (dberr != SYBESMSG) /* server messages arrive through on_msg */
        fprintf(stderr, "db-lib: %d %s\n", dberr, dberrstr);
    return INT_CANCEL;
}

static DBPROCESS *connect_to(const struct poller_db *db)
{
    DBPROCESS *p;
    char err[256] = "";
    int rc = poller_login_open(&p, db, NULL, err, sizeof err);
    if (rc < 0 && err[0]) /* db-lib's own reasons went to on_err/on_msg */
        fprintf(stderr, "dblib_types: %s\n", err);
    return rc < 0 ? NULL : p;
}

/* Reads whatever results are left; stops on FAIL too. */
static void drain(DBPROCESS *p)
{
    while (dbresults(p) == SUCCEED)
        while (dbnextrow(p) != NO_MORE_ROWS)
            ;
}

/* Runs SQL that returns no rows; 0 on success. */
static int run(DBPROCESS *p, const char *sql)
{
    last_msgno = 0;
    if (dbcmd(p, sql) == FAIL || dbsqlexec(p) == FAIL)
        return -1;
    int rc;
    while ((rc = dbresults(p)) != NO_MORE_RESULTS) {
        if (rc == FAIL)
            return -1;
        while (dbnextrow(p) != NO_MORE_ROWS)
            ;
    }
    return last_msgno ? -1 : 0;
}

/* Column `col` of the current row as text through dbconvert. */
static const char *text(DBPROCESS *p, int col)
{
    static char out[20000];
    BYTE *d = dbdata(p, col);
    DBINT len = dbdatlen(p, col);
    if (!d && len == 0)
        return "NULL";
    int type = dbcoltype(p, col);
    DBINT n = dbconvert(p, type, d, len, SYBCHAR, (BYTE *)out, sizeof out - 1);
    if (n < 0)
        return "?";
    out[n] = '\0';
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
    return out;
}

/* A date/time column of the current row as "YYYY-MM-DD HH:MM:SS.nnnnnnnnn". */
static const char *when(DBPROCESS *p, int col)
{
    static char out[64];
    DBDATEREC2 di;
    if (!dbdata(p, col) || dbanydatecrack(p, &di, dbcoltype(p, col), dbdata(p, col)) != SUCCEED)
        return "?";
    snprintf(out, sizeof out, "%04d-%02d-%02d %02d:%02d:%02d.%09d", di.dateyear, di.datemonth + 1,
             di.datedmonth, di.datehour, di.dateminute, di.datesecond, di.datensecond);
    return out;
}

static const char *ddl =
    "CREATE TABLE dbo.t_types (id int NOT NULL PRIMARY KEY, ti tinyint, si smallint, i int,"
    " bi bigint, b bit, d38 decimal(38,10), d9 numeric(9,2), m money, sm smallmoney, f float,"
    " r real, dt datetime, sdt smalldatetime, dt2 datetime2(7), dt23 datetime2(3), dd date,"
    " g uniqueidentifier, nv nvarchar(50), nvm nvarchar(max), vc varchar(20), vb varbinary(max))";

/* Row 1: maxima, row 2: minima, row 3: NULLs. */
static const char *rows_sql =
    "INSERT INTO t_types VALUES (1, 255, 32767, 2147483647, 9223372036854775807, 1,"
    " 9999999999999999999999999999.9999999999, 9999999.99, 922337203685477.5807, 214748.3647,"
    " 1.7976931348623157E+308, 3.4E+38, '9999-12-31 23:59:59.997', '2079-06-06 23:59:00',"
    " '9999-12-31 23:59:59.9999999', '2024-02-29 12:34:56.789', '9999-12-31',"
    " '6F9619FF-8B86-D011-B42D-00C04FC964FF', N'Zoë Müller 東京', N'x', 'café', 0xDEADBEEF);"
    "INSERT INTO t_types VALUES (2, 0, -32768, -2147483648, -9223372036854775808, 0,"
    " -9999999999999999999999999999.9999999999, -9999999.99, -922337203685477.5808, -214748.3648,"
    " -2.2250738585072014E-308, -1.5, '1753-01-01 00:00:00', '1900-01-01 00:00:00',"
    " '0001-01-01 00:00:00', '2000-01-01 00:00:00.003', '0001-01-01',"
    " '00000000-0000-0000-0000-000000000000', N'', N'', '', 0x);"
    "INSERT INTO t_types (id) VALUES (3)";

struct expect {
    int col;
    const char *row1, *row2;
};

static void check_types(DBPROCESS *p)
{
    CHECK(run(p, "DROP TABLE IF EXISTS t_types") == 0, "drop: %s", last_msg);
    CHECK(run(p, ddl) == 0, "create: %s", last_msg);
    CHECK(run(p, rows_sql) == 0, "insert: %s", last_msg);
    static const struct expect ex[] = {
        {2, "255", "0"},
        {3, "32767", "-32768"},
        {4, "2147483647", "-2147483648"},
        {5, "9223372036854775807", "-9223372036854775808"},
        {6, "1", "0"},
        {7, "9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999"},
        {8, "9999999.99", "-9999999.99"},
        {9, "922337203685477.5807", "-922337203685477.5808"},
        {10, "214748.3647", "-214748.3648"},
        {18, "6F9619FF-8B86-D011-B42D-00C04FC964FF", "00000000-0000-0000-0000-000000000000"},
        {19, "Zoë Müller 東京", ""},
        {21, "café", ""},
        {22, "deadbeef", ""},
    };
    static const int types[] = {SYBINT4, SYBINT1, SYBINT2, SYBINT4, SYBINT8, SYBBIT,
                                SYBDECIMAL, SYBDECIMAL, SYBMONEY, SYBMONEY4, SYBFLT8, SYBREAL,
                                SYBDATETIME, SYBDATETIME4};
    CHECK(dbcmd(p, "SELECT * FROM dbo.t_types ORDER BY id") == SUCCEED && dbsqlexec(p) == SUCCEED,
          "select");
    CHECK(dbresults(p) == SUCCEED, "results");
    CHECK(dbnumcols(p) == 22, "22 columns, got %d", dbnumcols(p));
    for (int c = 1; c <= (int)(sizeof types / sizeof *types); c++)
        CHECK(dbcoltype(p, c) == types[c - 1], "column %d type %d, want %d", c, dbcoltype(p, c),
              types[c - 1]);
    for (int row = 1; row <= 3; row++) {
        CHECK(dbnextrow(p) == REG_ROW, "row %d", row);
        for (size_t k = 0; k < sizeof ex / sizeof *ex; k++) {
            const char *want = row == 1 ? ex[k].row1 : row == 2 ? ex[k].row2 : "NULL";
            const char *got = text(p, ex[k].col);
            CHECK(strcasecmp(got, want) == 0, "row %d column %s: got '%s' want '%s'", row,
                  dbcolname(p, ex[k].col), got, want);
        }
        DBFLT8 f;
        DBREAL r;
        DBDATETIME dt;
        DBDATETIME4 sdt;
        if (row < 3) {
            memcpy(&f, dbdata(p, 11), 8);
            CHECK(f == (row == 1 ? 1.7976931348623157E+308 : -2.2250738585072014E-308), "float %g", f);
            memcpy(&r, dbdata(p, 12), 4);
            CHECK(r == (row == 1 ? 3.4E+38f : -1.5f), "real %g", (double)r);
            memcpy(&dt, dbdata(p, 13), sizeof dt);
            /* 9999-12-31 23:59:59.997 and 1753-01-01: days since 1900, 1/300 s ticks */
            CHECK(dt.dtdays == (row == 1 ? 2958463 : -53690), "datetime days %d", dt.dtdays);
            CHECK(dt.dttime == (row == 1 ? 86399 * 300 + 299 : 0), "datetime ticks %d", dt.dttime);
            memcpy(&sdt, dbdata(p, 14), sizeof sdt);
            CHECK(sdt.days == (row == 1 ? 65535 : 0) && sdt.minutes == (row == 1 ? 1439 : 0),
                  "smalldatetime %u %u", sdt.days, sdt.minutes);
            static const char *const w[3][2] = {
                {"9999-12-31 23:59:59.999999900", "0001-01-01 00:00:00.000000000"},
                {"2024-02-29 12:34:56.789000000", "2000-01-01 00:00:00.003000000"},
                {"9999-12-31 00:00:00.000000000", "0001-01-01 00:00:00.000000000"},
            };
            static const int wcol[3] = {15, 16, 17}; /* datetime2(7), datetime2(3), date */
            for (int k = 0; k < 3; k++)
                CHECK(strcmp(when(p, wcol[k]), w[k][row - 1]) == 0, "row %d column %s: '%s' want '%s'",
                      row, dbcolname(p, wcol[k]), when(p, wcol[k]), w[k][row - 1]);
        } else {
            for (int c = 2; c <= 22; c++)
                CHECK(dbdata(p, c) == NULL, "row 3 column %d not NULL", c);
        }
        /* uniqueidentifier wire bytes: first three groups little-endian */
        if (row == 1) {
            static const BYTE g[16] = {0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0,
                                       0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF};
            CHECK(dbdatlen(p, 18) == 16 && memcmp(dbdata(p, 18), g, 16) == 0, "guid bytes");
        }
    }
    CHECK(dbnextrow(p) == NO_MORE_ROWS, "three rows only");
    drain(p);
}

/* sp_executesql with typed parameters: insert a row, read it back. */
static void check_rpc(DBPROCESS *p)
{
    static char big[24001];
    size_t o = 0;
    while (o + 6 < sizeof big - 1) { /* "Zoë東" is 6 UTF-8 bytes, 4 UTF-16 units */
        memcpy(big + o, "Zo\xC3\xAB\xE6\x9D\xB1" + 0, 7);
        o += 7;
    }
    big[o] = '\0';
    const char *stmt = "INSERT INTO t_types (id, i, bi, b, d38, m, f, dt, dt2, nv, nvm, vc, g) "
                       "VALUES (@P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8, @P9, @P10, @P11, @P12, @P13)";
    const char *decl = "@P1 int, @P2 int, @P3 bigint, @P4 bit, @P5 decimal(38,10), @P6 money, "
                       "@P7 float, @P8 datetime, @P9 datetime2(7), @P10 nvarchar(50), "
                       "@P11 nvarchar(max), @P12 varchar(20), @P13 uniqueidentifier";
    DBINT id = 10, i = -123456, i_null = 0;
    DBBIGINT bi = -9223372036854775807LL - 1;
    DBBIT b = 1;
    DBNUMERIC dec;
    DBMONEY m;
    DBFLT8 f = 3.141592653589793;
    DBDATETIME dt = {.dtdays = 45000, .dttime = 2}; /* .007 s after midnight */
    char dt2s[] = "2024-02-29 12:34:56.1234567";
    DBCHAR nv[] = "Ünïcødé 東京";
    char vc[] = "naïve";
    DBTYPEINFO ti = {.precision = 38, .scale = 10};
    dbconvert_ps(p, SYBCHAR, (BYTE *)"-1234567890123456789012345678.0123456789", -1, SYBDECIMAL,
                 (BYTE *)&dec, sizeof dec, &ti);
    dbconvert(p, SYBCHAR, (BYTE *)"-922337203685477.5808", -1, SYBMONEY, (BYTE *)&m, sizeof m);
    (void)i_null;
    CHECK(dbrpcinit(p, "sp_executesql", 0) == SUCCEED, "rpcinit");
    dbrpcparam(p, "@stmt", 0, SYBNTEXT, -1, (DBINT)strlen(stmt), (BYTE *)stmt);
    dbrpcparam(p, "@params", 0, SYBNTEXT, -1, (DBINT)strlen(decl), (BYTE *)decl);
    dbrpcparam(p, "@P1", 0, SYBINT4, -1, -1, (BYTE *)&id);
    dbrpcparam(p, "@P2", 0, SYBINT4, -1, -1, (BYTE *)&i);
    dbrpcparam(p, "@P3", 0, SYBINT8, -1, -1, (BYTE *)&bi);
    dbrpcparam(p, "@P4", 0, SYBBIT, -1, -1, (BYTE *)&b);
    dbrpcparam(p, "@P5", 0, SYBDECIMAL, -1, sizeof dec, (BYTE *)&dec);
    dbrpcparam(p, "@P6", 0, SYBMONEY, -1, -1, (BYTE *)&m);
    dbrpcparam(p, "@P7", 0, SYBFLT8, -1, -1, (BYTE *)&f);
    dbrpcparam(p, "@P8", 0, SYBDATETIME, -1, -1, (BYTE *)&dt);
    dbrpcparam(p, "@P9", 0, SYBVARCHAR, -1, (DBINT)strlen(dt2s), (BYTE *)dt2s);
    dbrpcparam(p, "@P10", 0, SYBNTEXT, -1, (DBINT)strlen(nv), (BYTE *)nv);
    dbrpcparam(p, "@P11", 0, SYBNTEXT, -1, (DBINT)strlen(big), (BYTE *)big);
    dbrpcparam(p, "@P12", 0, SYBVARCHAR, -1, (DBINT)strlen(vc), (BYTE *)vc);
    dbrpcparam(p, "@P13", 0, SYBVARCHAR, -1, 36, (BYTE *)"0E984725-C51C-4BF4-9960-E1C80E27ABA0");
    last_msgno = 0;
    last_msg[0] = '\0';
    CHECK(dbrpcsend(p) == SUCCEED && dbsqlok(p) == SUCCEED, "rpc send: %s", last_msg);
    drain(p);
    CHECK(last_msgno == 0, "rpc insert: %d %s", last_msgno, last_msg);
    CHECK(dbhasretstat(p) && dbretstatus(p) == 0, "return status");

    CHECK(dbcmd(p, "SELECT i, bi, b, d38, m, f, dt, nv, nvm, vc, g, DATALENGTH(nvm) FROM t_types WHERE id = 10") ==
                  SUCCEED && dbsqlexec(p) == SUCCEED && dbresults(p) == SUCCEED,
          "select rpc row");
    if (dbnextrow(p) != REG_ROW) {
        CHECK(0, "rpc row present");
        drain(p);
        return;
    }
    CHECK(strcmp(text(p, 1), "-123456") == 0, "int %s", text(p, 1));
    CHECK(strcmp(text(p, 2), "-9223372036854775808") == 0, "bigint %s", text(p, 2));
    CHECK(strcmp(text(p, 3), "1") == 0, "bit");
    CHECK(strcmp(text(p, 4), "-1234567890123456789012345678.0123456789") == 0, "decimal %s",
          text(p, 4));
    CHECK(strcmp(text(p, 5), "-922337203685477.5808") == 0, "money %s", text(p, 5));
    DBFLT8 f2;
    memcpy(&f2, dbdata(p, 6), 8);
    CHECK(f2 == f, "float");
    DBDATETIME dt_back;
    memcpy(&dt_back, dbdata(p, 7), sizeof dt_back);
    CHECK(dt_back.dtdays == 45000 && dt_back.dttime == 2, "datetime %d %d", dt_back.dtdays,
          dt_back.dttime);
    CHECK(strcmp(text(p, 8), nv) == 0, "nvarchar '%s'", text(p, 8));
    CHECK(dbdatlen(p, 9) == (DBINT)strlen(big) && memcmp(dbdata(p, 9), big, strlen(big)) == 0,
          "nvarchar(max) of %zu bytes came back as %d bytes", strlen(big), dbdatlen(p, 9));
    CHECK(strcmp(text(p, 10), vc) == 0, "varchar '%s'", text(p, 10));
    CHECK(strcasecmp(text(p, 11), "0E984725-C51C-4BF4-9960-E1C80E27ABA0") == 0, "guid %s",
          text(p, 11));
    DBINT dl;
    memcpy(&dl, dbdata(p, 12), 4);
    CHECK(dl > 8000, "nvarchar(max) value of %d bytes (> 8000)", dl);
    while (dbnextrow(p) != NO_MORE_ROWS)
        ;
    drain(p);
}

/* Keyset paging: 3000 rows, most in groups sharing one datetime value. */
static void check_keyset(DBPROCESS *p)
{
    CHECK(run(p, "DROP TABLE IF EXISTS ks") == 0, "drop ks");
    CHECK(run(p, "CREATE TABLE ks ([Company_RecID] int NOT NULL PRIMARY KEY, [Last_Update] datetime NOT NULL)") == 0,
          "create ks: %s", last_msg);
    static char sql[200000];
    const int n = 3000;
    size_t o = (size_t)snprintf(sql, sizeof sql, "INSERT INTO ks VALUES ");
    for (int id = 1; id <= n; id++) {
        /* ids 1..1500 share .003, 1501..2500 share .007, the rest are distinct */
        const char *ms = id <= 1500 ? "00.0033333" : id <= 2500 ? "00.0066667" : NULL;
        char ts[64];
        if (ms)
            snprintf(ts, sizeof ts, "2024-01-01 10:00:%s", ms);
        else
            snprintf(ts, sizeof ts, "2024-01-01 1%d:%02d:%02d.0000000", 1 + id % 8, id % 60, id / 60 % 60);
        o += (size_t)snprintf(sql + o, sizeof sql - o, "%s(%d, '%s')", id > 1 ? "," : "",
                              (id * 7919) % n + 1, ts);
    }
    CHECK(run(p, sql) == 0, "fill ks: %s", last_msg);
    const char *stmt = "SELECT TOP (@n) [Company_RecID], [Last_Update] FROM [dbo].[ks] WITH (NOLOCK) "
                       "WHERE [Last_Update] > @P1 OR ([Last_Update] = @P1 AND [Company_RecID] > @P2) "
                       "ORDER BY [Last_Update], [Company_RecID]";
    const char *decl = "@n int, @P1 datetime, @P2 int";
    DBDATETIME cur = {.dtdays = -53690, .dttime = 0};
    DBINT last = 0, page = 97, seen = 0, prev_id = 0;
    DBDATETIME prev = cur;
    char *got = calloc((size_t)n + 1, 1);
    for (int round = 0; round < 1000; round++) {
        dbrpcinit(p, "sp_executesql", 0);
        dbrpcparam(p, "@stmt", 0, SYBNTEXT, -1, (DBINT)strlen(stmt), (BYTE *)stmt);
        dbrpcparam(p, "@params", 0, SYBNTEXT, -1, (DBINT)strlen(decl), (BYTE *)decl);
        dbrpcparam(p, "@n", 0, SYBINT4, -1, -1, (BYTE *)&page);
        dbrpcparam(p, "@P1", 0, SYBDATETIME, -1, -1, (BYTE *)&cur);
        dbrpcparam(p, "@P2", 0, SYBINT4, -1, -1, (BYTE *)&last);
        if (dbrpcsend(p) != SUCCEED || dbsqlok(p) != SUCCEED || dbresults(p) != SUCCEED) {
            CHECK(0, "keyset page %d: %s", round, last_msg);
            break;
        }
        int rows = 0;
        while (dbnextrow(p) == REG_ROW) {
            DBINT id;
            DBDATETIME t;
            memcpy(&id, dbdata(p, 1), 4);
            memcpy(&t, dbdata(p, 2), sizeof t);
            bool ordered = t.dtdays > prev.dtdays || (t.dtdays == prev.dtdays && t.dttime > prev.dttime) ||
                           (t.dtdays == prev.dtdays && t.dttime == prev.dttime && id > prev_id);
            CHECK(ordered, "row %d out of keyset order", id);
            CHECK(id >= 1 && id <= n && !got[id], "row %d twice or out of range", id);
            if (id >= 1 && id <= n)
                got[id] = 1;
            prev = t;
            prev_id = id;
            cur = t;
            last = id;
            rows++;
            seen++;
        }
        drain(p);
        if (rows < page)
            break;
    }
    CHECK(seen == n, "keyset paging saw %d of %d rows", seen, n);
    free(got);
}

/* ATTENTION: cancel a 9M-row result after a few rows; the connection stays usable. */
static void check_cancel(DBPROCESS *p)
{
    CHECK(dbcmd(p, "SELECT a.[Company_RecID], b.[Last_Update] FROM ks a CROSS JOIN ks b") == SUCCEED &&
              dbsqlexec(p) == SUCCEED && dbresults(p) == SUCCEED,
          "big select");
    for (int i = 0; i < 5; i++)
        CHECK(dbnextrow(p) == REG_ROW, "row %d before the cancel", i);
    CHECK(dbcancel(p) == SUCCEED, "dbcancel");
    CHECK(dbcmd(p, "SELECT COUNT_BIG(*) FROM ks") == SUCCEED && dbsqlexec(p) == SUCCEED &&
              dbresults(p) == SUCCEED && dbnextrow(p) == REG_ROW,
          "a query after the cancel");
    DBBIGINT n = 0;
    if (dbdata(p, 1))
        memcpy(&n, dbdata(p, 1), 8);
    CHECK(n == 3000, "count after cancel: %lld", (long long)n);
    drain(p);
}

/* SQL Server takes sp_executesql's first two parameters by position,
 * whatever their names: tedious (Prisma's SQL Server driver) sends
 * @statement. */
static void check_rpc_positional_names(DBPROCESS *p)
{
    const char *stmt = "SELECT COUNT(*) FROM t_types WHERE id = @id";
    const char *decl = "@id int";
    DBINT id = 10, n = -1;
    CHECK(dbrpcinit(p, "sp_executesql", 0) == SUCCEED, "rpcinit");
    dbrpcparam(p, "@statement", 0, SYBNTEXT, -1, (DBINT)strlen(stmt), (BYTE *)stmt);
    dbrpcparam(p, "@params", 0, SYBNTEXT, -1, (DBINT)strlen(decl), (BYTE *)decl);
    dbrpcparam(p, "@id", 0, SYBINT4, -1, -1, (BYTE *)&id);
    last_msgno = 0;
    last_msg[0] = '\0';
    if (dbrpcsend(p) != SUCCEED || dbsqlok(p) != SUCCEED || dbresults(p) != SUCCEED) {
        CHECK(0, "@statement by position: %d %s", last_msgno, last_msg);
        return;
    }
    while (dbnextrow(p) == REG_ROW)
        memcpy(&n, dbdata(p, 1), 4);
    drain(p);
    CHECK(n == 1, "@statement by position counted %d rows, want 1", n);
}

/* uniqueidentifier sorts and compares as SQL Server's GUIDs: by the byte
 * groups 10-15, 8-9, 6-7, 4-5, 0-3 of the stored form (the first three
 * groups little-endian), so the text's last group decides first. */
static void check_guid_order(DBPROCESS *p)
{
    CHECK(run(p, "DROP TABLE IF EXISTS t_guid") == 0, "drop t_guid");
    CHECK(run(p, "CREATE TABLE t_guid (id int NOT NULL PRIMARY KEY, g uniqueidentifier NULL)") == 0,
          "create t_guid: %s", last_msg);
    CHECK(run(p, "INSERT INTO t_guid VALUES (1, '00000000-0000-0000-0000-000000000002'), "
                 "(2, 'FF000000-0000-0000-0000-000000000001'), (3, '00000000-0000-0000-0100-000000000001'), "
                 "(4, '00000000-0000-0001-0000-000000000001'), (5, '00000000-0000-0100-0000-000000000001'), "
                 "(6, '00000001-0000-0000-0000-000000000001'), (7, NULL)") == 0,
          "fill t_guid: %s", last_msg);
    static const struct {
        const char *sql, *want;
    } q[] = {
        /* 2 < 6 (text byte 3 weighs more than 0), 5 < 4 (7 more than 6),
         * 4 < 3 (group 8-9 more than 6-7), 3 < 1 (the last group first); nulls first */
        {"SELECT id FROM t_guid ORDER BY g, id", "7 2 6 5 4 3 1"},
        {"SELECT id FROM t_guid ORDER BY g DESC", "1 3 4 5 6 2 7"},
        {"SELECT id FROM t_guid WHERE g > '00000000-0000-0100-0000-000000000001' ORDER BY id", "1 3 4"},
        {"SELECT id FROM t_guid WHERE g = 'ff000000-0000-0000-0000-000000000001'", "2"},
    };
    for (size_t k = 0; k < sizeof q / sizeof *q; k++) {
        char got[64] = "";
        size_t len = 0;
        CHECK(dbcmd(p, q[k].sql) == SUCCEED && dbsqlexec(p) == SUCCEED && dbresults(p) == SUCCEED,
              "%s: %s", q[k].sql, last_msg);
        while (dbnextrow(p) == REG_ROW)
            len += (size_t)snprintf(got + len, sizeof got - len, "%s%s", len ? " " : "", text(p, 1));
        drain(p);
        CHECK(strcmp(got, q[k].want) == 0, "%s: got '%s', want '%s'", q[k].sql, got, q[k].want);
    }
}

int main(int argc, char **argv)
{
    struct poller_db db;
    char err[256];
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATABASE_URL\n", argv[0]);
        return 2;
    }
    if (poller_db_parse(&db, argv[1], err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (dbinit() == FAIL)
        return 1;
    dberrhandle(on_err);
    dbmsghandle(on_msg);
    char wrong_password[] = "wrong-password";
    struct poller_db wrong = db;
    wrong.password = wrong_password;
    DBPROCESS *bad = connect_to(&wrong);
    CHECK(bad == NULL, "a wrong password must fail");
    CHECK(last_msgno == 18456, "wrong password gives 18456, got %d (%s)", last_msgno, last_msg);
    DBPROCESS *p = connect_to(&db);
    if (!p) {
        fprintf(stderr, "FAIL: cannot log in\n");
        return 1;
    }
    check_types(p);
    check_rpc(p);
    check_rpc_positional_names(p);
    check_keyset(p);
    check_cancel(p);
    check_guid_order(p);
    dbclose(p);
    dbexit();
    poller_db_fini(&db);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("dblib_types: all checks passed\n");
    return 0;
}
