/* Unit tests for src/net/sock.c: HOST:PORT parsing, listening on 127.0.0.1 and
 * [::1] with OS-assigned ports, address formatting and non-blocking accept.
 * Only loopback addresses are used. Not for connection I/O (test_net_conn.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/sock.h"

/* ---- parse_hostport ---- */

static void assert_parses(const char *s, const char *host, uint16_t port)
{
    wsh_hostport_t hp;
    memset(&hp, 0x5a, sizeof hp);
    int rc = wsh_sock_parse_hostport(s, &hp);
    if (rc != 0)
        fail_msg("\"%s\" rejected (%d)", s, rc);
    assert_string_equal(hp.host, host);
    assert_int_equal(hp.port, port);
}

static void assert_rejects(const char *s)
{
    wsh_hostport_t hp;
    int rc = wsh_sock_parse_hostport(s, &hp);
    if (rc != -EINVAL)
        fail_msg("\"%s\": want -EINVAL, got %d (host \"%s\" port %u)", s, rc, rc == 0 ? hp.host : "",
                 rc == 0 ? hp.port : 0);
}

static void test_sock_parse_hostport_ipv4(void **state)
{
    (void)state;
    assert_parses("127.0.0.1:80", "127.0.0.1", 80);
    assert_parses("0.0.0.0:65535", "0.0.0.0", 65535);
    assert_parses("127.0.0.1:0", "127.0.0.1", 0); /* OS-assigned */
}

static void test_sock_parse_hostport_bracketed_ipv6(void **state)
{
    (void)state;
    assert_parses("[::1]:8080", "::1", 8080);
    assert_parses("[::]:1", "::", 1);
    assert_parses("[fe80::1%lo]:9", "fe80::1%lo", 9);
}

static void test_sock_parse_hostport_empty_host_is_any_ipv4(void **state)
{
    (void)state;
    assert_parses(":9000", "0.0.0.0", 9000);
}

static void test_sock_parse_hostport_accepts_names(void **state)
{
    (void)state;
    assert_parses("localhost:8080", "localhost", 8080);
}

static void test_sock_parse_hostport_rejects_unbracketed_ipv6(void **state)
{
    (void)state;
    assert_rejects("::1:80");
    assert_rejects("::1");
    assert_rejects("fe80::1:80");
}

static void test_sock_parse_hostport_rejects_port_out_of_range(void **state)
{
    (void)state;
    assert_rejects("127.0.0.1:65536");
    assert_rejects("127.0.0.1:99999999999999999999");
    assert_rejects("127.0.0.1:-1");
    assert_rejects("127.0.0.1:+80");
    assert_rejects("[::1]:70000");
}

static void test_sock_parse_hostport_rejects_missing_or_malformed_port(void **state)
{
    (void)state;
    assert_rejects("host:");
    assert_rejects("host");
    assert_rejects("");
    assert_rejects(":");
    assert_rejects("127.0.0.1:80x");
    assert_rejects("127.0.0.1:0x50");
    assert_rejects("[::1]");
    assert_rejects("[::1]:");
    assert_rejects("[::1]80");
    assert_rejects("[::1:80");
}

static void test_sock_parse_hostport_rejects_whitespace_in_port(void **state)
{
    (void)state;
    /* strtoul skips leading blanks; an address with a space in it is a typo. */
    assert_rejects("127.0.0.1: 80");
    assert_rejects("127.0.0.1:\t80");
}

static void test_sock_parse_hostport_rejects_empty_brackets(void **state)
{
    (void)state;
    /* "[]" names no address; it must not silently become 0.0.0.0. */
    assert_rejects("[]:80");
}

static void test_sock_parse_hostport_host_length_limit(void **state)
{
    (void)state;
    char s[300], host[256];
    memset(host, 'h', 255);
    host[255] = '\0';
    snprintf(s, sizeof s, "%s:1", host);
    assert_parses(s, host, 1);
    snprintf(s, sizeof s, "h%s:1", host); /* 256 bytes: no room for the NUL */
    assert_rejects(s);
}

/* ---- listen / accept ---- */

