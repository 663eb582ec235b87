/* Unit tests for src/net/tls.c: the server context (load errors, reload that
 * keeps the old certificate on failure), ALPN selection, and TLS connections
 * on a real loop against an OpenSSL client driven by the test: handshake, a
 * handshake flight larger than the socket buffer (the flush path finishes
 * it), echo, KeyUpdates mid-stream, a large ordered queue through a small
 * send buffer (records the socket cannot take whole are kept and finished
 * later), close_notify before the half-close, the peer's close_notify as EOF,
 * and a plaintext request answered 400 in plaintext. Certificates are made
 * here with OpenSSL's API. Not for listeners or config (test_tls.py). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "loop/loop.h"
#include "net/conn.h"
#include "net/sock.h"
#include "net/tls.h"
#include "tcp_pair.h"

#define DEADLINE_MS 20000

/* ---- certificate files ---- */

typedef struct files {
    char dir[64];
    char cert[96], key[96], cert2[96], key2[96], garbage[96];
} files_t;

static void write_pem(const char *path, EVP_PKEY *pkey, X509 *x509)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (pkey)
        assert_int_equal(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
    if (x509)
        assert_int_equal(PEM_write_X509(f, x509), 1);
    fclose(f);
}

/* A self-signed P-256 certificate for CN=cn; san_cnt DNS names inflate it
 * (a server flight larger than a small socket buffer). */
static void make_cert_sans(const char *cert_path, const char *key_path, const char *cn, int san_cnt)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    assert_non_null(pkey);
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (san_cnt) {
        GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
        for (int i = 0; i < san_cnt; i++) {
            char host[64];
            snprintf(host, sizeof host, "host-%05d.a-rather-long-subdomain.example.test", i);
            GENERAL_NAME *g = GENERAL_NAME_new();
            ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
            ASN1_STRING_set(ia5, host, -1);
            GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
            sk_GENERAL_NAME_push(gens, g);
        }
        assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0), 1);
        GENERAL_NAMES_free(gens);
    }
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    write_pem(cert_path, NULL, x);
    write_pem(key_path, pkey, NULL);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

static void make_cert(const char *cert_path, const char *key_path, const char *cn)
{
    make_cert_sans(cert_path, key_path, cn, 0);
}

static files_t *files_new(void)
{
    files_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/wshub-tls-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->cert, sizeof f->cert, "%s/a.crt", f->dir);
    snprintf(f->key, sizeof f->key, "%s/a.key", f->dir);
    snprintf(f->cert2, sizeof f->cert2, "%s/b.crt", f->dir);
    snprintf(f->key2, sizeof f->key2, "%s/b.key", f->dir);
    snprintf(f->garbage, sizeof f->garbage, "%s/garbage.pem", f->dir);
    make_cert(f->cert, f->key, "first");
    make_cert(f->cert2, f->key2, "second");
    FILE *g = fopen(f->garbage, "w");
    fputs("not a pem file\n", g);
    fclose(g);
    return f;
}

