/* Indexes built after a first load (src/cache/build.c): byte for byte what
 * row-by-row maintenance writes, whatever the runs and transactions, and
 * rebuilt after a crash. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "cache/cache_int.h"
#include "fixture.h"

TestSuite(cache_build, .init = fx_open, .fini = fx_close);

#define N_ROWS 600

static struct cache *open_at(const char *dir)
{
    struct cache *c;
    struct cache_opts o = {.path = dir, .map_size = 64u << 20, .schema = fx_schema};
    cr_assert_eq(cache_open(&c, &o), 0);
    return c;
}

static struct cache *open_other(char dir[64])
{
    snprintf(dir, 64, "/tmp/cwcache-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return open_at(dir);
}

/* Row i of each model, from a seed: names repeat, foreign keys are random
 * and sometimes null, so index entries arrive in no order. */
static void row_of(const char *model, int64_t id, unsigned seed, struct cache_value *v, char *name)
{
    unsigned r = (unsigned)id * 2654435761u ^ seed;
    snprintf(name, 32, "n%03u %s", r % 97, r % 5 ? "x" : "Y");
    if (strcmp(model, "Company") == 0) {
        v[0] = cv_int(id);
        v[1] = cv_text(name);
        v[2] = cv_bool(r & 1);
        v[3] = r % 7 ? cv_int((int64_t)(r % N_ROWS) + 1) : cv_null();
    } else if (strcmp(model, "Product") == 0) {
        v[0] = cv_int(id);
        v[1] = r % 9 ? cv_int((int64_t)(r % 40)) : cv_null();
        v[2] = cv_text(name);
        v[3] = cv_null();
    } else {
        v[0] = cv_int(id);
        v[1] = r % 11 ? cv_int((int64_t)(r % 13) - 6) : cv_null();
        v[2] = cv_int((int64_t)r);
        v[3] = r % 3 ? cv_text(name) : cv_null();
        v[4] = cv_bool(r & 2);
        v[5] = cv_null();
        v[6] = cv_null();
        v[7] = cv_float((double)(r % 1000) / 8.0 - 50);
        v[8] = cv_null();
    }
}

static const char *const models[] = {"Company", "Product", "AllTypes"};

/* How load() writes: row by row (maintained), deferred (the build reads the
 * rows), or deferred with the entries collected as the rows arrive. */
enum how { MAINTAINED, DEFERRED, COLLECTED };

static const struct cache_build_opts collect_small = {.run_bytes = 512, .txn_bytes = 700};

static void txn_begin(struct cache *c, enum how how, struct cache_wtxn **w)
{
    cr_assert_eq(cache_wtxn_begin(c, w), 0);
    if (how != MAINTAINED)
        cache_wtxn_defer_indexes(*w, how == COLLECTED ? &collect_small : NULL);
}

