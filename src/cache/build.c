/*
 * Indexes built after a first load (issue 14 goal 3). Putting a row's
 * relation and secondary index entries with the row costs a random leaf of
 * each index per row: a large first load dirties (and keeps in the heap
 * until commit) far more index pages than row pages. So a writer that opts
 * in (cache_wtxn_defer_indexes) and puts the first row into an empty slot
 * that no reader can see (not the live slot of a warm model) marks the slot
 * "indexes pending" in the same transaction, and from then on every writer
 * leaves that slot's index entries alone. cache_index_build() then sorts
 * the entries in runs of bounded size (spilled to an unnamed file in the
 * data directory), collected as the rows arrived (below) or read from the
 * rows, merges the runs and appends them in key order (MDB_APPEND: pages
 * are filled once, never split), committing every txn_bytes, and clears the
 * mark in its last transaction.
 *
 * Crash safety: the mark commits with the first rows and is cleared only with
 * the last index entry, so a crash anywhere leaves it set, and the next build
 * empties the slot's indexes and starts over. Readers never see a slot with
 * the mark: the mark is never set on a readable slot, and making a slot
 * readable (the warm state, a rebuild's swap) builds its indexes first in
 * that transaction when nobody built them before (cache_build_now).
 *
 * The mark lives in mark.c. A build finds out from it that rows changed
 * while it was appending (another writer), and builds again.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define REC_HDR 4u                /* a sorted entry: [be16 index][be16 len][bytes] */
#define READ_BUF (64u * 1024)     /* per run while merging */
#define BUILD_ATTEMPTS 3          /* builds in a row that other writers may undo */
#define DUPS_MAX 4096             /* children of one parent appended in one call */

/* ---- entries ----------------------------------------------------------------------- */

/* The indexes that follow model m's rows: its incoming relations (numbered
 * first), then its secondary index fields. */
struct idx_list {
    const struct schema_model *m;
    size_t n_rel, n;
    const struct schema_field *fields[UINT8_MAX];
};

static void idx_list_init(struct idx_list *l, const struct cache *c, const struct schema_model *m)
{
    l->m = m;
    l->n_rel = c->n_incoming[m->id];
    l->n = l->n_rel;
    for (size_t i = 0; i < m->n_fields && l->n - l->n_rel < UINT8_MAX; i++)
        if (m->fields[i].sindex)
            l->fields[l->n++ - l->n_rel] = &m->fields[i];
}

static MDB_dbi idx_dbi(const struct cache *c, const struct idx_list *l, size_t i, unsigned slot)
{
    if (i < l->n_rel)
        return c->dbi[cache_db_index(c, c->incoming[l->m->id][i]->to_many_id, slot)];
    return c->dbi[cache_db_sindex(c, l->fields[i - l->n_rel]->sindex - 1u, slot)];
}

/* A run being collected: records back to back, and what sorts them (see
 * run_sort: the records' order, and as much again to sort into). */
struct sort_ent {
    uint64_t k;         /* the entry's first 8 bytes, big-endian, zero-padded */
    const uint8_t *p;   /* the record */
};

struct run_mem {
    struct buf rec;
    struct sort_ent *ent, *tmp;
    size_t n, cap;
    size_t n_idx, *start; /* the indexes, and n_idx + 1 group offsets */
};

static void rec_add(struct run_mem *r, size_t idx, const uint8_t *p, size_t len)
{
    uint8_t h[REC_HDR] = {(uint8_t)(idx >> 8), (uint8_t)idx, (uint8_t)(len >> 8), (uint8_t)len};
    buf_append(&r->rec, h, REC_HDR);
    buf_append(&r->rec, p, len);
    r->n++;
}

static size_t rec_len(const uint8_t *r) { return REC_HDR + ((size_t)r[2] << 8 | r[3]); }

static size_t rec_idx(const uint8_t *r) { return (size_t)r[0] << 8 | r[1]; }

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

