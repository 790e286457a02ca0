/*
 * The listening sockets of a server with several service loops: one per
 * loop on the same address and port (SO_REUSEPORT), so that the kernel
 * spreads new connections over the loops and each loop accepts its own
 * without a hand-off thread. A server with one loop lets lws listen.
 */
#include "sio/sio_int.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_on(const struct addrinfo *ai, int *fd)
{
    int one = 1, zero = 0;
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0)
        return -errno;
    /* An IPv6 wildcard takes IPv4 clients too, as lws' own listener does. */
    if (ai->ai_family == AF_INET6)
        (void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(s, ai->ai_addr, ai->ai_addrlen) < 0 || listen(s, SOMAXCONN) < 0) {
        int e = -errno;
        close(s);
        return e;
    }
    *fd = s;
    return 0;
}

int sio_listen_open(const char *bind, int port, int *fd, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    const char *host = bind && bind[0] ? bind : NULL;
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s (with several loops, bind takes an "
                 "address, not an interface name)", host ? host : "*", port, gai_strerror(g));
        return -EINVAL;
    }
    int rc = -EADDRNOTAVAIL;
    /* Without a bind address, the IPv6 wildcard first: it serves both families. */
    for (int want6 = 1; want6 >= 0 && rc < 0; want6--)
        for (struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next)
            if ((ai->ai_family == AF_INET6) == want6)
                rc = listen_on(ai, fd);
    freeaddrinfo(res);
    if (rc < 0)
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host ? host : "*", port,
                 strerror(-rc));
    return rc;
}

int sio_listen_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
