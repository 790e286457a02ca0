/*
 * cwcachectl: the operators' tool for a cwcache data directory.
 *
 * DESIGN
 * Every command loads the same schema and collector definitions as the
 * server, so it names models and relations exactly as clients do, then opens
 * the LMDB environment. Only `warm` opens it read-write; every other command
 * is a read-only LMDB reader, which never blocks the server's poller and is
 * never blocked by it (MVCC). `warm` is a second writer when a server runs on
 * the same directory: LMDB serialises writers across processes, so it simply
 * waits for the write lock between the poller's batches.
 *
 * Exit codes: 0 success, 1 error (including "not healthy" for status and
 * "differences found" for verify), 2 usage (bad option, unknown command,
 * unknown model or relation, missing DATABASE_URL).
 *
 * Output: tables and results on stdout; warm-up progress, log lines and
 * errors on stderr, so `--json` output stays machine-readable.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cache/cache.h"
#include "clock.h"
#include "collector.h"
#include "conf.h"
#include "json.h"
#include "log.h"
#include "num.h"
#include "paths.h"
#include "poller/poller.h"
#include "schema.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

#define ERR_LEN 512
#define VERIFY_KEYS 5 /* poller_verify reports the first five keys of each kind */
#define RUNS_DEFAULT_N 20

/* Long-only option codes, above any character getopt returns. */
enum {
    OPT_CONFIG = 256,
    OPT_DATA_DIR,
    OPT_SCHEMA,
    OPT_COLLECTORS,
    OPT_DATABASE_URL,
    OPT_LOG_LEVEL,
    OPT_MAP_SIZE_MB,
    OPT_JSON,
    OPT_FULL,
    OPT_INCLUDE,
    OPT_BATCH_ROWS,
    OPT_RETRY_FOR,
    OPT_RECONCILE,
};

struct ctl {
    const char *cmd;
    struct conf cf; /* the server's keys: data_dir, schema, collectors, database_url, ... */
    struct schema *schema;
    struct collector_set cs;
    bool cs_loaded;
    bool *needed; /* schema->n_models flags: models a collector can reach */
    struct cache *cache;
    struct poller_db db;
    bool db_parsed;
};

/* ---- Messages ------------------------------------------------------------ */

