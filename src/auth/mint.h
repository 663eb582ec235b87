/* `wshub token`: mints a signed token for testing and for operators who
 * have no token service yet. Not verification. */
#ifndef WSH_AUTH_MINT_H
#define WSH_AUTH_MINT_H

#include "auth/ns.h"

/* Runs `wshub token` with argv after the subcommand; prints the token and a
 * newline on stdout. parse_duration parses --ttl. Returns the exit code: 0,
 * or 2 after one line on stderr naming the bad argument. */
int wsh_token_main(int argc, char **argv, wsh_ns_duration_fn parse_duration);

#endif
