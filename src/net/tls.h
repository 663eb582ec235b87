/* TLS for connections (wss:// and https://): the server's OpenSSL context,
 * reloadable while running, and the per-connection record layer that takes
 * the place of read() and writev() in conn.c. It is conn.c's transport
 * extension (same layer, net/), kept apart so the plaintext file carries no
 * OpenSSL code; it knows nothing of HTTP or WebSocket. docs/security.md (TLS)
 * says what it negotiates and why. */
#ifndef WSH_NET_TLS_H
#define WSH_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct wsh_conn wsh_conn_t;

/* The server's certificate and settings, shared by every worker thread.
 * Created by the server before it listens, freed after every worker is
 * disposed. It holds one OpenSSL SSL_CTX at a time: reload builds a new one
 * and swaps it under a mutex; each connection's SSL keeps a reference to the
 * context it was made from, so a swap never touches open connections. */
typedef struct wsh_tls_ctx wsh_tls_ctx_t;

/* Per-connection TLS state: created by wsh_tls_attach, freed by conn.c's
 * free path (wsh_tls_free) on every close. */
typedef struct wsh_tls wsh_tls_t;

/* Loads the PEM certificate chain and private key. Returns the context, or
 * NULL with one line (no newline) in err naming the file and the reason. */
wsh_tls_ctx_t *wsh_tls_ctx_new(const char *cert_file, const char *key_file, char *err, size_t err_len);
/* Rebuilds the context from the same files (SIGHUP). 0: new connections use
 * the new certificate. -1: err says why, the current certificate stays. Any
 * thread; safe while other threads attach connections. */
int wsh_tls_ctx_reload(wsh_tls_ctx_t *t, char *err, size_t err_len);
/* Number of successful loads (1 after new, +1 per reload): for logs and tests. */
unsigned wsh_tls_ctx_generation(wsh_tls_ctx_t *t);
void wsh_tls_ctx_free(wsh_tls_ctx_t *t);

/* Starts a server-side TLS handshake on a freshly accepted connection (before
 * any byte was read). The handshake is driven by the connection's own events
 * and covered by its handler's deadline (the HTTP request timeout). 0, or -1
 * after closing c (out of memory in OpenSSL). */
int wsh_tls_attach(wsh_conn_t *c, wsh_tls_ctx_t *t);

/* read() for a TLS connection: runs the handshake first, then returns
 * decrypted bytes (>0), 0 at the peer's close_notify or EOF, or -1 with errno
 * EAGAIN (nothing yet) or ECONNABORTED (handshake or record failure: the
 * caller treats it as a failed read). A plaintext HTTP request on the TLS port
 * is answered 400 in plaintext here and the connection closes gracefully. */
ssize_t wsh_tls_read(wsh_conn_t *c, uint8_t *buf, size_t cap);

/* writev() for a TLS connection: gathers the iovecs into records of at most
 * 16 KiB. Returns the bytes taken into the TLS stream (a record that the
 * socket could not take whole is kept and finished by the next call or by
 * wsh_tls_flush, so its bytes count as written), or -1 with errno EAGAIN
 * (the kept record still blocks) or EPIPE (the stream failed). A return
 * short of the total means the socket is full. */
ssize_t wsh_tls_writev(wsh_conn_t *c, const struct iovec *iov, int cnt);

/* Called when the connection's queue is empty: pushes out what TLS still
 * holds (a kept record, handshake bytes). 0: nothing left; -EAGAIN: wait
 * until writable; -EPIPE: the stream failed. */
int wsh_tls_flush(wsh_conn_t *c);

/* Before the write side is shut down: flushes and sends close_notify
 * (RFC 8446 §6.1). 0 when done or impossible (failed stream, handshake not
 * finished); -EAGAIN: call again when writable. */
int wsh_tls_finish(wsh_conn_t *c);

void wsh_tls_free(wsh_tls_t *t);

/* ALPN selection (RFC 7301): "http/1.1" when the client offers it; exposed
 * for unit tests. Returns true and points out and out_len at the chosen name. */
bool wsh_tls_alpn_pick(const uint8_t *client, unsigned client_len, const uint8_t **out, uint8_t *out_len);

#endif
