/* src/poller/login.c: the freetds.conf section each DATABASE_URL becomes. */
#include <criterion/criterion.h>
#include <string.h>

#include "poller/login.h"
#include "poller/poller_int.h"

TestSuite(poller_login);

static char err[256];

/* The section text of url, NUL-terminated in b. */
static const char *section(struct buf *b, const char *url, const struct poller_login_timeouts *t)
{
    struct poller_db db;
    cr_assert_eq(poller_db_parse(&db, url, err, sizeof err), 0, "%s", err);
    buf_init(b, 0);
    poller_login_section(b, &db, t);
    buf_putc(b, '\0');
    poller_db_fini(&db);
    return (const char *)buf_data(b);
}

Test(poller_login, encrypt_true_requires_tls_and_verifies_with_the_system_store)
{
    struct buf b;
    const char *s = section(&b, "sqlserver://db.example:1444;database=d;user=u;encrypt=true", NULL);
    cr_assert(strstr(s, "\thost = db.example\n\tport = 1444\n\ttds version = 7.4\n"), "%s", s);
    cr_assert(strstr(s, "\tencryption = require\n"), "%s", s);
    cr_assert(strstr(s, "\tca file = system\n\tcheck certificate hostname = yes\n"), "%s", s);
    buf_fini(&b);
}

Test(poller_login, a_ca_file_replaces_the_system_store)
{
    struct buf b;
    const char *s = section(&b, "sqlserver://h;database=d;user=u;trustServerCertificateCA=/etc/ca.pem",
                            NULL);
    cr_assert(strstr(s, "\tencryption = require\n"), "encrypt defaults to true: %s", s);
    cr_assert(strstr(s, "\tca file = /etc/ca.pem\n"), "%s", s);
    buf_fini(&b);
}

Test(poller_login, a_trusted_certificate_is_not_verified)
{
    struct buf b;
    const char *s = section(&b, "sqlserver://h;database=d;user=u;trustServerCertificate=true", NULL);
    cr_assert(strstr(s, "\tencryption = require\n"), "%s", s);
    cr_assert_null(strstr(s, "ca file"), "%s", s);
    buf_fini(&b);
}

Test(poller_login, encrypt_false_only_requests_tls)
{
    struct buf b;
    const char *s = section(&b, "sqlserver://h;database=d;user=u;encrypt=false", NULL);
    cr_assert(strstr(s, "\tencryption = request\n"), "%s", s);
    cr_assert_null(strstr(s, "ca file"), "%s", s);
    buf_fini(&b);
}

Test(poller_login, timeouts_come_from_the_url_unless_the_caller_sets_them)
{
    struct buf b;
    const char *url = "sqlserver://h;database=d;user=u;connectTimeout=3;socketTimeout=90";
    const char *s = section(&b, url, NULL);
    cr_assert(strstr(s, "\tconnect timeout = 3\n\ttimeout = 90\n"), "%s", s);
    buf_fini(&b);
    s = section(&b, url, &(struct poller_login_timeouts){.login_s = 2, .query_s = 15});
    cr_assert(strstr(s, "\tconnect timeout = 2\n\ttimeout = 15\n"), "%s", s);
    buf_fini(&b);
}
