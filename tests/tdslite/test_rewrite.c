/* tools/tdslite/rewrite.c: the T-SQL subset rewritten for SQLite, and malformed input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../tools/tdslite/rewrite.h"

static struct rw_batch b;
static struct tds_error e;

static void fini(void) { rw_batch_fini(&b); }
TestSuite(tdslite_rewrite, .fini = fini);

/* Rewrites one statement and returns its SQLite text. */
static const char *rw(const char *tsql)
{
    rw_batch_fini(&b);
    cr_assert_eq(rw_batch_parse(&b, tsql, strlen(tsql), "cwdb", &e), 0, "%s -> %d %s", tsql,
                 e.number, e.msg);
    cr_assert_eq(b.n, 1, "one statement from: %s", tsql);
    return (const char *)buf_data(&b.stmts[0].sql);
}

static void fails(const char *tsql, int32_t number)
{
    rw_batch_fini(&b);
    memset(&e, 0, sizeof e);
    cr_assert_eq(rw_batch_parse(&b, tsql, strlen(tsql), "cwdb", &e), -EINVAL, "accepted: %s", tsql);
    cr_assert_eq(e.number, number, "%s: error %d (%s), want %d", tsql, e.number, e.msg, number);
    cr_assert(e.class_ >= 15 && e.class_ <= 16, "class 15/16");
    cr_assert_eq(b.n, 0, "nothing left to free after an error");
}

Test(tdslite_rewrite, top_becomes_limit)
{
    cr_assert_str_eq(rw("SELECT TOP (10) a FROM t"), "SELECT a FROM \"t\" LIMIT (10)");
    cr_assert_str_eq(rw("SELECT TOP 5 a FROM t ORDER BY a"), "SELECT a FROM \"t\" ORDER BY a LIMIT 5");
    cr_assert_str_eq(rw("select distinct top (@n) a from t"), "SELECT distinct a from \"t\" LIMIT ( @n)");
}

Test(tdslite_rewrite, identifiers_are_quoted_with_inner_quotes_doubled)
{
    struct buf q;
    buf_init(&q, 0);
    rw_ident_put(&q, "Company");
    rw_ident_put(&q, "a\"b");
    rw_ident_put(&q, "");
    buf_putc(&q, '\0');
    cr_assert_str_eq((const char *)buf_data(&q), "\"Company\"\"a\"\"b\"\"\"");
    buf_fini(&q);
}

Test(tdslite_rewrite, top_in_a_subquery_limits_the_subquery)
{
    cr_assert_str_eq(rw("SELECT a FROM t WHERE a IN (SELECT TOP 1 b FROM u ORDER BY b)"),
                     "SELECT a FROM \"t\" WHERE a IN (SELECT b FROM \"u\" ORDER BY b LIMIT 1)");
}

Test(tdslite_rewrite, brackets_schemas_and_three_part_names)
{
    cr_assert_str_eq(rw("SELECT [Company_RecID] FROM [dbo].[Company]"),
                     "SELECT \"Company_RecID\" FROM \"Company\"");
    cr_assert_str_eq(rw("SELECT c.[x] FROM cwdb.dbo.Company c"), "SELECT \"c\".\"x\" FROM \"Company\" c");
    cr_assert_str_eq(rw("SELECT * FROM cwdb..Company"), "SELECT * FROM \"Company\"");
    cr_assert_str_eq(rw("SELECT [a]]b] FROM t"), "SELECT \"a]b\" FROM \"t\"");
    cr_assert_str_eq(rw("SELECT [we\"ird] FROM t"), "SELECT \"we\"\"ird\" FROM \"t\"");
}

Test(tdslite_rewrite, parameters_stay_parameters)
{
    const char *s = rw("SELECT TOP (@n) [Company_RecID] FROM [dbo].[Company] WITH (NOLOCK) "
                       "WHERE [Last_Update] > @P1 OR ([Last_Update] = @P1 AND [Company_RecID] > @P2) "
                       "ORDER BY [Last_Update], [Company_RecID]");
    cr_assert_str_eq(s, "SELECT \"Company_RecID\" FROM \"Company\" WHERE \"Last_Update\" > @p1 OR "
                        "(\"Last_Update\" = @p1 AND \"Company_RecID\" > @p2) ORDER BY "
                        "\"Last_Update\", \"Company_RecID\" LIMIT ( @n)");
}

