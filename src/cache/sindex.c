/*
 * Secondary indexes: one per field that leads an @@index([...]) of the
 * schema, per slot, like the relation indexes (index.c): written in the
 * same transaction as the row, emptied with its slot, so an entry never
 * outlives its row nor the reverse.
 *
 * An entry is a key alone: [value key][be64 pk], where the value key orders
 * by memcmp exactly as the field orders in answers (compare.c), nulls first:
 *   null       0x00
 *   otherwise  0x01, then
 *     Int, BigInt  be64 of the value with the sign bit flipped
 *     Float        be64 of the IEEE bits, negatives inverted, -0 as 0
 *     Boolean      0x00 false, 0x01 true
 *     DateTime     the ISO text ("2024-03-01T12:00:00.000Z", fixed width)
 *     String       per character of the collation (collate.h), trailing
 *                  spaces dropped: the folded code point + 1 in 3 bytes,
 *                  then 0x000000; so a proper prefix sorts first and
 *                  strings equal under the collation have one key.
 * Value keys are prefix-free (fixed widths, or a terminator no character
 * makes), so an entry's value is its key minus the last 8 bytes, and
 * entries of one value are in pk order.
 *
 * Stores written before an index was declared get it at the first
 * writable open (cache_sindex_open): "\0sidx" in meta lists the indexes
 * that are complete; a reader uses only those.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "collate.h"
#include "log.h"

static const MDB_val key_built = {5, (void *)"\0sidx"};

/* ---- value keys ----------------------------------------------------------------- */

static void put_u64_key(struct buf *out, uint64_t v)
{
    uint8_t b[8];
    put_be64(b, v);
    buf_append(out, b, 8);
}

static int float_key(struct slice json, struct buf *out)
{
    char text[64];
    if (json.len >= sizeof text)
        return -EPROTO;
    memcpy(text, json.p, json.len);
    text[json.len] = '\0';
    char *end;
    double d = strtod(text, &end);
    if (end != text + json.len || isnan(d))
        return -EPROTO;
    if (d == 0)
        d = 0; /* -0 and 0 are one value */
    uint64_t bits;
    memcpy(&bits, &d, 8);
    put_u64_key(out, bits >> 63 ? ~bits : bits | (1ull << 63));
    return 0;
}

static void text_key(struct slice s, struct buf *out)
{
    while (s.len && s.p[s.len - 1] == ' ')
        s.len--;
    size_t i = 0;
    for (unsigned n = 0; i < s.len && n < SCHEMA_INDEX_TEXT_MAX; n++) {
        uint32_t cp = collate_fold(collate_next(s.p, s.len, &i)) + 1;
        uint8_t b[3] = {(uint8_t)(cp >> 16), (uint8_t)(cp >> 8), (uint8_t)cp};
        buf_append(out, b, 3);
    }
    buf_append(out, "\0\0\0", 3);
}

int cache_sindex_value_key(const struct schema_field *f, struct slice json, struct buf *tmp,
                           struct buf *out)
{
    if (slice_eq(json, slice_str("null"))) {
        buf_putc(out, 0);
        return 0;
    }
    buf_putc(out, 1);
    int64_t i;
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_BIGINT: {
        int rc = cache_json_int(json, &i);
        if (rc < 0)
            return -EPROTO;
        put_u64_key(out, (uint64_t)i ^ (1ull << 63));
        return 0;
    }
    case SCHEMA_FLOAT: return float_key(json, out);
    case SCHEMA_BOOLEAN: buf_putc(out, json.len == 4); return 0; /* "true" */
    case SCHEMA_DATETIME:
        if (json.len < 2)
            return -EPROTO;
        buf_append(out, json.p + 1, json.len - 2);
        return 0;
    case SCHEMA_STRING: {
        size_t mark = tmp->len;
        text_key(cache_json_text(json, tmp), out);
        tmp->len = mark;
        return 0;
    }
    default: return -EPROTO; /* the schema refuses indexes on the other types */
    }
}

/* ---- maintenance ---------------------------------------------------------------- */

static size_t sdb(const struct cache *c, const struct schema_field *f, unsigned slot)
{
    return cache_db_sindex(c, f->sindex - 1u, slot);
}

/* The entry of row (of model m) for index field f into out; nothing for no row. */
static int entry_of(const struct schema_model *m, const struct schema_field *f, struct slice row,
                    struct buf *tmp, struct buf *out)
{
    buf_reset(out);
    if (!row.len)
        return 0;
    struct slice v;
    int rc = cache_row_value(row, m, f, &v);
    if (rc == 0)
        rc = cache_sindex_value_key(f, v, tmp, out);
    if (rc == 0)
        put_u64_key(out, cache_row_pk(row));
    return rc;
}

