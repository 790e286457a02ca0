/*
 * TDS value conversion (src/poller/convert.c): db-lib hands the poller a
 * wire type, a pointer and a length per column, and a misbehaving server
 * decides all three. The first input byte picks the type, the rest is the
 * value. A converted value is rendered as the row encoder renders it for
 * a field of each schema type (most refuse it, none may misbehave). Date
 * values that convert must survive the round trip through ticks that the
 * poller's keyset parameters take.
 */
#include "fuzz.h"

#include <assert.h>

#include "cache/cache_int.h"
#include "poller/poller_int.h"

static const int types[] = {
    SYBINT1, SYBINT2, SYBINT4, SYBINT8, SYBINTN, SYBBIT, SYBBITN, SYBDECIMAL, SYBNUMERIC,
    SYBMONEY, SYBMONEY4, SYBMONEYN, SYBREAL, SYBFLT8, SYBFLTN, SYBDATETIME, SYBDATETIME4,
    SYBDATETIMN, SYBMSDATE, SYBMSDATETIME2, SYBMSDATETIMEOFFSET, SYBCHAR, SYBVARCHAR, SYBTEXT,
    SYBNTEXT, SYBNVARCHAR, POLLER_TYPE_XVARCHAR, POLLER_TYPE_XCHAR, POLLER_TYPE_XNVARCHAR,
    POLLER_TYPE_XNCHAR, SYBBINARY, SYBVARBINARY, SYBIMAGE, POLLER_TYPE_XVARBINARY,
    POLLER_TYPE_XBINARY, POLLER_TYPE_UNIQUE,
    SYBVOID, /* a type the cache cannot hold */
};

static void round_trip(int type, const BYTE *data, int len)
{
    int64_t ticks, back;
    if (poller_conv_ticks(type, data, len, &ticks) < 0)
        return;
    if (type == SYBDATETIME || (type == SYBDATETIMN && len == (int)sizeof(DBDATETIME))) {
        DBDATETIME d;
        poller_conv_ticks_to_datetime(ticks, &d);
        assert(poller_conv_ticks(SYBDATETIME, (const BYTE *)&d, sizeof d, &back) == 0 && back == ticks);
    } else if (type == SYBMSDATETIME2) {
        DBDATETIMEALL d;
        poller_conv_ticks_to_datetime2(ticks, &d);
        assert(poller_conv_ticks(type, (const BYTE *)&d, sizeof d, &back) == 0 && back == ticks);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > INT32_MAX)
        return 0;
    int type = types[data[0] % (sizeof types / sizeof types[0])];
    const BYTE *value = data + 1;
    int len = (int)(size - 1);
    char slot[POLLER_CONV_SLOT], err[256];
    struct cache_value v;
    if (poller_conv_value(type, value, len, slot, &v, err, sizeof err) == 0) {
        struct buf out;
        buf_init(&out, 0);
        for (int t = SCHEMA_INT; t <= SCHEMA_BYTES; t++) {
            struct schema_field f = {.name = "f", .column = "f", .type = (enum schema_type)t};
            (void)cache_value_render(&f, &v, &out, err, sizeof err);
            buf_reset(&out);
        }
        buf_fini(&out);
    }
    round_trip(type, value, len);
    return 0;
}
