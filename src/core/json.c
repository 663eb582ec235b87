/* Recursive-descent RFC 8259 validator that records spans (see json.h). Written
 * here because Debian's jsmn, the span tokenizer considered first, accepts
 * invalid documents ([1 2], [01], {"a":tru}, trailing commas): see
 * docs/dependencies.md.
 *
 * Every /ws command goes through here, so the parser is written for speed:
 * the cursor lives in a local and is passed and returned by value (a failure
 * returns FAIL and records where it happened once), plain string bytes are
 * scanned 16 at a time, and whitespace and literal checks are inline. */
#include "core/json.h"

#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define WSH_JSON_SSE2 1
#endif

#include "core/err.h"

/* The cursor value that means "failed"; p->err and p->err_pos say why and where. */
#define FAIL SIZE_MAX

typedef struct parser {
    const char *s;
    size_t len;
    wsh_json_tok_t *toks;
    size_t cap;
    size_t cnt;
    unsigned record_depth;
    unsigned max_depth;
    int err;
    size_t err_pos;
} parser_t;

/* Records the first failure: the error and the offset reported as err_pos. */
static size_t fail(parser_t *p, size_t pos, int err)
{
    if (!p->err) {
        p->err = err;
        p->err_pos = pos;
    }
    return FAIL;
}

/* RFC 8259 §2: insignificant whitespace is space, tab, LF and CR. Bytes above
 * the space are by far the common case, so they are ruled out with one test. */
static inline bool is_ws(unsigned char c)
{
    return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r');
}

/* Takes the input rather than the parser: token stores go through uint8_t,
 * which may alias anything, so p->s and p->len would be reloaded each call. */
static inline size_t skip_ws(const char *s, size_t len, size_t pos)
{
    while (pos < len && is_ws((unsigned char)s[pos]))
        pos++;
    return pos;
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

/* The first byte at or after pos that ends a run of plain string bytes: '"',
 * '\\' or a control character (RFC 8259 §7: those must be escaped); len if
 * none does. Strings are most of a command's bytes (a publish's data is
 * mostly string), so with SSE2 (every x86-64) 16 bytes are tested at once;
 * the loads stay inside s[0..len). */
static inline size_t scan_plain(const char *s, size_t pos, size_t len)
{
#ifdef WSH_JSON_SSE2
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i ctl_max = _mm_set1_epi8(0x1F);
/* min(v, 0x1F) == v exactly for the bytes 0x00-0x1F (unsigned). */
#define STOP_BITS(v)                                                                                     \
    ((unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)), \
                                              _mm_cmpeq_epi8(_mm_min_epu8(v, ctl_max), v))))
    while (len - pos >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + pos));
        unsigned bits = STOP_BITS(v);
        if (bits)
            return pos + (size_t)__builtin_ctz(bits);
        pos += 16;
    }
    if (len >= 16 && pos < len) {
        /* The last bytes: one load that ends at len, overlapping what was
         * already scanned, whose bits before pos are shifted out. */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + len - 16));
        unsigned bits = STOP_BITS(v) >> (pos - (len - 16));
        return bits ? pos + (size_t)__builtin_ctz(bits) : len;
    }
#undef STOP_BITS
#endif
    while (pos < len) {
        unsigned char c = (unsigned char)s[pos];
        if (c == '"' || c == '\\' || c < 0x20)
            break;
        pos++;
    }
    return pos;
}

/* RFC 8259 §7: strings; escapes must be one of the listed, \u surrogates
 * must pair (a lone surrogate cannot be represented in UTF-8, §8.2).
 * s[pos] is the opening quote; returns the offset after the closing one. */
static size_t parse_string(parser_t *p, size_t pos, bool *has_escape)
{
    const char *s = p->s;
    size_t len = p->len;
    bool esc = false;
    pos++;
    for (;;) {
        pos = scan_plain(s, pos, len);
        if (pos >= len)
            return fail(p, pos, WSH_EBADREQ);
        unsigned char c = (unsigned char)s[pos];
        if (c == '"') {
            *has_escape = esc;
            return pos + 1;
        }
        if (c < 0x20)
            return fail(p, pos, WSH_EBADREQ);
        esc = true;
        if (pos + 1 >= len)
            return fail(p, pos, WSH_EBADREQ);
        char e = s[pos + 1];
        if (e == 'u') {
            long cp = read_hex4(p, pos + 2);
            if (cp < 0)
                return fail(p, pos, WSH_EBADREQ);
            pos += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = (pos + 1 < len && s[pos] == '\\' && s[pos + 1] == 'u') ? read_hex4(p, pos + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, pos, WSH_EBADREQ);
                pos += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(p, pos - 6, WSH_EBADREQ);
            }
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            pos += 2;
        } else {
            return fail(p, pos, WSH_EBADREQ);
        }
    }
}

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The first non-digit at or after pos (len if none). Timestamps and offsets
 * run to 13-19 digits, so eight are checked at a time when they are there:
 * a byte is a digit when its high nibble is 3 and adding 6 keeps it so. */
