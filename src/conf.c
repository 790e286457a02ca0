/*
 * Configuration through one key table (STYLE R9, R14): each key has a
 * type, a place in struct conf, an optional environment variable, its
 * default, its range and a help line. The defaults, the file parser, the
 * environment and the flag parser all go through key_set(), so a key
 * behaves the same from every source; --help and the table in
 * docs/server.md are printed from the same rows.
 */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "num.h"
#include "paths.h"

enum conf_type { CONF_STR, CONF_U32, CONF_U64, CONF_BOOL, CONF_LEVEL };

/* One row per key, as Redis's config.c: its type, its place in struct
 * conf, where else it may come from, its default (text parsed like any
 * other value, so it passes the same range check) and its range. */
struct conf_key {
    const char *name;
    enum conf_type type;
    size_t off;
    const char *env;     /* environment variable, or NULL */
    bool flag;           /* settable as --name */
    const char *def;     /* default, or NULL: unset */
    uint64_t min, max;   /* numeric range, inclusive */
    const char *help;
};

#define K(n, t, env, flag, def, min, max, help) \
    {#n, t, offsetof(struct conf, n), env, flag, def, min, max, help}
#define S(n, env, flag, def, help) K(n, CONF_STR, env, flag, def, 0, 0, help)
#define U(n, def, min, max, help) K(n, CONF_U32, NULL, true, def, min, max, help)
#define B(n, def, help) K(n, CONF_BOOL, NULL, true, def, 0, 1, help)

static const struct conf_key keys[] = {
    S(database_url, "DATABASE_URL", true, NULL,
      "SQL Server, in the original's form: sqlserver://host:port;database=..;user=..;password=.."),
    S(psk, "PSK", false, NULL, "pre-shared key clients must present (environment or config file only)"),
    K(port, CONF_U32, "PORT", true, "3000", 0, 65535, "TCP port; 0 lets the kernel choose"),
    S(bind, NULL, true, NULL, "address or interface to listen on (unset: all)"),
    S(data_dir, NULL, true, "./data", "LMDB cache directory"),
    K(map_size_mb, CONF_U32, "MAP_SIZE_MB", true, "65536", 1, UINT32_MAX,
      "LMDB map size, MiB: the most the cache may hold (address space, not disk); raise it when "
      "the log says the map is full"),
    S(schema, NULL, true, "schema/", "schema file or directory"),
    S(collectors, NULL, true, "collectors/", "collector definitions directory"),
    S(tls_cert, NULL, true, NULL, "PEM certificate: serve https and wss (with tls_key)"),
    S(tls_key, NULL, true, NULL, "PEM private key of tls_cert"),
    U(ping_interval, "25000", 1, UINT32_MAX, "Engine.IO pingInterval, ms"),
    U(ping_timeout, "20000", 1, UINT32_MAX, "Engine.IO pingTimeout, ms"),
    U(connect_timeout, "45000", 0, UINT32_MAX,
      "ms a session may go without joining / (a successful CONNECT) before it is closed, as the "
      "Node server's connectTimeout; 0: never"),
    U(upgrade_timeout, "10000", 1, UINT32_MAX,
      "ms a websocket may take from opening to completing the upgrade from polling before it is "
      "closed and the session keeps polling, as engine.io's upgradeTimeout"),
    K(max_payload, CONF_U64, NULL, true, "1000000", 16, UINT64_MAX,
      "Engine.IO maxPayload: largest client message, bytes"),
    U(loops, "0", 0, 64,
      "service loops, one thread each, sharing the port (SO_REUSEPORT); 0: one per online core"),
    U(workers, "2", 1, 256, "threads rendering answers, split over the loops (at least one each)"),
    U(live_pool, "2", 0, UINT32_MAX, "SQL connections of the live fallback"),
    U(live_timeout_ms, "15000", 1000, 3600000,
      "longest a live-fallback request may take, waiting for a connection, logging in and "
      "querying (to the second); independent of socketTimeout"),
    U(answer_cache_mb, "256", 0, UINT32_MAX,
      "MiB of rendered answers reused for identical requests while the cache is unchanged; 0: off"),
    U(answer_buffers_mb, "128", 0, UINT32_MAX,
      "MiB of freed answer buffers (64 KiB or more each, at most 4, the biggest) kept for the next "
      "answers: a fresh buffer's page faults cost an unreused answer half its CPU; 0: none"),
    U(inline_render_rows, "10000", 0, UINT32_MAX,
      "an answer that reads at most this many rows (its model holds no more, and no relation or "
      "_count is read) is rendered by the service loop that received it instead of a worker: no "
      "hand-off between threads, about a seventh of a 2-field select of 5000 rows; meanwhile "
      "that loop's other connections wait (0.3 ms for that select, 2 ms for 5000 full records); "
      "0: never"),
    U(max_answer_mb, "96", 1, 4095,
      "largest answer sent, MiB; a larger one is refused with an error that says how to page it "
      "(the standard socket.io-client drops messages over 100 MiB)"),
    U(max_session_buffer_mb, "16", 1, 1048576,
      "MiB a session may have queued and not yet written beyond the answer being written and the "
      "next; a client that reads slower than it asks is disconnected past it (logged once)"),
    U(max_inflight_per_session, "16", 1, UINT32_MAX,
      "events a session may have being rendered at once; one more disconnects it (logged once)"),
    U(poll_interval_ms, "5000", 1, UINT32_MAX, "poller interval, ms"),
    U(overlap_s, "120", 0, 86400,
      "late-commit window the poller re-reads before each cursor, s (unchanged rows cost no write)"),
    U(reconcile_s, "900", 1, UINT32_MAX, "interval of the poller's delete reconciliation, s"),
    U(batch_rows, "5000", 1, 1000000,
      "rows per keyset statement the poller and cwcachectl warm read (a warm-up's load or full "
      "pass reads them over pages of page_mb)"),
    U(write_txn_mb, "8", 1, 4096,
      "MiB of rows (or index entries) per write transaction of a warm-up pass: LMDB holds a transaction's pages in "
      "memory until it commits (and keeps them for the next), so this bounds the writer's heap"),
    U(page_mb, "1", 1, 4096,
      "MiB of rows per fetched page of a warm-up pass (a statement's batch_rows rows fill as many "
      "pages as they need); up to 4 pages are in flight between the fetch thread and the writer"),
    U(index_build_mb, "8", 1, 4096,
      "MiB of index entries sorted in memory when a model's indexes are built after its first "
      "load; more are sorted in runs spilled to an unnamed file in the data directory"),
    K(warm_retry_s, CONF_U32, NULL, false, "300", 0, 604800,
      "cwcachectl warm (--retry-for): how long the source may stay unreachable (a database "
      "restart) before the warm-up gives up, s; it reconnects with backoff and resumes from the "
      "cursor; 0: fail at once"),
    B(poll_summary, "true",
      "one query per poll asks every model for its row count and newest last-update: pages are "
      "read only for models that moved, and a count below the cache's finds deleted rows within "
      "a poll; false: every model is read at every poll and deletes wait for reconcile_s"),
    U(change_log_max_entries, "1000000", 1, UINT32_MAX,
      "changed rows the change log keeps for `since` and subscriptions; older ones answer RESYNC"),
    U(change_log_max_age_s, "86400", 1, UINT32_MAX,
      "seconds the change log keeps a change; older versions answer RESYNC"),
    U(max_staleness_s, "300", 1, UINT32_MAX,
      "ready (/readyz, /status, cwcachectl status) while every needed model is warm and matched the "
      "source at most this long ago, s"),
    B(poller, "true", "run the change poller; false: serve the cache as it is (cold models go live)"),
    K(log_level, CONF_LEVEL, NULL, true, "info", 0, 0, "least severe log lines written"),
    S(cors_origins, NULL, true, NULL, "comma-separated CORS allow-list (unset: echo any Origin)"),
    B(http_compression, "true",
      "gzip or deflate polling answers when the request accepts it, as engine.io's httpCompression"),
    U(http_compression_threshold, "1024", 0, UINT32_MAX,
      "polling answers smaller than this many bytes are sent uncompressed (engine.io's threshold)"),
    B(ws_permessage_deflate, "false",
      "offer permessage-deflate (RFC 7692) to websocket clients; off as in engine.io >= 4"),
    U(auth_delay_ms, "250", 0, UINT32_MAX, "first delay after repeated PSK failures, ms"),
    U(auth_delay_max_ms, "8000", 0, UINT32_MAX, "cap of that delay, ms"),
    U(shutdown_timeout_ms, "5000", 0, UINT32_MAX, "bounded wait for answers in flight on stop, ms"),
    S(port_file, NULL, true, NULL, "write the bound port to this file once listening (for port 0)"),
    B(insecure_no_psk, "false", "start without a PSK: every client is accepted"),
};

#define N_KEYS (sizeof keys / sizeof keys[0])

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int key_set(struct conf *c, const struct conf_key *k, const char *v, const char *what,
                   char *err, size_t errlen);

void conf_init(struct conf *c)
{
    *c = (struct conf){0};
    for (size_t i = 0; i < N_KEYS; i++) {
        char err[128];
        /* The defaults are part of the table: one that fails its own check
         * is a programming error. */
        if (keys[i].def && key_set(c, &keys[i], keys[i].def, keys[i].name, err, sizeof err) < 0)
            abort();
    }
}

void conf_fini(struct conf *c)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].type == CONF_STR || keys[i].type == CONF_LEVEL)
            free(*(char **)((char *)c + keys[i].off));
    free(c->config);
    *c = (struct conf){0};
}

