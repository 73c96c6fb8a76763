/* Stop: what ends the service and the order of the stop (eva4 svc/ffi/src/main.rs
 * after svc_block; abi-and-launcher.md, "How the real launcher drives a
 * library", point 6). A stop comes from the `stop` method, the library's
 * TERMINATE, POC, SIGTERM or SIGHUP (signals.c; a node's launcher ignores
 * SIGINT, the harness lets a person's Ctrl-C stop it), or the end of a run. */
#ifndef HARNESS_STOP_H
#define HARNESS_STOP_H

#include "service.h"

#endif
