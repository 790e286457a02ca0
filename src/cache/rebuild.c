/*
 * Full rebuilds into the model's other slot. begin empties the shadow and
 * marks it open, so cache_row_put() writes there; swap flips the live bit
 * and empties the old slot; abandon empties the shadow. Each is one change
 * to "\0slots" plus cache_lmdb_empty() calls (which empty a database but keep
 * its handle), inside the caller's transaction: readers see the flip only
 * when that transaction commits, and a crash leaves either state whole.
 */
#include "cache/cache_int.h"

#include <errno.h>

#include "log.h"

/* Empties the model's rows and the indexes that follow them in `slot`. */
static int slot_empty(struct cache_wtxn *w, const struct schema_model *m, unsigned slot)
{
    struct cache *c = w->c;
    int rc = cache_lmdb_empty(w->txn, c->dbi[cache_db_rows(m->id, slot)]);
    cache_wtxn_tail_forget(w, cache_db_rows(m->id, slot));
    for (size_t i = 0; rc == 0 && i < c->n_incoming[m->id]; i++) {
        size_t db = cache_db_index(c, c->incoming[m->id][i]->to_many_id, slot);
        rc = cache_lmdb_empty(w->txn, c->dbi[db]);
    }
    cache_collect_drop(c, m, slot);
    if (rc == 0)
        rc = cache_build_forget(w, m, slot);
    return rc == 0 ? cache_sindex_empty(w, m, slot) : rc;
}

/* Cursors cached on the txn's read view may sit on a database being
 * emptied; they are closed so later reads reopen them cleanly. */
static void rd_cursors_forget(struct cache_wtxn *w)
{
    struct cache_rd *rd = &w->rd;
    for (size_t i = 0; i < w->c->n_db * CACHE_NEST_MAX; i++)
        if (rd->cur[i]) {
            cache_lmdb_cursor_close(rd->cur[i]);
            rd->cur[i] = NULL;
        }
}

int cache_rebuild_begin(struct cache_wtxn *w, const struct schema_model *m)
{
    unsigned shadow = cache_slot_live(w->slots, m->id) ^ 1u;
    rd_cursors_forget(w);
    int rc = slot_empty(w, m, shadow);
    if (rc < 0)
        return rc;
    w->slots[m->id] |= CACHE_SLOT_REBUILD;
    return cache_slots_store(w->c, w->txn, w->slots);
}

int cache_rebuild_swap(struct cache_wtxn *w, const struct schema_model *m)
{
    if (!(w->slots[m->id] & CACHE_SLOT_REBUILD)) {
        log_error(LOG_CACHE, "model %s: swap without an open rebuild", m->name);
        return -EINVAL;
    }
    unsigned old = cache_slot_live(w->slots, m->id);
    rd_cursors_forget(w);
    /* The copy readers get must have whole indexes. */
    int rc = cache_build_now(w, m, old ^ 1u);
    if (rc == 0)
        rc = slot_empty(w, m, old);
    if (rc < 0)
        return rc;
    w->slots[m->id] = (uint8_t)(old ^ 1u);
    cache_versions_touch(w, m);
    cache_changes_reset(w, m);
    return cache_slots_store(w->c, w->txn, w->slots);
}

int cache_rebuild_abandon(struct cache_wtxn *w, const struct schema_model *m)
{
    if (!(w->slots[m->id] & CACHE_SLOT_REBUILD))
        return 0; /* nothing open: abandoning is idempotent */
    rd_cursors_forget(w);
    int rc = slot_empty(w, m, cache_slot_live(w->slots, m->id) ^ 1u);
    if (rc < 0)
        return rc;
    w->slots[m->id] &= (uint8_t)~CACHE_SLOT_REBUILD;
    return cache_slots_store(w->c, w->txn, w->slots);
}
