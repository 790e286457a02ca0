/*
 * tdslite: a TDS 7.4 server backed by SQLite, a ConnectWise-like data
 * generator and a churn simulator. See --help and docs/tdslite.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "log.h"
#include "net.h"
#include "tdslite.h"

static const char usage[] =
    "usage: tdslite [options]\n"
    "\n"
    "A TDS 7.4 (SQL Server wire protocol) server backed by a SQLite file, for\n"
    "tests and demos: FreeTDS (tsql, db-lib) and the cwcache poller talk to it\n"
    "as to SQL Server.\n"
    "\n"
    "Serving:\n"
    "  --db FILE            SQLite data file (default tdslite.db; created empty if missing)\n"
    "  --listen ADDR        address to listen on (default 127.0.0.1)\n"
    "  --port N             TCP port (default 1433; 0 picks a free port)\n"
    "  --ready-file PATH    once listening, write the port number to PATH\n"
    "  --user NAME          login name clients must use (default sa)\n"
    "  --password PW        password clients must use (default tdslite)\n"
    "  --database NAME      database name reported to clients (default cwwebapp_demo)\n"
    "  --churn RATE         while serving, apply RATE changes per second to the data\n"
    "  --tls-cert PEM       offer TLS with this certificate (chain); with --tls-key, every\n"
    "                       session is encrypted, as SQL Server with Force Encryption\n"
    "  --tls-key PEM        the certificate's private key\n"
    "  --tls-login-only     as SQL Server without Force Encryption: a client that does not\n"
    "                       ask for encryption gets TLS for its login packet only\n"
    "  --log-level LEVEL    error, warn, info (default) or debug (one line per connection\n"
    "                       and per statement)\n"
    "  --lossy-datetime-params\n"
    "                       datetime RPC parameters arrive up to 1 ms low, as on some\n"
    "                       T-SQL servers (Babelfish: .190 arrives as .189); for tests\n"
    "\n"
    "Data:\n"
    "  --generate SIZE      create FILE with a ConnectWise-like data set of SIZE companies\n"
    "                       (contacts 3x, opportunities 1x, ...); replaces FILE unless it\n"
    "                       already holds the same size/seed/schema; exits unless --serve\n"
    "  --schema PATH        Prisma schema file or directory (default schema/connectwise.prisma)\n"
    "  --seed N             PRNG seed for --generate and churn (default 1)\n"
    "  --churn-once N       apply N changes to FILE and exit (unless --serve)\n"
    "  --serve              serve after --generate / --churn-once\n"
    "\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 success, 1 error, 2 usage. SIGTERM/SIGINT stop the server cleanly.\n";

struct opts {
    struct tds_server srv;
    const char *schema;
    uint64_t generate, churn_once;
    bool serve, have_generate, have_churn_once;
};

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max) {
        fprintf(stderr, "tdslite: %s: '%s' is not a number in 0..%" PRIu64 "\n", opt, s, max);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

enum {
    O_DB = 256, O_LISTEN, O_PORT, O_READY, O_USER, O_PASSWORD, O_DATABASE, O_CHURN, O_LOG,
    O_GENERATE, O_SCHEMA, O_SEED, O_CHURN_ONCE, O_SERVE, O_TLS_CERT, O_TLS_KEY, O_TLS_LOGIN_ONLY,
    O_LOSSY,
};

static const struct option longopts[] = {
    {"db", required_argument, NULL, O_DB},
    {"listen", required_argument, NULL, O_LISTEN},
    {"port", required_argument, NULL, O_PORT},
    {"ready-file", required_argument, NULL, O_READY},
    {"user", required_argument, NULL, O_USER},
    {"password", required_argument, NULL, O_PASSWORD},
    {"database", required_argument, NULL, O_DATABASE},
    {"churn", required_argument, NULL, O_CHURN},
    {"log-level", required_argument, NULL, O_LOG},
    {"generate", required_argument, NULL, O_GENERATE},
    {"schema", required_argument, NULL, O_SCHEMA},
    {"seed", required_argument, NULL, O_SEED},
    {"churn-once", required_argument, NULL, O_CHURN_ONCE},
    {"serve", no_argument, NULL, O_SERVE},
    {"tls-cert", required_argument, NULL, O_TLS_CERT},
    {"tls-key", required_argument, NULL, O_TLS_KEY},
    {"tls-login-only", no_argument, NULL, O_TLS_LOGIN_ONLY},
    {"lossy-datetime-params", no_argument, NULL, O_LOSSY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int opt_one(struct opts *o, int c, const char *arg)
{
    uint64_t v;
    switch (c) {
    case O_DB: o->srv.db_path = arg; return 0;
    case O_LISTEN: o->srv.listen = arg; return 0;
    case O_READY: o->srv.ready_file = arg; return 0;
    case O_USER: o->srv.user = arg; return 0;
    case O_PASSWORD: o->srv.password = arg; return 0;
    case O_DATABASE: o->srv.database = arg; return 0;
    case O_SCHEMA: o->schema = arg; return 0;
    case O_SERVE: o->serve = true; return 0;
    case O_TLS_CERT: o->srv.tls_cert = arg; return 0;
    case O_TLS_KEY: o->srv.tls_key = arg; return 0;
    case O_TLS_LOGIN_ONLY: o->srv.tls_login_only = true; return 0;
    case O_LOSSY: o->srv.lossy_datetime_params = true; return 0;
    case O_PORT:
        if (parse_u64("--port", arg, 65535, &v) < 0)
            return -EINVAL;
        o->srv.port = (unsigned)v;
        return 0;
    case O_SEED:
        return parse_u64("--seed", arg, UINT64_MAX, &o->srv.seed);
    case O_GENERATE:
        o->have_generate = true;
        if (parse_u64("--generate", arg, 10000000, &o->generate) < 0)
            return -EINVAL;
        if (o->generate == 0) {
            fprintf(stderr, "tdslite: --generate: SIZE must be at least 1\n");
            return -EINVAL;
        }
        return 0;
    case O_CHURN_ONCE:
        o->have_churn_once = true;
        return parse_u64("--churn-once", arg, 100000000, &o->churn_once);
    case O_CHURN: {
        char *end;
        o->srv.churn_rate = strtod(arg, &end);
        if (*end || end == arg || !(o->srv.churn_rate >= 0 && o->srv.churn_rate <= 1e6)) {
            fprintf(stderr, "tdslite: --churn: '%s' is not a rate in 0..1000000\n", arg);
            return -EINVAL;
        }
        return 0;
    }
    case O_LOG: {
        int l = log_level_parse(arg);
        if (l < 0) {
            fprintf(stderr, "tdslite: --log-level: '%s' is not error, warn, info or debug\n", arg);
            return -EINVAL;
        }
        log_level = (enum log_level)l;
        return 0;
    }
    }
    return -EINVAL;
}

/* Makes sure the data file exists with the catalog tables, so sessions can open it. */
static int db_prepare(const struct tds_server *srv)
{
    sqlite3 *db;
    if (catalog_open(&db, srv->db_path, srv->database, 0, true) < 0)
        return -EIO;
    int rc = catalog_ensure(db);
    sqlite3_close(db);
    return rc;
}