/* The first 8 bytes of the entry as a number that orders as the bytes do
 * (zero-padded: a shorter entry sorts before one it is a prefix of, or ties). */
static uint64_t rec_key(const uint8_t *r)
{
    size_t len = rec_len(r) - REC_HDR;
    if (len >= 8)
        return load_be64(r + REC_HDR);
    uint8_t b[8] = {0};
    memcpy(b, r + REC_HDR, len);
    return load_be64(b);
}

/* Index number, then the entry's bytes as LMDB orders keys (memcmp, the
 * shorter first on a common prefix); a relation entry is [be64 fk][be64
 * pk], which is its key then its duplicate in the same order. The first
 * 16 bytes are compared as numbers (most entries differ there). */
static int rec_cmp(const uint8_t *a, const uint8_t *b)
{
    size_t ia = rec_idx(a), ib = rec_idx(b);
    if (ia != ib)
        return ia < ib ? -1 : 1;
    size_t la = rec_len(a) - REC_HDR, lb = rec_len(b) - REC_HDR, off = 0;
    a += REC_HDR, b += REC_HDR;
    for (; off + 8 <= la && off + 8 <= lb && off < 16; off += 8) {
        uint64_t x = load_be64(a + off), y = load_be64(b + off);
        if (x != y)
            return x < y ? -1 : 1;
    }
    size_t n = (la < lb ? la : lb) - off;
    int c = n ? memcmp(a + off, b + off, n) : 0;
    return c ? c : (la > lb) - (la < lb);
}

static int ent_cmp(const void *a, const void *b)
{
    return rec_cmp(((const struct sort_ent *)a)->p, ((const struct sort_ent *)b)->p);
}

/* The entries of one row into r. */
static int row_entries(const struct cache *c, const struct idx_list *l, struct slice row,
                       struct buf *tmp, struct buf *key, struct run_mem *r)
{
    uint8_t e[16];
    put_be64(e + 8, cache_row_pk(row));
    for (size_t i = 0; i < l->n_rel; i++) {
        int64_t fk;
        int rc = cache_row_int(row, c->incoming[l->m->id][i]->target,
                               c->incoming[l->m->id][i]->fk, &fk);
        if (rc == -ENOENT)
            continue; /* a null foreign key: no parent, no entry */
        if (rc < 0)
            return rc;
        put_be64(e, (uint64_t)fk);
        rec_add(r, i, e, 16);
    }
    for (size_t i = l->n_rel; i < l->n; i++) {
        int rc = cache_sindex_entry(l->m, l->fields[i - l->n_rel], row, tmp, key);
        if (rc < 0)
            return rc;
        rec_add(r, i, buf_data(key), key->len);
    }
    return 0;
}

/* Stable LSD radix sort of e[0, n) by k, through tmp; only the bytes that
 * differ somewhere take a pass (a foreign key below 2^24: three). Returns
 * the array that holds the result (e or tmp). */
static struct sort_ent *radix_sort(struct sort_ent *e, struct sort_ent *tmp, size_t n)
{
    uint64_t all_or = 0, all_and = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++)
        all_or |= e[i].k, all_and &= e[i].k;
    uint64_t differ = all_or ^ all_and;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if (!(differ >> shift & 0xff))
            continue;
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[e[i].k >> shift & 0xff]++;
        for (size_t b = 0, at = 0; b < 256; b++) {
            size_t c = count[b];
            count[b] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[e[i].k >> shift & 0xff]++] = e[i];
        struct sort_ent *t = e;
        e = tmp;
        tmp = t;
    }
    return e;
}

/* Orders entries of equal k by the rest of their bytes: a relation's
 * entries of one parent are already in key order (rows are read so, and
 * the radix sort is stable), a secondary index's may not be. */
static void ties_sort(struct sort_ent *e, size_t n)
{
    for (size_t i = 0, j; i < n; i = j) {
        bool sorted = true;
        for (j = i + 1; j < n && e[j].k == e[i].k; j++)
            sorted = sorted && rec_cmp(e[j - 1].p, e[j].p) <= 0;
        if (!sorted)
            qsort(e + i, j - i, sizeof *e, ent_cmp);
    }
}

