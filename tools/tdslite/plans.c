/*
 * A session's prepared statements, kept by their SQLite text as SQL Server
 * keeps query plans: a client that sends the same statement again (a
 * poller's summary every second, keyset pages through sp_executesql)
 * does not pay SQLite's parse and code generation again. A kept
 * statement is reset as soon as its result is sent, so it holds no read
 * transaction between requests; SQLite prepares it again by itself when
 * the schema changed.
 */
#include "plans.h"

#include <stdlib.h>
#include <string.h>

void plans_init(struct tds_plans *p)
{
    memset(p, 0, sizeof *p);
}

void plans_fini(struct tds_plans *p)
{
    for (size_t i = 0; i < PLANS_MAX; i++) {
        sqlite3_finalize(p->e[i].st);
        free(p->e[i].sql);
    }
    memset(p, 0, sizeof *p);
}

/* The slot to fill: an empty one, else the least recently used. */
static struct tds_plan *victim(struct tds_plans *p)
{
    struct tds_plan *v = &p->e[0];
    for (size_t i = 0; i < PLANS_MAX; i++) {
        if (!p->e[i].st)
            return &p->e[i];
        if (p->e[i].used < v->used)
            v = &p->e[i];
    }
    sqlite3_finalize(v->st);
    free(v->sql);
    memset(v, 0, sizeof *v);
    return v;
}

int plans_prepare(struct tds_plans *p, sqlite3 *db, const char *sql, size_t len, bool keep,
                  sqlite3_stmt **out)
{
    *out = NULL;
    for (size_t i = 0; keep && i < PLANS_MAX; i++) {
        struct tds_plan *e = &p->e[i];
        if (e->st && e->len == len && memcmp(e->sql, sql, len) == 0) {
            e->used = ++p->tick;
            *out = e->st;
            return SQLITE_OK;
        }
    }
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(db, sql, (int)len + 1, keep ? SQLITE_PREPARE_PERSISTENT : 0, out,
                                &tail);
    if (rc != SQLITE_OK || !*out || !keep)
        return rc;
    struct tds_plan *e = victim(p);
    e->sql = xmalloc(len + 1);
    memcpy(e->sql, sql, len);
    e->sql[len] = '\0';
    e->len = len;
    e->st = *out;
    e->used = ++p->tick;
    return SQLITE_OK;
}

void plans_release(struct tds_plans *p, sqlite3_stmt *st)
{
    for (size_t i = 0; i < PLANS_MAX; i++) {
        if (p->e[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st);
}
