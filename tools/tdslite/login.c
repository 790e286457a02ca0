/*
 * LOGIN7 (MS-TDS 2.2.6.4): the fixed 94-byte header holds offset/length
 * pairs (in UTF-16 code units) of the strings that follow. Every pair is
 * checked against the message length before use.
 */
#include "tdslite.h"

#include <errno.h>
#include <string.h>

#define LOGIN_FIXED 94

/* Copies the UTF-16 string at the offset/length pair at `at` as UTF-8. */
static int login_str(const uint8_t *p, size_t len, size_t at, bool password, char *out,
                     size_t outlen)
{
    size_t off = (size_t)(p[at] | p[at + 1] << 8), units = (size_t)(p[at + 2] | p[at + 3] << 8);
    if (off > len || units * 2 > len - off)
        return -EPROTO;
    uint8_t tmp[512];
    if (units * 2 > sizeof tmp)
        return -EPROTO;
    memcpy(tmp, p + off, units * 2);
    if (password) {
        /* Undo the obfuscation: XOR 0xA5, then swap the nibbles back. */
        for (size_t i = 0; i < units * 2; i++) {
            uint8_t b = tmp[i] ^ 0xA5;
            tmp[i] = (uint8_t)(b << 4 | b >> 4);
        }
    }
    struct buf u8;
    buf_init(&u8, 0);
    utf16_to_utf8(&u8, tmp, units);
    int rc = u8.len < outlen ? 0 : -EPROTO;
    if (rc == 0) {
        if (u8.len)
            memcpy(out, buf_data(&u8), u8.len);
        out[u8.len] = '\0';
    }
    buf_fini(&u8);
    return rc;
}

int tds_login_parse(const uint8_t *p, size_t len, struct tds_login *out)
{
    memset(out, 0, sizeof *out);
    if (len < LOGIN_FIXED)
        return -EPROTO;
    uint32_t total = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
    if (total > len || total < LOGIN_FIXED)
        return -EPROTO;
    len = total;
    out->tds_version = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                       (uint32_t)p[7] << 24;
    out->packet_size = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 |
                       (uint32_t)p[11] << 24;
    if (login_str(p, len, 36, false, out->host, sizeof out->host) < 0 ||
        login_str(p, len, 40, false, out->user, sizeof out->user) < 0 ||
        login_str(p, len, 44, true, out->password, sizeof out->password) < 0 ||
        login_str(p, len, 48, false, out->app, sizeof out->app) < 0 ||
        login_str(p, len, 68, false, out->database, sizeof out->database) < 0)
        return -EPROTO;
    return 0;
}
