/*
 * The narrow layer under the cache: the only file that calls mdb_*, the
 * one translation of LMDB codes into negative errnos (STYLE R3), the words
 * an operator reads for them, and the map-size bookkeeping.
 *
 * MAP GROWN BY ANOTHER PROCESS
 * LMDB maps the file once per environment. When another process (a warm-up
 * with a larger map_size_mb) grows the map and fills pages beyond ours, our
 * next transaction start fails with MDB_MAP_RESIZED; mdb_env_set_mapsize(env,
 * 0) then adopts the size stored in the file (knot-resolver's
 * refresh_mapsize does the same). That call remaps, so no transaction of
 * this process may be active meanwhile: every active transaction holds a
 * read lock of `map_lock` and the remap takes it for writing. The lock
 * prefers readers (glibc's default), so a transaction that waits for
 * another thread while holding its own never deadlocks against a pending
 * remap; the remap waits for a moment without transactions instead. A
 * thread that holds a transaction when it meets MDB_MAP_RESIZED cannot wait
 * for that moment (it would wait for itself): it gets -EAGAIN and retries on
 * its next transaction.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "log.h"

#define MAX_READERS 512 /* sessions, workers and tools together */

static pthread_rwlock_t map_lock = PTHREAD_RWLOCK_INITIALIZER;
static _Thread_local unsigned txns_held; /* transactions this thread has active */

int cache_lmdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return 0;
    case MDB_NOTFOUND: return -ENOENT; /* a normal miss: never logged */
    case MDB_KEYEXIST: return -EEXIST;
    case MDB_MAP_FULL: return -EFBIG;     /* the map is full, not the disk (-ENOSPC) */
    case MDB_READERS_FULL: return -EUSERS;
    case MDB_TXN_FULL: return -E2BIG;     /* too many dirty pages in one transaction */
    case MDB_DBS_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL: return -EOVERFLOW; /* internal limits the layout never reaches */
    case MDB_MAP_RESIZED: return -EAGAIN;
    case MDB_INCOMPATIBLE:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return -EPROTO;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND: return -EBADMSG;
    case MDB_PANIC: return -EIO;
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_BAD_VALSIZE:
    case MDB_BAD_DBI: return -EINVAL;
    default: return rc > 0 ? -rc : -EIO; /* an OS errno: ENOSPC, EIO, EACCES, ... */
    }
}

/* "64 GiB", "512 MiB", "4096 bytes". */
static void size_words(size_t n, char *out, size_t len)
{
    static const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    double v = (double)n;
    while (v >= 1024 && u + 1 < sizeof unit / sizeof *unit) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, u ? "%.4g %s" : "%.0f %s", v, unit[u]);
}

bool cache_err_store_full(int rc) { return rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG; }

const char *cache_strerror(const struct cache *c, int rc, char *out, size_t len)
{
    const char *path = c ? c->path : "the data directory";
    char sz[32] = "?";
    MDB_envinfo info;
    if (c && c->env && mdb_env_info(c->env, &info) == MDB_SUCCESS)
        size_words(info.me_mapsize, sz, sizeof sz);
    switch (rc) {
    case -ENOSPC:
        snprintf(out, len, "disk full at %s: free space; cwcache keeps serving the cached data",
                 path);
        break;
    case -EDQUOT:
        snprintf(out, len,
                 "disk quota exceeded at %s: free space or raise the quota; cwcache keeps "
                 "serving the cached data",
                 path);
        break;
    case -EFBIG:
        snprintf(out, len,
                 "LMDB map full (%s): raise map_size_mb; cwcache keeps serving the cached data",
                 sz);
        break;
    case -EUSERS:
        snprintf(out, len, "LMDB reader slots all in use (%u): too many readers at once",
                 MAX_READERS);
        break;
    case -E2BIG: snprintf(out, len, "LMDB transaction too large: lower batch_rows"); break;
    case -EBADMSG:
        snprintf(out, len, "the store at %s is damaged: warm a fresh data directory", path);
        break;
    case -EPROTO:
        snprintf(out, len,
                 "the store at %s was made by another format or LMDB version: warm a fresh data "
                 "directory",
                 path);
        break;
    case -EAGAIN:
        snprintf(out, len,
                 "another process grew the LMDB map while this thread held a transaction: "
                 "retried on the next one");
        break;
    case -EIO: snprintf(out, len, "I/O error at %s: check the disk", path); break;
    default: snprintf(out, len, "%s", strerror(rc < 0 ? -rc : rc)); break;
    }
    return out;
}

