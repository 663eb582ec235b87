/* Intrusive doubly linked list (circular, with a sentinel head); no allocation. */
#ifndef WSH_CORE_LIST_H
#define WSH_CORE_LIST_H

#include <stddef.h>
#include <stdbool.h>

typedef struct wsh_list {
    struct wsh_list *prev, *next;
} wsh_list_t;

#define WSH_CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void wsh_list_init(wsh_list_t *l) { l->prev = l->next = l; }
static inline bool wsh_list_is_empty(const wsh_list_t *l) { return l->next == l; }
/* A node that was wsh_list_init'ed or removed reads as unlinked. */
static inline bool wsh_list_is_linked(const wsh_list_t *n) { return n->next != n; }

static inline void wsh_list_insert_tail(wsh_list_t *head, wsh_list_t *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void wsh_list_insert_head(wsh_list_t *head, wsh_list_t *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

/* Unlinks n and leaves it self-linked, so removing twice is harmless. */
static inline void wsh_list_remove(wsh_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define WSH_LIST_FOREACH_SAFE(pos, tmp, head) \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
