#include <criterion/criterion.h>
#include <errno.h>

#include "sio/codec.h"

static struct slice S(const char *s) { return slice_str(s); }

static int decode(const char *s, struct eio_packet *p) { return sio_eio_decode(S(s), p); }

Test(sio_eio, decodes_every_packet_type)
{
    struct eio_packet p;
    const char *in[] = {"0", "1", "2", "3", "4hello", "5", "6"};
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(decode(in[i], &p), 0, "%s", in[i]);
        cr_assert_eq((int)p.type, i);
    }
    cr_assert_eq(decode("4hello", &p), 0);
    cr_assert(slice_eq(p.data, S("hello")));
    cr_assert_eq(decode("2probe", &p), 0);
    cr_assert(slice_eq(p.data, S("probe")));
}

Test(sio_eio, refuses_empty_and_bad_type_digits)
{
    struct eio_packet p;
    cr_assert_eq(decode("", &p), -EPROTO);
    cr_assert_eq(decode("7", &p), -EPROTO);
    cr_assert_eq(decode("9x", &p), -EPROTO);
    cr_assert_eq(decode("x", &p), -EPROTO);
    cr_assert_eq(decode("/4", &p), -EPROTO);
    cr_assert_eq(decode("\x1e", &p), -EPROTO);
}

Test(sio_eio, refuses_base64_binary_packets)
{
    struct eio_packet p;
    cr_assert_eq(decode("bAQID", &p), -ENOTSUP);
    cr_assert_eq(decode("b", &p), -ENOTSUP);
}

/* Collects the segments of a payload as engine.io's split("\x1e") would. */
static int split(const char *payload, size_t len, struct slice *out, int max)
{
    struct slice rest = {(const uint8_t *)payload, len}, seg;
    bool started = false;
    int n = 0;
    while (n < max && sio_eio_payload_next(&rest, &seg, &started))
        out[n++] = seg;
    return n;
}

Test(sio_eio, splits_payload_on_record_separator)
{
    struct slice seg[8];
    const char *in = "4a\x1e" "3\x1e" "42[\"x\"]";
    int n = split(in, strlen(in), seg, 8);
    cr_assert_eq(n, 3);
    cr_assert(slice_eq(seg[0], S("4a")));
    cr_assert(slice_eq(seg[1], S("3")));
    cr_assert(slice_eq(seg[2], S("42[\"x\"]")));
}

Test(sio_eio, split_keeps_empty_segments_so_they_can_be_refused)
{
    struct slice seg[8];
    struct eio_packet p;
    cr_assert_eq(split("", 0, seg, 8), 1);
    cr_assert_eq(seg[0].len, 0);
    cr_assert_eq(split(NULL, 0, seg, 8), 1);
    const char *in = "4a\x1e\x1e" "3\x1e";
    int n = split(in, strlen(in), seg, 8);
    cr_assert_eq(n, 4);
    cr_assert(slice_eq(seg[0], S("4a")));
    cr_assert_eq(seg[1].len, 0);
    cr_assert(slice_eq(seg[2], S("3")));
    cr_assert_eq(seg[3].len, 0);
    cr_assert_eq(sio_eio_decode(seg[1], &p), -EPROTO);
}

Test(sio_eio, split_of_a_single_packet_is_that_packet)
{
    struct slice seg[4];
    cr_assert_eq(split("4hello", 6, seg, 4), 1);
    cr_assert(slice_eq(seg[0], S("4hello")));
}

Test(sio_eio, split_handles_a_separator_inside_a_large_payload)
{
    size_t big = 300000;
    char *in = malloc(big * 2 + 2);
    memset(in, 'x', big * 2 + 1);
    in[0] = '4';
    in[big] = 0x1e;
    in[big + 1] = '4';
    struct slice seg[4];
    cr_assert_eq(split(in, big * 2 + 1, seg, 4), 2);
    cr_assert_eq(seg[0].len, big);
    cr_assert_eq(seg[1].len, big);
    free(in);
}

Test(sio_eio, open_packet_matches_node_byte_for_byte)
{
    struct buf b;
    buf_init(&b, 0);
    sio_eio_open_encode(&b, "abc", true, 25000, 20000, 1000000);
    const char *want = "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
                       "\"pingTimeout\":20000,\"maxPayload\":1000000}";
    cr_assert_eq(b.len, strlen(want));
    cr_assert_eq(memcmp(buf_data(&b), want, b.len), 0);
    buf_reset(&b);
    sio_eio_open_encode(&b, "abc", false, 1, 2, 3);
    want = "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":2,\"maxPayload\":3}";
    cr_assert_eq(b.len, strlen(want));
    cr_assert_eq(memcmp(buf_data(&b), want, b.len), 0);
    buf_fini(&b);
}

Test(sio_eio, error_bodies_carry_engine_io_codes)
{
    struct buf b;
    buf_init(&b, 0);
    sio_eio_error_encode(&b, EIO_ERR_SID_UNKNOWN);
    const char *want = "{\"code\":1,\"message\":\"Session ID unknown\"}";
    cr_assert_eq(b.len, strlen(want));
    cr_assert_eq(memcmp(buf_data(&b), want, b.len), 0);
    cr_assert_str_eq(sio_eio_error_message(EIO_ERR_TRANSPORT_UNKNOWN), "Transport unknown");
    cr_assert_str_eq(sio_eio_error_message(EIO_ERR_BAD_HANDSHAKE_METHOD), "Bad handshake method");
    cr_assert_str_eq(sio_eio_error_message(EIO_ERR_BAD_REQUEST), "Bad request");
    cr_assert_str_eq(sio_eio_error_message(EIO_ERR_UNSUPPORTED_PROTOCOL),
                     "Unsupported protocol version");
    buf_fini(&b);
}