/* ---- environment ----------------------------------------------------------- */

static int env_setup(struct cache *c, const struct cache_opts *o, unsigned maxdbs)
{
    int rc;
    if ((rc = cache_lmdb_err(mdb_env_create(&c->env))) < 0)
        return rc;
    if ((rc = cache_lmdb_err(mdb_env_set_maxdbs(c->env, maxdbs))) < 0)
        return rc;
    if ((rc = cache_lmdb_err(mdb_env_set_maxreaders(c->env, MAX_READERS))) < 0)
        return rc;
    /* Without a size (read-only openers) LMDB adopts the one the file stores. */
    if (o->map_size)
        rc = cache_lmdb_err(mdb_env_set_mapsize(c->env, o->map_size));
    return rc;
}

int cache_lmdb_env_open(struct cache *c, const struct cache_opts *o, unsigned maxdbs)
{
    int rc = env_setup(c, o, maxdbs);
    if (rc < 0)
        return rc;
    /* MDB_NOTLS: a read handle's txn may be reset on one thread and renewed
     * on another (sessions move between workers); reader slots belong to
     * the txn, not the thread. */
    /* MDB_NOMETASYNC (writers): one fsync per commit instead of two. The
     * meta page is written but flushed by the next commit's sync (or the
     * OS); a power loss can undo the last commits, never tear one, and a
     * killed process loses nothing (the pages are in the OS cache). The
     * poller's cursor commits with its rows, so an undone commit is read
     * again from the source. */
    unsigned flags = MDB_NOTLS | (o->read_only ? MDB_RDONLY : MDB_NOMETASYNC);
    return cache_lmdb_err(mdb_env_open(c->env, o->path, flags, 0640));
}

int cache_lmdb_env_nosync(struct cache *c, bool on)
{
    return cache_lmdb_err(mdb_env_set_flags(c->env, MDB_NOSYNC, on ? 1 : 0));
}

int cache_lmdb_env_fd(struct cache *c, int *fd)
{
    return cache_lmdb_err(mdb_env_get_fd(c->env, fd));
}

int cache_lmdb_env_sync(struct cache *c)
{
    return cache_lmdb_err(mdb_env_sync(c->env, 1));
}

void cache_lmdb_env_close(struct cache *c)
{
    if (c->env)
        mdb_env_close(c->env);
    c->env = NULL;
}

int cache_lmdb_env_stats(struct cache *c, struct cache_stats *out)
{
    MDB_envinfo info;
    MDB_stat st;
    unsigned maxr = 0;
    int rc = cache_lmdb_err(mdb_env_info(c->env, &info));
    if (rc == 0)
        rc = cache_lmdb_err(mdb_env_stat(c->env, &st));
    if (rc == 0)
        rc = cache_lmdb_err(mdb_env_get_maxreaders(c->env, &maxr));
    if (rc < 0)
        return rc;
    *out = (struct cache_stats){
        .map_size = info.me_mapsize,
        .map_used = (info.me_last_pgno + 1) * (size_t)st.ms_psize,
        .page_size = st.ms_psize,
        .max_readers = maxr,
        .readers = info.me_numreaders,
        .last_txn_id = info.me_last_txnid,
    };
    return 0;
}

uint64_t cache_lmdb_last_txn(struct cache *c)
{
    MDB_envinfo info;
    return mdb_env_info(c->env, &info) == MDB_SUCCESS ? (uint64_t)info.me_last_txnid : 0;
}

/* Adopts the map size another process stored in the file (see the top). */
static int map_adopt(struct cache *c)
{
    if (txns_held)
        return -EAGAIN;
    pthread_rwlock_wrlock(&map_lock);
    MDB_envinfo before, after;
    mdb_env_info(c->env, &before);
    int rc = cache_lmdb_err(mdb_env_set_mapsize(c->env, 0));
    mdb_env_info(c->env, &after);
    pthread_rwlock_unlock(&map_lock);
    char a[32], b[32];
    size_words(before.me_mapsize, a, sizeof a);
    size_words(after.me_mapsize, b, sizeof b);
    if (rc == 0)
        log_info(LOG_CACHE, "%s: another process grew the LMDB map from %s to %s: adopted", c->path,
                 a, b);
    return rc;
}