/* Sorts the records of r into r->ent (rec_cmp order): grouped by index
 * (a counting sort, stable), then each group by its first 8 bytes (radix)
 * and the ties by the rest. No comparison sort over the whole run: a
 * relation's entries cost a few passes over an array. */
static void run_sort(struct run_mem *r)
{
    if (r->cap < r->n) {
        r->cap = r->n;
        r->ent = xrealloc(r->ent, r->cap * sizeof *r->ent);
        r->tmp = xrealloc(r->tmp, r->cap * sizeof *r->tmp);
    }
    size_t *start = r->start;
    memset(start, 0, (r->n_idx + 1) * sizeof *start);
    const uint8_t *p = buf_data(&r->rec);
    for (size_t i = 0; i < r->n; i++, p += rec_len(p))
        start[rec_idx(p) + 1]++;
    for (size_t g = 1; g <= r->n_idx; g++)
        start[g] += start[g - 1];
    p = buf_data(&r->rec);
    for (size_t i = 0; i < r->n; i++, p += rec_len(p))
        r->tmp[start[rec_idx(p)]++] = (struct sort_ent){rec_key(p), p};
    /* start[g] is now where group g ends: shift back to where it starts. */
    memmove(start + 1, start, r->n_idx * sizeof *start);
    start[0] = 0;
    for (size_t g = 0; g < r->n_idx; g++) {
        size_t n = start[g + 1] - start[g];
        struct sort_ent *out = radix_sort(r->tmp + start[g], r->ent + start[g], n);
        if (out != r->ent + start[g])
            memcpy(r->ent + start[g], out, n * sizeof *out);
        ties_sort(r->ent + start[g], n);
    }
}

/* ---- spilled runs ------------------------------------------------------------------- */

struct spill {
    int fd;
    off_t *start; /* n + 1 offsets: run i is [start[i], start[i+1]) */
    size_t n;
};

static int spill_open(struct spill *s, const char *dir)
{
    s->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/index-build-XXXXXX", dir);
        s->fd = mkstemp(path);
        if (s->fd < 0)
            return -errno;
        unlink(path);
    }
    s->start = xcalloc(1, sizeof *s->start);
    return 0;
}

static void spill_close(struct spill *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->start);
    s->fd = -1;
    s->start = NULL;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writes the sorted run to the file and empties it. */
static int spill_run(struct spill *s, struct run_mem *r, struct buf *io)
{
    run_sort(r);
    buf_reset(io);
    int rc = 0;
    off_t end = s->start[s->n];
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        buf_append(io, r->ent[i].p, rec_len(r->ent[i].p));
        if (io->len >= READ_BUF || i + 1 == r->n) {
            rc = write_all(s->fd, buf_data(io), io->len);
            end += (off_t)io->len;
            buf_reset(io);
        }
    }
    s->start = xrealloc(s->start, (s->n + 2) * sizeof *s->start);
    s->start[++s->n] = end;
    buf_reset(&r->rec);
    r->n = 0;
    return rc;
}

/* One run being read back. */
struct reader {
    uint8_t *mem;
    size_t len, pos;
    off_t at, end;
};

/* The reader's next record, or NULL at its end (*rc on a read error). */
static const uint8_t *reader_next(int fd, struct reader *rd, int *rc)
{
    if (rd->len - rd->pos < REC_HDR || rd->len - rd->pos < rec_len(rd->mem + rd->pos)) {
        size_t keep = rd->len - rd->pos;
        memmove(rd->mem, rd->mem + rd->pos, keep);
        rd->len = keep;
        rd->pos = 0;
        size_t want = READ_BUF - keep;
        if ((off_t)want > rd->end - rd->at)
            want = (size_t)(rd->end - rd->at);
        ssize_t k = want ? pread(fd, rd->mem + keep, want, rd->at) : 0;
        if (k < 0) {
            *rc = -errno;
            return NULL;
        }
        rd->at += k;
        rd->len += (size_t)k;
        if (rd->len - rd->pos < REC_HDR || rd->len < rec_len(rd->mem)) {
            if (rd->len)
                *rc = -EIO; /* a torn record: the file is ours, so never */
            return NULL;
        }
    }
    const uint8_t *r = rd->mem + rd->pos;
    rd->pos += rec_len(r);
    return r;
}

