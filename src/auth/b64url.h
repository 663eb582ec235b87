/* base64url without padding (RFC 4648 §5, as JWS uses it, RFC 7515 §2):
 * strict decoding and encoding of byte strings. Not standard base64. */
#ifndef WSH_AUTH_B64URL_H
#define WSH_AUTH_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Bytes that decoding len characters yields at most. */
#define WSH_B64URL_DECODED_MAX(len) ((len) / 4 * 3 + 2)
/* Characters that encoding len bytes yields (no padding, no NUL). */
#define WSH_B64URL_ENCODED_LEN(len) ((len) / 3 * 4 + ((len) % 3 ? (len) % 3 + 1 : 0))

/* Decodes s[0..len) into out (cap bytes). Refuses padding, whitespace, any
 * character outside [A-Za-z0-9_-], a length of 1 mod 4, and non-zero unused
 * bits in the last character (so each byte string has one encoding).
 * Returns the decoded length, or -1. */
long wsh_b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap);

/* Encodes in[0..len) into out, which must hold WSH_B64URL_ENCODED_LEN(len)
 * bytes; returns the number written (no NUL). */
size_t wsh_b64url_encode(const uint8_t *in, size_t len, char *out);

#endif
