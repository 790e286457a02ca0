#pragma once
/*
 * One client connection: its socket, its own SQLite connection, and the
 * request loop (session.c), statement execution (exec.c) and RPC decoding
 * (rpc.c) that work on it. A session lives on its own thread.
 */
#include "plans.h"
#include "rewrite.h"
#include "tdslite.h"

struct sqlite3;

/* A typed request parameter, decoded from RPC ParameterData. */
struct tds_param {
    char name[RW_NAME_MAX];  /* "@p1" in lower case; "" when sent unnamed */
    struct tds_type type;    /* as sent on the wire */
    enum tds_val_class cls;  /* what gets bound in SQLite */
    int64_t i;
    double d;
    size_t off, len;         /* TEXT (UTF-8) / BLOB bytes in tds_params.arena */
};

struct tds_params {
    struct tds_param *p;
    size_t n;
    struct buf arena;
    bool lossy_datetime;     /* --lossy-datetime-params: set before decoding */
};
void tds_params_fini(struct tds_params *ps);

struct tds_session {
    struct tds_conn conn;
    const struct tds_server *srv;
    struct sqlite3 *db;
    char dbname[RW_NAME_MAX], user[RW_NAME_MAX];
    bool logged_in;
    bool tls_login_only;      /* TLS ends after the LOGIN7 packet (ENCRYPT_OFF agreed) */
    struct buf scratch;       /* value encoding, reused for every cell */
    struct buf row;           /* one encoded row, sent whole */
    struct tds_plans plans;   /* prepared SELECTs kept by their text */
    /* The DONE of the last statement is held back: only when the next one
     * starts (or the request ends) do we know whether DONE_MORE is due. */
    bool done_pending;
    uint8_t done_token;
    uint16_t done_status;
    uint64_t done_rows;
};

/* Flushes the held-back DONE (with DONE_MORE when more follows). */
void exec_done_flush(struct tds_session *s, bool more);
/* Runs a T-SQL batch; results and errors go to the open reply. in_proc: the
 * batch runs inside sp_executesql (DONEINPROC, parameters bound). Returns 0,
 * 1 when a SQL error was reported (the batch stopped there), -ECANCELED
 * after an ATTENTION, or -EPIPE when the client is gone. */
int exec_batch(struct tds_session *s, const char *sql, size_t len, const struct tds_params *ps,
               bool in_proc) MUST_CHECK;
/* Reports an error as ERROR + DONE(ERROR). */
void exec_error(struct tds_session *s, const struct tds_error *e, bool in_proc);

/* Handles one RPC message (already in s->conn.msg) and writes the whole reply. */
int rpc_handle(struct tds_session *s) MUST_CHECK;
/* Decodes the parameters of one RPC request from r into ps. -EPROTO for
 * malformed data, -ENOTSUP (with e) for types tdslite does not take. */
int rpc_params_decode(struct tds_rd *r, struct tds_params *ps, struct tds_error *e) MUST_CHECK;

/* Runs a connection until the client leaves or the server stops. */
void session_run(struct tds_session *s);
