/* `wshub bench`: the load generator that drives wshub and its peers (Bun,
 * Node ws, nginx+nchan) the same way and prints one JSON summary
 * (docs/bench-tool.md). Not part of the server: it only shares its loop,
 * frame codec and core helpers. */
#ifndef WSH_BENCH_BENCH_H
#define WSH_BENCH_BENCH_H

/* Runs the bench with argv after the subcommand (argv[0] is the first flag;
 * argc counts them). Prints progress on stderr (unless --quiet) and the
 * summary on stdout. Returns the process exit code: 0 when it ran, 1 when
 * errors passed the threshold or nothing was delivered, 2 on a bad flag
 * (after one line on stderr naming the bad value). --help prints the usage
 * and returns 0. */
int wsh_bench_main(int argc, char **argv);

#endif
