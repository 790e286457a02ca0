/*
 * bench_cache_render: how close the query renderer gets to a plain memcpy
 * of its own output. Fills a temporary store with N generated Company-like
 * rows, then renders every row as full records and as a 2-field select,
 * REPS times each, and reports medians: rows/s, MB/s, and the ratio of the
 * render time to a memcpy of the same output bytes measured in the same
 * run (the limit: a renderer cannot beat copying its answer).
 *
 * Then the query options against the full-record answer, CPU per answer
 * (this thread's CPU time, what a server worker spends per ack before
 * the socket): a 100-row page by cursor, a `where` on the key (both read
 * through the key's B-tree), and an unindexed `where` that scans every
 * row (rows/s).
 *
 * Then patching (issue 14 goal 2): after an update of k random rows (k =
 * 1, 10, 100), the CPU of the next answer patched from the one before
 * (cache_query_patch: the k rows rendered, the rest copied) against a
 * full render of the same snapshot, for full records and the 2-field
 * select; each patched answer is checked equal to the full render. Each
 * answer goes into a fresh buffer, as the server's answers do, and the
 * floor is shown: a memcpy of the answer's bytes into a fresh buffer.
 * Twice: with glibc's default allocation (freed memory reused: the work
 * of each path) and as the server allocates (buffers of 1 MiB and more
 * mapped afresh: page faults included, whichever path wrote the bytes).
 *
 * usage: bench_cache_render [N] [REPS] [CASE]  (defaults 10000, 7, every case;
 *        CASE names one case, e.g. "select 2", to profile it alone)
 *        bench_cache_render --smoke       (tiny run for the test suite)
 * Exit codes: 0 success, 1 error, 2 usage.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "cache/cache.h"
#include "num.h"
#include "schema.h"

static const char schema_text[] =
    "model Company {\n"
    "  companyRecId       Int       @id\n"
    "  companyId          String\n"
    "  companyName        String\n"
    "  phoneNbr           String?\n"
    "  faxNbr             String?\n"
    "  websiteUrl         String?\n"
    "  accountNbr         String?\n"
    "  companyStatusRecId Int?\n"
    "  ownerLevelRecId    Int?\n"
    "  billingTermsRecId  Int?\n"
    "  taxCodeRecId       Int?\n"
    "  deleteFlag         Boolean\n"
    "  leadFlag           Boolean\n"
    "  annualRevenue      Float?\n"
    "  numberOfEmployees  Int?\n"
    "  creditLimit        Decimal?\n"
    "  dateAcquired       DateTime?\n"
    "  lastUpdate         DateTime\n"
    "  updatedBy          String?\n"
    "  parentRecId        Int?\n"
    "}\n";

#define NF 20
#define BATCH 20000

/* One generated row; text lives in t until the next call. */
static void row_make(uint64_t i, struct cache_value *v, char t[6][64])
{
    snprintf(t[0], 64, "C%06" PRIu64, i);
    snprintf(t[1], 64, "Company %" PRIu64 " Holdings, Inc.", i * 7919 % 100000);
    snprintf(t[2], 64, "+1 555 %04" PRIu64, i % 10000);
    snprintf(t[3], 64, "https://www.c%" PRIu64 ".example.com/", i);
    snprintf(t[4], 64, "%" PRIu64 ".%02" PRIu64, i % 100000, i % 100);
    snprintf(t[5], 64, "user%" PRIu64, i % 50);
    int64_t ms = 1500000000000LL + (int64_t)i * 1000;
    struct cache_value r[NF] = {
        {.kind = CV_INT, .i = (int64_t)i},
        {.kind = CV_TEXT, .s = {(const uint8_t *)t[0], strlen(t[0])}},
        {.kind = CV_TEXT, .s = {(const uint8_t *)t[1], strlen(t[1])}},
        {.kind = CV_TEXT, .s = {(const uint8_t *)t[2], strlen(t[2])}},
        {.kind = CV_NULL},
        {.kind = CV_TEXT, .s = {(const uint8_t *)t[3], strlen(t[3])}},
        {.kind = i % 3 ? CV_TEXT : CV_NULL, .s = {(const uint8_t *)t[0], strlen(t[0])}},
        {.kind = CV_INT, .i = (int64_t)(i % 7)},
        {.kind = CV_INT, .i = (int64_t)(i % 3)},
        {.kind = CV_INT, .i = 1},
        {.kind = i % 2 ? CV_INT : CV_NULL, .i = 12},
        {.kind = CV_BOOL, .b = i % 97 == 0},
        {.kind = CV_BOOL, .b = i % 5 == 0},
        {.kind = CV_FLOAT, .f = (double)(i % 1000) * 1234.5},
        {.kind = CV_INT, .i = (int64_t)(i % 5000)},
        {.kind = CV_DECIMAL, .s = {(const uint8_t *)t[4], strlen(t[4])}},
        {.kind = CV_DATETIME, .ms = ms - 86400000LL * 365},
        {.kind = CV_DATETIME, .ms = ms},
        {.kind = CV_TEXT, .s = {(const uint8_t *)t[5], strlen(t[5])}},
        {.kind = i > 10 ? CV_INT : CV_NULL, .i = (int64_t)(i / 10)},
    };
    memcpy(v, r, sizeof r);
}

