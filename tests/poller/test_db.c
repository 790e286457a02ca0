#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "poller/poller.h"

TestSuite(poller_db);

static char err[256];

Test(poller_db, parses_the_originals_form)
{
    struct poller_db db;
    int rc = poller_db_parse(&db,
        "sqlserver://db.example:1444;database=cwwebapp_acme;user=reader;password=s3cret;"
        "encrypt=true;trustServerCertificate=true", err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(db.host, "db.example");
    cr_assert_eq(db.port, 1444);
    cr_assert_str_eq(db.database, "cwwebapp_acme");
    cr_assert_str_eq(db.user, "reader");
    cr_assert_str_eq(db.password, "s3cret");
    cr_assert(db.encrypt);
    cr_assert(db.trust_server_certificate);
    cr_assert_str_eq(db.app_name, "cwcache");
    cr_assert_eq(db.login_timeout_s, 15);
    cr_assert_eq(db.query_timeout_s, 120);
    poller_db_fini(&db);
}

Test(poller_db, defaults_port_and_encrypt_and_keys_are_case_insensitive)
{
    struct poller_db db;
    int rc = poller_db_parse(&db, "sqlserver://h;DATABASE=d;User=u;PASSWORD=p;Encrypt=false",
                             err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(db.port, 1433);
    cr_assert_not(db.encrypt);
    cr_assert_not(db.trust_server_certificate);
    poller_db_fini(&db);
}

Test(poller_db, braced_values_hold_semicolons_and_doubled_braces)
{
    struct poller_db db;
    int rc = poller_db_parse(&db, "sqlserver://h:1;database=d;user=u;password={a;b}}c};"
                             "applicationName=cw dev", err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(db.password, "a;b}c");
    cr_assert_str_eq(db.app_name, "cw dev");
    poller_db_fini(&db);
}

Test(poller_db, timeouts_are_read)
{
    struct poller_db db;
    int rc = poller_db_parse(&db, "sqlserver://h;database=d;user=u;connectTimeout=3;socketTimeout=9;"
                             "connectionLimit=5", err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(db.login_timeout_s, 3);
    cr_assert_eq(db.query_timeout_s, 9);
    cr_assert_str_eq(db.password, "");
    poller_db_fini(&db);
}

static void expect_error(const char *url, const char *needle)
{
    struct poller_db db;
    err[0] = '\0';
    int rc = poller_db_parse(&db, url, err, sizeof err);
    cr_assert_eq(rc, -EINVAL, "accepted %s", url);
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
    /* Nothing of any value may reach the message. */
    cr_assert_null(strstr(err, "hunter2"), "password leaked: %s", err);
}

Test(poller_db, malformed_urls_are_rejected_without_leaking_the_password)
{
    expect_error("mysql://h;database=d;user=u", "sqlserver://");
    expect_error(NULL, "sqlserver://");
    expect_error("sqlserver://;database=d;user=u", "host");
    expect_error("sqlserver://h:99999;database=d;user=u", "port");
    expect_error("sqlserver://h:x;database=d;user=u", "port");
    expect_error("sqlserver://h;user=u;password=hunter2", "database");
    expect_error("sqlserver://h;database=d;password=hunter2", "user");
    expect_error("sqlserver://h;database=d;user=u;password=hun;ter2", "parameter 4");
    expect_error("sqlserver://h;database=d;user=u;password=x;hunter2=1", "unknown key");
    expect_error("sqlserver://h;database=d;user=u;password={hunter2", "braced");
    expect_error("sqlserver://h;database=d;user=u;encrypt=hunter2", "true or false");
    expect_error("sqlserver://h;database=d;user=u;connectTimeout=-1", "seconds");
}

Test(poller_db, fini_accepts_null_and_zeroes)
{
    poller_db_fini(NULL);
    struct poller_db db;
    cr_assert_eq(poller_db_parse(&db, "sqlserver://h;database=d;user=u;password=p", err, sizeof err), 0);
    poller_db_fini(&db);
    cr_assert_null(db.password);
    cr_assert_null(db.host);
}

Test(poller_db, a_ca_file_is_read_and_checked)
{
    struct poller_db db;
    int rc = poller_db_parse(&db, "sqlserver://h;database=d;user=u;trustServerCertificateCA=/x/ca.pem",
                             err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(db.ca_file, "/x/ca.pem");
    poller_db_fini(&db);
    rc = poller_db_parse(&db, "sqlserver://h;database=d;user=u;trustServerCertificate=true;"
                         "trustServerCertificateCA=/x/ca.pem", err, sizeof err);
    cr_assert_eq(rc, -EINVAL);
    cr_assert(strstr(err, "use one of them"), "%s", err);
    rc = poller_db_parse(&db, "sqlserver://h;database=d;user=u;trustServerCertificateCA={/x/#ca}",
                         err, sizeof err);
    cr_assert_eq(rc, -EINVAL, "a '#' would start a comment in freetds.conf");
    cr_assert(strstr(err, "trustServerCertificateCA"), "%s", err);
}
