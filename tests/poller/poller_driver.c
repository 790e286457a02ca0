/*
 * poller_driver: runs the poller module in a process of its own for the
 * integration tests (test_poller.py), so a test can kill it mid-sync.
 *
 *   poller_driver CMD --url URL --store DIR --schema PATH [options]
 *
 *   exec               SQL batches from stdin (separated by lines "GO") run on
 *                      the source: test setup only, the poller never writes
 *   warm [--full]      poller_warm for the models; prints each model's last run;
 *                      --pause-after N: once a model has N rows committed, prints
 *                      "paused MODEL" on stderr and waits for a line on stdin
 *   run --seconds S    the poller thread for S seconds (or until SIGTERM), then
 *                      poller_stop; prints how long the stop took
 *   verify             poller_verify for each model; exit 1 on any difference
 *   live --collectors DIR [--flat]
 *                      every collector with several opts, rendered from the
 *                      cache and from the live fallback: exit 1 unless equal;
 *                      --flat: includes one level deep only (no nested include);
 *                      --queries FILE: instead, the requests of FILE, a JSON
 *                      array of [event, opts] pairs
 *   runs MODEL         the model's run history (kind read applied skipped deleted status end_ms)
 *   dump MODEL         the model's full records rendered from the cache (JSON)
 *
 * Options: --models A,B  --batch N  --interval-ms N  --reconcile-s N  --summary
 *          --overlap-s N  --verbose
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "collector.h"
#include "log.h"
#include "poller/login.h"
#include "schema.h"

struct drv {
    const char *cmd, *url, *store, *schema_path, *collectors, *models_arg, *runs_model, *queries;
    unsigned batch, interval_ms, reconcile_s, overlap_s, seconds, pause_after;
    bool full, flat, summary;
    struct schema *schema;
    struct cache *cache;
    struct poller_db db;
    bool *models;
};

static volatile sig_atomic_t got_term;
static volatile bool warm_stop;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
    warm_stop = true;
}

static int usage(void)
{
    fprintf(stderr, "usage: poller_driver exec|warm|run|verify|live|runs --url URL --store DIR "
                    "--schema PATH [options]\n");
    return 2;
}

static int parse_args(struct drv *d, int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", 1, 0, 'u'},        {"store", 1, 0, 's'},       {"schema", 1, 0, 'S'},
        {"collectors", 1, 0, 'c'}, {"models", 1, 0, 'm'},      {"batch", 1, 0, 'b'},
        {"interval-ms", 1, 0, 'i'},{"reconcile-s", 1, 0, 'r'}, {"overlap-s", 1, 0, 'o'},
        {"seconds", 1, 0, 't'},    {"full", 0, 0, 'f'},        {"verbose", 0, 0, 'v'},
        {"flat", 0, 0, 'F'},       {"summary", 0, 0, 'y'},     {"queries", 1, 0, 'q'},
        {"pause-after", 1, 0, 'P'}, {0, 0, 0, 0}};
    if (argc < 2)
        return usage();
    d->cmd = argv[1];
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'u': d->url = optarg; break;
        case 's': d->store = optarg; break;
        case 'S': d->schema_path = optarg; break;
        case 'c': d->collectors = optarg; break;
        case 'm': d->models_arg = optarg; break;
        case 'b': d->batch = (unsigned)atoi(optarg); break;
        case 'i': d->interval_ms = (unsigned)atoi(optarg); break;
        case 'r': d->reconcile_s = (unsigned)atoi(optarg); break;
        case 'o': d->overlap_s = (unsigned)atoi(optarg); break;
        case 'y': d->summary = true; break;
        case 't': d->seconds = (unsigned)atoi(optarg); break;
        case 'f': d->full = true; break;
        case 'F': d->flat = true; break;
        case 'q': d->queries = optarg; break;
        case 'P': d->pause_after = (unsigned)atoi(optarg); break;
        case 'v': log_level = LOG_DEBUG; break;
        default: return usage();
        }
    }
    if (optind < argc)
        d->runs_model = argv[optind];
    if (!d->url)
        return usage();
    return 0;
}

static int open_all(struct drv *d, bool need_cache)
{
    char err[512];
    if (poller_db_parse(&d->db, d->url, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (!need_cache)
        return 0;
    if (schema_load(&d->schema, d->schema_path, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct cache_opts co = {.path = d->store, .schema = d->schema, .map_size = (size_t)4 << 30};
    int rc = cache_open(&d->cache, &co);
    if (rc < 0) {
        fprintf(stderr, "cache_open %s: %d\n", d->store, rc);
        return 1;
    }
    d->models = calloc(d->schema->n_models, sizeof *d->models);
    for (size_t i = 0; i < d->schema->n_models; i++) {
        const char *name = d->schema->models[i].name;
        if (!d->models_arg) {
            d->models[i] = true;
            continue;
        }
        size_t n = strlen(name);
        for (const char *p = d->models_arg; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
            if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
                d->models[i] = true;
    }
    return 0;
}

/* ---- exec: test setup through plain db-lib ---------------------------------- */

