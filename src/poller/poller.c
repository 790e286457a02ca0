/*
 * DESIGN
 *
 * The poller thread owns one FreeTDS connection and is the only LMDB
 * writer. It polls the chosen models sequentially on that connection,
 * round-robin, one batch per model per turn: a large table's initial load
 * proceeds a page at a time while the small tables keep being polled.
 *
 * Each model runs passes (sync.c): a keyset poll from its cursor (or a
 * full re-read for models without a last-update column) every interval,
 * and a delete reconciliation every reconcile_s (or on request) once warm.
 *
 * With poll_summary, each interval starts with one statement that asks
 * every model for its row count, newest last-update and largest key
 * (summary.c). A warm model is then polled only when these moved, or while
 * its newest row is inside the late-commit window; otherwise the poll is
 * skipped (no query, no transaction; a run record once a minute keeps
 * staleness fine-grained). After a poll, a cache holding more rows than
 * the source counted looks for deleted rows by RecID range (gone.c). A
 * summary that fails turns it off for a minute: every model is polled.
 * While any pass has more pages the loop continues at once; when all are
 * idle it sleeps on a condition variable until the earliest model is due,
 * so poller_stop() is answered within the current batch.
 *
 * Errors: a failed batch commits nothing (the cursor stays, the batch is
 * replayed). A model whose data fails (conversion, missing column) backs
 * off alone; a failed connection (SQL error, disconnect, timeout, socketTimeout
 * per wait) is closed and reopened with exponential backoff and jitter.
 */
#include "poller/poller_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define LOG_REPEAT_MS 60000
#define SUMMARY_RETRY_MS 60000

struct poller {
    struct poller_opts o;
    bool *models;
    struct poller_sync *sync; /* one per schema model; used where models[i] */
    bool *usable;           /* passed the column check */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct poller_conn conn;
    struct poller_sync_env env;
    bool checked;
    int64_t conn_backoff_ms;
    size_t rr;
    struct log_repeat said;     /* keys: one per schema model, the connection, the store */
    bool store_full;            /* said full, and no commit since */
    uint64_t full_commits;      /* env.commits when it was said */
    uint32_t rand;
    bool warm_told;         /* on_warm was called */
    struct poller_health health;
    struct poller_summary sum;
    bool sum_built;
    int64_t next_summary_ms, summary_off_until_ms;
    bool *idle_due;         /* per model: skipped polls whose run record is due */
};

void poller_opts_tune(struct poller_opts *o, const struct conf *c)
{
    o->interval_ms = c->poll_interval_ms;
    o->overlap_s = c->overlap_s;
    o->reconcile_s = c->reconcile_s;
    o->batch_rows = c->batch_rows;
    o->write_txn_mb = c->write_txn_mb;
    o->page_mb = c->page_mb;
    o->index_build_mb = c->index_build_mb;
    o->summary = c->poll_summary;
    uint64_t quarter_ms = (uint64_t)c->max_staleness_s * 1000 / 4;
    o->idle_record_ms = quarter_ms < POLLER_IDLE_RECORD_MAX_MS ? (unsigned)quarter_ms
                                                               : POLLER_IDLE_RECORD_MAX_MS;
}

static bool stopping(struct poller *p)
{
    pthread_mutex_lock(&p->mu);
    bool s = p->stop;
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* Sleeps up to ms, waking early on stop. */
static void sleep_ms(struct poller *p, int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->stop)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&p->mu);
}

/* Next backoff: doubles up to the cap; the wait is jittered in [d/2, d]. */
static int64_t backoff_next(struct poller *p, int64_t *cur)
{
    *cur = *cur ? *cur * 2 : BACKOFF_MIN_MS;
    if (*cur > BACKOFF_MAX_MS)
        *cur = BACKOFF_MAX_MS;
    p->rand = p->rand * 1103515245u + 12345u;
    return *cur / 2 + (int64_t)((p->rand >> 8) % (uint32_t)(*cur / 2 + 1));
}

/* Logs a failure of model m (NULL: the connection) once, then again only
 * when its message changes or a minute passed (STYLE R8). */
static void log_failure(struct poller *p, const struct schema_model *m, const char *msg)
{
    size_t key = m ? m->id : p->o.schema->n_models;
    if (log_repeat_due(&p->said, key, msg, clock_mono_ms()))
        log_warn(LOG_POLLER, "%s", msg);
}

