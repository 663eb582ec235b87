/* Channel patterns that a token grants (claims "subs" and "pubs"), and how
 * they match channel names. Not the decision who may do what (hub/access.c). */
#ifndef WSH_AUTH_GRANTS_H
#define WSH_AUTH_GRANTS_H

#include <stdbool.h>
#include <stddef.h>

/* Longest pattern, as the longest channel name plus a trailing '*'. */
#define WSH_GRANT_PATTERN_MAX 256
/* Most patterns one claim may list. */
#define WSH_GRANT_MAX 64

/* A pattern is "*" (every channel), a channel name (1-255 bytes of
 * [A-Za-z0-9_.:@/-]) matching itself only, or such a name followed by one
 * '*', matching every channel that starts with the name ("news.*" matches
 * "news.eu" and "news." but not "news"). A '*' anywhere else is invalid. */
bool wsh_grant_pattern_is_valid(const char *p, size_t len);

/* True if the NUL-terminated valid pattern matches name[0..len). */
bool wsh_grant_match(const char *pattern, const char *name, size_t len);

/* True if any of the cnt patterns matches name[0..len). */
bool wsh_grant_match_any(char *const *patterns, size_t cnt, const char *name, size_t len);

#endif
