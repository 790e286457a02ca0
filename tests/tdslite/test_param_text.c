/* tdslite binds nvarchar parameters as SQL Server converts them against a
 * datetime or decimal column (tools/tdslite/param_text.c): what tedious,
 * and so Prisma's SQL Server adapter, sends for DateTime and Decimal. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "tdslite.h"

static sqlite3 *db;

static void setup(void)
{
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    /* as generate.c declares them: datetime as TEXT, decimal without affinity */
    cr_assert_eq(sqlite3_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, dt TEXT, dec, s TEXT);"
                                  "INSERT INTO t VALUES (1, '2024-04-08 05:25:26.7633333', 74936.19, '12');"
                                  "INSERT INTO t VALUES (2, '2015-07-01 02:00:43.0000000', 120557.74, 'SKU-1');"
                                  "INSERT INTO t VALUES (3, '2015-07-01 02:00:43.0066667', 9.5, '12.50');",
                              NULL, NULL, NULL), SQLITE_OK);
}

static void teardown(void) { sqlite3_close(db); }

/* The ids (as "1,2") the statement returns with its one parameter bound from text. */
static void rows_are(const char *sql, const char *param, const char *want)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(tds_text_param_bind(st, 1, param, strlen(param)), SQLITE_OK);
    char got[64] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*got)
            strcat(got, ",");
        snprintf(got + strlen(got), sizeof got - strlen(got), "%d", sqlite3_column_int(st, 0));
    }
    sqlite3_finalize(st);
    cr_assert_str_eq(got, want, "%s with '%s'", sql, param);
}

TestSuite(tdslite_param_text, .init = setup, .fini = teardown);

Test(tdslite_param_text, datetime_strings_compare_as_datetime)
{
    rows_are("SELECT id FROM t WHERE dt = ? ORDER BY id", "2024-04-08 05:25:26.763", "1");
    rows_are("SELECT id FROM t WHERE dt = ? ORDER BY id", "2024-04-08T05:25:26.763Z", "1");
    rows_are("SELECT id FROM t WHERE dt > ? ORDER BY id", "2024-04-08 05:25:26.763", "");
    rows_are("SELECT id FROM t WHERE dt = ? ORDER BY id", "2015-07-01 02:00:43", "2");
    /* SQL Server rounds a string to datetime's 1/300 s: .005 is .0066667 */
    rows_are("SELECT id FROM t WHERE dt = ? ORDER BY id", "2015-07-01 02:00:43.005", "3");
    rows_are("SELECT id FROM t WHERE dt <= ? ORDER BY id", "2015-07-01 02:00:43.001", "2");
    /* a typed parameter in the stored form (7 digits) compares exactly */
    rows_are("SELECT id FROM t WHERE dt < ? ORDER BY id", "2015-07-01 02:00:43.0066666", "2");
}

Test(tdslite_param_text, decimal_strings_compare_as_numbers)
{
    rows_are("SELECT id FROM t WHERE dec > ? ORDER BY id", "74936.19", "2");
    rows_are("SELECT id FROM t WHERE dec <= ? ORDER BY id", "74936.19", "1,3");
    rows_are("SELECT id FROM t WHERE dec = ? ORDER BY id", "9.5", "3");
}

Test(tdslite_param_text, other_strings_stay_text)
{
    rows_are("SELECT id FROM t WHERE s = ? ORDER BY id", "12", "1");
    rows_are("SELECT id FROM t WHERE s = ? ORDER BY id", "12.50", "3");
    rows_are("SELECT id FROM t WHERE s = ? ORDER BY id", "12.5", "");
    rows_are("SELECT id FROM t WHERE s = ? ORDER BY id", "SKU-1", "2");
    rows_are("SELECT id FROM t WHERE dt LIKE ? ORDER BY id", "2015-07-01%", "2,3");
}
