/*
 * One connection's request loop: PRELOGIN (and TLS when agreed), LOGIN7,
 * then SQL batches, RPCs and ATTENTIONs until the client leaves. A malformed packet ends this
 * connection only (the caller closes the socket); the server goes on.
 */
#include "session.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

enum { ENV_DATABASE = 1, ENV_LANGUAGE = 2, ENV_PACKETSIZE = 4 };
#define TDS_VERSION_72 0x72090002u

/* Length-independent comparison: a password check must not leak its prefix via timing. */
static bool secret_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static int login_fail(struct tds_session *s, const struct tds_error *e)
{
    tds_out_begin(&s->conn, TDS_PKT_REPLY);
    tds_tok_message(&s->conn, true, e, NULL);
    tds_tok_done(&s->conn, TDS_TOK_DONE, TDS_DONE_ERROR, 0, 0);
    int rc = tds_out_end(&s->conn);
    (void)rc; /* the connection ends either way */
    return -EACCES;
}

static int login(struct tds_session *s)
{
    struct tds_login l;
    struct tds_error e;
    if (tds_login_parse(buf_data(&s->conn.msg), s->conn.msg.len, &l) < 0)
        return -EPROTO;
    uint32_t ver = l.tds_version;
    if (ver < TDS_VERSION_72 && ver != 0x72000000u) {
        tds_error_set(&e, 18456, 14, "Login failed for user '%s'. tdslite speaks TDS 7.2 to 7.4 "
                                     "(set TDSVER=7.4).", l.user);
        return login_fail(s, &e);
    }
    if (!secret_eq(l.user, s->srv->user) || !secret_eq(l.password, s->srv->password)) {
        log_info(LOG_TDS, "spid %u: login failed for user '%s'", s->conn.spid, l.user);
        tds_error_set(&e, 18456, 14, "Login failed for user '%s'.", l.user);
        return login_fail(s, &e);
    }
    if (l.database[0] && strcasecmp(l.database, s->srv->database) != 0 &&
        strcasecmp(l.database, "master") != 0) {
        tds_error_set(&e, 4060, 11, "Cannot open database \"%s\" requested by the login. The "
                                    "login failed.", l.database);
        return login_fail(s, &e);
    }
    if (catalog_open(&s->db, s->srv->db_path, s->srv->database, s->conn.spid, false) < 0) {
        tds_error_set(&e, 4060, 11, "Cannot open database \"%s\": the data file is unavailable.",
                      s->srv->database);
        return login_fail(s, &e);
    }
    snprintf(s->user, sizeof s->user, "%s", l.user);
    snprintf(s->dbname, sizeof s->dbname, "%s", s->srv->database);
    unsigned psize = l.packet_size ? l.packet_size : TDS_PKT_DEFAULT;
    if (psize < TDS_PKT_MIN)
        psize = TDS_PKT_MIN;
    if (psize > TDS_PKT_MAX)
        psize = TDS_PKT_MAX;
    char newp[16], oldp[16];
    snprintf(newp, sizeof newp, "%u", psize);
    snprintf(oldp, sizeof oldp, "%u", s->conn.packet_size);

    tds_out_begin(&s->conn, TDS_PKT_REPLY);
    tds_tok_envchange_str(&s->conn, ENV_DATABASE, s->dbname, "master");
    tds_error_set(&e, 5701, 0, "Changed database context to '%s'.", s->dbname);
    tds_tok_message(&s->conn, false, &e, NULL);
    tds_tok_envchange_collation(&s->conn);
    tds_tok_envchange_str(&s->conn, ENV_LANGUAGE, "us_english", "");
    tds_error_set(&e, 5703, 0, "Changed language setting to us_english.");
    tds_tok_message(&s->conn, false, &e, NULL);
    tds_tok_loginack(&s->conn);
    tds_tok_envchange_str(&s->conn, ENV_PACKETSIZE, newp, oldp);
    tds_tok_done(&s->conn, TDS_TOK_DONE, TDS_DONE_FINAL, 0, 0);
    int rc = tds_out_end(&s->conn);
    /* Packets after the login reply use the negotiated size, in both directions. */
    s->conn.packet_size = psize;
    s->logged_in = true;
    log_debug(LOG_TDS, "spid %u: user '%s' logged in (app '%s', host '%s', packet size %u)",
              s->conn.spid, l.user, l.app, l.host, psize);
    return rc;
}