int cache_sindex_entry(const struct schema_model *m, const struct schema_field *f, struct slice row,
                       struct buf *tmp, struct buf *out)
{
    return entry_of(m, f, row, tmp, out);
}

static int entry_op(MDB_txn *txn, MDB_dbi dbi, const struct buf *k, bool add)
{
    MDB_val key = {k->len, (void *)buf_data(k)}, val = {0, NULL};
    int rc = add ? cache_lmdb_put(txn, dbi, &key, &val, 0) : cache_lmdb_del(txn, dbi, &key, NULL);
    return rc == -ENOENT ? 0 : rc; /* already gone: the index holds what we want */
}

/* Moves one row's entry in index f (old_row or new_row may be empty). */
static int field_update(struct cache_wtxn *w, const struct schema_model *m, const struct schema_field *f,
                        unsigned slot, struct slice old_row, struct slice new_row)
{
    struct buf ok, nk, tmp;
    buf_init(&ok, 0);
    buf_init(&nk, 0);
    buf_init(&tmp, 0);
    MDB_dbi dbi = w->c->dbi[sdb(w->c, f, slot)];
    int rc = entry_of(m, f, old_row, &tmp, &ok);
    if (rc == 0)
        rc = entry_of(m, f, new_row, &tmp, &nk);
    if (rc == 0 && !slice_eq(buf_slice(&ok), buf_slice(&nk))) {
        if (ok.len)
            rc = entry_op(w->txn, dbi, &ok, false);
        if (rc == 0 && nk.len)
            rc = entry_op(w->txn, dbi, &nk, true);
    }
    buf_fini(&tmp);
    buf_fini(&nk);
    buf_fini(&ok);
    return rc;
}

int cache_sindex_update(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                        struct slice old_row, struct slice new_row)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        int rc = m->fields[i].sindex ? field_update(w, m, &m->fields[i], slot, old_row, new_row) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cache_sindex_empty(struct cache_wtxn *w, const struct schema_model *m, unsigned slot)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        const struct schema_field *f = &m->fields[i];
        int rc = f->sindex ? cache_lmdb_empty(w->txn, w->c->dbi[sdb(w->c, f, slot)]) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- building at open ------------------------------------------------------------ */

const struct schema_model *cache_sindex_model(const struct schema *s, const struct schema_field *f)
{
    for (size_t m = 0; m < s->n_models; m++)
        if (f >= s->models[m].fields && f < s->models[m].fields + s->models[m].n_fields)
            return &s->models[m];
    return NULL;
}

/* "x:<Model>.<field>": the index's name without the slot, as "\0sidx" lists it. */
static void base_name(const struct schema *s, const struct schema_field *f, struct buf *out)
{
    buf_printf(out, "x:%s.%s", cache_sindex_model(s, f)->name, f->name);
}

static bool listed(struct slice list, struct slice name)
{
    for (size_t pos = 0; pos < list.len;) {
        const uint8_t *nl = memchr(list.p + pos, '\n', list.len - pos);
        size_t end = nl ? (size_t)(nl - list.p) : list.len;
        if (slice_eq((struct slice){list.p + pos, end - pos}, name))
            return true;
        pos = end + 1;
    }
    return false;
}

/* Fills index f of model m in both slots from the rows there. */
static int index_fill(struct cache *c, MDB_txn *txn, const struct schema_model *m,
                      const struct schema_field *f, uint64_t *entries)
{
    struct buf k, tmp;
    buf_init(&k, 0);
    buf_init(&tmp, 0);
    int rc = 0;
    for (unsigned slot = 0; rc == 0 && slot < CACHE_SLOTS; slot++) {
        MDB_dbi idx = c->dbi[sdb(c, f, slot)];
        MDB_cursor *cur;
        if ((rc = cache_lmdb_empty(txn, idx)) < 0 ||
            (rc = cache_lmdb_cursor_open(txn, c->dbi[cache_db_rows(m->id, slot)], &cur)) < 0)
            break;
        MDB_val key, val;
        for (rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = cache_lmdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
            int r = entry_of(m, f, (struct slice){val.mv_data, val.mv_size}, &tmp, &k);
            if (r == 0)
                r = entry_op(txn, idx, &k, true);
            if (r < 0) {
                rc = r;
                break;
            }
            (*entries)++;
        }
        cache_lmdb_cursor_close(cur);
        if (rc == -ENOENT)
            rc = 0;
    }
    buf_fini(&tmp);
    buf_fini(&k);
    return rc;
}