static int exec_err(DBPROCESS *p, int sev, int dberr, int oserr, char *dberrstr, char *oserrstr)
{
    (void)p, (void)sev, (void)dberr, (void)oserr, (void)oserrstr;
    fprintf(stderr, "db-lib: %s\n", dberrstr);
    return INT_CANCEL;
}

static int exec_msg(DBPROCESS *p, DBINT no, int st, int sev, char *text, char *srv, char *proc, int line)
{
    (void)p, (void)st, (void)srv, (void)proc, (void)line;
    if (sev > 10)
        fprintf(stderr, "server: %d: %s\n", (int)no, text);
    return 0;
}

static int exec_batch(DBPROCESS *p, const char *sql)
{
    if (dbcmd(p, sql) == FAIL || dbsqlexec(p) == FAIL)
        return 1;
    RETCODE rc;
    while ((rc = dbresults(p)) == SUCCEED)
        while (dbnextrow(p) != NO_MORE_ROWS)
            ;
    return rc == FAIL;
}

static int cmd_exec(struct drv *d)
{
    dbinit();
    dberrhandle(exec_err);
    dbmsghandle(exec_msg);
    DBPROCESS *p;
    char err[256] = "";
    if (poller_login_open(&p, &d->db, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "exec: cannot log in%s%s\n", err[0] ? ": " : "", err);
        return 1;
    }
    struct buf b;
    buf_init(&b, 0);
    char line[65536];
    int rc = 0;
    for (;;) {
        char *got = fgets(line, sizeof line, stdin);
        if (!got || strcmp(line, "GO\n") == 0 || strcmp(line, "GO") == 0) {
            if (b.len) {
                buf_putc(&b, '\0');
                rc |= exec_batch(p, (const char *)buf_data(&b));
                buf_reset(&b);
            }
            if (!got)
                break;
            continue;
        }
        buf_puts(&b, line);
    }
    buf_fini(&b);
    dbclose(p);
    dbexit();
    return rc;
}

/* ---- warm, run, verify, runs ------------------------------------------------- */

static int print_run(void *arg, const struct cache_run *r)
{
    printf("%s %s polls=%" PRIu32 " read=%" PRIu64 " applied=%" PRIu64 " skipped=%" PRIu64
           " deleted=%" PRIu64 " stalled=%" PRIu64 " status=%d end_ms=%" PRId64 " %s\n",
           (const char *)arg, r->kind, r->polls, r->read, r->applied, r->skipped, r->deleted,
           r->stalled, r->status, r->end_ms, r->error);
    return 0;
}

