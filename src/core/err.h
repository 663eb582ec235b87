/* Error codes and the one table that maps each to a close code, an HTTP status
 * and a stable wire name (PROTOCOL.md "Close codes" and HTTP errors). */
#ifndef WSH_CORE_ERR_H
#define WSH_CORE_ERR_H

#include <stdint.h>

/* Project errors are negative and below -1000 so they never collide with -errno. */
enum {
    WSH_EPROTO = -1001,       /* RFC 6455 violation: close 1002 / HTTP 400 */
    WSH_EUTF8 = -1002,        /* invalid UTF-8 in text or close reason: 1007 */
    WSH_ETOOBIG = -1003,      /* message or body over its cap: 1009 / 413 */
    WSH_EUNSUPPORTED = -1004, /* binary message on the JSON endpoint: 1003 */
    WSH_EPOLICY = -1005,      /* policy violation (origin, fragments): 1008 */
    WSH_EINTERNAL = -1006,    /* bug or resource failure: 1011 / 500 */
    WSH_EOVERLOAD = -1007,    /* shedding load: 1013 / 503 */
    WSH_EUNAUTH = -1008,      /* missing or bad credentials: 4001 / 401 */
    WSH_ESLOW = -1009,        /* out-queue over its cap: 4008 */
    WSH_ERATE = -1010,        /* rate limited: 4029 / 429 */
    WSH_EHEADTOOBIG = -1011,  /* request head or header count over cap: 431 */
    WSH_ETIMEOUT = -1012,     /* request not complete in time: 408; ws idle: 1001 */
    WSH_EBADREQ = -1013,      /* malformed request or command: 1002 / 400 */
    WSH_ENOTFOUND = -1014,    /* no such route or resource: 404 */
    WSH_EMETHOD = -1015,      /* method not allowed on route: 405 */
    WSH_EVERSION = -1016,     /* unsupported Sec-WebSocket-Version: 426 */
    WSH_ENOMEM = -1017,       /* peer-sized allocation failed: 1009 / 413 */
    WSH_EFORBIDDEN = -1018,   /* authenticated but not allowed: 1008 / 403 */
    WSH_ESHUTDOWN = -1019,    /* server going away: 1001 / 503 */
    WSH_EPAYLOAD = -1020,     /* payload inconsistent with its message (corrupt DEFLATE data): 1007 */
};

/* Close code for err (1011 for unknown errors, so no error leaves without one). */
uint16_t wsh_err_close_code(int err);
/* HTTP status for err (500 for unknown errors). */
int wsh_err_http_status(int err);
/* Stable snake_case name for err, used as the JSON error `code`. */
const char *wsh_err_name(int err);
/* Reason phrase for an HTTP status ("Not Found"); "Unknown" if not in the table. */
const char *wsh_http_reason(int status);

#endif
