/* Recursive-descent RFC 8259 validator that records spans (see json.h). Written
 * here because Debian's jsmn, the span tokenizer considered first, accepts
 * invalid documents ([1 2], [01], {"a":tru}, trailing commas): see
 * docs/dependencies.md. */
#include "core/json.h"

#include <string.h>

#include "core/err.h"

typedef struct parser {
    const char *s;
    size_t len;
    size_t pos;
    wsh_json_tok_t *toks;
    size_t cap;
    size_t cnt;
    unsigned record_depth;
    unsigned max_depth;
    int err;
} parser_t;

static int fail(parser_t *p, int err)
{
    if (!p->err)
        p->err = err;
    return -1;
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
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

/* Reads 4 hex digits at pos; -1 if not hex. */
static long read_hex4(const parser_t *p, size_t pos)
{
    if (pos + 4 > p->len)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[pos + (size_t)i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* RFC 8259 §7: strings; escapes must be one of the listed, \u surrogates
 * must pair (a lone surrogate cannot be represented in UTF-8, §8.2). */
static int parse_string(parser_t *p, bool *has_escape)
{
    const char *s = p->s;
    size_t pos = p->pos + 1;
    *has_escape = false;
    for (;;) {
        /* Fast scan over plain bytes. */
        while (pos < p->len) {
            unsigned char c = (unsigned char)s[pos];
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            pos++;
        }
        if (pos >= p->len) {
            p->pos = pos;
            return fail(p, WSH_EBADREQ);
        }
        unsigned char c = (unsigned char)s[pos];
        if (c == '"') {
            p->pos = pos + 1;
            return 0;
        }
        if (c < 0x20) {
            p->pos = pos;
            return fail(p, WSH_EBADREQ);
        }
        *has_escape = true;
        if (pos + 1 >= p->len) {
            p->pos = pos;
            return fail(p, WSH_EBADREQ);
        }
        char e = s[pos + 1];
        if (e == 'u') {
            long cp = read_hex4(p, pos + 2);
            if (cp < 0) {
                p->pos = pos;
                return fail(p, WSH_EBADREQ);
            }
            pos += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = (pos + 1 < p->len && s[pos] == '\\' && s[pos + 1] == 'u') ? read_hex4(p, pos + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    p->pos = pos;
                    return fail(p, WSH_EBADREQ);
                }
                pos += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                p->pos = pos - 6;
                return fail(p, WSH_EBADREQ);
            }
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            pos += 2;
        } else {
            p->pos = pos;
            return fail(p, WSH_EBADREQ);
        }
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(parser_t *p)
{
    const char *s = p->s;
    size_t pos = p->pos;
    if (pos < p->len && s[pos] == '-')
        pos++;
    if (pos >= p->len || !is_digit(s[pos]))
        goto bad;
    if (s[pos] == '0') {
        pos++;
    } else {
        while (pos < p->len && is_digit(s[pos]))
            pos++;
    }
    if (pos < p->len && s[pos] == '.') {
        pos++;
        if (pos >= p->len || !is_digit(s[pos]))
            goto bad;
        while (pos < p->len && is_digit(s[pos]))
            pos++;
    }
    if (pos < p->len && (s[pos] == 'e' || s[pos] == 'E')) {
        pos++;
        if (pos < p->len && (s[pos] == '+' || s[pos] == '-'))
            pos++;
        if (pos >= p->len || !is_digit(s[pos]))
            goto bad;
        while (pos < p->len && is_digit(s[pos]))
            pos++;
    }
    p->pos = pos;
    return 0;
bad:
    p->pos = pos;
    return fail(p, WSH_EBADREQ);
}

static int parse_literal(parser_t *p, const char *lit, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0)
        return fail(p, WSH_EBADREQ);
    p->pos += n;
    return 0;
}

/* Reserves a token slot when depth is recorded; returns its index, -1 when
 * not recorded, -2 on overflow. */
static long new_tok(parser_t *p, unsigned depth, wsh_json_type_t type)
{
    if (depth > p->record_depth)
        return -1;
    if (p->cnt == p->cap) {
        fail(p, WSH_ETOOBIG);
        return -2;
    }
    wsh_json_tok_t *t = &p->toks[p->cnt];
    t->type = (uint8_t)type;
    t->has_escape = false;
    t->start = (uint32_t)p->pos;
    t->end = 0;
    t->size = 0;
    t->next = 0;
    return (long)p->cnt++;
}

static void end_tok(parser_t *p, long idx)
{
    if (idx >= 0) {
        p->toks[idx].end = (uint32_t)p->pos;
        p->toks[idx].next = (uint32_t)p->cnt;
    }
}

static int parse_value(parser_t *p, unsigned depth);

static int parse_container(parser_t *p, unsigned depth, bool is_object, long idx)
{
    char close = is_object ? '}' : ']';
    uint32_t count = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (is_object) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, WSH_EBADREQ);
            long k = new_tok(p, depth + 1, WSH_JSON_STRING);
            if (k == -2)
                return -1;
            bool esc;
            if (parse_string(p, &esc) < 0)
                return -1;
            if (k >= 0)
                p->toks[k].has_escape = esc;
            end_tok(p, k);
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, WSH_EBADREQ);
            p->pos++;
        }
        if (parse_value(p, depth + 1) < 0)
            return -1;
        count++;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, WSH_EBADREQ);
        char c = p->s[p->pos];
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == close) {
            p->pos++;
            if (idx >= 0)
                p->toks[idx].size = count;
            return 0;
        }
        return fail(p, WSH_EBADREQ);
    }
}

