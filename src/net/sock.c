/* Listening and accepting TCP sockets; everything after accept belongs to conn.c. */
#include "net/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int wsh_sock_parse_hostport(const char *s, wsh_hostport_t *out)
{
    const char *colon;
    const char *host = s;
    size_t host_len;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        host = s + 1;
        host_len = (size_t)(end - host);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        host_len = (size_t)(colon - s);
        /* A bare IPv6 literal must be bracketed: "::1:80" is ambiguous. */
        if (memchr(s, ':', host_len))
            return -EINVAL;
    }
    if (host_len >= sizeof out->host || (s[0] == '[' && host_len == 0))
        return -EINVAL;
    /* strtoul would skip blanks and accept a sign: demand digits only. */
    for (const char *d = colon + 1; *d; d++)
        if (*d < '0' || *d > '9')
            return -EINVAL;
    char *endp;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &endp, 10);
    if (colon[1] == '\0' || *endp != '\0' || errno || port > 65535 || colon[1] == '-' || colon[1] == '+')
        return -EINVAL;
    if (host_len == 0) {
        strcpy(out->host, "0.0.0.0");
    } else {
        memcpy(out->host, host, host_len);
        out->host[host_len] = '\0';
    }
    out->port = (uint16_t)port;
    return 0;
}

int wsh_sock_listen(const wsh_hostport_t *hp, int backlog, bool reuseport, struct sockaddr_storage *bound)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", hp->port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(hp->host, port, &hints, &res);
    if (gai != 0)
        return -EADDRNOTAVAIL;
    int fd = -1, err = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuseport)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
            if (bound) {
                socklen_t sl = sizeof *bound;
                getsockname(fd, (struct sockaddr *)bound, &sl);
            }
            freeaddrinfo(res);
            return fd;
        }
        err = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return err;
}

void wsh_sock_format(const struct sockaddr_storage *addr, char *out, size_t out_len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, out_len, "%s:%u", ip, ntohs(a->sin_port));
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, out_len, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        snprintf(out, out_len, "unknown");
    }
}

int wsh_sock_accept(int listen_fd, struct sockaddr_storage *peer)
{
    socklen_t sl = sizeof *peer;
    int fd;
    do {
        fd = accept4(listen_fd, (struct sockaddr *)peer, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    int one = 1;
    /* Frames are written whole and batched by writev, so Nagle only adds latency. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}