static const struct conf_key *key_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
            return &keys[i];
    return NULL;
}

const char *conf_default(const char *key)
{
    const struct conf_key *k = key_find(key, strlen(key));
    return k ? k->def : NULL;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0)
            return *out = true, 0;
        if (strcmp(v, no[i]) == 0)
            return *out = false, 0;
    }
    return -EINVAL;
}

/* Errors read "<what>: expected ..., got ...": what names the key as the
 * source spells it (port, option --port, environment PORT). */
static int key_set(struct conf *c, const struct conf_key *k, const char *v, const char *what,
                   char *err, size_t errlen)
{
    void *p = (char *)c + k->off;
    uint64_t x;
    switch (k->type) {
    case CONF_LEVEL:
        if (log_level_parse(v) < 0) {
            errf(err, errlen, "%s: expected error, warn, info or debug, got \"%s\"", what, v);
            return -EINVAL;
        }
        /* fallthrough */
    case CONF_STR:
        free(*(char **)p);
        *(char **)p = xstrdup(v);
        return 0;
    case CONF_BOOL:
        if (parse_bool(v, p) < 0) {
            errf(err, errlen, "%s: expected true or false, got \"%s\"", what, v);
            return -EINVAL;
        }
        return 0;
    case CONF_U32:
    case CONF_U64:
        if (num_parse_u64(v, k->max, &x) < 0 || x < k->min) {
            errf(err, errlen, "%s: expected an integer from %" PRIu64 " to %" PRIu64 ", got \"%s\"",
                 what, k->min, k->max, v);
            return -EINVAL;
        }
        if (k->type == CONF_U32)
            *(unsigned *)p = (unsigned)x;
        else
            *(uint64_t *)p = x;
        return 0;
    }
    return -EINVAL;
}

