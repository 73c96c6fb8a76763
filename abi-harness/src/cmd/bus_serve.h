/* What launch and attach share: a library served on a real BUS/RT bus by
 * the launcher model run uses (service.c, bus.c, rpc_pool.c, stop.c) with
 * bus_real.c in place of the modelled bus. */
#ifndef HARNESS_BUS_SERVE_H
#define HARNESS_BUS_SERVE_H

#include "initial_payload.h"

struct harness_bus_serve {
    const char *lib_path;
    const struct harness_initial *initial;
    const char *addr;   /* the bus: a socket path or host:port */
    int blocking_fp;    /* library traffic on <id>%%0 (eva-ffi --blocking-fp) */
    int sigint_stops;   /* attach: Ctrl-C stops; launch ignores SIGINT as eva-ffi does */
    int watch_stdin;    /* launch: 0x00 beacons on stdin, EOF or another byte stops */
    int echo_logs;      /* attach: the library's logs on stderr too */
    int log_level;      /* core.log_level: what reaches LOG/IN/<level> */
    int ffi_exit_codes; /* launch: a failed launch or svc_terminate exits 1, as eva-ffi */
};

/* runs the service until it is stopped; the process exit code */
int harness_bus_serve_main(const struct harness_bus_serve *s);

#endif
