#include <criterion/criterion.h>

#include "sio/sio_int.h"

static const struct collector *const COL = (const struct collector *)0x1;

static struct slice S(const char *s) { return slice_str(s); }

static bool get(struct sio_answers *a, const char *key, uint64_t txn, struct slice *body)
{
    const struct collector *col = NULL;
    bool hit = sio_answers_get(a, S(key), txn, body, &col);
    if (hit)
        cr_assert_eq(col, COL);
    return hit;
}

Test(sio_answers, identical_text_same_snapshot_is_a_hit)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 1 << 20);
    sio_answers_put(&a, S("[\"fetchCompanies\",null]"), S("[{\"a\":1}]"), 7, COL);
    cr_assert(get(&a, "[\"fetchCompanies\",null]", 7, &body));
    cr_assert(slice_eq(body, S("[{\"a\":1}]")));
    cr_assert_not(get(&a, "[\"fetchCompanies\", null]", 7, &body), "other text is another request");
    sio_answers_fini(&a);
}

Test(sio_answers, a_newer_commit_makes_the_entry_stale_for_good)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 1 << 20);
    sio_answers_put(&a, S("k"), S("[1]"), 7, COL);
    cr_assert_not(get(&a, "k", 8, &body));
    cr_assert_eq(a.n, 0, "the stale entry is dropped");
    cr_assert_not(get(&a, "k", 7, &body));
    sio_answers_fini(&a);
}

Test(sio_answers, an_older_rendering_never_replaces_a_newer_one)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 1 << 20);
    sio_answers_put(&a, S("k"), S("[\"new\"]"), 9, COL);
    sio_answers_put(&a, S("k"), S("[\"old\"]"), 8, COL);
    cr_assert(get(&a, "k", 9, &body));
    cr_assert(slice_eq(body, S("[\"new\"]")));
    sio_answers_put(&a, S("k"), S("[\"newer\"]"), 10, COL);
    cr_assert_eq(a.n, 1);
    cr_assert(get(&a, "k", 10, &body));
    cr_assert(slice_eq(body, S("[\"newer\"]")));
    sio_answers_fini(&a);
}

Test(sio_answers, off_when_the_budget_is_zero)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 0);
    sio_answers_put(&a, S("k"), S("[1]"), 1, COL);
    cr_assert_not(get(&a, "k", 1, &body));
    sio_answers_fini(&a);
}

Test(sio_answers, answers_over_a_quarter_of_the_budget_are_not_kept)
{
    struct sio_answers a;
    struct slice body;
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sio_answers_init(&a, 1200);
    sio_answers_put(&a, S("k"), S(big), 1, COL);
    cr_assert_not(get(&a, "k", 1, &body));
    sio_answers_fini(&a);
}

Test(sio_answers, least_recently_used_goes_first_within_the_byte_budget)
{
    struct sio_answers a;
    struct slice body;
    char v[200];
    memset(v, 'v', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    sio_answers_init(&a, 4 * (200 + 100 + 64)); /* room for about three entries */
    sio_answers_put(&a, S("a"), S(v), 1, COL);
    sio_answers_put(&a, S("b"), S(v), 1, COL);
    sio_answers_put(&a, S("c"), S(v), 1, COL);
    cr_assert(get(&a, "a", 1, &body)); /* a is now the most recent: b goes first */
    for (char k[2] = "d"; k[0] <= 'f'; k[0]++)
        sio_answers_put(&a, S(k), S(v), 1, COL);
    cr_assert_leq(a.bytes, a.cap_bytes);
    cr_assert_not(get(&a, "b", 1, &body));
    cr_assert(get(&a, "f", 1, &body));
    sio_answers_fini(&a);
}

Test(sio_answers, entry_count_is_bounded)
{
    struct sio_answers a;
    sio_answers_init(&a, 64 << 20);
    char k[16];
    for (int i = 0; i < SIO_ANSWERS_MAX + 50; i++) {
        snprintf(k, sizeof k, "k%d", i);
        sio_answers_put(&a, S(k), S("[]"), 1, COL);
    }
    cr_assert_eq(a.n, SIO_ANSWERS_MAX);
    struct slice body;
    cr_assert_not(get(&a, "k0", 1, &body));
    cr_assert(get(&a, "k305", 1, &body));
    sio_answers_fini(&a);
}
