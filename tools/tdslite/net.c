/*
 * The listener: one thread per connection (a test server sees tens of
 * clients, not thousands), TCP_NODELAY on every accepted socket, and a clean
 * stop on SIGTERM/SIGINT: stop accepting, shut the open sockets down so
 * their threads leave their blocking reads, wait for them, return.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "session.h"

static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t w = write(stop_pipe[1], "x", 1); /* async-signal-safe wake-up of poll() */
    (void)w;
    errno = saved;
}

/* Live sessions, so that shutdown can unblock them. */
struct registry {
    pthread_mutex_t mu;
    pthread_cond_t empty;
    struct tds_session **s;
    size_t n, cap;
    uint16_t next_spid;
};

static struct registry reg = {.mu = PTHREAD_MUTEX_INITIALIZER, .empty = PTHREAD_COND_INITIALIZER,
                              .next_spid = 51};

static void reg_add(struct tds_session *s)
{
    pthread_mutex_lock(&reg.mu);
    if (reg.n == reg.cap) {
        reg.cap = reg.cap ? reg.cap * 2 : 16;
        reg.s = xrealloc(reg.s, reg.cap * sizeof *reg.s);
    }
    reg.s[reg.n++] = s;
    pthread_mutex_unlock(&reg.mu);
}

static void reg_remove(struct tds_session *s)
{
    pthread_mutex_lock(&reg.mu);
    for (size_t i = 0; i < reg.n; i++)
        if (reg.s[i] == s) {
            reg.s[i] = reg.s[--reg.n];
            break;
        }
    if (reg.n == 0)
        pthread_cond_broadcast(&reg.empty);
    pthread_mutex_unlock(&reg.mu);
}

static void *session_thread(void *arg)
{
    struct tds_session *s = arg;
    session_run(s);
    reg_remove(s);
    close(s->conn.fd);
    tds_conn_fini(&s->conn);
    free(s);
    return NULL;
}

static int listen_open(const struct tds_server *srv, unsigned *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai;
    char ps[16];
    snprintf(ps, sizeof ps, "%u", srv->port);
    int rc = getaddrinfo(srv->listen, ps, &hints, &ai);
    if (rc != 0) {
        log_error(LOG_TDS, "--listen %s: %s", srv->listen, gai_strerror(rc));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        rc = -errno;
        log_error(LOG_TDS, "listen on %s:%u: %s", srv->listen, srv->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return rc;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int ready_write(const char *path, unsigned port)
{
    /* Written aside and renamed, so a reader never sees a half-written port. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        log_error(LOG_TDS, "--ready-file %s: %s", path, strerror(errno));
        return -errno;
    }
    return 0;
}

static void accept_one(const struct tds_server *srv, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int one = 1;
    /* DESIGN.md "TCP facts": without it a multi-packet reply waits for a delayed ACK. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct tds_session *s = xcalloc(1, sizeof *s);
    pthread_mutex_lock(&reg.mu);
    uint16_t spid = reg.next_spid++;
    if (reg.next_spid == 0)
        reg.next_spid = 51;
    pthread_mutex_unlock(&reg.mu);
    tds_conn_init(&s->conn, fd, spid);
    s->srv = srv;
    reg_add(s);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, session_thread, s) != 0) {
        log_error(LOG_TDS, "spid %u: cannot start a thread", spid);
        reg_remove(s);
        close(fd);
        tds_conn_fini(&s->conn);
        free(s);
    }
    pthread_attr_destroy(&attr);
}

static void sessions_stop(void)
{
    pthread_mutex_lock(&reg.mu);
    for (size_t i = 0; i < reg.n; i++)
        shutdown(reg.s[i]->conn.fd, SHUT_RDWR);
    while (reg.n > 0)
        pthread_cond_wait(&reg.empty, &reg.mu);
    free(reg.s);
    reg.s = NULL;
    reg.cap = 0;
    pthread_mutex_unlock(&reg.mu);
}

int net_signals_init(void)
{
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

bool net_stop_requested(void)
{
    struct pollfd p = {.fd = stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

int net_serve(const struct tds_server *srv)
{
    unsigned port = 0;
    int lfd = listen_open(srv, &port);
    if (lfd < 0)
        return lfd;
    log_info(LOG_TDS, "listening on %s:%u (database '%s', file %s)", srv->listen, port,
             srv->database, srv->db_path);
    printf("tdslite listening on %s:%u\n", srv->listen, port);
    fflush(stdout);
    if (srv->ready_file && ready_write(srv->ready_file, port) < 0) {
        close(lfd);
        return -EIO;
    }
    for (;;) {
        struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (p[0].revents & POLLIN)
            accept_one(srv, lfd);
    }
    log_info(LOG_TDS, "stopping");
    close(lfd);
    sessions_stop();
    return 0;
}
