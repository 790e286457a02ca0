#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "log.h"

TestSuite(cache_env, .init = fx_open, .fini = fx_close);

static int open_at(const char *dir, const struct schema *s, bool ro, struct cache **out)
{
    struct cache_opts o = {.path = dir, .map_size = ro ? 0 : 64u << 20, .read_only = ro, .schema = s};
    return cache_open(out, &o);
}

Test(cache_env, reopen_keeps_rows_and_schema)
{
    struct cache_value cat = cv_int(1);
    fx_subcategory(5, &cat, "five");
    cache_close(fx_cache);
    cr_assert_eq(open_at(fx_dir, fx_schema, false, &fx_cache), 0);
    struct cache_rd *rd;
    struct slice row;
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_row_get(rd, fx_model("Subcategory"), 5, &row), 0);
    cache_rd_end(rd);
    cache_rd_free(rd);
}

/* LMDB forbids opening one env twice in a process, so the writer is a
 * child process, as a server next to a cwcachectl would be. */
static void child_writes_category(int64_t id)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
        struct cache_wtxn *w;
        struct cache_value v[] = {cv_int(id), cv_text("one")};
        char err[64];
        if (cache_open(&fx_cache, &o) || cache_wtxn_begin(fx_cache, &w) ||
            cache_row_put(w, fx_model("Category"), v, NULL, err, sizeof err) || cache_wtxn_commit(w))
            _exit(1);
        cache_close(fx_cache);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(cache_env, read_only_open_sees_what_another_process_writes)
{
    cache_close(fx_cache);
    fx_cache = NULL;
    struct cache *ro;
    cr_assert_eq(open_at(fx_dir, fx_schema, true, &ro), 0);
    struct cache_rd *rd;
    struct slice row;
    cr_assert_eq(cache_rd_new(ro, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 1, &row), -ENOENT);
    cache_rd_end(rd);
    child_writes_category(1);
    cr_assert_eq(cache_rd_begin(rd), 0);
    cr_assert_eq(cache_row_get(rd, fx_model("Category"), 1, &row), 0);
    char *j = fx_row_json(row, fx_model("Category"));
    cr_assert_str_eq(j, "{\"id\":1,\"name\":\"one\"}");
    free(j);
    cache_rd_end(rd);
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(ro, &w), -EROFS);
    cache_rd_free(rd);
    cache_close(ro);
}

Test(cache_env, read_only_open_of_a_missing_store_is_enoent)
{
    struct cache *c = (struct cache *)1;
    char p[128];
    snprintf(p, sizeof p, "%s/nothing-here", fx_dir);
    cr_assert_eq(open_at(p, fx_schema, true, &c), -ENOENT);
    cr_assert_null(c);
}

Test(cache_env, a_different_schema_is_refused_with_eproto)
{
    cache_close(fx_cache);
    fx_cache = NULL;
    char *text = strdup(fx_schema_text);
    char *p = strstr(text, "name          String\n");
    memcpy(p, "title", 5); /* Category.name renamed: stored rows no longer match */
    struct schema *other = fx_schema_parse(text);
    struct cache *c = NULL;
    cr_assert_eq(open_at(fx_dir, other, false, &c), -EPROTO);
    cr_assert_eq(open_at(fx_dir, other, true, &c), -EPROTO);
    cr_assert_null(c);
    cr_assert_eq(open_at(fx_dir, fx_schema, false, &fx_cache), 0, "the original still opens");
    schema_free(other);
    free(text);
}

/* Opens the store with stderr captured into a file; returns cache_open's
 * code and what it logged. */
static int open_logged(const struct schema *s, bool ro, char *log, size_t loglen)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", fx_dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO), fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    struct cache *c = NULL;
    int rc = open_at(fx_dir, s, ro, &c);
    fflush(stderr);
    cr_assert_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, log, loglen - 1, 0);
    close(fd);
    log[n > 0 ? n : 0] = '\0';
    cache_close(c);
    return rc;
}

/* A store written by a build with another row layout (the format record's
 * version) is refused, in words that say what to do, never read as rows. */
Test(cache_env, a_store_of_another_format_is_refused_in_words)
{
    cache_close(fx_cache);
    fx_cache = NULL;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = {4, "\0fmt"}, d;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 256), 0);
    cr_assert_eq(mdb_env_open(env, fx_dir, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    cr_assert_eq(mdb_get(txn, meta, &k, &d), 0);
    uint8_t rec[12];
    cr_assert_eq(d.mv_size, sizeof rec);
    memcpy(rec, d.mv_data, sizeof rec);
    cr_assert_eq(get_be32(rec), CACHE_FORMAT_VERSION);
    put_be32(rec, CACHE_FORMAT_VERSION - 1);
    d = (MDB_val){sizeof rec, rec};
    cr_assert_eq(mdb_put(txn, meta, &k, &d, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    char log[1024], want[128];
    snprintf(want, sizeof want, "store format %u, this build reads %u: warm a fresh data directory",
             CACHE_FORMAT_VERSION - 1, CACHE_FORMAT_VERSION);
    cr_assert_eq(open_logged(fx_schema, false, log, sizeof log), -EPROTO);
    cr_assert(strstr(log, want), "%s", log);
    cr_assert_eq(open_logged(fx_schema, true, log, sizeof log), -EPROTO);
    cr_assert(strstr(log, want), "%s", log);
}

Test(cache_env, a_foreign_lmdb_env_is_refused)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/cwcache-foreign-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = {3, "abc"}, v = {3, "def"};
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    struct cache *c = NULL;
    cr_assert_eq(open_at(dir, fx_schema, true, &c), -EPROTO, "no meta database");
    fx_dir_remove(dir);
}

Test(cache_env, bad_options_are_einval)
{
    struct cache *c;
    struct cache_opts o = {.path = NULL, .schema = fx_schema};
    cr_assert_eq(cache_open(&c, &o), -EINVAL);
    o = (struct cache_opts){.path = fx_dir, .schema = NULL};
    cr_assert_eq(cache_open(&c, &o), -EINVAL);
    o = (struct cache_opts){.path = fx_dir, .schema = fx_schema};
    cr_assert_eq(cache_open(&c, &o), -EINVAL, "a writer says how large its map is");
}