/* A full disk or map fails every model's commits alike: said for the
 * store (with the first model that met it), compared by the state's words
 * alone, so once a minute at most however many models meet it; and its end
 * once after each time it was said. A disk on the edge that fails and
 * takes commits by turns says so once a minute, not per commit. */
static void log_store_full(struct poller *p, int rc, const char *msg)
{
    char why[CACHE_STRERROR_MAX];
    cache_strerror(p->o.cache, rc, why, sizeof why);
    if (!log_repeat_due(&p->said, p->o.schema->n_models + 1, why, clock_mono_ms()))
        return;
    log_warn(LOG_POLLER, "%s", msg);
    p->store_full = true;
    p->full_commits = p->env.commits;
}

/* After a pass: a commit since the store was said full means space again
 * (an idle poll commits nothing, so it proves nothing). */
static void store_writable(struct poller *p)
{
    if (!p->store_full || p->env.commits == p->full_commits)
        return;
    p->store_full = false;
    log_info(LOG_POLLER, "the store takes commits again");
}

static void disable_missing(struct poller *p, struct poller_src_model *checked)
{
    const struct schema *s = p->o.schema;
    for (size_t i = 0; i < s->n_models; i++) {
        if (!p->models[i])
            continue;
        struct poller_sync *sy = &p->sync[i];
        sy->src.ok = checked[i].ok;
        sy->src.cursor_type = checked[i].cursor_type;
        sy->src.cursor_decl = checked[i].cursor_decl;
        p->usable[i] = checked[i].ok;
        if (!checked[i].ok) {
            log_error(LOG_POLLER, "%s: not polled", checked[i].error);
            poller_sync_record_error(sy, &p->env, -ENOENT, checked[i].error);
        }
    }
}

static int connect_and_check(struct poller *p)
{
    char err[POLLER_CONN_ERR_MAX + 128];
    int rc = poller_conn_open(&p->conn, p->o.db, err, sizeof err);
    if (rc < 0) {
        poller_health_down(&p->health, p->o.cache, err);
        return rc;
    }
    if (p->checked)
        return 0;
    const struct schema *s = p->o.schema;
    struct poller_src_model *checked = xcalloc(s->n_models, sizeof *checked);
    for (size_t i = 0; i < s->n_models; i++)
        checked[i] = (struct poller_src_model){
            .m = &s->models[i], .ok = true, .cursor_type = SYBDATETIME, .cursor_decl = "datetime"};
    rc = poller_src_check(&p->conn, s, p->models, checked, err, sizeof err);
    if (rc == 0) {
        disable_missing(p, checked);
        p->checked = true;
        log_info(LOG_POLLER, "connected to %s:%u, database %s", p->o.db->host, p->o.db->port,
                 p->o.db->database);
    } else {
        poller_health_down(&p->health, p->o.cache, err);
        poller_conn_close(&p->conn);
    }
    free(checked);
    return rc;
}

static bool conn_error(int rc) { return rc == -EIO || rc == -ENOTCONN; }

enum poller_sync_pass poller_due_pass(const struct poller_sync *s, int64_t now)
{
    const struct schema_model *m = s->src.m;
    bool poll = now >= s->next_poll_ms;
    bool reconcile = m->cursor && s->state == CACHE_WARM && now >= s->next_reconcile_ms;
    /* Both due: the one due longer first. A round slower than reconcile_s
     * (a loaded machine, a short reconcile_s) finds the reconciliation due
     * at every turn; first come would never poll again, and inserts and
     * updates would wait while only deletes are looked for. */
    if (reconcile && (!poll || s->next_reconcile_ms <= s->next_poll_ms))
        return POLLER_PASS_RECONCILE;
    if (poll)
        return m->cursor ? POLLER_PASS_POLL : POLLER_PASS_FULL;
    return POLLER_PASS_NONE;
}

int64_t poller_next_due_ms(const struct poller_sync *s)
{
    bool reconciles = s->src.m->cursor && s->state == CACHE_WARM;
    if (reconciles && s->next_reconcile_ms < s->next_poll_ms)
        return s->next_reconcile_ms;
    return s->next_poll_ms;
}

void poller_retry_at(struct poller_sync *s, enum poller_sync_pass failed, int64_t at)
{
    s->next_poll_ms = at;
    if (failed == POLLER_PASS_RECONCILE)
        s->next_reconcile_ms = at + 1;
}

