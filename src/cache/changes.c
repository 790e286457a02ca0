/*
 * The change log: which rows each write transaction changed, so a client
 * holding an answer of data version V can be sent only what changed after
 * V (since.c) instead of everything again.
 *
 * A transaction collects its changes in memory as it writes (rows stored
 * with new bytes or deleted, relation index entries added or removed,
 * models replaced wholesale) and writes them at commit, sorted, in the
 * same transaction as the rows: the log can never disagree with the data.
 * Rows of a model that is not warm are not logged: its answers come from
 * the live database, and its turning warm is logged as a replacement.
 *
 * The log is bounded by entries and by age (cache_opts): each commit that
 * logs something drops the oldest transactions beyond either limit, whole,
 * and raises the horizon, the transaction after which the log is complete.
 * A version below the horizon cannot be answered from the log.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>

#include "clock.h"

/* One noted change in the transaction's buffer: [be16 id][be64 key][u8 op],
 * the stored key without its txn id prefix. */
#define NOTE_LEN 11u
#define ENTRY_KEY_LEN (8u + NOTE_LEN)

static const MDB_val key_horizon = {6, (void *)"\0chlog"};
static const MDB_val key_resets = {7, (void *)"\0resets"};

static void note(struct cache_wtxn *w, uint16_t id, uint64_t key, uint8_t op)
{
    uint8_t rec[NOTE_LEN];
    rec[0] = (uint8_t)(id >> 8);
    rec[1] = (uint8_t)id;
    put_be64(rec + 2, key);
    rec[10] = op;
    buf_append(&w->chg, rec, sizeof rec);
}

void cache_changes_row(struct cache_wtxn *w, const struct schema_model *m, uint64_t pk)
{
    note(w, m->id, pk, CACHE_CHANGE_ROW);
}

void cache_changes_children(struct cache_wtxn *w, const struct schema_relation *r, int64_t fk)
{
    note(w, (uint16_t)(w->c->schema->n_models + r->to_many_id), (uint64_t)fk, CACHE_CHANGE_ROW);
}

void cache_changes_reset(struct cache_wtxn *w, const struct schema_model *m)
{
    note(w, m->id, 0, CACHE_CHANGE_RESET);
}

static int note_cmp(const void *a, const void *b) { return memcmp(a, b, NOTE_LEN); }

/* The model whose warm state decides whether a note is kept: the model
 * itself, or for an index entry the child model the index follows. */
static const struct schema_model *note_model(const struct cache *c, uint16_t id)
{
    const struct schema *s = c->schema;
    if (id < s->n_models)
        return &s->models[id];
    for (size_t m = 0; m < s->n_models; m++)
        for (size_t i = 0; i < c->n_incoming[m]; i++)
            if (c->incoming[m][i]->to_many_id == id - s->n_models)
                return &s->models[m];
    return NULL;
}

/* Whether model m is warm in this transaction; looked up once per commit. */
static int warm_in(struct cache_wtxn *w, const struct schema_model *m, uint8_t *known, bool *warm)
{
    if (!known[m->id]) {
        struct cache_meta meta;
        int rc = cache_meta_get(&w->rd, m, &meta);
        if (rc < 0)
            return rc;
        known[m->id] = meta.state == CACHE_WARM ? 2 : 1;
    }
    *warm = known[m->id] == 2;
    return 0;
}

