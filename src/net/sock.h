/* Socket helpers: parse HOST:PORT, open listening sockets, accept; no buffering or protocol. */
#ifndef WSH_NET_SOCK_H
#define WSH_NET_SOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* A parsed listen address. host is an IPv4 or IPv6 literal or a name. */
typedef struct wsh_hostport {
    char host[256];
    uint16_t port;
} wsh_hostport_t;

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (host 0.0.0.0). 0 or -EINVAL. */
int wsh_sock_parse_hostport(const char *s, wsh_hostport_t *out);

/* Opens a non-blocking, close-on-exec listening TCP socket bound to hp with
 * SO_REUSEADDR (and SO_REUSEPORT when reuseport). Returns the fd or -errno.
 * When bound is non-NULL it receives the bound address (port 0 resolves to
 * the OS-assigned port). */
int wsh_sock_listen(const wsh_hostport_t *hp, int backlog, bool reuseport, struct sockaddr_storage *bound);

/* Formats addr as "1.2.3.4:80" or "[::1]:80" into out (at least 64 bytes). */
void wsh_sock_format(const struct sockaddr_storage *addr, char *out, size_t out_len);

/* Accepts one connection: non-blocking, close-on-exec, TCP_NODELAY. Returns
 * the fd, -EAGAIN when none is pending, or another -errno. */
int wsh_sock_accept(int listen_fd, struct sockaddr_storage *peer);

#endif