static void errorf(const struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errorf(const struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cwcachectl: %s%s", c->cmd ? c->cmd : "", c->cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Prints the problem and the pointer to --help; returns the usage exit code. */
static int usagef(const struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usagef(const struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cwcachectl: %s%s", c->cmd ? c->cmd : "", c->cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'cwcachectl %s%s--help'.\n", c->cmd ? c->cmd : "", c->cmd ? " " : "");
    return EXIT_USAGE;
}

/* ---- Formatting ---------------------------------------------------------- */

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (at least 32 bytes). */
static void fmt_time_ms(char *out, size_t n, int64_t ms)
{
    struct buf b;
    buf_init(&b, 0);
    json_put_datetime_ms(&b, ms);
    /* The JSON writer quotes the value: drop the quotes. */
    snprintf(out, n, "%.*s", (int)(b.len - 2), (const char *)buf_data(&b) + 1);
    buf_fini(&b);
}

/* A duration in seconds, compact: "850ms", "42s", "3m04s", "2h05m", "3d04h". */
static void fmt_duration(char *out, size_t n, double s)
{
    if (s < 0)
        s = 0;
    uint64_t t = (uint64_t)s;
    if (s == 0)
        snprintf(out, n, "0s");
    else if (s < 1)
        snprintf(out, n, "%ums", (unsigned)(s * 1000));
    else if (t < 60)
        snprintf(out, n, "%.1fs", s);
    else if (t < 3600)
        snprintf(out, n, "%um%02us", (unsigned)(t / 60), (unsigned)(t % 60));
    else if (t < 86400)
        snprintf(out, n, "%uh%02um", (unsigned)(t / 3600), (unsigned)(t / 60 % 60));
    else
        snprintf(out, n, "%" PRIu64 "d%02uh", t / 86400, (unsigned)(t / 3600 % 24));
}

static const char *status_text(int32_t st)
{
    return st == 0 ? "ok" : strerror(-st);
}

static void buf_write_stdout(const struct buf *b)
{
    if (b->len)
        fwrite(buf_data(b), 1, b->len, stdout);
}

/* ---- Loading the definitions and the store -------------------------------- */

static int ctl_load(struct ctl *c)
{
    char err[ERR_LEN];
    int rc = schema_load(&c->schema, c->cf.schema, err, sizeof err);
    if (rc < 0) {
        errorf(c, "schema %s: %s (configuration: %s; name the server's with --config or "
                  "CWCACHE_CONFIG, or pass --schema)",
               c->cf.schema, err, c->cf.config ? c->cf.config : "none found");
        return EXIT_ERR;
    }
    rc = collector_set_load(&c->cs, c->cf.collectors, c->schema, err, sizeof err);
    if (rc < 0) {
        errorf(c, "collectors %s: %s", c->cf.collectors, err);
        return EXIT_ERR;
    }
    c->cs_loaded = true;
    c->needed = xcalloc(c->schema->n_models ? c->schema->n_models : 1, sizeof *c->needed);
    collector_set_models(&c->cs, c->schema, c->needed);
    return EXIT_OK;
}

/* A clear message for the data directory before LMDB gives a bare errno. */
static int data_dir_check(const struct ctl *c)
{
    struct stat st;
    if (stat(c->cf.data_dir, &st) < 0) {
        if (errno == ENOENT)
            errorf(c,
                   "data directory %s does not exist (configuration: %s; name the server's with "
                   "--config or CWCACHE_CONFIG, or pass --data-dir; or fill it with "
                   "'cwcachectl warm')",
                   c->cf.data_dir, c->cf.config ? c->cf.config : "none found");
        else
            errorf(c, "data directory %s: %s", c->cf.data_dir, strerror(errno));
        return EXIT_ERR;
    }
    if (!S_ISDIR(st.st_mode)) {
        errorf(c, "data directory %s is not a directory", c->cf.data_dir);
        return EXIT_ERR;
    }
    return EXIT_OK;
}

static int ctl_open(struct ctl *c, bool read_only)
{
    if (read_only && data_dir_check(c) != EXIT_OK)
        return EXIT_ERR;
    /* Readers map what the writer chose; a warm-up maps map_size_mb. */
    struct cache_opts o = {.path = c->cf.data_dir,
                           .map_size = read_only ? 0 : (size_t)c->cf.map_size_mb << 20,
                           .read_only = read_only,
                           .schema = c->schema,
                           .change_log_max_entries = c->cf.change_log_max_entries,
                           .change_log_max_age_s = c->cf.change_log_max_age_s};
    int rc = cache_open(&c->cache, &o);
    char why[CACHE_STRERROR_MAX];
    if (rc == -ENOENT)
        errorf(c,
               "%s is not a cwcache store (no LMDB environment in it; configuration: %s; name "
               "the server's with --config or CWCACHE_CONFIG, or fill it with 'cwcachectl warm')",
               c->cf.data_dir, c->cf.config ? c->cf.config : "none found");
    else if (rc == -EPROTO)
        errorf(c, "%s is not a cwcache store, or was made from an incompatible schema",
               c->cf.data_dir);
    else if (rc < 0)
        errorf(c, "cannot open the store in %s: %s", c->cf.data_dir,
               cache_strerror(NULL, rc, why, sizeof why));
    return rc < 0 ? EXIT_ERR : EXIT_OK;
}

/* DATABASE_URL: the option wins over the environment. */
static int ctl_db(struct ctl *c)
{
    const char *url = c->cf.database_url;
    if (!url || !*url)
        return usagef(c, "DATABASE_URL is not set (set it in the environment or pass "
                         "--database-url)");
    char err[ERR_LEN];
    if (poller_db_parse(&c->db, url, err, sizeof err) < 0)
        return usagef(c, "DATABASE_URL: %s", err);
    c->db_parsed = true;
    return EXIT_OK;
}

static void ctl_fini(struct ctl *c)
{
    cache_close(c->cache);
    if (c->db_parsed)
        poller_db_fini(&c->db);
    free(c->needed);
    if (c->cs_loaded)
        collector_set_fini(&c->cs);
    schema_free(c->schema);
    conf_fini(&c->cf);
}

/* Model names match exactly, then case-insensitively (operators type them). */
static const struct schema_model *model_lookup(const struct schema *s, const char *name)
{
    const struct schema_model *m = schema_model_find(s, name);
    for (size_t i = 0; !m && i < s->n_models; i++)
        if (strcasecmp(s->models[i].name, name) == 0)
            m = &s->models[i];
    return m;
}

static int model_unknown(const struct ctl *c, const char *name)
{
    struct buf known;
    buf_init(&known, 0);
    for (size_t i = 0; i < c->schema->n_models; i++)
        buf_printf(&known, "%s%s", i ? ", " : "", c->schema->models[i].name);
    buf_putc(&known, '\0');
    int rc = usagef(c, "unknown model '%s' (models: %s)", name, (const char *)buf_data(&known));
    buf_fini(&known);
    return rc;
}

/* Fills pick (n_models flags) from names, or from the collector models when
 * none is named (or every model when all_default). */
static int models_pick(const struct ctl *c, char **names, int n, bool all_default, bool *pick)
{
    for (size_t i = 0; i < c->schema->n_models; i++)
        pick[i] = n == 0 && (all_default || c->needed[i]);
    for (int i = 0; i < n; i++) {
        const struct schema_model *m = model_lookup(c->schema, names[i]);
        if (!m)
            return model_unknown(c, names[i]);
        pick[m->id] = true;
    }
    return EXIT_OK;
}

static int read_begin(struct ctl *c, struct cache_rd **rd)
{
    int rc = cache_rd_new(c->cache, rd);
    if (rc == 0)
        rc = cache_rd_begin(*rd);
    if (rc < 0) {
        char why[CACHE_STRERROR_MAX];
        errorf(c, "cannot start a read transaction: %s",
               cache_strerror(c->cache, rc, why, sizeof why));
        return EXIT_ERR;
    }
    return EXIT_OK;
}

static void read_end(struct cache_rd *rd)
{
    if (!rd)
        return;
    cache_rd_end(rd);
    cache_rd_free(rd);
}

/* ---- Options ------------------------------------------------------------- */

/* Accepted by every command, before or after its name; {0}-terminated. */
static const struct option global_longs[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"schema", required_argument, NULL, OPT_SCHEMA},
    {"collectors", required_argument, NULL, OPT_COLLECTORS},
    {"database-url", required_argument, NULL, OPT_DATABASE_URL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"map-size-mb", required_argument, NULL, OPT_MAP_SIZE_MB},
    {"help", no_argument, NULL, 'h'},
    {0},
};
#define N_GLOBAL_LONGS (sizeof global_longs / sizeof global_longs[0] - 1)

/* The defaults are the server's (conf.c's key table). */
static void global_help(void)
{
    printf("Global options (before or after the command):\n"
           "  --config FILE        the server's configuration (default: $CWCACHE_CONFIG, else\n"
           "                       ./cwcache.conf or %s when present); the options\n"
           "                       below override it\n"
           "  --data-dir DIR       the store (default %s)\n"
           "  --schema PATH        schema file or directory (default %s)\n"
           "  --collectors DIR     collector definitions (default %s)\n"
           "  --database-url URL   source database (default: $DATABASE_URL)\n"
           "  --log-level LEVEL    error, warn, info or debug (default %s)\n"
           "  --map-size-mb N      LMDB map size, MiB (default: $MAP_SIZE_MB, else %s)\n"
           "  -h, --help           this help\n",
           CONF_SYSTEM_FILE, conf_default("data_dir"), conf_default("schema"),
           conf_default("collectors"), conf_default("log_level"), conf_default("map_size_mb"));
}

/* Returned by option handlers to keep parsing; anything else is an exit code. */
#define OPTS_CONTINUE (-1)

/* The server's flag a global option is, or NULL. */
static const char *global_flag(int opt)
{
    switch (opt) {
    case OPT_DATA_DIR: return "--data-dir";
    case OPT_SCHEMA: return "--schema";
    case OPT_COLLECTORS: return "--collectors";
    case OPT_DATABASE_URL: return "--database-url";
    case OPT_LOG_LEVEL: return "--log-level";
    case OPT_MAP_SIZE_MB: return "--map-size-mb";
    default: return NULL;
    }
}

/* Handles a global option: false when opt is not one; *rc set to the outcome. */
static bool global_opt(struct ctl *c, int opt, const char *arg, int *rc)
{
    const char *flag = global_flag(opt);
    *rc = OPTS_CONTINUE;
    if (opt == OPT_CONFIG)
        return true; /* read before the options, by conf_load_shared() */
    if (!flag)
        return false;
    char err[ERR_LEN];
    if (conf_set_flag(&c->cf, flag, arg, err, sizeof err) < 0)
        *rc = usagef(c, "%s", err);
    else if (opt == OPT_LOG_LEVEL)
        log_level = (enum log_level)log_level_parse(arg);
    return true;
}

/* getopt's '?' (unknown) or ':' (value missing). optopt holds a short
 * option's letter; for a long option it is 0 or the option's code (>= 256
 * here), and the word getopt just consumed names it. */
static int bad_option(const struct ctl *c, int opt, const char *word)
{
    char shortopt[3] = {'-', (char)optopt, '\0'};
    const char *name = optopt > 0 && optopt < 128 && isalnum(optopt) ? shortopt : word;
    if (opt == ':')
        return usagef(c, "option '%s' needs a value", name);
    return usagef(c, "unknown option '%s'", name);
}

/* A command's own options: shorts for getopt, longs, and a handler that
 * returns OPTS_CONTINUE or an exit code. */
typedef int (*own_opt_fn)(struct ctl *c, int opt, const char *arg, void *st);
struct cmd_opts {
    const char *shorts;
    const struct option *longs;
    size_t n_longs;
    own_opt_fn fn;
};

struct cmd {
    const char *name;
    int (*fn)(struct ctl *c, const struct cmd *cmd, int argc, char **argv);
    const char *summary;
    const char *help;
};

/* Parses argv (argv[0] is the command) with the global options and the
 * command's own. Positional arguments end up in argv[*first..argc-1] (glibc
 * permutes them to the end). Returns OPTS_CONTINUE or an exit code (0 after
 * printing --help). */
static int opts_parse(struct ctl *c, const struct cmd *cmd, int argc, char **argv,
                      const struct cmd_opts *own, void *st, int *first)
{
    size_t n_global = N_GLOBAL_LONGS;
    struct option all[24];
    size_t n_own = own ? own->n_longs : 0;
    assert(n_global + n_own < sizeof all / sizeof all[0]);
    memcpy(all, global_longs, n_global * sizeof *all);
    if (n_own)
        memcpy(all + n_global, own->longs, n_own * sizeof *all);
    memset(&all[n_global + n_own], 0, sizeof *all);
    char shorts[32];
    snprintf(shorts, sizeof shorts, ":h%s", own && own->shorts ? own->shorts : "");
    bool help = false;
    int opt, rc = OPTS_CONTINUE;
    optind = 0; /* glibc: re-initialise getopt for this command's argv */
    opterr = 0; /* we print our own messages */
    while (rc == OPTS_CONTINUE && (opt = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
        if (opt == 'h')
            help = true;
        else if (opt == '?' || opt == ':')
            rc = bad_option(c, opt, argv[optind - 1]);
        else if (!global_opt(c, opt, optarg, &rc))
            rc = own && own->fn ? own->fn(c, opt, optarg, st) : usagef(c, "unknown option");
    }
    if (rc == OPTS_CONTINUE && help) {
        printf("%s\n", cmd->help);
        global_help();
        rc = EXIT_OK;
    }
    *first = optind;
    return rc;
}

/* ---- status -------------------------------------------------------------- */

/* The time and max_staleness_s readiness is judged against. */
static struct cache_report_clock report_clock(const struct ctl *c)
{
    return (struct cache_report_clock){.now_ms = clock_wall_ms(),
                                       .max_staleness_ms = (int64_t)c->cf.max_staleness_s * 1000};
}

static void status_row_text(const struct schema_model *mo, const struct cache_meta *m, bool needed,
                            const struct cache_report_clock *k)
{
    char cursor[80] = "-", lag[24] = "-", stale[32] = "never", run[80] = "-", t[40], d[24];
    if (m->cursor.set) {
        fmt_time_ms(t, sizeof t, cache_ticks_ms(m->cursor.ts));
        /* Z only on UTC columns; the others hold the source server's local time. */
        if (!cache_cursor_utc(mo))
            t[strlen(t) - 1] = '\0';
        snprintf(cursor, sizeof cursor, "%s%s#%" PRIu64, t, cache_cursor_utc(mo) ? "" : " local",
                 m->cursor.pk);
    }
    double l;
    if (cache_meta_lag_s(m, &l))
        fmt_duration(lag, sizeof lag, l);
    if (cache_meta_staleness_s(m, k->now_ms, &l)) {
        fmt_duration(d, sizeof d, l);
        snprintf(stale, sizeof stale, "%s ago", d);
    }
    if (m->last_run_end_ms) {
        fmt_time_ms(t, sizeof t, m->last_run_end_ms);
        fmt_duration(d, sizeof d, (double)(m->last_run_end_ms - m->last_run_start_ms) / 1e3);
        snprintf(run, sizeof run, "%s(%s)", t, d);
    }
    const char *result = cache_meta_status_name(m);
    printf("%-28s %c %-7s %10" PRIu64 " %-36s %8s %-10s %-34s %-6s %s\n", mo->name,
           needed ? '*' : ' ', cache_state_name(m->state), m->rows, cursor, lag, stale, run,
           result ? result : "-", cache_meta_error(m));
}

/* "source: reachable; last successful poll ..." or why it is not. */
static void source_text(const struct cache_health *s, int64_t last_ok_ms)
{
    char since[40] = "", last[40] = "never";
    if (s->known)
        fmt_time_ms(since, sizeof since, s->since_ms);
    if (last_ok_ms)
        fmt_time_ms(last, sizeof last, last_ok_ms);
    if (!s->known)
        printf("source: state unknown (no server's poller has run); last successful poll %s\n",
               last);
    else if (s->up)
        printf("source: reachable since %s; last successful poll %s\n", since, last);
    else
        printf("source: UNREACHABLE since %s: %s; last successful poll %s\n", since, s->error, last);
}

static void status_sum_print(const struct cache_report_sum *s, const struct cache_health *src,
                             bool json, struct buf *b)
{
    if (json) {
        buf_puts(b, "],\"source\":");
        cache_report_health_json(b, src, s->last_ok_ms);
        buf_puts(b, ",\"summary\":");
        cache_report_summary_json(b, s);
        buf_puts(b, "}\n");
        return;
    }
    printf("%zu models: %zu warm, %zu warming, %zu cold, %zu failed; %" PRIu64 " rows; %s\n",
           s->models, s->by_state[CACHE_WARM], s->by_state[CACHE_WARMING], s->by_state[CACHE_COLD],
           s->failed, s->rows,
           s->not_ready ? "NOT READY: a model needed by a collector (*) is not warm, or did not "
                          "match the source within max_staleness_s"
                        : "ready");
    source_text(src, s->last_ok_ms);
}

struct flag_st {
    bool json;
};

static int flag_json_opt(struct ctl *c, int opt, const char *arg, void *st)
{
    (void)c, (void)arg;
    if (opt == OPT_JSON)
        ((struct flag_st *)st)->json = true;
    return OPTS_CONTINUE;
}

static const struct option json_longs[] = {{"json", no_argument, NULL, OPT_JSON}};
static const struct cmd_opts json_opts = {"", json_longs, 1, flag_json_opt};

static int status_walk(struct ctl *c, struct cache_rd *rd, const bool *pick, bool json)
{
    struct cache_report_sum sum = {0};
    struct cache_report_clock k = report_clock(c);
    struct cache_health src;
    struct buf b;
    buf_init(&b, 0);
    if (json)
        buf_puts(&b, "{\"models\":[");
    else
        printf("%-28s %c %-7s %10s %-36s %8s %-10s %-34s %-6s %s\n", "MODEL", ' ', "STATE", "ROWS",
               "CURSOR (LAST UPDATE#RECID; Z: UTC)", "LAG", "MATCHED", "LAST RUN (DURATION)",
               "RESULT", "ERROR");
    int rc = cache_health_get(rd, &src) < 0 ? (errorf(c, "cannot read the source record"), EXIT_ERR)
                                            : EXIT_OK;
    for (size_t i = 0; i < c->schema->n_models && rc == EXIT_OK; i++) {
        const struct schema_model *mo = &c->schema->models[i];
        struct cache_meta m;
        if (!pick[i])
            continue;
        int r = cache_meta_get(rd, mo, &m);
        if (r < 0) {
            errorf(c, "%s: cannot read meta: %s", mo->name, strerror(-r));
            rc = EXIT_ERR;
            break;
        }
        if (json) {
            if (sum.models)
                buf_putc(&b, ',');
            cache_report_model_json(&b, mo, &m, c->needed[i], &k);
        } else {
            status_row_text(mo, &m, c->needed[i], &k);
        }
        cache_report_sum_add(&sum, &m, c->needed[i], &k);
    }
    if (rc == EXIT_OK) {
        status_sum_print(&sum, &src, json, &b);
        buf_write_stdout(&b);
        rc = sum.not_ready ? EXIT_ERR : EXIT_OK;
    }
    buf_fini(&b);
    return rc;
}

/* Parses options, loads the definitions and opens the store: OPTS_CONTINUE
 * or an exit code. */
static int cmd_begin(struct ctl *c, const struct cmd *cmd, int argc, char **argv,
                     const struct cmd_opts *own, void *st, int *first, bool read_only)
{
    int rc = opts_parse(c, cmd, argc, argv, own, st, first);
    if (rc != OPTS_CONTINUE)
        return rc;
    if ((rc = ctl_load(c)) != EXIT_OK || (rc = ctl_open(c, read_only)) != EXIT_OK)
        return rc;
    return OPTS_CONTINUE;
}

static int cmd_status(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
    struct flag_st st = {0};
    int first, rc = cmd_begin(c, cmd, argc, argv, &json_opts, &st, &first, true);
    if (rc != OPTS_CONTINUE)
        return rc;
    bool *pick = xcalloc(c->schema->n_models + 1, sizeof *pick);
    struct cache_rd *rd = NULL;
    rc = models_pick(c, argv + first, argc - first, true, pick);
    if (rc == EXIT_OK && (rc = read_begin(c, &rd)) == EXIT_OK)
        rc = status_walk(c, rd, pick, st.json);
    read_end(rd);
    free(pick);
    return rc;
}

/* ---- runs ---------------------------------------------------------------- */

struct run_item {
    const struct schema_model *model;
    struct cache_run run;
};

struct runs_st {
    bool json;
    uint64_t n;
    struct run_item *items;
    size_t len, cap;
    const struct schema_model *model; /* filled while walking one model */
};

static int runs_opt(struct ctl *c, int opt, const char *arg, void *stp)
{
    struct runs_st *st = stp;
    if (opt == OPT_JSON) {
        st->json = true;
    } else if (opt == 'n') {
        if (num_parse_u64(arg, UINT64_MAX, &st->n) < 0 || st->n == 0)
            return usagef(c, "-n: '%s' is not a positive number", arg);
    }
    return OPTS_CONTINUE;
}

static int runs_collect(void *arg, const struct cache_run *r)
{
    struct runs_st *st = arg;
    if (st->len == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        st->items = xrealloc(st->items, st->cap * sizeof *st->items);
    }
    st->items[st->len++] = (struct run_item){st->model, *r};
    return 0;
}

/* Newest first across models; ties by model name for a stable order. */
static int run_item_cmp(const void *a, const void *b)
{
    const struct run_item *x = a, *y = b;
    if (x->run.start_ms != y->run.start_ms)
        return x->run.start_ms > y->run.start_ms ? -1 : 1;
    return strcmp(x->model->name, y->model->name);
}

static void run_print_text(const struct run_item *it)
{
    char t[40], d[24], note[64] = "";
    fmt_time_ms(t, sizeof t, it->run.start_ms);
    fmt_duration(d, sizeof d, (double)(it->run.end_ms - it->run.start_ms) / 1e3);
    if (it->run.stalled)
        snprintf(note, sizeof note, "%" PRIu64 " stalled page(s) recovered", it->run.stalled);
    printf("%-24s %-28s %-9s %8s %7" PRIu32 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %8" PRIu64
           " %-6s %s\n",
           t, it->model->name, it->run.kind, d, it->run.polls, it->run.read, it->run.applied,
           it->run.skipped, it->run.deleted, it->run.status ? "failed" : "ok",
           it->run.status ? (it->run.error[0] ? it->run.error : status_text(it->run.status)) : note);
}

static void run_put_json(struct buf *b, const struct run_item *it)
{
    const struct cache_run *r = &it->run;
    buf_puts(b, "{\"model\":");
    json_put_cstr(b, it->model->name);
    buf_puts(b, ",\"kind\":");
    json_put_str(b, r->kind, strnlen(r->kind, sizeof r->kind));
    buf_puts(b, ",\"start\":");
    json_put_datetime_ms(b, r->start_ms);
    buf_puts(b, ",\"end\":");
    json_put_datetime_ms(b, r->end_ms);
    buf_puts(b, ",\"durationMs\":");
    json_put_i64(b, r->end_ms - r->start_ms);
    buf_puts(b, ",\"polls\":");
    json_put_u64(b, r->polls);
    buf_puts(b, ",\"read\":");
    json_put_u64(b, r->read);
    buf_puts(b, ",\"applied\":");
    json_put_u64(b, r->applied);
    buf_puts(b, ",\"skipped\":");
    json_put_u64(b, r->skipped);
    buf_puts(b, ",\"deleted\":");
    json_put_u64(b, r->deleted);
    buf_puts(b, ",\"stalled\":");
    json_put_u64(b, r->stalled);
    buf_printf(b, ",\"status\":\"%s\",\"error\":", r->status ? "failed" : "ok");
    json_put_cstr(b, r->status ? (r->error[0] ? r->error : status_text(r->status)) : "");
    buf_putc(b, '}');
}

static void runs_print(struct runs_st *st)
{
    qsort(st->items, st->len, sizeof *st->items, run_item_cmp);
    size_t n = st->len < st->n ? st->len : (size_t)st->n;
    if (!st->json) {
        printf("%-24s %-28s %-9s %8s %7s %10s %10s %10s %8s %-6s %s\n", "START", "MODEL", "KIND",
               "DURATION", "POLLS", "READ", "APPLIED", "SKIPPED", "DELETED", "RESULT", "ERROR");
        for (size_t i = 0; i < n; i++)
            run_print_text(&st->items[i]);
        return;
    }
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&b, ',');
        run_put_json(&b, &st->items[i]);
    }
    buf_puts(&b, "]\n");
    buf_write_stdout(&b);
    buf_fini(&b);
}

