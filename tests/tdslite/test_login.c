/* tools/tdslite/prelogin.c and login.c: the handshake parsers, good and malformed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../tools/tdslite/tdslite.h"

Test(tdslite_login, prelogin_reports_the_clients_encryption_wish)
{
    /* VERSION (6 bytes) and ENCRYPTION (1 byte = ENCRYPT_REQ) */
    static const uint8_t p[] = {0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xFF,
                                9, 0, 0, 0, 0, 0, 3};
    uint8_t enc = 99;
    cr_assert_eq(tds_prelogin_parse(p, sizeof p, &enc), 0);
    cr_assert_eq(enc, 3);
}

Test(tdslite_login, prelogin_answers_encryption_as_sql_server_does)
{
    enum { OFF = TDS_ENCRYPT_OFF, ON = TDS_ENCRYPT_ON, NOT_SUP = TDS_ENCRYPT_NOT_SUP,
           REQ = TDS_ENCRYPT_REQ };
    /* MS-TDS 2.2.6.5: rows are the client's value; columns no TLS, TLS forced, TLS offered */
    static const uint8_t want[4][3] = {
        [OFF] = {NOT_SUP, REQ, OFF},
        [ON] = {NOT_SUP, ON, ON},
        [NOT_SUP] = {NOT_SUP, REQ, NOT_SUP},
        [REQ] = {NOT_SUP, ON, ON},
    };
    for (uint8_t client = 0; client < 4; client++) {
        cr_assert_eq(tds_prelogin_answer(false, false, client), want[client][0], "%u", client);
        cr_assert_eq(tds_prelogin_answer(true, true, client), want[client][1], "%u", client);
        cr_assert_eq(tds_prelogin_answer(true, false, client), want[client][2], "%u", client);
    }
}

Test(tdslite_login, malformed_prelogin_is_rejected)
{
    uint8_t enc;
    static const uint8_t no_end[] = {0, 0, 5, 0, 1};
    cr_assert_eq(tds_prelogin_parse(no_end, sizeof no_end, &enc), -EPROTO, "no terminator");
    static const uint8_t past[] = {1, 0, 200, 0, 1, 0xFF};
    cr_assert_eq(tds_prelogin_parse(past, sizeof past, &enc), -EPROTO, "offset past the end");
    static const uint8_t huge[] = {1, 0, 6, 0xFF, 0xFF, 0xFF};
    cr_assert_eq(tds_prelogin_parse(huge, sizeof huge, &enc), -EPROTO, "length past the end");
    static const uint8_t cut[] = {1, 0, 6};
    cr_assert_eq(tds_prelogin_parse(cut, sizeof cut, &enc), -EPROTO, "option cut short");
    cr_assert_eq(tds_prelogin_parse(cut, 0, &enc), -EPROTO, "empty");
}

/* Builds a LOGIN7 with user, password (obfuscated as clients do) and database. */
static size_t login7(uint8_t *b, const char *user, const char *pw, const char *db)
{
    memset(b, 0, 512);
    size_t off = 94;
    const char *strs[] = {user, pw, db};
    const size_t at[] = {40, 44, 68};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(strs[k]);
        b[at[k]] = (uint8_t)off;
        b[at[k] + 1] = (uint8_t)(off >> 8);
        b[at[k] + 2] = (uint8_t)n;
        for (size_t i = 0; i < n; i++) {
            uint8_t lo = (uint8_t)strs[k][i], hi = 0;
            if (k == 1) { /* swap nibbles, XOR 0xA5 */
                lo = (uint8_t)(((lo << 4) | (lo >> 4)) ^ 0xA5);
                hi = 0xA5;
            }
            b[off + 2 * i] = lo;
            b[off + 2 * i + 1] = hi;
        }
        off += 2 * n;
    }
    b[0] = (uint8_t)off;
    b[1] = (uint8_t)(off >> 8);
    b[4] = 0x04, b[7] = 0x74; /* TDS 7.4 */
    b[8] = 0x00, b[9] = 0x10; /* packet size 4096 */
    return off;
}

Test(tdslite_login, login7_strings_and_password_are_decoded)
{
    uint8_t b[512];
    size_t n = login7(b, "sa", "S3cret!", "cwwebapp_demo");
    struct tds_login l;
    cr_assert_eq(tds_login_parse(b, n, &l), 0);
    cr_assert_str_eq(l.user, "sa");
    cr_assert_str_eq(l.password, "S3cret!");
    cr_assert_str_eq(l.database, "cwwebapp_demo");
    cr_assert_eq(l.tds_version, 0x74000004);
    cr_assert_eq(l.packet_size, 4096);
}

Test(tdslite_login, malformed_login7_is_rejected)
{
    uint8_t b[512];
    struct tds_login l;
    size_t n = login7(b, "sa", "pw", "db");
    cr_assert_eq(tds_login_parse(b, 50, &l), -EPROTO, "shorter than the fixed part");
    cr_assert_eq(tds_login_parse(b, n - 1, &l), -EPROTO, "declared length beyond the message");
    b[42] = 250; /* user name: 250 characters that are not there */
    cr_assert_eq(tds_login_parse(b, n, &l), -EPROTO);
    n = login7(b, "sa", "pw", "db");
    b[40] = 0xFF, b[41] = 0x7F; /* offset far past the end */
    cr_assert_eq(tds_login_parse(b, n, &l), -EPROTO);
}
