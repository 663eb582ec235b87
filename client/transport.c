/* Non-blocking TCP + TLS client transport (see transport.h). */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "wshub.h"

SSL_CTX *wsh_tp_tls_ctx(const char *ca_file, bool no_verify)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Partial writes let one out-buffer be written in pieces across polls. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!no_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            SSL_CTX_free(ctx);
            ERR_clear_error();
            return NULL;
        }
    }
    return ctx;
}

static int try_next_addr(wsh_tp_t *t)
{
    while (t->next) {
        struct addrinfo *ai = t->next;
        t->next = ai->ai_next;
        if (t->fd >= 0)
            close(t->fd);
        t->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (t->fd < 0)
            continue;
        int one = 1;
        setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc;
        do
            rc = connect(t->fd, ai->ai_addr, ai->ai_addrlen);
        while (rc < 0 && errno == EINTR);
        if (rc == 0 || errno == EINPROGRESS) {
            t->tcp_done = rc == 0;
            t->want_write = rc != 0;
            return 0;
        }
    }
    return WSHUB_ECONNECT;
}

int wsh_tp_open(wsh_tp_t *t, const wsh_url_t *u, SSL_CTX *ctx, bool no_verify)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    if (getaddrinfo(u->host, u->port, &hints, &t->addrs) != 0 || !t->addrs)
        return WSHUB_ECONNECT;
    t->next = t->addrs;
    snprintf(t->host, sizeof t->host, "%s", u->host);
    if (u->is_tls) {
        if (!ctx)
            goto fail_tls;
        t->ssl = SSL_new(ctx);
        if (!t->ssl)
            goto fail_tls;
        /* SNI is for names, not address literals (RFC 6066 §3). */
        struct in6_addr a6;
        bool is_ip = inet_pton(AF_INET6, u->host, &a6) == 1 || inet_pton(AF_INET, u->host, &a6) == 1;
        if (!is_ip)
            SSL_set_tlsext_host_name(t->ssl, u->host);
        if (!no_verify) {
            if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), u->host) != 1
                      : SSL_set1_host(t->ssl, u->host) != 1)
                goto fail_tls;
        }
    }
    int rc = try_next_addr(t);
    if (rc != 0)
        wsh_tp_close(t);
    return rc;
fail_tls:
    wsh_tp_close(t);
    ERR_clear_error();
    return WSHUB_ETLS;
}

static int tls_step(wsh_tp_t *t)
{
    if (!t->ssl) {
        t->done = true;
        return 1;
    }
    if (SSL_get_fd(t->ssl) != t->fd && SSL_set_fd(t->ssl, t->fd) != 1)
        return WSHUB_ETLS;
    ERR_clear_error();
    int rc = SSL_connect(t->ssl);
    if (rc == 1) {
        t->done = true;
        t->want_write = false;
        return 1;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        t->want_write = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    ERR_clear_error();
    return WSHUB_ETLS;
}

int wsh_tp_progress(wsh_tp_t *t)
{
    if (t->done)
        return 1;
    if (t->fd < 0)
        return WSHUB_ECONNECT;
    /* Bounded: each failed address is dropped, so the loop ends with the list. */
    while (!t->tcp_done) {
        struct pollfd p = {.fd = t->fd, .events = POLLOUT};
        if (poll(&p, 1, 0) <= 0)
            return 0;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
            t->tcp_done = true;
            break;
        }
        if (try_next_addr(t) != 0)
            return WSHUB_ECONNECT;
    }
    if (t->addrs) {
        freeaddrinfo(t->addrs);
        t->addrs = t->next = NULL;
    }
    return tls_step(t);
}

long wsh_tp_read(wsh_tp_t *t, void *buf, size_t cap)
{
    if (t->ssl) {
        ERR_clear_error();
        int n = SSL_read(t->ssl, buf, cap > 0x40000000 ? 0x40000000 : (int)cap);
        if (n > 0)
            return n;
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        ERR_clear_error();
        return WSHUB_EIO;
    }
    for (;;) {
        ssize_t n = recv(t->fd, buf, cap, 0);
        if (n > 0)
            return n;
        if (n == 0)
            return WSHUB_EIO;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : WSHUB_EIO;
    }
}

long wsh_tp_write(wsh_tp_t *t, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (t->ssl) {
        ERR_clear_error();
        int n = SSL_write(t->ssl, buf, len > 0x40000000 ? 0x40000000 : (int)len);
        if (n > 0)
            return n;
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        ERR_clear_error();
        return WSHUB_EIO;
    }
    for (;;) {
        /* MSG_NOSIGNAL: a library must not kill its host with SIGPIPE. */
        ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : WSHUB_EIO;
    }
}

short wsh_tp_events(const wsh_tp_t *t)
{
    if (t->fd < 0)
        return 0;
    if (!t->done)
        return t->want_write ? POLLOUT : POLLIN;
    return POLLIN;
}

void wsh_tp_close(wsh_tp_t *t)
{
    if (t->ssl) {
        SSL_free(t->ssl);
        t->ssl = NULL;
    }
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    if (t->addrs) {
        freeaddrinfo(t->addrs);
        t->addrs = t->next = NULL;
    }
    t->done = t->tcp_done = t->want_write = false;
}
