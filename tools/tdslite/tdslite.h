#pragma once
/*
 * tdslite: a TDS 7.4 server backed by SQLite, for tests and demos.
 *
 * Internal header shared by the files of tools/tdslite/ and their tests.
 * Layers, bottom up:
 *   packet.c   TDS packets <-> whole messages on a socket (struct tds_conn)
 *   tls.c      TLS under the packets (OpenSSL): handshake inside PRELOGIN, then raw
 *   types.c    SQL Server types: declared-type parsing, wire encodings of values
 *   token.c    token stream writers (COLMETADATA, ROW, DONE, ERROR, ...)
 *   prelogin.c login.c   the connection handshake
 *   rewrite.c  T-SQL subset -> SQLite (tokenizer based)
 *   rpc.c      RPC requests (sp_executesql) and their typed parameters
 *   exec.c     statements on SQLite, results as tokens
 *   catalog.c  declared SQL Server column types kept beside the tables
 *   session.c  one connection's request loop
 *   net.c      listener, one thread per connection, shutdown
 *   gen*.c churn.c   data generator and churn simulator
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define LOG_TDS "tdslite"

/* ---- packet.c ------------------------------------------------------------------------------ */

enum tds_pkt_type {
    TDS_PKT_SQL_BATCH = 0x01,
    TDS_PKT_RPC = 0x03,
    TDS_PKT_REPLY = 0x04,
    TDS_PKT_ATTENTION = 0x06,
    TDS_PKT_BULK = 0x07,
    TDS_PKT_TRANS = 0x0E,
    TDS_PKT_LOGIN7 = 0x10,
    TDS_PKT_SSPI = 0x11,
    TDS_PKT_PRELOGIN = 0x12,
};

#define TDS_HDR_LEN 8
#define TDS_STATUS_EOM 0x01
#define TDS_PKT_MIN 512
#define TDS_PKT_MAX 32767
#define TDS_PKT_DEFAULT 4096
/* Upper bound of one request message: a client that announces more is dropped. */
#define TDS_MSG_MAX (64u << 20)

struct tds_conn;

/* The transport under the packets when it is not the plain socket (tls.c
 * installs one): calls shaped like recv()/send() on c->fd. */
struct tds_io {
    /* Bytes read, 0 at the end of the stream, -1 with errno (EAGAIN when
     * !block and nothing is ready). */
    ssize_t (*read)(struct tds_conn *c, void *p, size_t n, bool block);
    /* Writes all n bytes: n, or -1 with errno. */
    ssize_t (*write)(struct tds_conn *c, const void *p, size_t n);
    /* Decrypted bytes wait inside the transport (the socket may look idle). */
    bool (*pending)(const struct tds_conn *c);
};

struct tds_conn {
    int fd;
    const struct tds_io *io; /* NULL: the plain socket */
    void *io_state;          /* the transport's (tls.c: its SSL) */
    uint16_t spid;
    unsigned packet_size;   /* negotiated; bounds both directions */
    /* input: a read-ahead buffer and the message being reassembled */
    uint8_t *in;
    size_t in_off, in_len, in_cap;
    struct buf msg;         /* payload of the last complete message */
    uint8_t msg_type;
    /* output: whole packets, written in large chunks */
    struct buf out;
    size_t pkt_start;       /* offset of the open packet's header in out */
    uint8_t out_type;
    uint8_t pkt_id;
    bool out_open;
    bool broken;            /* a write failed: the peer is gone */
    bool attention;         /* the client sent ATTENTION while we were answering */
};

void tds_conn_init(struct tds_conn *c, int fd, uint16_t spid);
void tds_conn_fini(struct tds_conn *c); /* does not close fd */
/* Reads one whole message into c->msg / c->msg_type. 0, -ECONNRESET at a
 * clean end of stream, -EPROTO for a malformed packet, -EMSGSIZE when the
 * message exceeds TDS_MSG_MAX, -errno for socket errors. */
