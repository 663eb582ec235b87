/* Integer formatting for hot paths, where snprintf's format parsing costs
 * more than the rest of the work. */
#ifndef WSH_CORE_FMT_H
#define WSH_CORE_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal to out (at least 20 bytes, no NUL); returns the length. */
static inline size_t wsh_fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

#endif
