/* Secret redaction for text that leaves the process (log lines, error
 * messages): credentials in query strings and Authorization values are
 * replaced by a marker. Not a parser of URLs; a scanner over any text. */
#ifndef WSH_CORE_REDACT_H
#define WSH_CORE_REDACT_H

#include <stddef.h>

/* What replaces a secret. */
#define WSH_REDACTED "[redacted]"

/* Rewrites s[0..len) in place (s has room for cap bytes, len < cap) so that
 * no secret survives: the value after a query-style key that names a
 * credential (`token=`, `access_token=`, `api_key=`, `apikey=`, `key=`,
 * `secret=`, `password=`, matched case-insensitively at the start of the text
 * or after one of `?&;, "'`) up to the next `&`, space, quote, `;` or `,`,
 * and the credential after `Bearer ` or `Basic `, become WSH_REDACTED. The
 * result is truncated to cap-1 bytes and NUL-terminated. Returns its length.
 * Linear in len. */
size_t wsh_redact(char *s, size_t len, size_t cap);

#endif