static inline size_t scan_digits(const char *s, size_t pos, size_t len)
{
    const uint64_t hi = 0xF0F0F0F0F0F0F0F0u, thirty = 0x3030303030303030u, six = 0x0606060606060606u;
    while (len - pos >= 8) {
        uint64_t v;
        memcpy(&v, s + pos, 8);
        if ((v & hi) != thirty || ((v + six) & hi) != thirty)
            break;
        pos += 8;
    }
    while (pos < len && is_digit(s[pos]))
        pos++;
    return pos;
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static size_t parse_number(parser_t *p, size_t pos)
{
    const char *s = p->s;
    size_t len = p->len;
    if (pos < len && s[pos] == '-')
        pos++;
    if (pos >= len || !is_digit(s[pos]))
        return fail(p, pos, WSH_EBADREQ);
    if (s[pos] == '0')
        pos++;
    else
        pos = scan_digits(s, pos, len);
    if (pos < len && s[pos] == '.') {
        pos++;
        if (pos >= len || !is_digit(s[pos]))
            return fail(p, pos, WSH_EBADREQ);
        pos = scan_digits(s, pos, len);
    }
    if (pos < len && (s[pos] == 'e' || s[pos] == 'E')) {
        pos++;
        if (pos < len && (s[pos] == '+' || s[pos] == '-'))
            pos++;
        if (pos >= len || !is_digit(s[pos]))
            return fail(p, pos, WSH_EBADREQ);
        while (pos < len && is_digit(s[pos]))
            pos++;
    }
    return pos;
}

/* true, false, null: the error offset is the literal's first byte. */
static inline size_t parse_literal(parser_t *p, size_t pos, const char *lit, size_t n)
{
    if (p->len - pos < n || memcmp(p->s + pos, lit, n) != 0)
        return fail(p, pos, WSH_EBADREQ);
    return pos + n;
}

/* Reserves a token slot for a value starting at pos when depth is recorded;
 * returns its index, -1 when not recorded, -2 on overflow (failed). */
static inline long new_tok(parser_t *p, size_t pos, unsigned depth, wsh_json_type_t type)
{
    if (depth > p->record_depth)
        return -1;
    if (p->cnt == p->cap) {
        fail(p, pos, WSH_ETOOBIG);
        return -2;
    }
    p->toks[p->cnt] = (wsh_json_tok_t){.type = (uint8_t)type, .start = (uint32_t)pos};
    return (long)p->cnt++;
}

static inline void end_tok(parser_t *p, long idx, size_t pos)
{
    if (idx >= 0) {
        p->toks[idx].end = (uint32_t)pos;
        p->toks[idx].next = (uint32_t)p->cnt;
    }
}

static size_t parse_value(parser_t *p, size_t pos, unsigned depth);

/* parse_value for a value deeper than record_depth: the same grammar, limits
 * and error offsets, without the token bookkeeping. Most of a publish's
 * bytes are in its `data`, which is validated here. */
static size_t skip_value(parser_t *p, size_t pos, unsigned depth)
{
    const char *s = p->s;
    size_t len = p->len;
    bool esc;
    pos = skip_ws(s, len, pos);
    if (pos >= len)
        return fail(p, pos, WSH_EBADREQ);
    char c = s[pos];
    switch (c) {
    case '"': return parse_string(p, pos, &esc);
    case '{':
    case '[': {
        if (depth >= p->max_depth)
            return fail(p, pos, WSH_ETOOBIG);
        bool is_object = c == '{';
        char close = is_object ? '}' : ']';
        pos = skip_ws(s, len, pos + 1);
        if (pos < len && s[pos] == close)
            return pos + 1;
        for (;;) {
            if (is_object) {
                if (pos >= len || s[pos] != '"')
                    return fail(p, pos, WSH_EBADREQ);
                pos = parse_string(p, pos, &esc);
                if (pos == FAIL)
                    return FAIL;
                pos = skip_ws(s, len, pos);
                if (pos >= len || s[pos] != ':')
                    return fail(p, pos, WSH_EBADREQ);
                pos++;
            }
            pos = skip_value(p, pos, depth + 1);
            if (pos == FAIL)
                return FAIL;
            pos = skip_ws(s, len, pos);
            if (pos >= len)
                return fail(p, pos, WSH_EBADREQ);
            if (s[pos] == ',') {
                pos = skip_ws(s, len, pos + 1);
                continue;
            }
            if (s[pos] == close)
                return pos + 1;
            return fail(p, pos, WSH_EBADREQ);
        }
    }
    case 't': return parse_literal(p, pos, "true", 4);
    case 'f': return parse_literal(p, pos, "false", 5);
    case 'n': return parse_literal(p, pos, "null", 4);
    default:
        if (c == '-' || is_digit(c))
            return parse_number(p, pos);
        return fail(p, pos, WSH_EBADREQ);
    }
}

/* An object or array whose opening bracket is at pos. */
static size_t parse_container(parser_t *p, size_t pos, unsigned depth, bool is_object, long idx)
{
    const char *s = p->s;
    size_t len = p->len;
    char close = is_object ? '}' : ']';
    uint32_t count = 0;
    pos = skip_ws(s, len, pos + 1);
    if (pos < len && s[pos] == close)
        return pos + 1;
    for (;;) {
        if (is_object) {
            if (pos >= len || s[pos] != '"')
                return fail(p, pos, WSH_EBADREQ);
            long k = new_tok(p, pos, depth + 1, WSH_JSON_STRING);
            if (k == -2)
                return FAIL;
            bool esc;
            pos = parse_string(p, pos, &esc);
            if (pos == FAIL)
                return FAIL;
            if (k >= 0)
                p->toks[k].has_escape = esc;
            end_tok(p, k, pos);
            pos = skip_ws(s, len, pos);
            if (pos >= len || s[pos] != ':')
                return fail(p, pos, WSH_EBADREQ);
            pos++;
        }
        pos = parse_value(p, pos, depth + 1);
        if (pos == FAIL)
            return FAIL;
        count++;
        pos = skip_ws(s, len, pos);
        if (pos >= len)
            return fail(p, pos, WSH_EBADREQ);
        char c = s[pos];
        if (c == ',') {
            pos = skip_ws(s, len, pos + 1);
            continue;
        }
        if (c == close) {
            if (idx >= 0)
                p->toks[idx].size = count;
            return pos + 1;
        }
        return fail(p, pos, WSH_EBADREQ);
    }
}

static size_t parse_value(parser_t *p, size_t pos, unsigned depth)
{
    if (depth > p->record_depth)
        return skip_value(p, pos, depth);
    const char *s = p->s;
    size_t len = p->len;
    pos = skip_ws(s, len, pos);
    if (pos >= len)
        return fail(p, pos, WSH_EBADREQ);
    char c = s[pos];
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
        return fail(p, pos, WSH_EBADREQ);
    }
    long idx = new_tok(p, pos, depth, type);
    if (idx == -2)
        return FAIL;
    bool esc = false;
    switch (type) {
    case WSH_JSON_OBJECT:
    case WSH_JSON_ARRAY:
        if (depth >= p->max_depth)
            return fail(p, pos, WSH_ETOOBIG);
        pos = parse_container(p, pos, depth, type == WSH_JSON_OBJECT, idx);
        break;
    case WSH_JSON_STRING: pos = parse_string(p, pos, &esc); break;
    case WSH_JSON_TRUE: pos = parse_literal(p, pos, "true", 4); break;
    case WSH_JSON_FALSE: pos = parse_literal(p, pos, "false", 5); break;
    case WSH_JSON_NULL: pos = parse_literal(p, pos, "null", 4); break;
    default: pos = parse_number(p, pos); break;
    }
    if (pos == FAIL)
        return FAIL;
    if (idx >= 0)
        p->toks[idx].has_escape = esc;
    end_tok(p, idx, pos);
    return pos;
}