static int parse_value(parser_t *p, unsigned depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, WSH_EBADREQ);
    char c = p->s[p->pos];
    wsh_json_type_t type;
    switch (c) {
    case '{': type = WSH_JSON_OBJECT; break;
    case '[': type = WSH_JSON_ARRAY; break;
    case '"': type = WSH_JSON_STRING; break;
    case 't': type = WSH_JSON_TRUE; break;
    case 'f': type = WSH_JSON_FALSE; break;
    case 'n': type = WSH_JSON_NULL; break;
    default:
        if (c == '-' || is_digit(c)) {
            type = WSH_JSON_NUMBER;
            break;
        }
        return fail(p, WSH_EBADREQ);
    }
    long idx = new_tok(p, depth, type);
    if (idx == -2)
        return -1;
    int rc;
    bool esc = false;
    switch (type) {
    case WSH_JSON_OBJECT:
    case WSH_JSON_ARRAY:
        if (depth >= p->max_depth)
            return fail(p, WSH_ETOOBIG);
        rc = parse_container(p, depth, type == WSH_JSON_OBJECT, idx);
        break;
    case WSH_JSON_STRING: rc = parse_string(p, &esc); break;
    case WSH_JSON_TRUE: rc = parse_literal(p, "true", 4); break;
    case WSH_JSON_FALSE: rc = parse_literal(p, "false", 5); break;
    case WSH_JSON_NULL: rc = parse_literal(p, "null", 4); break;
    default: rc = parse_number(p); break;
    }
    if (rc < 0)
        return -1;
    if (idx >= 0)
        p->toks[idx].has_escape = esc;
    end_tok(p, idx);
    return 0;
}

int wsh_json_parse(const char *s, size_t len, wsh_json_tok_t *toks, size_t cap, unsigned record_depth,
                   unsigned max_depth, size_t *err_pos)
{
    parser_t p = {s, len, 0, toks, cap, 0, record_depth, max_depth, 0};
    if (cap == 0 || len > UINT32_MAX)
        return WSH_ETOOBIG;
    if (parse_value(&p, 0) == 0) {
        skip_ws(&p);
        if (p.pos == len)
            return (int)p.cnt;
        p.err = WSH_EBADREQ; /* trailing garbage after the value */
    }
    if (err_pos)
        *err_pos = p.pos;
    return p.err ? p.err : WSH_EBADREQ;
}

