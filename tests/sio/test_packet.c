#include <criterion/criterion.h>
#include <errno.h>

#include "sio/codec.h"

static struct slice S(const char *s) { return slice_str(s); }

static int dec(const char *s, struct sio_packet *p) { return sio_packet_decode(S(s), p); }

Test(sio_packet, connect_without_and_with_auth)
{
    struct sio_packet p;
    cr_assert_eq(dec("0", &p), 0);
    cr_assert_eq((int)p.type, SIO_CONNECT);
    cr_assert(slice_eq(p.nsp, S("/")));
    cr_assert_not(p.has_id);
    cr_assert_eq(p.data.len, 0);
    cr_assert_eq(dec("0{\"psk\":\"k\"}", &p), 0);
    cr_assert(slice_eq(p.data, S("{\"psk\":\"k\"}")));
    json_t *auth;
    cr_assert_eq(sio_connect_decode(p.data, &auth), 0);
    cr_assert_str_eq(json_string_value(json_object_get(auth, "psk")), "k");
    json_decref(auth);
    cr_assert_eq(sio_connect_decode(S(""), &auth), 0);
    cr_assert_null(auth);
}

Test(sio_packet, connect_payload_must_be_an_object)
{
    json_t *auth;
    const char *bad[] = {"[]", "\"x\"", "1", "null", "true", "{", "{}x", "{\"a\":}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(sio_connect_decode(S(bad[i]), &auth), -EPROTO, "%s", bad[i]);
        cr_assert_null(auth);
    }
}

Test(sio_packet, namespaces_are_parsed_up_to_the_comma)
{
    struct sio_packet p;
    cr_assert_eq(dec("0/admin,{\"a\":1}", &p), 0);
    cr_assert(slice_eq(p.nsp, S("/admin")));
    cr_assert(slice_eq(p.data, S("{\"a\":1}")));
    cr_assert_eq(dec("0/admin", &p), 0); /* no comma: the namespace runs to the end */
    cr_assert(slice_eq(p.nsp, S("/admin")));
    cr_assert_eq(p.data.len, 0);
    cr_assert_eq(dec("2/x,7[\"e\"]", &p), 0);
    cr_assert(slice_eq(p.nsp, S("/x")));
    cr_assert(p.has_id);
    cr_assert_eq(p.id, 7);
    cr_assert_eq(dec("1/,", &p), 0);
    cr_assert(slice_eq(p.nsp, S("/")));
}

Test(sio_packet, event_with_ack_id)
{
    struct sio_packet p;
    cr_assert_eq(dec("212[\"fetchCompanies\",{\"select\":[\"companyId\"]}]", &p), 0);
    cr_assert_eq((int)p.type, SIO_EVENT);
    cr_assert(p.has_id);
    cr_assert_eq(p.id, 12);
    struct sio_event ev;
    cr_assert_eq(sio_event_decode(p.data, &ev), 0);
    cr_assert_eq(ev.name_len, strlen("fetchCompanies"));
    cr_assert_eq(memcmp(ev.name, "fetchCompanies", ev.name_len), 0);
    cr_assert(json_is_object(ev.opts));
    sio_event_fini(&ev);
}

Test(sio_packet, event_without_ack_id_and_with_null_or_missing_opts)
{
    struct sio_packet p;
    struct sio_event ev;
    cr_assert_eq(dec("2[\"fetchCompanies\",null]", &p), 0);
    cr_assert_not(p.has_id);
    cr_assert_eq(sio_event_decode(p.data, &ev), 0);
    cr_assert_null(ev.opts);
    sio_event_fini(&ev);
    cr_assert_eq(sio_event_decode(S("[\"x\"]"), &ev), 0);
    cr_assert_null(ev.opts);
    sio_event_fini(&ev);
}

Test(sio_packet, ack_ids_up_to_two_to_the_32)
{
    struct sio_packet p;
    cr_assert_eq(dec("20[\"e\"]", &p), 0);
    cr_assert_eq(p.id, 0);
    cr_assert_eq(dec("24294967296[\"e\"]", &p), 0);
    cr_assert_eq(p.id, SIO_ACK_ID_MAX);
    cr_assert_eq(dec("24294967297[\"e\"]", &p), -EPROTO);
    cr_assert_eq(dec("299999999999999999999999[\"e\"]", &p), -EPROTO);
    cr_assert_eq(dec("2007[\"e\"]", &p), 0); /* Number("007") */
    cr_assert_eq(p.id, 7);
}

Test(sio_packet, bad_type_digits_and_empty_input)
{
    struct sio_packet p;
    cr_assert_eq(dec("", &p), -EPROTO);
    cr_assert_eq(dec("7", &p), -EPROTO);
    cr_assert_eq(dec("9[]", &p), -EPROTO);
    cr_assert_eq(dec("x", &p), -EPROTO);
    cr_assert_eq(dec("[\"e\"]", &p), -EPROTO);
}

