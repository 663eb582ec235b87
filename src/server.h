/* The composition root: turns a configuration into listeners, a loop, the
 * HTTP routes, the WebSocket endpoints and the hub, and runs them until a
 * signal asks for shutdown. */
#ifndef WSH_SERVER_H
#define WSH_SERVER_H

#include "config.h"

/* Runs the server; returns the process exit code (0 after a graceful drain). */
int wsh_server_run(const wsh_config_t *cfg);

#endif
