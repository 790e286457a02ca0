/*
 * DATABASE_URL parsing, in the form the original (Prisma) accepts:
 *
 *   sqlserver://host[:port];key=value;key={value with ; inside};...
 *
 * Keys are case-insensitive. A braced value ends at the first '}' not
 * followed by another '}' ("}}" is a literal '}'). Error messages name the
 * parameter by its position and never quote the text: a mistyped URL could
 * otherwise leak part of the password into a log.
 */
#include "poller/poller.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "num.h"

enum dbkey {
    K_DATABASE, K_USER, K_PASSWORD, K_ENCRYPT, K_TRUST, K_CA, K_APP, K_LOGIN_TIMEOUT,
    K_QUERY_TIMEOUT, K_IGNORED,
};

static const struct {
    const char *name;
    enum dbkey key;
} key_table[] = {
    {"database", K_DATABASE},
    {"initial catalog", K_DATABASE},
    {"user", K_USER},
    {"username", K_USER},
    {"uid", K_USER},
    {"userid", K_USER},
    {"password", K_PASSWORD},
    {"pwd", K_PASSWORD},
    {"encrypt", K_ENCRYPT},
    {"trustServerCertificate", K_TRUST},
    {"trustServerCertificateCA", K_CA},
    {"applicationName", K_APP},
    {"application name", K_APP},
    {"connectTimeout", K_LOGIN_TIMEOUT},
    {"loginTimeout", K_LOGIN_TIMEOUT},
    {"socketTimeout", K_QUERY_TIMEOUT},
    /* Prisma options with no meaning for a single read-only connection. */
    {"connectionLimit", K_IGNORED},
    {"poolTimeout", K_IGNORED},
    {"isolationLevel", K_IGNORED},
    {"schema", K_IGNORED},
    {"multiSubnetFailover", K_IGNORED},
    {"integratedSecurity", K_IGNORED},
};

static void fail(char *err, size_t errlen, const char *msg, unsigned param)
{
    if (param)
        snprintf(err, errlen, "DATABASE_URL: parameter %u: %s", param, msg);
    else
        snprintf(err, errlen, "DATABASE_URL: %s", msg);
}

static int lookup_key(const char *k, size_t n, enum dbkey *out)
{
    for (size_t i = 0; i < sizeof key_table / sizeof key_table[0]; i++)
        if (strlen(key_table[i].name) == n && strncasecmp(key_table[i].name, k, n) == 0) {
            *out = key_table[i].key;
            return 0;
        }
    return -ENOENT;
}

/* Reads one value starting at *p up to ';' or the end; braces allowed. */
static int read_value(const char **p, char **out)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (*s != '{') {
        const char *e = strchr(s, ';');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && s[n - 1] == ' ')
            n--;
        *out = xstrndup(s, n);
        *p = e ? e : s + strlen(s);
        return 0;
    }
    struct buf b;
    buf_init(&b, 0);
    for (s++;; s++) {
        if (*s == '\0') {
            buf_fini(&b);
            return -EINVAL;
        }
        if (*s == '}') {
            if (s[1] != '}')
                break;
            s++;
        }
        buf_putc(&b, *s);
    }
    s++;
    while (*s == ' ')
        s++;
    if (*s != ';' && *s != '\0') {
        buf_fini(&b);
        return -EINVAL;
    }
    *out = xstrndup(b.len ? (const char *)buf_data(&b) : "", b.len);
    buf_fini(&b);
    *p = s;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

static int parse_uint(const char *v, unsigned max, unsigned *out)
{
    uint64_t n;
    int rc = num_parse_u64(v, max, &n);
    if (rc == 0)
        *out = (unsigned)n;
    return rc;
}

static int parse_host(struct poller_db *db, const char *s, size_t n, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    size_t hn = colon ? (size_t)(colon - s) : n;
    if (hn == 0) {
        fail(err, errlen, "missing host after sqlserver://", 0);
        return -EINVAL;
    }
    db->host = xstrndup(s, hn);
    if (colon) {
        char *port = xstrndup(colon + 1, n - hn - 1);
        int rc = parse_uint(port, 65535, &db->port);
        free(port);
        if (rc < 0 || db->port == 0) {
            fail(err, errlen, "port must be a number from 1 to 65535", 0);
            return -EINVAL;
        }
    }
    return 0;
}

static void set_str(char **dst, char *v)
{
    free(*dst);
    *dst = v;
}

