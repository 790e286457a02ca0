#pragma once
/* The listener and the process's stop signal (net.c). */
#include <stdbool.h>

#include "tdslite.h"

/* Installs SIGINT/SIGTERM handlers that request a stop; ignores SIGPIPE. */
int net_signals_init(void) MUST_CHECK;
/* True once SIGINT or SIGTERM arrived (for long jobs such as generation). */
bool net_stop_requested(void);
/* Listens and serves until SIGINT/SIGTERM; prints "tdslite listening on
 * ADDR:PORT" on stdout and writes the port to srv->ready_file once ready. */
int net_serve(const struct tds_server *srv) MUST_CHECK;