static int entries_write(struct cache_wtxn *w, int64_t ms, size_t *written)
{
    struct cache *c = w->c;
    uint8_t *notes = buf_data(&w->chg);
    size_t n = w->chg.len / NOTE_LEN;
    qsort(notes, n, NOTE_LEN, note_cmp);
    uint8_t *known = xcalloc(c->schema->n_models, 1), k[ENTRY_KEY_LEN], v[8];
    put_be64(k, cache_lmdb_txn_id(w->txn));
    put_be64(v, (uint64_t)ms);
    int rc = 0;
    const struct schema_model *m = NULL;
    *written = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const uint8_t *rec = notes + i * NOTE_LEN;
        if (i && memcmp(rec, rec - NOTE_LEN, NOTE_LEN) == 0)
            continue;
        if (!i || memcmp(rec, rec - NOTE_LEN, 2) != 0) /* sorted: ids come in runs */
            m = note_model(c, (uint16_t)(rec[0] << 8 | rec[1]));
        bool warm = true;
        if (rec[10] == CACHE_CHANGE_ROW && m && (rc = warm_in(w, m, known, &warm)) < 0)
            break;
        if (!warm)
            continue;
        if (rec[10] == CACHE_CHANGE_RESET && m)
            w->reset_any = true;
        memcpy(k + 8, rec, NOTE_LEN);
        MDB_val key = {sizeof k, k}, val = {sizeof v, v};
        /* This txn's id is above every logged one and notes are sorted: appends. */
        rc = cache_lmdb_put(w->txn, c->changes, &key, &val, MDB_APPEND);
        (*written)++;
    }
    free(known);
    return rc;
}

static int horizon_put(struct cache_wtxn *w, uint64_t txn)
{
    uint8_t v[8];
    put_be64(v, txn);
    MDB_val k = key_horizon, d = {8, v};
    return cache_lmdb_put(w->txn, w->c->meta, &k, &d, 0);
}

/* Whether the oldest logged transaction is beyond a limit. */
static bool over_limit(const struct cache *c, size_t entries, int64_t oldest_ms, int64_t now)
{
    if (c->chlog.max_entries && entries > c->chlog.max_entries)
        return true;
    return c->chlog.max_age_s && now - oldest_ms > (int64_t)c->chlog.max_age_s * 1000;
}

/* Drops the oldest transactions, whole, while the log is beyond a limit;
 * *dropped is the newest transaction dropped (0: none). */
