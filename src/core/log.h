/* Levelled one-line logs on stderr, tagged with the connection id; never payloads or secrets. */
#ifndef WSH_CORE_LOG_H
#define WSH_CORE_LOG_H

#include <stdint.h>

typedef enum {
    WSH_LOG_DEBUG = 0,
    WSH_LOG_INFO = 1,
    WSH_LOG_WARN = 2,
    WSH_LOG_ERROR = 3,
    WSH_LOG_OFF = 4,
} wsh_log_level_t;

/* Sets the minimum level written; the default is WSH_LOG_INFO. */
void wsh_log_set_level(wsh_log_level_t level);
wsh_log_level_t wsh_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns 0 or -1. */
int wsh_log_parse_level(const char *s, wsh_log_level_t *out);

/* Connection ids keep their loop slot in the low bits (net/conn.h,
 * WSH_CONN_SLOT_BITS); log lines show the serial above them, which is
 * unique and counts connections in the order they were accepted. */
#define WSH_LOG_CONN_SERIAL_SHIFT 24

/* Writes one line: "<UTC time> <level> [conn=<id> ]<message>\n". conn_id 0 means
 * no connection. The line is written with one write(2) so lines from several
 * threads never interleave. */
void wsh_log_write(wsh_log_level_t level, uint64_t conn_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define WSH_LOG(level, cid, ...)                                    \
    do {                                                            \
        if ((level) >= wsh_log_get_level())                         \
            wsh_log_write((level), (cid), __VA_ARGS__);             \
    } while (0)
#define wsh_log_debug(cid, ...) WSH_LOG(WSH_LOG_DEBUG, (cid), __VA_ARGS__)
#define wsh_log_info(cid, ...) WSH_LOG(WSH_LOG_INFO, (cid), __VA_ARGS__)
#define wsh_log_warn(cid, ...) WSH_LOG(WSH_LOG_WARN, (cid), __VA_ARGS__)
#define wsh_log_error(cid, ...) WSH_LOG(WSH_LOG_ERROR, (cid), __VA_ARGS__)

#endif
