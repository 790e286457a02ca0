/*
 * The db-lib login every connection to the source goes through.
 *
 * FreeTDS 1.3 takes encryption, certificate checks and per-connection
 * timeouts only from freetds.conf: DBSETLENCRYPT() returns FAIL and changes
 * nothing, so PRELOGIN would go out as ENCRYPT_OFF whatever the URL says,
 * and dbsetlogintime()/dbsettime() are process-wide. So every distinct
 * setting becomes a section ([cwcache-N]) of a configuration generated here
 * and handed to db-lib once with dbsetifile(); dbopen() then names the
 * section instead of host:port. FreeTDS reads that file first and stops
 * there, so the system's freetds.conf no longer changes these connections
 * (the TDS* environment variables, TDSDUMP included, still apply).
 *
 * The file lives in memory (memfd): no temporary file to place, protect or
 * clean up, and FreeTDS opens it by name as /proc/self/fd/N. A new section
 * is published by writing a complete new memfd and dup3()ing it onto the
 * same descriptor number: a login in another thread opens either the old
 * complete file or the new one, and sections are never removed, so the one
 * it needs is always there.
 */
#include "poller/login.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "poller/poller_int.h"

#define LOGIN_PACKET 32767 /* the largest TDS packet: a wide keyset page in 1/8 the reads */

static pthread_mutex_t conf_mu = PTHREAD_MUTEX_INITIALIZER;
static struct buf conf_text;   /* the whole generated file */
static char **conf_bodies;     /* section i's settings, to find it again */
static unsigned conf_n;
static int conf_fd = -1;       /* the memfd db-lib reads, for the process's life */

void poller_login_section(struct buf *b, const struct poller_db *db,
                          const struct poller_login_timeouts *t)
{
    unsigned login_s = t && t->login_s ? t->login_s : db->login_timeout_s;
    unsigned query_s = t && t->query_s ? t->query_s : db->query_timeout_s;
    buf_printf(b, "\thost = %s\n\tport = %u\n\ttds version = 7.4\n", db->host, db->port);
    buf_printf(b, "\tconnect timeout = %u\n\ttimeout = %u\n", login_s, query_s);
    /* encrypt=false still takes TLS for the login when the server offers it
     * ("request", the client's ENCRYPT_OFF), as the original's driver does;
     * "require" refuses a server without TLS and encrypts the whole session. */
    buf_printf(b, "\tencryption = %s\n", db->encrypt ? "require" : "request");
    if (db->encrypt && !db->trust_server_certificate)
        /* FreeTDS verifies the chain only when a CA file is named ("system":
         * the system's trust store) and then the host name too. */
        buf_printf(b, "\tca file = %s\n\tcheck certificate hostname = yes\n",
                   db->ca_file ? db->ca_file : "system");
}

/* Writes conf_text into a new memfd and makes it the file db-lib reads. */
static int conf_publish(char *err, size_t errlen)
{
    int fd = memfd_create("cwcache-freetds.conf", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create FreeTDS's configuration in memory: %s",
                 strerror(errno));
        return -EIO;
    }
    const uint8_t *p = buf_data(&conf_text);
    for (size_t off = 0; off < conf_text.len;) {
        ssize_t w = write(fd, p + off, conf_text.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "cannot write FreeTDS's configuration: %s", strerror(errno));
            close(fd);
            return -EIO;
        }
        off += (size_t)w;
    }
    if (conf_fd < 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        conf_fd = fd;
        dbsetifile(path);
        return 0;
    }
    int rc = dup3(fd, conf_fd, O_CLOEXEC) < 0 ? -errno : 0;
    close(fd);
    if (rc < 0)
        snprintf(err, errlen, "cannot replace FreeTDS's configuration: %s", strerror(-rc));
    return rc < 0 ? -EIO : 0;
}

/* The section name for these settings, added to the file when new. */
static int conf_section(const struct poller_db *db, const struct poller_login_timeouts *t,
                        char *name, size_t namelen, char *err, size_t errlen)
{
    struct buf body;
    buf_init(&body, 0);
    poller_login_section(&body, db, t);
    buf_putc(&body, '\0');
    const char *text = (const char *)buf_data(&body);
    int rc = 0;
    pthread_mutex_lock(&conf_mu);
    unsigned i = 0;
    while (i < conf_n && strcmp(conf_bodies[i], text) != 0)
        i++;
    if (i == conf_n) {
        size_t before = conf_text.len;
        buf_printf(&conf_text, "[cwcache-%u]\n%s", i, text);
        if ((rc = conf_publish(err, errlen)) == 0) {
            conf_bodies = xrealloc(conf_bodies, (conf_n + 1) * sizeof *conf_bodies);
            conf_bodies[conf_n++] = xstrdup(text);
        } else {
            conf_text.len = before; /* the file stays as db-lib knows it */
        }
    }
    pthread_mutex_unlock(&conf_mu);
    snprintf(name, namelen, "cwcache-%u", i);
    buf_fini(&body);
    return rc;
}

int poller_login_open(DBPROCESS **out, const struct poller_db *db,
                      const struct poller_login_timeouts *t, char *err, size_t errlen)
{
    *out = NULL;
    /* FreeTDS would only say "connection failed" about an unreadable CA file. */
    if (db->encrypt && !db->trust_server_certificate && db->ca_file &&
        access(db->ca_file, R_OK) != 0) {
        snprintf(err, errlen, "trustServerCertificateCA %s: %s", db->ca_file, strerror(errno));
        return -EINVAL;
    }
    char section[32];
    int rc = conf_section(db, t, section, sizeof section, err, errlen);
    if (rc < 0)
        return rc;
    LOGINREC *login = dblogin();
    if (!login) {
        snprintf(err, errlen, "db-lib: cannot allocate a login record");
        return -ENOMEM;
    }
    DBSETLUSER(login, db->user);
    DBSETLPWD(login, db->password);
    DBSETLAPP(login, db->app_name);
    DBSETLCHARSET(login, "UTF-8");
    DBSETLDBNAME(login, db->database);
    DBSETLVERSION(login, DBVERSION_74);
    DBSETLPACKET(login, LOGIN_PACKET);
    *out = dbopen(login, section);
    dbloginfree(login);
    return *out ? 0 : -EIO;
}

int poller_login_set_timeout(DBPROCESS *dbp, unsigned seconds)
{
    char v[16];
    snprintf(v, sizeof v, "%u", seconds ? seconds : 1);
    return dbsetopt(dbp, DBSETTIME, v, 0) == SUCCEED ? 0 : -EINVAL;
}