static int trim(struct cache_wtxn *w, int64_t now, uint64_t *dropped)
{
    MDB_stat st;
    int rc = cache_lmdb_stat(w->txn, w->c->changes, &st);
    MDB_cursor *cur;
    if (rc == 0)
        rc = cache_lmdb_cursor_open(w->txn, w->c->changes, &cur);
    if (rc < 0)
        return rc;
    size_t entries = st.ms_entries;
    MDB_val k, v;
    *dropped = 0;
    while ((rc = cache_lmdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        if (k.mv_size != ENTRY_KEY_LEN || v.mv_size != 8) {
            rc = -EPROTO;
            break;
        }
        uint64_t txn = get_be64(k.mv_data);
        if (txn != *dropped && !over_limit(w->c, entries, (int64_t)get_be64(v.mv_data), now))
            break;
        if ((rc = cache_lmdb_cursor_del(cur)) < 0)
            break;
        *dropped = txn;
        entries--;
    }
    cache_lmdb_cursor_close(cur);
    return rc == -ENOENT ? 0 : rc; /* the log ran empty */
}

/* Per model, the last transaction that replaced it wholesale: be64 per
 * model in "\0resets" (schema order); absent reads as all zeros. */
static int resets_load(struct cache *c, MDB_txn *txn, uint64_t *out)
{
    size_t n = c->schema->n_models;
    MDB_val k = key_resets, d;
    int rc = cache_lmdb_get(txn, c->meta, &k, &d);
    memset(out, 0, n * sizeof *out);
    if (rc == -ENOENT)
        return 0;
    if (rc == 0 && d.mv_size != n * 8)
        return -EPROTO;
    for (size_t i = 0; rc == 0 && i < n; i++)
        out[i] = get_be64((const uint8_t *)d.mv_data + i * 8);
    return rc;
}

static int resets_store(struct cache_wtxn *w)
{
    struct cache *c = w->c;
    size_t n = c->schema->n_models;
    uint64_t *r = xcalloc(n, sizeof *r);
    uint8_t *enc = xcalloc(n, 8);
    int rc = resets_load(c, w->txn, r);
    const uint8_t *notes = buf_data(&w->chg);
    for (size_t i = 0; i < w->chg.len / NOTE_LEN; i++) {
        const uint8_t *rec = notes + i * NOTE_LEN;
        uint16_t id = (uint16_t)(rec[0] << 8 | rec[1]);
        if (rec[10] == CACHE_CHANGE_RESET && id < n)
            r[id] = cache_lmdb_txn_id(w->txn);
    }
    for (size_t i = 0; i < n; i++)
        put_be64(enc + i * 8, r[i]);
    MDB_val k = key_resets, d = {n * 8, enc};
    if (rc == 0)
        rc = cache_lmdb_put(w->txn, c->meta, &k, &d, 0);
    free(enc);
    free(r);
    return rc;
}

int cache_changes_replaced(struct cache_rd *rd, const uint16_t *ids, size_t n, uint64_t *out)
{
    uint64_t *r = xcalloc(rd->c->schema->n_models, sizeof *r);
    int rc = resets_load(rd->c, rd->txn, r);
    *out = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (r[ids[i]] > *out)
            *out = r[ids[i]];
    free(r);
    return rc;
}

int cache_changes_commit(struct cache_wtxn *w)
{
    if (!w->changed && !w->chg.len)
        return 0;
    MDB_val k = key_horizon, d;
    int rc = cache_lmdb_get(w->txn, w->c->meta, &k, &d);
    if (rc == -ENOENT) /* the first change this build logs: complete from here on */
        rc = horizon_put(w, cache_lmdb_txn_id(w->txn) - 1);
    if (rc < 0 || !w->chg.len)
        return rc;
    int64_t now = clock_wall_ms();
    size_t written;
    uint64_t dropped;
    if ((rc = entries_write(w, now, &written)) < 0 || !written)
        return rc;
    if (w->reset_any && (rc = resets_store(w)) < 0)
        return rc;
    if ((rc = trim(w, now, &dropped)) < 0)
        return rc;
    return dropped ? horizon_put(w, dropped) : 0;
}

int cache_changes_horizon(struct cache_rd *rd, uint64_t *out)
{
    MDB_val k = key_horizon, d;
    int rc = cache_lmdb_get(rd->txn, rd->c->meta, &k, &d);
    if (rc == 0 && d.mv_size != 8)
        return -EPROTO;
    if (rc == 0) {
        *out = get_be64(d.mv_data);
        return 0;
    }
    if (rc != -ENOENT)
        return rc;
    /* Nothing logged yet: only "no change since the newest version" is known. */
    const uint64_t *vers;
    if ((rc = cache_versions_get(rd, &vers)) < 0)
        return rc;
    *out = 0;
    for (size_t i = 0; i < rd->c->schema->n_models; i++)
        if (vers[i] > *out)
            *out = vers[i];
    return 0;
}

int cache_changes_walk(struct cache_rd *rd, uint64_t after, cache_change_cb cb, void *arg)
{
    if (!rd->c->changes)
        return 0; /* a read-only open of a store that never logged */
    MDB_cursor *cur;
    int rc = cache_lmdb_cursor_open(rd->txn, rd->c->changes, &cur);
    if (rc < 0)
        return rc;
    uint8_t start[8];
    put_be64(start, after + 1);
    MDB_val k = {8, start}, v;
    int mrc = cache_lmdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; mrc == 0 && rc == 0; mrc = cache_lmdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        rc = k.mv_size != ENTRY_KEY_LEN
                 ? -EPROTO
                 : cb(arg, (uint16_t)(p[8] << 8 | p[9]), get_be64(p + 10), p[18]);
    }
    cache_lmdb_cursor_close(cur);
    if (rc == 0 && mrc != -ENOENT)
        rc = mrc;
    return rc;
}
