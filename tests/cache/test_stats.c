#include <criterion/criterion.h>
#include <errno.h>
#include <unistd.h>

#include "fixture.h"

TestSuite(cache_stats, .init = fx_open, .fini = fx_close);

Test(cache_stats, environment_figures)
{
    struct cache_stats st;
    fx_category(1, "a");
    cr_assert_eq(cache_stats_get(fx_cache, &st), 0);
    cr_assert_eq(st.map_size, 64u << 20);
    cr_assert_eq(st.page_size, (size_t)sysconf(_SC_PAGESIZE), "LMDB pages are the OS's");
    cr_assert_gt(st.map_used, 0);
    cr_assert_eq(st.map_used % st.page_size, 0, "whole pages");
    cr_assert_geq(st.max_readers, 126);
    cr_assert_gt(st.last_txn_id, 0);
}

struct names {
    int n, category_entries, index_dbs;
    bool meta;
};

static int on_db(void *arg, const char *db, uint64_t entries, uint64_t branch, uint64_t leaf,
                 uint64_t overflow, unsigned depth)
{
    struct names *n = arg;
    (void)branch, (void)leaf, (void)overflow, (void)depth;
    n->n++;
    if (strcmp(db, "meta") == 0)
        n->meta = true;
    if (strcmp(db, "m:Category@0") == 0)
        n->category_entries = (int)entries;
    if (strncmp(db, "i:", 2) == 0)
        n->index_dbs++;
    return 0;
}

Test(cache_stats, every_database_is_listed_under_its_name)
{
    fx_category(1, "a");
    fx_category(2, "b");
    struct cache_rd *rd;
    struct names n = {0};
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_db_stats(rd, on_db, &n), -EINVAL, "only inside begin/end");
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_db_stats(rd, on_db, &n), 0);
    /* 5 models, 3 to-many relations and 6 secondary indexes, two slots each, plus meta */
    cr_assert_eq(n.n, (5 + 3 + 6) * 2 + 1);
    cr_assert(n.meta);
    cr_assert_eq(n.category_entries, 2);
    cr_assert_eq(n.index_dbs, 3 * 2);
    cache_rd_free(rd);
}