/* The server's defaults, with the options given here on top. */
static struct poller_opts opts_of(struct drv *d)
{
    struct poller_opts o = {.db = &d->db, .schema = d->schema, .cache = d->cache,
                            .models = d->models};
    struct conf cf;
    conf_init(&cf);
    poller_opts_tune(&o, &cf);
    conf_fini(&cf);
    if (d->interval_ms)
        o.interval_ms = d->interval_ms;
    if (d->overlap_s)
        o.overlap_s = d->overlap_s;
    if (d->reconcile_s)
        o.reconcile_s = d->reconcile_s;
    o.summary = o.summary || d->summary;
    if (d->batch)
        o.batch_rows = d->batch;
    return o;
}

/* --pause-after: the test changes the source while a model's pass is
 * under way (the writer waits here, after a commit). */
struct pause {
    unsigned after;
    bool *paused; /* per model */
};

static void progress(void *arg, const struct schema_model *m, uint64_t done, uint64_t total,
                     bool finished)
{
    struct pause *p = arg;
    if (finished)
        fprintf(stderr, "warm %s: %" PRIu64 "/%" PRIu64 " done\n", m->name, done, total);
    if (!finished && p->after && done >= p->after && !p->paused[m->id]) {
        p->paused[m->id] = true;
        fprintf(stderr, "paused %s\n", m->name);
        char line[16];
        if (!fgets(line, sizeof line, stdin))
            fprintf(stderr, "pause: stdin closed\n");
    }
}

static int cmd_warm(struct drv *d)
{
    char err[512];
    struct poller_opts o = opts_of(d);
    struct pause pause = {d->pause_after, calloc(d->schema->n_models, sizeof(bool))};
    int rc = poller_warm(&o, d->full, progress, &pause, &warm_stop, err, sizeof err);
    free(pause.paused);
    if (rc < 0) {
        fprintf(stderr, "warm: %s (%d)\n", err, rc);
        return 1;
    }
    return 0;
}

static int cmd_run(struct drv *d)
{
    struct poller_opts o = opts_of(d);
    struct poller *p;
    int rc = poller_start(&p, &o);
    if (rc < 0) {
        fprintf(stderr, "poller_start: %d\n", rc);
        return 1;
    }
    for (unsigned i = 0; !got_term && (d->seconds == 0 || i < d->seconds * 10); i++)
        usleep(100000);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    poller_stop(p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("stop_ms=%ld\n", (long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000));
    return 0;
}

static int cmd_verify(struct drv *d)
{
    int bad = 0;
    for (size_t i = 0; i < d->schema->n_models; i++) {
        if (!d->models[i])
            continue;
        const struct schema_model *m = &d->schema->models[i];
        struct poller_verify_result r;
        char err[512];
        int rc = poller_verify(&d->db, d->cache, m, &r, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "verify %s: %s (%d)\n", m->name, err, rc);
            return 1;
        }
        printf("%s compared=%" PRIu64 " missing=%" PRIu64 " extra=%" PRIu64 " different=%" PRIu64,
               m->name, r.compared, r.missing, r.extra, r.different);
        if (r.missing)
            printf(" first_missing=%" PRIu64, r.first_missing[0]);
        if (r.extra)
            printf(" first_extra=%" PRIu64, r.first_extra[0]);
        if (r.different)
            printf(" first_different=%" PRIu64, r.first_different[0]);
        printf("\n");
        bad |= r.missing || r.extra || r.different;
    }
    return bad;
}

static int cmd_runs(struct drv *d)
{
    const struct schema_model *m = d->runs_model ? schema_model_find(d->schema, d->runs_model) : NULL;
    if (!m)
        return usage();
    struct cache_rd *rd;
    if (cache_rd_new(d->cache, &rd) < 0 || cache_rd_begin(rd) < 0)
        return 1;
    struct cache_meta meta;
    if (cache_meta_get(rd, m, &meta) == 0)
        printf("meta state=%s rows=%" PRIu64 " status=%d error=%s\n", cache_state_name(meta.state),
               meta.rows, meta.last_status, meta.last_error);
    int rc = cache_runs(rd, m, 0, print_run, (void *)m->name);
    cache_rd_end(rd);
    cache_rd_free(rd);
    return rc < 0;
}

