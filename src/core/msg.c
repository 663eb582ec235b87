/* Allocation and release of refcounted frames. */
#include "core/msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static wsh_msg_t *init_msg(wsh_msg_t *m, size_t len)
{
    if (!m)
        return NULL;
    m->refcnt = 1;
    m->len = (uint32_t)len;
    m->alt = NULL;
    m->alt_tag = 0;
    m->pub_ns = 0;
    return m;
}

wsh_msg_t *wsh_msg_new(size_t len)
{
    if (len > UINT32_MAX)
        abort();
    return init_msg(wsh_xmalloc(sizeof(wsh_msg_t) + len), len);
}

wsh_msg_t *wsh_msg_try_new(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    return init_msg(wsh_try_malloc(sizeof(wsh_msg_t) + len), len);
}

wsh_msg_t *wsh_msg_new_copy(const void *data, size_t len)
{
    wsh_msg_t *m = wsh_msg_new(len);
    memcpy(m->data, data, len);
    return m;
}

void wsh_msg_unref(wsh_msg_t *m)
{
    if (--m->refcnt == 0) {
        if (m->alt)
            wsh_msg_unref(m->alt);
        free(m);
    }
}
