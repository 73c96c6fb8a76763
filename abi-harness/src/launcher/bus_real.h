/* A real BUS/RT broker behind the op function (bus_backend.h), for launch
 * and attach: the library's frames, subscriptions and calls go out as eva-ffi
 * sends them (busrt-protocol.md §5.3: QoS 0, library calls bounded by
 * timeout.default), the launcher's SVC/ST with QoS 1 waiting for the ack,
 * logs to LOG/IN/<level> filtered by core.log_level; calls to the service go
 * through service.c (test/info/stop answered there, the rest to the library
 * on the pool; errors with an empty message, codes EVA ICS does not know as
 * OTHER), frames to the library's svc_on_frame. With blocking_fp the
 * library's traffic uses a second connection <id>%%0 whose frames are dropped,
 * as eva-ffi --blocking-fp does.
 *
 * Unlike eva-ffi, the client reads the socket on a thread of its own, so an
 * RPC_CALL made inside svc_prepare/launch/terminate returns whatever
 * workers is. */
#ifndef HARNESS_BUS_REAL_H
#define HARNESS_BUS_REAL_H

#include "bus_backend.h"
#include "service.h"

struct harness_bus_real_config {
    const char *addr;    /* a socket path or host:port */
    const char *name;    /* the client name: the service's id */
    double timeout;      /* bus.timeout: connect, acks, pings */
    double rpc_timeout;  /* timeout.default: bounds the library's RPC_CALL */
    int log_level;       /* core.log_level */
    int blocking_fp;
    int echo_logs; /* the library's logs on stderr too (attach) */
    struct harness_service *svc;
    /* the broker went away (on the client's reader thread) */
    void (*on_lost)(void *ud, int err);
    void *lost_ud;
};

struct harness_bus_real;

struct harness_bus_real *harness_bus_real_new(const struct harness_bus_real_config *cfg);
void harness_bus_real_backend(struct harness_bus_real *bus, struct harness_bus_backend *out);
/* stop routing, wait (up to timeout) for answers still owed, close the
 * connections; safe to call twice */
void harness_bus_real_disconnect(struct harness_bus_real *bus, double timeout);
void harness_bus_real_free(struct harness_bus_real *bus);

#endif