Test(sio_packet, binary_packets_are_refused)
{
    struct sio_packet p;
    cr_assert_eq(dec("51-[\"e\",{\"_placeholder\":true,\"num\":0}]", &p), -ENOTSUP);
    cr_assert_eq(dec("61-3[{\"_placeholder\":true,\"num\":0}]", &p), -ENOTSUP);
    cr_assert_eq(dec("5", &p), -ENOTSUP);
}

Test(sio_packet, event_payload_must_be_a_named_array)
{
    struct sio_event ev;
    const char *bad[] = {
        "",                 /* missing */
        "{}",               /* not an array */
        "\"fetch\"",
        "[]",               /* missing event name */
        "[null]",           /* non-string names */
        "[{}]",
        "[[\"x\"]]",
        "[true]",
        "[\"e\"",           /* bad JSON */
        "[\"e\"]]",
        "[\"e\",]",
        "[\"connect\"]",    /* reserved names */
        "[\"disconnect\",{}]",
        "[\"connect_error\"]",
        "[\"disconnecting\"]",
        "[\"newListener\"]",
        "[\"removeListener\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(sio_event_decode(S(bad[i]), &ev), -EPROTO, "%s", bad[i]);
        cr_assert_null(ev.args);
    }
}

Test(sio_packet, numeric_event_names_are_accepted_as_node_does)
{
    struct sio_event ev;
    cr_assert_eq(sio_event_decode(S("[42,{}]"), &ev), 0);
    cr_assert_eq(ev.name_len, 2);
    cr_assert_eq(memcmp(ev.name, "42", 2), 0);
    sio_event_fini(&ev);
    cr_assert_eq(sio_event_decode(S("[1.5]"), &ev), 0);
    cr_assert_eq(memcmp(ev.name, "1.5", 3), 0);
    sio_event_fini(&ev);
}

Test(sio_packet, disconnect_carries_no_payload)
{
    struct sio_packet p;
    cr_assert_eq(dec("1", &p), 0);
    cr_assert_eq(sio_disconnect_check(&p), 0);
    cr_assert_eq(dec("1{}", &p), 0);
    cr_assert_eq(sio_disconnect_check(&p), -EPROTO);
}

Test(sio_packet, oversized_event_payload_is_parsed_whole)
{
    size_t n = 900000;
    struct buf in;
    buf_init(&in, 0);
    buf_puts(&in, "[\"e\",\"");
    for (size_t i = 0; i < n; i++)
        buf_putc(&in, 'a');
    buf_puts(&in, "\"]");
    struct sio_event ev;
    cr_assert_eq(sio_event_decode(buf_slice(&in), &ev), 0);
    cr_assert_eq(json_string_length(ev.opts), n);
    sio_event_fini(&ev);
    buf_fini(&in);
}

Test(sio_packet, ack_prefix_is_43_and_the_id_in_decimal)
{
    char out[SIO_ACK_PREFIX_MAX];
    const struct {
        uint64_t id;
        const char *want;
    } cases[] = {{0, "430"}, {7, "437"}, {10, "4310"}, {4294967295ull, "434294967295"},
                 {SIO_ACK_ID_MAX, "434294967296"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = sio_ack_prefix(out, cases[i].id);
        cr_assert_eq(n, strlen(cases[i].want));
        cr_assert_eq(memcmp(out, cases[i].want, n), 0, "id %llu", (unsigned long long)cases[i].id);
    }
}

static void assert_buf(struct buf *b, const char *want)
{
    cr_assert_eq(b->len, strlen(want), "got %.*s", (int)b->len, (char *)buf_data(b));
    cr_assert_eq(memcmp(buf_data(b), want, b->len), 0, "got %.*s", (int)b->len, (char *)buf_data(b));
    buf_reset(b);
}

Test(sio_packet, encoders_frame_engine_and_socket_io)
{
    struct buf b;
    buf_init(&b, 0);
    sio_ack_error_tail(&b, "Unknown event: \"x\"", 18);
    assert_buf(&b, "[{\"success\":false,\"error\":\"Unknown event: \\\"x\\\"\"}]");
    sio_ack_ok_open(&b);
    buf_puts(&b, "[]");
    sio_ack_ok_close(&b);
    assert_buf(&b, "[{\"success\":true,\"data\":[]}]");
    sio_connect_ok_encode(&b, "abc");
    assert_buf(&b, "40{\"sid\":\"abc\"}");
    sio_connect_error_encode(&b, S("/"), "Unauthorized");
    assert_buf(&b, "44{\"message\":\"Unauthorized\"}");
    sio_connect_error_encode(&b, S("/admin"), "Invalid namespace");
    assert_buf(&b, "44/admin,{\"message\":\"Invalid namespace\"}");
    buf_fini(&b);
}