/* ---- appending --------------------------------------------------------------------- */

struct appender {
    struct cache *c;
    const struct idx_list *l;
    unsigned slot;
    MDB_txn *txn;             /* the current transaction */
    bool own;                 /* ours to commit every txn_bytes */
    size_t txn_bytes, bytes;
    MDB_cursor **cur;         /* per index, opened in the current txn */
    uint8_t *last_fk;         /* per relation: the last key appended (8 bytes), for dups */
    bool *has_last;
    uint64_t entries;
    /* More children of the last parent appended, not yet put (dups_flush):
     * relation dups_idx, child keys back to back. */
    size_t dups_idx, n_dups;
    uint8_t *dups;            /* DUPS_MAX keys */
};

static void cursors_close(struct appender *a)
{
    for (size_t i = 0; i < a->l->n; i++)
        if (a->cur[i]) {
            cache_lmdb_cursor_close(a->cur[i]);
            a->cur[i] = NULL;
        }
}

/*
 * The children of one parent go in one call (MDB_MULTIPLE, the relation
 * indexes are MDB_DUPFIXED): LMDB then finds the parent's node once
 * instead of descending the tree per child, which is what an append to a
 * MDB_DUPSORT database otherwise costs (the low-cardinality foreign keys of
 * a model hold most of its entries).
 */
static int dups_flush(struct appender *a)
{
    if (!a->n_dups)
        return 0;
    size_t i = a->dups_idx;
    MDB_val key = {8, a->last_fk + 8 * i};
    MDB_val val[2] = {{8, a->dups}, {a->n_dups, NULL}};
    a->n_dups = 0;
    return cache_lmdb_cursor_put(a->cur[i], &key, val, MDB_MULTIPLE | MDB_APPENDDUP);
}

static int next_txn(struct appender *a)
{
    int rc = dups_flush(a);
    cursors_close(a);
    if (rc < 0) {
        cache_lmdb_txn_abort(a->txn);
        a->txn = NULL;
        return rc;
    }
    rc = cache_lmdb_txn_commit(a->txn);
    a->txn = NULL;
    if (rc == 0)
        rc = cache_lmdb_txn_begin(a->c, false, &a->txn);
    a->bytes = 0;
    return rc;
}

static int append_rec(struct appender *a, const uint8_t *r)
{
    size_t i = (size_t)r[0] << 8 | r[1], len = rec_len(r) - REC_HDR;
    const uint8_t *p = r + REC_HDR;
    if (i >= a->l->n)
        return -EPROTO;
    if (a->own && a->bytes >= a->txn_bytes) {
        int rc = next_txn(a);
        if (rc < 0)
            return rc;
    }
    if (!a->cur[i]) {
        int rc = cache_lmdb_cursor_open(a->txn, idx_dbi(a->c, a->l, i, a->slot), &a->cur[i]);
        if (rc < 0)
            return rc;
    }
    a->entries++;
    if (i < a->l->n_rel && a->has_last[i] && memcmp(a->last_fk + 8 * i, p, 8) == 0) {
        /* Another child of the last parent: with the others (dups_flush). */
        if (a->n_dups && (a->dups_idx != i || a->n_dups == DUPS_MAX)) {
            int rc = dups_flush(a);
            if (rc < 0)
                return rc;
        }
        a->dups_idx = i;
        memcpy(a->dups + 8 * a->n_dups++, p + 8, 8);
        a->bytes += 10; /* a node pointer's worth in the parent's sub-page */
        return 0;
    }
    int rc = dups_flush(a);
    if (rc < 0)
        return rc;
    MDB_val key, val;
    if (i < a->l->n_rel) {
        key = (MDB_val){8, (void *)p};
        val = (MDB_val){8, (void *)(p + 8)};
        memcpy(a->last_fk + 8 * i, p, 8);
        a->has_last[i] = true;
    } else {
        key = (MDB_val){len, (void *)p};
        val = (MDB_val){0, NULL};
    }
    /* What the entry costs in LMDB's pages: a node header and its pointer,
     * and for a relation's new parent a sub-page for its children. */
    a->bytes += i < a->l->n_rel ? 48 : len + 10;
    return cache_lmdb_cursor_put(a->cur[i], &key, &val, MDB_APPEND);
}