/* The column each parameter meets (`col op @p`, `col [NOT] IN (@p, ...)`):
 * exec.c converts the parameter to that column's type, as SQL Server does. */
Test(tdslite_rewrite, parameters_note_the_column_they_are_compared_with)
{
    rw("SELECT a FROM [dbo].[T] WHERE [dbo].[T].[Annual_Revenue] > @P1 AND (x IN (@P2,@P3) OR "
       "[T].[y] NOT IN (@P4)) AND @P5 = 1 AND z LIKE @P6 AND w <= @P7 ORDER BY a OFFSET @P8 ROWS");
    const struct rw_stmt *st = &b.stmts[0];
    static const char *const want[][2] = {{"@p1", "Annual_Revenue"}, {"@p2", "x"}, {"@p3", "x"},
                                           {"@p4", "y"}, {"@p7", "w"}};
    cr_assert_eq(st->n_pcols, sizeof want / sizeof *want);
    for (size_t i = 0; i < st->n_pcols; i++) {
        cr_assert_str_eq(st->pcols[i].param, want[i][0]);
        cr_assert_str_eq(st->pcols[i].column, want[i][1], "%s", want[i][0]);
    }
}

Test(tdslite_rewrite, strings_are_copied_verbatim)
{
    cr_assert_str_eq(rw("SELECT N'it''s [not] @P1 -- no', 'x' FROM t"),
                     "SELECT 'it''s [not] @P1 -- no', 'x' FROM \"t\"");
}

Test(tdslite_rewrite, offset_fetch_becomes_limit_offset)
{
    cr_assert_str_eq(rw("SELECT a FROM t ORDER BY a OFFSET 20 ROWS FETCH NEXT 10 ROWS ONLY"),
                     "SELECT a FROM \"t\" ORDER BY a LIMIT 10 OFFSET 20");
    cr_assert_str_eq(rw("SELECT a FROM t ORDER BY a OFFSET @o ROWS"),
                     "SELECT a FROM \"t\" ORDER BY a LIMIT -1 OFFSET  @o");
}

Test(tdslite_rewrite, functions_and_system_variables)
{
    cr_assert_str_eq(rw("SELECT COUNT_BIG(*), SYSUTCDATETIME(), GETDATE(), DB_NAME(), @@VERSION, ISNULL(a, 0) FROM t"),
                     "SELECT count (*), tdslite_sysutcdatetime (), tdslite_getdate (), tdslite_db_name (), "
                     "tdslite_version(), ifnull (a, 0) FROM \"t\"");
}

Test(tdslite_rewrite, hints_and_options_are_dropped)
{
    cr_assert_str_eq(rw("SELECT a FROM t WITH (NOLOCK, READUNCOMMITTED) OPTION (RECOMPILE)"),
                     "SELECT a FROM \"t\"");
    cr_assert_str_eq(rw("SELECT a FROM t (NOLOCK)"), "SELECT a FROM \"t\"");
}

Test(tdslite_rewrite, long_numbers_become_exact_text)
{
    cr_assert_str_eq(rw("SELECT 12345678901234567890.0123456789, -922337203685477.5808, 1.5, -2"),
                     "SELECT '12345678901234567890.0123456789', '-922337203685477.5808', 1.5, - 2");
    cr_assert_str_eq(rw("SELECT a - 12345678901234567890.5 FROM t"),
                     "SELECT a - '12345678901234567890.5' FROM \"t\"");
}

