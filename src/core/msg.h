/* Refcounted immutable bytes: one encoded frame shared by every out-queue that sends it.
 * Not a buffer to grow; build the bytes, then share them. */
#ifndef WSH_CORE_MSG_H
#define WSH_CORE_MSG_H

#include <stddef.h>
#include <stdint.h>

/* Created by wsh_msg_new with refcnt 1 (the creator's reference); each holder
 * takes wsh_msg_ref and drops it with wsh_msg_unref; the last unref frees it.
 * The refcount is not atomic: a msg belongs to one loop thread at a time.
 * `alt` holds other wire variants of the same frame (the permessage-deflate
 * ones, ws/deflate.c), built once per broadcast, chained through their own
 * `alt` and freed with this one; `alt_tag` says which variant a msg is. */
typedef struct wsh_msg {
    uint32_t refcnt;
    uint32_t len;
    struct wsh_msg *alt;
    uint64_t pub_ns;   /* wall-clock ns when the publish was accepted; 0 = not a publish */
    uint8_t alt_tag;   /* 0 for a plain frame; a variant's kind, set by its maker */
    uint8_t data[];
} wsh_msg_t;

/* Allocates a msg of len bytes (contents uninitialised) or aborts: our own size. */
wsh_msg_t *wsh_msg_new(size_t len);
/* Like wsh_msg_new, returning NULL on failure, for peer-controlled sizes. */
wsh_msg_t *wsh_msg_try_new(size_t len);
/* Allocates a msg holding a copy of data. */
wsh_msg_t *wsh_msg_new_copy(const void *data, size_t len);

static inline wsh_msg_t *wsh_msg_ref(wsh_msg_t *m)
{
    m->refcnt++;
    return m;
}

/* Drops one reference; frees the msg (and its alt) when it was the last. */
void wsh_msg_unref(wsh_msg_t *m);

#endif