/* Heap of readers by their current record. Each slot holds what decides
 * most comparisons (the index and the first 8 bytes as rec_key gives them,
 * ordered as rec_cmp orders the records), so sifting reads the heap array
 * only; a tie goes to rec_cmp. */
struct heap_ent {
    uint64_t k;
    uint32_t idx, rd; /* the record's index; its reader */
};

struct merge {
    struct reader *rd;
    const uint8_t **cur;
    struct heap_ent *heap;
    size_t n;
};

static struct heap_ent heap_ent(const uint8_t *r, size_t rd)
{
    return (struct heap_ent){rec_key(r), (uint32_t)rec_idx(r), (uint32_t)rd};
}

static bool heap_less(const struct merge *g, size_t a, size_t b)
{
    const struct heap_ent *x = &g->heap[a], *y = &g->heap[b];
    if (x->idx != y->idx)
        return x->idx < y->idx;
    if (x->k != y->k)
        return x->k < y->k;
    return rec_cmp(g->cur[x->rd], g->cur[y->rd]) < 0;
}

static void heap_down(struct merge *g, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < g->n && heap_less(g, l, m))
            m = l;
        if (r < g->n && heap_less(g, r, m))
            m = r;
        if (m == i)
            return;
        struct heap_ent t = g->heap[i];
        g->heap[i] = g->heap[m];
        g->heap[m] = t;
        i = m;
    }
}

static int merge_runs(struct spill *s, struct appender *a)
{
    struct merge g = {xcalloc(s->n, sizeof *g.rd), xcalloc(s->n, sizeof *g.cur),
                      xcalloc(s->n, sizeof *g.heap), 0};
    int rc = 0;
    for (size_t i = 0; i < s->n; i++) {
        g.rd[i] = (struct reader){xmalloc(READ_BUF), 0, 0, s->start[i], s->start[i + 1]};
        if ((g.cur[i] = reader_next(s->fd, &g.rd[i], &rc)) != NULL)
            g.heap[g.n++] = heap_ent(g.cur[i], i);
    }
    for (size_t i = g.n; i-- > 0;)
        heap_down(&g, i);
    while (rc == 0 && g.n) {
        size_t top = g.heap[0].rd;
        rc = append_rec(a, g.cur[top]);
        if (rc == 0 && (g.cur[top] = reader_next(s->fd, &g.rd[top], &rc)) == NULL)
            g.heap[0] = g.heap[--g.n];
        else if (rc == 0)
            g.heap[0] = heap_ent(g.cur[top], top);
        heap_down(&g, 0);
    }
    for (size_t i = 0; i < s->n; i++)
        free(g.rd[i].mem);
    free(g.rd);
    free(g.cur);
    free(g.heap);
    return rc;
}

/* ---- the build ------------------------------------------------------------------------ */

struct build {
    struct cache *c;
    const struct schema_model *m;
    unsigned slot;
    const struct cache_build_opts *o;
    struct idx_list l;
    struct run_mem run;
    struct spill spill;
    struct buf io, tmp, key;
};