static int prelogin(struct tds_session *s)
{
    uint8_t enc;
    if (tds_prelogin_parse(buf_data(&s->conn.msg), s->conn.msg.len, &enc) < 0)
        return -EPROTO;
    const struct tds_server *srv = s->srv;
    enum tds_encrypt answer = tds_prelogin_answer(srv->tls != NULL, !srv->tls_login_only, enc);
    int rc = tds_prelogin_reply(&s->conn, answer);
    if (rc < 0)
        return rc;
    if (answer == TDS_ENCRYPT_NOT_SUP) {
        if (enc != TDS_ENCRYPT_ON && enc != TDS_ENCRYPT_REQ)
            return 0;
        /* The client insists on TLS, which this server does not offer. */
        log_warn(LOG_TDS, "spid %u: client requires encryption; tdslite runs without TLS "
                          "(start it with --tls-cert/--tls-key, or use encrypt=false / "
                          "encryption = off)", s->conn.spid);
        return -EPROTONOSUPPORT;
    }
    if (enc == TDS_ENCRYPT_NOT_SUP) {
        log_warn(LOG_TDS, "spid %u: client cannot encrypt; this server requires TLS",
                 s->conn.spid);
        return -EPROTONOSUPPORT;
    }
    if ((rc = tds_tls_start(&s->conn, srv->tls)) < 0)
        return rc;
    s->tls_login_only = answer == TDS_ENCRYPT_OFF;
    char what[128];
    log_info(LOG_TDS, "spid %u: TLS (%s) for %s", s->conn.spid,
             tds_tls_describe(&s->conn, what, sizeof what),
             s->tls_login_only ? "the login packet only" : "the whole session");
    return 0;
}

/* Ends a request's reply: the held-back DONE goes out last, or DONE(ATTN) after a cancel. */
static int reply_end(struct tds_session *s, int rc)
{
    if (rc == -ECANCELED || s->conn.attention) {
        s->done_pending = false;
        tds_tok_done(&s->conn, TDS_TOK_DONE, TDS_DONE_ATTN, 0, 0);
        s->conn.attention = false;
    } else if (!s->done_pending) {
        tds_tok_done(&s->conn, TDS_TOK_DONE, TDS_DONE_FINAL, 0, 0);
    }
    exec_done_flush(s, false);
    return tds_out_end(&s->conn);
}

static int sql_batch(struct tds_session *s)
{
    struct tds_rd r = {.p = buf_data(&s->conn.msg), .len = s->conn.msg.len};
    uint32_t hl = tds_rd_u32(&r);
    if (r.bad || hl < 4 || hl > r.len || (r.len - hl) % 2)
        return -EPROTO;
    struct buf sql;
    buf_init(&sql, 0);
    utf16_to_utf8(&sql, r.p + hl, (r.len - hl) / 2);
    tds_out_begin(&s->conn, TDS_PKT_REPLY);
    int rc = exec_batch(s, sql.len ? (const char *)buf_data(&sql) : "", sql.len, NULL, false);
    buf_fini(&sql);
    return reply_end(s, rc);
}

static int unsupported_request(struct tds_session *s, const char *what)
{
    struct tds_error e;
    tds_error_set(&e, 50000, 16, "tdslite does not support %s requests.", what);
    tds_out_begin(&s->conn, TDS_PKT_REPLY);
    exec_error(s, &e, false);
    return reply_end(s, 1);
}

static int request(struct tds_session *s)
{
    uint8_t t = s->conn.msg_type;
    if (!s->logged_in) {
        if (t == TDS_PKT_PRELOGIN)
            return prelogin(s);
        if (t == TDS_PKT_LOGIN7) {
            /* ENCRYPT_OFF on both sides: TLS ended with the LOGIN7 packet. */
            if (s->tls_login_only)
                tds_tls_stop(&s->conn);
            return login(s);
        }
        return -EPROTO;
    }
    switch (t) {
    case TDS_PKT_SQL_BATCH:
        return sql_batch(s);
    case TDS_PKT_RPC:
        return rpc_handle(s);
    case TDS_PKT_ATTENTION:
        /* Nothing is running between requests: acknowledge the cancel. */
        tds_out_begin(&s->conn, TDS_PKT_REPLY);
        tds_tok_done(&s->conn, TDS_TOK_DONE, TDS_DONE_ATTN, 0, 0);
        s->conn.attention = false;
        return tds_out_end(&s->conn);
    case TDS_PKT_TRANS:
        return unsupported_request(s, "transaction manager");
    case TDS_PKT_BULK:
        return unsupported_request(s, "bulk load");
    default:
        return -EPROTO;
    }
}

void session_run(struct tds_session *s)
{
    buf_init(&s->scratch, 0);
    buf_init(&s->row, 0);
    plans_init(&s->plans);
    int rc;
    while ((rc = tds_msg_read(&s->conn)) == 0) {
        if ((rc = request(s)) < 0)
            break;
        if (s->conn.attention) {
            /* A cancel that arrived after the reply was complete still gets its DONE(ATTN). */
            tds_out_begin(&s->conn, TDS_PKT_REPLY);
            tds_tok_done(&s->conn, TDS_TOK_DONE, TDS_DONE_ATTN, 0, 0);
            s->conn.attention = false;
            if ((rc = tds_out_end(&s->conn)) < 0)
                break;
        }
    }
    if (rc == -EPROTO || rc == -EMSGSIZE)
        log_info(LOG_TDS, "spid %u: %s: connection closed", s->conn.spid,
                 rc == -EPROTO ? "malformed TDS packet" : "request too large");
    /* A normal end is not logged: the login line is the connection's one debug line. */
    if (s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    plans_fini(&s->plans);
    sqlite3_close(s->db);
    s->db = NULL;
    tds_tls_stop(&s->conn);
    buf_fini(&s->scratch);
    buf_fini(&s->row);
}