/* ---- transactions ------------------------------------------------------------ */

static void txn_hold(void)
{
    if (txns_held++ == 0)
        pthread_rwlock_rdlock(&map_lock);
}

static void txn_release(void)
{
    if (--txns_held == 0)
        pthread_rwlock_unlock(&map_lock);
}

/* Starts (renew: restarts a reset read txn) and, when the map was grown
 * elsewhere, adopts the new size and tries once more. */
static int txn_start(struct cache *c, MDB_txn **txn, bool read_only, bool renew)
{
    for (int attempt = 0;; attempt++) {
        txn_hold();
        int rc = renew ? mdb_txn_renew(*txn)
                       : mdb_txn_begin(c->env, NULL, read_only ? MDB_RDONLY : 0, txn);
        if (rc == MDB_SUCCESS)
            return 0;
        txn_release();
        if (rc != MDB_MAP_RESIZED || attempt > 0)
            return cache_lmdb_err(rc);
        if ((rc = map_adopt(c)) < 0)
            return rc;
    }
}

int cache_lmdb_txn_begin(struct cache *c, bool read_only, MDB_txn **txn)
{
    *txn = NULL;
    return txn_start(c, txn, read_only, false);
}

int cache_lmdb_txn_renew(struct cache *c, MDB_txn *txn)
{
    return txn_start(c, &txn, true, true);
}

void cache_lmdb_txn_reset(MDB_txn *txn)
{
    mdb_txn_reset(txn);
    txn_release();
}

/* LMDB reports a short write as EIO ("filesystem full?" in its source), and
 * a short write is how a full disk shows: a file system without a free block
 * left turns the error into -ENOSPC, so the words say "disk full". */
static int commit_err(MDB_env *env, int rc)
{
    int fd;
    struct statvfs st;
    if (rc == -EIO && mdb_env_get_fd(env, &fd) == MDB_SUCCESS && fstatvfs(fd, &st) == 0 &&
        st.f_bavail == 0)
        return -ENOSPC;
    return rc;
}

int cache_lmdb_txn_commit(MDB_txn *txn)
{
    MDB_env *env = mdb_txn_env(txn);
    int rc = commit_err(env, cache_lmdb_err(mdb_txn_commit(txn)));
    txn_release();
    return rc;
}

void cache_lmdb_txn_abort(MDB_txn *txn)
{
    mdb_txn_abort(txn);
    txn_release();
}

void cache_lmdb_txn_free(MDB_txn *txn)
{
    mdb_txn_abort(txn); /* a reset read txn: holds no lock */
}

uint64_t cache_lmdb_txn_id(MDB_txn *txn) { return (uint64_t)mdb_txn_id(txn); }

/* ---- databases and cursors ---------------------------------------------------- */

int cache_lmdb_dbi_open(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *dbi)
{
    return cache_lmdb_err(mdb_dbi_open(txn, name, flags, dbi));
}

int cache_lmdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val)
{
    return cache_lmdb_err(mdb_get(txn, dbi, key, val));
}

int cache_lmdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags)
{
    return cache_lmdb_err(mdb_put(txn, dbi, key, val, flags));
}

int cache_lmdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val)
{
    return cache_lmdb_err(mdb_del(txn, dbi, key, val));
}

int cache_lmdb_empty(MDB_txn *txn, MDB_dbi dbi) { return cache_lmdb_err(mdb_drop(txn, dbi, 0)); }

int cache_lmdb_dbi_drop(MDB_txn *txn, MDB_dbi dbi) { return cache_lmdb_err(mdb_drop(txn, dbi, 1)); }

int cache_lmdb_stat(MDB_txn *txn, MDB_dbi dbi, MDB_stat *out)
{
    return cache_lmdb_err(mdb_stat(txn, dbi, out));
}

int cache_lmdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cur)
{
    return cache_lmdb_err(mdb_cursor_open(txn, dbi, cur));
}

int cache_lmdb_cursor_renew(MDB_txn *txn, MDB_cursor *cur)
{
    return cache_lmdb_err(mdb_cursor_renew(txn, cur));
}

void cache_lmdb_cursor_close(MDB_cursor *cur) { mdb_cursor_close(cur); }