static int apply(struct poller_db *db, enum dbkey k, char *v, unsigned param, char *err,
                 size_t errlen)
{
    int rc = 0;
    switch (k) {
    case K_DATABASE: set_str(&db->database, v); return 0;
    case K_USER: set_str(&db->user, v); return 0;
    case K_PASSWORD: set_str(&db->password, v); return 0;
    case K_APP: set_str(&db->app_name, v); return 0;
    case K_CA: set_str(&db->ca_file, v); return 0;
    case K_ENCRYPT: rc = parse_bool(v, &db->encrypt); break;
    case K_TRUST: rc = parse_bool(v, &db->trust_server_certificate); break;
    case K_LOGIN_TIMEOUT: rc = parse_uint(v, 3600, &db->login_timeout_s); break;
    case K_QUERY_TIMEOUT: rc = parse_uint(v, 86400, &db->query_timeout_s); break;
    case K_IGNORED: break;
    }
    free(v);
    if (rc < 0)
        fail(err, errlen,
             k == K_ENCRYPT || k == K_TRUST ? "expected true or false" : "expected a number of seconds",
             param);
    return rc;
}

static int parse_params(struct poller_db *db, const char *p, char *err, size_t errlen)
{
    for (unsigned param = 1; *p; param++) {
        if (*p == ';') {
            p++;
            if (*p == '\0')
                break;
        }
        const char *eq = strchr(p, '=');
        const char *semi = strchr(p, ';');
        if (!eq || (semi && semi < eq)) {
            fail(err, errlen, "expected key=value", param);
            return -EINVAL;
        }
        const char *k = p;
        size_t kn = (size_t)(eq - p);
        while (kn && k[0] == ' ')
            k++, kn--;
        while (kn && k[kn - 1] == ' ')
            kn--;
        enum dbkey key;
        if (lookup_key(k, kn, &key) < 0) {
            fail(err, errlen,
                 "unknown key (known: database, user, password, encrypt, trustServerCertificate, "
                 "trustServerCertificateCA, applicationName, connectTimeout, socketTimeout)",
                 param);
            return -EINVAL;
        }
        p = eq + 1;
        char *v;
        if (read_value(&p, &v) < 0) {
            fail(err, errlen, "unterminated or malformed {braced} value", param);
            return -EINVAL;
        }
        int rc = apply(db, key, v, param, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A value FreeTDS's configuration file can carry: a line of its own there,
 * where ';' and '#' start comments and long lines are cut. */
static int check_conf_value(const char *v, const char *key, char *err, size_t errlen)
{
    for (const char *p = v; *p; p++)
        if (*p == ';' || *p == '#' || (unsigned char)*p < 0x20) {
            snprintf(err, errlen, "DATABASE_URL: %s: ';', '#' and control characters are not "
                                  "supported", key);
            return -EINVAL;
        }
    if (strlen(v) > 200) {
        snprintf(err, errlen, "DATABASE_URL: %s: longer than 200 characters", key);
        return -EINVAL;
    }
    return 0;
}

static int check_tls(const struct poller_db *db, char *err, size_t errlen)
{
    if (db->ca_file && db->trust_server_certificate) {
        fail(err, errlen, "trustServerCertificateCA names the CA to verify the server with; "
                          "trustServerCertificate=true turns verification off: use one of them", 0);
        return -EINVAL;
    }
    int rc = check_conf_value(db->host, "host", err, errlen);
    if (rc == 0 && db->ca_file)
        rc = check_conf_value(db->ca_file, "trustServerCertificateCA", err, errlen);
    return rc;
}

int poller_db_parse(struct poller_db *out, const char *url, char *err, size_t errlen)
{
    static const char scheme[] = "sqlserver://";
    *out = (struct poller_db){.port = 1433, .encrypt = true, .login_timeout_s = 15,
                              .query_timeout_s = 120};
    if (!url || strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
        fail(err, errlen, "must start with sqlserver://", 0);
        return -EINVAL;
    }
    const char *p = url + sizeof scheme - 1;
    size_t hn = strcspn(p, ";");
    int rc = parse_host(out, p, hn, err, errlen);
    if (rc == 0)
        rc = parse_params(out, p + hn, err, errlen);
    if (rc == 0 && !out->database) {
        fail(err, errlen, "missing database=", 0);
        rc = -EINVAL;
    }
    if (rc == 0 && !out->user) {
        fail(err, errlen, "missing user=", 0);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = check_tls(out, err, errlen);
    if (rc < 0) {
        poller_db_fini(out);
        return rc;
    }
    if (!out->password)
        out->password = xstrdup("");
    if (!out->app_name)
        out->app_name = xstrdup("cwcache");
    return 0;
}

void poller_db_fini(struct poller_db *db)
{
    if (!db)
        return;
    free(db->host);
    free(db->database);
    free(db->user);
    if (db->password) {
        /* Do not leave the password in freed heap memory. */
        volatile char *v = db->password;
        while (*v)
            *v++ = 0;
        free(db->password);
    }
    free(db->app_name);
    free(db->ca_file);
    *db = (struct poller_db){0};
}
