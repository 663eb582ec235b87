/* Allocation wrappers with abort-on-OOM and test fault injection; nothing else. */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local unsigned long fail_countdown;

static void oom(size_t len)
{
    fprintf(stderr, "wshub: out of memory allocating %zu bytes\n", len);
    abort();
}

void *wsh_xmalloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (!p)
        oom(len);
    return p;
}

void *wsh_xcalloc(size_t cnt, size_t len)
{
    void *p = calloc(cnt ? cnt : 1, len ? len : 1);
    if (!p)
        oom(cnt * len);
    return p;
}

void *wsh_xrealloc(void *p, size_t len)
{
    void *q = realloc(p, len ? len : 1);
    if (!q)
        oom(len);
    return q;
}

char *wsh_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = wsh_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

/* Returns 1 when the armed fault fires on this call. */
static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    if (--fail_countdown == 0)
        return 1;
    return 0;
}

void *wsh_try_malloc(size_t len)
{
    if (should_fail())
        return NULL;
    return malloc(len ? len : 1);
}

void *wsh_try_realloc(void *p, size_t len)
{
    if (should_fail())
        return NULL;
    return realloc(p, len ? len : 1);
}

void wsh_alloc_fail_nth(unsigned long n)
{
    fail_countdown = n;
}