static int cmd_runs(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
    static const struct option longs[] = {{"json", no_argument, NULL, OPT_JSON}};
    static const struct cmd_opts own = {"n:", longs, 1, runs_opt};
    struct runs_st st = {.n = RUNS_DEFAULT_N};
    int first, rc = cmd_begin(c, cmd, argc, argv, &own, &st, &first, true);
    if (rc != OPTS_CONTINUE)
        return rc;
    if (argc - first > 1)
        return usagef(c, "at most one MODEL");
    bool *pick = xcalloc(c->schema->n_models + 1, sizeof *pick);
    struct cache_rd *rd = NULL;
    rc = models_pick(c, argv + first, argc - first, true, pick);
    if (rc == EXIT_OK)
        rc = read_begin(c, &rd);
    for (size_t i = 0; rc == EXIT_OK && i < c->schema->n_models; i++) {
        if (!pick[i])
            continue;
        st.model = &c->schema->models[i];
        /* Each model's newest n are enough for the newest n overall. */
        int r = cache_runs(rd, st.model, (size_t)st.n, runs_collect, &st);
        if (r < 0) {
            errorf(c, "%s: cannot read the run history: %s", st.model->name, strerror(-r));
            rc = EXIT_ERR;
        }
    }
    if (rc == EXIT_OK)
        runs_print(&st);
    read_end(rd);
    free(st.items);
    free(pick);
    return rc;
}