int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errlen)
{
    const struct conf_key *k = key_find(key, strlen(key));
    if (!k) {
        errf(err, errlen, "unknown key \"%s\"", key);
        return -EINVAL;
    }
    return key_set(c, k, value, k->name, err, errlen);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* A value may be quoted ("..." or '...') to keep spaces or a '#'. */
static char *unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        v[n - 1] = '\0';
        return v + 1;
    }
    char *hash = strstr(v, " #");
    if (hash)
        *hash = '\0';
    return trim(v);
}

static int file_line(struct conf *c, const char *path, unsigned ln, char *line, char *err, size_t errlen)
{
    char *s = trim(line);
    if (!*s || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (!eq) {
        errf(err, errlen, "%s:%u: expected key = value", path, ln);
        return -EINVAL;
    }
    *eq = '\0';
    char *key = trim(s), *val = unquote(trim(eq + 1));
    char msg[256];
    if (conf_set(c, key, val, msg, sizeof msg) < 0) {
        errf(err, errlen, "%s:%u: %s", path, ln, msg);
        return -EINVAL;
    }
    return 0;
}

int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        errf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned ln = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0)
        rc = file_line(c, path, ++ln, line, err, errlen);
    free(line);
    fclose(f);
    return rc;
}

int conf_load_env(struct conf *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *v = keys[i].env ? getenv(keys[i].env) : NULL;
        if (!v || !*v)
            continue;
        char what[64];
        snprintf(what, sizeof what, "environment %s", keys[i].env);
        if (key_set(c, &keys[i], v, what, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}

/* "--data-dir" -> the key "data_dir"; NULL for anything else. */
static const struct conf_key *flag_find(const char *arg, const char **inline_val)
{
    char name[64];
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (n < 3 || n - 2 >= sizeof name || strncmp(arg, "--", 2))
        return NULL;
    for (size_t i = 2; i < n; i++)
        name[i - 2] = arg[i] == '-' ? '_' : arg[i];
    *inline_val = eq ? eq + 1 : NULL;
    const struct conf_key *k = key_find(name, n - 2);
    return k && k->flag ? k : NULL;
}

/* "--no-poller" -> the boolean key "poller"; NULL for anything else. */
static const struct conf_key *negated_find(const char *arg)
{
    char flag[64];
    if (strncmp(arg, "--no-", 5) || strchr(arg, '=') ||
        (size_t)snprintf(flag, sizeof flag, "--%s", arg + 5) >= sizeof flag)
        return NULL;
    const char *inline_val;
    const struct conf_key *k = flag_find(flag, &inline_val);
    return k && k->type == CONF_BOOL ? k : NULL;
}

int conf_set_flag(struct conf *c, const char *flag, const char *value, char *err, size_t errlen)
{
    const char *inline_val;
    const struct conf_key *k = flag_find(flag, &inline_val);
    if (!k || inline_val) {
        errf(err, errlen, "unknown option %s", flag);
        return -EINVAL;
    }
    return key_set(c, k, value, flag, err, errlen);
}

/* 1: --help or -h, 2: --help-markdown, 0: neither. */
static int help_asked(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
        if (!strcmp(argv[i], "--help-markdown"))
            return 2;
    }
    return 0;
}

int conf_load_args(struct conf *c, int argc, char **argv, char *err, size_t errlen)
{
    int help = help_asked(argc, argv);
    if (help)
        return help;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strncmp(a, "--config", 8) && (a[8] == '=' || !a[8])) {
            i += !a[8]; /* read by conf_load() */
            continue;
        }
        const struct conf_key *k = flag_find(a, &v);
        if (!k && (k = negated_find(a)))
            v = "false";
        if (!k) {
            errf(err, errlen, "unknown option %s (see --help)", a);
            return -EINVAL;
        }
        if (!v && k->type == CONF_BOOL && (i + 1 >= argc || parse_bool(argv[i + 1], &(bool){0}) < 0))
            v = "true"; /* a bare boolean flag */
        if (!v && i + 1 >= argc) {
            errf(err, errlen, "option %s needs a value", a);
            return -EINVAL;
        }
        if (!v)
            v = argv[++i];
        char what[80];
        snprintf(what, sizeof what, "option %.*s", (int)strcspn(a, "="), a);
        if (key_set(c, k, v, what, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}

/* What a single row's range cannot say. */
static int check(const struct conf *c, char *err, size_t errlen)
{
    if (!c->tls_cert != !c->tls_key) {
        errf(err, errlen, "tls_cert and tls_key go together");
        return -EINVAL;
    }
    return 0;
}

/* The value of --config FILE or --config=FILE; "" when --config ends argv. */
static const char *config_flag(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--config=", 9))
            return argv[i] + 9;
        if (!strcmp(argv[i], "--config"))
            return i + 1 < argc ? argv[i + 1] : "";
    }
    return NULL;
}

int conf_file_find(int argc, char **argv, const char **out, char *err, size_t errlen)
{
    const char *flag = config_flag(argc, argv), *env = getenv("CWCACHE_CONFIG");
    *out = NULL;
    if (flag && !*flag) {
        errf(err, errlen, "option --config needs a value");
        return -EINVAL;
    }
    if (flag || (env && *env)) {
        *out = flag ? flag : env;
        return 0;
    }
    /* The defaults are optional: a checkout runs without any file. */
    static const char *const defaults[] = {CONF_LOCAL_FILE, CONF_SYSTEM_FILE};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0] && !*out; i++)
        if (access(defaults[i], F_OK) == 0)
            *out = defaults[i];
    return 0;
}

