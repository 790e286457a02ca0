/*
 * cwcache: configuration, signals, and the three kinds of threads.
 *
 *   main thread   the first libwebsockets service loop (sio_run); never blocks
 *   loops         the other service loops (`loops`, started by sio_run)
 *   poller        keeps LMDB equal to the SQL source (poller_start)
 *   workers       render answers (started by sio_new)
 *
 * Shutdown on SIGTERM/SIGINT: the loop stops taking work, finishes the
 * answers in flight (bounded), then the poller commits its batch and
 * stops, and the workers are joined before the lws context goes.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/cache.h"
#include "collector.h"
#include "conf.h"
#include "log.h"
#include "poller/poller.h"
#include "schema.h"
#include "sio/sio.h"

struct app {
    struct conf cf;
    struct poller_db db;
    struct schema *schema;
    struct collector_set cs;
    struct cache *cache;
    struct poller_live *live;
    struct sio_server *sio;
    struct poller *poller;
    bool *models;
    int lock_fd;            /* DATA_DIR/server.lock, held while the poller may write */
};

static struct sio_server *volatile g_sio;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_sio)
        sio_stop(g_sio);
}

static void signals_install(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an EPIPE, not a death */
}

/* Answers of several MiB are allocated and freed all day. glibc serves
 * them from the heap once its dynamic mmap threshold has risen past their
 * size (it rises with each large free, up to 32 MiB), and freed heap
 * memory in the middle of an arena is never given back: RSS stayed at the
 * peak after a burst of big answers. A fixed 1 MiB threshold keeps every
 * big buffer in its own mapping, returned to the system when freed;
 * smaller ones stay on the fast heap. Sanitizer builds have their own
 * allocator and ignore this (mallopt returns 0 there). */
static void malloc_tune(void)
{
    if (mallopt(M_MMAP_THRESHOLD, 1 << 20) != 1)
        log_debug(LOG_MAIN, "mallopt(M_MMAP_THRESHOLD) not applied: this allocator ignores it");
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int fail(const char *what, const char *msg)
{
    log_error(LOG_MAIN, "%s: %s", what, msg);
    return -EINVAL;
}

/* The lock file's pid (its holder's, or the last one's) into pid; "" when unreadable. */
static void lock_pid(int fd, char *pid, size_t n)
{
    ssize_t got = pread(fd, pid, n - 1, 0);
    pid[got > 0 ? got : 0] = '\0';
    pid[strcspn(pid, "\n")] = '\0';
}

/* One polling server per data directory: a second poller would double
 * every write and fight over the cursors. The lock (an open file
 * description lock, released by the kernel when the process dies) names
 * its holder's pid. Readers (--no-poller) and `cwcachectl warm` do not take
 * it; a reader asks whether anyone holds it (F_OFD_GETLK), which, unlike
 * trying flock(), never makes a poller starting at that moment fail. */
static int server_lock(struct app *a)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/server.lock", a->cf.data_dir);
    a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (a->lock_fd < 0)
        return fail(path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(a->lock_fd, F_OFD_SETLK, &fl) < 0) {
        if (errno != EAGAIN && errno != EACCES)
            return fail(path, strerror(errno));
        char pid[32];
        lock_pid(a->lock_fd, pid, sizeof pid);
        log_error(LOG_MAIN,
                  "%s: in use by another cwcache server (pid %s, holding %s): one server polls a "
                  "data directory; stop it first, or start this one with --no-poller to serve "
                  "the same store read-only",
                  a->cf.data_dir, pid[0] ? pid : "unknown", path);
        return -EBUSY;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(a->lock_fd, 0) < 0 || pwrite(a->lock_fd, pid, (size_t)n, 0) != n)
        return fail(path, strerror(errno));
    return 0;
}

/* A reader says whose polls it serves: the store's meta (source health,
 * last poll per model) then drives its /status and /readyz as the poller's
 * own do, and staleness shows when no one polls. */
