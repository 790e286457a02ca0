#include "sio_fixture.h"

/* Two loops of one server, without contexts: enough for the sids and the
 * routing decision (the mail itself is covered by the e2e.loops2 tests). */
static struct sio *a, *b;
static struct sio_server srv;
static struct sio *both[2];

static void setup(void)
{
    a = fixture_sio(NULL);
    b = fixture_sio(NULL);
    b->loop = 1;
    both[0] = a;
    both[1] = b;
    srv = (struct sio_server){.loops = both, .n = 2};
    a->server = b->server = &srv;
}

static void fini(void)
{
    fixture_free(a);
    fixture_free(b);
}

TestSuite(sio_route, .init = setup, .fini = fini);

Test(sio_route, a_sid_names_the_loop_that_owns_its_session)
{
    struct sio_session *sa = sio_session_new(a, SIO_T_POLLING);
    struct sio_session *sb = sio_session_new(b, SIO_T_POLLING);
    uint32_t w;
    cr_assert_eq(sio_id_slot(sb->sid, SIO_ID_LEN, &w), 0);
    cr_assert_eq(w >> SIO_LOOP_SHIFT, 1);
    cr_assert_eq((uint32_t)sb->h, w & SIO_SLOT_MASK, "the rest is the slot in loop 1's table");
    cr_assert_eq(sio_session_by_sid(b, sb->sid, SIO_ID_LEN), sb);
    cr_assert_null(sio_session_by_sid(a, sb->sid, SIO_ID_LEN),
                   "loop 0 never takes loop 1's session for one of its own (same slot 0)");
    cr_assert_null(sio_session_by_sid(b, sa->sid, SIO_ID_LEN));
}

Test(sio_route, only_a_sid_of_another_existing_loop_is_mailed)
{
    struct sio_session *sa = sio_session_new(a, SIO_T_POLLING);
    struct sio_session *sb = sio_session_new(b, SIO_T_POLLING);
    cr_assert(sio_route_foreign(a, sb->sid), "loop 1's session: loop 0 mails its requests");
    cr_assert(sio_route_foreign(b, sa->sid));
    cr_assert_not(sio_route_foreign(a, sa->sid), "its own: served here");
    cr_assert_not(sio_route_foreign(a, "not-a-sid"), "garbage: answered here (Session ID unknown)");
    char far[SIO_ID_LEN + 1];
    sio_id_make(far, 5u << SIO_LOOP_SHIFT);
    cr_assert_not(sio_route_foreign(a, far), "a loop this server does not have: unknown here");
    srv.n = 1;
    cr_assert_not(sio_route_foreign(a, sb->sid), "one loop: nothing is ever mailed");
}
