/* Environment and per-database figures for operators (cwcachectl status). */
#include "cache/cache_int.h"

#include <errno.h>

int cache_stats_get(struct cache *c, struct cache_stats *out)
{
    MDB_envinfo info;
    MDB_stat st;
    unsigned maxr = 0;
    int rc = cache_err_from_mdb(mdb_env_info(c->env, &info));
    if (rc == 0)
        rc = cache_err_from_mdb(mdb_env_stat(c->env, &st));
    if (rc == 0)
        rc = cache_err_from_mdb(mdb_env_get_maxreaders(c->env, &maxr));
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

static int db_stat(struct cache_rd *rd, MDB_dbi dbi, const char *name, cache_db_stat_cb cb, void *arg)
{
    MDB_stat st;
    int rc = cache_err_from_mdb(mdb_stat(rd->txn, dbi, &st));
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
        rc = db_stat(rd, rd->c->dbi[i], rd->c->db_name[i], cb, arg);
    return rc;
}