/* Drops the databases of the indexes in `was` that `now` does not list. */
static int indexes_drop(struct cache *c, MDB_txn *txn, struct slice was, struct slice now)
{
    struct buf name;
    buf_init(&name, 0);
    int rc = 0;
    for (size_t pos = 0; rc == 0 && pos < was.len;) {
        const uint8_t *nl = memchr(was.p + pos, '\n', was.len - pos);
        size_t end = nl ? (size_t)(nl - was.p) : was.len;
        struct slice one = {was.p + pos, end - pos};
        pos = end + 1;
        if (!one.len || listed(now, one))
            continue;
        for (unsigned slot = 0; rc == 0 && slot < CACHE_SLOTS; slot++) {
            buf_reset(&name);
            buf_printf(&name, "%.*s@%u", (int)one.len, (const char *)one.p, slot);
            MDB_dbi dbi;
            rc = cache_lmdb_dbi_open(txn, (const char *)buf_data(&name), 0, &dbi);
            if (rc == 0)
                rc = cache_lmdb_dbi_drop(txn, dbi);
            else if (rc == -ENOENT)
                rc = 0;
        }
        if (rc == 0)
            log_info(LOG_CACHE, "%s: dropped index %.*s (no longer declared)", c->path, (int)one.len,
                     (const char *)one.p);
    }
    buf_fini(&name);
    return rc;
}

/* Builds every declared index the list lacks; the new list names exactly
 * the declared ones (an index no longer declared is emptied and dropped). */
static int indexes_build(struct cache *c, MDB_txn *txn, struct slice list)
{
    const struct schema *s = c->schema;
    struct buf name, out;
    buf_init(&name, 0);
    buf_init(&out, 0);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n_indexes; i++) {
        const struct schema_field *f = s->indexed[i];
        buf_reset(&name);
        base_name(s, f, &name);
        if (!listed(list, buf_slice(&name))) {
            uint64_t n = 0;
            rc = index_fill(c, txn, cache_sindex_model(s, f), f, &n);
            if (rc == 0 && n)
                log_info(LOG_CACHE, "%s: built index %.*s (%llu rows)", c->path, (int)name.len,
                         (const char *)buf_data(&name), (unsigned long long)n);
        }
        buf_append(&out, buf_data(&name), name.len);
        buf_putc(&out, '\n');
    }
    if (rc == 0)
        rc = indexes_drop(c, txn, list, buf_slice(&out));
    MDB_val k = key_built, d = {out.len, (void *)buf_data(&out)};
    if (rc == 0)
        rc = cache_lmdb_put(txn, c->meta, &k, &d, 0);
    buf_fini(&out);
    buf_fini(&name);
    return rc;
}