/* One row's entries into the run, spilling it when full. */
static int collect_row(struct build *b, struct slice row)
{
    int rc = row_entries(b->c, &b->l, row, &b->tmp, &b->key, &b->run);
    /* The records, and two sort entries each (run_sort). */
    if (rc < 0 || b->run.rec.len + 2 * b->run.n * sizeof *b->run.ent < b->o->run_bytes)
        return rc;
    if (b->spill.fd < 0 && (rc = spill_open(&b->spill, b->c->path)) < 0)
        return rc;
    return spill_run(&b->spill, &b->run, &b->io);
}

/* Reads every row of the slot in txn: entries into runs. */
static int collect(struct build *b, MDB_txn *txn)
{
    MDB_cursor *cur;
    int rc = cache_lmdb_cursor_open(txn, b->c->dbi[cache_db_rows(b->m->id, b->slot)], &cur);
    if (rc < 0)
        return rc;
    MDB_val k, v;
    for (rc = cache_lmdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = cache_lmdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if ((rc = collect_row(b, (struct slice){v.mv_data, v.mv_size})) < 0)
            break;
    cache_lmdb_cursor_close(cur);
    return rc == -ENOENT ? 0 : rc;
}

/* Collects (unless the load did: collected), empties the slot's indexes and
 * appends every entry; with own, commits on the way (*txn is then the last
 * transaction, still open). */
static int build_run(struct build *b, MDB_txn **txn, bool own, bool collected, uint64_t *entries)
{
    int rc = collected ? 0 : collect(b, *txn);
    if (rc == 0 && b->spill.fd >= 0 && b->run.n)
        rc = spill_run(&b->spill, &b->run, &b->io); /* the last run joins the spilled ones */
    for (size_t i = 0; rc == 0 && i < b->l.n; i++)
        rc = cache_lmdb_empty(*txn, idx_dbi(b->c, &b->l, i, b->slot)); /* a crashed build's part */
    struct appender a = {.c = b->c, .l = &b->l, .slot = b->slot, .txn = *txn, .own = own,
                         .txn_bytes = b->o->txn_bytes,
                         .cur = xcalloc(b->l.n, sizeof *a.cur),
                         .last_fk = xcalloc(b->l.n_rel + 1, 8),
                         .has_last = xcalloc(b->l.n_rel + 1, sizeof *a.has_last),
                         .dups = xmalloc(DUPS_MAX * 8)};
    if (rc == 0 && b->spill.fd >= 0) {
        rc = merge_runs(&b->spill, &a);
    } else if (rc == 0) {
        run_sort(&b->run);
        for (size_t i = 0; rc == 0 && i < b->run.n; i++)
            rc = append_rec(&a, b->run.ent[i].p);
    }
    if (rc == 0 && a.txn)
        rc = dups_flush(&a);
    cursors_close(&a);
    *txn = a.txn;
    *entries = a.entries;
    free(a.cur);
    free(a.last_fk);
    free(a.dups);
    free(a.has_last);
    return rc;
}

static void build_init(struct build *b, struct cache *c, const struct schema_model *m,
                       unsigned slot, const struct cache_build_opts *o)
{
    memset(b, 0, sizeof *b);
    *b = (struct build){.c = c, .m = m, .slot = slot, .o = o, .spill = {.fd = -1}};
    idx_list_init(&b->l, c, m);
    buf_init(&b->run.rec, 0);
    b->run.n_idx = b->l.n;
    b->run.start = xcalloc(b->l.n + 1, sizeof *b->run.start);
    /* Room for a whole run at once: doubling would overshoot run_bytes (and
     * the pages a small model leaves untouched cost nothing). */
    if (o->run_bytes != SIZE_MAX)
        buf_reserve(&b->run.rec, o->run_bytes / 3 * 2);
    buf_init(&b->io, 0);
    buf_init(&b->tmp, 0);
    buf_init(&b->key, 0);
}

static void build_fini(struct build *b)
{
    spill_close(&b->spill);
    buf_fini(&b->run.rec);
    free(b->run.ent);
    free(b->run.tmp);
    free(b->run.start);
    buf_fini(&b->io);
    buf_fini(&b->tmp);
    buf_fini(&b->key);
}

int cache_build_now(struct cache_wtxn *w, const struct schema_model *m, unsigned slot)
{
    uint8_t mask;
    uint64_t last;
    int rc = cache_mark_read(w->txn, w->c, m, &mask, &last);
    if (rc < 0 || !(mask & 1u << slot))
        return rc;
    struct cache_build_opts o = {.run_bytes = SIZE_MAX, .txn_bytes = SIZE_MAX};
    struct build b;
    build_init(&b, w->c, m, slot, &o);
    uint64_t n;
    MDB_txn *txn = w->txn;
    rc = build_run(&b, &txn, false, false, &n);
    build_fini(&b);
    cache_collect_drop(w->c, m, slot);
    if (rc == 0)
        rc = cache_build_forget(w, m, slot);
    if (rc == 0) /* a load of one page does not call cache_index_build() */
        log_debug(LOG_CACHE, "model %s: built its indexes (%llu entries) in the transaction that "
                  "makes it readable", m->name, (unsigned long long)n);
    return rc;
}

/* ---- entries collected during the load -------------------------------------------- */

/*
 * Reading the rows back after the load costs a read of every row (page
 * faults on the freshly written map) and the extraction of its entries,
 * all while the source idles. A transaction that opted in with bounds
 * (cache_wtxn_defer_indexes) hands each row it inserts into a slot whose
 * indexes are pending to the collector, which extracts the entries into the
 * same sorted runs the build would have made: the writer does that while
 * it waits for the next page. The build takes those runs instead of reading
 * the rows when they are exactly the slot's rows: the collector began with
 * the slot's first row, saw only inserts, every transaction that fed it
 * committed, the last writer of the slot (the mark's transaction id) is the
 * last transaction that fed it, and the slot holds as many rows as it was
 * fed. Anything else (an update or delete under the mark, an aborted
 * transaction, another writer, another model's load taking its place) drops
 * it, and the build reads the rows as before. One collector per handle: its
 * runs are bounded by run_bytes, like the build's.
 */
struct cache_collect {
    struct build b;
    struct cache_build_opts o; /* b.o while collecting: run_bytes */
    uint64_t rows;             /* rows fed by committed transactions */
    uint64_t pending;          /* rows fed by the open transaction */
    uint64_t last_txn;         /* the last committed transaction that fed it */
};

static void collect_free(struct cache *c)
{
    if (!c->collect)
        return;
    build_fini(&c->collect->b);
    free(c->collect);
    c->collect = NULL;
}

void cache_collect_drop(struct cache *c, const struct schema_model *m, unsigned slot)
{
    if (c->collect && (!m || (c->collect->b.m == m && c->collect->b.slot == slot)))
        collect_free(c);
}

void cache_collect_begin(struct cache_wtxn *w, const struct schema_model *m, unsigned slot)
{
    collect_free(w->c);
    if (!w->collect_opts)
        return;
    struct cache_collect *k = xcalloc(1, sizeof *k);
    k->o = *w->collect_opts;
    build_init(&k->b, w->c, m, slot, &k->o);
    w->c->collect = k;
}

void cache_collect_row(struct cache_wtxn *w, const struct schema_model *m, unsigned slot,
                       struct slice old_row, struct slice new_row)
{
    struct cache_collect *k = w->c->collect;
    if (!k || k->b.m != m || k->b.slot != slot)
        return;
    int rc = old_row.len || !new_row.len || !w->collect_opts ? -ECANCELED : 0;
    if (rc == 0)
        rc = collect_row(&k->b, new_row);
    if (rc < 0) {
        log_debug(LOG_CACHE, "model %s: entries no longer collected during the load (%s): the "
                  "build reads the rows", m->name, rc == -ECANCELED ? "a row changed or went" :
                  strerror(-rc));
        collect_free(w->c);
        return;
    }
    w->collect_fed = true;
    k->pending++;
}

void cache_collect_end(struct cache_wtxn *w, uint64_t txn_id, bool committed)
{
    struct cache_collect *k = w->c->collect;
    if (!w->collect_fed || !k)
        return;
    if (!committed) {
        collect_free(w->c); /* its rows are gone, their entries are not */
        return;
    }
    k->rows += k->pending;
    k->pending = 0;
    k->last_txn = txn_id;
}

/* The collector of (m, slot) when its runs hold exactly the slot's rows
 * (last: the mark's last writer), taken from c; NULL otherwise (dropped). */
static struct cache_collect *collect_take(struct cache *c, MDB_txn *txn,
                                          const struct schema_model *m, unsigned slot,
                                          uint64_t last)
{
    struct cache_collect *k = c->collect;
    if (!k || k->b.m != m || k->b.slot != slot)
        return NULL;
    c->collect = NULL;
    MDB_stat st;
    if (k->pending == 0 && k->last_txn == last &&
        cache_lmdb_stat(txn, c->dbi[cache_db_rows(m->id, slot)], &st) == 0 &&
        st.ms_entries == k->rows)
        return k;
    c->collect = k;
    collect_free(c);
    return NULL;
}

/* ---- the build, in its own transactions -------------------------------------------- */

/* One attempt: *again when rows were written while it appended. */
static int build_once(struct cache *c, const struct schema_model *m,
                      const struct cache_build_opts *o, bool *built, bool *again)
{
    *again = false;
    MDB_txn *txn;
    int rc = cache_lmdb_txn_begin(c, false, &txn);
    if (rc < 0)
        return rc;
    uint8_t *slots = xcalloc(c->schema->n_models ? c->schema->n_models : 1, 1);
    uint8_t mask = 0;
    uint64_t last = 0, now = 0;
    unsigned slot = 0;
    if ((rc = cache_slots_load(c, txn, slots)) == 0) {
        slot = cache_slot_write(slots, m->id);
        rc = cache_mark_read(txn, c, m, &mask, &last);
    }
    free(slots);
    if (rc < 0 || !(mask & 1u << slot)) {
        cache_lmdb_txn_abort(txn);
        return rc;
    }
    struct cache_collect *k = collect_take(c, txn, m, slot, last);
    bool collected = k != NULL;
    struct build own, *b = k ? &k->b : &own;
    if (k)
        b->o = o; /* the runs are made: from here on, the build's bounds */
    else
        build_init(b, c, m, slot, o);
    uint64_t n = 0;
    rc = build_run(b, &txn, true, collected, &n);
    build_fini(b);
    free(k);
    if (rc == 0)
        rc = cache_mark_read(txn, c, m, &mask, &now);
    *again = rc == 0 && now != last;
    if (rc == 0 && !*again)
        rc = cache_mark_write(txn, c, m, (uint8_t)(mask & ~(1u << slot)), now);
    if (rc < 0 || !txn) {
        if (txn)
            cache_lmdb_txn_abort(txn);
        return rc < 0 ? rc : -EIO;
    }
    rc = cache_lmdb_txn_commit(txn);
    *built = rc == 0 && !*again;
    if (*built && collected)
        c->builds_collected++;
    if (*built)
        log_info(LOG_CACHE, "model %s: built its indexes (%llu entries%s)", m->name,
                 (unsigned long long)n, collected ? ", collected as its rows were loaded" : "");
    return rc;
}

int cache_index_build(struct cache *c, const struct schema_model *m,
                      const struct cache_build_opts *o, bool *built)
{
    *built = false;
    if (c->read_only)
        return -EROFS;
    bool again = false;
    int rc = 0;
    for (int i = 0; rc == 0 && (i == 0 || again) && i < BUILD_ATTEMPTS; i++)
        rc = build_once(c, m, o, built, &again);
    if (rc == 0 && again) {
        log_warn(LOG_CACHE, "model %s: rows kept changing while its indexes were built; they are "
                 "built when it becomes readable", m->name);
    }
    return rc;
}
