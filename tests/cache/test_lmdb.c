#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

/* No shared store: each test opens the sizes it needs in fx_dir. */
static void dir_make(void)
{
    snprintf(fx_dir, sizeof fx_dir, "/tmp/cwcache-lmdb-XXXXXX");
    cr_assert_not_null(mkdtemp(fx_dir));
    fx_schema = fx_schema_parse(fx_schema_text);
}

TestSuite(cache_lmdb, .init = dir_make, .fini = fx_close);

static int open_sized(size_t map_size, struct cache **out)
{
    struct cache_opts o = {.path = fx_dir, .map_size = map_size, .schema = fx_schema};
    return cache_open(out, &o);
}

/* Categories [from, to) with names long enough to fill pages quickly. */
static int categories_put(struct cache *c, int64_t from, int64_t to)
{
    char name[1024];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    struct cache_wtxn *w;
    int rc = cache_wtxn_begin(c, &w);
    for (int64_t id = from; rc == 0 && id < to; id++) {
        struct cache_value v[] = {cv_int(id), cv_text(name)};
        char err[64];
        rc = cache_row_put(w, fx_model("Category"), v, NULL, err, sizeof err);
    }
    if (rc < 0) {
        cache_wtxn_abort(w);
        return rc;
    }
    return cache_wtxn_commit(w);
}

Test(cache_lmdb, codes_translate_to_distinct_negative_errnos)
{
    cr_assert_eq(cache_lmdb_err(MDB_SUCCESS), 0);
    cr_assert_eq(cache_lmdb_err(MDB_NOTFOUND), -ENOENT);
    cr_assert_eq(cache_lmdb_err(MDB_KEYEXIST), -EEXIST);
    cr_assert_eq(cache_lmdb_err(MDB_MAP_FULL), -EFBIG, "the map, told apart from the disk");
    cr_assert_eq(cache_lmdb_err(ENOSPC), -ENOSPC, "the disk");
    cr_assert_eq(cache_lmdb_err(MDB_READERS_FULL), -EUSERS);
    cr_assert_eq(cache_lmdb_err(MDB_TXN_FULL), -E2BIG);
    cr_assert_eq(cache_lmdb_err(MDB_MAP_RESIZED), -EAGAIN);
    cr_assert_eq(cache_lmdb_err(MDB_INCOMPATIBLE), -EPROTO);
    cr_assert_eq(cache_lmdb_err(MDB_VERSION_MISMATCH), -EPROTO);
    cr_assert_eq(cache_lmdb_err(MDB_CORRUPTED), -EBADMSG);
    cr_assert_eq(cache_lmdb_err(MDB_BAD_VALSIZE), -EINVAL);
    cr_assert_eq(cache_lmdb_err(EACCES), -EACCES);
}

Test(cache_lmdb, errors_read_as_words_with_what_to_do)
{
    cr_assert_eq(open_sized(8u << 20, &fx_cache), 0);
    char t[CACHE_STRERROR_MAX], want[256];
    snprintf(want, sizeof want,
             "disk full at %s: free space; cwcache keeps serving the cached data", fx_dir);
    cr_assert_str_eq(cache_strerror(fx_cache, -ENOSPC, t, sizeof t), want);
    cr_assert_str_eq(cache_strerror(fx_cache, -EFBIG, t, sizeof t),
                     "LMDB map full (8 MiB): raise map_size_mb; cwcache keeps serving the cached data");
    cr_assert_str_eq(cache_strerror(NULL, -EACCES, t, sizeof t), "Permission denied");
    cr_assert_not_null(strstr(cache_strerror(NULL, -ENOSPC, t, sizeof t), "the data directory"));
    cr_assert_not_null(strstr(cache_strerror(fx_cache, -E2BIG, t, sizeof t), "batch_rows"));
}

Test(cache_lmdb, a_full_map_is_efbig_and_keeps_what_was_committed)
{
    cr_assert_eq(open_sized(1u << 20, &fx_cache), 0);
    cr_assert_eq(categories_put(fx_cache, 1, 2), 0);
    int rc = 0;
    for (int64_t id = 2; rc == 0 && id < 4000; id += 100)
        rc = categories_put(fx_cache, id, id + 100);
    cr_assert_eq(rc, -EFBIG, "a 1 MiB map fills up: %d", rc);
    struct cache_rd *rd;
    struct slice row;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 1, &row), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
}

/* LMDB forbids two environments on one file in a process: the process that
 * grows the map is a child, as a warm-up next to the server would be. */
static void child_grows_map(void)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct cache *c;
        struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
        if (cache_open(&c, &o) || categories_put(c, 1000, 5000))
            _exit(1);
        cache_close(c);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child could not grow the map");
}

Test(cache_lmdb, a_map_grown_by_another_process_is_adopted)
{
    cr_assert_eq(open_sized(1u << 20, &fx_cache), 0);
    struct cache_rd *rd;
    struct slice row;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cache_rd_end(rd);
    child_grows_map(); /* 4000 rows of 1 KiB: far beyond our 1 MiB */
    cr_assert_eq(cache_rd_begin(rd), 0, "a renewed reader adopts the grown map");
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 4999, &row), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
    struct cache_stats st;
    cr_assert_eq(cache_stats_get(fx_cache, &st), 0);
    cr_assert_geq(st.map_size, (size_t)64 << 20);
    cr_assert_eq(categories_put(fx_cache, 5000, 5001), 0, "and so does the writer");
}

Test(cache_lmdb, a_thread_holding_a_txn_gets_eagain_then_adopts_later)
{
    cr_assert_eq(open_sized(1u << 20, &fx_cache), 0);
    struct cache_rd *held, *rd;
    struct slice row;
    cr_assert_eq(cache_rd_new(fx_cache, &held), 0);
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(held), 0);
    child_grows_map();
    cr_assert_eq(cache_rd_begin(rd), -EAGAIN, "remapping under its own txn would wait for itself");
    cache_rd_end(held);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 1000, &row), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_rd_free(held);
}

/* The scan's prefetch reads a page header as a hint: a leaf's, a page that
 * is not a leaf, and a header with nonsense offsets all leave it on its
 * own 4 KiB page (ASan catches a read past it) and report that page once. */
Test(cache_lmdb, page_prefetch_stays_on_the_rows_page_whatever_its_header)
{
    uint8_t *page = aligned_alloc(4096, 4096);
    cr_assert_not_null(page);
    const uint16_t leaf[] = {0, 0, 0, 0, 0, 0x02, 16 + 2 * 3, 4000, 4000, 4050, 4095};
    const uint16_t nonsense[] = {0, 0, 0, 0, 0, 0x02, 4096, 4096, 65535, 65535, 65535};
    const uint16_t overflow[] = {0, 0, 0, 0, 0, 0x04, 16, 16, 0, 0, 0};
    const uint16_t *headers[] = {leaf, nonsense, overflow};
    for (size_t h = 0; h < 3; h++) {
        memset(page, 0xff, 4096);
        memcpy(page, headers[h], sizeof leaf);
        for (size_t at = 16; at < 4096; at += 1000) {
            MDB_val v = {1, page + at};
            cr_assert_eq(cache_lmdb_page_prefetch(&v, NULL, h == 1), page);
            cr_assert_eq(cache_lmdb_page_prefetch(&v, page, false), page, "once per page");
        }
    }
    free(page);
}