int cache_lmdb_cursor_get(MDB_cursor *cur, MDB_val *key, MDB_val *val, MDB_cursor_op op)
{
    return cache_lmdb_err(mdb_cursor_get(cur, key, val, op));
}

/* ---- scan prefetch --------------------------------------------------------------
 * A scan over a map larger than the caches stalls in mdb_cursor_get on
 * every row's node header: one miss after another, because the cursor
 * reads each node only when it steps onto it (40% of a 2-field select's
 * CPU, perf, 5000 companies). The leaf page that holds a row is found from
 * the row's address (map pages are OS pages), and every node on it is
 * prefetched at once, so a page's misses overlap. This reads LMDB's page
 * header (file format 1: pgno, pad, flags, lower, upper, then the node
 * offsets) as a hint only: a prefetch never faults and never changes a
 * result, the header read stays on the row's own OS page, and a header
 * that does not look like a leaf's is left alone (an overflow row, a
 * write txn's dirty page). */
#define MAP_PAGE 4096u
#define PAGE_HDR 16u
#define P_LEAF 0x02u
#define P_LEAF2 0x20u
#define P_OVERFLOW 0x04u

const void *cache_lmdb_page_prefetch(const MDB_val *val, const void *seen, bool back)
{
    const uint8_t *page = (const uint8_t *)((uintptr_t)val->mv_data & ~(uintptr_t)(MAP_PAGE - 1));
    if (page == seen)
        return seen;
    uint16_t flags, lower, upper;
    memcpy(&flags, page + 10, 2);
    memcpy(&lower, page + 12, 2);
    memcpy(&upper, page + 14, 2);
    /* The next leaf is most often the next page of the map (88% of them
     * for 5000 companies warmed in key order; the previous one reading
     * backwards). The page after it is fetched whole, so it has two pages'
     * rendering to arrive: one page ahead was still in flight when the
     * cursor got there (A/B in docs/cache.md). */
    uintptr_t ahead = back ? (uintptr_t)page - 2 * MAP_PAGE : (uintptr_t)page + 2 * MAP_PAGE;
    for (unsigned off = 0; off < MAP_PAGE; off += 64)
        __builtin_prefetch((const void *)(ahead + off));
    if ((flags & (P_LEAF | P_LEAF2 | P_OVERFLOW)) != P_LEAF || lower < PAGE_HDR || lower > upper ||
        upper > MAP_PAGE)
        return page;
    for (unsigned i = 0; i < (lower - PAGE_HDR) / 2u; i++) {
        uint16_t off;
        memcpy(&off, page + PAGE_HDR + 2 * i, 2);
        if (off < MAP_PAGE)
            __builtin_prefetch(page + off);
    }
    return page;
}

/* ---- tree read-ahead of a forward scan ------------------------------------------
 * The map-page guess above holds while leaves follow each other in the map
 * (88% for 5000 companies warmed in key order), not once page splits have
 * scattered them (45% next page, 22% backwards or further than 7 pages, at
 * 50k); and fetching whole pages spends the memory system's few
 * outstanding misses on bytes a select never reads. A forward scan of the
 * whole table instead follows the B-tree itself, a shadow of the cursor:
 * the branch pages list the coming leaves, so up to AHEAD_MAX leaves
 * ahead the first line of each (its header and node offsets) is
 * prefetched, and AHEAD_ROWS ahead, that line having arrived, every row on
 * it: whole, or only its head (node, key, row header, offset table, first
 * members) when the reader says it reads no more (a select). Misses of
 * many rows are then in flight at once instead of one after another.
 * The leaves' first lines are prefetched in batches (the ring refilled
 * when half empty): each such prefetch waits for its page's translation,
 * and a batch lets those walks overlap (15% less CPU for the 50k select
 * than one leaf at a time). The window starts at AHEAD_START leaves and
 * doubles with each refill, so a short page (`take: 10`) fetches little
 * it will not read.
 *
 * This reads LMDB's file format 1 (the named database's record in the main
 * database: md_depth at 6, md_root at 40; page header: pgno, pad, flags,
 * lower, upper, node offsets; a branch node's child page number in its
 * first six bytes) on the txn's own snapshot, whose pages stay put while
 * the txn lives. It never decides a result: the cursor still reads every
 * row. Every page number is bounded by the map's last page and every
 * page's header must carry its own number and the expected kind, and the
 * first leaf the cursor reaches that is not the shadow's next one ends the
 * read-ahead for the scan (back to the map-page guess). */
