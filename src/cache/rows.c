/*
 * The row table of a rendered answer (struct cache_rows, cache.h): where
 * each root row's bytes start, recorded by the renderer (render.c) and
 * by the patcher (patch.c), which reads it to copy unchanged rows.
 */
#include "cache/cache_int.h"

#include <stdlib.h>

void cache_rows_add(struct cache_rows *r, uint64_t pk, size_t at)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->pk = xrealloc(r->pk, r->cap * sizeof *r->pk);
        r->off = xrealloc(r->off, r->cap * sizeof *r->off);
    }
    r->pk[r->n] = pk;
    r->off[r->n++] = (uint32_t)at; /* answers stay under 4 GiB (max_answer_mb) */
}

void cache_rows_reserve(struct cache_rows *r, size_t n)
{
    if (r->cap >= n)
        return;
    r->cap = n;
    r->pk = xrealloc(r->pk, r->cap * sizeof *r->pk);
    r->off = xrealloc(r->off, r->cap * sizeof *r->off);
}

void cache_rows_fini(struct cache_rows *r)
{
    free(r->pk);
    free(r->off);
    *r = (struct cache_rows){0};
}

size_t cache_rows_bytes(const struct cache_rows *r)
{
    return r->cap * (sizeof *r->pk + sizeof *r->off);
}

