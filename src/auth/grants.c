/* Grant pattern syntax and matching: exact names and trailing-'*' prefixes. */
#include "auth/grants.h"

#include <string.h>

/* The channel-name alphabet (hub/channel.c checks names with the same set;
 * auth/ sits below hub/, so it keeps its own copy of the rule). */
static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '@' || c == '/' || c == '-';
}

bool wsh_grant_pattern_is_valid(const char *p, size_t len)
{
    if (len == 0 || len > WSH_GRANT_PATTERN_MAX)
        return false;
    size_t name_len = p[len - 1] == '*' ? len - 1 : len;
    if (name_len > WSH_GRANT_PATTERN_MAX - 1)
        return false;
    for (size_t i = 0; i < name_len; i++)
        if (!is_name_char(p[i]))
            return false;
    return true;
}

bool wsh_grant_match(const char *pattern, const char *name, size_t len)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return len >= n - 1 && memcmp(pattern, name, n - 1) == 0;
    return n == len && memcmp(pattern, name, len) == 0;
}

bool wsh_grant_match_any(char *const *patterns, size_t cnt, const char *name, size_t len)
{
    for (size_t i = 0; i < cnt; i++)
        if (wsh_grant_match(patterns[i], name, len))
            return true;
    return false;
}
