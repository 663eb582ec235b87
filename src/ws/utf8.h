/* Incremental UTF-8 validation (RFC 3629) as a DFA: state survives across
 * fragments, and failure is reported at the first byte that cannot start or
 * continue a valid sequence. Not a decoder. */
#ifndef WSH_WS_UTF8_H
#define WSH_WS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSH_UTF8_ACCEPT 0u /* at a character boundary */
#define WSH_UTF8_REJECT 1u /* invalid; stays rejected */

/* Advances *state over data. Returns the number of bytes that were valid
 * before the first invalid byte: len when no byte failed (then *state is
 * ACCEPT or mid-sequence), or the index of the failing byte with *state set to
 * REJECT. Overlong forms, surrogates (U+D800..DFFF) and code points above
 * U+10FFFF are invalid. Checks 8 bytes at a time while they are ASCII. */
size_t wsh_utf8_validate(uint32_t *state, const uint8_t *data, size_t len);

/* Whole-buffer convenience: true if data is complete, valid UTF-8. */
bool wsh_utf8_is_valid(const uint8_t *data, size_t len);

#endif
