/* A connected loopback TCP pair for unit tests of the connection and TLS
 * layers: srv accepted by net/sock.c (non-blocking, as the server's are),
 * cli non-blocking too. Include after cmocka.h. */
#ifndef WSH_TESTS_UNIT_TCP_PAIR_H
#define WSH_TESTS_UNIT_TCP_PAIR_H

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/sock.h"

static inline void make_tcp_pair(int *srv, int *cli)
{
    wsh_hostport_t hp;
    assert_int_equal(wsh_sock_parse_hostport("127.0.0.1:0", &hp), 0);
    struct sockaddr_storage bound;
    int lfd = wsh_sock_listen(&hp, 4, false, &bound);
    assert_true(lfd >= 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&bound, sizeof(struct sockaddr_in)), 0);
    struct sockaddr_storage peer;
    *srv = wsh_sock_accept(lfd, &peer);
    assert_true(*srv >= 0);
    close(lfd);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    *cli = fd;
}

#endif