int wsh_json_parse(const char *s, size_t len, wsh_json_tok_t *toks, size_t cap, unsigned record_depth,
                   unsigned max_depth, size_t *err_pos)
{
    parser_t p = {s, len, toks, cap, 0, record_depth, max_depth, 0, 0};
    if (cap == 0 || len > UINT32_MAX)
        return WSH_ETOOBIG;
    size_t pos = parse_value(&p, 0, 0);
    if (pos != FAIL) {
        pos = skip_ws(s, len, pos);
        if (pos == len)
            return (int)p.cnt;
        fail(&p, pos, WSH_EBADREQ); /* trailing garbage after the value */
    }
    if (err_pos)
        *err_pos = p.err_pos;
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
    if (t->type == WSH_JSON_STRING && !t->has_escape) {
        /* Without escapes decoding is a copy (a channel name on every publish). */
        size_t n = t->end - t->start - 2;
        if (n >= cap)
            return -1;
        memcpy(out, s + t->start + 1, n);
        out[n] = '\0';
        return (long)n;
    }
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

bool wsh_json_str_eq_n(const char *s, const wsh_json_tok_t *t, const char *lit, size_t n)
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
    return wsh_json_str_eq_n(s, t, lit, strlen(lit));
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
        if (wsh_json_str_eq_n(s, &toks[i], key, n))
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
