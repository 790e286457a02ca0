#pragma once
/*
 * The change poller: a thread that keeps the LMDB cache equal to the
 * MSSQL source (keyset batches on last-update cursors, overlap re-reads,
 * delete reconciliation, run history), plus the live fallback that answers
 * queries on models that are not warm yet with a SELECT of its own.
 *
 * The poller only ever SELECTs. Passwords never reach a log line.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cache/cache.h"
#include "conf.h"
#include "schema.h"

/* DATABASE_URL in the original's form:
 * sqlserver://host:port;database=db;user=u;password=p;encrypt=true;trustServerCertificate=true
 * (keys case-insensitive; values may be {braced} to contain ';'). */
struct poller_db {
    char *host;
    unsigned port;
    char *database, *user, *password;
    bool encrypt, trust_server_certificate;
    char *ca_file;            /* trustServerCertificateCA: PEM CAs to verify the server with;
                                 NULL: the system's trust store */
    char *app_name;           /* reported to sys.dm_exec_sessions */
    unsigned login_timeout_s;
    unsigned query_timeout_s;
};
/* Keys the URL leaves out take their defaults (db.c's only initializer:
 * port 1433, encrypt, loginTimeout 15 s, queryTimeout 120 s). -EINVAL
 * with a message (that never contains the password) in err. */
int poller_db_parse(struct poller_db *out, const char *url, char *err, size_t errlen) MUST_CHECK;
void poller_db_fini(struct poller_db *db);

/* The longest an idle model goes without its last match written (meta
 * last_ok_ms, a run record), ms: the history stays short at a day of idle
 * polls. */
#define POLLER_IDLE_RECORD_MAX_MS 60000u

struct poller_opts {
    const struct poller_db *db;
    const struct schema *schema;
    struct cache *cache;
    const bool *models;         /* schema->n_models flags: which models to poll */
    /* The tunables: set them with poller_opts_tune() (conf.h owns the defaults). */
    unsigned interval_ms;       /* between polls, > 0 */
    unsigned overlap_s;         /* late-commit window re-read before the cursor; 0: none */
    unsigned reconcile_s;       /* delete reconciliation interval, > 0 */
    unsigned batch_rows;        /* keyset page size, > 0 */
    /* Warm-up passes (0: no bound): row bytes per write transaction and
     * per fetched page, and the sort memory of the index build after a
     * first load (cache_index_build). */
    unsigned write_txn_mb, page_mb, index_build_mb;
    /* poller_warm only (cwcachectl sets it from warm_retry_s): how long the
     * source may stay unreachable before the warm-up gives up, s; 0: at once. */
    unsigned retry_s;
    /* poller_warm only: find deleted rows by reading every key of each
     * model (as the poller's reconciliation) instead of by their count. */
    bool reconcile;
    bool summary;               /* one count/newest query per poll decides which models to read
                                   and finds deletes (docs/poller.md); false: read every model */
    /* An idle model's last match with the source (meta last_ok_ms) is
     * written at least this often, ms: a quarter of max_staleness_s, at
     * most a minute, so readiness never lapses while polls find nothing.
     * 0: a minute. */
    unsigned idle_record_ms;
    /* Optional: called once from the poller thread when every polled model
     * is warm for the first time, with their number. */
    void (*on_warm)(void *arg, size_t n_models);
    void *on_warm_arg;
    /* Optional (benchmarks): time spent per phase is added here by
     * poller_warm (the thread adds it when it stops). May be NULL. */
    struct poller_timing *timing;
};

struct poller_timing {
    uint64_t rows;      /* rows read by poll and full passes (reconciliation keys excluded) */
    uint64_t ns_fetch;  /* waiting for db-lib rows, converting and encoding them (fetch side) */
    uint64_t ns_apply;  /* LMDB puts of encoded rows, indexes, meta (writer side) */
    uint64_t ns_commit; /* LMDB commits */
    uint64_t ns_build;  /* index builds after first loads (cache_index_build) */
    uint64_t ns_pass;   /* wall time of those passes: warm-up fetches and writes in two
                           threads, so fetch + apply + commit can exceed it */
};

