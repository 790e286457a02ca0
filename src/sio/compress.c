/*
 * HTTP compression of polling responses, as engine.io's httpCompression:
 * the encoding a request accepts (gzip before deflate, chosen the way
 * engine.io's `accepts`/negotiator chooses), and deflate streams with
 * Node's zlib defaults (level 6, 32 KiB window, memLevel 8).
 *
 * A stream is either a response body (a gzip or zlib member) or a copy: a
 * raw deflate stream of one ack tail, ended with a sync flush so it stops
 * on a byte boundary without a final block. A copy is compressed once and
 * spliced into any number of bodies (pigz joins its blocks the same way):
 * the body is full-flushed first, so neither side refers back across the
 * seam, and the checksum of the whole is combined from the parts'
 * (crc32_combine, adler32_combine), so the tail is never read again.
 */
#include "sio/sio_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

/* Node's zlib.createGzip()/createDeflate() defaults, which engine.io uses. */
#define Z_LEVEL Z_DEFAULT_COMPRESSION
#define Z_WINDOW_BITS 15
#define Z_MEM_LEVEL 8
/* Output room asked for per deflate() call. */
#define Z_OUT_STEP (64 * 1024)

/* ---- which encoding ----------------------------------------------------------- */

/* How an Accept-Encoding entry rates an encoding, as negotiator's
 * getEncodingPriority(): specificity (1 named, 0 by "*"), quality, and
 * the entry's position. */
struct zpri {
    int s;
    double q;
    int o;
};

/* One entry "name[;q=x][;...]"; false when it is malformed (negotiator
 * skips those). */
static bool entry_parse(const char *p, const char *e, char *name, size_t cap, double *q)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    const char *n = p;
    while (p < e && *p != ';' && *p != ' ' && *p != '\t')
        p++;
    size_t len = (size_t)(p - n);
    if (!len || len >= cap)
        return false;
    memcpy(name, n, len);
    name[len] = '\0';
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    if (p < e && *p != ';')
        return false;
    *q = 1;
    while (p < e) { /* the first q parameter counts */
        p++;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if (e - p >= 2 && p[0] == 'q' && p[1] == '=') {
            char v[32];
            size_t vl = 0;
            for (p += 2; p < e && *p != ';' && vl < sizeof v - 1; p++)
                v[vl++] = *p;
            v[vl] = '\0';
            char *end;
            *q = strtod(v, &end);
            if (end == v)
                *q = 0; /* parseFloat gives NaN: never acceptable */
            break;
        }
        while (p < e && *p != ';')
            p++;
    }
    return true;
}

enum sio_zenc sio_z_choose(const char *accept)
{
    static const char *const names[] = {"gzip", "deflate"};
    struct zpri pri[2] = {{0, 0, -1}, {0, 0, -1}};
    int o = 0;
    for (const char *p = accept ? accept : ""; *p; o++) {
        const char *e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        char name[64];
        double q;
        if (entry_parse(p, e, name, sizeof name, &q))
            for (int i = 0; i < 2; i++) {
                int s = strcasecmp(name, names[i]) == 0 ? 1 : strcmp(name, "*") == 0 ? 0 : -1;
                if (s < 0)
                    continue;
                struct zpri c = {s, q, o};
                /* negotiator keeps the more specific, then the higher q,
                 * then the later entry */
                if (c.s > pri[i].s || (c.s == pri[i].s && (c.q > pri[i].q ||
                                                           (c.q == pri[i].q && c.o > pri[i].o))))
                    pri[i] = c;
            }
        p = *e ? e + 1 : e;
    }
    bool ok[2] = {pri[0].q > 0, pri[1].q > 0};
    if (!ok[0] && !ok[1])
        return SIO_Z_NONE;
    if (ok[0] != ok[1])
        return ok[0] ? SIO_Z_GZIP : SIO_Z_DEFLATE;
    /* Both: higher q, then more specific, then the earlier entry, then
     * gzip (engine.io offers ["gzip", "deflate"] in that order). */
    const struct zpri *g = &pri[0], *d = &pri[1];
    if (g->q != d->q)
        return g->q > d->q ? SIO_Z_GZIP : SIO_Z_DEFLATE;
    if (g->s != d->s)
        return g->s > d->s ? SIO_Z_GZIP : SIO_Z_DEFLATE;
    return d->o < g->o ? SIO_Z_DEFLATE : SIO_Z_GZIP;
}

