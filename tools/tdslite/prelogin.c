/*
 * PRELOGIN (MS-TDS 2.2.6.5): the first exchange of a connection, where
 * client and server settle encryption. Without --tls-cert tdslite answers
 * ENCRYPT_NOT_SUP: a client that requires encryption then gives up on its
 * own (as MS-TDS prescribes), and one that merely allows it continues in
 * clear text, login packet included.
 */
#include "tdslite.h"

#include <errno.h>

enum { OPT_VERSION = 0, OPT_ENCRYPTION = 1, OPT_INSTOPT = 2, OPT_THREADID = 3, OPT_MARS = 4,
       OPT_TERMINATOR = 0xFF };

int tds_prelogin_parse(const uint8_t *p, size_t len, uint8_t *encrypt)
{
    *encrypt = 0;
    size_t i = 0;
    for (;;) {
        if (i >= len)
            return -EPROTO; /* no terminator */
        uint8_t tok = p[i];
        if (tok == OPT_TERMINATOR)
            return 0;
        if (len - i < 5)
            return -EPROTO;
        size_t off = (size_t)p[i + 1] << 8 | p[i + 2], olen = (size_t)p[i + 3] << 8 | p[i + 4];
        if (off > len || olen > len - off)
            return -EPROTO;
        if (tok == OPT_ENCRYPTION && olen >= 1)
            *encrypt = p[off];
        i += 5;
    }
}

enum tds_encrypt tds_prelogin_answer(bool tls, bool force, uint8_t client)
{
    if (!tls)
        return TDS_ENCRYPT_NOT_SUP;
    if (client == TDS_ENCRYPT_ON || client == TDS_ENCRYPT_REQ)
        return TDS_ENCRYPT_ON;
    if (force)
        return TDS_ENCRYPT_REQ; /* a NOT_SUP client is then refused */
    return client == TDS_ENCRYPT_OFF ? TDS_ENCRYPT_OFF : TDS_ENCRYPT_NOT_SUP;
}

int tds_prelogin_reply(struct tds_conn *c, enum tds_encrypt enc)
{
    /* Five options: 5 * 5 header bytes + terminator, then their data. */
    uint8_t msg[] = {
        OPT_VERSION,    0, 26, 0, 6, /* */
        OPT_ENCRYPTION, 0, 32, 0, 1, /* */
        OPT_INSTOPT,    0, 33, 0, 1, /* */
        OPT_THREADID,   0, 34, 0, 0, /* */
        OPT_MARS,       0, 34, 0, 1, /* */
        OPT_TERMINATOR,
        16, 0, 0x07, 0xD0, 0, 0, /* version 16.0.2000, subbuild 0 */
        (uint8_t)enc,            /* ENCRYPTION */
        0,                       /* default instance */
        0,                       /* no MARS */
    };
    tds_out_begin(c, TDS_PKT_REPLY);
    tds_put(c, msg, sizeof msg);
    return tds_out_end(c);
}