static int serve(struct opts *o)
{
    if (db_prepare(&o->srv) < 0)
        return 1;
    if (o->srv.tls_cert && tds_tls_new(&o->srv.tls, o->srv.tls_cert, o->srv.tls_key) < 0)
        return 1;
    struct churn *ch = NULL;
    int rc = 0;
    if (o->srv.churn_rate > 0)
        rc = churn_start(&ch, o->srv.db_path, o->srv.churn_rate, o->srv.seed);
    if (rc == 0)
        rc = net_serve(&o->srv);
    churn_stop(ch);
    tds_tls_free(o->srv.tls);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct opts o = {
        .srv = {.db_path = "tdslite.db", .user = "sa", .password = "tdslite",
                .database = "cwwebapp_demo", .listen = "127.0.0.1", .port = 1433, .seed = 1},
        .schema = "schema/connectwise.prisma",
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c == '?' || opt_one(&o, c, optarg) < 0) {
            fputs("Try 'tdslite --help'.\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tdslite: unexpected argument '%s'\nTry 'tdslite --help'.\n", argv[optind]);
        return 2;
    }
    if (!o.srv.tls_cert != !o.srv.tls_key || (o.srv.tls_login_only && !o.srv.tls_cert)) {
        fprintf(stderr, "tdslite: --tls-cert and --tls-key go together (--tls-login-only needs "
                        "both)\nTry 'tdslite --help'.\n");
        return 2;
    }
    if (net_signals_init() < 0)
        return 1;
    if (o.have_generate) {
        struct gen_opts g = {.db_path = o.srv.db_path, .schema_path = o.schema,
                             .companies = o.generate, .seed = o.srv.seed};
        if (gen_run(&g) < 0)
            return 1;
    }
    if (o.have_churn_once && churn_once(o.srv.db_path, o.churn_once, o.srv.seed) < 0)
        return 1;
    if ((o.have_generate || o.have_churn_once) && !o.serve)
        return 0;
    return serve(&o);
}