const char *sio_z_name(enum sio_zenc e)
{
    switch (e) {
    case SIO_Z_GZIP:
        return "gzip";
    case SIO_Z_DEFLATE:
        return "deflate";
    default:
        return NULL;
    }
}

/* ---- streams ------------------------------------------------------------------- */

static void le32_append(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_append(b, x, 4);
}

static void be32_append(struct buf *b, uint32_t v)
{
    uint8_t x[4];
    put_be32(x, v);
    buf_append(b, x, 4);
}

struct sio_z *sio_z_new(enum sio_zenc enc)
{
    struct sio_z *z = xcalloc(1, sizeof *z);
    z->enc = enc;
    z->crc = (uint32_t)crc32(0, NULL, 0);
    z->adler = (uint32_t)adler32(0, NULL, 0);
    buf_init(&z->out, LWS_PRE);
    z->zs = xcalloc(1, sizeof *z->zs);
    /* Raw deflate always: the gzip and zlib framing is written here, so
     * that copies can be spliced in and the checksums combined. */
    if (deflateInit2(z->zs, Z_LEVEL, Z_DEFLATED, -Z_WINDOW_BITS, Z_MEM_LEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        abort(); /* only on OOM (or a wrong constant), as xmalloc */
    if (enc == SIO_Z_GZIP) {
        /* RFC 1952 member header as zlib writes it: no name, no mtime,
         * XFL 0 (level 6), OS 3 (Unix). */
        static const uint8_t h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        buf_append(&z->out, h, sizeof h);
    } else if (enc == SIO_Z_DEFLATE) {
        static const uint8_t h[2] = {0x78, 0x9c}; /* RFC 1950: 32 KiB window, level 6 */
        buf_append(&z->out, h, sizeof h);
    }
    return z;
}

/* Runs deflate over what is in next_in with `flush`, growing out. */
static void run(struct sio_z *z, int flush)
{
    z_stream *zs = z->zs;
    int rc;
    do {
        buf_reserve(&z->out, Z_OUT_STEP);
        zs->next_out = buf_data(&z->out) + z->out.len;
        zs->avail_out = (uInt)(z->out.cap - z->out.len);
        size_t room = zs->avail_out;
        rc = deflate(zs, flush);
        assert(rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END);
        z->out.len += room - zs->avail_out;
    } while (zs->avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

void sio_z_put(struct sio_z *z, const void *p, size_t n)
{
    assert(z->zs);
    /* A body needs one checksum, a copy both (it may go into either). */
    if (z->enc != SIO_Z_DEFLATE)
        z->crc = (uint32_t)crc32_z(z->crc, p, n);
    if (z->enc != SIO_Z_GZIP)
        z->adler = (uint32_t)adler32_z(z->adler, p, n);
    z->len += n;
    z->zs->next_in = (Bytef *)(uintptr_t)p;
    while (n) {
        uInt k = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
        z->zs->avail_in = k;
        run(z, Z_NO_FLUSH);
        n -= k;
    }
}

void sio_z_splice(struct sio_z *z, const struct sio_z *copy)
{
    assert(z->zs && !copy->zs && copy->enc == SIO_Z_NONE);
    z->zs->avail_in = 0;
    run(z, Z_FULL_FLUSH); /* byte-aligned, and no reference reaches back past here */
    buf_append(&z->out, buf_data(&copy->out), copy->out.len);
    z->crc = (uint32_t)crc32_combine(z->crc, copy->crc, (z_off_t)copy->len);
    z->adler = (uint32_t)adler32_combine(z->adler, copy->adler, (z_off_t)copy->len);
    z->len += copy->len;
}

void sio_z_finish(struct sio_z *z)
{
    assert(z->zs);
    z->zs->avail_in = 0;
    run(z, z->enc == SIO_Z_NONE ? Z_SYNC_FLUSH : Z_FINISH);
    deflateEnd(z->zs);
    free(z->zs);
    z->zs = NULL;
    if (z->enc == SIO_Z_GZIP) {
        le32_append(&z->out, z->crc);
        le32_append(&z->out, (uint32_t)z->len); /* ISIZE: the length modulo 2^32 */
    } else if (z->enc == SIO_Z_DEFLATE) {
        be32_append(&z->out, z->adler);
    }
}

void sio_z_free(struct sio_z *z)
{
    if (!z)
        return;
    if (z->zs) {
        deflateEnd(z->zs);
        free(z->zs);
    }
    buf_fini(&z->out);
    free(z);
}
