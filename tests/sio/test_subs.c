/*
 * Subscriptions (src/sio/subs.c) over a real store: the ack, a change
 * event after a commit that covers the subscription (and none after one
 * that does not), coalescing while a change is out, unsubscribe, and
 * `since` on subscribe.
 *
 * The fixture is the smallest that runs subs.c for real: the cache tests'
 * store (tests/cache/fixture.c), a server state with one collector, the
 * loop's read handle, and the worker pool's two queues without threads.
 * step() does what a worker and then the loop do: runs every queued job
 * with the real job code (job.c) on a read handle of its own and delivers
 * the results to the socket (sio_socket_answered). The engine's timer
 * (subs_tick_cb) is played by calling sio_subs_poll() after commits.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "../cache/fixture.h"
#include "json.h"
#include "sio_fixture.h"

static struct collector col;
static struct collector_set cols;
static struct sio *srv;
static struct sio_socket sock;
static struct cache_rd *worker_rd;
static uint64_t next_ack = 1;

static void open_all(void)
{
    fx_open();
    col = (struct collector){.event = "fetchCompanies", .model = fx_model("Company")};
    cols = (struct collector_set){&col, 1};
    srv = xcalloc(1, sizeof *srv);
    srv->o.cache = fx_cache;
    srv->o.schema = fx_schema;
    srv->o.collectors = &cols;
    sio_answers_init(&srv->answers, 1 << 20);
    cr_assert_eq(cache_rd_new(fx_cache, &srv->rd), 0);
    cr_assert_eq(cache_rd_new(fx_cache, &worker_rd), 0);
    queue_init(&srv->pool.jobs, NULL, NULL);
    queue_init(&srv->pool.results, NULL, NULL);
    sio_socket_init(&sock, srv, 1, "test");
    struct cache_value none = cv_null();
    fx_company(1, "Acme", false, &none);
    fx_company(2, "Bolt", false, &none);
    fx_warm("Company");
}

static void close_all(void)
{
    sio_socket_fini(&sock);
    cr_assert_eq(srv->n_subs, 0, "every subscription is freed with its socket");
    for (struct queue_node *n = queue_take_all(&srv->pool.jobs), *next; n; n = next)
        next = n->next, sio_job_free((struct sio_job *)n);
    queue_fini(&srv->pool.jobs);
    queue_fini(&srv->pool.results);
    cache_rd_free(worker_rd);
    cache_rd_free(srv->rd);
    sio_answers_fini(&srv->answers);
    free(srv);
    fx_close();
}

TestSuite(sio_subs, .init = open_all, .fini = close_all);

/* Jobs the subscriptions have out. */
static size_t queued(void)
{
    struct queue_node *all = queue_take_all(&srv->pool.jobs);
    size_t n = 0;
    for (struct queue_node *q = all; q; q = q->next)
        n++;
    /* put them back in order */
    for (struct queue_node *q = all, *next; q; q = next) {
        next = q->next;
        q->next = NULL;
        queue_push(&srv->pool.jobs, q);
    }
    return n;
}

/* A worker runs every queued job, then the loop delivers the results. */
static void step(void)
{
    for (struct queue_node *n = queue_take_all(&srv->pool.jobs), *next; n; n = next) {
        next = n->next;
        n->next = NULL;
        sio_job_ops.run(srv, worker_rd, n);
        queue_push(&srv->pool.results, n);
    }
    struct sio_job *j;
    while ((j = sio_socket_result_next(srv)))
        sio_socket_answered(&sock, j);
}

/* What the engine's timer does after a commit. */
static bool poll_subs(void)
{
    const uint64_t *vers = sio_answers_versions(&srv->answers, fx_cache, srv->rd);
    cr_assert_not_null(vers);
    return sio_subs_poll(&sock, vers);
}

/* The next packet's JSON after its Socket.IO prefix ("43<id>" or "42"); NULL when none. */
static json_t *next_packet(const char *prefix)
{
    struct sio_pkt *p = sio_pktq_pop(&sock.out);
    if (!p)
        return NULL;
    char *t = fixture_text(p);
    sio_pkt_free(p);
    cr_assert_eq(strncmp(t, prefix, strlen(prefix)), 0, "packet %s, wanted %s...", t, prefix);
    json_t *j = json_loads(t + strlen(prefix), 0, NULL);
    cr_assert_not_null(j, "packet %s is not JSON", t);
    free(t);
    return j;
}