/* Copies the tunables (poll_interval_ms, overlap_s, reconcile_s,
 * batch_rows, poll_summary, the warm-up bounds) from a loaded
 * configuration, and derives idle_record_ms from max_staleness_s. */
void poller_opts_tune(struct poller_opts *o, const struct conf *c);

struct poller;
/* Starts the poller thread. It connects on its own (retrying with backoff). */
int poller_start(struct poller **out, const struct poller_opts *o) MUST_CHECK;
/* Asks the thread to stop after its current batch and joins it; accepts NULL. */
void poller_stop(struct poller *p);

/* Warm-up progress for one model: rows applied so far and the estimated total. */
typedef void (*poller_progress_cb)(void *arg, const struct schema_model *m, uint64_t done,
                                   uint64_t total, bool finished);
/* Runs the poller in the calling thread until every chosen model is caught
 * up (full: rebuilt from scratch and swapped in atomically), then returns:
 * 0, or a negative errno with the error in err. A lost connection (refused,
 * reset, timed out; not an error the server answered) is reopened with
 * exponential backoff for up to o->retry_s and the warm-up resumes from the
 * cursor; past that it fails with the cause. `stop` (may be NULL) is polled
 * between batches and while waiting to reconnect: when it becomes true the
 * warm-up stops, abandons any unfinished rebuild and returns -EINTR. */
int poller_warm(const struct poller_opts *o, bool full, poller_progress_cb progress, void *arg,
                const volatile bool *stop, char *err, size_t errlen) MUST_CHECK;

/* Live fallback: a small pool of connections separate from the poller's.
 * A request takes at most timeout_ms in all (waiting for a free connection,
 * logging in, querying), whatever the URL's socketTimeout. */
struct poller_live;
int poller_live_new(struct poller_live **out, const struct poller_db *db, const struct schema *s,
                    unsigned pool_size, unsigned timeout_ms) MUST_CHECK;
void poller_live_free(struct poller_live *l); /* accepts NULL */
/* Renders the plan from live SELECTs into out: the same bytes that
 * cache_query_render() gives for the same data. Blocks (at most the pool's
 * timeout): call it from a worker thread, never from the event loop. A
 * connection found dead is reopened and the request tried once more.
 * Errors: -EIO (source unavailable or query failed) or -ETIMEDOUT, with err
 * fit for a client ("model Company: source database unavailable"): host,
 * port, database and login only reach the server log, logged here; -EFBIG
 * with err when the answer exceeds max_bytes (0: no limit). */
int poller_live_query(struct poller_live *l, const struct cache_plan *p, size_t max_bytes,
                      struct buf *out, char *err, size_t errlen) MUST_CHECK;

/* Verification (cwcachectl verify): walks source and cache in key order in
 * chunks and counts differences. */
struct poller_verify_result {
    uint64_t missing, extra, different, compared;
    uint64_t first_missing[5], first_extra[5], first_different[5];
};
/* One login for a whole verification: poller_verify_model() compares one
 * model after another on it (reopening it first when an earlier model lost
 * it). new: -EIO with err when the source cannot be reached. */
struct poller_verify;
int poller_verify_new(struct poller_verify **out, const struct poller_db *db, struct cache *c,
                      char *err, size_t errlen) MUST_CHECK;
int poller_verify_model(struct poller_verify *v, const struct schema_model *m,
                        struct poller_verify_result *out, char *err, size_t errlen) MUST_CHECK;
void poller_verify_free(struct poller_verify *v); /* accepts NULL */
/* One model on a connection of its own (new, model, free). */
int poller_verify(const struct poller_db *db, struct cache *c, const struct schema_model *m,
                  struct poller_verify_result *out, char *err, size_t errlen) MUST_CHECK;