static void files_free(files_t *f)
{
    const char *paths[] = {f->cert, f->key, f->cert2, f->key2, f->garbage};
    for (size_t i = 0; i < 5; i++)
        unlink(paths[i]);
    rmdir(f->dir);
    free(f);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

/* ---- context ---- */

static void test_tls_ctx_loads_a_matching_pair(void **state)
{
    (void)state;
    files_t *f = files_new();
    char err[512] = "";
    wsh_tls_ctx_t *t = wsh_tls_ctx_new(f->cert, f->key, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(wsh_tls_ctx_generation(t), 1);
    wsh_tls_ctx_free(t);
    files_free(f);
}

static void test_tls_ctx_errors_name_the_file_and_the_reason(void **state)
{
    (void)state;
    files_t *f = files_new();
    char err[512];
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.crt", f->dir);
    assert_null(wsh_tls_ctx_new(missing, f->key, err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
    assert_non_null(strstr(err, "missing.crt"));
    assert_null(wsh_tls_ctx_new(f->garbage, f->key, err, sizeof err));
    assert_non_null(strstr(err, "cannot load certificate"));
    assert_null(wsh_tls_ctx_new(f->cert, f->garbage, err, sizeof err));
    assert_non_null(strstr(err, "cannot load private key"));
    assert_null(wsh_tls_ctx_new(f->cert, f->key2, err, sizeof err));
    assert_non_null(strstr(err, "does not match"));
    /* Nothing is left on OpenSSL's error queue for the next caller. */
    assert_int_equal(ERR_peek_error(), 0);
    files_free(f);
}

static void test_tls_ctx_reload_swaps_and_a_bad_file_keeps_the_old(void **state)
{
    (void)state;
    files_t *f = files_new();
    char err[512];
    wsh_tls_ctx_t *t = wsh_tls_ctx_new(f->cert, f->key, err, sizeof err);
    assert_non_null(t);
    copy_file(f->cert2, f->cert);
    copy_file(f->key2, f->key);
    assert_int_equal(wsh_tls_ctx_reload(t, err, sizeof err), 0);
    assert_int_equal(wsh_tls_ctx_generation(t), 2);
    copy_file(f->garbage, f->cert);
    assert_int_equal(wsh_tls_ctx_reload(t, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot load certificate"));
    assert_int_equal(wsh_tls_ctx_generation(t), 2);
    wsh_tls_ctx_free(t);
    files_free(f);
}

static void test_tls_alpn_picks_http11_only(void **state)
{
    (void)state;
    const uint8_t *out = NULL;
    uint8_t out_len = 0;
    static const uint8_t both[] = "\x02h2\x08http/1.1";
    assert_true(wsh_tls_alpn_pick(both, sizeof both - 1, &out, &out_len));
    assert_int_equal(out_len, 8);
    assert_memory_equal(out, "http/1.1", 8);
    static const uint8_t h2[] = "\x02h2";
    assert_false(wsh_tls_alpn_pick(h2, sizeof h2 - 1, &out, &out_len));
    /* A length that runs past the end, a zero length, an empty list. */
    static const uint8_t bad[] = "\x09http/1.1";
    assert_false(wsh_tls_alpn_pick(bad, sizeof bad - 1, &out, &out_len));
    static const uint8_t zero[] = "\x00\x08http/1.1";
    assert_false(wsh_tls_alpn_pick(zero, sizeof zero - 1, &out, &out_len));
    assert_false(wsh_tls_alpn_pick(both, 0, &out, &out_len));
    /* A prefix of the name is not the name. */
    static const uint8_t prefix[] = "\x07http/1.";
    assert_false(wsh_tls_alpn_pick(prefix, sizeof prefix - 1, &out, &out_len));
}

/* ---- connections ---- */

typedef struct fx {
    files_t *files;
    wsh_tls_ctx_t *tls;
    wsh_loop_t *loop;
    wsh_net_t *net;
    wsh_conn_t *conn;
    int cli;
    SSL_CTX *cctx;
    SSL *cssl;
    wsh_buf_t got;      /* plaintext the server's handler received */
    bool is_eof;        /* the handler's on_eof ran */
    bool is_echo;
} fx_t;

static size_t on_data(wsh_conn_t *c, uint8_t *data, size_t len)
{
    fx_t *f = c->proto;
    assert_int_equal(wsh_buf_append(&f->got, data, len), 0);
    if (f->is_echo)
        assert_int_equal(wsh_conn_send_copy(c, data, len), 0);
    return len;
}

static void on_eof(wsh_conn_t *c)
{
    fx_t *f = c->proto;
    f->is_eof = true;
    wsh_conn_close_after_flush(c);
}

static const wsh_conn_handler_t handler = {.on_data = on_data, .on_eof = on_eof};

/* bufs > 0: loopback TCP with that server send buffer; bufs < 0: a unix
 * socketpair with a -bufs server send buffer and a ~70 KB certificate, so the
 * server's handshake flight cannot be written at once (WANT_WRITE). */
/* When set, the client asks for this max_fragment_length (RFC 6066). */
static uint8_t client_mfl;

static void fx_init(fx_t *f, int bufs)
{
    memset(f, 0, sizeof *f);
    f->files = files_new();
    if (bufs < 0)
        make_cert_sans(f->files->cert, f->files->key, "big", 1500);
    char err[512];
    f->tls = wsh_tls_ctx_new(f->files->cert, f->files->key, err, sizeof err);
    assert_non_null(f->tls);
    f->loop = wsh_loop_new();
    wsh_net_limits_t lim = {64u << 20, 1u << 20, 2000};
    f->net = wsh_net_new(f->loop, &lim, NULL);
    int srv;
    if (bufs < 0) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        srv = sv[0];
        f->cli = sv[1];
        int sz = -bufs;
        assert_int_equal(setsockopt(srv, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    } else {
        make_tcp_pair(&srv, &f->cli);
    }
    if (bufs > 0) {
        /* A small send buffer makes the server's records block mid-way.
         * (Not a small receive buffer too: loopback's 64 KiB segments then
         * stall on a window smaller than one segment, a TCP artefact.) */
        assert_int_equal(setsockopt(srv, SOL_SOCKET, SO_SNDBUF, &bufs, sizeof bufs), 0);
    }
    f->conn = wsh_conn_new(f->net, srv, NULL, &handler, f);
    assert_int_equal(wsh_tls_attach(f->conn, f->tls), 0);
    f->cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(f->cctx, SSL_VERIFY_NONE, NULL);
    if (client_mfl)
        assert_int_equal(SSL_CTX_set_tlsext_max_fragment_length(f->cctx, client_mfl), 1);
    f->cssl = SSL_new(f->cctx);
    SSL_set_fd(f->cssl, f->cli);
    SSL_set_connect_state(f->cssl);
}

static void fx_finish(fx_t *f)
{
    if (!f->conn->is_closed)
        wsh_conn_close(f->conn);
    wsh_loop_run_once(f->loop, 0);
    assert_int_equal(f->net->conn_cnt, 0);
    assert_int_equal(wsh_loop_live_count(f->loop), 0);
    wsh_net_free(f->net);
    wsh_loop_free(f->loop);
    SSL_free(f->cssl);
    SSL_CTX_free(f->cctx);
    close(f->cli);
    wsh_tls_ctx_free(f->tls);
    wsh_buf_dispose(&f->got);
    files_free(f->files);
}

typedef struct reader {
    wsh_buf_t buf;
    size_t want;
    int last_err;   /* SSL_get_error of the last failed read */
} reader_t;

/* Runs the server's loop and the client's step in turn until step says done. */
static void run_until(fx_t *f, bool (*step)(fx_t *f, void *arg), void *arg)
{
    uint64_t deadline = wsh_clock_mono_ms() + DEADLINE_MS;
    while (!step(f, arg)) {
        if (wsh_clock_mono_ms() >= deadline)
            fail_msg("timed out");
        wsh_loop_run_once(f->loop, 5);
    }
}

static bool client_handshake(fx_t *f, void *arg)
{
    (void)arg;
    int r = SSL_do_handshake(f->cssl);
    if (r == 1)
        return true;
    int e = SSL_get_error(f->cssl, r);
    assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
    return false;
}

static bool client_read(fx_t *f, void *arg)
{
    reader_t *r = arg;
    uint8_t tmp[16384];
    for (;;) {
        int n = SSL_read(f->cssl, tmp, sizeof tmp);
        if (n > 0) {
            assert_int_equal(wsh_buf_append(&r->buf, tmp, (size_t)n), 0);
            continue;
        }
        r->last_err = SSL_get_error(f->cssl, n);
        ERR_clear_error();
        return r->buf.len >= r->want || (r->last_err != SSL_ERROR_WANT_READ && r->last_err != SSL_ERROR_WANT_WRITE);
    }
}

static void client_write(fx_t *f, const void *data, int len)
{
    uint64_t deadline = wsh_clock_mono_ms() + DEADLINE_MS;
    for (;;) {
        int n = SSL_write(f->cssl, data, len);
        if (n == len)
            return;
        assert_true(wsh_clock_mono_ms() < deadline);
        assert_int_equal(SSL_get_error(f->cssl, n), SSL_ERROR_WANT_WRITE);
        wsh_loop_run_once(f->loop, 5);
    }
}

static void test_tls_conn_handshakes_and_echoes(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0);
    f.is_echo = true;
    run_until(&f, client_handshake, NULL);
    const unsigned char *alpn;
    unsigned alpn_len;
    SSL_get0_alpn_selected(f.cssl, &alpn, &alpn_len);
    assert_int_equal(alpn_len, 0); /* the client offered none */
    assert_true(SSL_version(f.cssl) >= TLS1_2_VERSION);
    client_write(&f, "hello over tls", 14);
    reader_t r = {.want = 14};
    run_until(&f, client_read, &r);
    assert_int_equal(r.buf.len, 14);
    assert_memory_equal(r.buf.data, "hello over tls", 14);
    assert_memory_equal(f.got.data, "hello over tls", 14);
    wsh_buf_dispose(&r.buf);
    fx_finish(&f);
}

/* The server's first flight (a ~70 KB certificate) does not fit in its
 * socket buffer: the handshake asks for a flush, the flush path arms
 * EPOLLOUT and finishes the handshake as the client reads. */
static void test_tls_handshake_larger_than_the_socket_buffer_completes(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, -4096);
    f.is_echo = true;
    run_until(&f, client_handshake, NULL);
    X509 *peer = SSL_get1_peer_certificate(f.cssl);
    assert_non_null(peer);
    assert_true(i2d_X509(peer, NULL) > 60000);
    X509_free(peer);
    client_write(&f, "big hello", 9);
    reader_t r = {.want = 9};
    run_until(&f, client_read, &r);
    assert_int_equal(r.buf.len, 9);
    assert_memory_equal(r.buf.data, "big hello", 9);
    wsh_buf_dispose(&r.buf);
    fx_finish(&f);
}

/* TLS 1.3 KeyUpdate with update_requested: post-handshake messages arrive
 * in the read path, and OpenSSL answers with a write of its own from inside
 * SSL_read; the stream must go on in both directions with the new keys. */
static void test_tls_conn_answers_a_key_update(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0);
    f.is_echo = true;
    run_until(&f, client_handshake, NULL);
    assert_int_equal(SSL_version(f.cssl), TLS1_3_VERSION);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(SSL_key_update(f.cssl, SSL_KEY_UPDATE_REQUESTED), 1);
        client_write(&f, "after update", 12);
        reader_t r = {.want = 12};
        run_until(&f, client_read, &r);
        assert_int_equal(r.buf.len, 12);
        assert_memory_equal(r.buf.data, "after update", 12);
        wsh_buf_dispose(&r.buf);
    }
    assert_false(f.conn->is_closed || f.conn->is_closing);
    fx_finish(&f);
}

/* 3 MiB in frames of varied sizes through a 4 KiB send buffer: many
 * records cannot be sent whole, so they are kept and finished when the
 * socket drains; the client must see every byte in order. */
static void test_tls_conn_delivers_a_large_queue_in_order_through_small_buffers(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 4096);
    run_until(&f, client_handshake, NULL);
    size_t total = 0;
    uint32_t seq = 0;
    wsh_buf_t expect = {0};
    while (total < (3u << 20)) {
        size_t len = 1 + (seq * 7919u) % 40000u; /* 1 byte to ~40 KB: gathered and split records */
        uint8_t *frame = malloc(len);
        for (size_t i = 0; i < len; i++)
            frame[i] = (uint8_t)(seq + i);
        assert_int_equal(wsh_conn_send_copy(f.conn, frame, len), 0);
        assert_int_equal(wsh_buf_append(&expect, frame, len), 0);
        free(frame);
        total += len;
        seq++;
    }
    reader_t r = {.want = total};
    run_until(&f, client_read, &r);
    if (client_mfl)
        assert_int_equal(SSL_SESSION_get_max_fragment_length(SSL_get_session(f.cssl)), client_mfl);
    assert_int_equal(r.buf.len, total);
    assert_memory_equal(r.buf.data, expect.data, total);
    assert_int_equal(f.conn->out_cnt, 0);
    wsh_buf_dispose(&r.buf);
    wsh_buf_dispose(&expect);
    fx_finish(&f);
}

/* The same through 512-byte records: a client that negotiated a small
 * max_fragment_length makes SSL_write return per 512 bytes, so a gathered
 * chunk takes many writes and a blocked one keeps the rest of its chunk. */
static void test_tls_conn_delivers_a_large_queue_in_512_byte_records(void **state)
{
    client_mfl = TLSEXT_max_fragment_length_512;
    test_tls_conn_delivers_a_large_queue_in_order_through_small_buffers(state);
    client_mfl = 0;
}

/* The last frame, then close_notify, then the TCP half-close: the client
 * reads everything and then a clean TLS closure (not a truncation). */
static void test_tls_close_after_flush_sends_close_notify(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0);
    run_until(&f, client_handshake, NULL);
    assert_int_equal(wsh_conn_send_copy(f.conn, "bye", 3), 0);
    wsh_conn_close_after_flush(f.conn);
    reader_t r = {.want = SIZE_MAX};
    run_until(&f, client_read, &r);
    assert_int_equal(r.buf.len, 3);
    assert_memory_equal(r.buf.data, "bye", 3);
    assert_int_equal(r.last_err, SSL_ERROR_ZERO_RETURN);
    assert_int_equal(SSL_get_shutdown(f.cssl) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN);
    wsh_buf_dispose(&r.buf);
    fx_finish(&f);
}

static bool server_saw_eof(fx_t *f, void *arg)
{
    (void)arg;
    return f->is_eof;
}

static void test_tls_peer_close_notify_is_eof_after_its_data(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0);
    run_until(&f, client_handshake, NULL);
    client_write(&f, "last words", 10);
    assert_true(SSL_shutdown(f.cssl) >= 0);
    run_until(&f, server_saw_eof, NULL);
    assert_int_equal(f.got.len, 10);
    assert_memory_equal(f.got.data, "last words", 10);
    fx_finish(&f);
}