/* ---- get ----------------------------------------------------------------- */

struct get_st {
    const char *include;
};

static int get_opt(struct ctl *c, int opt, const char *arg, void *stp)
{
    (void)c;
    if (opt == OPT_INCLUDE)
        ((struct get_st *)stp)->include = arg;
    return OPTS_CONTINUE;
}

/* Adds one dotted include path ("subcategory.category") to the include
 * object, nesting {"include": {...}} as a client would write it. */
static void include_path_add(json_t *inc, const char *path)
{
    for (const char *p = path;;) {
        const char *dot = strchr(p, '.');
        char *seg = xstrndup(p, dot ? (size_t)(dot - p) : strlen(p));
        json_t *node = json_object_get(inc, seg);
        if (!dot) {
            if (!node)
                json_object_set_new(inc, seg, json_true());
            free(seg);
            return;
        }
        if (!json_is_object(node)) {
            node = json_object();
            json_object_set_new(node, "include", json_object());
            json_object_set_new(inc, seg, node);
        }
        free(seg);
        inc = json_object_get(node, "include");
        p = dot + 1;
    }
}

/* The request options a client would send for --include a,b.c (NULL: none). */
static json_t *include_opts(const char *list)
{
    if (!list)
        return NULL;
    json_t *inc = json_object();
    char *copy = xstrdup(list), *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
        if (*p)
            include_path_add(inc, p);
    free(copy);
    json_t *opts = json_object();
    json_object_set_new(opts, "include", inc);
    return opts;
}

