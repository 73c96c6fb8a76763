/* Stopping the service as the launcher does (stop.h). */
#include "stop.h"

#include <msgpack.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "exit_codes.h"
#include "output.h"
#include "runtime.h"
#include "watchdog.h"

#define HARNESS_SVC_INFO(svc, ...)                                                                                    \
    do {                                                                                                              \
        if (!(svc)->quiet) harness_log(HARNESS_LOG_INFO, __VA_ARGS__);                                                \
    } while (0)

/* eva4-sdk src/service.rs svc_terminate: any stop request ends svc_block */
void harness_service_request_stop(struct harness_service *svc, enum harness_stop_reason reason)
{
    pthread_mutex_lock(&svc->mutex);
    if (svc->stop_reason == HARNESS_STOP_NONE) svc->stop_reason = reason;
    pthread_cond_broadcast(&svc->stop_cond);
    pthread_mutex_unlock(&svc->mutex);
}

enum harness_stop_reason harness_service_stop_requested(struct harness_service *svc)
{
    pthread_mutex_lock(&svc->mutex);
    enum harness_stop_reason r = svc->stop_reason;
    pthread_mutex_unlock(&svc->mutex);
    return r;
}

enum harness_stop_reason harness_service_wait_stop(struct harness_service *svc, double timeout)
{
    struct timespec deadline = harness_clock_deadline(timeout);
    pthread_mutex_lock(&svc->mutex);
    while (svc->stop_reason == HARNESS_STOP_NONE) {
        if (timeout < 0) pthread_cond_wait(&svc->stop_cond, &svc->mutex);
        else if (pthread_cond_timedwait(&svc->stop_cond, &svc->mutex, &deadline) != 0) break;
    }
    enum harness_stop_reason r = svc->stop_reason;
    pthread_mutex_unlock(&svc->mutex);
    return r;
}

/* the consumer first: it hands the library its own publications (a real bus: the calls) through
 * the pool */
static void harness_service_stop_routing(struct harness_service *svc)
{
    harness_bus_stop();
    if (svc->pool) {
        harness_rpc_pool_stop(svc->pool);
        svc->pool = NULL;
    }
}

void harness_service_abandon(struct harness_service *svc)
{
    harness_bus_set_active(0);
    harness_service_stop_routing(svc);
}

/* eva4 svc/ffi/src/main.rs eva_svc_main after svc_block: svc_mark_terminating (IS_ACTIVE 0,
 * SVC/ST terminating), svc_terminate, wait until the command queue is empty, exit 0. Calls
 * and frames keep being routed during and after svc_terminate: the RPC handlers stay up. */
int harness_service_shutdown(struct harness_service *svc)
{
    double limit = svc->initial->timeout_shutdown;
    double start = harness_clock_now();
    /* the launcher has no shutdown timeout; the node kills it after timeout.shutdown */
    harness_watchdog_arm(limit, HARNESS_EXIT_SHUTDOWN, "shutdown (svc_terminate and the queue drain)");
    /* eva4-sdk src/service.rs svc_mark_terminating: ACTIVE = false, then the broadcast */
    harness_bus_set_active(0);
    harness_service_publish_status("terminating");
    int rc = 0;
    if (svc->lib.terminate) {
        double t0 = harness_clock_now();
        harness_runtime_enter("svc_terminate", limit);
        int16_t trc = svc->lib.terminate();
        harness_runtime_leave();
        svc->terminate_seconds = harness_clock_now() - t0;
        /* eva4 svc/ffi/src/main.rs call_maybe_ufn!: an error ends the launcher at once */
        if (trc != 0) {
            harness_log(HARNESS_LOG_ERROR, "svc_terminate returned %d", (int)trc);
            rc = HARNESS_EXIT_SHUTDOWN;
        }
    }
    harness_bus_mark_terminated();
    /* eva4 svc/ffi/src/main.rs: while !buscc_tx.is_empty() sleep -- the queue drains before the exit */
    double left = limit - (harness_clock_now() - start);
    if (harness_bus_wait_processed(harness_bus_pushed(), left > 0 ? left : 0) < 0)
        harness_log(HARNESS_LOG_WARN, "the outgoing queue did not drain in time");
    /* the process exits here on a node: calls still running in the library end with it */
    if (svc->pool && harness_rpc_pool_wait_idle(svc->pool, 0.5) < 0)
        harness_log(HARNESS_LOG_WARN, "calls or frames were still running in the library when the launcher "
                                      "exited (a node ends them with the process)");
    harness_service_stop_routing(svc);
    harness_watchdog_disarm();
    HARNESS_SVC_INFO(svc, "service stopped (svc_terminate took %.3f s)", svc->terminate_seconds);
    return rc;
}
