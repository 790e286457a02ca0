#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>

#include "sio/sio_int.h"

static const struct collector *const COL = (const struct collector *)0x1;

static struct slice S(const char *s) { return slice_str(s); }

/* Most tests: answers that read model 0 only, whose data version is `v`. */
static bool get_v(struct sio_answers *a, const char *key, const uint64_t *vers, struct slice *body)
{
    const struct collector *col = NULL;
    struct sio_tail *t = sio_answers_get(a, S(key), vers, &col);
    if (t) {
        cr_assert_eq(col, COL);
        *body = buf_slice(&t->b);
        sio_tail_unref(t); /* the store still holds one */
    }
    return t != NULL;
}

static struct sio_answers_stats stats(const struct sio_answers *a)
{
    struct sio_answers_stats st;
    sio_answers_stats(a, &st);
    return st;
}

static bool get(struct sio_answers *a, const char *key, uint64_t v, struct slice *body)
{
    uint64_t vers[3] = {v, 0, 0};
    return get_v(a, key, vers, body);
}

/* What a worker hands over: a tail with one reference, given up after the put. */
static void put_deps(struct sio_answers *a, const char *key, const char *body, uint16_t *ids, size_t n,
                     uint64_t version)
{
    struct sio_tail *t = sio_tail_new();
    buf_puts(&t->b, body);
    struct sio_answer_deps d = {ids, n, version};
    sio_answers_put(a, S(key), t, &d, COL);
    sio_tail_unref(t);
}

static void put(struct sio_answers *a, const char *key, const char *body, uint64_t v)
{
    uint16_t model0 = 0;
    put_deps(a, key, body, &model0, 1, v);
}

Test(sio_answers, identical_text_same_snapshot_is_a_hit)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 1 << 20);
    put(&a, "[\"fetchCompanies\",null]", "[{\"a\":1}]", 7);
    cr_assert(get(&a, "[\"fetchCompanies\",null]", 7, &body));
    cr_assert(slice_eq(body, S("[{\"a\":1}]")));
    cr_assert_not(get(&a, "[\"fetchCompanies\", null]", 7, &body), "other text is another request");
    sio_answers_fini(&a);
}

Test(sio_answers, a_change_to_the_model_read_makes_the_entry_stale_for_good)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 1 << 20);
    put(&a, "k", "[1]", 7);
    cr_assert_not(get(&a, "k", 8, &body));
    cr_assert_eq(stats(&a).n, 0, "the stale entry is dropped");
    cr_assert_not(get(&a, "k", 7, &body));
    sio_answers_fini(&a);
}

/* A tail that can be patched: '[' + rows + ']' with its row table. */
static void put_rows(struct sio_answers *a, const char *key, uint64_t version, bool patched)
{
    struct sio_tail *t = sio_tail_new();
    buf_puts(&t->b, "[{\"id\":1},{\"id\":2}]");
    t->rows.pk = xcalloc(3, sizeof *t->rows.pk);
    t->rows.off = xcalloc(3, sizeof *t->rows.off);
    t->rows.cap = 3;
    t->rows.n = 2;
    t->rows.pk[0] = 1, t->rows.pk[1] = 2;
    t->rows.off[0] = 1, t->rows.off[1] = 10, t->rows.off[2] = (uint32_t)t->b.len;
    t->has_rows = true;
    uint16_t model0 = 0;
    struct sio_answer_deps d = {&model0, 1, version, patched};
    sio_answers_put(a, S(key), t, &d, COL);
    sio_tail_unref(t);
}

Test(sio_answers, a_stale_answer_that_can_be_patched_stays_as_the_base_of_the_next)
{
    struct sio_answers a;
    struct slice body;
    uint64_t v = 0;
    sio_answers_init(&a, 1 << 20);
    put_rows(&a, "k", 7, false);
    size_t bytes = stats(&a).bytes;
    cr_assert_gt(bytes, 2 * 12 + 20, "the row table counts against the budget");
    cr_assert_not(get(&a, "k", 8, &body));
    cr_assert_not(get(&a, "k", 8, &body));
    cr_assert_eq(stats(&a).n, 1, "kept as a base");
    cr_assert_eq(stats(&a).stale, 1, "counted once");
    struct sio_tail *t = sio_answers_base(&a, S("k"), &v);
    cr_assert_not_null(t);
    cr_assert_eq(v, 7);
    cr_assert_eq(t->rows.n, 2);
    cr_assert_null(sio_answers_base(&a, S("other"), &v));
    put_rows(&a, "k", 8, true); /* the patched answer replaces it */
    cr_assert_eq(stats(&a).n, 1);
    cr_assert_eq(stats(&a).patched, 1);
    cr_assert(get(&a, "k", 8, &body));
    cr_assert(slice_eq(body, buf_slice(&t->b)), "the base lives on while held");
    sio_tail_unref(t);
    put(&a, "plain", "[1]", 7); /* no rows: nothing to patch from */
    cr_assert_null(sio_answers_base(&a, S("plain"), &v));
    sio_answers_fini(&a);
}

