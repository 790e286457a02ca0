/* A warm-up's commits without fsync (src/cache/unsynced.c): the marker is
 * durable before the first of them and gone after the sync; at the next
 * open, a marker of another boot empties the store (its pages may be torn),
 * one of a killed process of this boot is synced and removed, and one of a
 * live process is left alone. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/cache_int.h"
#include "fixture.h"

TestSuite(cache_unsynced, .init = fx_open, .fini = fx_close);

static const struct cache_value no_parent = {.kind = CV_NULL};

static bool exists(const char *dir, long pid)
{
    char p[128];
    struct stat st;
    snprintf(p, sizeof p, "%s/unsynced.%ld", dir, pid);
    return stat(p, &st) == 0;
}

static void this_boot(char *out, size_t len)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(out, (int)len, f));
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static void write_marker(const char *dir, long pid, const char *boot)
{
    char p[128];
    snprintf(p, sizeof p, "%s/unsynced.%ld", dir, pid);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(boot, f);
    fclose(f);
}

/* A process id that no process has now: a child that has exited. */
static long dead_pid(void)
{
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0)
        _exit(0);
    cr_assert_eq(waitpid(p, NULL, 0), p);
    return (long)p;
}

static size_t companies(struct cache *c)
{
    MDB_txn *txn;
    cr_assert_eq(cache_lmdb_txn_begin(c, true, &txn), 0);
    MDB_cursor *cur;
    cr_assert_eq(cache_lmdb_cursor_open(txn, c->dbi[cache_db_rows(fx_model("Company")->id, 0)], &cur), 0);
    size_t n = 0;
    MDB_val k, v;
    for (int rc = cache_lmdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = cache_lmdb_cursor_get(cur, &k, &v, MDB_NEXT))
        n++;
    cache_lmdb_cursor_close(cur);
    cache_lmdb_txn_abort(txn);
    return n;
}

/* Puts two companies, closes the store, leaves a marker, opens it again. */
static void reopen_with_marker(long pid, const char *boot)
{
    fx_company(1, "Acme", false, &no_parent);
    fx_company(2, "Bolt", false, &no_parent);
    cr_assert_eq(companies(fx_cache), 2);
    cache_close(fx_cache);
    fx_cache = NULL;
    write_marker(fx_dir, pid, boot);
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
}

Test(cache_unsynced, the_marker_is_durable_before_the_first_commit_and_gone_after_the_sync)
{
    char boot[64], got[64] = "";
    this_boot(boot, sizeof boot);
    cr_assert_eq(cache_unsynced_begin(fx_cache), 0);
    cr_assert(exists(fx_dir, (long)getpid()));
    char p[128];
    snprintf(p, sizeof p, "%s/unsynced.%ld", fx_dir, (long)getpid());
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(got, sizeof got, f));
    fclose(f);
    cr_assert_str_eq(got, boot);
    fx_company(1, "Acme", false, &no_parent);
    /* The writeback hint starts the disk writes of the data file. */
    cr_assert_eq(cache_unsynced_writeback(fx_cache), 0);
    cr_assert_eq(cache_unsynced_end(fx_cache), 0);
    cr_assert(!exists(fx_dir, (long)getpid()));
    cr_assert_eq(companies(fx_cache), 1);
    /* Closing a store still unsynced syncs it and removes the marker too. */
    cr_assert_eq(cache_unsynced_begin(fx_cache), 0);
    fx_company(2, "Bolt", false, &no_parent);
    cache_close(fx_cache);
    fx_cache = NULL;
    cr_assert(!exists(fx_dir, (long)getpid()));
}

Test(cache_unsynced, a_marker_of_another_boot_empties_the_store_at_the_next_writer_open)
{
    long pid = dead_pid();
    fx_company(1, "Acme", false, &no_parent);
    cache_close(fx_cache);
    fx_cache = NULL;
    write_marker(fx_dir, pid, "00000000-0000-0000-0000-000000000000");
    /* A reader does not open a store that may be torn. */
    struct cache *r;
    struct cache_opts ro = {.path = fx_dir, .schema = fx_schema, .read_only = true};
    cr_assert_eq(cache_open(&r, &ro), -ESTALE);
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
    cr_assert_eq(companies(fx_cache), 0, "the store starts empty");
    cr_assert(!exists(fx_dir, pid));
}

Test(cache_unsynced, a_killed_warm_ups_marker_of_this_boot_is_synced_and_removed)
{
    char boot[64];
    this_boot(boot, sizeof boot);
    long pid = dead_pid();
    reopen_with_marker(pid, boot);
    cr_assert_eq(companies(fx_cache), 2, "the rows stay");
    cr_assert(!exists(fx_dir, pid));
}

Test(cache_unsynced, a_live_warm_ups_marker_is_left_alone)
{
    char boot[64];
    this_boot(boot, sizeof boot);
    long pid = (long)getppid();
    reopen_with_marker(pid, boot);
    cr_assert_eq(companies(fx_cache), 2);
    cr_assert(exists(fx_dir, pid), "its warm-up still runs: it syncs and removes it");
    char p[128];
    snprintf(p, sizeof p, "%s/unsynced.%ld", fx_dir, pid);
    unlink(p);
}
