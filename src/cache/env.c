/*
 * The environment: open/close and the database handles.
 *
 * Every database handle is opened here, once, by a single transaction that
 * commits before cache_open() returns (see cache_int.h for why). A process-
 * wide mutex serialises that transaction against other cache_open() calls
 * in the same process, which is all LMDB asks of mdb_dbi_open().
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "log.h"

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* The names of every database, numbered as cache_db_rows()/cache_db_index(). */
static void names_build(struct cache *c)
{
    const struct schema *s = c->schema;
    c->n_db = ((size_t)s->n_models + s->n_to_many + s->n_indexes) * CACHE_SLOTS;
    c->db_name = xcalloc(c->n_db, sizeof *c->db_name);
    c->dbi = xcalloc(c->n_db, sizeof *c->dbi);
    struct buf b;
    buf_init(&b, 0);
    for (size_t m = 0; m < s->n_models; m++) {
        const struct schema_model *md = &s->models[m];
        for (unsigned sl = 0; sl < CACHE_SLOTS; sl++) {
            buf_reset(&b);
            buf_printf(&b, "m:%s@%u", md->name, sl);
            c->db_name[cache_db_rows(m, sl)] = xstrndup((const char *)buf_data(&b), b.len);
        }
        for (size_t r = 0; r < md->n_relations; r++) {
            const struct schema_relation *rel = &md->relations[r];
            if (!rel->to_many)
                continue;
            for (unsigned sl = 0; sl < CACHE_SLOTS; sl++) {
                buf_reset(&b);
                buf_printf(&b, "i:%s.%s@%u", md->name, rel->name, sl);
                c->db_name[cache_db_index(c, rel->to_many_id, sl)] =
                    xstrndup((const char *)buf_data(&b), b.len);
            }
        }
    }
    for (size_t i = 0; i < s->n_indexes; i++)
        for (unsigned sl = 0; sl < CACHE_SLOTS; sl++) {
            buf_reset(&b);
            buf_printf(&b, "x:%s.%s@%u", cache_sindex_model(s, s->indexed[i])->name,
                       s->indexed[i]->name, sl);
            c->db_name[cache_db_sindex(c, i, sl)] = xstrndup((const char *)buf_data(&b), b.len);
        }
    buf_fini(&b);
}

/* Per model, the to-many relations whose rows (children) live in it. */
static void incoming_build(struct cache *c)
{
    const struct schema *s = c->schema;
    c->incoming = xcalloc(s->n_models, sizeof *c->incoming);
    c->n_incoming = xcalloc(s->n_models, sizeof *c->n_incoming);
    for (size_t m = 0; m < s->n_models; m++)
        c->incoming[m] = xcalloc(s->n_to_many + 1u, sizeof **c->incoming);
    for (size_t m = 0; m < s->n_models; m++) {
        const struct schema_model *md = &s->models[m];
        for (size_t r = 0; r < md->n_relations; r++) {
            const struct schema_relation *rel = &md->relations[r];
            if (!rel->to_many)
                continue;
            size_t child = rel->target->id;
            c->incoming[child][c->n_incoming[child]++] = rel;
        }
    }
}

/* Rows store `"name":` unescaped (row.c): a name must be an identifier,
 * as schema_parse() guarantees; this guards schemas built any other way. */
static bool names_plain(const struct schema_model *md)
{
    for (size_t i = 0; i < md->n_fields; i++)
        for (const char *c = md->fields[i].name; *c; c++)
            if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9'))) {
                log_error(LOG_CACHE, "model %s: field name %s is not an identifier", md->name,
                          md->fields[i].name);
                return false;
            }
    return true;
}

static bool schema_usable(const struct schema *s)
{
    for (size_t m = 0; m < s->n_models; m++) {
        const struct schema_model *md = &s->models[m];
        if (!names_plain(md))
            return false;
        if (!md->pk || (md->pk->type != SCHEMA_INT && md->pk->type != SCHEMA_BIGINT)) {
            log_error(LOG_CACHE, "model %s: the cache needs an Int or BigInt @id", md->name);
            return false;
        }
        for (size_t r = 0; r < md->n_relations; r++)
            if (md->relations[r].to_many && !md->relations[r].fk) {
                log_error(LOG_CACHE, "relation %s.%s has no foreign key field", md->name,
                          md->relations[r].name);
                return false;
            }
    }
    return true;
}