/* The LMDB source narrowed to one root row: the query engine renders
 * exactly what the server would send for that record, includes and all. */
struct one_row {
    struct cache_source lmdb;
    const struct schema_model *root;
    uint64_t pk;
};

static int one_get(void *ctx, const struct schema_model *m, uint64_t pk, struct slice *row)
{
    struct one_row *o = ctx;
    return o->lmdb.ops->get(o->lmdb.ctx, m, pk, row);
}

static int one_scan(void *ctx, const struct schema_model *m, cache_row_cb cb, void *arg)
{
    struct one_row *o = ctx;
    if (m != o->root)
        return o->lmdb.ops->scan(o->lmdb.ctx, m, cb, arg);
    struct slice row;
    int rc = o->lmdb.ops->get(o->lmdb.ctx, m, o->pk, &row);
    if (rc == -ENOENT)
        return 0;
    return rc < 0 ? rc : cb(arg, row);
}

static int one_children(void *ctx, const struct schema_relation *r, int64_t fk, cache_row_cb cb,
                        void *arg)
{
    struct one_row *o = ctx;
    return o->lmdb.ops->children(o->lmdb.ctx, r, fk, cb, arg);
}

static const struct cache_source_ops one_row_ops = {one_get, one_scan, one_children};

/* Renders the record into out as the server's `data` array holds it. */
static int get_render(struct ctl *c, const struct schema_model *m, uint64_t pk, const char *include,
                      struct buf *out)
{
    char event[] = "cwcachectl-get", err[ERR_LEN];
    struct collector col = {.event = event, .model = m};
    struct cache_plan plan;
    json_t *opts = include_opts(include);
    int rc = cache_plan_parse(&plan, &col, opts, err, sizeof err);
    json_decref(opts);
    if (rc < 0)
        return rc == -EINVAL ? usagef(c, "--include: %s", err)
                             : (errorf(c, "cannot plan the query: %s", strerror(-rc)), EXIT_ERR);
    struct cache_rd *rd = NULL;
    if ((rc = read_begin(c, &rd)) == EXIT_OK) {
        struct one_row one = {cache_source_lmdb(rd), m, pk};
        struct cache_source src = {&one_row_ops, &one};
        int r = cache_query_render(&plan, &src, out, 0, NULL);
        if (r < 0) {
            errorf(c, "%s %" PRIu64 ": cannot render: %s", m->name, pk, strerror(-r));
            rc = EXIT_ERR;
        }
    }
    read_end(rd);
    cache_plan_fini(&plan);
    return rc;
}

static int cmd_get(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
    static const struct option longs[] = {{"include", required_argument, NULL, OPT_INCLUDE}};
    static const struct cmd_opts own = {"", longs, 1, get_opt};
    struct get_st st = {0};
    int first, rc = opts_parse(c, cmd, argc, argv, &own, &st, &first);
    if (rc != OPTS_CONTINUE)
        return rc;
    uint64_t pk;
    if (argc - first != 2)
        return usagef(c, "expected MODEL RECID");
    if (num_parse_u64(argv[first + 1], UINT64_MAX, &pk) < 0)
        return usagef(c, "RECID '%s' is not a non-negative integer", argv[first + 1]);
    if ((rc = ctl_load(c)) != EXIT_OK)
        return rc;
    const struct schema_model *m = model_lookup(c->schema, argv[first]);
    if (!m)
        return model_unknown(c, argv[first]);
    if ((rc = ctl_open(c, true)) != EXIT_OK)
        return rc;
    struct buf out;
    buf_init(&out, 0);
    rc = get_render(c, m, pk, st.include, &out);
    /* The render is the data array "[...]": one record, or "[]" for a miss. */
    if (rc == EXIT_OK && out.len <= 2) {
        errorf(c, "%s %" PRIu64 ": not in the cache", m->name, pk);
        rc = EXIT_ERR;
    } else if (rc == EXIT_OK) {
        fwrite(buf_data(&out) + 1, 1, out.len - 2, stdout);
        fputc('\n', stdout);
    }
    buf_fini(&out);
    return rc;
}

/* ---- verify -------------------------------------------------------------- */

static void keys_print(const char *what, uint64_t count, const uint64_t *keys)
{
    if (!count)
        return;
    printf("  %s:", what);
    for (uint64_t i = 0; i < count && i < VERIFY_KEYS; i++)
        printf(" %" PRIu64, keys[i]);
    printf("%s\n", count > VERIFY_KEYS ? " ..." : "");
}

/* "missing":N,"firstMissing":[...]: camelCase, as every key cwcachectl prints. */
static void keys_put_json(struct buf *b, const char *what, const char *first, uint64_t count,
                          const uint64_t *keys)
{
    buf_printf(b, ",\"%s\":", what);
    json_put_u64(b, count);
    buf_printf(b, ",\"%s\":[", first);
    for (uint64_t i = 0; i < count && i < VERIFY_KEYS; i++) {
        if (i)
            buf_putc(b, ',');
        json_put_u64(b, keys[i]);
    }
    buf_putc(b, ']');
}

static bool verify_equal(const struct poller_verify_result *r)
{
    return r->missing == 0 && r->extra == 0 && r->different == 0;
}

/* One line per model, flushed as soon as the model is done, so a long
 * verification shows its progress in a pipe too. */
static void verify_report(const struct schema_model *m, const struct poller_verify_result *r,
                          double secs, bool json)
{
    if (json) {
        struct buf b;
        buf_init(&b, 0);
        buf_puts(&b, "{\"model\":");
        json_put_cstr(&b, m->name);
        buf_printf(&b, ",\"equal\":%s,\"compared\":", verify_equal(r) ? "true" : "false");
        json_put_u64(&b, r->compared);
        keys_put_json(&b, "missing", "firstMissing", r->missing, r->first_missing);
        keys_put_json(&b, "extra", "firstExtra", r->extra, r->first_extra);
        keys_put_json(&b, "different", "firstDifferent", r->different, r->first_different);
        buf_puts(&b, ",\"seconds\":");
        json_put_double(&b, secs);
        buf_puts(&b, "}\n");
        buf_write_stdout(&b);
        buf_fini(&b);
    } else {
        printf("%s: %s: %" PRIu64 " compared, %" PRIu64 " missing, %" PRIu64 " extra, %" PRIu64
               " different (%.1fs)\n",
               m->name, verify_equal(r) ? "equal" : "DIFFERENT", r->compared, r->missing, r->extra,
               r->different, secs);
        keys_print("missing from the cache", r->missing, r->first_missing);
        keys_print("extra in the cache", r->extra, r->first_extra);
        keys_print("different", r->different, r->first_different);
    }
    fflush(stdout);
}