static int fill(struct cache *c, const struct schema_model *m, uint64_t n)
{
    struct cache_value v[NF];
    char t[6][64], err[256];
    for (uint64_t i = 1; i <= n;) {
        struct cache_wtxn *w;
        int rc = cache_wtxn_begin(c, &w);
        for (uint64_t k = 0; rc == 0 && k < BATCH && i <= n; k++, i++) {
            row_make(i, v, t);
            rc = cache_row_put(w, m, v, NULL, err, sizeof err);
        }
        if (rc < 0) {
            fprintf(stderr, "bench_cache_render: fill: %s %s\n", strerror(-rc), err);
            cache_wtxn_abort(w);
            return rc;
        }
        if ((rc = cache_wtxn_commit(w)) < 0)
            return rc;
    }
    return 0;
}

struct result {
    double render_s, memcpy_s, cpu_s;
    size_t bytes;
};

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Median render time and median memcpy time of the same bytes. */
static int measure(struct cache_rd *rd, const struct cache_plan *p, int reps, struct result *res)
{
    double tr[64], tm[64], tc[64];
    struct buf out, copy;
    buf_init(&out, 0);
    buf_init(&copy, 0);
    int rc = 0;
    for (int r = 0; r < reps && rc == 0; r++) {
        buf_reset(&out);
        double t0 = clock_mono_s(), c0 = thread_cpu_s();
        if ((rc = cache_rd_begin(rd)) < 0)
            break;
        struct cache_source src = cache_source_lmdb(rd);
        rc = cache_query_render(p, &src, &out, 0, NULL);
        cache_rd_end(rd);
        tr[r] = clock_mono_s() - t0;
        tc[r] = thread_cpu_s() - c0;
        if (r == 0) { /* touch the copy's pages once, as the render's buffer is by now */
            buf_reserve(&copy, out.len);
            memset(buf_data(&copy), 0, out.len);
        }
        t0 = clock_mono_s();
        memcpy(buf_data(&copy), buf_data(&out), out.len);
        tm[r] = clock_mono_s() - t0;
        if (memcmp(buf_data(&copy), buf_data(&out), 1) != 0) /* keep the copy observable */
            rc = -EIO;
    }
    res->bytes = out.len;
    res->render_s = bench_median(tr, (size_t)reps);
    res->memcpy_s = bench_median(tm, (size_t)reps);
    res->cpu_s = bench_median(tc, (size_t)reps);
    buf_fini(&out);
    buf_fini(&copy);
    return rc;
}