int conf_load_shared(struct conf *c, int argc, char **argv, char *err, size_t errlen)
{
    const char *path;
    int rc = conf_file_find(argc, argv, &path, err, errlen);
    if (rc == 0 && path) {
        free(c->config);
        c->config = xstrdup(path);
        rc = conf_load_file(c, path, err, errlen);
    }
    return rc < 0 ? rc : conf_load_env(c, err, errlen);
}

int conf_load(struct conf *c, int argc, char **argv, char *err, size_t errlen)
{
    int help = help_asked(argc, argv);
    if (help)
        return help;
    int rc;
    if ((rc = conf_load_shared(c, argc, argv, err, errlen)) < 0 ||
        (rc = conf_load_args(c, argc, argv, err, errlen)) < 0)
        return rc;
    return check(c, err, errlen);
}

/* "--data-dir" for data_dir; "(psk)" for a key that is no flag. */
static void flag_name(const struct conf_key *k, char *out, size_t len)
{
    if (!k->flag) {
        snprintf(out, len, "(%s)", k->name);
        return;
    }
    snprintf(out, len, "--%s", k->name);
    for (char *p = out + 2; *p; p++)
        if (*p == '_')
            *p = '-';
}

/* "0-65535", "1 or more", "true or false", ...; "" for free text. */
static void range_text(const struct conf_key *k, char *out, size_t len)
{
    uint64_t top = k->type == CONF_U32 ? UINT32_MAX : UINT64_MAX;
    switch (k->type) {
    case CONF_STR: snprintf(out, len, "%s", ""); break;
    case CONF_BOOL: snprintf(out, len, "true or false"); break;
    case CONF_LEVEL: snprintf(out, len, "error, warn, info, debug"); break;
    case CONF_U32:
    case CONF_U64:
        if (k->max == top)
            snprintf(out, len, "%" PRIu64 " or more", k->min);
        else
            snprintf(out, len, "%" PRIu64 "-%" PRIu64, k->min, k->max);
        break;
    }
}

