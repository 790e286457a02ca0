#pragma once
/* A session's prepared statements by SQLite text (a plan cache; plans.c). */
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PLANS_MAX 16 /* statements kept per session; the least recently used goes first */

struct tds_plan {
    char *sql;        /* owned; the text the statement was prepared from */
    size_t len;
    sqlite3_stmt *st; /* NULL: empty slot */
    uint64_t used;    /* tick of the last use */
};

struct tds_plans {
    struct tds_plan e[PLANS_MAX];
    uint64_t tick;
};

void plans_init(struct tds_plans *p);
/* Finalizes every kept statement; before sqlite3_close. */
void plans_fini(struct tds_plans *p);
/* The statement for sql[0..len) (NUL at sql[len]): a kept one, or a new
 * one, kept when keep. *out is NULL for text without a statement. Returns
 * an SQLite code. Give it back with plans_release() after use. */
int plans_prepare(struct tds_plans *p, sqlite3 *db, const char *sql, size_t len, bool keep,
                  sqlite3_stmt **out);
/* Resets a kept statement (no read transaction stays open), finalizes any other. */
void plans_release(struct tds_plans *p, sqlite3_stmt *st);