Test(sio_answers, an_older_rendering_never_replaces_a_newer_one)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 1 << 20);
    put(&a, "k", "[\"new\"]", 9);
    put(&a, "k", "[\"old\"]", 8);
    cr_assert(get(&a, "k", 9, &body));
    cr_assert(slice_eq(body, S("[\"new\"]")));
    put(&a, "k", "[\"newer\"]", 10);
    cr_assert_eq(stats(&a).n, 1);
    cr_assert(get(&a, "k", 10, &body));
    cr_assert(slice_eq(body, S("[\"newer\"]")));
    sio_answers_fini(&a);
}

Test(sio_answers, off_when_the_budget_is_zero)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 0);
    put(&a, "k", "[1]", 1);
    cr_assert_not(get(&a, "k", 1, &body));
    sio_answers_fini(&a);
}

Test(sio_answers, answers_over_half_of_the_budget_are_not_kept)
{
    struct sio_answers a;
    struct slice body;
    char big[601];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sio_answers_init(&a, 1200);
    put(&a, "k", big, 1);
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
    put(&a, "a", v, 1);
    put(&a, "b", v, 1);
    put(&a, "c", v, 1);
    cr_assert(get(&a, "a", 1, &body)); /* a is now the most recent: b goes first */
    for (char k[2] = "d"; k[0] <= 'f'; k[0]++)
        put(&a, k, v, 1);
    cr_assert_leq(stats(&a).bytes, stats(&a).cap_bytes);
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
        put(&a, k, "[]", 1);
    }
    cr_assert_eq(stats(&a).n, SIO_ANSWERS_MAX);
    struct slice body;
    cr_assert_not(get(&a, "k0", 1, &body));
    cr_assert(get(&a, "k305", 1, &body));
    sio_answers_fini(&a);
}

Test(sio_answers, a_dropped_tail_lives_on_in_the_packets_that_hold_it)
{
    struct sio_answers a;
    struct slice body;
    sio_answers_init(&a, 1 << 20);
    put(&a, "k", "[{\"success\":true,\"data\":[1]}]", 1);
    const struct collector *col;
    uint64_t vers[1] = {1};
    struct sio_tail *t = sio_answers_get(&a, S("k"), vers, &col);
    struct sio_pkt *p = sio_pkt_ack(t, 42);
    sio_tail_unref(t);
    cr_assert_not(get(&a, "k", 2, &body), "a commit makes the entry stale: dropped");
    cr_assert_eq(stats(&a).n, 0);
    cr_assert_eq(sio_pkt_len(p), strlen("4342[{\"success\":true,\"data\":[1]}]"));
    cr_assert(slice_eq(buf_slice(&p->tail->b), S("[{\"success\":true,\"data\":[1]}]")));
    sio_pkt_free(p); /* the last reference: ASan reports a leak or a double free */
    sio_answers_fini(&a);
}

Test(sio_answers, only_a_change_to_a_model_the_answer_read_ends_its_reuse)
{
    struct sio_answers a;
    struct slice body;
    uint16_t read[2] = {0, 2}; /* e.g. companies with their contacts */
    uint64_t vers[3] = {5, 3, 7};
    sio_answers_init(&a, 1 << 20);
    put_deps(&a, "k", "[1]", read, 2, sio_answers_version(read, 2, vers));
    vers[1] = 9; /* another model changed */
    cr_assert(get_v(&a, "k", vers, &body));
    vers[0] = 10; /* a model it read changed: its version is the newest */
    cr_assert_not(get_v(&a, "k", vers, &body));
    cr_assert_eq(stats(&a).n, 0);
    sio_answers_fini(&a);
}

Test(sio_answers, version_is_the_largest_over_the_models_read)
{
    uint16_t read[3] = {2, 0, 1};
    uint64_t vers[3] = {4, 9, 6};
    cr_assert_eq(sio_answers_version(read, 3, vers), 9);
    cr_assert_eq(sio_answers_version(read, 1, vers), 6);
    cr_assert_eq(sio_answers_version(read, 0, vers), 0);
}