static void pass_finished(struct poller *p, struct poller_sync *s, enum poller_sync_pass pass,
                          int64_t now)
{
    s->backoff_ms = 0;
    poller_health_up(&p->health, p->o.cache);
    store_writable(p);
    if (pass == POLLER_PASS_RECONCILE) {
        s->next_reconcile_ms = now + (int64_t)p->o.reconcile_s * 1000;
    } else if (pass == POLLER_PASS_LOAD) {
        s->next_poll_ms = now; /* at once: the poll reads the rows changed during the load */
    } else {
        s->next_poll_ms = now + p->o.interval_ms;
    }
}

static bool summary_on(const struct poller *p, int64_t now)
{
    return p->o.summary && now >= p->summary_off_until_ms;
}

/* Whether the summary decides model s's polls: a warm model with a cursor
 * between passes. */
static bool summary_governs(const struct poller_sync *s)
{
    return s->src.m->cursor && s->state == CACHE_WARM && s->pass == POLLER_PASS_NONE;
}

static bool summary_same(const struct poller_summary_model *a, const struct poller_summary_model *b)
{
    return a->valid && b->valid && a->rows == b->rows && a->has_newest == b->has_newest &&
           a->newest == b->newest;
}

/* Did the source move since the cache was last brought up to it? A row
 * committed late with an older last-update moves neither count nor
 * newest; but the newest row was committed after the late one's
 * last-update, so polling on while the figures last moved less than the
 * late-commit window (plus two polls) ago reads it, as every poll did
 * before. Only our own clock is compared: a source's local time may be
 * anything. */
static bool summary_moved(const struct poller *p, const struct poller_sync *s, int64_t now)
{
    int64_t window = (int64_t)p->o.overlap_s * 1000 + 2 * (int64_t)p->o.interval_ms;
    return !summary_same(&s->seen, &s->latest) || now - s->moved_ms <= window;
}

/* One summary: every governed model is due at once, to poll or to skip. */
static void summarize(struct poller *p, int64_t now)
{
    char err[POLLER_CONN_ERR_MAX + 256];
    const struct schema *sc = p->o.schema;
    if (!p->sum_built) {
        poller_summary_init(&p->sum, sc, p->usable);
        p->sum_built = true;
    }
    p->next_summary_ms = now + p->o.interval_ms;
    if (poller_summary_read(&p->sum, &p->conn, err, sizeof err) < 0) {
        /* Polling every model still works (and finds a lost connection). */
        p->summary_off_until_ms = now + SUMMARY_RETRY_MS;
        log_failure(p, NULL, err);
        return;
    }
    poller_health_up(&p->health, p->o.cache);
    for (size_t i = 0; i < sc->n_models; i++) {
        struct poller_sync *s = &p->sync[i];
        if (!p->models[i] || !p->usable[i])
            continue;
        if (!summary_same(&s->latest, &p->sum.m[i]))
            s->moved_ms = now;
        s->latest = p->sum.m[i];
        s->poll_now = summary_moved(p, s, now);
        if (summary_governs(s) && !s->backoff_ms)
            s->next_poll_ms = now;
    }
}

/* A governed poll the summary found nothing for: no query, no transaction.
 * The model is current up to the summary's clock, which is its asOf now
 * (never an older clock than a poll noted). */
static void poll_skip(struct poller *p, struct poller_sync *s, int64_t now)
{
    const struct schema_model *m = s->src.m;
    p->idle_due[m->id] |= poller_sync_idle_tick(s, &p->env, clock_wall_ms());
    s->next_poll_ms = now + p->o.interval_ms;
    if (p->sum.clock_ms > cache_asof(p->o.cache, &m->id, 1))
        cache_asof_note(p->o.cache, m, p->sum.clock_ms);
    cache_polls_note(p->o.cache, m);
}

/* Writes the run records of skipped polls that are due, in one commit. */
static void idle_records(struct poller *p)
{
    const struct schema *sc = p->o.schema;
    struct cache_wtxn *w = NULL;
    int rc = 0;
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < sc->n_models && rc == 0; i++) {
        if (!p->idle_due[i])
            continue;
        p->idle_due[i] = false;
        if (!w && (rc = cache_wtxn_begin(p->o.cache, &w)) < 0)
            break;
        rc = poller_sync_idle_record(&p->sync[i], w, now);
    }
    if (rc == 0 && w)
        rc = poller_sync_commit(&p->env, w);
    else
        cache_wtxn_abort(w);
    if (rc < 0) {
        char err[CACHE_STRERROR_MAX + 64];
        poller_cache_fail(p->o.cache, rc, err, sizeof err, "recording idle polls");
        log_failure(p, NULL, err);
    }
}

