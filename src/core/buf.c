/* wsh_buf_t growth and trimming; storage comes from wsh_try_* so peers cannot abort us. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

void wsh_buf_dispose(wsh_buf_t *b)
{
    free(b->data);
    wsh_buf_init(b);
}

int wsh_buf_reserve(wsh_buf_t *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return WSH_ENOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = wsh_try_realloc(b->data, cap);
    if (!p)
        return WSH_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int wsh_buf_append(wsh_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    int rc = wsh_buf_reserve(b, len);
    if (rc)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int wsh_buf_appendf(wsh_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WSH_EINTERNAL;
    /* +1 for the NUL vsnprintf writes; it is not counted in len. */
    int rc = wsh_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void wsh_buf_consume(wsh_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
