/* TLS with OpenSSL on our loop: the reloadable server context, the
 * non-blocking handshake, and record I/O in place of read()/writev(). */
#include "net/tls.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/alloc.h"
#include "core/log.h"
#include "net/conn.h"

/* Plaintext bytes per record: TLS's maximum (RFC 8446 §5.1), so a batch of
 * small frames leaves in one record and one send(), and a big frame in as
 * few records as the protocol allows. */
#define RECORD_MAX 16384u

/* TLS 1.2 suites: ECDHE key exchange (forward secrecy) with an AEAD cipher
 * only, i.e. OpenSSL's defaults minus RSA key exchange, CBC and SHA-1 MACs
 * (Mozilla's "intermediate" profile without finite-field DHE). TLS 1.3 keeps
 * OpenSSL's defaults, which are all AEAD. */
#define CIPHERS_TLS12 "ECDHE+AESGCM:ECDHE+CHACHA20"

struct wsh_tls_ctx {
    pthread_mutex_t mu;     /* guards ctx and generation against reload */
    SSL_CTX *ctx;           /* one reference is ours; each SSL holds another */
    unsigned generation;
    char *cert_file;
    char *key_file;
};

struct wsh_tls {
    SSL *ssl;
    /* A record that SSL_write could not send whole: OpenSSL wants the same
     * bytes again (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets them live
     * elsewhere), so they are copied here. NULL when nothing is kept. */
    uint8_t *kept;
    uint32_t kept_len;
    uint32_t kept_off;      /* bytes of kept already written */
    bool is_handshaking;
    bool is_failed;         /* fatal error: no more SSL_* calls but free */
    bool is_shut;           /* close_notify sent */
};

/* ---- server context ---------------------------------------------------- */

/* An encrypted key would make OpenSSL prompt on the terminal: refuse instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *data)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)data;
    return 0;
}

bool wsh_tls_alpn_pick(const uint8_t *client, unsigned client_len, const uint8_t **out, uint8_t *out_len)
{
    /* Walk the client's length-prefixed list ourselves: a malformed list
     * (a length running past the end) simply matches nothing. */
    static const uint8_t h1[] = "http/1.1";
    for (unsigned i = 0; i < client_len;) {
        unsigned n = client[i];
        if (n == 0 || i + 1 + n > client_len)
            return false;
        if (n == sizeof h1 - 1 && memcmp(client + i + 1, h1, n) == 0) {
            *out = client + i + 1;
            *out_len = (uint8_t)n;
            return true;
        }
        i += 1 + n;
    }
    return false;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    /* RFC 7301 §3.2: a client that offers protocols but not ours gets the
     * no_application_protocol alert rather than HTTP/1.1 it did not ask for
     * (an h2-only client would otherwise send frames our parser rejects). */
    return wsh_tls_alpn_pick(in, inlen, out, outlen) ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* The reason of the first OpenSSL error queued (the root cause: later ones
 * only say which layer passed it on, e.g. "PEM lib"), or a fallback. */
static const char *ssl_reason(const char *fallback)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : fallback;
}

static SSL_CTX *build_ctx(const char *cert_file, const char *key_file, char *err, size_t err_len)
{
    ERR_clear_error();
    /* fopen first: "No such file or directory" says more than OpenSSL's
     * "system lib". */
    const char *files[2] = {cert_file, key_file};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            snprintf(err, err_len, "cannot read %s \"%s\": %s", i ? "key" : "certificate", files[i], strerror(errno));
            return NULL;
        }
        fclose(f);
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, err_len, "cannot create a TLS context: %s", ssl_reason("out of memory"));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* No compression (CRIME), no renegotiation (a client-driven CPU sink and
     * the source of old MITM bugs); a peer's TCP close without close_notify
     * is an ordinary EOF: WebSocket and HTTP frame their own messages, so
     * truncation cannot go unnoticed. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes: SSL_write returns per record, as writev returns per
     * byte count. Moving buffer: a kept record is retried from our copy.
     * Release buffers: an idle connection holds no 16 KiB read or write
     * buffer (docs/security.md gives the per-connection cost). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* No server-side session cache: it grows with every client. TLS 1.3
     * resumption still works through stateless tickets. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    if (SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12) != 1) {
        snprintf(err, err_len, "cannot set the TLS 1.2 cipher list: %s", ssl_reason("unknown error"));
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(err, err_len, "cannot load certificate \"%s\": %s", cert_file, ssl_reason("not a PEM certificate"));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(err, err_len, "private key \"%s\" does not match certificate \"%s\"", key_file, cert_file);
        else
            snprintf(err, err_len, "cannot load private key \"%s\": %s", key_file,
                     ssl_reason("not an unencrypted PEM key"));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, err_len, "private key \"%s\" does not match certificate \"%s\": %s", key_file, cert_file,
                 ssl_reason("mismatch"));
        goto fail;
    }
    ERR_clear_error();
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