Test(tdslite_rewrite, batches_split_into_statements)
{
    rw_batch_fini(&b);
    const char *sql = "SET TEXTSIZE 2147483647 SET NOCOUNT ON\n"
                      "UPDATE t SET a = 1 WHERE b IN (SELECT c FROM u)\n"
                      "INSERT INTO t (a) SELECT 1 UNION ALL SELECT 2;"
                      "SELECT 1 USE cwdb\nDROP TABLE IF EXISTS x";
    cr_assert_eq(rw_batch_parse(&b, sql, strlen(sql), "cwdb", &e), 0, "%s", e.msg);
    cr_assert_eq(b.n, 7);
    cr_assert_eq(b.stmts[0].kind, RW_IGNORE);
    cr_assert_eq(b.stmts[1].kind, RW_IGNORE);
    cr_assert_eq(b.stmts[2].kind, RW_DML);
    cr_assert_eq(b.stmts[3].kind, RW_DML);
    cr_assert_eq(b.stmts[4].kind, RW_QUERY);
    cr_assert_eq(b.stmts[5].kind, RW_USE);
    cr_assert_str_eq(b.stmts[5].target, "cwdb");
    cr_assert_eq(b.stmts[6].kind, RW_DROP_TABLE);
    cr_assert_str_eq(b.stmts[6].target, "x");
}

Test(tdslite_rewrite, create_table_records_declared_types)
{
    const char *s = rw("CREATE TABLE [dbo].[T] ([id] int IDENTITY(1,1) NOT NULL, name nvarchar(50) NULL, "
                       "amt money, d datetime2(3), big nvarchar(max), CONSTRAINT PK_T PRIMARY KEY CLUSTERED (id)) "
                       "ON [PRIMARY]");
    cr_assert_str_eq(s, "CREATE TABLE \"T\" (\"id\" INTEGER NOT NULL, \"name\" TEXT NULL COLLATE NOCASE, "
                        "\"amt\" , \"d\" TEXT, \"big\" TEXT COLLATE NOCASE, CONSTRAINT PK_T PRIMARY KEY (id))");
    const struct rw_stmt *st = &b.stmts[0];
    cr_assert_eq(st->kind, RW_CREATE_TABLE);
    cr_assert_str_eq(st->target, "T");
    cr_assert_eq(st->n_cols, 5);
    cr_assert(st->cols[0].identity && !st->cols[0].nullable);
    cr_assert(st->cols[1].type.kind == TK_NVARCHAR && st->cols[1].type.length == 50 && st->cols[1].nullable);
    cr_assert(st->cols[2].type.kind == TK_MONEY);
    cr_assert(st->cols[3].type.kind == TK_DATETIME2 && st->cols[3].type.scale == 3);
    cr_assert(st->cols[4].type.length == TDS_LEN_MAX);
}

Test(tdslite_rewrite, select_list_hints_type_expressions)
{
    rw("SELECT COUNT_BIG(*), MAX([Last_Update]) AS m, SUM(x) s, CAST(a AS decimal(10,2)), 42, N'abc', "
       "a, @P1 FROM dbo.Company");
    const struct rw_stmt *st = &b.stmts[0];
    cr_assert(st->items_valid);
    cr_assert_eq(st->n_items, 8);
    cr_assert(st->items[0].hint == RH_TYPE && st->items[0].type.kind == TK_INT && st->items[0].type.size == 8);
    cr_assert(st->items[0].anon, "no alias: SQL Server sends an empty name");
    cr_assert(st->items[1].hint == RH_COLUMN && strcmp(st->items[1].name, "Last_Update") == 0);
    cr_assert_not(st->items[1].anon);
    cr_assert(st->items[2].hint == RH_SUM && !st->items[2].anon);
    cr_assert(st->items[3].hint == RH_TYPE && st->items[3].type.kind == TK_DECIMAL && st->items[3].type.scale == 2);
    cr_assert(st->items[4].hint == RH_TYPE && st->items[4].type.size == 4);
    cr_assert(st->items[5].hint == RH_TYPE && st->items[5].type.kind == TK_NVARCHAR && st->items[5].type.length == 3);
    cr_assert(st->items[6].hint == RH_NONE && !st->items[6].anon);
    cr_assert(st->items[7].hint == RH_PARAM && strcmp(st->items[7].name, "@p1") == 0);
    cr_assert_eq(st->n_from, 1);
    cr_assert_str_eq(st->from[0], "Company");
}

