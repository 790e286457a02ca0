/* tools/tdslite/types.c: type declarations, dates, decimals, GUIDs, text encodings. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../tools/tdslite/tdslite.h"

static struct tds_type parse(const char *s)
{
    struct tds_type t;
    cr_assert_eq(tds_type_parse(s, strlen(s), &t), 0, "'%s' should parse", s);
    return t;
}

Test(tdslite_types, declared_types_parse_with_their_arguments)
{
    struct tds_type t = parse("NVARCHAR(50)");
    cr_assert(t.kind == TK_NVARCHAR && t.length == 50);
    t = parse("nvarchar(max)");
    cr_assert(t.kind == TK_NVARCHAR && t.length == TDS_LEN_MAX);
    t = parse("decimal(18, 4)");
    cr_assert(t.kind == TK_DECIMAL && t.precision == 18 && t.scale == 4);
    t = parse("numeric");
    cr_assert(t.kind == TK_DECIMAL && t.precision == 18 && t.scale == 0);
    t = parse("datetime2");
    cr_assert(t.kind == TK_DATETIME2 && t.scale == 7);
    t = parse("datetime2(3)");
    cr_assert(t.scale == 3);
    t = parse("smallmoney");
    cr_assert(t.kind == TK_MONEY && t.size == 4);
    t = parse("float(24)");
    cr_assert(t.kind == TK_FLOAT && t.size == 4);
    t = parse(" bigint ");
    cr_assert(t.kind == TK_INT && t.size == 8);
    t = parse("INTEGER"); /* SQLite's own name */
    cr_assert(t.kind == TK_INT && t.size == 8);
    char out[64];
    tds_type_format(&(struct tds_type){.kind = TK_DECIMAL, .precision = 38, .scale = 10}, out, sizeof out);
    cr_assert_str_eq(out, "decimal(38,10)");
}

Test(tdslite_types, bad_declarations_are_refused)
{
    static const char *const bad[] = {"", "nvarchar(", "nvarchar(0)", "nvarchar(4001)", "varchar(8001)",
                                      "decimal(39,2)", "decimal(5,6)", "datetime2(8)", "int(4)",
                                      "xml", "nvarchar(50) junk", "decimal(1,2,3)", "money(4)",
                                      "nvarchar(-5)", "varchar(99999999999)"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct tds_type t;
        cr_assert_eq(tds_type_parse(bad[i], strlen(bad[i]), &t), -EINVAL, "'%s' accepted", bad[i]);
    }
}

static struct tds_when when(const char *s)
{
    struct tds_when w;
    cr_assert_eq(tds_when_parse(s, strlen(s), &w), 0, "'%s' should parse", s);
    return w;
}

Test(tdslite_types, dates_round_trip_through_the_stored_text)
{
    static const char *const in[] = {"0001-01-01 00:00:00.0000000", "1753-01-01 00:00:00.0000000",
                                     "2024-02-29 23:59:59.9999999", "9999-12-31 23:59:59.9999999",
                                     "1970-01-01 12:34:56.1000000"};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        struct tds_when w = when(in[i]);
        char out[28];
        tds_when_format(&w, false, out);
        cr_assert_str_eq(out, in[i]);
    }
    struct tds_when w = when("2024-03-01T12:00");
    char out[28];
    tds_when_format(&w, true, out);
    cr_assert_str_eq(out, "2024-03-01");
    cr_assert_eq(when("0001-01-01").days, 0);
    cr_assert_eq(when("1900-01-01").days, 693595);
}

Test(tdslite_types, stored_text_sorts_in_time_order)
{
    char a[28], b[28];
    struct tds_when x = when("2024-01-01 10:00:00.003"), y = when("2024-01-01 10:00:00.0033334");
    tds_when_format(&x, false, a);
    tds_when_format(&y, false, b);
    cr_assert_lt(strcmp(a, b), 0);
}

Test(tdslite_types, bad_dates_are_refused)
{
    static const char *const bad[] = {"2023-02-29", "2024-13-01", "2024-00-10", "2024-01-32",
                                      "2024-01-01 24:00", "2024-01-01 10:60", "2024-1-1", "yesterday",
                                      "2024-01-01 10:00:00.", "0000-01-01", "2024-01-01 10:00:00 x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct tds_when w;
        cr_assert_eq(tds_when_parse(bad[i], strlen(bad[i]), &w), -EINVAL, "'%s' accepted", bad[i]);
    }
}

Test(tdslite_types, every_datetime_tick_survives_the_text_form)
{
    /* datetime counts 1/300 s: each of the 300 ticks of a second must come back unchanged */
    for (uint32_t t = 0; t < 300; t++) {
        struct tds_when w;
        tds_when_from_datetime(45000, 86399 * 300 + t, &w);
        char s[28];
        tds_when_format(&w, false, s);
        struct tds_when back = when(s);
        int32_t d;
        uint32_t t300;
        cr_assert_eq(tds_when_to_datetime(&back, &d, &t300), 0);
        cr_assert(d == 45000 && t300 == 86399 * 300 + t, "tick %u came back as %u", t, t300 % 300);
    }
}

Test(tdslite_types, datetime_range_is_enforced)
{
    int32_t d;
    uint32_t t;
    struct tds_when w = when("1752-12-31 23:59:59");
    cr_assert_eq(tds_when_to_datetime(&w, &d, &t), -ERANGE);
    w = when("9999-12-31 23:59:59.998");
    cr_assert_eq(tds_when_to_datetime(&w, &d, &t), 0);
    cr_assert_eq(t, 86399 * 300 + 299, ".998 rounds to the .997 tick");
    w = when("2024-01-01 23:59:59.9999");
    cr_assert_eq(tds_when_to_datetime(&w, &d, &t), 0);
    cr_assert(t == 0, "rounds up into the next day");
}

