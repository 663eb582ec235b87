/* Resource use of a process as Linux reports it in /proc: resident memory
 * (VmRSS of /proc/PID/status) and CPU time (utime + stime of /proc/PID/stat),
 * for `wshub bench --server-pid`. Parsers are split from the file reads so
 * tests can feed them text. Not a sampler or a profiler. */
#ifndef WSH_BENCH_BENCH_PROC_H
#define WSH_BENCH_BENCH_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Finds the "VmRSS:   1234 kB" line in the text of /proc/PID/status and
 * stores it in bytes. 0, or WSH_EBADREQ when the line is missing or
 * malformed (kernel threads have none). */
int wsh_bench_proc_parse_rss(const char *status, size_t len, uint64_t *bytes);

/* Reads utime + stime (fields 14 and 15, in clock ticks) from the text of
 * /proc/PID/stat. The command name (field 2) is in parentheses and may hold
 * spaces and ')' itself, so fields are counted from the last ')'. 0 or
 * WSH_EBADREQ. */
int wsh_bench_proc_parse_cpu_ticks(const char *stat, size_t len, uint64_t *ticks);

/* The same, read from the live files of pid. 0, -errno of the open/read
 * (-ENOENT: no such process), or WSH_EBADREQ. */
int wsh_bench_proc_rss(pid_t pid, uint64_t *bytes);
/* CPU seconds (user + system) that pid has used so far. */
int wsh_bench_proc_cpu_s(pid_t pid, double *seconds);

/* CPU seconds (user + system) this process has used so far (getrusage). */
double wsh_bench_proc_self_cpu_s(void);
/* Peak resident memory of this process in bytes (getrusage ru_maxrss). */
uint64_t wsh_bench_proc_self_maxrss(void);

#endif