/* Opens (writable: creates) every data database and the "\0slots" record. */
static int dbs_open(struct cache *c, MDB_txn *txn, const char *path)
{
    for (size_t i = 0; i < c->n_db; i++) {
        bool index = i >= cache_db_index(c, 0, 0), secondary = i >= cache_db_sindex(c, 0, 0);
        unsigned flags = (index && !secondary ? MDB_DUPSORT | MDB_DUPFIXED : 0) |
                         (c->read_only ? 0 : MDB_CREATE);
        int rc = cache_lmdb_dbi_open(txn, c->db_name[i], flags, &c->dbi[i]);
        if (rc == -ENOENT && secondary) { /* declared after the store's writer last opened it */
            c->dbi[i] = 0;
            continue;
        }
        if (rc == -ENOENT) {
            log_error(LOG_CACHE, "%s: database %s is missing: the store is damaged", path,
                      c->db_name[i]);
            return -EPROTO;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Opens the meta database, checks (or writes) the format, opens every data
 * database, all in one transaction that commits so the handles persist. */
static int dbs_open_all(struct cache *c, const char *path)
{
    MDB_txn *txn = NULL;
    pthread_mutex_lock(&open_lock);
    int rc = cache_lmdb_txn_begin(c, c->read_only, &txn);
    if (rc < 0)
        goto out;
    rc = cache_lmdb_dbi_open(txn, "meta", c->read_only ? 0 : MDB_CREATE, &c->meta);
    if (rc == -ENOENT) {
        log_error(LOG_CACHE, "%s: not a cwcache store (no meta database)", path);
        rc = -EPROTO;
    }
    if (rc < 0)
        goto out;
    if ((rc = cache_fmt_check(c, txn, path)) < 0)
        goto out;
    if ((rc = dbs_open(c, txn, path)) < 0 || (rc = cache_sindex_open(c, txn)) < 0)
        goto out;
    rc = cache_lmdb_dbi_open(txn, "changes", c->read_only ? 0 : MDB_CREATE, &c->changes);
    if (rc == -ENOENT) /* a store no writer of this build has opened yet: no log to read */
        rc = 0;
    if (rc < 0)
        goto out;
    rc = cache_lmdb_txn_commit(txn);
    txn = NULL;
out:
    if (txn)
        cache_lmdb_txn_abort(txn);
    pthread_mutex_unlock(&open_lock);
    return rc;
}

static int env_prepare(struct cache *c, const struct cache_opts *o)
{
    if (!o->read_only && mkdir(o->path, 0750) < 0 && errno != EEXIST)
        return -errno;
    int rc = cache_unsynced_reset(c);
    if (rc < 0)
        return rc;
    if (o->read_only) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/data.mdb", o->path);
        if (stat(p, &st) < 0)
            return -errno;
    }
    /* + meta and changes, + 1 to drop an index no longer declared */
    return cache_lmdb_env_open(c, o, (unsigned)c->n_db + 3);
}

int cache_open(struct cache **out, const struct cache_opts *o)
{
    *out = NULL;
    if (!o || !o->path || !o->schema || (!o->read_only && !o->map_size))
        return -EINVAL;
    if (!schema_usable(o->schema))
        return -EINVAL;
    struct cache *c = xcalloc(1, sizeof *c);
    c->schema = o->schema;
    c->read_only = o->read_only;
    c->chlog.max_entries = o->change_log_max_entries;
    c->chlog.max_age_s = o->change_log_max_age_s;
    c->asof = xcalloc(o->schema->n_models + 1u, sizeof *c->asof);
    c->polls = xcalloc(o->schema->n_models + 1u, sizeof *c->polls);
    c->path = xstrdup(o->path);
    names_build(c);
    incoming_build(c);
    int rc = env_prepare(c, o);
    if (rc == 0)
        rc = dbs_open_all(c, o->path);
    if (rc == 0)
        rc = cache_unsynced_settle(c);
    if (rc < 0) {
        if (rc != -EPROTO && rc != -ENOENT) {
            char why[CACHE_STRERROR_MAX];
            log_error(LOG_CACHE, "%s: cannot open the store: %s", o->path,
                      cache_strerror(c, rc, why, sizeof why));
        }
        cache_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cache_close(struct cache *c)
{
    if (!c)
        return;
    if (c->unsynced && cache_unsynced_end(c) < 0)
        log_warn(LOG_CACHE, "%s: syncing the warm-up's commits at close failed: the next writer "
                 "syncs them", c->path);
    cache_collect_drop(c, NULL, 0);
    cache_lmdb_env_close(c);
    free(c->path);
    for (size_t i = 0; i < c->n_db; i++)
        free(c->db_name[i]);
    free(c->db_name);
    free(c->dbi);
    if (c->incoming)
        for (size_t m = 0; m < c->schema->n_models; m++)
            free(c->incoming[m]);
    free(c->incoming);
    free(c->n_incoming);
    free(c->sindex_ready);
    free(c->asof);
    free(c->polls);
    free(c);
}