/* Full records of one model rendered from the cache, as a client receives them. */
static int cmd_dump(struct drv *d)
{
    const struct schema_model *m = d->runs_model ? schema_model_find(d->schema, d->runs_model) : NULL;
    if (!m)
        return usage();
    struct collector col = {.event = "dump", .model = m};
    struct cache_plan plan;
    char err[512];
    if (cache_plan_parse(&plan, &col, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct cache_rd *rd;
    struct buf out;
    buf_init(&out, 0);
    int rc = cache_rd_new(d->cache, &rd);
    if (rc == 0 && (rc = cache_rd_begin(rd)) == 0) {
        struct cache_source src = cache_source_lmdb(rd);
        rc = cache_query_render(&plan, &src, &out, 0, NULL);
        cache_rd_end(rd);
    }
    if (rc == 0)
        printf("%.*s\n", (int)out.len, (const char *)buf_data(&out));
    buf_fini(&out);
    cache_rd_free(rd);
    cache_plan_fini(&plan);
    return rc < 0;
}

/* ---- live: cached and live answers of the same data ---------------------------- */

static json_t *opts_cases(const struct schema_model *m, bool flat)
{
    json_t *cases = json_array();
    json_array_append_new(cases, json_null());
    json_t *sel = json_object(), *fields = json_array();
    for (size_t i = 0; i < m->n_fields && i < 3; i++)
        json_array_append_new(fields, json_string(m->fields[m->n_fields - 1 - i].name));
    json_object_set_new(sel, "select", fields);
    json_array_append_new(cases, sel);
    if (m->n_relations) {
        json_t *inc = json_object(), *names = json_array();
        for (size_t i = 0; i < m->n_relations; i++)
            json_array_append_new(names, json_string(m->relations[i].name));
        json_object_set_new(inc, "include", names);
        json_array_append_new(cases, inc);
    }
    if (m->n_relations && !flat) {        /* nested: each relation with its target's relations included */
        json_t *nest = json_object(), *obj = json_object();
        for (size_t i = 0; i < m->n_relations; i++) {
            const struct schema_model *t = m->relations[i].target;
            if (!t->n_relations) {
                json_object_set_new(obj, m->relations[i].name, json_true());
                continue;
            }
            json_t *sub = json_object(), *subinc = json_object();
            for (size_t k = 0; k < t->n_relations; k++)
                json_object_set_new(subinc, t->relations[k].name, json_true());
            json_object_set_new(sub, "include", subinc);
            json_object_set_new(obj, m->relations[i].name, sub);
        }
        json_object_set_new(nest, "include", obj);
        json_array_append_new(cases, nest);
    }
    return cases;
}

static int live_case(struct poller_live *live, struct cache_rd *rd, const struct collector *col,
                     json_t *opts, int *bad)
{
    char err[512];
    struct cache_plan plan;
    int rc = cache_plan_parse(&plan, col, json_is_null(opts) ? NULL : opts, err, sizeof err);
    char *txt = json_dumps(opts, JSON_COMPACT | JSON_ENCODE_ANY);
    if (rc < 0) {
        fprintf(stderr, "%s %s: plan: %s\n", col->event, txt, err);
        free(txt);
        return 1;
    }
    struct buf cached, lv;
    buf_init(&cached, 0);
    buf_init(&lv, 0);
    struct cache_source src;
    if ((rc = cache_rd_begin(rd)) == 0) {
        src = cache_source_lmdb(rd);
        rc = cache_query_render(&plan, &src, &cached, 0, NULL);
        cache_rd_end(rd);
    }
    int lrc = poller_live_query(live, &plan, 0, &lv, err, sizeof err);
    if (rc < 0 || lrc < 0) {
        fprintf(stderr, "%s %s: cached rc=%d live rc=%d %s\n", col->event, txt, rc, lrc, err);
        *bad = 1;
    } else if (!slice_eq(buf_slice(&cached), buf_slice(&lv))) {
        fprintf(stderr, "%s %s: live answer differs (%zu vs %zu bytes)\n", col->event, txt,
                cached.len, lv.len);
        size_t i = 0;
        while (i < cached.len && i < lv.len && buf_data(&cached)[i] == buf_data(&lv)[i])
            i++;
        size_t from = i > 80 ? i - 80 : 0;
        fprintf(stderr, "  cached: ...%.*s\n  live:   ...%.*s\n", (int)(cached.len - from > 200 ? 200 : cached.len - from),
                buf_data(&cached) + from, (int)(lv.len - from > 200 ? 200 : lv.len - from), buf_data(&lv) + from);
        *bad = 1;
    } else {
        printf("%s %s: equal, %zu bytes\n", col->event, txt, lv.len);
    }
    free(txt);
    buf_fini(&cached);
    buf_fini(&lv);
    cache_plan_fini(&plan);
    return 0;
}

static int cmd_live(struct drv *d)
{
    struct collector_set cs;
    char err[512];
    if (collector_set_load(&cs, d->collectors, d->schema, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct poller_live *live;
    struct cache_rd *rd;
    if (poller_live_new(&live, &d->db, d->schema, 2, 60000) < 0 || cache_rd_new(d->cache, &rd) < 0)
        return 1;
    int bad = 0, rc = 0;
    if (d->queries) {
        json_error_t jerr;
        json_t *qs = json_load_file(d->queries, 0, &jerr);
        size_t k;
        json_t *q;
        if (!json_is_array(qs)) {
            fprintf(stderr, "%s: %s\n", d->queries, jerr.text);
            rc = 2;
        }
        json_array_foreach(qs, k, q) {
            const char *ev = json_string_value(json_array_get(q, 0));
            const struct collector *col = NULL;
            for (size_t i = 0; ev && i < cs.n; i++)
                if (strcmp(cs.items[i].event, ev) == 0)
                    col = &cs.items[i];
            if (!col) {
                fprintf(stderr, "query %zu: no collector %s\n", k, ev ? ev : "(none)");
                rc = 2;
                break;
            }
            if ((rc = live_case(live, rd, col, json_array_get(q, 1), &bad)) != 0)
                break;
        }
        json_decref(qs);
    }
    for (size_t i = 0; !d->queries && i < cs.n && rc == 0; i++) {
        const struct collector *col = &cs.items[i];
        json_t *cases = opts_cases(col->model, d->flat);
        size_t k;
        json_t *o;
        json_array_foreach(cases, k, o)
            if ((rc = live_case(live, rd, col, o, &bad)) != 0)
                break;
        json_decref(cases);
    }
    cache_rd_free(rd);
    poller_live_free(live);
    collector_set_fini(&cs);
    return rc ? rc : bad;
}

int main(int argc, char **argv)
{
    struct drv d = {.schema_path = "schema", .store = "store"};
    int rc = parse_args(&d, argc, argv);
    if (rc)
        return rc;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    bool exec = strcmp(d.cmd, "exec") == 0;
    if ((rc = open_all(&d, !exec)) != 0)
        return rc;
    if (exec)
        rc = cmd_exec(&d);
    else if (strcmp(d.cmd, "warm") == 0)
        rc = cmd_warm(&d);
    else if (strcmp(d.cmd, "run") == 0)
        rc = cmd_run(&d);
    else if (strcmp(d.cmd, "verify") == 0)
        rc = cmd_verify(&d);
    else if (strcmp(d.cmd, "live") == 0)
        rc = cmd_live(&d);
    else if (strcmp(d.cmd, "runs") == 0)
        rc = cmd_runs(&d);
    else if (strcmp(d.cmd, "dump") == 0)
        rc = cmd_dump(&d);
    else
        rc = usage();
    free(d.models);
    cache_close(d.cache);
    schema_free(d.schema);
    poller_db_fini(&d.db);
    return rc;
}