/* What the summary sets up before a poll of s: the counts to compare when
 * it ends, and which rows it reads are too new to be in them. */
static void poll_prepare(struct poller *p, struct poller_sync *s, int64_t now)
{
    s->compare = summary_on(p, now) && summary_governs(s) && s->latest.valid;
    s->fresh = 0;
    s->fresh_after = INT64_MAX;
    if (s->compare)
        poller_gone_prepare(s, &s->latest);
}

/* After a poll: deleted rows when the counts say so; the cache is now up to `asked`. */
static int poll_settle(struct poller *p, struct poller_sync *s, char *err, size_t errlen)
{
    if (!s->compare) {
        s->seen.valid = false;
        return 0;
    }
    s->compare = false;
    uint64_t deleted;
    int rc = poller_gone_check(s, &p->env, &deleted, err, errlen);
    if (rc == 0)
        s->seen = s->asked;
    return rc;
}

/* One batch of model s. Returns <0 on a connection error (caller reconnects). */
static int model_turn(struct poller *p, struct poller_sync *s, bool *busy, int64_t *earliest)
{
    int64_t now = clock_mono_ms();
    char err[POLLER_CONN_ERR_MAX + 256];
    int rc;
    enum poller_sync_pass pass = s->pass;
    if (pass == POLLER_PASS_NONE) {
        pass = poller_due_pass(s, now);
        if (pass == POLLER_PASS_NONE)
            goto wait;
        if (pass == POLLER_PASS_POLL && summary_on(p, now) && summary_governs(s) &&
            !s->poll_now) {
            poll_skip(p, s, now);
            goto wait;
        }
        if (pass == POLLER_PASS_POLL)
            poll_prepare(p, s, now);
        rc = poller_sync_begin(s, &p->env, pass, err, sizeof err);
        if (rc < 0)
            goto fail;
        pass = s->pass; /* a poll may begin as a first load */
    }
    bool done;
    rc = poller_sync_step(s, &p->env, &done, err, sizeof err);
    if (rc < 0)
        goto fail;
    if (done && pass == POLLER_PASS_POLL && (rc = poll_settle(p, s, err, sizeof err)) < 0)
        goto fail;
    if (done) {
        if (pass == POLLER_PASS_POLL)
            s->poll_now = false; /* a reconciliation in between leaves the poll due */
        if (pass == POLLER_PASS_POLL || pass == POLLER_PASS_FULL)
            cache_polls_note(p->o.cache, s->src.m);
        pass_finished(p, s, pass, clock_mono_ms());
        goto wait;
    }
    *busy = true;
    return 0;
fail:
    s->seen.valid = false;
    s->compare = false;
    /* A lost connection is the source's state (logged once by health.c);
     * anything else is this model's own failure. */
    if (conn_error(rc))
        poller_health_down(&p->health, p->o.cache, err);
    else if (cache_err_store_full(rc))
        log_store_full(p, rc, err);
    else
        log_failure(p, s->src.m, err);
    poller_sync_record_error(s, &p->env, rc, err);
    s->pass = POLLER_PASS_NONE;
    poller_retry_at(s, pass, clock_mono_ms() + backoff_next(p, &s->backoff_ms));
    if (conn_error(rc))
        return rc;
wait:
    /* Whatever the turn did, the round sleeps no longer than this model
     * waits: a load is followed by a poll at once, a first poll by a
     * reconciliation, however long the poll interval. */
    if (poller_next_due_ms(s) < *earliest)
        *earliest = poller_next_due_ms(s);
    return 0;
}

/* Calls on_warm once, when every polled model is warm the first time. */
static void warm_tell(struct poller *p)
{
    size_t warm = 0;
    if (p->warm_told || !p->o.on_warm)
        return;
    for (size_t i = 0; i < p->o.schema->n_models; i++) {
        if (!p->models[i])
            continue;
        if (!p->usable[i] || p->sync[i].state != CACHE_WARM)
            return;
        warm++;
    }
    p->warm_told = true;
    p->o.on_warm(p->o.on_warm_arg, warm);
}