wsh_tls_ctx_t *wsh_tls_ctx_new(const char *cert_file, const char *key_file, char *err, size_t err_len)
{
    SSL_CTX *ctx = build_ctx(cert_file, key_file, err, err_len);
    if (!ctx)
        return NULL;
    wsh_tls_ctx_t *t = wsh_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->ctx = ctx;
    t->generation = 1;
    t->cert_file = wsh_xstrdup(cert_file);
    t->key_file = wsh_xstrdup(key_file);
    return t;
}

int wsh_tls_ctx_reload(wsh_tls_ctx_t *t, char *err, size_t err_len)
{
    /* Built outside the lock: reading files must not stall accepts. */
    SSL_CTX *ctx = build_ctx(t->cert_file, t->key_file, err, err_len);
    if (!ctx)
        return -1;
    pthread_mutex_lock(&t->mu);
    SSL_CTX *old = t->ctx;
    t->ctx = ctx;
    t->generation++;
    pthread_mutex_unlock(&t->mu);
    /* Connections made from the old context keep it alive until they close. */
    SSL_CTX_free(old);
    return 0;
}

unsigned wsh_tls_ctx_generation(wsh_tls_ctx_t *t)
{
    pthread_mutex_lock(&t->mu);
    unsigned g = t->generation;
    pthread_mutex_unlock(&t->mu);
    return g;
}

void wsh_tls_ctx_free(wsh_tls_ctx_t *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    free(t->cert_file);
    free(t->key_file);
    free(t);
}

/* ---- per connection ---------------------------------------------------- */

int wsh_tls_attach(wsh_conn_t *c, wsh_tls_ctx_t *tc)
{
    /* An atomic pointer alone is not enough: between loading it and
     * SSL_new's reference a reload could free the context. The lock covers
     * load + reference, not SSL_new. */
    pthread_mutex_lock(&tc->mu);
    SSL_CTX *ctx = tc->ctx;
    SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&tc->mu);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* SSL_new took its own reference */
    if (!ssl || SSL_set_fd(ssl, c->io.fd) != 1) {
        wsh_log_warn(c->id, "tls: cannot create a session: %s", ssl_reason("out of memory"));
        SSL_free(ssl);
        ERR_clear_error();
        wsh_conn_close(c);
        return -1;
    }
    SSL_set_accept_state(ssl);
    wsh_tls_t *t = wsh_xcalloc(1, sizeof *t);
    t->ssl = ssl;
    t->is_handshaking = true;
    c->tls = t;
    return 0;
}

void wsh_tls_free(wsh_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t->kept);
    free(t);
}

/* A plaintext HTTP request reached the TLS port: say so in plaintext, as a
 * JSON error like every other 4xx, then close gracefully. */
static void refuse_plaintext(wsh_conn_t *c)
{
#define TLS_REQUIRED_BODY "{\"error\":{\"code\":\"tls_required\",\"message\":\"this port speaks TLS: use https:// or wss://\"}}"
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 90\r\n"
                               "Connection: close\r\n"
                               "\r\n" TLS_REQUIRED_BODY;
    _Static_assert(sizeof TLS_REQUIRED_BODY - 1 == 90, "Content-Length matches the body");
    wsh_log_info(c->id, "tls: plaintext HTTP request on a TLS port, answering 400");
    /* The rest of the exchange is plaintext: drop TLS before queueing. */
    wsh_tls_free(c->tls);
    c->tls = NULL;
    wsh_msg_t *m = wsh_msg_new_copy(resp, sizeof resp - 1);
    wsh_conn_send_force(c, m);
    wsh_msg_unref(m);
    wsh_conn_close_after_flush(c);
}

