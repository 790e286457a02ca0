/*
 * A bump arena for a plan's parse results: chunks on a singly linked list,
 * freed at once by cache_plan_fini(). Allocations are 16-byte aligned.
 */
#include "cache/cache_int.h"

#include <stdlib.h>

/* Under ASan every allocation gets its own chunk of its exact size, so an
 * overrun is caught instead of landing in the neighbour (h2o does the same). */
#if defined(__SANITIZE_ADDRESS__)
#define CHUNK 0u
#define ROUND(n) (n)
#else
#define CHUNK 4096u
#define ROUND(n) (((n) + 15) & ~(size_t)15)
#endif

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) uint8_t mem[];
};

void *cache_arena_alloc(void **arena, size_t n)
{
    struct chunk *c = *arena;
    n = ROUND(n);
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK ? n : CHUNK;
        struct chunk *nc = xmalloc(sizeof *nc + cap);
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        *arena = c = nc;
    }
    void *p = c->mem + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void cache_arena_free(void **arena)
{
    struct chunk *c = *arena;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    *arena = NULL;
}
