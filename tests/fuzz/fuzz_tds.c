/*
 * tdslite's request reader: a client's byte stream through the packet
 * layer (tds_msg_read over a real socket, ATTENTION polling included),
 * then each message by its type as the session reads it: PRELOGIN,
 * LOGIN7, SQL batch text and RPC requests with their typed parameters,
 * and the T-SQL of a batch or of sp_executesql's @stmt/@params through
 * the rewriter. Nothing is executed: SQLite is not part of the target.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session.h"

static void sql_text(const char *sql, size_t len)
{
    struct rw_batch b;
    struct tds_error e;
    if (rw_batch_parse(&b, sql, len, "fuzz", &e) == 0)
        rw_batch_fini(&b);
}

/* ALL_HEADERS (TDS 7.2+): its length must fit the message. */
static bool skip_headers(struct tds_rd *r)
{
    uint32_t hl = tds_rd_u32(r);
    if (r->bad || hl < 4 || hl > r->len)
        return false;
    r->off = hl;
    return true;
}

static void sql_batch(const struct buf *msg)
{
    struct tds_rd r = {.p = buf_data(msg), .len = msg->len};
    if (!skip_headers(&r) || (r.len - r.off) % 2)
        return;
    struct buf sql;
    buf_init(&sql, 0);
    utf16_to_utf8(&sql, r.p + r.off, (r.len - r.off) / 2);
    sql_text(sql.len ? (const char *)buf_data(&sql) : "", sql.len);
    buf_fini(&sql);
}

/* The text parameters sp_executesql reads: @stmt, then @params. */
static void rpc_texts(const struct tds_params *ps)
{
    for (size_t i = 0; i < ps->n && i < 2; i++) {
        const struct tds_param *p = &ps->p[i];
        if (p->cls != TDS_VAL_TEXT)
            continue;
        const char *text = (const char *)buf_data(&ps->arena) + p->off;
        if (i == 0) {
            sql_text(text, p->len);
        } else {
            char(*names)[RW_NAME_MAX];
            size_t n;
            struct tds_error e;
            if (rw_params_decl(text, p->len, &names, &n, &e) == 0)
                free(names);
        }
    }
}

/* RPC requests (MS-TDS 2.2.6.6), one after the other: the procedure's
 * name (or id after 0xFFFF), option flags, parameters, a separator byte. */
static void rpc(const struct buf *msg)
{
    struct tds_rd r = {.p = buf_data(msg), .len = msg->len};
    if (!skip_headers(&r))
        return;
    while (r.off < r.len) {
        uint16_t nl = tds_rd_u16(&r);
        if (nl == 0xFFFF)
            tds_rd_u16(&r);
        else
            tds_rd_take(&r, (size_t)nl * 2);
        tds_rd_u16(&r);
        if (r.bad)
            return;
        struct tds_params ps = {0};
        buf_init(&ps.arena, 0);
        struct tds_error e;
        int rc = rpc_params_decode(&r, &ps, &e);
        if (rc == 0)
            rpc_texts(&ps);
        tds_params_fini(&ps);
        if (rc < 0)
            return;
        if (r.off < r.len)
            r.off++;
    }
}

static void message(struct tds_conn *c)
{
    const uint8_t *p = buf_data(&c->msg);
    size_t n = c->msg.len;
    switch (c->msg_type) {
    case TDS_PKT_PRELOGIN: {
        uint8_t enc;
        (void)tds_prelogin_parse(p, n, &enc);
        break;
    }
    case TDS_PKT_LOGIN7: {
        struct tds_login login;
        (void)tds_login_parse(p, n, &login);
        break;
    }
    case TDS_PKT_SQL_BATCH:
        sql_batch(&c->msg);
        break;
    case TDS_PKT_RPC:
        rpc(&c->msg);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The whole stream fits a socket's buffer (fuzz.sh bounds -max_len). */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("fuzz: socketpair");
        abort();
    }
    if (size && write(sv[1], data, size) != (ssize_t)size) {
        perror("fuzz: write");
        abort();
    }
    shutdown(sv[1], SHUT_WR);
    struct tds_conn c;
    tds_conn_init(&c, sv[0], 1);
    while (tds_msg_read(&c) == 0) {
        message(&c);
        tds_attn_poll(&c);
    }
    tds_conn_fini(&c);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