#define AHEAD_START 8u
#define AHEAD_MAX 32u  /* 16 and 48 measured about the same (docs/cache.md) */
#define AHEAD_ROWS 4u
#define P_BRANCH 0x01u
#define MAIN_DB_RECORD 48u   /* sizeof(MDB_db) */

static const uint8_t *page_at(const struct cache_lmdb_ahead *a, uint64_t pgno)
{
    return pgno < a->pages ? a->map + pgno * MAP_PAGE : NULL;
}

/* The page's node count, or -1 unless it is page `pgno` of kind `kind`. */
static int page_nodes(const uint8_t *page, uint64_t pgno, uint16_t kind)
{
    uint64_t own;
    uint16_t flags, lower, upper;
    memcpy(&own, page, 8);
    memcpy(&flags, page + 10, 2);
    memcpy(&lower, page + 12, 2);
    memcpy(&upper, page + 14, 2);
    if (own != pgno || (flags & (P_BRANCH | P_LEAF | P_LEAF2 | P_OVERFLOW)) != kind ||
        lower < PAGE_HDR || lower > upper || upper > MAP_PAGE)
        return -1;
    return (lower - PAGE_HDR) / 2;
}

/* Child i of a branch page: its page number (mn_lo, mn_hi, mn_flags). */
static uint64_t branch_child(const uint8_t *page, unsigned i)
{
    uint16_t off, w[3];
    memcpy(&off, page + PAGE_HDR + 2 * i, 2);
    if (off > MAP_PAGE - 8)
        return UINT64_MAX;
    memcpy(w, page + off, 6);
    return (uint64_t)w[0] | (uint64_t)w[1] << 16 | (uint64_t)w[2] << 32;
}

/* Descends from page `pgno` at level `lv` to its leftmost leaf's number. */
static int descend(struct cache_lmdb_ahead *a, unsigned lv, uint64_t pgno, uint64_t *leaf)
{
    for (; lv + 1 < a->depth; lv++) {
        const uint8_t *page = page_at(a, pgno);
        int n = page ? page_nodes(page, pgno, P_BRANCH) : -1;
        if (n <= 0)
            return -1;
        a->lv[lv] = (struct cache_lmdb_level){page, 0, (unsigned)n};
        pgno = branch_child(page, 0);
    }
    *leaf = pgno;
    return 0;
}

/* The shadow's next leaf in key order; -1 at the end or on anything odd. */
static int next_leaf(struct cache_lmdb_ahead *a, uint64_t *leaf)
{
    unsigned lv = a->depth - 1;
    while (lv-- > 0) { /* the deepest branch with a child left */
        struct cache_lmdb_level *b = &a->lv[lv];
        if (++b->i < b->n)
            return descend(a, lv + 1, branch_child(b->page, b->i), leaf);
    }
    return -1;
}

/* Appends the next leaf to the ring and prefetches its header line. */
static void ring_push(struct cache_lmdb_ahead *a)
{
    uint64_t pgno;
    const uint8_t *page;
    if (a->end || next_leaf(a, &pgno) < 0 || !(page = page_at(a, pgno))) {
        a->end = true;
        return;
    }
    __builtin_prefetch(page);
    a->ring[(a->head + a->n++) % AHEAD_RING] = pgno;
}

/* Prefetches the rows of a leaf whose header line has arrived: the page
 * from its first node on (nodes fill it from the end), or the first
 * row_bytes of each node. The number of rows: a count the caller keeps,
 * so the call is not dropped (GCC takes a function that only prefetches
 * for one without effects and removes its calls). */
static unsigned leaf_rows_prefetch(const struct cache_lmdb_ahead *a, uint64_t pgno)
{
    const uint8_t *page = page_at(a, pgno);
    int n = page ? page_nodes(page, pgno, P_LEAF) : -1;
    if (n <= 0)
        return 0;
    if (!a->row_bytes) {
        uint16_t upper;
        memcpy(&upper, page + 14, 2);
        for (unsigned at = upper & ~63u; at < MAP_PAGE; at += 64)
            __builtin_prefetch(page + at);
        return (unsigned)n;
    }
    for (int i = 0; i < n; i++) {
        uint16_t off;
        memcpy(&off, page + PAGE_HDR + 2 * i, 2);
        size_t end = off + a->row_bytes < MAP_PAGE ? off + a->row_bytes : MAP_PAGE;
        for (size_t at = off & ~63u; at < end; at += 64)
            __builtin_prefetch(page + at);
    }
    return (unsigned)n;
}

