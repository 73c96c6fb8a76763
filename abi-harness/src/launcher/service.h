/* The launcher itself: drives a library through its life exactly as the
 * node's FFI launcher does (see abi-and-launcher.md, "How the shipped
 * launcher drives a library"):
 *   load -> eva_svc_set_op_fn(1) -> svc_init + exact-size get_result ->
 *   bus up + pool routing -> svc_prepare -> SVC/ST ready -> svc_launch ->
 *   ... -> IS_ACTIVE 0 -> SVC/ST terminating -> svc_terminate -> drain.
 * test, info and stop are answered here and never reach the library. */
#ifndef HARNESS_SERVICE_H
#define HARNESS_SERVICE_H

#include <pthread.h>
#include <stddef.h>

#include "initial_payload.h"
#include "loader.h"
#include "rpc_pool.h"

enum harness_stop_reason {
    HARNESS_STOP_NONE = 0,
    HARNESS_STOP_CALL,      /* the `stop` method */
    HARNESS_STOP_TERMINATE, /* the library's TERMINATE op */
    HARNESS_STOP_SIGNAL,    /* SIGTERM/SIGHUP (and a person's SIGINT) */
    HARNESS_STOP_POC,       /* the library raised POC: stop, then exit 1 */
    HARNESS_STOP_END,       /* the run's steps are done */
    HARNESS_STOP_STDIN,     /* launch: stdin closed or carried a byte other than 0x00 */
    HARNESS_STOP_BUS_LOST,  /* launch/attach: the broker went away */
};

struct harness_service {
    const char *lib_path;
    const struct harness_initial *initial;
    unsigned pool_size;
    const char *sender; /* primary_sender of calls and frames */
    int quiet;          /* no info-level progress messages (check) */

    struct harness_lib lib;
    struct harness_rpc_pool *pool;
    char *info;
    size_t info_len;
    int info_is_map;

    pthread_mutex_t mutex;
    pthread_cond_t stop_cond;
    enum harness_stop_reason stop_reason;
    double terminate_seconds;
    int bus_error; /* the bus error code that failed the launch, 0 when none */
};

const char *harness_service_stop_reason_name(enum harness_stop_reason reason);

void harness_service_init(struct harness_service *svc, const char *lib_path, const struct harness_initial *initial,
                          unsigned pool_size, const char *sender);
/* load + set_op_fn + svc_init + info; 0 or HARNESS_EXIT_LAUNCH (message logged) */
int harness_service_load_and_init(struct harness_service *svc);
/* bus up + routing + svc_prepare + ready + svc_launch; 0 or HARNESS_EXIT_LAUNCH */
int harness_service_bring_up(struct harness_service *svc);
/* both, under the startup watchdog */
int harness_service_launch(struct harness_service *svc);
/* a call as the bus delivers it; test/info/stop answered here */
void harness_service_call(struct harness_service *svc, const void *method, size_t method_len, const void *payload,
                          size_t payload_len, struct harness_reply *reply);
/* a call from a real bus: test/info/stop answered at once (done runs on
 * this thread), other methods queued to the pool (done runs there) */
void harness_service_call_async(struct harness_service *svc, const char *sender, const void *method,
                                size_t method_len, const void *payload, size_t payload_len, harness_rpc_done_fn done,
                                void *done_ud);
/* a frame to the library: delivered when it subscribed to a matching topic
 * (or always with force); 1 delivered, 0 not */
int harness_service_frame(struct harness_service *svc, const char *topic, const void *payload, size_t payload_len,
                          int force);
int harness_service_frame_from(struct harness_service *svc, const char *sender, const char *topic,
                               const void *payload, size_t payload_len, int force);
/* SVC/ST {"status": status} from the launcher */
void harness_service_publish_status(const char *status);
/* stop.c */
void harness_service_request_stop(struct harness_service *svc, enum harness_stop_reason reason);
enum harness_stop_reason harness_service_stop_requested(struct harness_service *svc);
/* wait for a stop request; timeout < 0 waits for ever; returns the reason */
enum harness_stop_reason harness_service_wait_stop(struct harness_service *svc, double timeout);
/* the orderly shutdown, under the shutdown watchdog: 0 or HARNESS_EXIT_SHUTDOWN */
int harness_service_shutdown(struct harness_service *svc);
/* after a launch that failed: the bus goes quiet, then its consumer and the call pool stop */
void harness_service_abandon(struct harness_service *svc);
/* free what is left after a failed launch or a shutdown */
void harness_service_destroy(struct harness_service *svc);

#endif