int cache_sindex_open(struct cache *c, MDB_txn *txn)
{
    const struct schema *s = c->schema;
    c->sindex_ready = xcalloc(s->n_indexes + 1u, sizeof *c->sindex_ready);
    MDB_val k = key_built, d;
    int rc = cache_lmdb_get(txn, c->meta, &k, &d);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    struct slice list = rc == 0 ? (struct slice){d.mv_data, d.mv_size} : (struct slice){NULL, 0};
    struct buf copy, name;
    buf_init(&copy, 0);
    buf_init(&name, 0);
    buf_append(&copy, list.p, list.len); /* the put below may move the record */
    rc = c->read_only ? 0 : indexes_build(c, txn, buf_slice(&copy));
    for (size_t i = 0; rc == 0 && i < s->n_indexes; i++) {
        buf_reset(&name);
        base_name(s, s->indexed[i], &name);
        bool open = c->dbi[cache_db_sindex(c, i, 0)] && c->dbi[cache_db_sindex(c, i, 1)];
        c->sindex_ready[i] = !c->read_only || (open && listed(buf_slice(&copy), buf_slice(&name)));
    }
    buf_fini(&name);
    buf_fini(&copy);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------ */

struct walk {
    struct cache_rd *rd;
    const struct schema_model *m;
    const struct cache_sindex_range *r;
    cache_row_cb cb;
    void *arg;
    uint64_t *group;         /* pks of one value, grouped mode */
    size_t n, cap;
};

static struct slice entry_value(const MDB_val *key)
{
    return (struct slice){key->mv_data, key->mv_size >= 8 ? key->mv_size - 8 : 0};
}

/* Past the far bound in the reading direction: the walk ends. */
static bool past_end(const struct cache_sindex_range *r, struct slice v)
{
    return r->back ? r->lo.p && slice_cmp(v, r->lo) < 0 : r->hi.p && slice_cmp(v, r->hi) > 0;
}

static int row_emit(struct walk *w, uint64_t pk)
{
    struct slice row;
    int rc = cache_row_get(w->rd, w->m, pk, &row);
    if (rc == -ENOENT) /* cannot happen with same-txn maintenance; never render a ghost */
        return 0;
    return rc ? rc : w->cb(w->arg, row);
}

/* Positions cur on the first entry of the walk: at or after (forward) / at
 * or before (backward) the start value and pk, else the near bound. */
static int walk_start(struct walk *w, MDB_cursor *cur, MDB_val *key, bool grouped)
{
    const struct cache_sindex_range *r = w->r;
    struct slice from = r->back ? r->hi : r->lo;
    bool use_start = r->start.p && (!from.p || (r->back ? slice_cmp(r->start, from) <= 0
                                                        : slice_cmp(r->start, from) >= 0));
    uint8_t k[CACHE_SINDEX_KEY_MAX + 8];
    struct slice v = use_start ? r->start : from;
    if (!v.p || v.len > CACHE_SINDEX_KEY_MAX)
        return cache_lmdb_cursor_get(cur, key, &(MDB_val){0}, r->back ? MDB_LAST : MDB_FIRST);
    memcpy(k, v.p, v.len);
    /* Streaming from a cursor seeks its exact entry; otherwise the value's first (last) entry. */
    uint64_t pk = use_start && !grouped ? r->start_pk : r->back ? UINT64_MAX : 0;
    put_be64(k + v.len, pk);
    *key = (MDB_val){v.len + 8, k};
    MDB_val val;
    int rc = cache_lmdb_cursor_get(cur, key, &val, MDB_SET_RANGE);
    if (!r->back)
        return rc;
    if (rc == -ENOENT)
        return cache_lmdb_cursor_get(cur, key, &val, MDB_LAST);
    if (rc == 0 && slice_cmp((struct slice){key->mv_data, key->mv_size}, (struct slice){k, v.len + 8}) > 0)
        return cache_lmdb_cursor_get(cur, key, &val, MDB_PREV);
    return rc;
}

/* Entries of one value arrive in the reading direction's pk order: emitted as read. */
static int walk_stream(struct walk *w, MDB_cursor *cur)
{
    MDB_val key, val;
    int rc = walk_start(w, cur, &key, false);
    for (; rc == 0; rc = cache_lmdb_cursor_get(cur, &key, &val, w->r->back ? MDB_PREV : MDB_NEXT)) {
        if (past_end(w->r, entry_value(&key)))
            return 0;
        int r = row_emit(w, get_be64((const uint8_t *)key.mv_data + key.mv_size - 8));
        if (r)
            return r;
    }
    return rc == -ENOENT ? 0 : rc;
}

/* Emits one value's pks (read in the walk's direction) in the page's pk order. */
static int group_emit(struct walk *w, struct slice v)
{
    const struct cache_sindex_range *r = w->r;
    bool first = r->start.p && slice_eq(v, r->start);
    for (size_t j = 0; j < w->n; j++) {
        uint64_t pk = w->group[r->pk_back == r->back ? j : w->n - 1 - j];
        if (first && (r->pk_back ? pk > r->start_pk : pk < r->start_pk))
            continue; /* before the cursor row in the page's order */
        int rc = row_emit(w, pk);
        if (rc)
            return rc;
    }
    return 0;
}

/* Entries of one value arrive in the opposite pk order: each value's pks are
 * gathered, then emitted reversed. */
static int walk_grouped(struct walk *w, MDB_cursor *cur)
{
    MDB_val key, val;
    uint8_t v[CACHE_SINDEX_KEY_MAX];
    size_t vlen = 0;
    int rc = walk_start(w, cur, &key, true), r = 0;
    for (; rc == 0; rc = cache_lmdb_cursor_get(cur, &key, &val, w->r->back ? MDB_PREV : MDB_NEXT)) {
        struct slice ev = entry_value(&key);
        if (w->n && !slice_eq(ev, (struct slice){v, vlen})) {
            if ((r = group_emit(w, (struct slice){v, vlen})) != 0)
                return r;
            w->n = 0;
        }
        if (past_end(w->r, ev) || ev.len > sizeof v)
            return 0;
        memcpy(v, ev.p, ev.len);
        vlen = ev.len;
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->group = xrealloc(w->group, w->cap * sizeof *w->group);
        }
        w->group[w->n++] = get_be64((const uint8_t *)key.mv_data + key.mv_size - 8);
    }
    if (rc == -ENOENT && w->n)
        return group_emit(w, (struct slice){v, vlen});
    return rc == -ENOENT ? 0 : rc;
}

int cache_sindex_read(struct cache_rd *rd, const struct schema_model *m, const struct schema_field *f,
                      const struct cache_sindex_range *r, cache_row_cb cb, void *arg)
{
    if (!f->sindex || !rd->c->sindex_ready[f->sindex - 1])
        return -ENOTSUP;
    size_t db = sdb(rd->c, f, cache_slot_live(rd->slots, m->id));
    MDB_cursor *cur;
    int rc = cache_rd_cursor(rd, db, &cur);
    if (rc < 0)
        return rc;
    struct walk w = {rd, m, r, cb, arg, NULL, 0, 0};
    rd->nest++;
    rc = r->pk_back == r->back ? walk_stream(&w, cur) : walk_grouped(&w, cur);
    rd->nest--;
    free(w.group);
    cache_rd_cursor_done(rd, db, cur);
    return rc;
}