int tds_msg_read(struct tds_conn *c) MUST_CHECK;
void tds_out_begin(struct tds_conn *c, uint8_t type);
void tds_out_put_slow(struct tds_conn *c, const void *p, size_t n);
/* Closes the last packet with EOM and writes everything: 0 or -EPIPE. */
int tds_out_end(struct tds_conn *c) MUST_CHECK;
/* Non-blocking look for an ATTENTION packet from the client; sets c->attention. */
void tds_attn_poll(struct tds_conn *c);

static inline void tds_put(struct tds_conn *c, const void *p, size_t n)
{
    if (c->out.len + n <= c->pkt_start + c->packet_size)
        buf_append(&c->out, p, n);
    else
        tds_out_put_slow(c, p, n);
}
static inline void tds_put_u8(struct tds_conn *c, uint8_t v) { tds_put(c, &v, 1); }
static inline void tds_put_u16(struct tds_conn *c, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    tds_put(c, b, 2);
}
static inline void tds_put_u32(struct tds_conn *c, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tds_put(c, b, 4);
}
static inline void tds_put_u64(struct tds_conn *c, uint64_t v)
{
    tds_put_u32(c, (uint32_t)v);
    tds_put_u32(c, (uint32_t)(v >> 32));
}

/* Little-endian readers over a bounded input (request parsing). */
struct tds_rd {
    const uint8_t *p;
    size_t len, off;
    bool bad; /* set when a read ran past the end: every later read yields 0 */
};
static inline const uint8_t *tds_rd_take(struct tds_rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}
uint8_t tds_rd_u8(struct tds_rd *r);
uint16_t tds_rd_u16(struct tds_rd *r);
uint32_t tds_rd_u32(struct tds_rd *r);
uint64_t tds_rd_u64(struct tds_rd *r);

/* ---- types.c: text helpers ------------------------------------------------------------------ */

/* UTF-16LE code units needed for UTF-8 text (invalid bytes count as U+FFFD). */
size_t utf8_utf16_units(const char *s, size_t len);
/* Appends UTF-8 text as UTF-16LE to out; returns code units written. */
size_t utf8_to_utf16(struct buf *out, const char *s, size_t len);
/* Appends UTF-16LE (n code units) to out as UTF-8; lone surrogates become U+FFFD. */
void utf16_to_utf8(struct buf *out, const uint8_t *p, size_t units);
/* Windows-1252 <-> UTF-8 (VARCHAR data in the server's collation); unmappable -> '?'. */
void cp1252_to_utf8(struct buf *out, const uint8_t *p, size_t n);
void utf8_to_cp1252(struct buf *out, const char *s, size_t len);

/* ---- types.c: SQL Server types ------------------------------------------------------------- */

enum tds_kind {
    TK_INT,       /* tinyint/smallint/int/bigint: size 1/2/4/8 -> INTN */
    TK_BIT,       /* BITN */
    TK_DECIMAL,   /* decimal/numeric(p,s) -> DECIMALN */
    TK_MONEY,     /* money (8) / smallmoney (4) -> MONEYN */
    TK_FLOAT,     /* float (8) / real (4) -> FLTN */
    TK_DATETIME,  /* datetime (8) / smalldatetime (4) -> DATETIMEN */
    TK_DATETIME2, /* datetime2(scale) -> DATETIME2N */
    TK_DATE,      /* date -> DATEN */
    TK_NVARCHAR,  /* nvarchar/nchar/ntext -> NVARCHAR (max: PLP) */
    TK_VARCHAR,   /* varchar/char/text -> BIGVARCHAR (max: PLP), Windows-1252 */
    TK_GUID,      /* uniqueidentifier */
    TK_VARBINARY, /* varbinary/binary/image -> BIGVARBINARY (max: PLP) */
};

#define TDS_LEN_MAX 0xFFFFFFFFu /* (max) */

struct tds_type {
    enum tds_kind kind;
    uint8_t size;       /* INT 1/2/4/8, MONEY 4/8, FLOAT 4/8, DATETIME 4/8 */
    uint8_t precision;  /* DECIMAL */
    uint8_t scale;      /* DECIMAL, DATETIME2 */
    uint32_t length;    /* strings: characters (bytes for binary); TDS_LEN_MAX for (max) */
};

