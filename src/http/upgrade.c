/* WebSocket opening-handshake validation and Sec-WebSocket-Accept (RFC 6455
 * §4.2); pure functions over a parsed request, not the 101 response bytes. */
#include "http/upgrade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>

#include <openssl/evp.h>

#include "core/err.h"

/* RFC 6455 §1.3 / §4.2.2: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The SHA-1 implementation, fetched once: OpenSSL 3 otherwise looks it up
 * in the provider tables on every EVP_DigestInit_ex (EVP_sha1() is an
 * implicit fetch), and the first lookup pulls in the default provider, so
 * doing it at start also keeps that one-time cost out of per-connection
 * figures. An EVP_MD is immutable and shared safely between threads. */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void fetch_sha1(void)
{
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

void wsh_upgrade_init(void)
{
    pthread_once(&sha1_once, fetch_sha1);
}

void wsh_upgrade_accept_key(const char *key, size_t key_len, char accept[WSH_UPGRADE_ACCEPT_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    wsh_upgrade_init();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* The digest context is our own allocation of a fixed size: failing it is
     * fatal (DESIGN.md "Errors"), like any wsh_x* allocation. */
    if (!sha1_md || !ctx || !EVP_DigestInit_ex(ctx, sha1_md, NULL) || !EVP_DigestUpdate(ctx, key, key_len) ||
        !EVP_DigestUpdate(ctx, ws_guid, sizeof ws_guid - 1) || !EVP_DigestFinal_ex(ctx, md, &md_len) ||
        md_len != 20) {
        fprintf(stderr, "wshub: SHA-1 unavailable\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
    /* base64 of 20 bytes is 28 characters; EVP_EncodeBlock adds the NUL. */
    EVP_EncodeBlock((unsigned char *)accept, md, 20);
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* RFC 6455 §4.2.1 item 5: the key is base64 of 16 bytes, which is exactly 22
 * alphabet characters and "==". EVP_DecodeBlock would skip whitespace and
 * accept other lengths, so the shape is checked by hand. */
static bool key_is_valid(const wsh_http_span_t *key)
{
    if (key->len != 24 || key->ptr[22] != '=' || key->ptr[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(key->ptr[i]))
            return false;
    return true;
}

static size_t count_headers(const wsh_http_req_t *req, const char *name)
{
    size_t cnt = 0;
    for (size_t i = 0; i < req->header_cnt; i++) {
        const wsh_http_span_t *n = &req->headers[i].name;
        if (strlen(name) == n->len && strncasecmp(n->ptr, name, n->len) == 0)
            cnt++;
    }
    return cnt;
}

/* A list-valued field may be split over several lines (RFC 9110 §5.3), so the
 * token is looked for in every field with that name. */
static bool any_header_has_token(const wsh_http_req_t *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->header_cnt; i++) {
        const wsh_http_header_t *h = &req->headers[i];
        if (strlen(name) == h->name.len && strncasecmp(h->name.ptr, name, h->name.len) == 0 &&
            wsh_http_header_has_token(&h->value, token))
            return true;
    }
    return false;
}

static int reject(const char **why, const char *reason, int err)
{
    if (why)
        *why = reason;
    return err;
}

int wsh_upgrade_check(const wsh_http_req_t *req, char accept[WSH_UPGRADE_ACCEPT_LEN], const char **why)
{
    /* RFC 6455 §4.2.1 item 1: the method MUST be GET, HTTP/1.1 or higher. */
    if (req->method != HTTP_GET)
        return reject(why, "WebSocket upgrade requires GET", WSH_EMETHOD);
    if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1))
        return reject(why, "WebSocket upgrade requires HTTP/1.1", WSH_EBADREQ);
    /* Item 2: a Host field. */
    if (count_headers(req, "host") != 1)
        return reject(why, "missing or repeated Host header", WSH_EBADREQ);
    /* Items 3 and 4: Upgrade contains "websocket", Connection contains
     * "Upgrade", both compared case-insensitively. */
    if (!any_header_has_token(req, "upgrade", "websocket"))
        return reject(why, "Upgrade header must include websocket", WSH_EBADREQ);
    if (!any_header_has_token(req, "connection", "upgrade"))
        return reject(why, "Connection header must include Upgrade", WSH_EBADREQ);
    /* A handshake carries no body; refusing one keeps a proxy that reads it
     * differently from tunnelling smuggled bytes (websocket-smuggle). */
    const wsh_http_header_t *cl = wsh_http_req_header(req, "content-length");
    if (req->body.len > 0 || wsh_http_req_header(req, "transfer-encoding") ||
        (cl && !(cl->value.len == 1 && cl->value.ptr[0] == '0')))
        return reject(why, "WebSocket upgrade must not carry a body", WSH_EBADREQ);
    /* Item 6 and §4.4: any version other than 13 gets 426 with
     * Sec-WebSocket-Version: 13. */
    const wsh_http_header_t *ver = wsh_http_req_header(req, "sec-websocket-version");
    if (!ver || count_headers(req, "sec-websocket-version") != 1 || ver->value.len != 2 ||
        memcmp(ver->value.ptr, "13", 2) != 0)
        return reject(why, "Sec-WebSocket-Version must be 13", WSH_EVERSION);
    /* Item 5: exactly one Sec-WebSocket-Key, 16 bytes once decoded. */
    const wsh_http_header_t *key = wsh_http_req_header(req, "sec-websocket-key");
    if (!key || count_headers(req, "sec-websocket-key") != 1)
        return reject(why, "missing or repeated Sec-WebSocket-Key", WSH_EBADREQ);
    if (!key_is_valid(&key->value))
        return reject(why, "Sec-WebSocket-Key must be base64 of 16 bytes", WSH_EBADREQ);
    wsh_upgrade_accept_key(key->value.ptr, key->value.len, accept);
    if (why)
        *why = NULL;
    return 0;
}
