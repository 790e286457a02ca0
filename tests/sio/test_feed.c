#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "sio/sio_int.h"

static struct schema *schema;
static struct cache *cache;
static char dir[64];

static void open_store(void)
{
    static const char text[] = "model Company {\n  id Int @id\n  name String\n}\n";
    char err[256] = "";
    cr_assert_eq(schema_parse(&schema, "t.prisma", text, strlen(text), err, sizeof err), 0, "%s", err);
    snprintf(dir, sizeof dir, "/tmp/cwcache-feed-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    struct cache_opts o = {.path = dir, .map_size = 16u << 20, .schema = schema};
    cr_assert_eq(cache_open(&cache, &o), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void close_store(void)
{
    cache_close(cache);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    schema_free(schema);
}

TestSuite(sio_feed, .init = open_store, .fini = close_store);

static int take(const char *json, struct sio_feed *f, char *err, json_t **left)
{
    json_t *o = json_loads(json, 0, NULL);
    cr_assert_not_null(o, "bad test JSON %s", json);
    int rc = sio_feed_take(f, cache, o, err, 256);
    if (left)
        *left = o;
    else
        json_decref(o);
    return rc;
}

static char *text(const struct buf *b)
{
    char *t = malloc(b->len + 1);
    memcpy(t, buf_data(b), b->len);
    t[b->len] = '\0';
    return t;
}

Test(sio_feed, no_feed_keys_leave_the_options_as_they_are)
{
    struct sio_feed f;
    char err[256];
    json_t *left;
    cr_assert_eq(take("{\"select\":[\"id\"]}", &f, err, &left), 0);
    cr_assert(!sio_feed_any(&f));
    cr_assert_eq(json_object_size(left), 1);
    json_decref(left);
    cr_assert_eq(sio_feed_take(&f, cache, NULL, err, sizeof err), 0);
    cr_assert(!sio_feed_any(&f));
}

Test(sio_feed, feed_keys_are_taken_out_for_the_plan)
{
    char v[CACHE_VERSION_LEN + 1], req[256];
    cache_version_format(cache, 42, v);
    snprintf(req, sizeof req, "{\"select\":[\"id\"],\"meta\":true,\"since\":\"%s\"}", v);
    struct sio_feed f;
    char err[256];
    json_t *left;
    cr_assert_eq(take(req, &f, err, &left), 0, "%s", err);
    cr_assert(f.meta && f.since && !f.since_foreign && !f.if_none_match);
    cr_assert_eq(f.since_v, 42);
    cr_assert_eq(json_object_size(left), 1, "only select is left");
    json_decref(left);
}

Test(sio_feed, a_version_of_another_store_never_matches_and_is_resync_for_since)
{
    char v[CACHE_VERSION_LEN + 1], req[256];
    cache_version_format(cache, 42, v);
    v[0] = v[0] == '0' ? '1' : '0';
    struct sio_feed f;
    char err[256];
    snprintf(req, sizeof req, "{\"ifNoneMatch\":\"%s\"}", v);
    cr_assert_eq(take(req, &f, err, NULL), 0, "%s", err);
    cr_assert(f.if_none_match);
    cr_assert_eq(f.inm, 0);
    snprintf(req, sizeof req, "{\"since\":\"%s\"}", v);
    cr_assert_eq(take(req, &f, err, NULL), 0, "%s", err);
    cr_assert(f.since && f.since_foreign);
}

Test(sio_feed, malformed_feed_options_are_refused_in_words)
{
    static const char *bad[][2] = {
        {"{\"meta\":\"yes\"}", "meta"},
        {"{\"meta\":1}", "meta"},
        {"{\"since\":42}", "since"},
        {"{\"since\":\"nope\"}", "since"},
        {"{\"ifNoneMatch\":\"00000000000000000000000000000zzz\"}", "ifNoneMatch"},
        {"{\"ifNoneMatch\":[]}", "ifNoneMatch"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sio_feed f;
        char err[256] = "";
        cr_assert_eq(take(bad[i][0], &f, err, NULL), -EINVAL, "%s", bad[i][0]);
        cr_assert_not_null(strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
    }
    char v[CACHE_VERSION_LEN + 1], req[256], err[256] = "";
    cache_version_format(cache, 1, v);
    snprintf(req, sizeof req, "{\"since\":\"%s\",\"ifNoneMatch\":\"%s\"}", v, v);
    struct sio_feed f;
    cr_assert_eq(take(req, &f, err, NULL), -EINVAL);
    cr_assert_not_null(strstr(err, "not both"), "%s", err);
}

Test(sio_feed, envelopes)
{
    struct buf b;
    buf_init(&b, 0);
    sio_feed_meta_put(&b, cache, 7, 0);
    char v[CACHE_VERSION_LEN + 1], want[256];
    cache_version_format(cache, 7, v);
    snprintf(want, sizeof want, ",\"version\":\"%s\",\"asOf\":null", v);
    char *t = text(&b);
    cr_assert_str_eq(t, want, "an unknown asOf is null");
    free(t);
    buf_reset(&b);
    sio_feed_meta_put(&b, cache, 7, 1700000000123);
    t = text(&b);
    cr_assert_not_null(strstr(t, "\"asOf\":\"2023-11-14T22:13:20.123Z\""), "%s", t);
    free(t);
    buf_reset(&b);
    sio_feed_not_modified_tail(&b, cache, 7);
    snprintf(want, sizeof want, "[{\"success\":true,\"notModified\":true,\"version\":\"%s\"}]", v);
    t = text(&b);
    cr_assert_str_eq(t, want);
    free(t);
    buf_reset(&b);
    sio_feed_resync_tail(&b);
    t = text(&b);
    cr_assert_str_eq(t, "[{\"success\":false,\"error\":\"version too old: fetch again without since\","
                        "\"code\":\"RESYNC\"}]");
    free(t);
    buf_fini(&b);
}