static void report(const char *name, uint64_t n, const struct result *r)
{
    printf("%-14s %10.1f MB %10.2f ms %12.0f rows/s %9.0f MB/s %9.2f ms memcpy %7.1fx memcpy "
           "%10.2f ms CPU\n", name, (double)r->bytes / 1e6, r->render_s * 1e3, (double)n / r->render_s,
           (double)r->bytes / 1e6 / r->render_s, r->memcpy_s * 1e3, r->render_s / r->memcpy_s,
           r->cpu_s * 1e3);
}

static void report_query(const char *name, uint64_t n, const struct result *r, const struct result *full)
{
    printf("%-14s %10.3f MB %10.3f ms CPU %9.5fx full's CPU", name, (double)r->bytes / 1e6,
           r->cpu_s * 1e3, r->cpu_s / full->cpu_s);
    if (strstr(name, "scan")) /* every row read: the scan rate */
        printf(" %12.0f rows/s", (double)n / r->cpu_s);
    putchar('\n');
}

static const char *only; /* the one case to run, or NULL */

static int run_case(struct cache *c, const struct schema_model *m, const char *name, const char *opts,
                    uint64_t n, int reps, const struct result *full, struct result *out)
{
    struct collector col = {.event = "bench", .model = m};
    struct cache_plan p;
    struct cache_rd *rd;
    struct result res = {0};
    char err[256];
    if (only && strcmp(only, name) != 0) {
        if (out)
            *out = (struct result){.cpu_s = 1, .render_s = 1, .memcpy_s = 1};
        return 0;
    }
    json_t *j = opts ? json_loads(opts, 0, NULL) : NULL;
    int rc = cache_plan_parse(&p, &col, j, err, sizeof err);
    json_decref(j);
    if (rc < 0) {
        fprintf(stderr, "bench_cache_render: %s\n", err);
        return rc;
    }
    if ((rc = cache_rd_new(c, &rd)) == 0) {
        rc = measure(rd, &p, reps, &res);
        cache_rd_free(rd);
    }
    if (rc == 0 && full)
        report_query(name, n, &res, full);
    else if (rc == 0)
        report(name, n, &res);
    if (out)
        *out = res;
    cache_plan_fini(&p);
    return rc;
}

/* ---- patching ------------------------------------------------------------------------ */

/* Marks the model warm, so its changes are logged (patching reads the log). */
static int warm_mark(struct cache *c, const struct schema_model *m)
{
    struct cache_wtxn *w;
    struct cache_meta meta = {.state = CACHE_WARM};
    int rc = cache_wtxn_begin(c, &w);
    if (rc == 0 && (rc = cache_meta_put(w, m, &meta)) < 0)
        cache_wtxn_abort(w);
    return rc == 0 ? cache_wtxn_commit(w) : rc;
}

/* Stores k random rows again with a new companyName, in one transaction. */
static int change_rows(struct cache *c, const struct schema_model *m, uint64_t n, unsigned k,
                       unsigned *seed)
{
    struct cache_value v[NF];
    char t[6][64], err[256], name[64];
    struct cache_wtxn *w;
    int rc = cache_wtxn_begin(c, &w);
    for (unsigned i = 0; rc == 0 && i < k; i++) {
        uint64_t id = 1 + (uint64_t)rand_r(seed) % n;
        row_make(id, v, t);
        snprintf(name, sizeof name, "Renamed %u", (unsigned)rand_r(seed));
        v[2].s = (struct slice){(const uint8_t *)name, strlen(name)};
        rc = cache_row_put(w, m, v, NULL, err, sizeof err);
    }
    if (rc < 0) {
        fprintf(stderr, "bench_cache_render: change: %s %s\n", strerror(-rc), err);
        cache_wtxn_abort(w);
        return rc;
    }
    return cache_wtxn_commit(w);
}

