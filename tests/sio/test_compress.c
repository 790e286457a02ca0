#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sio/sio_int.h"

/* ---- the encoding chosen: engine.io's accepts(req).encodings(["gzip", "deflate"]),
 * each expectation read from Node's negotiator 0.6.3 ---------------------------- */

static const struct {
    const char *header;
    enum sio_zenc want;
} choices[] = {
    /* nothing acceptable: plain */
    {NULL, SIO_Z_NONE},
    {"", SIO_Z_NONE},
    {"br", SIO_Z_NONE},
    {"identity", SIO_Z_NONE},
    {"gzip;q=0", SIO_Z_NONE},
    {"*;q=0", SIO_Z_NONE},
    {"x gzip", SIO_Z_NONE}, /* a malformed entry is skipped */
    /* gzip first unless the client prefers deflate */
    {"gzip", SIO_Z_GZIP},
    {"GZIP", SIO_Z_GZIP},
    {"deflate", SIO_Z_DEFLATE},
    {"gzip, deflate", SIO_Z_GZIP},
    {"gzip, deflate, br", SIO_Z_GZIP},
    {"*", SIO_Z_GZIP},
    {"deflate, gzip", SIO_Z_DEFLATE},       /* the earlier entry at equal q */
    {"deflate;q=0.5, gzip;q=0.5", SIO_Z_DEFLATE},
    {"*, deflate", SIO_Z_DEFLATE},          /* named beats * */
    /* quality values decide */
    {"gzip;q=0.5, deflate", SIO_Z_DEFLATE},
    {"deflate;q=0.9, *;q=1", SIO_Z_GZIP},
    {"gzip ; q=0.2 , deflate;q=0.1", SIO_Z_GZIP},
    {"deflate;level=1;q=0.8, gzip;q=0.7", SIO_Z_DEFLATE},
    {"gzip;q=abc, deflate", SIO_Z_DEFLATE}, /* an unreadable q is 0 */
};

Test(sio_compress, the_encoding_is_the_one_engine_io_picks)
{
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++)
        cr_assert_eq(sio_z_choose(choices[i].header), choices[i].want, "Accept-Encoding: %s",
                     choices[i].header ? choices[i].header : "(none)");
}

/* ---- streams ------------------------------------------------------------------- */

/* Plain bytes that compress well but not trivially, like JSON rows. */
static void rows(struct buf *b, int from, int n)
{
    for (int i = from; i < from + n; i++)
        buf_printf(b, "{\"companyRecId\":%d,\"companyName\":\"Company %d\",\"n\":%d},", i,
                   i * 7919 % 1000, i % 13);
}

/* zlib's own inflate of a whole body: 31 reads gzip, 15 a zlib stream;
 * it checks the trailer's checksum and length. */
static void inflate_all(const struct buf *z, int window_bits, struct buf *out)
{
    z_stream zs = {0};
    cr_assert_eq(inflateInit2(&zs, window_bits), Z_OK);
    zs.next_in = buf_data(z);
    zs.avail_in = (uInt)z->len;
    int rc;
    do {
        buf_reserve(out, 64 * 1024);
        zs.next_out = buf_data(out) + out->len;
        zs.avail_out = (uInt)(out->cap - out->len);
        size_t room = zs.avail_out;
        rc = inflate(&zs, Z_NO_FLUSH);
        out->len += room - zs.avail_out;
    } while (rc == Z_OK);
    cr_assert_eq(rc, Z_STREAM_END, "the body inflates to its end (checksum and length right)");
    cr_assert_eq(zs.avail_in, 0, "nothing after the trailer");
    inflateEnd(&zs);
}

static struct sio_z *copy_of(const struct buf *plain)
{
    struct sio_z *c = sio_z_new(SIO_Z_NONE);
    sio_z_put(c, buf_data(plain), plain->len);
    sio_z_finish(c);
    return c;
}

/* A polling payload as polling.c builds it: a packet of its own, \x1e,
 * "431" + a kept tail, \x1e, the own packet again, \x1e, "432" + the same
 * tail. The repeats tempt the compressor to refer back across a seam. */
static void payload_round_trip(enum sio_zenc enc, int window_bits)
{
    struct buf tail, own, want, got;
    buf_init(&tail, 0);
    buf_init(&own, 0);
    buf_init(&want, 0);
    buf_init(&got, 0);
    rows(&tail, 0, 3000);
    rows(&own, 0, 500);
    struct sio_z *c = copy_of(&tail);
    cr_assert_eq(c->len, tail.len);
    cr_assert_lt(c->out.len, tail.len / 3, "rows compress");

    struct sio_z *z = sio_z_new(enc);
    const char sep = EIO_SEPARATOR;
    sio_z_put(z, buf_data(&own), own.len);
    sio_z_put(z, &sep, 1);
    sio_z_put(z, "431", 3);
    sio_z_splice(z, c);
    sio_z_put(z, &sep, 1);
    sio_z_put(z, buf_data(&own), own.len);
    sio_z_put(z, &sep, 1);
    sio_z_put(z, "432", 3);
    sio_z_splice(z, c);
    sio_z_finish(z);

    buf_append(&want, buf_data(&own), own.len);
    buf_putc(&want, (char)sep);
    buf_puts(&want, "431");
    buf_append(&want, buf_data(&tail), tail.len);
    buf_putc(&want, (char)sep);
    buf_append(&want, buf_data(&own), own.len);
    buf_putc(&want, (char)sep);
    buf_puts(&want, "432");
    buf_append(&want, buf_data(&tail), tail.len);
    inflate_all(&z->out, window_bits, &got);
    cr_assert_eq(got.len, want.len);
    cr_assert_eq(memcmp(buf_data(&got), buf_data(&want), want.len), 0);
    cr_assert_eq(z->len, want.len);
    sio_z_free(z);
    sio_z_free(c);
    buf_fini(&tail);
    buf_fini(&own);
    buf_fini(&want);
    buf_fini(&got);
}

Test(sio_compress, gzip_body_with_spliced_copies_inflates_to_the_payload)
{
    payload_round_trip(SIO_Z_GZIP, 31);
}

Test(sio_compress, deflate_body_is_a_zlib_stream_with_spliced_copies)
{
    payload_round_trip(SIO_Z_DEFLATE, 15);
}

Test(sio_compress, a_body_of_one_copy_and_an_empty_body_are_whole_streams)
{
    struct buf tail, got;
    buf_init(&tail, 0);
    buf_init(&got, 0);
    rows(&tail, 7, 40);
    struct sio_z *c = copy_of(&tail);
    struct sio_z *z = sio_z_new(SIO_Z_GZIP);
    sio_z_splice(z, c);
    sio_z_finish(z);
    inflate_all(&z->out, 31, &got);
    cr_assert_eq(got.len, tail.len);
    cr_assert_eq(memcmp(buf_data(&got), buf_data(&tail), tail.len), 0);
    sio_z_free(z);

    z = sio_z_new(SIO_Z_DEFLATE);
    sio_z_finish(z);
    buf_reset(&got);
    inflate_all(&z->out, 15, &got);
    cr_assert_eq(got.len, 0);
    sio_z_free(z);
    sio_z_free(c);
    sio_z_free(NULL);
    buf_fini(&tail);
    buf_fini(&got);
}

Test(sio_compress, bodies_leave_lws_headroom)
{
    struct sio_z *z = sio_z_new(SIO_Z_GZIP);
    cr_assert_eq(z->out.head, LWS_PRE);
    sio_z_free(z);
}