/* One handshake step. 0: done; -EAGAIN: waiting for the peer, or for the
 * socket to drain when *want_write is set; -EPROTO: the peer spoke plaintext
 * HTTP; -ECONNABORTED: failed (logged). */
static int handshake(wsh_conn_t *c, wsh_tls_t *t, bool *want_write)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->is_handshaking = false;
        if (wsh_log_get_level() <= WSH_LOG_DEBUG) {
            const unsigned char *alpn = NULL;
            unsigned alpn_len = 0;
            SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
            if (!alpn_len) {
                alpn = (const unsigned char *)"-";
                alpn_len = 1;
            }
            wsh_log_debug(c->id, "tls: %s %s alpn=%.*s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl),
                          (int)alpn_len, (const char *)alpn);
        }
        return 0;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return -EAGAIN;
    if (e == SSL_ERROR_WANT_WRITE) {
        *want_write = true;
        return -EAGAIN;
    }
    t->is_failed = true;
    unsigned long err = ERR_peek_last_error();
    if (e == SSL_ERROR_SSL && ERR_GET_LIB(err) == ERR_LIB_SSL &&
        (ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST || ERR_GET_REASON(err) == SSL_R_HTTPS_PROXY_REQUEST)) {
        ERR_clear_error();
        return -EPROTO;
    }
    if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
        wsh_log_debug(c->id, "tls: peer left during the handshake");
    else
        /* Scanners and old clients end here; info, like an HTTP 400. */
        wsh_log_info(c->id, "tls: handshake failed: %s", ssl_reason("unknown error"));
    ERR_clear_error();
    return -ECONNABORTED;
}

ssize_t wsh_tls_read(wsh_conn_t *c, uint8_t *buf, size_t cap)
{
    wsh_tls_t *t = c->tls;
    if (t->is_failed) {
        errno = ECONNABORTED;
        return -1;
    }
    if (t->is_handshaking) {
        bool want_write = false;
        int rc = handshake(c, t, &want_write);
        if (rc == -EPROTO) {
            refuse_plaintext(c);
            errno = EAGAIN;
            return -1;
        }
        if (rc < 0) {
            if (want_write)
                wsh_conn_want_flush(c); /* the flush path finishes the handshake */
            errno = rc == -EAGAIN ? EAGAIN : ECONNABORTED;
            return -1;
        }
    }
    /* One record per readiness: without read-ahead OpenSSL reads exactly
     * one record, so everything after it (more data, or the peer's
     * close_notify) is still in the socket and level-triggered epoll reports
     * it again. Reading on after data could swallow a close_notify that no
     * later readiness would announce. */
    ERR_clear_error();
    int r = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0)
        return r;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_WANT_WRITE)
        /* A post-handshake answer (TLS 1.3 KeyUpdate) did not fit in the
         * socket: the flush path finishes it (wsh_tls_flush). */
        wsh_conn_want_flush(c);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    t->is_failed = true;
    wsh_log_debug(c->id, "tls: read failed: %s", ssl_reason(e == SSL_ERROR_SYSCALL ? "socket error" : "protocol error"));
    ERR_clear_error();
    errno = ECONNABORTED;
    return -1;
}

/* Writes what is kept: first the retry of the blocked record (same bytes,
 * same length, as OpenSSL requires), then the rest of its chunk, record by
 * record. 0 all sent; -EAGAIN blocked again; -EPIPE failed. */
