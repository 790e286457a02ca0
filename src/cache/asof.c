/*
 * Freshness: per model, the source clock read at the start of the newest
 * poll whose rows are all committed. An answer's asOf is the oldest of
 * them over the models it read: every row the source had committed by
 * then for those models is in the store.
 *
 * Kept in memory, not in LMDB: a poll that finds nothing new commits
 * nothing, yet it still proves the store current up to its clock. The
 * poller thread writes, any thread reads; release/acquire order suffices because
 * a reader reads the clocks before it begins its snapshot, and the poller
 * notes a clock only after the commit it covers.
 *
 * Beside it, per model, how many polls covered the model: the measure of
 * "within two poll intervals" that holds on a machine of any speed.
 */
#include "cache/cache_int.h"

void cache_asof_note(struct cache *c, const struct schema_model *m, int64_t source_ms)
{
    atomic_store_explicit(&c->asof[m->id], source_ms, memory_order_release);
}

int64_t cache_asof(const struct cache *c, const uint16_t *ids, size_t n)
{
    int64_t oldest = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t t = atomic_load_explicit(&c->asof[ids[i]], memory_order_acquire);
        if (!t)
            return 0;
        if (!oldest || t < oldest)
            oldest = t;
    }
    return oldest;
}

void cache_polls_note(struct cache *c, const struct schema_model *m)
{
    atomic_fetch_add_explicit(&c->polls[m->id], 1, memory_order_release);
}

uint64_t cache_polls(const struct cache *c, const struct schema_model *m)
{
    return atomic_load_explicit(&c->polls[m->id], memory_order_acquire);
}