/* One login for every model (a login to a real server costs ~250 ms). */
static int verify_models(struct ctl *c, const bool *pick, bool json)
{
    size_t checked = 0, differ = 0, failed = 0;
    struct poller_verify *v;
    char err0[ERR_LEN] = "";
    if (poller_verify_new(&v, &c->db, c->cache, err0, sizeof err0) < 0) {
        errorf(c, "%s", err0);
        return EXIT_ERR;
    }
    for (size_t i = 0; i < c->schema->n_models; i++) {
        const struct schema_model *m = &c->schema->models[i];
        struct poller_verify_result r;
        char err[ERR_LEN] = "";
        if (!pick[i])
            continue;
        double t0 = clock_mono_s();
        memset(&r, 0, sizeof r);
        int rc = poller_verify_model(v, m, &r, err, sizeof err);
        checked++;
        if (rc < 0) {
            errorf(c, "%s: %s", m->name, err[0] ? err : strerror(-rc));
            failed++;
            continue;
        }
        differ += !verify_equal(&r);
        verify_report(m, &r, clock_mono_s() - t0, json);
    }
    poller_verify_free(v);
    if (!json)
        printf("verify: %zu models checked, %zu equal, %zu different, %zu failed\n", checked,
               checked - differ - failed, differ, failed);
    return differ || failed ? EXIT_ERR : EXIT_OK;
}

/* For the commands that read the source (verify, warm): parses options, then
 * needs the database URL and the definitions, picks the models named (the
 * collectors' models when none is) and opens the store, in that order, so a
 * wrong command line fails before anything slow. OPTS_CONTINUE or an exit
 * code; *pick, once allocated, is the caller's to free. */
static int cmd_begin_source(struct ctl *c, const struct cmd *cmd, int argc, char **argv,
                            const struct cmd_opts *own, void *st, bool read_only, bool **pick)
{
    int first, rc = opts_parse(c, cmd, argc, argv, own, st, &first);
    if (rc != OPTS_CONTINUE)
        return rc;
    if ((rc = ctl_db(c)) != EXIT_OK || (rc = ctl_load(c)) != EXIT_OK)
        return rc;
    *pick = xcalloc(c->schema->n_models + 1, sizeof **pick);
    if ((rc = models_pick(c, argv + first, argc - first, false, *pick)) != EXIT_OK ||
        (rc = ctl_open(c, read_only)) != EXIT_OK)
        return rc;
    return OPTS_CONTINUE;
}

static int cmd_verify(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
    struct flag_st st = {0};
    bool *pick = NULL;
    int rc = cmd_begin_source(c, cmd, argc, argv, &json_opts, &st, true, &pick);
    if (rc == OPTS_CONTINUE)
        rc = verify_models(c, pick, st.json);
    free(pick);
    return rc;
}

/* ---- warm ---------------------------------------------------------------- */

/* Set by SIGINT/SIGTERM; poller_warm polls it between batches. */
static volatile bool warm_stop;

static void warm_on_signal(int sig)
{
    (void)sig;
    warm_stop = true;
}

/* SA_RESETHAND: a second Ctrl-C kills at once, which LMDB survives (the
 * open write transaction is simply lost). No SA_RESTART, so a blocking read
 * returns early and the stop flag is seen sooner. */