/* Inserts the rows of model in `txns` transactions, in a shuffled order. */
static void insert(struct cache *c, const char *model, int txns, enum how how)
{
    const struct schema_model *m = fx_model(model);
    int64_t order[N_ROWS];
    for (int i = 0; i < N_ROWS; i++)
        order[i] = i + 1;
    for (int i = N_ROWS - 1; i > 0 && txns > 1; i--) {
        int j = (int)((unsigned)i * 40503u % (unsigned)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int per = N_ROWS / txns + 1;
    for (int i = 0; i < N_ROWS;) {
        struct cache_wtxn *w;
        txn_begin(c, how, &w);
        for (int k = 0; k < per && i < N_ROWS; k++, i++) {
            struct cache_value v[9];
            char name[32], err[128];
            row_of(model, order[i], 1, v, name);
            cr_assert_eq(cache_row_put(w, m, v, NULL, err, sizeof err), 0, "%s", err);
        }
        cr_assert_eq(cache_wtxn_commit(w), 0);
    }
}

/* Rewrites every 7th row with another seed (rewrite) and deletes every
 * 13th (drop) in one transaction. */
static void change(struct cache *c, const char *model, enum how how, bool rewrite, bool drop)
{
    const struct schema_model *m = fx_model(model);
    struct cache_wtxn *w;
    txn_begin(c, how, &w);
    for (int64_t id = 7; rewrite && id <= N_ROWS; id += 7) {
        struct cache_value v[9];
        char name[32], err[128];
        row_of(model, id, 2, v, name);
        cr_assert_eq(cache_row_put(w, m, v, NULL, err, sizeof err), 0, "%s", err);
    }
    for (int64_t id = 13; drop && id <= N_ROWS; id += 13)
        cr_assert_eq(cache_row_delete(w, m, (uint64_t)id), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

static void churn(struct cache *c, const char *model, enum how how)
{
    change(c, model, how, true, true);
}

/* The inserts, then the churn: the same final rows whatever the order. */
static void load(struct cache *c, const char *model, int txns, bool defer)
{
    insert(c, model, txns, defer ? DEFERRED : MAINTAINED);
    churn(c, model, defer ? DEFERRED : MAINTAINED);
}

/* Every entry of every index that follows model's rows in its live slot. */
static void dump(struct cache *c, const char *model, struct buf *out)
{
    const struct schema_model *m = fx_model(model);
    MDB_txn *txn;
    cr_assert_eq(cache_lmdb_txn_begin(c, true, &txn), 0);
    uint8_t *slots = calloc(fx_schema->n_models, 1);
    cr_assert_eq(cache_slots_load(c, txn, slots), 0);
    unsigned slot = cache_slot_live(slots, m->id);
    size_t dbs[16], n = 0;
    for (size_t i = 0; i < c->n_incoming[m->id]; i++)
        dbs[n++] = cache_db_index(c, c->incoming[m->id][i]->to_many_id, slot);
    for (size_t i = 0; i < m->n_fields; i++)
        if (m->fields[i].sindex)
            dbs[n++] = cache_db_sindex(c, m->fields[i].sindex - 1u, slot);
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        buf_printf(out, "index %zu\n", i); /* not its name: the live slot may differ */
        MDB_cursor *cur;
        cr_assert_eq(cache_lmdb_cursor_open(txn, c->dbi[dbs[i]], &cur), 0);
        MDB_val k, v;
        int rc;
        for (rc = cache_lmdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = cache_lmdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            buf_printf(out, "%zu:", k.mv_size);
            buf_append(out, k.mv_data, k.mv_size);
            buf_printf(out, "=%zu:", v.mv_size);
            buf_append(out, v.mv_data, v.mv_size);
            buf_putc(out, '\n');
        }
        cr_assert_eq(rc, -ENOENT);
        cache_lmdb_cursor_close(cur);
    }
    free(slots);
    cache_lmdb_txn_abort(txn);
}

static void expect_same(struct cache *a, struct cache *b, const char *model)
{
    struct buf x, y;
    buf_init(&x, 0);
    buf_init(&y, 0);
    dump(a, model, &x);
    dump(b, model, &y);
    cr_assert_gt(x.len, 2000, "%s: the reference indexes hold entries", model);
    cr_assert(x.len == y.len && memcmp(buf_data(&x), buf_data(&y), x.len) == 0,
              "%s: built indexes differ from maintained ones (%zu vs %zu bytes)", model, y.len,
              x.len);
    buf_fini(&x);
    buf_fini(&y);
}

static bool marked(struct cache *c, const char *model)
{
    MDB_txn *txn;
    cr_assert_eq(cache_lmdb_txn_begin(c, true, &txn), 0);
    uint8_t k[3] = {CACHE_META_KEY_DEFER, 0, (uint8_t)fx_model(model)->id};
    MDB_val key = {3, k}, val;
    int rc = cache_lmdb_get(txn, c->meta, &key, &val);
    cache_lmdb_txn_abort(txn);
    cr_assert(rc == 0 || rc == -ENOENT);
    return rc == 0;
}

static void build(struct cache *c, const char *model, size_t run_bytes, size_t txn_bytes, bool want)
{
    struct cache_build_opts o = {.run_bytes = run_bytes, .txn_bytes = txn_bytes};
    bool built;
    cr_assert_eq(cache_index_build(c, fx_model(model), &o, &built), 0);
    cr_assert_eq(built, want, "%s: built %d", model, built);
}

Test(cache_build, an_index_built_after_a_first_load_equals_one_maintained_row_by_row)
{
    char dir[64];
    struct cache *b = open_other(dir);
    /* Small runs and transactions: many spilled runs merged, many commits;
     * and one run in memory in one transaction. */
    const size_t sizes[][2] = {{512, 700}, {SIZE_MAX, SIZE_MAX}};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        load(fx_cache, models[i], 1, false);
        cr_assert(!marked(fx_cache, models[i]), "no mark without defer");
        load(b, models[i], 9, true);
        cr_assert(marked(b, models[i]), "%s: a first load marks its indexes pending", models[i]);
        build(b, models[i], sizes[i % 2][0], sizes[i % 2][1], true);
        cr_assert(!marked(b, models[i]));
        expect_same(fx_cache, b, models[i]);
        build(b, models[i], 512, 700, false); /* nothing pending: nothing built */
    }
    /* Once built, writes maintain the indexes row by row again. */
    load(fx_cache, "Company", 3, false);
    load(b, "Company", 3, true);
    expect_same(fx_cache, b, "Company");
    cache_close(b);
    fx_dir_remove(dir);
}

Test(cache_build, a_model_made_warm_with_its_indexes_pending_gets_them_in_that_transaction)
{
    char dir[64];
    struct cache *b = open_other(dir);
    load(fx_cache, "AllTypes", 1, false);
    load(b, "AllTypes", 4, true);
    cr_assert(marked(b, "AllTypes"));
    struct cache_wtxn *w;
    struct cache_meta m = {.state = CACHE_WARM};
    cr_assert_eq(cache_wtxn_begin(b, &w), 0);
    cr_assert_eq(cache_meta_put(w, fx_model("AllTypes"), &m), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert(!marked(b, "AllTypes"));
    expect_same(fx_cache, b, "AllTypes");
    cache_close(b);
    fx_dir_remove(dir);
}

Test(cache_build, a_warm_model_keeps_its_indexes_row_by_row)
{
    fx_warm("Company"); /* readers read it, empty as it is */
    struct cache_value v[4];
    char name[32], err[128];
    row_of("Company", 1, 1, v, name);
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cache_wtxn_defer_indexes(w, &collect_small);
    cr_assert_eq(cache_row_put(w, fx_model("Company"), v, NULL, err, sizeof err), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert(!marked(fx_cache, "Company"));
}

Test(cache_build, a_crash_mid_build_leaves_the_mark_and_the_next_build_starts_over)
{
    char dir[64];
    struct cache *b = open_other(dir);
    load(fx_cache, "Company", 1, false);
    load(b, "Company", 5, true);
    /* A build that committed part of its entries, then died: a stray entry
     * in the index, the mark still set. */
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(b, &w), 0);
    const struct schema_field *f = fx_field("Company", "name");
    MDB_val k = {5, (void *)"\x01zzzz"}, v = {0, NULL};
    cr_assert_eq(cache_lmdb_put(w->txn, b->dbi[cache_db_sindex(b, f->sindex - 1u, 0)], &k, &v, 0), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cache_close(b);
    b = open_at(dir); /* the restart */
    cr_assert(marked(b, "Company"));
    build(b, "Company", 300, 500, true);
    expect_same(fx_cache, b, "Company");
    cache_close(b);
    fx_dir_remove(dir);
}

Test(cache_build, a_rebuild_defers_into_its_shadow_and_the_swap_builds)
{
    char dir[64];
    struct cache *b = open_other(dir);
    load(fx_cache, "Product", 1, false);
    load(b, "Product", 1, false); /* the live copy, maintained */
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(b, &w), 0);
    cr_assert_eq(cache_rebuild_begin(w, fx_model("Product")), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    load(b, "Product", 3, true);
    cr_assert(marked(b, "Product"), "the shadow's indexes are pending");
    expect_same(fx_cache, b, "Product"); /* readers still see the live copy whole */
    cr_assert_eq(cache_wtxn_begin(b, &w), 0);
    cr_assert_eq(cache_rebuild_swap(w, fx_model("Product")), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
    cr_assert(!marked(b, "Product"));
    expect_same(fx_cache, b, "Product");
    cache_close(b);
    fx_dir_remove(dir);
}

/* The runs collected during the load replace the read of the rows: the same
 * entries, whether the runs were spilled during the load (and merged) or
 * kept in memory, whatever the order of the inserts and the transactions. */
Test(cache_build, entries_collected_during_a_load_of_inserts_build_the_same_indexes)
{
    char dir[64];
    struct cache *b = open_other(dir);
    const size_t sizes[][2] = {{512, 700}, {SIZE_MAX, SIZE_MAX}};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        insert(fx_cache, models[i], 1, MAINTAINED);
        insert(b, models[i], 1 + (int)i * 4, COLLECTED);
        uint64_t used = b->builds_collected;
        build(b, models[i], sizes[i % 2][0], sizes[i % 2][1], true);
        cr_assert_eq(b->builds_collected, used + 1, "%s: the build took the collected runs",
                     models[i]);
        cr_assert(!marked(b, models[i]));
        expect_same(fx_cache, b, models[i]);
        /* Once built, writes maintain the indexes row by row again. */
        churn(fx_cache, models[i], MAINTAINED);
        churn(b, models[i], COLLECTED);
        expect_same(fx_cache, b, models[i]);
    }
    cache_close(b);
    fx_dir_remove(dir);
}

/* What the collector cannot account for makes the build read the rows:
 * rows changed or deleted under the mark, a transaction that fed it and
 * aborted, rows put by a transaction that does not collect. */
Test(cache_build, a_load_the_collector_cannot_account_for_is_built_from_its_rows)
{
    for (int kind = 0; kind < 4; kind++) {
        char da[64], db[64];
        struct cache *a = open_other(da), *b = open_other(db);
        insert(a, "Company", 1, MAINTAINED);
        insert(b, "Company", 3, COLLECTED);
        if (kind < 2) { /* rows rewritten, rows deleted */
            change(a, "Company", MAINTAINED, kind == 0, kind == 1);
            change(b, "Company", COLLECTED, kind == 0, kind == 1);
        } else {
            /* A row put by a transaction that aborts, or that does not collect. */
            struct cache_wtxn *w;
            txn_begin(b, kind == 2 ? COLLECTED : DEFERRED, &w);
            struct cache_value v[9];
            char name[32], err[128];
            row_of("Company", N_ROWS + 1, 1, v, name);
            cr_assert_eq(cache_row_put(w, fx_model("Company"), v, NULL, err, sizeof err), 0);
            if (kind == 2) {
                cache_wtxn_abort(w);
                txn_begin(b, COLLECTED, &w); /* the next transaction commits it */
                cr_assert_eq(cache_row_put(w, fx_model("Company"), v, NULL, err, sizeof err), 0);
            }
            cr_assert_eq(cache_wtxn_commit(w), 0);
            txn_begin(a, MAINTAINED, &w);
            cr_assert_eq(cache_row_put(w, fx_model("Company"), v, NULL, err, sizeof err), 0);
            cr_assert_eq(cache_wtxn_commit(w), 0);
        }
        build(b, "Company", 512, 700, true);
        cr_assert_eq(b->builds_collected, 0, "case %d: the rows were read", kind);
        expect_same(a, b, "Company");
        cache_close(a);
        cache_close(b);
        fx_dir_remove(da);
        fx_dir_remove(db);
    }
}