static int full_rows(struct cache_rd *rd, const struct cache_plan *p, struct buf *out,
                     struct cache_rows *rows)
{
    struct cache_source src = cache_source_lmdb(rd);
    return cache_query_render_rows(p, &src, out, 0, NULL, rows);
}

/* One sample: the answer before (version v0), k rows changed, then the
 * CPU of patching it and of rendering in full, at the same snapshot. */
static int patch_sample(struct cache *c, const struct schema_model *m, struct cache_rd *rd,
                        const struct cache_plan *p, uint64_t n, unsigned k, unsigned *seed,
                        double *patch_s, double *full_s, double *copy_s, size_t *bytes)
{
    struct buf old, a, b;
    struct cache_rows old_rows = {0}, ra = {0}, rb = {0};
    buf_init(&old, 0);
    buf_init(&a, 0);
    buf_init(&b, 0);
    uint64_t v0 = cache_versions_newest_txn(c);
    int rc = cache_rd_begin(rd);
    if (rc == 0) {
        rc = full_rows(rd, p, &old, &old_rows);
        cache_rd_end(rd);
    }
    if (rc == 0)
        rc = change_rows(c, m, n, k, seed);
    if (rc == 0 && (rc = cache_rd_begin(rd)) == 0) {
        size_t changed;
        double c0 = thread_cpu_s();
        rc = cache_query_patch(p, rd, v0, buf_slice(&old), &old_rows, &a, 0, &ra, &changed);
        double c1 = thread_cpu_s();
        if (rc == 0)
            rc = full_rows(rd, p, &b, &rb);
        *full_s = thread_cpu_s() - c1;
        *patch_s = c1 - c0;
        cache_rd_end(rd);
    }
    if (rc == 0 && (a.len != b.len || memcmp(buf_data(&a), buf_data(&b), a.len) != 0)) {
        fprintf(stderr, "bench_cache_render: the patched answer differs from the full render\n");
        rc = -EIO;
    }
    if (rc == 0) { /* the floor: the answer's bytes written into a fresh buffer */
        double c0 = thread_cpu_s();
        uint8_t *fresh = malloc(b.len);
        memcpy(fresh, buf_data(&b), b.len);
        __asm__ volatile("" : : "r"(fresh) : "memory"); /* the copy is not optimized away */
        *copy_s = thread_cpu_s() - c0;
        free(fresh);
    }
    *bytes = b.len;
    buf_fini(&old);
    buf_fini(&a);
    buf_fini(&b);
    cache_rows_fini(&old_rows);
    cache_rows_fini(&ra);
    cache_rows_fini(&rb);
    return rc;
}

