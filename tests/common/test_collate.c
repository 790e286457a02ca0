#include <criterion/criterion.h>
#include <string.h>

#include "collate.h"

static int cmp(const char *a, const char *b)
{
    int c = collate_cmp((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b));
    return (c > 0) - (c < 0);
}

static bool match(const char *hay, const char *needle, enum collate_match how)
{
    return collate_match((const uint8_t *)hay, strlen(hay), (const uint8_t *)needle, strlen(needle), how);
}

Test(common_collate, case_insensitive_accent_sensitive)
{
    cr_assert_eq(cmp("Acme", "ACME"), 0);
    cr_assert_eq(cmp("ÉCOLE", "école"), 0, "Latin-1 capitals fold");
    cr_assert_eq(cmp("ŁÓDŹ", "łódź"), 0, "Latin Extended-A folds");
    cr_assert_eq(cmp("МОСКВА", "москва"), 0, "Cyrillic folds");
    cr_assert_neq(cmp("école", "ecole"), 0, "accents stay distinct");
    cr_assert_eq(cmp("a", "B"), -1, "case does not decide the order");
    cr_assert_eq(cmp("Zeta", "alpha"), 1);
    cr_assert_eq(cmp("ab", "abc"), -1, "a prefix sorts first");
    cr_assert_eq(cmp("e", "é"), -1, "accented letters after ASCII (code point order)");
}

Test(common_collate, trailing_spaces_are_ignored_as_sql_server_pads)
{
    cr_assert_eq(cmp("abc  ", "ABC"), 0);
    cr_assert_eq(cmp(" abc", "abc"), -1, "leading spaces count");
    cr_assert_eq(cmp("", "   "), 0);
}

Test(common_collate, like_matches_fold_and_keep_spaces)
{
    cr_assert(match("Grandkid", "KI", COLLATE_CONTAINS));
    cr_assert(match("Grandkid", "", COLLATE_CONTAINS));
    cr_assert(!match("Grandkid", "kx", COLLATE_CONTAINS));
    cr_assert(match("Grandkid", "gRAND", COLLATE_STARTS));
    cr_assert(!match("Gran", "grand", COLLATE_STARTS));
    cr_assert(match("Grandkid", "KID", COLLATE_ENDS));
    cr_assert(!match("kid", "grandkid", COLLATE_ENDS));
    cr_assert(!match("abc ", "c", COLLATE_ENDS), "LIKE does not ignore trailing spaces");
    cr_assert(match("Ünïcödé", "CÖD", COLLATE_CONTAINS));
}

Test(common_collate, invalid_utf8_bytes_are_their_own_code_points)
{
    const uint8_t bad[] = {'a', 0xC3, 'b'};
    size_t i = 1;
    cr_assert_eq(collate_next(bad, sizeof bad, &i), 0xC3);
    cr_assert_eq(i, 2);
    cr_assert_eq(collate_fold('Q'), 'q');
    cr_assert_eq(collate_fold(0xD7), 0xD7, "the multiplication sign is not a letter");
}

static int gcmp(const char *a, const char *b)
{
    int c = collate_guid_cmp((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b));
    return (c > 0) - (c < 0);
}

/* SQL Server's uniqueidentifier order: the text's last group decides first,
 * then bytes 8-9, then 7 before 6, 5 before 4, 3 down to 0. */
Test(common_collate, guids_order_by_sql_server_byte_groups)
{
    cr_assert_eq(gcmp("ff000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"), -1);
    cr_assert_eq(gcmp("00000000-0000-0000-0100-000000000001", "00000000-0000-0001-0000-000000000001"), 1);
    cr_assert_eq(gcmp("00000000-0000-0001-0000-000000000001", "00000000-0000-0100-0000-000000000001"), 1);
    cr_assert_eq(gcmp("00000000-0001-0000-0000-000000000001", "00000000-0100-0000-0000-000000000001"), 1);
    cr_assert_eq(gcmp("00000001-0000-0000-0000-000000000001", "ff000000-0000-0000-0000-000000000001"), 1);
    cr_assert_eq(gcmp("0000FF00-0000-0000-0000-000000000001", "0000ff00-0000-0000-0000-000000000001"), 0,
                 "case is ignored");
    cr_assert_eq(gcmp("a", "B"), -1, "text that is no GUID compares by the collation");
}