/* Sends `subscribe` with args; returns the ack's object (caller frees). */
static json_t *subscribe(const char *args)
{
    json_t *a = json_loads(args, 0, NULL);
    cr_assert_not_null(a, "bad test JSON %s", args);
    uint64_t id = next_ack++;
    sio_subs_subscribe(&sock, id, a);
    json_decref(a);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "43%llu", (unsigned long long)id);
    json_t *ack = next_packet(prefix);
    cr_assert_not_null(ack, "no ack");
    json_t *o = json_incref(json_array_get(ack, 0));
    json_decref(ack);
    return o;
}

static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    cr_assert(json_is_string(v), "no string %s", key);
    return json_string_value(v);
}

/* The next change event's payload ({subscription, event, version, asOf, data, deleted}). */
static json_t *change(void)
{
    json_t *ev = next_packet("42");
    cr_assert_not_null(ev, "no change event");
    cr_assert_str_eq(json_string_value(json_array_get(ev, 0)), "change");
    json_t *o = json_incref(json_array_get(ev, 1));
    json_decref(ev);
    return o;
}

static char *dump(const json_t *v) { return json_dumps(v, JSON_COMPACT); }

static void expect_json(const json_t *v, const char *want)
{
    char *got = dump(v);
    cr_assert_str_eq(got, want);
    free(got);
}

#define SEL "\"select\":{\"id\":true,\"name\":true}"

Test(sio_subs, subscribe_acks_an_id_and_the_version_and_nothing_follows_while_nothing_changes)
{
    json_t *ack = subscribe("{\"event\":\"fetchCompanies\"," SEL "}");
    cr_assert(json_is_true(json_object_get(ack, "success")));
    cr_assert_str_eq(str(ack, "subscription"), "1");
    cr_assert_eq(strlen(str(ack, "version")), CACHE_VERSION_LEN);
    cr_assert_eq(srv->n_subs, 1);
    cr_assert_not(poll_subs());
    cr_assert_eq(queued(), 0, "no change job without a commit");
    step();
    cr_assert_null(sio_pktq_pop(&sock.out));
    json_decref(ack);
}

Test(sio_subs, a_commit_covering_the_subscription_sends_its_rows_and_version)
{
    json_t *ack = subscribe("{\"event\":\"fetchCompanies\"," SEL "}");
    struct cache_value none = cv_null();
    fx_company(2, "Bolt Ltd", false, &none);
    fx_company(3, "Cog", false, &none);
    fx_delete("Company", 1);
    poll_subs();
    cr_assert_eq(queued(), 1);
    step();
    json_t *c = change();
    cr_assert_str_eq(str(c, "subscription"), "1");
    cr_assert_str_eq(str(c, "event"), "fetchCompanies");
    expect_json(json_object_get(c, "data"), "[{\"id\":2,\"name\":\"Bolt Ltd\"},{\"id\":3,\"name\":\"Cog\"}]");
    expect_json(json_object_get(c, "deleted"), "[1]");
    cr_assert_str_neq(str(c, "version"), str(ack, "version"));
    /* The subscription is at the event's version now: nothing more to send. */
    poll_subs();
    cr_assert_eq(queued(), 0);
    json_decref(c);
    json_decref(ack);
}

Test(sio_subs, a_commit_to_a_model_it_does_not_read_sends_nothing)
{
    json_t *ack = subscribe("{\"event\":\"fetchCompanies\"," SEL "}");
    fx_category(7, "Unrelated");
    poll_subs();
    cr_assert_eq(queued(), 0);
    step();
    cr_assert_null(sio_pktq_pop(&sock.out));
    json_decref(ack);
}

Test(sio_subs, commits_while_a_change_is_out_coalesce_into_one_event_latest_per_row)
{
    json_t *ack = subscribe("{\"event\":\"fetchCompanies\"," SEL "}");
    struct cache_value none = cv_null();
    fx_company(1, "v1", false, &none);
    poll_subs();
    cr_assert_eq(queued(), 1);
    /* The client does not read: the job is out, commits go on. */
    for (int i = 2; i <= 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        fx_company(1, name, false, &none);
        fx_company(2, name, false, &none);
        cr_assert(poll_subs(), "a change is out: the subscription waits");
        cr_assert_eq(queued(), 1, "never more than one job per subscription");
    }
    step();
    json_t *c = change();
    /* One event, each row once, at its latest value. */
    expect_json(json_object_get(c, "data"), "[{\"id\":1,\"name\":\"v50\"},{\"id\":2,\"name\":\"v50\"}]");
    cr_assert_null(sio_pktq_pop(&sock.out), "one event for 99 commits");
    poll_subs();
    cr_assert_eq(queued(), 0, "the event covered every commit");
    json_decref(c);
    json_decref(ack);
}

