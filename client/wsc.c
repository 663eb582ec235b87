/* WebSocket client handshake and masked frames (see wsc.h). */
#include "wsc.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "wshub.h"
#include "ws/frame.h"

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int wsh_wsc_make_key(char key[WSH_WSC_KEY_LEN])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return WSHUB_EINVAL;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    return 0;
}

int wsh_wsc_request(wsh_buf_t *out, const wsh_url_t *u, const char *key, const char *token)
{
    bool v6 = strchr(u->host, ':') != NULL;
    bool default_port = strcmp(u->port, u->is_tls ? "443" : "80") == 0;
    /* RFC 6455 §4.1: Host carries the port unless it is the scheme's default. */
    int rc = wsh_buf_appendf(out,
                             "GET %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                             "User-Agent: libwshub/" WSH_VERSION "\r\n",
                             u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", default_port ? "" : ":",
                             default_port ? "" : u->port, key);
    if (rc == 0 && token)
        rc = wsh_buf_appendf(out, "Authorization: Bearer %s\r\n", token);
    if (rc == 0)
        rc = wsh_buf_append(out, "\r\n", 2);
    return rc ? WSHUB_ENOMEM : 0;
}

/* True if the comma-separated header value v[0..len) lists token (case-insensitive). */
static bool has_token(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < len && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
            return true;
    }
    return false;
}

long wsh_wsc_response(const char *buf, size_t len, const char *key, int *status)
{
    *status = 0;
    const char *end = NULL;
    for (size_t i = 3; i < len; i++) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            end = buf + i + 1;
            break;
        }
    }
    const char *eol = memchr(buf, '\n', len);
    if (eol && (size_t)(eol - buf) >= 12 && strncmp(buf, "HTTP/1.1 ", 9) == 0)
        *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (!end)
        return len > WSH_WSC_MAX_HEAD ? WSHUB_EHANDSHAKE : 0;
    if ((size_t)(end - buf) > WSH_WSC_MAX_HEAD)
        return WSHUB_EHANDSHAKE;
    if (*status == 401 || *status == 403)
        return WSHUB_EREFUSED;
    if (*status != 101)
        return WSHUB_EHANDSHAKE;

    /* RFC 6455 §4.1: the client fails the connection unless Upgrade is
     * "websocket", Connection lists "upgrade" and the Accept matches its key. */
    char want[64];
    unsigned char digest[SHA_DIGEST_LENGTH];
    char joined[WSH_WSC_KEY_LEN + sizeof WS_GUID];
    size_t kl = strlen(key);
    memcpy(joined, key, kl);
    memcpy(joined + kl, WS_GUID, sizeof WS_GUID - 1);
    SHA1((const unsigned char *)joined, kl + sizeof WS_GUID - 1, digest);
    EVP_EncodeBlock((unsigned char *)want, digest, sizeof digest);

    bool upgrade = false, connection = false, accept = false;
    const char *line = eol + 1;
    while (line < end - 2) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = (size_t)(nl - line);
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        const char *colon = memchr(line, ':', ll);
        if (colon) {
            size_t nl_len = (size_t)(colon - line);
            const char *v = colon + 1;
            size_t vl = ll - nl_len - 1;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (nl_len == 7 && strncasecmp(line, "Upgrade", 7) == 0)
                upgrade = has_token(v, vl, "websocket");
            else if (nl_len == 10 && strncasecmp(line, "Connection", 10) == 0)
                connection = connection || has_token(v, vl, "upgrade");
            else if (nl_len == 20 && strncasecmp(line, "Sec-WebSocket-Accept", 20) == 0)
                accept = vl == strlen(want) && memcmp(v, want, vl) == 0;
        }
        line = nl + 1;
    }
    if (!upgrade || !connection || !accept)
        return WSHUB_EHANDSHAKE;
    return (long)(end - buf);
}

int wsh_wsc_frame(wsh_buf_t *out, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t hdr[WSH_FRAME_MAX_HEADER];
    uint8_t mask[4];
    /* RFC 6455 §5.3: a fresh, unpredictable masking key for every frame. */
    if (RAND_bytes(mask, sizeof mask) != 1)
        return WSHUB_EINVAL;
    size_t hl = wsh_frame_header_encode(hdr, opcode, true, 0, len);
    hdr[1] |= 0x80; /* §5.2: the MASK bit; the key follows the length. */
    memcpy(hdr + hl, mask, 4);
    hl += 4;
    if (wsh_buf_reserve(out, hl + len) != 0)
        return WSHUB_ENOMEM;
    memcpy(out->data + out->len, hdr, hl);
    uint8_t *p = out->data + out->len + hl;
    if (len)
        memcpy(p, payload, len);
    uint8_t pos = 0;
    wsh_frame_unmask(p, len, mask, &pos); /* XOR masking is its own inverse. */
    out->len += hl + len;
    return 0;
}

int wsh_wsc_close_frame(wsh_buf_t *out, uint16_t code)
{
    uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    return wsh_wsc_frame(out, WSH_OP_CLOSE, body, code ? 2 : 0);
}