static int send_kept(wsh_tls_t *t)
{
    while (t->kept_off < t->kept_len) {
        ERR_clear_error();
        int r = SSL_write(t->ssl, t->kept + t->kept_off, (int)(t->kept_len - t->kept_off));
        if (r > 0) {
            t->kept_off += (uint32_t)r;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            return -EAGAIN;
        t->is_failed = true;
        ERR_clear_error();
        return -EPIPE;
    }
    free(t->kept);
    t->kept = NULL;
    t->kept_len = t->kept_off = 0;
    return 0;
}

ssize_t wsh_tls_writev(wsh_conn_t *c, const struct iovec *iov, int cnt)
{
    wsh_tls_t *t = c->tls;
    if (t->is_failed) {
        errno = EPIPE;
        return -1;
    }
    if (t->is_handshaking) {
        /* The server queues nothing before a request has arrived, which is
         * after the handshake; a caller that writes first waits for it. */
        bool want_write = false;
        int rc = handshake(c, t, &want_write);
        if (rc < 0) {
            errno = rc == -EAGAIN ? EAGAIN : EPIPE;
            return -1;
        }
    }
    if (t->kept) {
        int rc = send_kept(t);
        if (rc < 0) {
            errno = rc == -EAGAIN ? EAGAIN : EPIPE;
            return -1;
        }
    }
    /* Gathering buffer, one per thread: small frames are copied into one
     * record; a frame with a whole record's worth left is written in place. */
    static _Thread_local uint8_t rec[RECORD_MAX];
    size_t done = 0, off = 0;
    int i = 0;
    while (i < cnt) {
        const uint8_t *p;
        size_t len;
        if (iov[i].iov_len - off >= RECORD_MAX) {
            p = (const uint8_t *)iov[i].iov_base + off;
            len = RECORD_MAX;
            off += len;
        } else {
            len = 0;
            while (i < cnt && len < RECORD_MAX) {
                size_t take = iov[i].iov_len - off;
                if (take > RECORD_MAX - len)
                    take = RECORD_MAX - len;
                memcpy(rec + len, (const uint8_t *)iov[i].iov_base + off, take);
                len += take;
                off += take;
                if (off == iov[i].iov_len) {
                    i++;
                    off = 0;
                }
            }
            p = rec;
        }
        if (i < cnt && off == iov[i].iov_len) {
            i++;
            off = 0;
        }
        if (len == 0)
            continue; /* an empty iovec */
        /* One SSL_write per record: a chunk is one record unless the client
         * negotiated a smaller max_fragment_length (RFC 6066), when partial
         * writes return per smaller record. */
        size_t w = 0;
        while (w < len) {
            ERR_clear_error();
            int r = SSL_write(t->ssl, p + w, (int)(len - w));
            if (r > 0) {
                w += (size_t)r;
                continue;
            }
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                /* A record is sealed and partly on the wire: it is in the
                 * stream now, and so is the rest of this chunk, which only
                 * we will send, next and in order. The bytes count as
                 * written, so the caller's queue may drop them (its
                 * discard-before-close stays correct); we keep the copy
                 * OpenSSL needs for the retry. */
                t->kept = wsh_xmalloc(len - w);
                memcpy(t->kept, p + w, len - w);
                t->kept_len = (uint32_t)(len - w);
                t->kept_off = 0;
                return (ssize_t)(done + len);
            }
            t->is_failed = true;
            wsh_log_debug(c->id, "tls: write failed: %s", ssl_reason("socket error"));
            ERR_clear_error();
            if (done + w)
                return (ssize_t)(done + w);
            errno = EPIPE;
            return -1;
        }
        done += len;
    }
    return (ssize_t)done;
}

int wsh_tls_flush(wsh_conn_t *c)
{
    wsh_tls_t *t = c->tls;
    if (t->is_failed)
        return t->is_handshaking ? 0 : -EPIPE;
    if (t->is_handshaking) {
        bool want_write = false;
        /* A plaintext request is recognised on the first record, which the
         * read path handles; here every failure is just a failure. */
        int rc = handshake(c, t, &want_write);
        if (rc == -EAGAIN)
            return want_write ? -EAGAIN : 0; /* WANT_READ: the read path goes on */
        return rc < 0 ? -EPIPE : 0;
    }
    if (t->kept) {
        int rc = send_kept(t);
        if (rc < 0)
            return rc;
    }
    if (SSL_in_init(t->ssl)) {
        /* A post-handshake message being answered (see wsh_tls_read). */
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE)
            return -EAGAIN;
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
            t->is_failed = true;
            ERR_clear_error();
            return -EPIPE;
        }
    }
    return 0;
}

int wsh_tls_finish(wsh_conn_t *c)
{
    wsh_tls_t *t = c->tls;
    if (t->kept && !t->is_failed) {
        int rc = send_kept(t);
        if (rc == -EAGAIN)
            return rc;
    }
    /* RFC 8446 §6.1 asks for close_notify; SSL_shutdown must not run during
     * the handshake or after a fatal error. */
    if (t->is_failed || t->is_handshaking || t->is_shut)
        return 0;
    ERR_clear_error();
    int r = SSL_shutdown(t->ssl);
    if (r >= 0) {
        t->is_shut = true;
        return 0;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    t->is_failed = true;
    ERR_clear_error();
    return 0;
}
