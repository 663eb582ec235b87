/* Growable byte buffer for data whose size a peer controls; growth can fail. */
#ifndef WSH_CORE_BUF_H
#define WSH_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Caller-owned; zero-initialise or wsh_buf_init, release with wsh_buf_dispose.
 * data is NULL until the first append, so an idle owner holds no memory. */
typedef struct wsh_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} wsh_buf_t;

static inline void wsh_buf_init(wsh_buf_t *b) { b->data = NULL; b->len = b->cap = 0; }
/* Frees the storage and resets to empty. */
void wsh_buf_dispose(wsh_buf_t *b);
/* Ensures room for `extra` more bytes (growing geometrically); 0 or WSH_ENOMEM. */
int wsh_buf_reserve(wsh_buf_t *b, size_t extra);
/* Appends len bytes; 0 or WSH_ENOMEM (b unchanged on failure). */
int wsh_buf_append(wsh_buf_t *b, const void *data, size_t len);
/* Appends a formatted string (not NUL-terminated in len); 0 or WSH_ENOMEM. */
int wsh_buf_appendf(wsh_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes, moving the rest to the front. */
void wsh_buf_consume(wsh_buf_t *b, size_t n);

#endif
