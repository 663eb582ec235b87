/* The echo application for GET /echo: every message goes back unchanged
 * through the same transport as /ws. For conformance suites; off by default. */
#ifndef WSH_WS_ECHO_H
#define WSH_WS_ECHO_H

#include "ws/wsconn.h"

/* The wsh_ws_app_t to pass to wsh_ws_start for an echo connection. */
extern const wsh_ws_app_t wsh_echo_app;

#endif
