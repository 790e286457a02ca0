#include "sio_fixture.h"

#include <errno.h>

/* A socket alone, as a session embeds it. */
static struct sio *s;
static struct sio_socket k;

static void setup_psk(const char *psk)
{
    s = fixture_sio(psk);
    sio_socket_init(&k, s, 42, "sid-of-test");
    snprintf(k.addr, sizeof k.addr, "192.0.2.1");
}

static void fini(void)
{
    sio_socket_fini(&k);
    fixture_free(s);
}

static void setup_open(void) { setup_psk(NULL); }
static void setup_secret(void) { setup_psk("secret"); }

static int msg(const char *text) { return sio_socket_message(&k, slice_str(text)); }

TestSuite(sio_socket, .init = setup_open, .fini = fini);
TestSuite(sio_socket_psk, .init = setup_secret, .fini = fini);

Test(sio_socket, connect_joins_the_main_namespace)
{
    cr_assert_eq(msg("0"), 0);
    cr_assert_eq(k.state, SOCK_CONNECTED);
    fixture_expect(&k.out, "40{\"sid\":\"");
    cr_assert_eq(k.out.n, 0);
}

Test(sio_socket, another_namespace_is_refused_without_closing)
{
    cr_assert_eq(msg("0/admin,"), 0);
    cr_assert_eq(k.state, SOCK_NONE);
    fixture_expect(&k.out, "44/admin,{\"message\":\"Invalid namespace\"}");
}

Test(sio_socket, a_second_connect_closes_the_session)
{
    cr_assert_eq(msg("0"), 0);
    cr_assert_eq(msg("0"), -EPROTO);
    cr_assert_str_eq(k.close_why, "second CONNECT");
}

Test(sio_socket, malformed_and_binary_packets_close_the_session)
{
    cr_assert_eq(msg("9"), -EPROTO);
    cr_assert_str_eq(k.close_why, "malformed Socket.IO packet");
    cr_assert_eq(msg("51-[\"x\",{\"_placeholder\":true,\"num\":0}]"), -EPROTO);
    cr_assert_str_eq(k.close_why, "binary packet");
    cr_assert_eq(msg("0\"text\""), -EPROTO, "a CONNECT payload must be an object");
}

Test(sio_socket, events_before_connect_get_nothing)
{
    cr_assert_eq(msg("21[\"fetchCompanies\"]"), 0);
    cr_assert_eq(k.out.n, 0);
    cr_assert_eq(k.inflight, 0);
}

Test(sio_socket, an_unknown_event_is_answered_with_an_error_ack)
{
    cr_assert_eq(msg("0"), 0);
    fixture_expect(&k.out, "40");
    cr_assert_eq(msg("27[\"noSuchEvent\",null]"), 0);
    fixture_expect(&k.out, "437[{\"success\":false,\"error\":\"Unknown event: noSuchEvent\"}]");
    cr_assert_eq(msg("2[\"noSuchEvent\"]"), 0);
    cr_assert_eq(k.out.n, 0, "an event without an ack id gets no answer");
}

Test(sio_socket, an_event_that_is_not_an_array_closes_the_session)
{
    cr_assert_eq(msg("0"), 0);
    cr_assert_eq(msg("21{\"a\":1}"), -EPROTO);
    cr_assert_str_eq(k.close_why, "invalid EVENT payload");
}

Test(sio_socket, disconnect_leaves_the_namespace)
{
    cr_assert_eq(msg("0"), 0);
    cr_assert_eq(msg("1"), 0);
    cr_assert_eq(k.state, SOCK_NONE);
    cr_assert_eq(msg("1\"x\""), -EPROTO, "a DISCONNECT carries no payload");
}

Test(sio_socket_psk, the_psk_is_taken_from_auth_then_header_then_query)
{
    cr_assert_eq(msg("0{\"psk\":\"secret\"}"), 0);
    cr_assert_eq(k.state, SOCK_CONNECTED);
    sio_socket_fini(&k);
    sio_socket_init(&k, s, 43, "sid-2");
    k.hdr_psk = strdup("secret");
    cr_assert_eq(msg("0"), 0);
    cr_assert_eq(k.state, SOCK_CONNECTED);
    sio_socket_fini(&k);
    sio_socket_init(&k, s, 44, "sid-3");
    k.query_psk = strdup("secret");
    k.hdr_psk = strdup("wrong");
    cr_assert_eq(msg("0"), 0);
    cr_assert_eq(k.state, SOCK_NONE, "a header PSK comes before the query's");
}

Test(sio_socket_psk, repeated_failures_are_refused_late)
{
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(msg("0{\"psk\":\"guess\"}"), 0);
        cr_assert_eq(k.refuse_after_ms, 0, "the first two failures are answered at once");
        fixture_expect(&k.out, "44{\"message\":\"Unauthorized\"}");
    }
    cr_assert_eq(msg("0{\"psk\":\"guess\"}"), 0);
    cr_assert_eq(k.state, SOCK_AUTH_WAIT);
    cr_assert_eq(k.refuse_after_ms, 50);
    cr_assert_eq(k.out.n, 0, "the refusal waits for the delay");
    sio_socket_refuse(&k);
    cr_assert_eq(k.state, SOCK_NONE);
    fixture_expect(&k.out, "44{\"message\":\"Unauthorized\"}");
}

/* ---- answers from the workers --------------------------------------------------- */

Test(sio_socket, finished_jobs_come_back_as_acks_for_their_session)
{
    static volatile int woken;
    char err[128];
    cr_assert_eq(sio_pool_start(&s->pool, 2, &fixture_ops, s, fixture_wake, (void *)&woken, err,
                                sizeof err), 0);
    for (uint64_t id = 1; id <= 3; id++) {
        struct sio_job *j = xcalloc(1, sizeof *j);
        j->h = 1000 + id;
        j->ack_id = id;
        s->inflight++;
        sio_pool_submit(&s->pool, &j->node);
    }
    struct sio_job *j;
    unsigned got = 0;
    while (got < 3) {
        while (!woken)
            usleep(1000);
        woken = 0;
        while ((j = sio_socket_result_next(s))) {
            cr_assert_geq(j->h, 1001);
            cr_assert_leq(j->h, 1003);
            struct sio_pkt *p = sio_pkt_ack(j->tail, j->ack_id);
            char *t = fixture_text(p);
            char want[64];
            snprintf(want, sizeof want, "43%u[{\"success\":true", (unsigned)(j->h - 1000));
            cr_assert_eq(strncmp(t, want, strlen(want)), 0, "%s", t);
            free(t);
            sio_pkt_free(p);
            sio_job_free(j);
            got++;
        }
    }
    cr_assert_eq(s->inflight, 0);
    cr_assert_null(sio_pool_stop(&s->pool));
}

Test(sio_socket, an_answer_lowers_the_sockets_inflight_count)
{
    struct sio_job *j = xcalloc(1, sizeof *j);
    j->tail = sio_tail_new();
    buf_puts(&j->tail->b, "[]");
    j->ack_id = 7;
    k.inflight = 1;
    sio_socket_answered(&k, j);
    cr_assert_eq(k.inflight, 0);
    fixture_expect(&k.out, "437[]");
}
