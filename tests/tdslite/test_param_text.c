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

/* The ids (as "1,2") the statement returns with its one parameter bound
 * from text, compared with a column of type col (NULL: unknown). */
static void rows_typed(const char *sql, const char *param, const struct tds_type *col, const char *want)
{
    sqlite3_stmt *st;
    struct tds_error e = {0};
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(tds_text_param_bind(st, 1, param, strlen(param), col, &e), 0, "%s: %s", param, e.msg);
    char got[64] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*got)
            strcat(got, ",");
        snprintf(got + strlen(got), sizeof got - strlen(got), "%d", sqlite3_column_int(st, 0));
    }
    sqlite3_finalize(st);
    cr_assert_str_eq(got, want, "%s with '%s'", sql, param);
}

static void rows_are(const char *sql, const char *param, const char *want) { rows_typed(sql, param, NULL, want); }

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

/* Compared with a decimal(p,s) column, SQL Server converts the string to
 * that type, rounding half away from zero to its scale: what Prisma sends
 * for a JSON number (float noise) or a string with more digits. */
Test(tdslite_param_text, decimal_strings_convert_to_the_columns_type)
{
    const struct tds_type d18_2 = {.kind = TK_DECIMAL, .precision = 18, .scale = 2};
    const struct tds_type d4_0 = {.kind = TK_DECIMAL, .precision = 4, .scale = 0};
    rows_typed("SELECT id FROM t WHERE dec = ? ORDER BY id", "74936.1899999999", &d18_2, "1");
    rows_typed("SELECT id FROM t WHERE dec = ? ORDER BY id", "120557.7400", &d18_2, "2");
    rows_typed("SELECT id FROM t WHERE dec = ? ORDER BY id", "9.495", &d18_2, "3");
    rows_typed("SELECT id FROM t WHERE dec = ? ORDER BY id", " +9.50 ", &d18_2, "3");
    rows_typed("SELECT id FROM t WHERE dec > ? ORDER BY id", "9.504", &d18_2, "1,2");
    rows_typed("SELECT id FROM t WHERE dec > ? ORDER BY id", "9.494", &d18_2, "1,2,3");
    rows_typed("SELECT id FROM t WHERE dec < ? ORDER BY id", "10", &d4_0, "3");
    rows_typed("SELECT id FROM t WHERE dec IN (?) ORDER BY id", "9.5", &d4_0, "");
    rows_typed("SELECT id FROM t WHERE dec > ? ORDER BY id", "-9.5", &d4_0, "1,2,3");
    /* the same text against an unknown column stays text */
    rows_are("SELECT id FROM t WHERE dec = ? ORDER BY id", "120557.7400", "");
}

Test(tdslite_param_text, a_string_that_is_no_number_fails_as_on_sql_server)
{
    const struct tds_type d6_2 = {.kind = TK_DECIMAL, .precision = 6, .scale = 2};
    static const char *const bad[][2] = {{"abc", "8114"}, {"1e3", "8114"}, {"", "8114"}, {"12345.6", "8115"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sqlite3_stmt *st;
        struct tds_error e = {0};
        cr_assert_eq(sqlite3_prepare_v2(db, "SELECT id FROM t WHERE dec = ?", -1, &st, NULL), SQLITE_OK);
        cr_assert_lt(tds_text_param_bind(st, 1, bad[i][0], strlen(bad[i][0]), &d6_2, &e), 0, "%s", bad[i][0]);
        char num[16];
        snprintf(num, sizeof num, "%d", (int)e.number);
        cr_assert_str_eq(num, bad[i][1], "%s: %s", bad[i][0], e.msg);
        sqlite3_finalize(st);
    }
}
