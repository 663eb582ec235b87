/* One client connection's byte stream: non-blocking TCP connect (each
 * resolved address in turn) and optional TLS on top, with read/write calls
 * that report "would block" instead of blocking. No WebSocket, no HTTP. */
#ifndef WSH_CLIENT_TRANSPORT_H
#define WSH_CLIENT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "url.h"

/* Caller-owned; zero it (or wsh_tp_close it) before wsh_tp_open. */
typedef struct wsh_tp {
    int fd;                  /* -1 when closed */
    SSL *ssl;                /* NULL for plain TCP */
    struct addrinfo *addrs;  /* resolved addresses; freed when connected or closed */
    struct addrinfo *next;   /* next address to try */
    bool tcp_done;           /* the TCP connection is established */
    bool done;               /* TCP (and TLS) established: read/write allowed */
    bool want_write;         /* the pending step waits for POLLOUT */
    char host[WSH_URL_HOST_MAX];
    bool verify_host;        /* check the certificate's name against host */
} wsh_tp_t;

/* Makes the TLS context for wss/https: peer verification on unless
 * no_verify, trusting ca_file (PEM) or the system's default paths. Returns
 * NULL on failure (WSHUB_ETLS). Free with SSL_CTX_free. */
SSL_CTX *wsh_tp_tls_ctx(const char *ca_file, bool no_verify);

/* Resolves u's host and starts a non-blocking connect. ctx is used when u is
 * TLS (must then be non-NULL). Returns 0 (progress with wsh_tp_progress), or
 * WSHUB_ECONNECT / WSHUB_ETLS / WSHUB_ENOMEM. */
int wsh_tp_open(wsh_tp_t *t, const wsh_url_t *u, SSL_CTX *ctx, bool no_verify);

/* Drives the connect and TLS handshake. Returns 1 once established, 0 while
 * in progress (poll for wsh_tp_events), or WSHUB_ECONNECT / WSHUB_ETLS. */
int wsh_tp_progress(wsh_tp_t *t);

/* Reads up to cap bytes: > 0 bytes read, 0 would block, WSHUB_EIO on EOF or error. */
long wsh_tp_read(wsh_tp_t *t, void *buf, size_t cap);

/* Writes up to len bytes: >= 0 bytes written (0 would block), WSHUB_EIO on error. */
long wsh_tp_write(wsh_tp_t *t, const void *buf, size_t len);

/* POLLIN / POLLOUT bits the transport waits for. */
short wsh_tp_events(const wsh_tp_t *t);

/* Closes the socket (without a TLS close_notify: the WebSocket close
 * handshake already said goodbye) and frees the addresses. Idempotent. */
void wsh_tp_close(wsh_tp_t *t);

#endif
