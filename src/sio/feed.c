/*
 * The change feed's side of a request: the optional opts keys `meta`,
 * `ifNoneMatch` and `since`, and the envelopes that carry versions.
 *
 * The keys are taken out of the request's options before the plan is
 * parsed, so the query engine sees select/include/... only and a request
 * without them keeps the original's exact bytes. A version is opaque to
 * clients (cache_version_format): the store's id and a data version.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

#define RESYNC_MSG "version too old: fetch again without since"

/* A version option: a string. One of another store never matches. */
static int version_take(const struct cache *c, json_t *opts, const char *key, bool *has,
                        uint64_t *v, bool *foreign, char *err, size_t errlen)
{
    json_t *j = json_object_get(opts, key);
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_string(j)) {
        snprintf(err, errlen, "Invalid %s: expected a version string from an answer's \"version\"",
                 key);
        return -EINVAL;
    }
    int rc = cache_version_parse(c, json_string_value(j), json_string_length(j), v);
    if (rc == -EINVAL) {
        snprintf(err, errlen, "Invalid %s: \"%.40s\" is not a version from an answer's \"version\"",
                 key, json_string_value(j));
        return rc;
    }
    *has = true;
    *foreign = rc == -ESTALE;
    return 0;
}

int sio_feed_take(struct sio_feed *f, const struct cache *c, json_t *opts, char *err, size_t errlen)
{
    *f = (struct sio_feed){0};
    if (!json_is_object(opts))
        return 0;
    json_t *meta = json_object_get(opts, "meta");
    if (meta && !json_is_boolean(meta) && !json_is_null(meta)) {
        snprintf(err, errlen, "Invalid meta: expected true or false");
        return -EINVAL;
    }
    f->meta = json_is_true(meta);
    bool inm_foreign = false;
    int rc = version_take(c, opts, "ifNoneMatch", &f->if_none_match, &f->inm, &inm_foreign, err,
                          errlen);
    if (rc == 0)
        rc = version_take(c, opts, "since", &f->since, &f->since_v, &f->since_foreign, err, errlen);
    if (rc < 0)
        return rc;
    if (f->if_none_match && f->since) {
        snprintf(err, errlen, "Please either use `ifNoneMatch` or `since`, but not both at the same time.");
        return -EINVAL;
    }
    if (inm_foreign)
        f->inm = 0; /* never a version of ours: the answer is sent in full */
    if ((f->if_none_match || f->since) && !c) {
        snprintf(err, errlen, "versions need the cache, and this server has none");
        return -EINVAL;
    }
    json_object_del(opts, "meta");
    json_object_del(opts, "ifNoneMatch");
    json_object_del(opts, "since");
    return 0;
}

bool sio_feed_any(const struct sio_feed *f) { return f->meta || f->if_none_match || f->since; }

void sio_feed_version_put(struct buf *b, const struct cache *c, uint64_t version)
{
    char v[CACHE_VERSION_LEN + 1];
    cache_version_format(c, version, v);
    buf_puts(b, "\"version\":\"");
    buf_puts(b, v);
    buf_putc(b, '"');
}

void sio_feed_meta_put(struct buf *b, const struct cache *c, uint64_t version, int64_t asof_ms)
{
    buf_putc(b, ',');
    sio_feed_version_put(b, c, version);
    buf_puts(b, ",\"asOf\":");
    if (asof_ms)
        json_put_datetime_ms(b, asof_ms);
    else
        buf_puts(b, "null");
}

void sio_feed_not_modified_tail(struct buf *b, const struct cache *c, uint64_t version)
{
    buf_puts(b, "[{\"success\":true,\"notModified\":true,");
    sio_feed_version_put(b, c, version);
    buf_puts(b, "}]");
}

void sio_feed_resync_tail(struct buf *b)
{
    buf_puts(b, "[{");
    sio_feed_resync_put(b);
    buf_puts(b, "}]");
}

int64_t sio_feed_asof(const struct sio *s, const struct cache_plan *p)
{
    if (!s->o.cache)
        return 0;
    uint16_t *ids = xmalloc(s->o.schema->n_models * sizeof *ids);
    int64_t t = cache_asof(s->o.cache, ids, cache_plan_models(p, ids));
    free(ids);
    return t;
}

void sio_feed_resync_put(struct buf *b)
{
    buf_puts(b, "\"success\":false,\"error\":\"" RESYNC_MSG "\",\"code\":\"RESYNC\"");
}

uint64_t sio_feed_version(const struct cache_plan *p, const uint64_t *vers, uint16_t *ids, size_t *n)
{
    *n = cache_plan_models(p, ids);
    return sio_answers_version(ids, *n, vers);
}

int sio_feed_since_render(const struct cache_plan *p, struct cache_rd *rd, uint64_t since,
                          struct buf *data, struct buf *deleted)
{
    uint64_t *keys;
    size_t n;
    int rc = cache_since_keys(rd, p, since, &keys, &n);
    if (rc < 0)
        return rc;
    struct cache_source src = cache_source_lmdb(rd);
    buf_puts(deleted, ",\"deleted\":");
    rc = cache_query_render_keys(p, &src, keys, n, data, deleted);
    free(keys);
    return rc;
}