void cache_lmdb_ahead_start(struct cache_lmdb_ahead *a, MDB_txn *txn, const char *name,
                            const MDB_val *first, size_t row_bytes)
{
    memset(a, 0, sizeof *a);
    a->end = true;
    a->row_bytes = row_bytes;
    MDB_envinfo info;
    MDB_dbi main;
    MDB_val key = {strlen(name), (void *)name}, rec;
    uint16_t depth, flags;
    uint64_t root, leaf, own;
    if (!first || mdb_env_info(mdb_txn_env(txn), &info) != MDB_SUCCESS ||
        mdb_dbi_open(txn, NULL, 0, &main) != MDB_SUCCESS ||
        mdb_get(txn, main, &key, &rec) != MDB_SUCCESS || rec.mv_size < MAIN_DB_RECORD)
        return;
    /* The map's address (mdb_env_info gives it only for a fixed map): the
     * first row's page, a map page of this snapshot, carries its number. */
    const uint8_t *page = (const uint8_t *)((uintptr_t)first->mv_data & ~(uintptr_t)(MAP_PAGE - 1));
    memcpy(&own, page, 8);
    memcpy(&flags, page + 10, 2);
    a->pages = (uint64_t)info.me_last_pgno + 1;
    if (sizeof(size_t) != 8 || own >= a->pages || !(flags & (P_LEAF | P_OVERFLOW)) ||
        (uintptr_t)page < own * MAP_PAGE)
        return; /* md_root at 40 is the 64-bit layout */
    a->map = page - own * MAP_PAGE;
    memcpy(&depth, (const uint8_t *)rec.mv_data + 6, 2);
    memcpy(&root, (const uint8_t *)rec.mv_data + 40, 8);
    a->depth = depth;
    if (depth < 1 || depth > AHEAD_DEPTH_MAX || descend(a, 0, root, &leaf) < 0 || !page_at(a, leaf))
        return;
    a->on = a->first = true;
    a->end = false;
    a->ring[0] = leaf;
    a->n = 1;
    a->want = AHEAD_START;
    while (a->n < a->want && !a->end) /* a tree of fewer leaves ends first */
        ring_push(a);
}

/* Per row: on a new leaf, checks it is the shadow's, then moves the ring on. */
const void *cache_lmdb_ahead_step(struct cache_lmdb_ahead *a, const MDB_val *val)
{
    const uint8_t *page = (const uint8_t *)((uintptr_t)val->mv_data & ~(uintptr_t)(MAP_PAGE - 1));
    if (page == a->seen)
        return page;
    if (!a->on || !a->n || page != page_at(a, a->ring[a->head])) {
        a->lost += a->on; /* the cursor went elsewhere: the map-page guess from here */
        a->on = false;
        return a->seen = cache_lmdb_page_prefetch(val, a->seen, false);
    }
    a->seen = page;
    a->leaves++;
    if (a->first) { /* the first leaves had no time to arrive: their rows now */
        a->first = false;
        for (unsigned i = 0; i < a->n && i < AHEAD_ROWS; i++)
            a->rows += leaf_rows_prefetch(a, a->ring[(a->head + i) % AHEAD_RING]);
    }
    a->head = (a->head + 1) % AHEAD_RING;
    a->n--;
    if (a->n <= a->want / 2 && !a->end) { /* half empty: a batch */
        a->want = a->want * 2 < AHEAD_MAX ? a->want * 2 : AHEAD_MAX;
        while (a->n < a->want && !a->end)
            ring_push(a);
    }
    if (a->n >= AHEAD_ROWS)
        a->rows += leaf_rows_prefetch(a, a->ring[(a->head + AHEAD_ROWS - 1) % AHEAD_RING]);
    return page;
}

int cache_lmdb_cursor_put(MDB_cursor *cur, MDB_val *key, MDB_val *val, unsigned flags)
{
    return cache_lmdb_err(mdb_cursor_put(cur, key, val, flags));
}

int cache_lmdb_cursor_del(MDB_cursor *cur) { return cache_lmdb_err(mdb_cursor_del(cur, 0)); }