static bool read_raw(fx_t *f, void *arg)
{
    wsh_buf_t *b = arg;
    uint8_t tmp[4096];
    ssize_t n = read(f->cli, tmp, sizeof tmp);
    if (n > 0) {
        assert_int_equal(wsh_buf_append(b, tmp, (size_t)n), 0);
        return false;
    }
    return n == 0;
}

static void test_tls_plaintext_request_gets_a_plaintext_400(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0);
    static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(f.cli, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    wsh_buf_t b = {0};
    run_until(&f, read_raw, &b);
    assert_true(b.len > 12);
    assert_memory_equal(b.data, "HTTP/1.1 400", 12);
    assert_non_null(memmem(b.data, b.len, "tls_required", 12));
    assert_int_equal(f.got.len, 0); /* the handler never saw the request */
    wsh_buf_dispose(&b);
    fx_finish(&f);
}

static void test_tls_garbage_fails_the_handshake_and_closes(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0);
    static const uint8_t junk[] = "\x16\x03\x01\x00\x04\x99\x99\x99\x99 and more";
    assert_int_equal(write(f.cli, junk, sizeof junk - 1), (ssize_t)(sizeof junk - 1));
    wsh_buf_t b = {0};
    run_until(&f, read_raw, &b);
    /* At most an alert record (content type 21), never application data. */
    assert_true(b.len == 0 || b.data[0] == 21);
    assert_true(f.is_eof); /* a failed read is reported to the handler as EOF */
    wsh_buf_dispose(&b);
    fx_finish(&f);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    wsh_log_set_level(WSH_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_ctx_loads_a_matching_pair),
        cmocka_unit_test(test_tls_ctx_errors_name_the_file_and_the_reason),
        cmocka_unit_test(test_tls_ctx_reload_swaps_and_a_bad_file_keeps_the_old),
        cmocka_unit_test(test_tls_alpn_picks_http11_only),
        cmocka_unit_test(test_tls_conn_handshakes_and_echoes),
        cmocka_unit_test(test_tls_handshake_larger_than_the_socket_buffer_completes),
        cmocka_unit_test(test_tls_conn_answers_a_key_update),
        cmocka_unit_test(test_tls_conn_delivers_a_large_queue_in_order_through_small_buffers),
        cmocka_unit_test(test_tls_conn_delivers_a_large_queue_in_512_byte_records),
        cmocka_unit_test(test_tls_close_after_flush_sends_close_notify),
        cmocka_unit_test(test_tls_peer_close_notify_is_eof_after_its_data),
        cmocka_unit_test(test_tls_plaintext_request_gets_a_plaintext_400),
        cmocka_unit_test(test_tls_garbage_fails_the_handshake_and_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