static void reader_note(const struct app *a)
{
    char path[4096], pid[32] = "";
    snprintf(path, sizeof path, "%s/server.lock", a->cf.data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    bool held = fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    if (held)
        lock_pid(fd, pid, sizeof pid);
    if (fd >= 0)
        close(fd);
    if (held)
        log_info(LOG_MAIN, "no poller here (--no-poller): serving %s read-only; the server with "
                           "pid %s polls it, and its commits show here as they land",
                 a->cf.data_dir, pid[0] ? pid : "unknown");
    else
        log_warn(LOG_MAIN, "no poller here (--no-poller) and no server polls %s: the cache stays "
                           "as it is (cold models go live; /status shows how stale it grows)",
                 a->cf.data_dir);
}

/* Everything before the server binds: any error stops startup. */
static int load(struct app *a)
{
    char err[512];
    int rc;
    if (!a->cf.psk && !a->cf.insecure_no_psk)
        return fail("PSK", "not set: refusing to start. Set PSK in the environment or the config "
                           "file, or pass --insecure-no-psk to accept every client without a key");
    if (!a->cf.database_url)
        return fail("DATABASE_URL", "not set (sqlserver://host:port;database=..;user=..;password=..)");
    if ((rc = poller_db_parse(&a->db, a->cf.database_url, err, sizeof err)) < 0)
        return fail("DATABASE_URL", err);
    if ((rc = schema_load(&a->schema, a->cf.schema, err, sizeof err)) < 0)
        return fail("schema", err);
    if ((rc = collector_set_load(&a->cs, a->cf.collectors, a->schema, err, sizeof err)) < 0)
        return fail("collectors", err);
    if ((rc = mkdir_p(a->cf.data_dir)) < 0)
        return fail(a->cf.data_dir, strerror(-rc));
    if (a->cf.poller && (rc = server_lock(a)) < 0)
        return rc;
    struct cache_opts co = {.path = a->cf.data_dir,
                            .map_size = (size_t)a->cf.map_size_mb << 20,
                            .schema = a->schema,
                            .change_log_max_entries = a->cf.change_log_max_entries,
                            .change_log_max_age_s = a->cf.change_log_max_age_s};
    if ((rc = cache_open(&a->cache, &co)) < 0)
        return fail(a->cf.data_dir, rc == -EPROTO
                                        ? "not a cwcache store, or built from another schema"
                                        : cache_strerror(NULL, rc, err, sizeof err));
    if ((rc = poller_live_new(&a->live, &a->db, a->schema, a->cf.live_pool,
                               a->cf.live_timeout_ms)) < 0)
        return fail("live fallback", strerror(-rc));
    a->models = xcalloc(a->schema->n_models ? a->schema->n_models : 1, sizeof *a->models);
    collector_set_models(&a->cs, a->schema, a->models);
    return 0;
}

static void on_warm(void *arg, size_t n_models)
{
    struct app *a = arg;
    log_info(LOG_MAIN, "ready: %zu models warm, serving on :%d", n_models, sio_port(a->sio));
}

static int serve_start(struct app *a)
{
    char err[512];
    const struct conf *c = &a->cf;
    struct sio_opts so = {
        .bind = c->bind, .port = (int)c->port, .tls_cert = c->tls_cert, .tls_key = c->tls_key,
        .ping_interval_ms = c->ping_interval, .ping_timeout_ms = c->ping_timeout,
        .connect_timeout_ms = c->connect_timeout, .upgrade_timeout_ms = c->upgrade_timeout,
        .max_payload = c->max_payload, .loops = c->loops, .workers = c->workers,
        .answer_cache_bytes = (size_t)c->answer_cache_mb << 20,
        .answer_buffer_bytes = (size_t)c->answer_buffers_mb << 20,
        .max_answer_bytes = (size_t)c->max_answer_mb << 20,
        .max_session_buffer_bytes = (size_t)c->max_session_buffer_mb << 20,
        .max_inflight_per_session = c->max_inflight_per_session,
        .inline_render_rows = c->inline_render_rows,
        .psk = c->insecure_no_psk && !c->psk ? NULL : c->psk,
        .cors_origins = c->cors_origins, .auth_delay_ms = c->auth_delay_ms,
        .http_compression = c->http_compression,
        .http_compression_threshold = c->http_compression_threshold,
        .ws_permessage_deflate = c->ws_permessage_deflate,
        .auth_delay_max_ms = c->auth_delay_max_ms, .shutdown_timeout_ms = c->shutdown_timeout_ms,
        .max_staleness_s = c->max_staleness_s,
        .schema = a->schema, .collectors = &a->cs, .cache = a->cache, .live = a->live,
    };
    int rc = sio_new(&a->sio, &so, err, sizeof err);
    if (rc < 0)
        return fail("server", err);
    g_sio = a->sio;
    if (g_stop)
        sio_stop(a->sio);
    if (c->port_file) {
        FILE *f = fopen(c->port_file, "w");
        if (!f || fprintf(f, "%d\n", sio_port(a->sio)) < 0 || fclose(f) != 0)
            return fail(c->port_file, "cannot write the port file");
    }
    if (!c->poller) {
        reader_note(a);
        return 0;
    }
    struct poller_opts po = {
        .db = &a->db, .schema = a->schema, .cache = a->cache, .models = a->models,
        .on_warm = on_warm, .on_warm_arg = a,
    };
    poller_opts_tune(&po, c);
    if ((rc = poller_start(&a->poller, &po)) < 0)
        return fail("poller", strerror(-rc));
    return 0;
}

static void app_fini(struct app *a)
{
    poller_stop(a->poller); /* commits its batch; before the lws context goes */
    g_sio = NULL;
    sio_free(a->sio);
    poller_live_free(a->live);
    cache_close(a->cache);
    collector_set_fini(&a->cs);
    schema_free(a->schema);
    poller_db_fini(&a->db);
    free(a->models);
    if (a->lock_fd >= 0)
        close(a->lock_fd);
    conf_fini(&a->cf);
}

int main(int argc, char **argv)
{
    struct app a = {.lock_fd = -1};
    char err[512];
    conf_init(&a.cf);
    int rc = conf_load(&a.cf, argc, argv, err, sizeof err);
    if (rc != 0) {
        if (rc == 1)
            conf_usage(stdout, argv[0]);
        else if (rc == 2)
            conf_markdown(stdout);
        else
            fprintf(stderr, "cwcache: %s\n", err);
        conf_fini(&a.cf);
        return rc > 0 ? 0 : 2;
    }
    log_level = (enum log_level)log_level_parse(a.cf.log_level);
    if (a.cf.insecure_no_psk && !a.cf.psk)
        log_warn(LOG_MAIN, "--insecure-no-psk: no PSK, every client is accepted");
    signals_install();
    malloc_tune();
    rc = load(&a);
    if (rc == 0)
        rc = serve_start(&a);
    if (rc == 0)
        rc = sio_run(a.sio);
    app_fini(&a);
    if (rc == 0)
        log_info(LOG_MAIN, "stopped");
    return rc == 0 ? 0 : 1;
}