void conf_usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [--config FILE] [options]\n\n"
               "Socket.IO caching read replica of a ConnectWise Manage database.\n"
               "Precedence: flag > environment > config file > default.\n"
               "A true-or-false flag alone means true; --no-NAME means false.\n\n", prog);
    fprintf(f, "  %-24s %s\n", "--config FILE",
            "key = value file (keys as below, with '_'); else $CWCACHE_CONFIG, else "
            "./" CONF_LOCAL_FILE " or " CONF_SYSTEM_FILE " when present");
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct conf_key *k = &keys[i];
        char flag[64], range[64];
        flag_name(k, flag, sizeof flag);
        range_text(k, range, sizeof range);
        fprintf(f, "  %-24s %s", flag, k->help);
        if (k->def || *range)
            fprintf(f, " [%s%s%s%s]", k->def ? "default " : "", k->def ? k->def : "",
                    k->def && *range ? "; " : "", range);
        fprintf(f, "%s%s\n", k->env ? "; env " : "", k->env ? k->env : "");
    }
    fprintf(f, "  %-24s %s\n", "--help", "this text");
    fprintf(f, "  %-24s %s\n", "--help-markdown", "the keys as the table of docs/server.md");
}

void conf_markdown(FILE *f)
{
    fprintf(f, "| key (file) | flag | env | default | range | meaning |\n"
               "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct conf_key *k = &keys[i];
        char flag[64], range[64];
        flag_name(k, flag, sizeof flag);
        range_text(k, range, sizeof range);
        fprintf(f, "| `%s` | %s%s%s | %s%s%s | %s%s%s | %s | %s |\n", k->name,
                k->flag ? "`" : "", k->flag ? flag : "", k->flag ? "`" : "",
                k->env ? "`" : "", k->env ? k->env : "", k->env ? "`" : "",
                k->def ? "`" : "", k->def ? k->def : "", k->def ? "`" : "", range, k->help);
    }
}
