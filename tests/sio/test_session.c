#include "sio_fixture.h"

static struct sio *s;

static void setup(void) { s = fixture_sio(NULL); }
static void fini(void) { fixture_free(s); }

TestSuite(sio_session, .init = setup, .fini = fini);

Test(sio_session, handles_and_sids_find_their_session_until_it_closes)
{
    struct sio_session *a = sio_session_new(s, SIO_T_POLLING);
    struct sio_session *b = sio_session_new(s, SIO_T_WEBSOCKET);
    cr_assert_eq(s->n_sessions, 2);
    cr_assert_eq(sio_session_get(s, a->h), a);
    cr_assert_eq(sio_session_by_sid(s, b->sid, SIO_ID_LEN), b);
    cr_assert_eq(b->sock.h, b->h, "the socket's jobs carry the session's handle");
    sio_handle old = a->h;
    char sid[SIO_ID_LEN + 1];
    memcpy(sid, a->sid, sizeof sid);
    sio_session_close(a, "test");
    cr_assert_null(sio_session_get(s, old));
    cr_assert_null(sio_session_by_sid(s, sid, SIO_ID_LEN));
    /* The slot is reused by the next session, under a new generation. */
    struct sio_session *c = sio_session_new(s, SIO_T_POLLING);
    cr_assert_eq((uint32_t)c->h, (uint32_t)old);
    cr_assert_neq(c->h, old);
    cr_assert_null(sio_session_get(s, old), "a stale handle never finds the new session");
    cr_assert_null(sio_session_by_sid(s, sid, SIO_ID_LEN));
    cr_assert_eq(s->n_sessions, 2);
}

Test(sio_session, a_forged_sid_finds_nothing)
{
    struct sio_session *a = sio_session_new(s, SIO_T_POLLING);
    char sid[SIO_ID_LEN + 1];
    memcpy(sid, a->sid, sizeof sid);
    sid[SIO_ID_LEN - 1] = sid[SIO_ID_LEN - 1] == 'A' ? 'B' : 'A';
    cr_assert_null(sio_session_by_sid(s, sid, SIO_ID_LEN));
    cr_assert_null(sio_session_by_sid(s, "short", 5));
}

Test(sio_session, the_heartbeat_pings_then_closes_a_silent_session)
{
    /* A long pingTimeout first, so a descheduled test cannot see the close
     * before it has seen the ping; the short one is read when the next ping
     * goes out. */
    s->o.ping_interval_ms = 20;
    s->o.ping_timeout_ms = FIXTURE_WAIT_MS * 2;
    struct sio_session *a = sio_session_new(s, SIO_T_POLLING);
    sio_handle h = a->h;
    FIXTURE_RUN_UNTIL(s, a->awaiting_pong, FIXTURE_WAIT_MS);
    cr_assert(a->awaiting_pong);
    fixture_expect(&a->outq, "2");
    sio_session_pong(a);
    cr_assert_not(a->awaiting_pong, "a pong restarts the interval");
    s->o.ping_timeout_ms = 20;
    FIXTURE_RUN_UNTIL(s, !sio_session_get(s, h), FIXTURE_WAIT_MS);
    cr_assert_null(sio_session_get(s, h), "no pong within pingTimeout: closed");
}

Test(sio_session, a_session_that_never_connects_is_closed)
{
    s->o.connect_timeout_ms = 20;
    struct sio_session *a = sio_session_new(s, SIO_T_POLLING);
    struct sio_session *b = sio_session_new(s, SIO_T_POLLING);
    sio_handle ha = a->h, hb = b->h;
    b->sock.state = SOCK_CONNECTED;
    FIXTURE_RUN_UNTIL(s, !sio_session_get(s, ha), FIXTURE_WAIT_MS);
    cr_assert_null(sio_session_get(s, ha));
    cr_assert_eq(sio_session_get(s, hb), b, "a connected session stays");
}

Test(sio_session, sending_queues_in_order)
{
    struct sio_session *a = sio_session_new(s, SIO_T_POLLING);
    sio_session_send(a, sio_pkt_lit("6"));
    sio_session_send(a, sio_pkt_lit("2"));
    fixture_expect(&a->outq, "6");
    fixture_expect(&a->outq, "2");
}
