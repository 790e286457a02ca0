#include <criterion/criterion.h>

#include "cache/cache_int.h"

Test(cache_arena, allocations_are_zeroed_aligned_and_freed_together)
{
    void *arena = NULL;
    uint8_t *big = cache_arena_alloc(&arena, 10000);
    for (int i = 0; i < 1000; i++) {
        uint8_t *p = cache_arena_alloc(&arena, (size_t)(i % 37) + 1);
        cr_assert_eq((uintptr_t)p % 8, 0);
        for (int k = 0; k < i % 37 + 1; k++)
            cr_assert_eq(p[k], 0);
        memset(p, 0xff, (size_t)(i % 37) + 1);
    }
    cr_assert_eq(big[9999], 0, "earlier allocations are untouched");
    cache_arena_free(&arena);
    cr_assert_null(arena);
    cache_arena_free(&arena); /* a freed arena frees again harmlessly */
}