Test(tdslite_rewrite, information_schema_maps_to_temp_tables)
{
    const char *s = rw("SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'x'");
    cr_assert_str_eq(s, "SELECT COLUMN_NAME FROM temp.\"__tdslite_is_columns\" WHERE TABLE_NAME = 'x'");
    cr_assert(b.stmts[0].info_schema);
}

Test(tdslite_rewrite, malformed_input_gets_sql_server_errors)
{
    fails("SELECT 'abc", 105);
    fails("SELECT [abc", 105);
    fails("SELECT 1 /* open", 113);
    fails("SELECT (1", 102);
    fails("SELECT 1)", 102);
    fails("SELEC x", 102);
    fails("@", 102);
    fails("SELECT @@NOPE", 137);
    fails("SELECT * FROM sys.objects", 208);
    fails("SELECT * FROM INFORMATION_SCHEMA.ROUTINES", 208);
    fails("SELECT TOP 10 PERCENT a FROM t", 50000);
    fails("SELECT TOP 1 a FROM t ORDER BY a OFFSET 1 ROWS", 10741);
    fails("SELECT a FROM t ORDER BY a OFFSET 1", 102);
    fails("EXEC sp_who", 50000);
    fails("CREATE TABLE t (a geography)", 2715);
    fails("SELECT TOP", 102);
}

Test(tdslite_rewrite, deep_nesting_is_refused_not_crashed)
{
    char sql[400] = "SELECT ";
    for (int i = 0; i < 100; i++)
        strcat(sql, "(");
    strcat(sql, "1");
    fails(sql, 50000);
}

Test(tdslite_rewrite, random_bytes_never_crash)
{
    /* A cheap fuzz: every outcome is fine except a crash or a leak (ASan watches). */
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 2000; round++) {
        char sql[64];
        size_t n = (size_t)(round % 63);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            static const char alphabet[] = "SELCT FROMWHERTOP()[]'\"@.,;*-/N0123x\n";
            sql[i] = alphabet[x % (sizeof alphabet - 1)];
        }
        rw_batch_fini(&b);
        if (rw_batch_parse(&b, sql, n, "cwdb", &e) < 0)
            cr_assert_eq(b.n, 0);
    }
}

Test(tdslite_rewrite, params_declaration_gives_names_in_order)
{
    char(*names)[RW_NAME_MAX];
    size_t n;
    const char *d = "@P1 int, @When datetime2(7) OUTPUT, @d decimal(18, 4)";
    cr_assert_eq(rw_params_decl(d, strlen(d), &names, &n, &e), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(names[0], "@p1");
    cr_assert_str_eq(names[1], "@when");
    cr_assert_str_eq(names[2], "@d");
    free(names);
    cr_assert_eq(rw_params_decl("int @x", 6, &names, &n, &e), -EINVAL);
}

Test(tdslite_rewrite, a_cast_to_a_date_type_keeps_the_stored_text_and_types_the_column)
{
    /* SQLite would give datetime2 NUMERIC affinity: '2026-01-02 ...' would become 2026. */
    cr_assert_str_eq(rw("SELECT CAST(MAX([Last_Update]) AS datetime2(7)) FROM t"),
                     "SELECT CAST(MAX (\"Last_Update\")  AS TEXT) FROM \"t\"");
    const struct rw_stmt *st = &b.stmts[0];
    cr_assert(st->items[0].hint == RH_TYPE && st->items[0].type.kind == TK_DATETIME2);
    cr_assert_str_eq(rw("SELECT CAST(GETDATE() AS date)"), "SELECT CAST(tdslite_getdate ()  AS TEXT)");
    cr_assert_str_eq(rw("SELECT CAST(a AS bigint) FROM t"), "SELECT CAST (a AS bigint) FROM \"t\"");
}
