#include "sio_fixture.h"

static struct sio *s;
static struct sio_session *ss;
static sio_handle h;

static void setup(void)
{
    s = fixture_sio(NULL);
    ss = sio_session_new(s, SIO_T_POLLING);
    h = ss->h;
}

static void fini(void) { fixture_free(s); }

TestSuite(sio_engine, .init = setup, .fini = fini);

static int message(const char *text) { return sio_engine_message(ss, NULL, slice_str(text)); }

static bool closed(void) { return sio_session_get(s, h) == NULL; }

Test(sio_engine, a_pong_restarts_the_heartbeat)
{
    ss->awaiting_pong = true;
    cr_assert_eq(message("3"), 0);
    cr_assert_not(ss->awaiting_pong);
}

Test(sio_engine, a_client_close_ends_the_session)
{
    cr_assert_eq(message("1"), -1);
    cr_assert(closed());
}

Test(sio_engine, a_ping_from_the_client_ends_the_session)
{
    cr_assert_eq(message("2"), -1, "v4 heartbeats go from server to client");
    cr_assert(closed());
}

Test(sio_engine, parse_errors_and_binary_messages_end_the_session)
{
    const char *bad[] = {"x", "bAAAA", ""};
    for (size_t i = 0; i < 3; i++) {
        ss = sio_session_new(s, SIO_T_POLLING);
        h = ss->h;
        cr_assert_eq(message(bad[i]), -1, "%s", bad[i]);
        cr_assert(closed());
    }
}

Test(sio_engine, noops_upgrades_and_opens_are_ignored)
{
    cr_assert_eq(message("6"), 0);
    cr_assert_eq(message("5"), 0);
    cr_assert_eq(message("0"), 0);
    cr_assert_not(closed());
    cr_assert_eq(ss->outq.n, 0);
}

Test(sio_engine, a_poll_during_an_upgrade_is_answered_with_a_noop)
{
    sio_engine_poll_parked(ss);
    cr_assert_eq(ss->outq.n, 0, "outside an upgrade a poll waits for packets");
    ss->upgrading = true;
    sio_engine_poll_parked(ss);
    fixture_expect(&ss->outq, "6");
    cr_assert_eq(ss->outq.n, 0);
    sio_session_send(ss, sio_pkt_lit("40"));
    sio_engine_poll_parked(ss);
    fixture_expect(&ss->outq, "40");
    cr_assert_eq(ss->outq.n, 0, "queued packets end the poll without a noop");
}

Test(sio_engine, an_upgrade_not_completed_in_time_ends_and_polls_wait_again)
{
    s->o.upgrade_timeout_ms = 20;
    sio_engine_probe_open(ss, NULL); /* no connection: the timer alone is under test */
    ss->upgrading = true;
    FIXTURE_RUN_UNTIL(s, !ss->upgrading, FIXTURE_WAIT_MS);
    cr_assert_not(ss->upgrading, "upgrade_timeout ended the upgrade");
    sio_engine_poll_parked(ss);
    cr_assert_eq(ss->outq.n, 0, "a poll waits for packets again");
}

Test(sio_engine, socket_io_output_reaches_the_session_queue_in_order)
{
    cr_assert_eq(sio_engine_payload(ss, NULL, slice_str("40\x1e" "421[\"nope\"]\x1e" "3")), 0);
    fixture_expect(&ss->outq, "40{\"sid\":");
    fixture_expect(&ss->outq, "431[{\"success\":false,\"error\":\"Unknown event: nope\"}]");
    cr_assert_eq(ss->outq.n, 0);
    cr_assert_eq(ss->sock.out.n, 0, "nothing is left on the socket's own queue");
}

Test(sio_engine, a_payload_stops_at_the_packet_that_closes_the_session)
{
    cr_assert_eq(sio_engine_payload(ss, NULL, slice_str("40\x1e" "40\x1e" "3")), -1);
    cr_assert(closed(), "a second CONNECT closes the session");
}

Test(sio_engine, a_delayed_refusal_is_sent_when_its_timer_fires)
{
    s->o.psk = "secret";
    snprintf(ss->sock.addr, sizeof ss->sock.addr, "192.0.2.7");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(message("40{\"psk\":\"guess\"}"), 0);
        fixture_expect(&ss->outq, "44{\"message\":\"Unauthorized\"}");
    }
    cr_assert_eq(message("40{\"psk\":\"guess\"}"), 0);
    cr_assert_eq(ss->outq.n, 0, "the third failure is answered late");
    FIXTURE_RUN_UNTIL(s, ss->outq.n > 0, FIXTURE_WAIT_MS);
    fixture_expect(&ss->outq, "44{\"message\":\"Unauthorized\"}");
    cr_assert_eq(ss->sock.state, SOCK_NONE);
}

/* A fixture ack for each session in hs (ack ids from first_id on), all
 * handed to the engine. */
static void answer_all(const sio_handle *hs, size_t n, uint64_t first_id)
{
    static volatile int woken;
    char err[128];
    cr_assert_eq(sio_pool_start(&s->pool, 1, &fixture_ops, s, fixture_wake, (void *)&woken, err,
                                sizeof err), 0);
    for (size_t i = 0; i < n; i++) {
        struct sio_job *j = xcalloc(1, sizeof *j);
        j->h = hs[i];
        j->ack_id = first_id + i;
        s->inflight++;
        ss->sock.inflight += hs[i] == h;
        sio_pool_submit(&s->pool, &j->node);
    }
    while (s->inflight) {
        while (!woken)
            usleep(1000);
        woken = 0;
        sio_engine_results(s);
    }
    cr_assert_null(sio_pool_stop(&s->pool));
}

/* n of the fixture's 31-byte acks (ids 1 to n) for the test's session. */
static void answer_n(size_t n)
{
    sio_handle hs[8];
    for (size_t i = 0; i < n; i++)
        hs[i] = h;
    answer_all(hs, n, 1);
}

Test(sio_engine, worker_answers_go_to_their_session_and_late_ones_are_dropped)
{
    struct sio_session *gone = sio_session_new(s, SIO_T_POLLING);
    sio_handle gone_h = gone->h;
    sio_session_close(gone, "left mid-query");
    sio_handle hs[2] = {h, gone_h};
    answer_all(hs, 2, 5);
    fixture_expect(&ss->outq, "435[{\"success\":true");
    cr_assert_eq(ss->outq.n, 0, "the closed session's answer was dropped");
    cr_assert_eq(ss->sock.inflight, 0);
}

/* Answers the client does not take pile up on the session's queue: past
 * max_session_buffer_bytes beyond the one its transport writes next, the
 * session is closed, and later answers for it are dropped. */
Test(sio_engine, answers_queued_past_the_session_buffer_close_the_session)
{
    s->o.max_session_buffer_bytes = 100;
    answer_n(5);
    cr_assert(closed(), "four unread answers behind the next are 124 bytes");
}

Test(sio_engine, answers_within_the_session_buffer_stay_queued)
{
    s->o.max_session_buffer_bytes = 100;
    answer_n(4);
    cr_assert_not(closed());
    cr_assert_eq(ss->outq.n, 4);
    cr_assert_eq(ss->outq.bytes, 124);
}

/* One answer bigger than the whole buffer, on a session writing nothing, is
 * the packet its transport writes next: it is sent, not a reason to close. */
Test(sio_engine, one_answer_over_the_session_buffer_is_sent)
{
    s->o.max_session_buffer_bytes = 10;
    answer_n(1);
    cr_assert_not(closed());
    cr_assert_eq(ss->outq.n, 1);
}
