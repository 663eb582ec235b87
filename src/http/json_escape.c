/* JSON string escaping with UTF-8 validation and whole-unit truncation; no
 * allocation except through wsh_json_escape_buf's buffer. */
#include "http/json_escape.h"

#include <stdint.h>
#include <string.h>

#include "core/err.h"

static const char hex[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s[0..len), or 0 if it is not one
 * (RFC 3629 §4: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;      /* overlong */
        else if (c == 0xed)
            hi = 0x9f;      /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;      /* overlong */
        else if (c == 0xf4)
            hi = 0x8f;      /* above U+10FFFF */
    } else
        return 0;
    if (len < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* Produces the escaped unit for the input at s[*i], advancing *i. Writes it
 * into unit (at most 6 bytes) and returns its length. */
static size_t next_unit(const unsigned char *s, size_t len, size_t *i, char unit[6])
{
    unsigned char c = s[*i];
    if (c == '"' || c == '\\') {
        unit[0] = '\\';
        unit[1] = (char)c;
        (*i)++;
        return 2;
    }
    if (c < 0x20) {
        memcpy(unit, "\\u00", 4);
        unit[4] = hex[c >> 4];
        unit[5] = hex[c & 15];
        (*i)++;
        return 6;
    }
    size_t n = utf8_seq_len(s + *i, len - *i);
    if (n == 0) {
        memcpy(unit, "\\ufffd", 6);
        (*i)++;
        return 6;
    }
    memcpy(unit, s + *i, n);
    *i += n;
    return n;
}

size_t wsh_json_escape(char *out, size_t out_cap, const char *s, size_t len)
{
    if (out_cap == 0)
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, w = 0;
    char unit[6];
    while (i < len) {
        size_t save = i;
        size_t n = next_unit(u, len, &i, unit);
        if (n > out_cap - 1 - w) {
            i = save;
            break;
        }
        memcpy(out + w, unit, n);
        w += n;
    }
    out[w] = '\0';
    return w;
}

size_t wsh_json_escape_len(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, w = 0;
    char unit[6];
    while (i < len)
        w += next_unit(u, len, &i, unit);
    return w;
}

int wsh_json_escape_buf(wsh_buf_t *b, const char *s, size_t len)
{
    size_t need = wsh_json_escape_len(s, len);
    if (need == SIZE_MAX)
        return WSH_ENOMEM;
    int rc = wsh_buf_reserve(b, need + 1);
    if (rc)
        return rc;
    b->len += wsh_json_escape((char *)b->data + b->len, need + 1, s, len);
    return 0;
}
