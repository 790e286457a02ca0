/*
 * poller_verify: walks the source in pk order in chunks, encodes every
 * source row exactly as the poller would store it and compares the bytes
 * with the cached row; cache keys inside each chunk's key range that the
 * source lacks are extra. Memory stays at one chunk, whatever the table size.
 * One connection serves every model: a login to a real server costs about
 * a quarter of a second, and a verification may cover dozens of models.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_CHUNK 5000

struct poller_verify {
    const struct poller_db *db;
    struct poller_conn conn;
    struct poller_src_model src;
    struct poller_row row;
    struct cache_rd *rd;
    struct buf enc;
    uint64_t *keys;
    struct poller_verify_result *res;
};

static void note(uint64_t *first, uint64_t count, uint64_t key)
{
    if (count <= 5)
        first[count - 1] = key;
}

static int compare_row(struct poller_verify *v, char *err, size_t errlen)
{
    const struct schema_model *m = v->src.m;
    buf_reset(&v->enc);
    int rc = cache_row_encode(m, v->row.vals, &v->enc, err, errlen);
    if (rc < 0)
        return rc;
    uint64_t pk = poller_row_pk(&v->row);
    struct slice cached;
    rc = cache_row_get(v->rd, m, pk, &cached);
    v->res->compared++;
    if (rc == -ENOENT) {
        v->res->missing++;
        note(v->res->first_missing, v->res->missing, pk);
        return 0;
    }
    if (rc < 0) {
        return poller_cache_fail(NULL, rc, err, errlen, "model %s: reading cached row %llu",
                                 m->name, (unsigned long long)pk);
    }
    if (!slice_eq(cached, buf_slice(&v->enc))) {
        v->res->different++;
        note(v->res->first_different, v->res->different, pk);
    }
    return 0;
}

/* Cache keys in (after, keys[n-1]] (to the end when last) absent from keys. */
static int count_extra(struct poller_verify *v, bool from_start, uint64_t after, size_t n, bool last)
{
    if (!last && n == 0)
        return 0;
    uint64_t chunk[512];
    size_t j = 0;
    for (;;) {
        size_t got;
        int rc = cache_keys_next(v->rd, v->src.m, from_start, after, chunk, 512, &got);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < got; i++) {
            if (!last && chunk[i] > v->keys[n - 1])
                return 0;
            while (j < n && v->keys[j] < chunk[i])
                j++;
            if (j >= n || v->keys[j] != chunk[i]) {
                v->res->extra++;
                note(v->res->first_extra, v->res->extra, chunk[i]);
            }
        }
        if (got < 512)
            return 0;
        from_start = false;
        after = chunk[got - 1];
    }
}

static int verify_chunk(struct poller_verify *v, bool first, uint64_t after, size_t *n, char *err,
                        size_t errlen)
{
    struct poller_keyset ks;
    enum poller_sql_kind k = first ? POLLER_SQL_ROWS_FIRST : POLLER_SQL_ROWS;
    poller_keyset_set(&ks, &v->src, k, VERIFY_CHUNK, 0, 0, after);
    int rc = poller_conn_exec(&v->conn, v->src.stmt[k], ks.ps, ks.n);
    if (rc < 0) {
        snprintf(err, errlen, "model %s: %s", v->src.m->name, v->conn.err);
        return rc;
    }
    rc = cache_rd_begin(v->rd);
    if (rc < 0) {
        poller_conn_cancel(&v->conn);
        return poller_cache_fail(NULL, rc, err, errlen, "opening a cache read transaction");
    }
    *n = 0;
    while ((rc = poller_conn_next_row(&v->conn)) == 1) {
        rc = poller_row_read(&v->row, &v->conn, err, errlen);
        if (rc == 0)
            rc = compare_row(v, err, errlen);
        if (rc < 0) {
            poller_conn_cancel(&v->conn);
            break;
        }
        v->keys[(*n)++] = poller_row_pk(&v->row);
    }
    if (rc == 0)
        rc = count_extra(v, first, after, *n, *n < VERIFY_CHUNK);
    else if (!err[0] || rc == -EIO)
        snprintf(err, errlen, "model %s: %s", v->src.m->name, v->conn.err);
    cache_rd_end(v->rd);
    return rc;
}

static int verify_walk(struct poller_verify *v, char *err, size_t errlen)
{
    bool first = true;
    uint64_t after = 0;
    for (;;) {
        size_t n = 0;
        int rc = verify_chunk(v, first, after, &n, err, errlen);
        if (rc < 0)
            return rc;
        if (n < VERIFY_CHUNK)
            return 0;
        after = v->keys[n - 1];
        first = false;
    }
}

int poller_verify_new(struct poller_verify **out, const struct poller_db *db, struct cache *c,
                      char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    struct poller_verify *v = xcalloc(1, sizeof *v);
    v->db = db;
    int rc = poller_conn_job_begin(c, &v->rd, err, errlen);
    if (rc < 0) {
        free(v);
        return rc;
    }
    buf_init(&v->enc, 0);
    v->keys = xmalloc(VERIFY_CHUNK * sizeof *v->keys);
    if ((rc = poller_conn_open(&v->conn, db, err, errlen)) < 0) {
        poller_verify_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int poller_verify_model(struct poller_verify *v, const struct schema_model *m,
                        struct poller_verify_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    /* A model that lost the connection must not cost the next ones theirs. */
    int rc = poller_conn_is_open(&v->conn) ? 0 : poller_conn_open(&v->conn, v->db, err, errlen);
    if (rc < 0)
        return rc;
    v->res = out;
    poller_src_init(&v->src, m);
    poller_row_init(&v->row, m);
    rc = verify_walk(v, err, errlen);
    poller_row_fini(&v->row);
    poller_src_fini(&v->src);
    v->res = NULL;
    return rc;
}

void poller_verify_free(struct poller_verify *v)
{
    if (!v)
        return;
    poller_conn_close(&v->conn);
    free(v->keys);
    buf_fini(&v->enc);
    poller_conn_job_end(v->rd);
    free(v);
}

int poller_verify(const struct poller_db *db, struct cache *c, const struct schema_model *m,
                  struct poller_verify_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct poller_verify *v;
    int rc = poller_verify_new(&v, db, c, err, errlen);
    if (rc < 0)
        return rc;
    rc = poller_verify_model(v, m, out, err, errlen);
    poller_verify_free(v);
    return rc;
}
