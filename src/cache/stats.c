/* Environment and per-database figures for operators (cwcachectl status). */
#include "cache/cache_int.h"

#include <errno.h>

int cache_stats_get(struct cache *c, struct cache_stats *out)
{
    return cache_lmdb_env_stats(c, out);
}

static int db_stat(struct cache_rd *rd, MDB_dbi dbi, const char *name, cache_db_stat_cb cb, void *arg)
{
    MDB_stat st;
    int rc = cache_lmdb_stat(rd->txn, dbi, &st);
    if (rc < 0)
        return rc;
    return cb(arg, name, st.ms_entries, st.ms_branch_pages, st.ms_leaf_pages, st.ms_overflow_pages,
              st.ms_depth);
}

/* meta, then every database under its LMDB name, both slots: a shadow with
 * entries shows an open (or abandoned mid-way) rebuild. */
int cache_db_stats(struct cache_rd *rd, cache_db_stat_cb cb, void *arg)
{
    if (!rd->active)
        return -EINVAL;
    int rc = db_stat(rd, rd->c->meta, "meta", cb, arg);
    for (size_t i = 0; rc == 0 && i < rd->c->n_db; i++)
        if (rd->c->dbi[i]) /* 0: an index a read-only open did not find */
            rc = db_stat(rd, rd->c->dbi[i], rd->c->db_name[i], cb, arg);
    return rc;
}
