/* Where the op function's bus work goes. bus.c is the launcher's side of the
 * op function (buffers, the bounded queue and BUSY, IS_ACTIVE, NOT_READY,
 * POC, TERMINATE); a backend is the bus behind it:
 *   - the modelled bus (bus_model.c): the mock core and registry answer
 *     calls, published frames go to the run's sink and back to the library
 *     in process; run, check and bench use it;
 *   - a real BUS/RT broker (bus_real.c): launch and attach.
 * Outgoing: connect, disconnect, send (a queued PUBLISH/SUBSCRIBE/UNSUBSCRIBE), rpc_call,
 * publish_now (the launcher's own SVC/ST), log. Incoming: the bus hands
 * calls and frames to service.c (harness_service_call_async,
 * harness_service_frame_from), which routes them to the library. */
#ifndef HARNESS_BUS_BACKEND_H
#define HARNESS_BUS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "out_queue.h"

struct harness_bus_backend {
    /* the bus comes up (before svc_prepare); 0, or a negative bus error
     * code (the launch fails). NULL: nothing to do */
    int (*connect)(void *ud);
    /* a frame from the outgoing queue, in queue order, on the consumer thread */
    void (*send)(void *ud, const struct harness_out_frame *f);
    /* the library's RPC_CALL: a negative error code, or 0 with *out
     * (malloc'd, NULL when *out_len is 0) */
    int32_t (*rpc_call)(void *ud, const char *target, const char *method, const char *params, size_t params_len,
                        char **out, size_t *out_len);
    /* the launcher's own frame (SVC/ST), sent at once and acknowledged:
     * 0 or -1. NULL: through the outgoing queue */
    int (*publish_now)(void *ud, const char *topic, const char *payload, size_t len);
    /* a log record at level (library or launcher), after svc_init */
    void (*log)(void *ud, int level, const char *text, size_t len);
    /* the queue is drained and its consumer gone: routing ends, the
     * connection closes (the process exits next). NULL: nothing to do */
    void (*disconnect)(void *ud);
    /* SUBSCRIBE/UNSUBSCRIBE travel through the queue as frames (a real bus);
     * 0: only the launcher's subscription set changes (the modelled bus) */
    int queues_subscriptions;
    void *ud;
};

#endif