Test(sio_answers, loops_share_one_store_through_their_views)
{
    struct sio_answers a, b;
    struct slice body;
    sio_answers_init(&a, 1 << 20);
    sio_answers_share(&b, &a);
    put(&a, "k", "[1]", 3);
    cr_assert(get(&b, "k", 3, &body), "an answer kept by one loop serves the others");
    sio_answers_fini(&a);
    cr_assert(get(&b, "k", 3, &body), "the store lives while a view remains");
    cr_assert_eq(stats(&b).hits, 2);
    sio_answers_fini(&b); /* the last view frees the store: ASan reports a leak otherwise */
}

/* Two loops hitting, replacing and dropping the same entries at once: the
 * tails' counts and the list stay whole (ASan reports a double free or a
 * use after free otherwise). */
static void *hammer(void *arg)
{
    struct sio_answers *v = arg;
    for (uint64_t i = 0; i < 200000; i++) {
        uint64_t vers[1] = {i / 1000};
        const struct collector *col;
        char key[8];
        snprintf(key, sizeof key, "k%u", (unsigned)(i % 2));
        struct sio_tail *t = sio_answers_get(v, S(key), vers, &col);
        if (t) {
            struct sio_pkt *p = sio_pkt_ack(t, i);
            sio_tail_unref(t);
            sio_pkt_free(p);
        } else {
            uint16_t model0 = 0;
            struct sio_tail *n = sio_tail_new();
            buf_puts(&n->b, "[{\"success\":true,\"data\":[]}]");
            struct sio_answer_deps d = {&model0, 1, vers[0]};
            sio_answers_put(v, S(key), n, &d, COL);
            sio_tail_unref(n);
        }
    }
    return NULL;
}

Test(sio_answers, two_loops_at_once_keep_the_store_whole)
{
    struct sio_answers a, b;
    sio_answers_init(&a, 1 << 20);
    sio_answers_share(&b, &a);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, hammer, &b), 0);
    hammer(&a);
    pthread_join(th, NULL);
    cr_assert_leq(stats(&a).n, 2);
    sio_answers_fini(&b);
    sio_answers_fini(&a);
}

/* A finished compressed copy of a tail's bytes, as polling.c makes it. */
static struct sio_z *zcopy(const struct sio_tail *t)
{
    struct sio_z *z = sio_z_new(SIO_Z_NONE);
    sio_z_put(z, buf_data(&t->b), t->b.len);
    sio_z_finish(z);
    return z;
}

/* Plain bytes the kept copy of t adds to a response; 0 when none is kept. */
static size_t spliced(struct sio_answers *a, const struct sio_tail *t)
{
    struct sio_z *dst = sio_z_new(SIO_Z_NONE);
    size_t n = sio_answers_zsplice(a, t, dst) ? dst->len : 0;
    sio_z_finish(dst);
    sio_z_free(dst);
    return n;
}

Test(sio_answers, a_kept_tail_keeps_its_first_compressed_copy_within_the_budget)
{
    struct sio_answers a;
    sio_answers_init(&a, 1 << 20);
    put(&a, "k", "[{\"success\":true,\"data\":[1,2,3]}]", 7);
    const struct collector *col;
    uint64_t vers[1] = {7};
    struct sio_tail *t = sio_answers_get(&a, S("k"), vers, &col);
    cr_assert_not_null(t);
    cr_assert_eq(spliced(&a, t), 0, "no copy until a compressed answer made one");
    size_t before = stats(&a).bytes;
    struct sio_z *c = zcopy(t);
    size_t zlen = c->out.len;
    sio_answers_zcopy_keep(&a, t, &c);
    cr_assert_null(c, "taken");
    cr_assert_eq(spliced(&a, t), t->b.len, "the kept copy carries the whole tail");
    cr_assert_eq(stats(&a).bytes, before + zlen, "the copy counts against the budget");
    c = zcopy(t);
    sio_answers_zcopy_keep(&a, t, &c); /* another poll made one at the same time */
    cr_assert_null(c);
    cr_assert_eq(stats(&a).bytes, before + zlen, "the first copy stays");
    sio_tail_unref(t);
    sio_answers_fini(&a);
}

Test(sio_answers, a_tail_not_kept_gets_no_copy)
{
    struct sio_answers a;
    sio_answers_init(&a, 1 << 20);
    struct sio_tail *t = sio_tail_new();
    buf_puts(&t->b, "[{\"success\":true,\"data\":[]}]");
    cr_assert_eq(spliced(&a, t), 0);
    struct sio_z *c = zcopy(t);
    sio_answers_zcopy_keep(&a, t, &c); /* freed: LeakSanitizer checks */
    cr_assert_null(c);
    cr_assert_eq(spliced(&a, t), 0);
    cr_assert_eq(stats(&a).bytes, 0);
    sio_tail_unref(t);
    sio_answers_fini(&a);
}