static void dec_ok(const char *in, uint8_t scale, const char *want)
{
    struct tds_dec d;
    cr_assert_eq(tds_dec_parse(in, strlen(in), scale, &d), 0, "'%s'", in);
    char out[48];
    tds_dec_format(&d, scale, out);
    cr_assert_str_eq(out, want, "'%s' at scale %u", in, scale);
}

Test(tdslite_types, decimals_are_exact_and_round_half_away_from_zero)
{
    dec_ok("12.345", 2, "12.35");
    dec_ok("-12.345", 2, "-12.35");
    dec_ok("0.005", 4, "0.0050");
    dec_ok("1e3", 0, "1000");
    dec_ok("+.5", 0, "1");
    dec_ok("-0.0001", 2, "0.00");
    dec_ok("99999999999999999999999999999999999999", 0, "99999999999999999999999999999999999999");
    dec_ok("-922337203685477.5808", 4, "-922337203685477.5808");
    dec_ok("1.5e-3", 4, "0.0015");
}

Test(tdslite_types, bad_or_huge_decimals_are_refused)
{
    struct tds_dec d;
    cr_assert_eq(tds_dec_parse("abc", 3, 0, &d), -EINVAL);
    cr_assert_eq(tds_dec_parse("", 0, 0, &d), -EINVAL);
    cr_assert_eq(tds_dec_parse("1.2.3", 5, 0, &d), -EINVAL);
    cr_assert_eq(tds_dec_parse("1e", 2, 0, &d), -EINVAL);
    cr_assert_eq(tds_dec_parse("100000000000000000000000000000000000000", 39, 0, &d), -ERANGE);
    cr_assert_eq(tds_dec_parse("1e999", 5, 0, &d), -ERANGE);
    cr_assert_eq(tds_dec_parse("1", 1, 38, &d), -ERANGE, "1 at scale 38 needs 39 digits");
}

Test(tdslite_types, guids_use_sql_servers_byte_order)
{
    uint8_t b[16];
    cr_assert_eq(tds_guid_parse("6F9619FF-8B86-D011-B42D-00C04FC964FF", 36, b), 0);
    static const uint8_t want[16] = {0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0,
                                     0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF};
    cr_assert_eq(memcmp(b, want, 16), 0);
    char out[37];
    tds_guid_format(b, out);
    cr_assert_str_eq(out, "6F9619FF-8B86-D011-B42D-00C04FC964FF");
    cr_assert_eq(tds_guid_parse("{6f9619ff-8b86-d011-b42d-00c04fc964ff}", 38, b), 0);
    cr_assert_eq(tds_guid_parse("6F9619FF8B86-D011-B42D-00C04FC964FF0", 36, b), -EINVAL);
    cr_assert_eq(tds_guid_parse("6F9619FF-8B86-D011-B42D-00C04FC964FG", 36, b), -EINVAL);
    cr_assert_eq(tds_guid_parse("6F96", 4, b), -EINVAL);
}

Test(tdslite_types, utf16_round_trips_including_surrogate_pairs)
{
    static const char s[] = "Zoë Müller 東京 \xF0\x9F\x98\x80"; /* U+1F600 needs a pair */
    struct buf u16, u8;
    buf_init(&u16, 0);
    buf_init(&u8, 0);
    size_t units = utf8_to_utf16(&u16, s, sizeof s - 1);
    cr_assert_eq(units, utf8_utf16_units(s, sizeof s - 1));
    cr_assert_eq(units, 16);
    utf16_to_utf8(&u8, buf_data(&u16), units);
    cr_assert_eq(u8.len, sizeof s - 1);
    cr_assert_eq(memcmp(buf_data(&u8), s, u8.len), 0);
    buf_fini(&u16);
    buf_fini(&u8);
}

Test(tdslite_types, invalid_utf8_and_lone_surrogates_become_replacement_characters)
{
    struct buf u16, u8;
    buf_init(&u16, 0);
    buf_init(&u8, 0);
    cr_assert_eq(utf8_to_utf16(&u16, "a\xFF\xC3", 3), 3);
    cr_assert_eq(buf_data(&u16)[2], 0xFD);
    cr_assert_eq(buf_data(&u16)[3], 0xFF);
    static const uint8_t lone[] = {0x00, 0xD8, 0x41, 0x00}; /* high surrogate, then 'A' */
    utf16_to_utf8(&u8, lone, 2);
    cr_assert_eq(u8.len, 4);
    cr_assert_eq(memcmp(buf_data(&u8), "\xEF\xBF\xBD" "A", 4), 0);
    buf_fini(&u16);
    buf_fini(&u8);
}

Test(tdslite_types, windows_1252_maps_both_ways)
{
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    utf8_to_cp1252(&a, "café €5 東", strlen("café €5 東"));
    cr_assert_eq(a.len, 9);
    cr_assert_eq(memcmp(buf_data(&a), "caf\xE9 \x80" "5 ?", 9), 0, "unmappable becomes '?'");
    cp1252_to_utf8(&b, buf_data(&a), a.len);
    cr_assert_eq(memcmp(buf_data(&b), "café €5 ?", b.len), 0);
    buf_fini(&a);
    buf_fini(&b);
}