static void warm_signals_install(void)
{
    struct sigaction sa = {.sa_handler = warm_on_signal, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

#define PROGRESS_TTY_EVERY_S 0.1 /* redraws per second on a terminal */
#define PROGRESS_LOG_EVERY_S 5.0 /* log lines when not a terminal (cron, Kubernetes) */
#define PROGRESS_BAR_WIDTH 30

struct warm_progress {
    bool tty;
    const struct schema_model *cur; /* the model being shown */
    double mark;                    /* when the previous model finished */
    double start, last_shown;
    uint64_t done; /* rows of cur so far */
    size_t models_done, models_total;
    uint64_t rows_done; /* sum over finished models */
};

static void progress_figures(const struct warm_progress *p, uint64_t done, uint64_t total,
                             double *rate, char *eta, size_t n)
{
    double el = clock_mono_s() - p->start;
    *rate = el > 0 ? (double)done / el : 0;
    if (total > done && *rate > 0)
        fmt_duration(eta, n, (double)(total - done) / *rate);
    else
        snprintf(eta, n, "-");
}

static void progress_draw_tty(const struct warm_progress *p, uint64_t done, uint64_t total)
{
    char bar[PROGRESS_BAR_WIDTH + 1], eta[24];
    double rate, frac = total ? (double)done / (double)total : 0;
    if (frac > 1)
        frac = 1;
    int fill = (int)(frac * PROGRESS_BAR_WIDTH);
    for (int i = 0; i < PROGRESS_BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[PROGRESS_BAR_WIDTH] = '\0';
    progress_figures(p, done, total, &rate, eta, sizeof eta);
    /* \r and erase-to-end-of-line redraw the same line in place. */
    fprintf(stderr,
            "\r[%zu/%zu] %-24s [%s] %" PRIu64 "/%" PRIu64 " %5.1f%% %.0f rows/s ETA %s\033[K",
            p->models_done + 1, p->models_total, p->cur->name, bar, done, total, frac * 100, rate,
            eta);
}

static void progress_log(const struct warm_progress *p, uint64_t done, uint64_t total)
{
    char eta[24];
    double rate;
    progress_figures(p, done, total, &rate, eta, sizeof eta);
    log_info(LOG_TOOL,
             "warm: model %zu of %zu, %s: %" PRIu64 "/%" PRIu64 " rows (%.1f%%), %.0f rows/s, "
             "ETA %s",
             p->models_done + 1, p->models_total, p->cur->name, done, total,
             total ? 100.0 * (double)done / (double)total : 0.0, rate, eta);
}

static void progress_finish(struct warm_progress *p, uint64_t done)
{
    double el = clock_mono_s() - p->start;
    char d[24];
    fmt_duration(d, sizeof d, el);
    if (p->tty)
        fprintf(stderr, "\r[%zu/%zu] %-24s done: %" PRIu64 " rows in %s (%.0f rows/s)\033[K\n",
                p->models_done + 1, p->models_total, p->cur->name, done, d,
                el > 0 ? (double)done / el : 0.0);
    else
        log_info(LOG_TOOL, "warm: model %zu of %zu, %s: done: %" PRIu64 " rows in %s",
                 p->models_done + 1, p->models_total, p->cur->name, done, d);
    p->models_done++;
    p->rows_done += done;
    p->cur = NULL;
}

static void warm_progress_cb(void *arg, const struct schema_model *m, uint64_t done, uint64_t total,
                             bool finished)
{
    struct warm_progress *p = arg;
    double now = clock_mono_s();
    if (p->cur != m) {
        if (p->cur && p->tty)
            fputc('\n', stderr); /* another model's unfinished line stays as it was */
        p->cur = m;
        /* The model started when the previous one finished (or the warm-up
         * began): its first callback only comes after its first batch. */
        p->start = p->mark;
        p->last_shown = p->tty ? 0 : now;
        p->done = 0;
    }
    /* Later passes (delete reconciliation) count from zero again: keep the
     * rows of the copying pass. */
    if (done > p->done)
        p->done = done;
    /* Every batch at debug level: scripts can follow the warm-up step by step. */
    log_debug(LOG_TOOL, "warm: %s: batch: %" PRIu64 "/%" PRIu64 "%s", m->name, done, total,
              finished ? " finished" : "");
    if (finished) {
        progress_finish(p, p->done);
        p->mark = now;
        return;
    }
    if (now - p->last_shown < (p->tty ? PROGRESS_TTY_EVERY_S : PROGRESS_LOG_EVERY_S))
        return;
    p->last_shown = now;
    if (p->tty)
        progress_draw_tty(p, p->done, total);
    else
        progress_log(p, p->done, total);
}

struct warm_st {
    bool full, reconcile;
};

/* "300", "90s", "5m", "1h" as decimal seconds in out; -EINVAL. */
static int duration_s(const char *arg, char *out, size_t n)
{
    static const struct {
        char unit;
        uint64_t secs;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}};
    char digits[24];
    size_t len = strlen(arg);
    uint64_t mul = 1, v;
    for (size_t i = 0; len > 1 && i < sizeof units / sizeof *units; i++)
        if (arg[len - 1] == units[i].unit) {
            mul = units[i].secs;
            len--;
            break;
        }
    if (len >= sizeof digits)
        return -EINVAL;
    memcpy(digits, arg, len);
    digits[len] = '\0';
    if (num_parse_u64(digits, UINT32_MAX / 3600, &v) < 0)
        return -EINVAL;
    snprintf(out, n, "%" PRIu64, v * mul);
    return 0;
}

static int warm_opt(struct ctl *c, int opt, const char *arg, void *stp)
{
    struct warm_st *st = stp;
    if (opt == OPT_FULL)
        st->full = true;
    else if (opt == OPT_RECONCILE)
        st->reconcile = true;
    else if (opt == OPT_BATCH_ROWS) {
        char err[ERR_LEN];
        if (conf_set_flag(&c->cf, "--batch-rows", arg, err, sizeof err) < 0)
            return usagef(c, "%s", err);
    } else if (opt == OPT_RETRY_FOR) {
        char secs[24], err[ERR_LEN];
        if (duration_s(arg, secs, sizeof secs) < 0 ||
            conf_set(&c->cf, "warm_retry_s", secs, err, sizeof err) < 0)
            return usagef(c, "--retry-for: expected a duration such as 300, 90s, 5m or 1h (at "
                             "most 7 days), got \"%s\"", arg);
    }
    return OPTS_CONTINUE;
}

struct deleted_sum {
    int64_t since_ms;
    uint64_t n;
};

static int deleted_add(void *arg, const struct cache_run *r)
{
    struct deleted_sum *d = arg;
    if (r->start_ms < d->since_ms)
        return 1; /* newest first: the rest is older than this warm-up */
    d->n += r->deleted;
    return 0;
}

/* Rows this warm-up deleted, from the run history it wrote (its passes
 * record their deletions there). */
static uint64_t warm_deleted(struct ctl *c, const bool *pick, int64_t since_ms)
{
    struct deleted_sum d = {since_ms, 0};
    struct cache_rd *rd;
    if (read_begin(c, &rd) != EXIT_OK)
        return 0;
    for (size_t i = 0; i < c->schema->n_models; i++)
        if (pick[i] && cache_runs(rd, &c->schema->models[i], 0, deleted_add, &d) < 0)
            break;
    read_end(rd);
    return d.n;
}

static int warm_run(struct ctl *c, const bool *pick, const struct warm_st *st)
{
    struct poller_opts o = {
        .db = &c->db,
        .schema = c->schema,
        .cache = c->cache,
        .models = pick,
    };
    poller_opts_tune(&o, &c->cf);
    o.retry_s = c->cf.warm_retry_s;
    o.reconcile = st->reconcile;
    double t0 = clock_mono_s();
    struct warm_progress p = {.tty = isatty(STDERR_FILENO) == 1, .mark = t0};
    for (size_t i = 0; i < c->schema->n_models; i++)
        p.models_total += pick[i];
    int64_t since_ms = clock_wall_ms();
    char err[ERR_LEN] = "";
    warm_signals_install();
    int rc = poller_warm(&o, st->full, warm_progress_cb, &p, &warm_stop, err, sizeof err);
    if (p.cur && p.tty)
        fputc('\n', stderr);
    if (rc == -EINTR || (rc < 0 && warm_stop)) {
        errorf(c, "interrupted%s",
               st->full ? ": the unfinished rebuild was discarded, the "
                          "previous data stays in place"
                        : "");
        return EXIT_ERR;
    }
    if (rc < 0) {
        errorf(c, "%s", err[0] ? err : strerror(-rc));
        return EXIT_ERR;
    }
    printf("warm: %zu models %s, %" PRIu64 " rows, %" PRIu64 " deleted in %.1fs\n", p.models_done,
           st->full ? "rebuilt" : "caught up", p.rows_done, warm_deleted(c, pick, since_ms),
           clock_mono_s() - t0);
    return EXIT_OK;
}

static int cmd_warm(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
    static const struct option longs[] = {
        {"full", no_argument, NULL, OPT_FULL},
        {"batch-rows", required_argument, NULL, OPT_BATCH_ROWS},
        {"retry-for", required_argument, NULL, OPT_RETRY_FOR},
        {"reconcile", no_argument, NULL, OPT_RECONCILE},
    };
    static const struct cmd_opts own = {"", longs, 4, warm_opt};
    struct warm_st st = {0};
    bool *pick = NULL;
    int rc = cmd_begin_source(c, cmd, argc, argv, &own, &st, false, &pick);
    if (rc == OPTS_CONTINUE)
        rc = warm_run(c, pick, &st);
    free(pick);
    return rc;
}

/* ---- stats --------------------------------------------------------------- */

struct stats_walk {
    bool json;
    size_t page_size, n;
    struct buf *b;
};

static int stats_db_cb(void *arg, const char *db, uint64_t entries, uint64_t branch, uint64_t leaf,
                       uint64_t overflow, unsigned depth)
{
    struct stats_walk *w = arg;
    uint64_t bytes = (branch + leaf + overflow) * w->page_size;
    if (!w->json) {
        printf("%-40s %12" PRIu64 " %8" PRIu64 " %10" PRIu64 " %9" PRIu64 " %5u %12.1f\n", db,
               entries, branch, leaf, overflow, depth, (double)bytes / (1 << 20));
        return 0;
    }
    if (w->n++)
        buf_putc(w->b, ',');
    buf_puts(w->b, "{\"name\":");
    json_put_cstr(w->b, db);
    buf_printf(w->b,
               ",\"entries\":%" PRIu64 ",\"branchPages\":%" PRIu64 ",\"leafPages\":%" PRIu64
               ",\"overflowPages\":%" PRIu64 ",\"depth\":%u,\"bytes\":%" PRIu64 "}",
               entries, branch, leaf, overflow, depth, bytes);
    return 0;
}

static void stats_env_print(const struct cache_stats *s, bool json, struct buf *b)
{
    double used = s->map_size ? 100.0 * (double)s->map_used / (double)s->map_size : 0;
    if (json) {
        buf_printf(b,
                   "{\"mapSize\":%zu,\"mapUsed\":%zu,\"mapUsedPercent\":%.3f,\"pageSize\":%zu,"
                   "\"readers\":%u,\"maxReaders\":%u,\"lastTxnId\":%" PRIu64 ",\"databases\":[",
                   s->map_size, s->map_used, used, s->page_size, s->readers, s->max_readers,
                   s->last_txn_id);
        return;
    }
    printf("map size     %zu bytes (%.1f GiB)\n", s->map_size, (double)s->map_size / (1 << 30));
    printf("map used     %zu bytes (%.1f MiB, %.3f%%)\n", s->map_used,
           (double)s->map_used / (1 << 20), used);
    printf("page size    %zu\n", s->page_size);
    printf("readers      %u of %u slots\n", s->readers, s->max_readers);
    printf("last txn id  %" PRIu64 "\n\n", s->last_txn_id);
    printf("%-40s %12s %8s %10s %9s %5s %12s\n", "DATABASE", "ENTRIES", "BRANCH", "LEAF",
           "OVERFLOW", "DEPTH", "SIZE (MiB)");
}

static int cmd_stats(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
    struct flag_st st = {0};
    int first, rc = cmd_begin(c, cmd, argc, argv, &json_opts, &st, &first, true);
    if (rc != OPTS_CONTINUE)
        return rc;
    if (argc > first)
        return usagef(c, "unexpected argument '%s'", argv[first]);
    struct cache_stats s;
    int r = cache_stats_get(c->cache, &s);
    if (r < 0) {
        errorf(c, "cannot read the environment figures: %s", strerror(-r));
        return EXIT_ERR;
    }
    struct buf b;
    buf_init(&b, 0);
    stats_env_print(&s, st.json, &b);
    struct cache_rd *rd = NULL;
    struct stats_walk w = {st.json, s.page_size, 0, &b};
    if ((rc = read_begin(c, &rd)) == EXIT_OK && (r = cache_db_stats(rd, stats_db_cb, &w)) < 0) {
        errorf(c, "cannot read the database figures: %s", strerror(-r));
        rc = EXIT_ERR;
    }
    read_end(rd);
    if (rc == EXIT_OK && st.json) {
        buf_puts(&b, "]}\n");
        buf_write_stdout(&b);
    }
    buf_fini(&b);
    return rc;
}

/* ---- Commands ------------------------------------------------------------ */

static const struct cmd cmds[] = {
    {"status", cmd_status, "per model: state, rows, cursor, lag, last run",
     "Usage: cwcachectl status [MODEL...] [--json]\n"
     "One line per model (all models, or those named): state (cold/warming/warm), rows,\n"
     "cursor (last-update time#RecID), lag behind the source's newest last-update, last run\n"
     "time (duration), result and error; '*' marks models a collector needs. A summary\n"
     "line follows. Exit 1 when a model needed by a collector is not warm or its last run\n"
     "failed, so monitoring can run it as a check.\n"
     "  --json   one JSON object: {\"models\":[...],\"summary\":{...}}\n"},
    {"runs", cmd_runs, "the run history (polls, reconciliations, warm-ups)",
     "Usage: cwcachectl runs [MODEL] [-n N] [--json]\n"
     "The run history, newest first, of one model or of all models merged.\n"
     "  -n N     at most N runs (default 20)\n"
     "  --json   a JSON array\n"},
    {"get", cmd_get, "one cached record as the server sends it",
     "Usage: cwcachectl get MODEL RECID [--include REL[.REL...],...]\n"
     "Prints the cached record with key RECID as the server renders it in a response's\n"
     "data array (one JSON object). Exit 1 when the record is not in the cache.\n"
     "  --include LIST   relations to include, comma-separated; a dot nests\n"
     "                   (subcategory.category = "
     "{\"subcategory\":{\"include\":{\"category\":true}}})\n"},
    {"verify", cmd_verify, "compare the cache with the source database",
     "Usage: cwcachectl verify [MODEL...] [--json]\n"
     "Walks the cache and the source (DATABASE_URL) in key order and prints, per model,\n"
     "the rows missing from the cache, extra in it and different, with the first keys of\n"
     "each. Models default to those the collectors need; one login serves them all.\n"
     "Exit 0 only when all are equal.\n"
     "  --json   one JSON object per model and line\n"},
    {"warm", cmd_warm, "fill or catch up the cache from the source, then exit",
     "Usage: cwcachectl warm [MODEL...] [--full] [--reconcile] [--batch-rows N]\n"
     "                       [--retry-for DURATION]\n"
     "Runs the poller once to completion for the models named (default: those the\n"
     "collectors need), showing progress (a bar on a terminal, log lines otherwise), then\n"
     "exits: 0 on success, 1 with the error otherwise. Opens the store read-write; a\n"
     "running server on the same data directory is fine (the writers take turns).\n"
     "SIGINT/SIGTERM stop it cleanly between batches (exit 1, \"interrupted\").\n"
     "A lost connection to the source (a database restart) is retried with backoff and the\n"
     "warm-up resumes from its cursor; an error the server answers fails at once.\n"
     "Rows deleted at the source are found by their count, as the server's polls find\n"
     "them (a per-RecID-range walk when the cache holds more rows than the source).\n"
     "  --reconcile      read every key of each model instead, as the server's periodic\n"
     "                   reconciliation does (also finds a delete that an insert the\n"
     "                   polls cannot see hides from the count)\n"
     "  --full           rebuild each model from scratch in a shadow copy and swap it in\n"
     "                   atomically at the end; an interrupted rebuild leaves the old data\n"
     "  --batch-rows N   keyset page size (default: batch_rows, see cwcache --help)\n"
     "  --retry-for DURATION  how long the source may stay unreachable before the warm-up\n"
     "                   exits 1 with the cause: 300, 90s, 5m, 1h; 0 fails at once\n"
     "                   (default: warm_retry_s, see cwcache --help)\n"},
    {"stats", cmd_stats, "LMDB environment and per-database figures",
     "Usage: cwcachectl stats [--json]\n"
     "Map size and use, page size, reader slots, last transaction id, then per LMDB\n"
     "database: entries, branch/leaf/overflow pages, depth and size.\n"
     "  --json   one JSON object\n"},
};
#define N_CMDS (sizeof cmds / sizeof cmds[0])

static void main_help(void)
{
    printf("Usage: cwcachectl [OPTIONS] COMMAND [ARGS...]\n"
           "Inspect, verify and warm a cwcache store.\n\nCommands:\n");
    for (size_t i = 0; i < N_CMDS; i++)
        printf("  %-8s %s\n", cmds[i].name, cmds[i].summary);
    putchar('\n');
    global_help();
    printf("\n'cwcachectl COMMAND --help' describes each command.\n"
           "Exit status: 0 success, 1 error (or unhealthy / different), 2 usage.\n");
}

/* Options before the command; stops at the first non-option (the command). */
static int main_opts(struct ctl *c, int argc, char **argv, int *cmd_at)
{
    int opt, rc = OPTS_CONTINUE;
    opterr = 0;
    while (rc == OPTS_CONTINUE &&
           (opt = getopt_long(argc, argv, "+:h", global_longs, NULL)) != -1) {
        if (opt == 'h') {
            main_help();
            return EXIT_OK;
        }
        if (opt == '?' || opt == ':')
            rc = bad_option(c, opt, argv[optind - 1]);
        else
            global_opt(c, opt, optarg, &rc);
    }
    *cmd_at = optind;
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl c = {0};
    char err[ERR_LEN];
    conf_init(&c.cf);
    int at, rc = OPTS_CONTINUE;
    if (conf_load_shared(&c.cf, argc, argv, err, sizeof err) < 0) {
        errorf(&c, "%s", err); /* the file says which line */
        rc = EXIT_ERR;
    } else {
        log_level = (enum log_level)log_level_parse(c.cf.log_level);
    }
    if (rc == OPTS_CONTINUE)
        rc = main_opts(&c, argc, argv, &at);
    if (rc != OPTS_CONTINUE) {
        ctl_fini(&c);
        return rc;
    }
    if (at >= argc) {
        ctl_fini(&c);
        return usagef(&c, "no command given (status, runs, get, verify, warm, stats)");
    }
    const struct cmd *cmd = NULL;
    for (size_t i = 0; i < N_CMDS; i++)
        if (strcmp(argv[at], cmds[i].name) == 0)
            cmd = &cmds[i];
    if (!cmd) {
        ctl_fini(&c);
        return usagef(&c, "unknown command '%s' (status, runs, get, verify, warm, stats)",
                      argv[at]);
    }
    c.cmd = cmd->name;
    rc = cmd->fn(&c, cmd, argc - at, argv + at);
    ctl_fini(&c);
    return rc;
}