/* One round over every model; returns the wait before the next round. */
static int64_t round_robin(struct poller *p)
{
    size_t n = p->o.schema->n_models;
    bool busy = false;
    int64_t now = clock_mono_ms(), earliest = now + p->o.interval_ms;
    if (summary_on(p, now)) {
        if (now >= p->next_summary_ms)
            summarize(p, now);
        if (p->next_summary_ms < earliest)
            earliest = p->next_summary_ms;
    }
    for (size_t k = 0; k < n && !stopping(p); k++) {
        size_t i = (p->rr + k) % n;
        if (!p->models[i] || !p->usable[i])
            continue;
        if (model_turn(p, &p->sync[i], &busy, &earliest) < 0) {
            poller_conn_close(&p->conn);
            return backoff_next(p, &p->conn_backoff_ms);
        }
    }
    idle_records(p);
    p->rr = n ? (p->rr + 1) % n : 0;
    p->conn_backoff_ms = 0;
    warm_tell(p);
    return busy ? 0 : earliest - clock_mono_ms();
}

static void *thread_main(void *arg)
{
    struct poller *p = arg;
    while (!stopping(p)) {
        if (!poller_conn_is_open(&p->conn)) {
            poller_conn_close(&p->conn);
            if (connect_and_check(p) < 0) {
                sleep_ms(p, backoff_next(p, &p->conn_backoff_ms));
                continue;
            }
        }
        int64_t wait = round_robin(p);
        if (wait > 0)
            sleep_ms(p, wait);
    }
    /* Skipped polls not yet in the history go in now. */
    for (size_t i = 0; i < p->o.schema->n_models; i++)
        p->idle_due[i] = p->models[i] && p->sync[i].idle_polls;
    idle_records(p);
    poller_conn_close(&p->conn);
    return NULL;
}

static void state_free(struct poller *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->o.schema->n_models; i++)
        if (p->models[i])
            poller_sync_fini(&p->sync[i]);
    cache_rd_free(p->env.rd);
    if (p->sum_built)
        poller_summary_fini(&p->sum);
    free(p->idle_due);
    log_repeat_fini(&p->said);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->sync);
    free(p->usable);
    free(p->models);
    free(p);
}

static struct poller *state_new(const struct poller_opts *o)
{
    struct poller *p = xcalloc(1, sizeof *p);
    p->o = *o;
    size_t n = o->schema->n_models;
    p->models = xcalloc(n ? n : 1, sizeof *p->models);
    p->usable = xcalloc(n ? n : 1, sizeof *p->usable);
    p->sync = xcalloc(n ? n : 1, sizeof *p->sync);
    p->idle_due = xcalloc(n ? n : 1, sizeof *p->idle_due);
    for (size_t i = 0; i < n; i++) {
        p->models[i] = o->models ? o->models[i] : true;
        if (p->models[i])
            poller_sync_init(&p->sync[i], &o->schema->models[i]);
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    log_repeat_init(&p->said, n + 2, LOG_REPEAT_MS);
    p->rand = (uint32_t)clock_mono_ns();
    p->env = (struct poller_sync_env){.cache = o->cache,
                                      .conn = &p->conn,
                                      .batch_rows = p->o.batch_rows,
                                      .overlap_s = p->o.overlap_s,
                                      .idle_record_ms = p->o.idle_record_ms};
    /* Only the index build's bounds: the server's passes write page by page. */
    struct poller_sync_env bounds = {0};
    poller_sync_env_bounds(&bounds, &p->o);
    p->env.build = bounds.build;
    return p;
}

int poller_start(struct poller **out, const struct poller_opts *o)
{
    *out = NULL;
    if (!o || !o->db || !o->schema || !o->cache || !o->interval_ms || !o->reconcile_s ||
        !o->batch_rows)
        return -EINVAL;
    struct poller *p = state_new(o);
    int rc = cache_rd_new(o->cache, &p->env.rd);
    if (rc < 0) {
        state_free(p);
        return rc;
    }
    rc = poller_conn_lib_acquire();
    if (rc < 0) {
        state_free(p);
        return rc;
    }
    rc = -pthread_create(&p->th, NULL, thread_main, p);
    if (rc < 0) {
        poller_conn_lib_release();
        state_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void poller_stop(struct poller *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    poller_conn_lib_release();
    if (p->o.timing) {
        p->o.timing->rows += p->env.rows;
        p->o.timing->ns_fetch += p->env.ns_fetch;
        p->o.timing->ns_apply += p->env.ns_apply;
        p->o.timing->ns_commit += p->env.ns_commit;
    }
    state_free(p);
}