static int listen_loopback(struct sockaddr_storage *bound)
{
    wsh_hostport_t hp;
    assert_int_equal(wsh_sock_parse_hostport("127.0.0.1:0", &hp), 0);
    int fd = wsh_sock_listen(&hp, 16, false, bound);
    assert_true(fd >= 0);
    return fd;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void assert_nonblock_cloexec(int fd)
{
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static int connect_to(const struct sockaddr_storage *addr)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    socklen_t len = addr->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    assert_int_equal(connect(fd, (const struct sockaddr *)addr, len), 0);
    return fd;
}

static void test_sock_listen_on_port_zero_reports_bound_port(void **state)
{
    (void)state;
    struct sockaddr_storage bound;
    memset(&bound, 0, sizeof bound);
    int fd = listen_loopback(&bound);
    assert_int_equal(bound.ss_family, AF_INET);
    uint16_t port = port_of(&bound);
    assert_int_not_equal(port, 0);
    struct sockaddr_storage actual;
    socklen_t sl = sizeof actual;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&actual, &sl), 0);
    assert_int_equal(port_of(&actual), port);
    assert_nonblock_cloexec(fd);
    int one = 0;
    socklen_t ol = sizeof one;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, &ol), 0);
    assert_true(one);
    char text[64], want[64];
    wsh_sock_format(&bound, text, sizeof text);
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    assert_string_equal(text, want);
    close(fd);
}

static void test_sock_listen_without_bound_pointer(void **state)
{
    (void)state;
    wsh_hostport_t hp;
    assert_int_equal(wsh_sock_parse_hostport("127.0.0.1:0", &hp), 0);
    int fd = wsh_sock_listen(&hp, 1, false, NULL);
    assert_true(fd >= 0);
    close(fd);
}

static void test_sock_accept_returns_eagain_when_none_pending(void **state)
{
    (void)state;
    int fd = listen_loopback(NULL);
    struct sockaddr_storage peer;
    assert_int_equal(wsh_sock_accept(fd, &peer), -EAGAIN);
    assert_int_equal(wsh_sock_accept(fd, &peer), -EAGAIN);
    close(fd);
}

static void test_sock_accept_returns_nonblocking_nodelay_fd_with_peer(void **state)
{
    (void)state;
    struct sockaddr_storage bound;
    int lfd = listen_loopback(&bound);
    int cfd = connect_to(&bound);
    struct sockaddr_storage local;
    socklen_t sl = sizeof local;
    assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &sl), 0);
    /* The connection is queued by the kernel once connect returns. */
    struct sockaddr_storage peer;
    memset(&peer, 0, sizeof peer);
    int afd = wsh_sock_accept(lfd, &peer);
    assert_true(afd >= 0);
    assert_nonblock_cloexec(afd);
    int nodelay = 0;
    socklen_t ol = sizeof nodelay;
    assert_int_equal(getsockopt(afd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &ol), 0);
    assert_true(nodelay);
    assert_int_equal(peer.ss_family, AF_INET);
    assert_int_equal(port_of(&peer), port_of(&local));
    char text[64];
    wsh_sock_format(&peer, text, sizeof text);
    assert_int_equal(strncmp(text, "127.0.0.1:", 10), 0);
    /* Bytes flow both ways. */
    assert_int_equal(write(cfd, "ping", 4), 4);
    char buf[8];
    ssize_t n;
    do {
        n = read(afd, buf, sizeof buf);
    } while (n < 0 && errno == EAGAIN);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(wsh_sock_accept(lfd, &peer), -EAGAIN);
    close(afd);
    close(cfd);
    close(lfd);
}

static void test_sock_accept_on_a_non_listening_fd_reports_errno(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    struct sockaddr_storage peer;
    int rc = wsh_sock_accept(fd, &peer);
    assert_true(rc < 0 && rc != -EAGAIN);
    assert_int_equal(rc, -EINVAL);
    close(fd);
}

static void test_sock_listen_on_a_taken_port_reports_eaddrinuse(void **state)
{
    (void)state;
    struct sockaddr_storage bound;
    int fd = listen_loopback(&bound);
    wsh_hostport_t hp;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port_of(&bound));
    assert_int_equal(wsh_sock_parse_hostport(addr, &hp), 0);
    assert_int_equal(wsh_sock_listen(&hp, 16, false, NULL), -EADDRINUSE);
    close(fd);
}