/* Parses a declared SQL Server type ("nvarchar(50)", "decimal(18, 2)",
 * "datetime2", "NVARCHAR(MAX)", "int", ...) and also SQLite's generic names
 * (INTEGER, TEXT, REAL, BLOB, NUMERIC). -EINVAL for anything else. */
int tds_type_parse(const char *decl, size_t len, struct tds_type *out) MUST_CHECK;
/* Canonical declaration, e.g. "nvarchar(50)", "datetime2(7)", "decimal(38,10)". */
void tds_type_format(const struct tds_type *t, char *out, size_t outlen);
/* Base name only ("nvarchar"), for INFORMATION_SCHEMA.COLUMNS.DATA_TYPE. */
const char *tds_type_name(const struct tds_type *t);
/* The SQLite column type that gives the storage class we want (see DESIGN in catalog.c). */
const char *tds_type_sqlite_decl(const struct tds_type *t);
bool tds_type_is_text(const struct tds_type *t);

/* ---- types.c: value encodings ---------------------------------------------------------------- */

/* A point in time as SQL Server's date types see it. */
struct tds_when {
    int32_t days;     /* since 0001-01-01 */
    uint64_t ticks;   /* 100 ns units since midnight (< 864000000000) */
};
/* Parses 'YYYY-MM-DD', 'YYYY-MM-DD HH:MM[:SS[.f{1,7}]]' (also with 'T'). -EINVAL otherwise. */
int tds_when_parse(const char *s, size_t len, struct tds_when *out) MUST_CHECK;
/* Canonical stored form 'YYYY-MM-DD HH:MM:SS.fffffff' (28 bytes incl. NUL), or
 * 'YYYY-MM-DD' when date_only. Both sort as text in time order. */
void tds_when_format(const struct tds_when *w, bool date_only, char out[28]);
/* datetime <-> when: days since 1900-01-01 and 1/300 s ticks (rounded to the nearest). */
void tds_when_from_datetime(int32_t days1900, uint32_t t300, struct tds_when *out);
int tds_when_to_datetime(const struct tds_when *w, int32_t *days1900, uint32_t *t300) MUST_CHECK;
int32_t tds_days_from_civil(int y, unsigned m, unsigned d); /* days since 0001-01-01 */
void tds_civil_from_days(int32_t days, int *y, unsigned *m, unsigned *d);

/* Exact decimals: a sign and up to 38 digits scaled by 10^scale. */
struct tds_dec {
    bool neg;
    unsigned __int128 mag;
};
/* Parses "-123.4500", "1e3", "+.5" rounding half away from zero to `scale`
 * digits. -EINVAL for non-numbers, -ERANGE past 38 digits. */
int tds_dec_parse(const char *s, size_t len, uint8_t scale, struct tds_dec *out) MUST_CHECK;
/* Formats mag/10^scale without exponent ("-0.0050"); out must hold 42 bytes. */
void tds_dec_format(const struct tds_dec *d, uint8_t scale, char *out);
/* Number of decimal digits of mag (1 for 0). */
unsigned tds_dec_digits(unsigned __int128 mag);

/* uniqueidentifier text <-> SQL Server's 16 wire bytes (first three groups little-endian). */
int tds_guid_parse(const char *s, size_t len, uint8_t out[16]) MUST_CHECK;
void tds_guid_format(const uint8_t in[16], char out[37]); /* upper case */

/* ---- token.c --------------------------------------------------------------------------------- */

enum {
    TDS_DONE_FINAL = 0x00,
    TDS_DONE_MORE = 0x01,
    TDS_DONE_ERROR = 0x02,
    TDS_DONE_INXACT = 0x04,
    TDS_DONE_COUNT = 0x10,
    TDS_DONE_ATTN = 0x20,
    TDS_DONE_SRVERROR = 0x100,
};
enum { TDS_TOK_DONE = 0xFD, TDS_TOK_DONEPROC = 0xFE, TDS_TOK_DONEINPROC = 0xFF };

