#pragma once
/*
 * The one db-lib login (STYLE R13). The server's poller and live pool,
 * cwcachectl, the tests and the benchmarks all log in through
 * poller_login_open(), so each speaks the session production speaks:
 * TDS 7.4, UTF-8, 32 KiB packets, and encryption as DATABASE_URL asks
 * (encrypt=true: TLS for the whole session or no connection).
 *
 * This header includes db-lib's: only code that talks to db-lib itself
 * includes it; everything else goes through poller.h.
 */
#include <sybfront.h>
#include <sybdb.h>

#include "poller/poller.h"

/* Timeouts of one connection in seconds; 0 takes the URL's (connectTimeout,
 * socketTimeout). A query timeout can be changed later on the connection
 * with poller_login_set_timeout(). */
struct poller_login_timeouts {
    unsigned login_s, query_s;
};

/* Logs in as db says (t may be NULL). The caller has called dbinit() and
 * installed its error and message handlers: db-lib's complaints about the
 * login reach them. -EIO: db-lib refused (its reason went to the handlers);
 * -EINVAL/-EIO with err set: the TLS settings cannot be applied (a CA file
 * that cannot be read, no memory file for FreeTDS's configuration).
 * *out belongs to the caller, who dbclose()s it. */
int poller_login_open(DBPROCESS **out, const struct poller_db *db,
                      const struct poller_login_timeouts *t, char *err, size_t errlen) MUST_CHECK;

/* Sets how long each wait for the server may last on this connection
 * (db-lib's DBSETTIME, at least 1 s): a timeout kills the connection. */
int poller_login_set_timeout(DBPROCESS *dbp, unsigned seconds) MUST_CHECK;
