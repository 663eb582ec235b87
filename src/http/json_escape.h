/* Escaping bytes as the inside of a JSON string (RFC 8259 §7) for HTTP error
 * bodies and JSON frames; not a JSON encoder or parser. */
#ifndef WSH_HTTP_JSON_ESCAPE_H
#define WSH_HTTP_JSON_ESCAPE_H

#include <stddef.h>

#include "core/buf.h"

/* Output rules: '"' and '\\' are backslash-escaped, control characters
 * (U+0000..U+001F) become \u00XX, valid UTF-8 is copied unchanged, and each
 * byte that does not start a valid UTF-8 sequence (stray continuation bytes,
 * overlongs, surrogates, > U+10FFFF, truncated sequences) becomes \ufffd, so
 * the result is always valid JSON string content. */

/* Writes the escaped form of s[0..len) into out and NUL-terminates it. Writes
 * at most out_cap-1 bytes plus the NUL, and stops before an escape or a UTF-8
 * sequence that would not fit whole. Returns the bytes written, NUL not
 * counted (0 and nothing written when out_cap is 0). The output was cut short
 * iff the result is below wsh_json_escape_len(s, len). */
size_t wsh_json_escape(char *out, size_t out_cap, const char *s, size_t len);

/* Length of the complete escaped form of s[0..len), NUL not counted. */
size_t wsh_json_escape_len(const char *s, size_t len);

/* Appends the complete escaped form of s[0..len) to b; b->data stays
 * NUL-terminated after b->len (the NUL is not counted). 0, or WSH_ENOMEM with b
 * unchanged. */
int wsh_json_escape_buf(wsh_buf_t *b, const char *s, size_t len);

#endif
