/*
 * Configuration through one key table (STYLE R9): each key has a type, a
 * place in struct conf, an optional environment variable and a help line.
 * The file parser, the environment and the flag parser all go through
 * conf_set(), so a key behaves the same from every source.
 */
#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum conf_type { CONF_STR, CONF_U32, CONF_PORT, CONF_U64, CONF_BOOL, CONF_LEVEL };

struct conf_key {
    const char *name;
    enum conf_type type;
    size_t off;
    const char *env;     /* environment variable, or NULL */
    bool flag;           /* settable as --name */
    const char *help;
};

#define K(n, t, env, flag, help) {#n, t, offsetof(struct conf, n), env, flag, help}

static const struct conf_key keys[] = {
    K(database_url, CONF_STR, "DATABASE_URL", true, "SQL Server URL (sqlserver://host:port;database=..;user=..;password=..)"),
    K(psk, CONF_STR, "PSK", false, "pre-shared key clients must present (environment or config file only)"),
    K(port, CONF_PORT, "PORT", true, "TCP port (3000; 0: any free port)"),
    K(bind, CONF_STR, NULL, true, "address or interface to listen on (all)"),
    K(data_dir, CONF_STR, NULL, true, "LMDB cache directory (./data)"),
    K(schema, CONF_STR, NULL, true, "schema file or directory (schema/)"),
    K(collectors, CONF_STR, NULL, true, "collector definitions directory (collectors/)"),
    K(tls_cert, CONF_STR, NULL, true, "PEM certificate: serve https/wss"),
    K(tls_key, CONF_STR, NULL, true, "PEM private key for --tls-cert"),
    K(ping_interval, CONF_U32, NULL, true, "Engine.IO pingInterval in ms (25000)"),
    K(ping_timeout, CONF_U32, NULL, true, "Engine.IO pingTimeout in ms (20000)"),
    K(connect_timeout, CONF_U32, NULL, true, "ms a session may stay without a CONNECT to / (45000; 0: no limit)"),
    K(max_payload, CONF_U64, NULL, true, "Engine.IO maxPayload in bytes (1000000)"),
    K(workers, CONF_U32, NULL, true, "query worker threads (2)"),
    K(live_pool, CONF_U32, NULL, true, "live fallback SQL connections (2)"),
    K(answer_cache_mb, CONF_U32, NULL, true, "MiB of rendered answers reused while the cache is unchanged (256; 0: off)"),
    K(poll_interval_ms, CONF_U32, NULL, true, "poller interval in ms (5000)"),
    K(poller, CONF_BOOL, NULL, true, "run the change poller (true); false: serve the cache as it is"),
    K(log_level, CONF_LEVEL, NULL, true, "error, warn, info or debug (info)"),
    K(cors_origins, CONF_STR, NULL, true, "comma-separated CORS allow-list (empty: echo any Origin)"),
    K(auth_delay_ms, CONF_U32, NULL, true, "first delay after repeated PSK failures, ms (250)"),
    K(auth_delay_max_ms, CONF_U32, NULL, true, "cap of that delay, ms (8000)"),
    K(shutdown_timeout_ms, CONF_U32, NULL, true, "bounded wait for in-flight answers on stop, ms (5000)"),
    K(port_file, CONF_STR, NULL, true, "write the bound port to this file once listening"),
    K(insecure_no_psk, CONF_BOOL, NULL, true, "start without a PSK: every client is accepted"),
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

void conf_init(struct conf *c)
{
    *c = (struct conf){
        .port = 3000,
        .data_dir = xstrdup("./data"),
        .schema = xstrdup("schema/"),
        .collectors = xstrdup("collectors/"),
        .ping_interval = 25000,
        .ping_timeout = 20000,
        .connect_timeout = 45000,
        .max_payload = 1000000,
        .workers = 2,
        .live_pool = 2,
        .answer_cache_mb = 256,
        .poll_interval_ms = 5000,
        .poller = true,
        .log_level = xstrdup("info"),
        .auth_delay_ms = 250,
        .auth_delay_max_ms = 8000,
        .shutdown_timeout_ms = 5000,
    };
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

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    char *e;
    if (!*v || *v == '-' || *v == '+')
        return -EINVAL;
    errno = 0;
    unsigned long long x = strtoull(v, &e, 10);
    if (errno || *e || x > max)
        return -EINVAL;
    *out = x;
    return 0;
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

static int key_set(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
    void *p = (char *)c + k->off;
    uint64_t x;
    switch (k->type) {
    case CONF_LEVEL:
        if (log_level_parse(v) < 0) {
            errf(err, errlen, "%s: expected error, warn, info or debug, got \"%s\"", k->name, v);
            return -EINVAL;
        }
        /* fallthrough */
    case CONF_STR:
        free(*(char **)p);
        *(char **)p = xstrdup(v);
        return 0;
    case CONF_BOOL:
        if (parse_bool(v, p) < 0) {
            errf(err, errlen, "%s: expected true or false, got \"%s\"", k->name, v);
            return -EINVAL;
        }
        return 0;
    case CONF_PORT:
    case CONF_U32:
        if (parse_u64(v, k->type == CONF_PORT ? 65535 : UINT_MAX, &x) < 0) {
            errf(err, errlen, "%s: expected %s, got \"%s\"", k->name,
                 k->type == CONF_PORT ? "a port number (0-65535)" : "a non-negative integer", v);
            return -EINVAL;
        }
        *(unsigned *)p = (unsigned)x;
        return 0;
    case CONF_U64:
        if (parse_u64(v, UINT64_MAX, &x) < 0) {
            errf(err, errlen, "%s: expected a non-negative integer, got \"%s\"", k->name, v);
            return -EINVAL;
        }
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
    return key_set(c, k, value, err, errlen);
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
        char msg[256];
        if (key_set(c, &keys[i], v, msg, sizeof msg) < 0) {
            errf(err, errlen, "environment %s: %s", keys[i].env, msg);
            return -EINVAL;
        }
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

static bool help_asked(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

int conf_load_args(struct conf *c, int argc, char **argv, char *err, size_t errlen)
{
    if (help_asked(argc, argv))
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strncmp(a, "--config", 8) && (a[8] == '=' || !a[8])) {
            i += !a[8]; /* read by conf_load() */
            continue;
        }
        const struct conf_key *k = flag_find(a, &v);
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
        char msg[256];
        if (key_set(c, k, v, msg, sizeof msg) < 0) {
            errf(err, errlen, "option --%s", msg);
            return -EINVAL;
        }
    }
    return 0;
}

static int check(const struct conf *c, char *err, size_t errlen)
{
    if (!c->ping_interval || !c->ping_timeout) {
        errf(err, errlen, "ping_interval and ping_timeout must be positive");
        return -EINVAL;
    }
    if (c->max_payload < 16 || !c->workers || c->workers > 256) {
        errf(err, errlen, "max_payload must be at least 16 and workers between 1 and 256");
        return -EINVAL;
    }
    if (!c->tls_cert != !c->tls_key) {
        errf(err, errlen, "tls_cert and tls_key go together");
        return -EINVAL;
    }
    return 0;
}

static const char *config_path(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--config=", 9))
            return argv[i] + 9;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            return argv[i + 1];
    }
    return NULL;
}

int conf_load(struct conf *c, int argc, char **argv, char *err, size_t errlen)
{
    if (help_asked(argc, argv))
        return 1;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 >= argc) {
            errf(err, errlen, "option --config needs a value");
            return -EINVAL;
        }
    const char *path = config_path(argc, argv);
    int rc;
    if (path) {
        free(c->config);
        c->config = xstrdup(path);
        if ((rc = conf_load_file(c, path, err, errlen)) < 0)
            return rc;
    }
    if ((rc = conf_load_env(c, err, errlen)) < 0 || (rc = conf_load_args(c, argc, argv, err, errlen)) < 0)
        return rc;
    return check(c, err, errlen);
}

void conf_usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [--config FILE] [options]\n\n"
               "Socket.IO caching read replica of a ConnectWise Manage database.\n"
               "Precedence: flag > environment > config file > default.\n\n", prog);
    fprintf(f, "  %-24s %s\n", "--config FILE", "key = value file (keys as below, with '_')");
    for (size_t i = 0; i < N_KEYS; i++) {
        char flag[64];
        if (keys[i].flag) {
            snprintf(flag, sizeof flag, "--%s", keys[i].name);
            for (char *p = flag + 2; *p; p++)
                if (*p == '_')
                    *p = '-';
        } else {
            snprintf(flag, sizeof flag, "(%s)", keys[i].name);
        }
        fprintf(f, "  %-24s %s%s%s\n", flag, keys[i].help, keys[i].env ? "; env " : "",
                keys[i].env ? keys[i].env : "");
    }
    fprintf(f, "  %-24s %s\n", "--help", "this text");
}
