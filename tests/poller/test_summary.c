/*
 * The statement src/poller/summary.c sends once per poll: one row per
 * polled model with a cursor (count, newest last-update as datetime2(7),
 * largest key) after one row with the source clock; identifiers quoted.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "poller/poller_int.h"
#include "schema_fixture.h"

TestSuite(poller_summary);

static const char schema_text[] =
    "/// @cursor lastUpdate\n"
    "model Company {\n"
    "  companyRecId Int      @id @map(\"Company_RecID\")\n"
    "  lastUpdate   DateTime? @map(\"Last]Update\") @db.DateTime\n"
    "  @@map(\"Company\")\n"
    "}\n"
    "model BillingTerms {\n"
    "  billingTermsRecId BigInt @id @map(\"Billing_Terms_RecID\")\n"
    "  @@map(\"Billing_Terms\")\n"
    "}\n"
    "/// @cursor lastUpdateUtc\n"
    "model Contact {\n"
    "  contactRecId  BigInt   @id @map(\"Contact_RecID\")\n"
    "  lastUpdateUtc DateTime @map(\"Last_Update_UTC\") @db.DateTime2\n"
    "  @@map(\"Contact\")\n"
    "}\n";

Test(poller_summary, one_row_per_polled_model_with_a_cursor)
{
    struct schema *s = fixture_schema(schema_text);
    bool models[3] = {true, true, true};
    struct poller_summary sum;
    poller_summary_init(&sum, s, models);
    cr_assert_str_eq(sum.sql,
                     "SELECT 3, CAST(0 AS bigint), SYSUTCDATETIME(), CAST(0 AS bigint) "
                     "UNION ALL SELECT 0, (SELECT COUNT_BIG(*) FROM [dbo].[Company]), "
                     "(SELECT CAST(MAX([Last]]Update]) AS datetime2(7)) FROM [dbo].[Company]), "
                     "(SELECT CAST(MAX([Company_RecID]) AS bigint) FROM [dbo].[Company]) "
                     "UNION ALL SELECT 2, (SELECT COUNT_BIG(*) FROM [dbo].[Contact]), "
                     "(SELECT CAST(MAX([Last_Update_UTC]) AS datetime2(7)) FROM [dbo].[Contact]), "
                     "(SELECT CAST(MAX([Contact_RecID]) AS bigint) FROM [dbo].[Contact])");
    cr_assert_eq(sum.n, 3);
    poller_summary_fini(&sum);
    schema_free(s);
}

Test(poller_summary, models_not_polled_or_without_a_cursor_are_left_out)
{
    struct schema *s = fixture_schema(schema_text);
    bool models[3] = {false, true, true};
    struct poller_summary sum;
    poller_summary_init(&sum, s, models);
    cr_assert_str_eq(sum.sql, "SELECT 3, CAST(0 AS bigint), SYSUTCDATETIME(), CAST(0 AS bigint) "
                              "UNION ALL SELECT 2, (SELECT COUNT_BIG(*) FROM [dbo].[Contact]), "
                              "(SELECT CAST(MAX([Last_Update_UTC]) AS datetime2(7)) FROM "
                              "[dbo].[Contact]), (SELECT CAST(MAX([Contact_RecID]) AS bigint) "
                              "FROM [dbo].[Contact])");
    poller_summary_fini(&sum);
    models[2] = false;
    poller_summary_init(&sum, s, models);
    cr_assert_str_eq(sum.sql, "");
    poller_summary_fini(&sum);
    schema_free(s);
}
