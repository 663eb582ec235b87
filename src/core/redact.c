/* Credential scanner for log lines and error messages. */
#include "core/redact.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Query keys whose values are credentials. `key` covers ?key= conventions
 * of API gateways; a false positive only hides a harmless value. */
static const char *const secret_keys[] = {"access_token", "token", "api_key", "apikey", "key", "secret", "password"};
/* Authorization schemes whose parameter is the credential (RFC 6750, 7617). */
static const char *const schemes[] = {"Bearer ", "Basic "};

static bool is_key_boundary(char c)
{
    return c == '?' || c == '&' || c == ';' || c == ',' || c == ' ' || c == '"' || c == '\'';
}

static bool ends_value(char c)
{
    return c == '&' || c == ' ' || c == '"' || c == '\'' || c == ';' || c == ',' || c == '\n' || c == '\0';
}

/* Length of the secret-introducing prefix at s[i] ("token=" or "Bearer "),
 * or 0. */
static size_t secret_prefix(const char *s, size_t len, size_t i)
{
    if (i == 0 || is_key_boundary(s[i - 1])) {
        for (size_t k = 0; k < sizeof secret_keys / sizeof secret_keys[0]; k++) {
            size_t n = strlen(secret_keys[k]);
            if (len - i > n && strncasecmp(s + i, secret_keys[k], n) == 0 && s[i + n] == '=')
                return n + 1;
        }
    }
    if (i == 0 || !((s[i - 1] >= 'A' && s[i - 1] <= 'Z') || (s[i - 1] >= 'a' && s[i - 1] <= 'z'))) {
        for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
            size_t n = strlen(schemes[k]);
            if (len - i >= n && strncasecmp(s + i, schemes[k], n) == 0)
                return n;
        }
    }
    return 0;
}

size_t wsh_redact(char *s, size_t len, size_t cap)
{
    if (cap == 0)
        return 0;
    if (len >= cap)
        len = cap - 1;
    /* Output is written behind the read position except where the marker is
     * longer than the secret it replaces; those bytes go to a side buffer
     * through the final copy, so the pass stays linear and in place. */
    char out[1024 + 64];
    char *o = cap <= sizeof out ? out : NULL;
    if (!o) {
        /* Longer texts are not expected (log lines are 1 KiB): redact by
         * overwriting each secret's bytes with '*' instead. */
        for (size_t i = 0; i < len;) {
            size_t p = secret_prefix(s, len, i);
            if (!p) {
                i++;
                continue;
            }
            i += p;
            while (i < len && !ends_value(s[i]))
                s[i++] = '*';
        }
        s[len] = '\0';
        return len;
    }
    size_t olen = 0, i = 0;
    while (i < len && olen < cap - 1) {
        size_t p = secret_prefix(s, len, i);
        if (!p) {
            out[olen++] = s[i++];
            continue;
        }
        for (size_t k = 0; k < p && olen < cap - 1; k++)
            out[olen++] = s[i++];
        size_t v = i;
        while (i < len && !ends_value(s[i]))
            i++;
        if (i > v) {
            size_t m = sizeof WSH_REDACTED - 1;
            if (m > cap - 1 - olen)
                m = cap - 1 - olen;
            memcpy(out + olen, WSH_REDACTED, m);
            olen += m;
        }
    }
    memcpy(s, out, olen);
    s[olen] = '\0';
    return olen;
}
