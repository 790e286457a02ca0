/*
 * bench_poller_ingest: initial ingest of a Company-like table from tdslite
 * into LMDB, and the steady-state CPU of polling an idle source.
 *
 *   bench_poller_ingest --tdslite PATH [--schema poller_company.prisma]
 *                       [--rows N] [--runs R] [--batch ROWS] [--idle-s S] [--dir DIR] [--smoke]
 *
 * Ingest: R runs of poller_warm into a fresh store; per run rows/s over the
 * pass's wall time, the poller's CPU per row (getrusage: tdslite is another
 * process), and how busy each side was: fetch (db-lib rows, conversion,
 * encoding: the fetch thread), apply (LMDB puts, index, meta) and commit
 * (the writer thread); the two threads overlap, so these add up to more
 * than 100% when the pipeline works. Baselines, measured in the same run:
 *   stream       the same SELECT (ORDER BY last-update, RecID) read through
 *                db-lib in one query, rows dropped: what the source can deliver;
 *   read+encode  poller_verify against an empty store: fetches and encodes every
 *                row in pages, writes nothing (single-threaded).
 * Medians of the runs are reported, with ingest/baseline ratios.
 *
 * Idle: the poller thread against the unchanged source with the default 5 s
 * interval for S seconds; CPU time from getrusage over wall time.
 *
 * The source (DIR/source.db) is generated once and reused by later runs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "cache/cache.h"
#include "log.h"
#include "poller/login.h"
#include "schema.h"

#define RUNS_MAX 32

struct bench {
    const char *tdslite, *schema_path, *dir;
    unsigned long rows;
    unsigned runs, idle_s, batch;
    pid_t server;
    char url[256];
    struct schema *schema;
    struct poller_db db;
};

static int run_wait(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int generate(struct bench *b, const char *db)
{
    char rows[32];
    snprintf(rows, sizeof rows, "%lu", b->rows);
    char *argv[] = {(char *)b->tdslite, "--db", (char *)db, "--generate", rows, "--schema",
                    (char *)b->schema_path, "--log-level", "warn", NULL};
    fprintf(stderr, "generating %lu rows (reused when already there)...\n", b->rows);
    return run_wait(argv) == 0 ? 0 : -1;
}

static int serve(struct bench *b, const char *db)
{
    char ready[512];
    snprintf(ready, sizeof ready, "%s/ready", b->dir);
    unlink(ready);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)b->tdslite, "--db", (char *)db, "--port", "0", "--ready-file", ready,
                        "--log-level", "warn", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    b->server = pid;
    for (int i = 0; i < 3000; i++) {
        FILE *f = fopen(ready, "r");
        unsigned port = 0;
        if (f && fscanf(f, "%u", &port) == 1 && port) {
            fclose(f);
            snprintf(b->url, sizeof b->url,
                     "sqlserver://127.0.0.1:%u;database=cwwebapp_demo;user=sa;password=tdslite;"
                     "encrypt=false",
                     port);
            return 0;
        }
        if (f)
            fclose(f);
        usleep(10000);
    }
    return -1;
}

static int store_open(struct bench *b, const char *name, struct cache **c)
{
    char path[512], cmd[600];
    snprintf(path, sizeof path, "%s/%s", b->dir, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        return -1;
    struct cache_opts o = {.path = path, .schema = b->schema, .map_size = (size_t)16 << 30};
    return cache_open(c, &o);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds the source (tdslite) has used so far, from /proc (-1 if unknown). */
