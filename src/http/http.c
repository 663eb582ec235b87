/* HTTP/1.1 request parsing over llhttp with head, header-count and body caps;
 * one request at a time, no I/O, no routing and no responses. */
#include "http/http.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"

/* hstate: which span the last llhttp data callback belonged to. HS_OVER is a
 * header name beyond max_headers: not stored, and refused once the name is
 * complete (see on_header_field). */
enum { HS_NONE, HS_URL, HS_FIELD, HS_VALUE, HS_OVER };

/* The head buffer is kept across keep-alive requests up to this capacity, so
 * pipelined requests do not reallocate; a larger one is freed after use. */
#define KEEP_HEAD_CAP 4096u

static wsh_http_parser_t *parser_of(llhttp_t *h)
{
    return (wsh_http_parser_t *)(void *)((char *)h - offsetof(wsh_http_parser_t, llhttp));
}

/* Records the first error and makes llhttp stop: span callbacks turn -1 into
 * HPE_USER, plain callbacks into their HPE_CB_* error. */
static int fail_cb(wsh_http_parser_t *p, int err)
{
    if (p->err == 0)
        p->err = err;
    return -1;
}

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool span_ieq(const char *a, size_t len, const char *b)
{
    size_t n = strlen(b);
    if (n != len)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

static int on_message_begin(llhttp_t *h)
{
    parser_of(h)->has_started = true;
    return 0;
}

static int on_url(llhttp_t *h, const char *at, size_t len)
{
    wsh_http_parser_t *p = parser_of(h);
    /* RFC 9112 §3.2: the request-target is visible ASCII; llhttp's loose mode
     * lets HTAB and bytes >= 0x80 through, which have no place in a URI. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)at[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail_cb(p, WSH_EBADREQ);
    }
    if (wsh_buf_append(&p->head, at, len))
        return fail_cb(p, WSH_ENOMEM);
    p->hstate = HS_URL;
    p->req.url.len += len;
    return 0;
}

static int on_url_complete(llhttp_t *h)
{
    parser_of(h)->hstate = HS_NONE;
    return 0;
}

static int on_header_field(llhttp_t *h, const char *at, size_t len)
{
    wsh_http_parser_t *p = parser_of(h);
    /* Trailer fields (RFC 9112 §7.1.2) are not kept; their bytes count
     * toward the raw body cap in wsh_http_parser_feed. */
    if (p->is_head_done || p->hstate == HS_OVER)
        return 0;
    if (p->hstate != HS_FIELD) {
        /* One header too many is refused when its name is complete, not
         * here: llhttp calls this for a partial name at the end of each feed
         * but not before its own error on a bad name byte, so failing here
         * would make the status depend on how the input was split. */
        if (p->req.header_cnt >= p->lim.max_headers) {
            p->hstate = HS_OVER;
            return 0;
        }
        wsh_http_header_t *hd = &p->req.headers[p->req.header_cnt++];
        memset(hd, 0, sizeof *hd);
        p->hstate = HS_FIELD;
        p->mark = p->head.len;
    }
    if (wsh_buf_append(&p->head, at, len))
        return fail_cb(p, WSH_ENOMEM);
    p->req.headers[p->req.header_cnt - 1].name.len += len;
    return 0;
}

static int on_header_field_complete(llhttp_t *h)
{
    wsh_http_parser_t *p = parser_of(h);
    if (p->is_head_done)
        return 0;
    if (p->hstate == HS_OVER)
        return fail_cb(p, WSH_EHEADTOOBIG);
    /* An empty name may reach here without any on_header_field call. */
    if (p->hstate != HS_FIELD)
        return fail_cb(p, WSH_EBADREQ);
    /* RFC 9112 §5.1: a field name is a non-empty token with no whitespace
     * before the colon; llhttp's loose mode accepts "Name :" and ": v", which
     * proxies may read differently (request smuggling), so reject them. */
    size_t n = p->req.headers[p->req.header_cnt - 1].name.len;
    if (n == 0)
        return fail_cb(p, WSH_EBADREQ);
    for (size_t i = 0; i < n; i++)
        if (!is_tchar(p->head.data[p->mark + i]))
            return fail_cb(p, WSH_EBADREQ);
    return 0;
}

static int on_header_value(llhttp_t *h, const char *at, size_t len)
{
    wsh_http_parser_t *p = parser_of(h);
    if (p->is_head_done)
        return 0;
    if (p->req.header_cnt == 0)
        return fail_cb(p, WSH_EBADREQ);
    /* RFC 9110 §5.5: field-value is VCHAR, obs-text, SP and HTAB. llhttp
     * checks this as well; it is repeated here so that values are safe to
     * reflect whatever llhttp's build mode or version. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)at[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail_cb(p, WSH_EBADREQ);
    }
    if (p->hstate != HS_VALUE) {
        p->hstate = HS_VALUE;
        p->mark = p->head.len;
    }
    if (wsh_buf_append(&p->head, at, len))
        return fail_cb(p, WSH_ENOMEM);
    p->req.headers[p->req.header_cnt - 1].value.len += len;
    return 0;
}

static int on_header_value_complete(llhttp_t *h)
{
    /* The next on_header_field starts a new header even if this value was
     * empty and produced no on_header_value call. */
    parser_of(h)->hstate = HS_NONE;
    return 0;
}

/* Counts headers named name in the partially built request, walking the
 * back-to-back layout of the head buffer (pointers are not set yet). */
static size_t count_header_raw(const wsh_http_parser_t *p, const char *name)
{
    size_t off = p->req.url.len, cnt = 0;
    for (size_t i = 0; i < p->req.header_cnt; i++) {
        const wsh_http_header_t *hd = &p->req.headers[i];
        if (span_ieq((const char *)p->head.data + off, hd->name.len, name))
            cnt++;
        off += hd->name.len + hd->value.len;
    }
    return cnt;
}

/* True if a header named name has exactly value (case-insensitive), in the
 * same partially built layout count_header_raw walks. */
static bool header_raw_is(const wsh_http_parser_t *p, const char *name, const char *value)
{
    size_t off = p->req.url.len;
    for (size_t i = 0; i < p->req.header_cnt; i++) {
        const wsh_http_header_t *hd = &p->req.headers[i];
        const char *base = (const char *)p->head.data + off;
        if (span_ieq(base, hd->name.len, name) && span_ieq(base + hd->name.len, hd->value.len, value))
            return true;
        off += hd->name.len + hd->value.len;
    }
    return false;
}

static int on_headers_complete(llhttp_t *h)
{
    wsh_http_parser_t *p = parser_of(h);
    p->is_head_done = true;
    p->hstate = HS_NONE;
    /* Only HTTP/1.0 and 1.1 are spoken here; llhttp's loose mode also lets
     * "HTTP/2.0" and the version-less HTTP/0.9 form through. */
    if (h->http_major != 1 || h->http_minor > 1)
        return fail_cb(p, WSH_EBADREQ);
    /* RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without
     * Host or with more than one Host field. */
    size_t hosts = count_header_raw(p, "host");
    if (hosts > 1 || (hosts == 0 && h->http_minor == 1))
        return fail_cb(p, WSH_EBADREQ);
    /* Refuse an oversized declared body before reading any of it. llhttp has
     * already rejected Content-Length with Transfer-Encoding, duplicates and
     * overflow (RFC 9112 §6.3). */
    if ((h->flags & F_CONTENT_LENGTH) && !(h->flags & F_CHUNKED)) {
        if (h->content_length > p->lim.max_body)
            return fail_cb(p, WSH_ETOOBIG);
        if (h->content_length > 0 && wsh_buf_reserve(&p->req.body, (size_t)h->content_length))
            return fail_cb(p, WSH_ENOMEM);
    }
    /* RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for
     * an interim 100 before sending its body; the connection sends it. */
    p->wants_continue = h->http_minor == 1 && (h->flags & (F_CONTENT_LENGTH | F_CHUNKED)) &&
                        header_raw_is(p, "expect", "100-continue");
    /* Pause at the exact end of the head, so that wsh_http_parser_feed can
     * count head and body bytes exactly whatever the split of the input. */
    return HPE_PAUSED;
}

static int on_body(llhttp_t *h, const char *at, size_t len)
{
    wsh_http_parser_t *p = parser_of(h);
    if (len > p->lim.max_body - p->req.body.len)
        return fail_cb(p, WSH_ETOOBIG);
    if (wsh_buf_append(&p->req.body, at, len))
        return fail_cb(p, WSH_ENOMEM);
    return 0;
}

static int on_message_complete(llhttp_t *h)
{
    wsh_http_parser_t *p = parser_of(h);
    /* Read before llhttp resets its flags after this callback. */
    p->req.method = h->method;
    p->req.http_major = h->http_major;
    p->req.http_minor = h->http_minor;
    p->req.keep_alive = llhttp_should_keep_alive(h) != 0;
    p->req.upgrade = h->upgrade != 0;
    p->is_complete = true;
    /* Pause so that exactly one request is reported per feed; the pause
     * position marks the end of this request. */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_url_complete = on_url_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
};

static void start_llhttp(wsh_http_parser_t *p)
{
    /* No llhttp_set_lenient_*: strict framing is what stops request
     * smuggling (CL+TE, duplicate Content-Length, bad chunk sizes). */
    llhttp_init(&p->llhttp, HTTP_REQUEST, &settings);
}

void wsh_http_parser_init(wsh_http_parser_t *p, const wsh_http_limits_t *lim)
{
    memset(p, 0, sizeof *p);
    if (lim)
        p->lim = *lim;
    if (p->lim.max_head == 0)
        p->lim.max_head = WSH_HTTP_DEFAULT_MAX_HEAD;
    if (p->lim.max_headers == 0)
        p->lim.max_headers = WSH_HTTP_DEFAULT_MAX_HEADERS;
    if (p->lim.max_headers > WSH_HTTP_MAX_HEADERS)
        p->lim.max_headers = WSH_HTTP_MAX_HEADERS;
    if (p->lim.max_body == 0)
        p->lim.max_body = WSH_HTTP_DEFAULT_MAX_BODY;
    p->settings = settings;
    wsh_buf_init(&p->head);
    wsh_buf_init(&p->req.body);
    start_llhttp(p);
}

void wsh_http_parser_dispose(wsh_http_parser_t *p)
{
    wsh_buf_dispose(&p->head);
    wsh_buf_dispose(&p->req.body);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Turns the recorded lengths into spans over the head buffer, now that it
 * will not move any more. */
static void finish_request(wsh_http_parser_t *p)
{
    /* Once only: the trimming below rewrites the value lengths the offsets
     * are computed from. */
    if (p->has_spans)
        return;
    p->has_spans = true;
    wsh_http_req_t *r = &p->req;
    const char *base = p->head.data ? (const char *)p->head.data : "";
    size_t off = 0;

    r->url.ptr = base;
    off += r->url.len;
    for (size_t i = 0; i < r->header_cnt; i++) {
        wsh_http_header_t *hd = &r->headers[i];
        hd->name.ptr = base + off;
        off += hd->name.len;
        const char *v = base + off;
        size_t vlen = hd->value.len;
        off += vlen;
        while (vlen > 0 && is_ows(v[0])) {
            v++;
            vlen--;
        }
        while (vlen > 0 && is_ows(v[vlen - 1]))
            vlen--;
        hd->value.ptr = v;
        hd->value.len = vlen;
    }

    /* A fragment is never sent in a request-target (RFC 9112 §3.2), but if a
     * client sends one it belongs to neither path nor query. */
    size_t end = r->url.len, q = end;
    for (size_t i = 0; i < r->url.len; i++) {
        if (r->url.ptr[i] == '#') {
            end = i;
            break;
        }
        if (r->url.ptr[i] == '?' && q == r->url.len)
            q = i;
    }
    if (q > end)
        q = end;
    r->path.ptr = r->url.ptr;
    r->path.len = q;
    r->query.ptr = r->url.ptr + (q < end ? q + 1 : end);
    r->query.len = q < end ? end - q - 1 : 0;
}

long wsh_http_parser_feed(wsh_http_parser_t *p, const uint8_t *data, size_t len, wsh_http_req_t **req)
{
    if (req)
        *req = NULL;
    if (p->err)
        return p->err;
    if (p->is_complete) {
        if (req)
            *req = &p->req;
        return 0;
    }
    if (len > LONG_MAX)
        len = LONG_MAX;
    if (p->is_closed)
        return (long)len;

    /* The transmitted body (chunk framing, extensions and trailers
     * included) may exceed the decoded one by at most max_head bytes. */
    size_t body_cap = p->lim.max_body + p->lim.max_head;
    if (body_cap < p->lim.max_body)
        body_cap = SIZE_MAX;

    size_t done = 0;
    bool is_resumed = false;
    /* After the pause at the end of the head llhttp must run once more, even
     * with no bytes left, to reach the end of a request without a body. */
    while (done < len || is_resumed) {
        is_resumed = false;
        /* Hand llhttp at most what is left of the head (or body) budget, so
         * the caps hold on raw bytes, whitespace and CRLFs included, nothing
         * is ever buffered past them, and the outcome does not depend on how
         * the input was split. */
        size_t *seen = p->is_head_done ? &p->body_seen : &p->head_seen;
        size_t room = (p->is_head_done ? body_cap : p->lim.max_head) - *seen;
        if (room == 0 && done < len) {
            p->err = p->is_head_done ? WSH_ETOOBIG : WSH_EHEADTOOBIG;
            return p->err;
        }
        size_t n = len - done;
        if (n > room)
            n = room;
        const char *at = (const char *)data + done;
        llhttp_errno_t e = llhttp_execute(&p->llhttp, at, n);
        if (e == HPE_OK) {
            *seen += n;
            done += n;
            continue;
        }
        if (e == HPE_PAUSED) {
            /* Our own pause: at the end of the head or of the request. */
            size_t used = (size_t)(llhttp_get_error_pos(&p->llhttp) - at);
            *seen += used;
            done += used;
            if (!p->is_complete) {
                llhttp_resume(&p->llhttp);
                is_resumed = true;
                continue;
            }
            finish_request(p);
            if (req)
                *req = &p->req;
            return (long)done;
        }
        /* Every llhttp error is a malformed request, unless one of our
         * callbacks stopped it with a more precise reason. */
        p->err = p->err ? p->err : WSH_EBADREQ;
        return p->err;
    }
    return (long)done;
}

void wsh_http_parser_next(wsh_http_parser_t *p)
{
    if (!p->is_complete || p->err)
        return;
    /* RFC 9112 §9.6: after a request that closes the connection, no further
     * request is processed. */
    p->is_closed = !p->req.keep_alive;

    if (p->head.cap > KEEP_HEAD_CAP)
        wsh_buf_dispose(&p->head);
    p->head.len = 0;
    wsh_buf_dispose(&p->req.body);
    memset(&p->req, 0, sizeof p->req);
    wsh_buf_init(&p->req.body);

    p->is_complete = false;
    p->has_started = false;
    p->is_head_done = false;
    p->wants_continue = false;
    p->has_spans = false;
    p->hstate = HS_NONE;
    p->mark = 0;
    p->head_seen = 0;
    p->body_seen = 0;
    /* A fresh llhttp state: after an upgrade request llhttp would otherwise
     * stay paused for the other protocol, and a rejected upgrade continues as
     * HTTP/1.1 (RFC 9110 §7.8). Nothing else carries over between requests. */
    start_llhttp(p);
}

wsh_http_req_t *wsh_http_parser_head(wsh_http_parser_t *p)
{
    if (!p->is_head_done || p->is_complete || p->err)
        return NULL;
    /* The head buffer is whole: body bytes go to req.body, never to it. */
    finish_request(p);
    p->req.method = (uint8_t)p->llhttp.method;
    p->req.http_major = p->llhttp.http_major;
    p->req.http_minor = p->llhttp.http_minor;
    return &p->req;
}

bool wsh_http_parser_is_mid_request(const wsh_http_parser_t *p)
{
    return p->has_started && !p->is_complete;
}

const wsh_http_header_t *wsh_http_req_header(const wsh_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->header_cnt; i++)
        if (span_ieq(req->headers[i].name.ptr, req->headers[i].name.len, name))
            return &req->headers[i];
    return NULL;
}

bool wsh_http_header_has_token(const wsh_http_span_t *value, const char *token)
{
    /* RFC 9110 §5.6.1: #element lists are comma-separated with optional
     * whitespace, and empty elements are allowed. One pass, no backtracking. */
    const char *s = value->ptr;
    size_t i = 0, n = value->len;
    while (i < n) {
        while (i < n && (is_ows(s[i]) || s[i] == ','))
            i++;
        size_t start = i;
        while (i < n && s[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_ows(s[end - 1]))
            end--;
        if (end > start && span_ieq(s + start, end - start, token))
            return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one application/x-www-form-urlencoded character at s[*i] (bounded
 * by n) and advances *i. Returns the byte, or -1 for a bad escape. */
static int decode_at(const char *s, size_t n, size_t *i)
{
    char c = s[*i];
    if (c == '+') {
        (*i)++;
        return ' ';
    }
    if (c != '%') {
        (*i)++;
        return (unsigned char)c;
    }
    if (n - *i < 3)
        return -1;
    int hi = hexval(s[*i + 1]), lo = hexval(s[*i + 2]);
    if (hi < 0 || lo < 0)
        return -1;
    *i += 3;
    return hi * 16 + lo;
}

/* True if the encoded name s[0..n) decodes to exactly name. */
static bool name_matches(const char *s, size_t n, const char *name)
{
    size_t i = 0, k = 0;
    while (i < n) {
        int c = decode_at(s, n, &i);
        if (c < 0 || name[k] == '\0' || (unsigned char)name[k] != c)
            return false;
        k++;
    }
    return name[k] == '\0';
}

long wsh_http_req_query(const wsh_http_req_t *req, const char *name, char *out, size_t out_cap)
{
    const char *s = req->query.ptr;
    size_t n = req->query.len, i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && s[i] != '&')
            i++;
        size_t end = i;
        if (i < n)
            i++;
        size_t eq = start;
        while (eq < end && s[eq] != '=')
            eq++;
        if (!name_matches(s + start, eq - start, name))
            continue;
        if (out_cap == 0)
            return -2;
        size_t vi = eq < end ? eq + 1 : end, olen = 0;
        while (vi < end) {
            int c = decode_at(s, end, &vi);
            /* A decoded NUL would silently truncate the C string. */
            if (c <= 0 || olen + 1 >= out_cap)
                return -2;
            out[olen++] = (char)c;
        }
        out[olen] = '\0';
        return (long)olen;
    }
    return -1;
}

long wsh_http_pct_decode(const char *s, size_t n, char *out, size_t out_cap)
{
    size_t i = 0, olen = 0;
    while (i < n) {
        int c;
        if (s[i] == '+') {
            /* RFC 3986: '+' is an ordinary character in a path segment. */
            c = '+';
            i++;
        } else {
            c = decode_at(s, n, &i);
        }
        if (c <= 0 || olen + 1 >= out_cap)
            return -1;
        out[olen++] = (char)c;
    }
    if (out_cap == 0)
        return -1;
    out[olen] = '\0';
    return (long)olen;
}