/* Decodes the escape at s[i] (after the backslash) into out; returns the
 * number of input bytes used after the backslash and the UTF-8 length in *n. */
static size_t decode_escape(const char *s, size_t i, char out[4], size_t *n)
{
    char e = s[i];
    switch (e) {
    case 'b': out[0] = '\b'; *n = 1; return 1;
    case 'f': out[0] = '\f'; *n = 1; return 1;
    case 'n': out[0] = '\n'; *n = 1; return 1;
    case 'r': out[0] = '\r'; *n = 1; return 1;
    case 't': out[0] = '\t'; *n = 1; return 1;
    case 'u': break;
    default: out[0] = e; *n = 1; return 1;
    }
    unsigned long cp = 0;
    size_t used = 5;
    for (int k = 1; k <= 4; k++)
        cp = cp * 16 + (unsigned long)hexval(s[i + (size_t)k]);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned long lo = 0;
        for (int k = 3; k <= 6; k++)
            lo = lo * 16 + (unsigned long)hexval(s[i + 4 + (size_t)k]);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        used = 11;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        *n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        *n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        *n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        *n = 4;
    }
    return used;
}

long wsh_json_str_decode(const char *s, const wsh_json_tok_t *t, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return -1; /* not even the NUL fits */
    for (size_t i = t->start + 1; i < t->end - 1;) {
        char buf[4];
        size_t n = 1;
        if (s[i] == '\\') {
            i += 1 + decode_escape(s, i + 1, buf, &n);
        } else {
            buf[0] = s[i++];
        }
        if (o + n >= cap)
            return -1;
        memcpy(out + o, buf, n);
        o += n;
    }
    if (cap)
        out[o] = '\0';
    return (long)o;
}

/* str_eq with the literal's length known (obj_get compares one key with
 * every member; measuring it once matters on the publish path). */
static bool str_eq_n(const char *s, const wsh_json_tok_t *t, const char *lit, size_t n)
{
    if (t->type != WSH_JSON_STRING)
        return false;
    if (!t->has_escape)
        return t->end - t->start - 2 == n && memcmp(s + t->start + 1, lit, n) == 0;
    /* Decode one escape at a time and compare as we go, so any length works
     * without a buffer. */
    size_t o = 0;
    for (size_t i = t->start + 1; i < t->end - 1;) {
        char buf[4];
        size_t k = 1;
        if (s[i] == '\\') {
            i += 1 + decode_escape(s, i + 1, buf, &k);
        } else {
            buf[0] = s[i++];
        }
        if (k > n - o || memcmp(lit + o, buf, k) != 0)
            return false;
        o += k;
    }
    return o == n;
}

bool wsh_json_str_eq(const char *s, const wsh_json_tok_t *t, const char *lit)
{
    return str_eq_n(s, t, lit, strlen(lit));
}

int wsh_json_obj_get(const char *s, const wsh_json_tok_t *toks, int obj, const char *key)
{
    if (toks[obj].type != WSH_JSON_OBJECT)
        return -1;
    /* Members beyond record_depth have no tokens: `next` then points right
     * after the object, and the slots there belong to something else. */
    if (toks[obj].size && toks[obj].next == (uint32_t)obj + 1)
        return -1;
    size_t n = strlen(key);
    uint32_t i = (uint32_t)obj + 1;
    for (uint32_t m = 0; m < toks[obj].size; m++) {
        uint32_t val = i + 1;
        if (str_eq_n(s, &toks[i], key, n))
            return (int)val;
        i = toks[val].next;
    }
    return -1;
}

int wsh_json_get_u64(const char *s, const wsh_json_tok_t *t, uint64_t *out)
{
    if (t->type != WSH_JSON_NUMBER)
        return -1;
    uint64_t v = 0;
    for (uint32_t i = t->start; i < t->end; i++) {
        char c = s[i];
        if (!is_digit(c))
            return -1;
        unsigned d = (unsigned)(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