static void test_sock_listen_with_reuseport_shares_a_port(void **state)
{
    (void)state;
    wsh_hostport_t hp;
    assert_int_equal(wsh_sock_parse_hostport("127.0.0.1:0", &hp), 0);
    struct sockaddr_storage bound;
    int a = wsh_sock_listen(&hp, 16, true, &bound);
    assert_true(a >= 0);
    hp.port = port_of(&bound);
    int b = wsh_sock_listen(&hp, 16, true, NULL);
    assert_true(b >= 0);
    close(a);
    close(b);
}

static void test_sock_listen_on_a_foreign_address_fails(void **state)
{
    (void)state;
    /* TEST-NET-1 (RFC 5737) is never local: bind fails before any traffic. */
    wsh_hostport_t hp;
    assert_int_equal(wsh_sock_parse_hostport("192.0.2.1:0", &hp), 0);
    assert_int_equal(wsh_sock_listen(&hp, 16, false, NULL), -EADDRNOTAVAIL);
}

static void test_sock_listen_ipv6_loopback_is_v6only_and_formats_bracketed(void **state)
{
    (void)state;
    wsh_hostport_t hp;
    assert_int_equal(wsh_sock_parse_hostport("[::1]:0", &hp), 0);
    struct sockaddr_storage bound;
    int fd = wsh_sock_listen(&hp, 16, false, &bound);
    if (fd == -EADDRNOTAVAIL || fd == -EAFNOSUPPORT)
        skip(); /* no IPv6 loopback in this sandbox */
    assert_true(fd >= 0);
    assert_int_equal(bound.ss_family, AF_INET6);
    int v6only = 0;
    socklen_t ol = sizeof v6only;
    assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol), 0);
    assert_true(v6only);
    char text[64], want[64];
    wsh_sock_format(&bound, text, sizeof text);
    snprintf(want, sizeof want, "[::1]:%u", port_of(&bound));
    assert_string_equal(text, want);
    int cfd = connect_to(&bound);
    struct sockaddr_storage peer;
    int afd = wsh_sock_accept(fd, &peer);
    assert_true(afd >= 0);
    assert_int_equal(peer.ss_family, AF_INET6);
    close(afd);
    close(cfd);
    close(fd);
}

static void test_sock_format_unknown_family(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    char text[64];
    wsh_sock_format(&ss, text, sizeof text);
    assert_string_equal(text, "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sock_parse_hostport_ipv4),
        cmocka_unit_test(test_sock_parse_hostport_bracketed_ipv6),
        cmocka_unit_test(test_sock_parse_hostport_empty_host_is_any_ipv4),
        cmocka_unit_test(test_sock_parse_hostport_accepts_names),
        cmocka_unit_test(test_sock_parse_hostport_rejects_unbracketed_ipv6),
        cmocka_unit_test(test_sock_parse_hostport_rejects_port_out_of_range),
        cmocka_unit_test(test_sock_parse_hostport_rejects_missing_or_malformed_port),
        cmocka_unit_test(test_sock_parse_hostport_rejects_whitespace_in_port),
        cmocka_unit_test(test_sock_parse_hostport_rejects_empty_brackets),
        cmocka_unit_test(test_sock_parse_hostport_host_length_limit),
        cmocka_unit_test(test_sock_listen_on_port_zero_reports_bound_port),
        cmocka_unit_test(test_sock_listen_without_bound_pointer),
        cmocka_unit_test(test_sock_accept_returns_eagain_when_none_pending),
        cmocka_unit_test(test_sock_accept_returns_nonblocking_nodelay_fd_with_peer),
        cmocka_unit_test(test_sock_accept_on_a_non_listening_fd_reports_errno),
        cmocka_unit_test(test_sock_listen_on_a_taken_port_reports_eaddrinuse),
        cmocka_unit_test(test_sock_listen_with_reuseport_shares_a_port),
        cmocka_unit_test(test_sock_listen_on_a_foreign_address_fails),
        cmocka_unit_test(test_sock_listen_ipv6_loopback_is_v6only_and_formats_bracketed),
        cmocka_unit_test(test_sock_format_unknown_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