Test(sio_subs, unsubscribe_ends_it_and_an_unknown_id_is_an_error)
{
    json_t *ack = subscribe("{\"event\":\"fetchCompanies\"," SEL "}");
    json_t *a = json_pack("{s:s}", "subscription", str(ack, "subscription"));
    sio_subs_unsubscribe(&sock, 90, a);
    json_t *r = next_packet("4390");
    expect_json(r, "[{\"success\":true}]");
    cr_assert_eq(srv->n_subs, 0);
    cr_assert_eq(sock.n_subs, 0);
    struct cache_value none = cv_null();
    fx_company(1, "After", false, &none);
    poll_subs();
    cr_assert_eq(queued(), 0, "no change for an ended subscription");
    sio_subs_unsubscribe(&sock, 91, a);
    json_decref(r);
    r = next_packet("4391");
    expect_json(r, "[{\"success\":false,\"error\":\"Unknown subscription: 1\"}]");
    json_decref(r);
    json_decref(a);
    json_decref(ack);
}

Test(sio_subs, unsubscribe_while_its_change_is_out_drops_the_event)
{
    json_t *ack = subscribe("{\"event\":\"fetchCompanies\"," SEL "}");
    struct cache_value none = cv_null();
    fx_company(1, "Out", false, &none);
    poll_subs();
    cr_assert_eq(queued(), 1);
    json_t *a = json_pack("{s:s}", "subscription", str(ack, "subscription"));
    sio_subs_unsubscribe(&sock, 9, a);
    json_decref(next_packet("439"));
    step();
    cr_assert_null(sio_pktq_pop(&sock.out), "the ended subscription's event is not sent");
    json_decref(a);
    json_decref(ack);
}

Test(sio_subs, since_on_subscribe_sends_what_the_client_missed_at_the_first_poll)
{
    json_t *first = subscribe("{\"event\":\"fetchCompanies\"," SEL "}");
    char *v = strdup(str(first, "version"));
    json_decref(first);
    struct cache_value none = cv_null();
    fx_company(2, "Missed", false, &none);
    fx_delete("Company", 1);
    char args[256];
    snprintf(args, sizeof args, "{\"event\":\"fetchCompanies\",\"since\":\"%s\"," SEL "}", v);
    json_t *ack = subscribe(args);
    cr_assert_str_eq(str(ack, "version"), v, "it starts from the client's version");
    cr_assert_str_eq(str(ack, "subscription"), "2");
    /* Both subscriptions see the commits; the second from its since. */
    poll_subs();
    cr_assert_eq(queued(), 2);
    step();
    json_t *c1 = change(), *c2 = change();
    expect_json(json_object_get(c1, "data"), "[{\"id\":2,\"name\":\"Missed\"}]");
    expect_json(json_object_get(c2, "data"), "[{\"id\":2,\"name\":\"Missed\"}]");
    expect_json(json_object_get(c1, "deleted"), "[1]");
    expect_json(json_object_get(c2, "deleted"), "[1]");
    json_decref(c1);
    json_decref(c2);
    json_decref(ack);
    free(v);
}

Test(sio_subs, a_since_from_another_store_acks_resync_and_a_malformed_one_an_error)
{
    json_t *ack = subscribe("{\"event\":\"fetchCompanies\",\"since\":\"not-a-version\"," SEL "}");
    cr_assert(json_is_false(json_object_get(ack, "success")));
    json_decref(ack);
    /* A version of another store (a rebuilt one): the client must fetch again. */
    ack = subscribe("{\"event\":\"fetchCompanies\",\"since\":\"ffffffffffffffff0000000000000001\"," SEL "}");
    cr_assert_str_eq(str(ack, "code"), "RESYNC");
    cr_assert_eq(srv->n_subs, 0, "a refused subscription is not kept");
    json_decref(ack);
}

Test(sio_subs, a_bad_event_or_options_are_refused_in_words)
{
    json_t *ack = subscribe("{\"event\":\"fetchNothing\"}");
    cr_assert_str_eq(str(ack, "error"), "Unknown event: fetchNothing");
    json_decref(ack);
    ack = subscribe("{\"select\":{\"id\":true}}");
    cr_assert_str_eq(str(ack, "error"),
                     "Invalid subscribe: expected {\"event\":\"fetchX\", select or include, since?}");
    json_decref(ack);
    cr_assert_eq(srv->n_subs, 0);
}