static int patch_case(struct cache *c, const struct schema_model *m, const char *name,
                      const char *opts, uint64_t n, int reps)
{
    struct collector col = {.event = "bench", .model = m};
    struct cache_plan p;
    struct cache_rd *rd;
    char err[256];
    if (only && strcmp(only, "patch") != 0)
        return 0;
    json_t *j = opts ? json_loads(opts, 0, NULL) : NULL;
    int rc = cache_plan_parse(&p, &col, j, err, sizeof err);
    json_decref(j);
    if (rc < 0 || (rc = cache_rd_new(c, &rd)) < 0)
        return rc;
    unsigned seed = 14, ks[] = {1, 10, 100};
    for (size_t i = 0; rc == 0 && i < sizeof ks / sizeof *ks; i++) {
        double tp[64], tf[64], tc[64], ratio[64];
        size_t bytes = 0;
        for (int r = 0; rc == 0 && r < reps; r++) {
            rc = patch_sample(c, m, rd, &p, n, ks[i], &seed, &tp[r], &tf[r], &tc[r], &bytes);
            ratio[r] = tp[r] / tf[r];
        }
        if (rc == 0)
            printf("patch %-8s k=%-4u %8.2f MB %9.3f ms CPU patched %9.3f ms CPU full  %7.4fx full "
                   "%9.3f ms CPU fresh copy\n",
                   name, ks[i], (double)bytes / 1e6, bench_median(tp, (size_t)reps) * 1e3,
                   bench_median(tf, (size_t)reps) * 1e3, bench_median(ratio, (size_t)reps),
                   bench_median(tc, (size_t)reps) * 1e3);
    }
    cache_rd_free(rd);
    cache_plan_fini(&p);
    return rc;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int bench(uint64_t n, int reps)
{
    struct schema *s = NULL;
    char err[256], dir[] = "/tmp/bench-cache-XXXXXX";
    int rc = schema_parse(&s, "bench.prisma", schema_text, strlen(schema_text), err, sizeof err);
    if (rc < 0 || !mkdtemp(dir)) {
        fprintf(stderr, "bench_cache_render: setup: %s\n", rc < 0 ? err : strerror(errno));
        schema_free(s);
        return 1;
    }
    struct cache *c = NULL;
    struct cache_opts o = {.path = dir, .map_size = (size_t)4 << 30, .schema = s};
    const struct schema_model *m = schema_model_find(s, "Company");
    double t0 = clock_mono_s();
    if ((rc = cache_open(&c, &o)) == 0 && (rc = fill(c, m, n)) == 0) {
        printf("bench_cache_render: %" PRIu64 " rows filled in %.2f s; medians of %d runs\n", n,
               clock_mono_s() - t0, reps);
        struct result full;
        char page[160], key[96];
        snprintf(page, sizeof page, "{\"cursor\":{\"companyRecId\":%" PRIu64 "},\"take\":100}", n / 2);
        snprintf(key, sizeof key, "{\"where\":{\"companyRecId\":%" PRIu64 "}}", n / 3);
        rc = run_case(c, m, "full", NULL, n, reps, NULL, &full);
        if (rc == 0)
            rc = run_case(c, m, "select 2", "{\"select\":[\"companyId\",\"companyName\"]}", n, reps,
                          NULL, NULL);
        if (rc == 0)
            rc = run_case(c, m, "page 100", page, n, reps, &full, NULL);
        if (rc == 0)
            rc = run_case(c, m, "where key", key, n, reps, &full, NULL);
        if (rc == 0) /* unindexed: every row is read and tested, few match */
            rc = run_case(c, m, "where scan",
                          "{\"where\":{\"companyName\":{\"startsWith\":\"company 4242\"},"
                          "\"deleteFlag\":false}}", n, reps, &full, NULL);
        if (rc == 0 && (!only || strcmp(only, "patch") == 0))
            rc = warm_mark(c, m);
        /* First with glibc's default (freed memory is reused: the work of
         * each path), then as the server allocates (src/main.c: a buffer
         * of 1 MiB or more is a mapping of its own, so a big answer pays
         * its page faults every time, whichever path made it). */
        for (int alloc = 0; rc == 0 && alloc < 2; alloc++) {
            if (alloc) {
                printf("as the server allocates (M_MMAP_THRESHOLD 1 MiB):\n");
                mallopt(M_MMAP_THRESHOLD, 1 << 20);
            }
            rc = patch_case(c, m, "full", NULL, n, reps);
            if (rc == 0)
                rc = patch_case(c, m, "select 2", "{\"select\":[\"companyId\",\"companyName\"]}",
                                n, reps);
        }
    }
    cache_close(c);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    schema_free(s);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    uint64_t n = 10000, reps = 7;
    if (argc == 2 && strcmp(argv[1], "--smoke") == 0)
        return bench(500, 1);
    if (argc == 4)
        only = argv[3];
    if (argc > 4 || (argc > 1 && (num_parse_u64(argv[1], UINT64_MAX, &n) < 0 || n == 0)) ||
        (argc > 2 && (num_parse_u64(argv[2], 64, &reps) < 0 || reps < 1))) {
        fprintf(stderr, "usage: bench_cache_render [rows] [reps 1..64] [case] | --smoke\n");
        return 2;
    }
    return bench(n, (int)reps);
}
