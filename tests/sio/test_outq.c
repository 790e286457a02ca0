#include <criterion/criterion.h>

#include "sio/sio_int.h"

#define MiB (1u << 20)

/* A tail holding n bytes of answer, unreferenced: its buffer goes back. */
static uint8_t *drop_tail_of(size_t n)
{
    struct sio_tail *t = sio_tail_new();
    buf_reserve(&t->b, n);
    memset(buf_data(&t->b), 'x', n);
    t->b.len = n;
    uint8_t *mem = t->b.mem;
    sio_tail_unref(t);
    return mem;
}

Test(sio_outq, a_freed_big_tail_buffer_serves_the_next_answer_empty)
{
    sio_tail_spares_set(32 * MiB);
    uint8_t *mem = drop_tail_of(3 * MiB);
    cr_assert_geq(sio_tail_spares_bytes(), 3 * MiB);
    struct sio_tail *t = sio_tail_new();
    cr_assert_eq(t->b.mem, mem, "the spare buffer is reused");
    cr_assert_eq(t->b.len, 0);
    cr_assert_eq(t->b.head, SIO_TAIL_HEADROOM);
    cr_assert_geq(t->b.cap, 3 * MiB);
    cr_assert_eq(sio_tail_spares_bytes(), 0);
    sio_tail_unref(t);
    sio_tail_spares_set(0);
    cr_assert_eq(sio_tail_spares_bytes(), 0, "a smaller budget frees what is over it");
}

Test(sio_outq, spares_stay_within_the_budget_and_the_count)
{
    sio_tail_spares_set(8 * MiB);
    struct sio_tail *t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = sio_tail_new();
        buf_reserve(&t[i]->b, MiB + 1); /* capacity 2 MiB */
    }
    for (int i = 0; i < 6; i++)
        sio_tail_unref(t[i]);
    cr_assert_leq(sio_tail_spares_bytes(), 8 * MiB);
    cr_assert_geq(sio_tail_spares_bytes(), 4 * MiB);
    sio_tail_spares_set(64 * MiB);
    drop_tail_of(40 * MiB); /* alone within the budget, not beside the others */
    cr_assert_leq(sio_tail_spares_bytes(), 64 * MiB);
    sio_tail_spares_set(0);
}

Test(sio_outq, a_select_sized_answer_buffer_is_kept_too)
{
    sio_tail_spares_set(32 * MiB);
    uint8_t *mem = drop_tail_of(300 * 1000); /* a worker arena would give it back (madvise) */
    struct sio_tail *t = sio_tail_new();
    cr_assert_eq(t->b.mem, mem, "the 300 KB buffer is reused");
    sio_tail_unref(t);
    sio_tail_spares_set(0);
}

Test(sio_outq, a_big_buffer_takes_the_place_of_smaller_spares)
{
    sio_tail_spares_set(16 * MiB);
    struct sio_tail *t[5];
    for (int i = 0; i < 5; i++) { /* capacities 256 KiB x 4, then 8 MiB */
        t[i] = sio_tail_new();
        buf_reserve(&t[i]->b, i < 4 ? 200 * 1000 : 6 * MiB);
    }
    for (int i = 0; i < 5; i++) /* four small ones fill the count, then the big one */
        sio_tail_unref(t[i]);
    cr_assert_eq(sio_tail_spares_bytes(), 8 * MiB + 3 * 256 * 1024,
                 "the big buffer is kept in place of a small one");
    struct sio_tail *a = sio_tail_new(), *b = sio_tail_new(); /* the big one, a small one */
    buf_reserve(&b->b, 6 * MiB);
    sio_tail_unref(a);
    sio_tail_unref(b); /* over the budget beside the rest: the small ones go */
    cr_assert_eq(sio_tail_spares_bytes(), 16 * MiB);
    sio_tail_spares_set(0);
}

Test(sio_outq, small_buffers_and_a_zero_budget_keep_nothing)
{
    sio_tail_spares_set(32 * MiB);
    drop_tail_of(1000); /* malloc's heap: no fresh pages to save */
    cr_assert_eq(sio_tail_spares_bytes(), 0);
    sio_tail_spares_set(0);
    drop_tail_of(3 * MiB);
    cr_assert_eq(sio_tail_spares_bytes(), 0);
}