/* An error as SQL Server reports it. */
struct tds_error {
    int32_t number;
    uint8_t state, class_;
    char msg[512];
};
void tds_error_set(struct tds_error *e, int32_t number, uint8_t class_, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The collation sent with every character column: SQL_Latin1_General_CP1_CI_AS. */
extern const uint8_t tds_collation[5];
#define TDS_SERVER_NAME "tdslite"

void tds_tok_done(struct tds_conn *c, uint8_t token, uint16_t status, uint16_t curcmd,
                  uint64_t rows);
void tds_tok_message(struct tds_conn *c, bool is_error, const struct tds_error *e,
                     const char *proc);
void tds_tok_envchange_str(struct tds_conn *c, uint8_t type, const char *newv, const char *oldv);
void tds_tok_envchange_collation(struct tds_conn *c);
void tds_tok_loginack(struct tds_conn *c);
void tds_tok_returnstatus(struct tds_conn *c, int32_t status);
/* Writes a B_VARCHAR (1-byte char count) / US_VARCHAR (2-byte) of UTF-8 text. */
void tds_put_bvarchar(struct tds_conn *c, const char *s);
void tds_put_usvarchar(struct tds_conn *c, const char *s, size_t len);

struct tds_column {
    struct tds_type type;
    bool nullable;
    char name[129]; /* UTF-8 */
};
void tds_tok_colmetadata(struct tds_conn *c, const struct tds_column *cols, size_t n);

/* A value on its way to the wire: the result of reading one SQLite cell. */
enum tds_val_class { TDS_VAL_NULL, TDS_VAL_INT, TDS_VAL_REAL, TDS_VAL_TEXT, TDS_VAL_BLOB };
struct tds_val {
    enum tds_val_class cls;
    int64_t i;
    double d;
    const uint8_t *p; /* TEXT (UTF-8) or BLOB; not owned */
    size_t len;
};
/* Appends one column value to out (ROW encoding; NULL as the type's NULL).
 * scratch is reused between calls. -ERANGE/-EINVAL with e set when the value
 * does not fit the column's type (e.g. 300 in a tinyint). */
int tds_val_put(struct buf *out, const struct tds_type *t, const struct tds_val *v,
                struct buf *scratch, struct tds_error *e) MUST_CHECK;

/* ---- prelogin.c / login.c ------------------------------------------------------------------- */

struct tds_login {
    char user[129], password[129], database[129], app[129], host[129];
    uint32_t tds_version;  /* as sent (little-endian value), e.g. 0x74000004 */
    uint32_t packet_size;
};
/* PRELOGIN ENCRYPTION values (MS-TDS 2.2.6.5). */
enum tds_encrypt { TDS_ENCRYPT_OFF = 0, TDS_ENCRYPT_ON = 1, TDS_ENCRYPT_NOT_SUP = 2,
                   TDS_ENCRYPT_REQ = 3 };
/* What the server tells to where the client stands, as SQL Server does
 * (MS-TDS 2.2.6.5's table): without TLS always NOT_SUP; with TLS and
 * `force` (SQL Server's Force Encryption) the whole session is encrypted
 * whatever the client sent; without `force` a client sending OFF gets OFF
 * (TLS for the login packet only) and NOT_SUP gets none. */
enum tds_encrypt tds_prelogin_answer(bool tls, bool force, uint8_t client);
/* Parses a PRELOGIN payload: *encrypt gets the client's ENCRYPTION byte (0 if absent). */
int tds_prelogin_parse(const uint8_t *p, size_t len, uint8_t *encrypt) MUST_CHECK;
/* Writes our PRELOGIN answer with ENCRYPTION enc as a whole message. */
int tds_prelogin_reply(struct tds_conn *c, enum tds_encrypt enc) MUST_CHECK;
int tds_login_parse(const uint8_t *p, size_t len, struct tds_login *out) MUST_CHECK;

/* ---- server-wide options ---------------------------------------------------------------------- */

struct tds_server {
    const char *db_path;
    const char *user, *password;
    const char *database;   /* the name clients see */
    const char *listen;
    unsigned port;
    const char *ready_file;
    double churn_rate;      /* changes per second while serving; 0 = off */
    uint64_t seed;
    const char *tls_cert, *tls_key; /* PEM files: TLS offered when set */
    bool tls_login_only;    /* like SQL Server without Force Encryption */
    struct tds_tls *tls;    /* made from tls_cert/tls_key by main(); NULL: no TLS */
    bool lossy_datetime_params; /* datetime RPC parameters arrive up to 1 ms low (as on Babelfish) */
};

/* ---- tls.c ------------------------------------------------------------------------------------ */

/* TLS as TDS 7.x carries it: after PRELOGIN the handshake travels inside
 * PRELOGIN packets; then TLS records run straight over TCP, for the whole
 * session or (ENCRYPT_OFF on both sides) for the LOGIN7 packet only. */
struct tds_tls;
/* Loads the certificate chain and key. -EINVAL with the reason logged. */
int tds_tls_new(struct tds_tls **out, const char *cert, const char *key) MUST_CHECK;
void tds_tls_free(struct tds_tls *t); /* accepts NULL */
/* Runs the server side of the handshake on c (right after our PRELOGIN
 * answer) and installs TLS as c's transport. -EPROTO on failure (logged). */
int tds_tls_start(struct tds_conn *c, const struct tds_tls *t) MUST_CHECK;
/* Back to the plain socket (after a login-only LOGIN7); frees the TLS state. */
void tds_tls_stop(struct tds_conn *c);
/* "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384" of c's TLS transport, for the log. */
const char *tds_tls_describe(const struct tds_conn *c, char *out, size_t outlen);

/* ---- catalog.c --------------------------------------------------------------------------------- */

struct sqlite3;
/* Creates the side tables (__tdslite_columns, __tdslite_meta) if missing. */
int catalog_ensure(struct sqlite3 *db) MUST_CHECK;
/* Records one column's declared type. */
int catalog_column_add(struct sqlite3 *db, const char *table, const char *column, int ordinal,
                       const struct tds_type *t, bool nullable, bool identity) MUST_CHECK;
int catalog_table_drop(struct sqlite3 *db, const char *table) MUST_CHECK;
/* Looks a column's declared type up: 0, -ENOENT, or -EIO. */
int catalog_column_type(struct sqlite3 *db, const char *table, const char *column,
                        struct tds_type *t, bool *nullable) MUST_CHECK;
/* Refreshes the temp tables behind INFORMATION_SCHEMA.* for this connection. */
int catalog_info_schema_refresh(struct sqlite3 *db, const char *dbname) MUST_CHECK;
/* Registers tdslite's SQL functions (tdslite_sysutcdatetime(), ...) on a connection. */
int catalog_functions_register(struct sqlite3 *db, const char *dbname, int spid) MUST_CHECK;
/* collation.c: NOCASE and LIKE as cwcache compares strings (src/collate.h). */
int tds_collation_register(struct sqlite3 *db) MUST_CHECK;

/* Binds text parameter i as SQL Server would convert it against a typed
 * column: compared with a decimal/numeric or money column (col, NULL when
 * unknown), converted to that type, rounded to its scale (error 8114 or
 * 8115 as SQL Server when it is no number or too large); else
 * datetime-shaped strings in the stored form (rounded to 1/300 s),
 * canonical numbers as numbers, the rest as text (param_text.c). */
struct sqlite3_stmt;
int tds_text_param_bind(struct sqlite3_stmt *st, int i, const char *p, size_t n, const struct tds_type *col,
                        struct tds_error *e) MUST_CHECK;
/* Opens the data file in WAL mode with the functions registered. */
int catalog_open(struct sqlite3 **out, const char *path, const char *dbname, int spid,
                 bool create) MUST_CHECK;