static double server_cpu_s(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

struct sample {
    double warm_s, cpu_us_row, src_us_row, rows_s, fetch, apply, commit, verify_rows_s,
        stream_rows_s;
};

static int on_dberr(DBPROCESS *p, int sev, int dberr, int oserr, char *s, char *os)
{
    (void)p, (void)sev, (void)oserr, (void)os;
    fprintf(stderr, "stream baseline: db-lib %d: %s\n", dberr, s);
    return INT_CANCEL;
}

/* The model's SELECT in keyset order, as one query. */
static void stream_sql(const struct schema_model *m, char *sql, size_t n)
{
    size_t o = (size_t)snprintf(sql, n, "SELECT ");
    for (size_t i = 0; i < m->n_fields && o < n; i++)
        o += (size_t)snprintf(sql + o, n - o, "%s[%s]", i ? ", " : "", m->fields[i].column);
    if (o < n)
        snprintf(sql + o, n - o, " FROM [dbo].[%s] ORDER BY [%s], [%s]", m->table,
                 m->cursor->column, m->pk->column);
}

/* Rows/s of the whole table streamed through db-lib (same packet size as the poller). */
static double stream_baseline(const struct bench *b)
{
    char sql[8192];
    stream_sql(&b->schema->models[0], sql, sizeof sql);
    /* The poller has released db-lib (its last user runs dbexit): our own init. */
    if (dbinit() == FAIL)
        return -1;
    dberrhandle(on_dberr);
    double t0 = clock_mono_s();
    /* The poller's own login (same packet size, same encryption). */
    DBPROCESS *p;
    char err[256] = "";
    if (poller_login_open(&p, &b->db, NULL, err, sizeof err) < 0) {
        if (err[0])
            fprintf(stderr, "bench_poller_ingest: %s\n", err);
        p = NULL;
    }
    long rows = -1;
    if (p && dbcmd(p, sql) == SUCCEED && dbsqlexec(p) == SUCCEED && dbresults(p) == SUCCEED) {
        int ncols = dbnumcols(p);
        unsigned long sum = 0;
        for (rows = 0; dbnextrow(p) == REG_ROW; rows++)
            for (int c = 1; c <= ncols; c++)
                sum += (unsigned long)dbdatlen(p, c); /* touch every value, as the poller does */
        while (dbresults(p) == SUCCEED)
            ;
        if (sum == 0)
            rows = -1;
    }
    double wall = clock_mono_s() - t0;
    if (p)
        dbclose(p);
    dbexit();
    return rows > 0 ? (double)rows / wall : -1;
}

/* The server's tunables (conf.c defaults), with --batch on top. */
static struct poller_opts opts_of(const struct bench *b, struct cache *c)
{
    struct poller_opts o = {.db = &b->db, .schema = b->schema, .cache = c};
    struct conf cf;
    conf_init(&cf);
    poller_opts_tune(&o, &cf);
    conf_fini(&cf);
    if (b->batch)
        o.batch_rows = b->batch;
    return o;
}

static int one_run(struct bench *b, struct sample *s)
{
    struct cache *c;
    char err[512];
    if (store_open(b, "store", &c) < 0)
        return -1;
    struct poller_timing t = {0};
    struct poller_opts o = opts_of(b, c);
    o.timing = &t;
    double t0 = clock_mono_s(), c0 = cpu_s(), s0 = server_cpu_s(b->server);
    int rc = poller_warm(&o, false, NULL, NULL, NULL, err, sizeof err);
    double wall = clock_mono_s() - t0, cpu = cpu_s() - c0, scpu = server_cpu_s(b->server) - s0;
    cache_close(c);
    if (rc < 0) {
        fprintf(stderr, "warm: %s\n", err);
        return rc;
    }
    /* The pass itself; poller_warm's COUNT_BIG and reconciliation are not ingest. */
    double pass = (double)t.ns_pass;
    s->rows_s = (double)t.rows / (pass / 1e9);
    s->warm_s = wall;
    /* Our own CPU per row (both threads): what the poller costs, whatever the
     * disk and the server do. The whole warm-up is counted, reconciliation included. */
    s->cpu_us_row = 1e6 * cpu / (double)t.rows;
    s->src_us_row = 1e6 * scpu / (double)t.rows; /* the source's share of the two cores */
    s->fetch = (double)t.ns_fetch / pass;
    s->apply = (double)t.ns_apply / pass;
    s->commit = (double)t.ns_commit / pass;
    s->stream_rows_s = stream_baseline(b);
    if (s->stream_rows_s < 0)
        return -1;
    /* Baseline: read and encode every row, store nothing. */
    if (store_open(b, "empty", &c) < 0)
        return -1;
    struct poller_verify_result r;
    t0 = clock_mono_s();
    rc = poller_verify(&b->db, c, &b->schema->models[0], &r, err, sizeof err);
    wall = clock_mono_s() - t0;
    cache_close(c);
    if (rc < 0) {
        fprintf(stderr, "verify: %s\n", err);
        return rc;
    }
    s->verify_rows_s = (double)r.compared / wall;
    printf("run: %.0f rows/s (busy: fetch %.0f%%, apply %.0f%%, commit %.0f%%), %.1f us CPU per "
           "row (source %.1f us), whole warm-up %.2f s; baselines: stream %.0f rows/s, "
           "read+encode %.0f rows/s\n",
           s->rows_s, 100 * s->fetch, 100 * s->apply, 100 * s->commit, s->cpu_us_row,
           s->src_us_row, s->warm_s, s->stream_rows_s, s->verify_rows_s);
    return 0;
}

static int64_t last_reconcile_ms(struct cache *c, const struct schema_model *m)
{
    struct cache_rd *rd;
    struct cache_meta meta = {0};
    if (cache_rd_new(c, &rd) < 0)
        return 0;
    if (cache_rd_begin(rd) == 0) {
        if (cache_meta_get(rd, m, &meta) < 0)
            meta.last_reconcile_ms = 0;
        cache_rd_end(rd);
    }
    cache_rd_free(rd);
    return meta.last_reconcile_ms;
}

static int idle(struct bench *b)
{
    struct cache *c;
    char err[512];
    if (store_open(b, "store", &c) < 0)
        return -1;
    struct poller_opts o = opts_of(b, c);
    int rc = poller_warm(&o, false, NULL, NULL, NULL, err, sizeof err);
    struct poller *p = NULL;
    if (rc == 0)
        rc = poller_start(&p, &o);
    if (rc < 0) {
        cache_close(c);
        return rc;
    }
    /* The thread reconciles deletes right after it starts: not idle work. */
    struct timespec wall0;
    clock_gettime(CLOCK_REALTIME, &wall0);
    int64_t start_ms = (int64_t)wall0.tv_sec * 1000 + wall0.tv_nsec / 1000000;
    for (int i = 0; i < 1200 && last_reconcile_ms(c, &b->schema->models[0]) < start_ms; i++)
        usleep(100000);
    sleep(1);
    double c0 = cpu_s(), t0 = clock_mono_s();
    sleep(b->idle_s);
    double cpu = cpu_s() - c0, wall = clock_mono_s() - t0;
    poller_stop(p);
    cache_close(c);
    printf("idle: %.3f%% of one core over %.0f s of polls every 5 s (%.2f ms CPU per second)\n",
           100 * cpu / wall, wall, 1000 * cpu / wall);
    return 0;
}

static double median_of(const struct sample *s, unsigned n, size_t field)
{
    double v[RUNS_MAX];
    for (unsigned i = 0; i < n; i++)
        memcpy(&v[i], (const char *)&s[i] + field, sizeof v[i]);
    return bench_median(v, n);
}

static void report(const struct bench *b, const struct sample *s)
{
    unsigned n = b->runs;
    double mv = median_of(s, n, offsetof(struct sample, rows_s));
    double ms = median_of(s, n, offsetof(struct sample, stream_rows_s));
    double mb = median_of(s, n, offsetof(struct sample, verify_rows_s));
    /* Ratios per run (same load on the machine), then their median. */
    struct sample r[RUNS_MAX];
    for (unsigned i = 0; i < n; i++)
        r[i].stream_rows_s = s[i].rows_s / s[i].stream_rows_s,
        r[i].verify_rows_s = s[i].rows_s / s[i].verify_rows_s;
    printf("ingest of %lu rows, median of %u runs: %.0f rows/s; busy: fetch %.0f%%, apply %.0f%%, "
           "commit %.0f%%; %.1f us CPU per row (source %.1f us); stream baseline %.0f rows/s (ingest/stream %.2f), "
           "read+encode baseline %.0f rows/s (ingest/read+encode %.2f)\n",
           b->rows, n, mv, 100 * median_of(s, n, offsetof(struct sample, fetch)),
           100 * median_of(s, n, offsetof(struct sample, apply)),
           100 * median_of(s, n, offsetof(struct sample, commit)),
           median_of(s, n, offsetof(struct sample, cpu_us_row)),
           median_of(s, n, offsetof(struct sample, src_us_row)), ms,
           median_of(r, n, offsetof(struct sample, stream_rows_s)), mb,
           median_of(r, n, offsetof(struct sample, verify_rows_s)));
}

static int parse(struct bench *b, int argc, char **argv)
{
    static const struct option opts[] = {{"tdslite", 1, 0, 't'}, {"schema", 1, 0, 's'},
                                         {"rows", 1, 0, 'n'},    {"runs", 1, 0, 'r'},
                                         {"idle-s", 1, 0, 'i'},  {"dir", 1, 0, 'd'},
                                         {"smoke", 0, 0, 'S'},   {"batch", 1, 0, 'b'},
                                         {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 't': b->tdslite = optarg; break;
        case 's': b->schema_path = optarg; break;
        case 'n': b->rows = strtoul(optarg, NULL, 10); break;
        case 'r': b->runs = (unsigned)atoi(optarg); break;
        case 'i': b->idle_s = (unsigned)atoi(optarg); break;
        case 'd': b->dir = optarg; break;
        case 'b': b->batch = (unsigned)atoi(optarg); break;
        case 'S': b->rows = 2000, b->runs = 1, b->idle_s = 1; break; /* proves it runs */
        default: return -1;
        }
    }
    if (!b->tdslite || !b->schema_path || b->runs == 0 || b->runs > RUNS_MAX || !b->rows)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b = {.rows = 1000000, .runs = 5, .idle_s = 60, .dir = "/tmp/cwcache-bench-poller"};
    if (parse(&b, argc, argv) < 0) {
        fprintf(stderr, "usage: bench_poller_ingest --tdslite PATH --schema FILE [--rows N] "
                        "[--runs R] [--batch ROWS] [--idle-s S] [--dir DIR] [--smoke]\n");
        return 2;
    }
    log_level = LOG_WARN;
    mkdir(b.dir, 0755);
    char db[512], err[512];
    snprintf(db, sizeof db, "%s/source-%lu.db", b.dir, b.rows);
    if (schema_load(&b.schema, b.schema_path, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = generate(&b, db) == 0 && serve(&b, db) == 0 ? 0 : -1;
    if (rc == 0)
        rc = poller_db_parse(&b.db, b.url, err, sizeof err);
    struct sample s[RUNS_MAX];
    for (unsigned i = 0; rc == 0 && i < b.runs; i++)
        rc = one_run(&b, &s[i]);
    if (rc == 0) {
        report(&b, s);
        rc = idle(&b);
    }
    if (b.server > 0) {
        kill(b.server, SIGTERM);
        waitpid(b.server, NULL, 0);
    }
    poller_db_fini(&b.db);
    schema_free(b.schema);
    return rc == 0 ? 0 : 1;
}
