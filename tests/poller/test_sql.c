#include <criterion/criterion.h>
#include <string.h>

#include "poller/poller_int.h"
#include "schema_fixture.h"

TestSuite(poller_sql);

static const char schema_text[] =
    "/// @cursor lastUpdate\n"
    "model Company {\n"
    "  companyRecId Int      @id @map(\"Company_RecID\")\n"
    "  name         String?  @map(\"Company_Name\") @db.NVarChar(50)\n"
    "  odd          String?  @map(\"We]ird\") @db.NVarChar(5)\n"
    "  lastUpdate   DateTime? @map(\"Last_Update\") @db.DateTime\n"
    "  @@map(\"Company\")\n"
    "}\n"
    "model BillingTerms {\n"
    "  billingTermsRecId BigInt @id @map(\"Billing_Terms_RecID\")\n"
    "  description String @map(\"Description\") @db.NVarChar(50)\n"
    "  @@map(\"Billing_Terms\")\n"
    "}\n";

static struct schema *load(void) { return fixture_schema(schema_text); }

static void expect(const struct schema_model *m, enum poller_sql_kind k, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    poller_sql_build(&b, m, k);
    cr_assert_str_eq((const char *)buf_data(&b), want);
    buf_fini(&b);
}

Test(poller_sql, keyset_pages_follow_last_update_then_key)
{
    struct schema *s = load();
    const struct schema_model *m = schema_model_find(s, "Company");
    const char *cols = "[Company_RecID], [Company_Name], [We]]ird], [Last_Update]";
    char want[512];
    snprintf(want, sizeof want, "SELECT TOP (@batch) %s FROM [dbo].[Company] WHERE [Last_Update] >= @t "
             "AND ([Last_Update] > @t OR [Company_RecID] > @id) ORDER BY [Last_Update], [Company_RecID]", cols);
    expect(m, POLLER_SQL_KEYSET, want);
    snprintf(want, sizeof want, "SELECT TOP (@batch) %s FROM [dbo].[Company] ORDER BY [Last_Update], "
             "[Company_RecID]", cols);
    expect(m, POLLER_SQL_KEYSET_FIRST, want);
    snprintf(want, sizeof want, "SELECT TOP (@batch) %s FROM [dbo].[Company] WHERE ([Last_Update] IS NULL "
             "AND [Company_RecID] > @id) OR [Last_Update] IS NOT NULL ORDER BY [Last_Update], [Company_RecID]", cols);
    expect(m, POLLER_SQL_KEYSET_NULLS, want);
    snprintf(want, sizeof want,
             "SELECT TOP (@batch) %s FROM [dbo].[Company] WHERE [Last_Update] >= @t "
             "ORDER BY [Last_Update], [Company_RecID]",
             cols);
    expect(m, POLLER_SQL_KEYSET_FROM, want);
    schema_free(s);
}

Test(poller_sql, a_last_update_group_is_read_by_key_alone)
{
    struct schema *s = load();
    const struct schema_model *m = schema_model_find(s, "Company");
    expect(m, POLLER_SQL_GROUP,
           "SELECT TOP (@batch) [Company_RecID], [Company_Name], [We]]ird], "
           "[Last_Update] FROM [dbo].[Company] WHERE [Last_Update] >= @t AND [Last_Update] < @tn "
           "AND [Company_RecID] >= @id ORDER BY [Company_RecID]");
    schema_free(s);
}

Test(poller_sql, key_walks_and_counts)
{
    struct schema *s = load();
    const struct schema_model *m = schema_model_find(s, "BillingTerms");
    expect(m, POLLER_SQL_KEYS,
           "SELECT TOP (@batch) [Billing_Terms_RecID] FROM [dbo].[Billing_Terms] WHERE "
           "[Billing_Terms_RecID] > @id ORDER BY [Billing_Terms_RecID]");
    expect(m, POLLER_SQL_KEYS_FIRST,
           "SELECT TOP (@batch) [Billing_Terms_RecID] FROM [dbo].[Billing_Terms] "
           "ORDER BY [Billing_Terms_RecID]");
    expect(m, POLLER_SQL_ROWS,
           "SELECT TOP (@batch) [Billing_Terms_RecID], [Description] FROM [dbo].[Billing_Terms] "
           "WHERE [Billing_Terms_RecID] > @id ORDER BY [Billing_Terms_RecID]");
    expect(m, POLLER_SQL_COUNT, "SELECT COUNT_BIG(*) FROM [dbo].[Billing_Terms]");
    cr_assert_str_eq(poller_sql_pk_decl(m), "bigint");
    cr_assert_eq(poller_sql_pk_type(m), SYBINT8);
    schema_free(s);
}

Test(poller_sql, statements_without_a_cursor_are_not_built)
{
    struct schema *s = load();
    struct poller_src_model pm;
    poller_src_init(&pm, schema_model_find(s, "BillingTerms"));
    cr_assert_null(pm.stmt[POLLER_SQL_KEYSET]);
    cr_assert_not_null(pm.stmt[POLLER_SQL_ROWS]);
    poller_src_fini(&pm);
    poller_src_init(&pm, schema_model_find(s, "Company"));
    cr_assert_not_null(pm.stmt[POLLER_SQL_KEYSET]);
    cr_assert_eq(pm.clock, POLLER_SRC_CLOCK_LOCAL, "Last_Update is local time: GETDATE()");
    poller_src_fini(&pm);
    schema_free(s);
}

Test(poller_sql, keyset_parameters_are_typed)
{
    struct schema *s = load();
    struct poller_src_model pm;
    poller_src_init(&pm, schema_model_find(s, "Company"));
    struct poller_keyset k;
    poller_keyset_set(&k, &pm, POLLER_SQL_KEYSET, 5000, 0, 0, 42);
    cr_assert_eq(k.n, 3);
    cr_assert_str_eq(k.ps[0].name, "@batch");
    cr_assert_str_eq(k.ps[1].decl, "datetime");
    cr_assert_eq(k.ps[1].type, SYBDATETIME);
    cr_assert_eq(k.dt[0].dtdays, 25567);
    cr_assert_str_eq(k.ps[2].decl, "int");
    cr_assert_eq(k.id4, 42);
    poller_keyset_set(&k, &pm, POLLER_SQL_KEYSET_FIRST, 10, 0, 0, 0);
    cr_assert_eq(k.n, 1);
    /* A group window: @t and @tn in the column's type, @id last. */
    poller_keyset_set(&k, &pm, POLLER_SQL_GROUP, 10, 0, 864000000000LL, 7);
    cr_assert_eq(k.n, 4);
    cr_assert_str_eq(k.ps[1].name, "@t");
    cr_assert_str_eq(k.ps[2].name, "@tn");
    cr_assert_eq(k.ps[2].val, &k.dt[1]);
    cr_assert_eq(k.dt[1].dtdays, 25568);
    cr_assert_str_eq(k.ps[3].name, "@id");
    cr_assert_eq(k.id4, 7);
    poller_src_fini(&pm);
    schema_free(s);
}

