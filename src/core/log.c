/* stderr logger: formats a whole line, then writes it once. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/redact.h"

static _Atomic int current_level = WSH_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void wsh_log_set_level(wsh_log_level_t level) { atomic_store(&current_level, (int)level); }
wsh_log_level_t wsh_log_get_level(void) { return (wsh_log_level_t)atomic_load(&current_level); }

int wsh_log_parse_level(const char *s, wsh_log_level_t *out)
{
    for (int i = 0; i <= WSH_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (wsh_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void wsh_log_write(wsh_log_level_t level, uint64_t conn_id, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level < WSH_LOG_OFF ? level : WSH_LOG_ERROR]);
    if (conn_id && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "conn=%llu ", (unsigned long long)(conn_id >> WSH_LOG_CONN_SERIAL_SHIFT));
    if (n < (int)sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* Truncated lines still end in a newline so the next line starts clean. */
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    /* Whatever a caller formatted (a URL, a header), credentials never reach
     * the log: one choke point instead of care at every call site. */
    n = (int)wsh_redact(line, (size_t)n, sizeof line - 1);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
