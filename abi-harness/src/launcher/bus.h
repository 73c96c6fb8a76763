/* The launcher's side of the op function: everything a library asks of the
 * node through eva_svc_set_op_fn's callback. The op function has no context
 * argument, so there is one bus per process (check runs every library in a
 * child process of its own). Published frames go through the bounded
 * outgoing queue to a consumer thread, which keeps the core's item states
 * and hands each frame to the sink (printing, recording, action ledger). */
#ifndef HARNESS_BUS_H
#define HARNESS_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "bus_backend.h"
#include "eva_ffi.h"
#include "mock_core.h"
#include "out_queue.h"
#include "rpc_result.h"
#include "topic.h"

struct harness_bus_config {
    enum harness_result_mode result_mode;
    size_t queue_size;
    struct harness_mock_core *core;
    const struct harness_faults *faults;
    double rpc_timeout;  /* how long rpc=timeout blocks (timeout.default) */
    /* called on the consumer thread for every published frame */
    void (*frame_sink)(void *ud, const struct harness_out_frame *frame);
    void *sink_ud;
    /* TERMINATE op (the library asks to be stopped) */
    void (*on_terminate)(void *ud);
    void *terminate_ud;
    /* POC op, after "critical: text" is printed (the op returns 0 to the
     * library); NULL: on_terminate (stop as at a stop), or exit */
    void (*on_poc)(void *ud, const char *text, size_t len);
    void *poc_ud;
    /* the bus behind the op function; NULL: the modelled bus over core,
     * faults, rpc_timeout and frame_sink (bus_model.h) */
    const struct harness_bus_backend *backend;
};

/* ops whose buffer came without the final NUL the ABI text asks for */
enum harness_nul_slot {
    HARNESS_NUL_SUBSCRIBE, HARNESS_NUL_UNSUBSCRIBE, HARNESS_NUL_PUBLISH, HARNESS_NUL_RPC_CALL, HARNESS_NUL_LOG,
    HARNESS_NUL_POC, HARNESS_NUL_SLOTS
};
extern const char *const harness_nul_slot_names[HARNESS_NUL_SLOTS];

struct harness_bus_stats {
    unsigned long ops;
    unsigned long publish;
    unsigned long subscribe;
    unsigned long rpc_calls;
    unsigned long rpc_results;
    unsigned long logs;
    unsigned long busy;       /* answered BUSY */
    unsigned long not_ready;  /* answered NOT_READY (bus not up yet) */
    unsigned long invalid;    /* malformed op buffers */
    unsigned long misuse;     /* ABI misuse warnings (incl. invalid) */
    unsigned long after_terminate;       /* op calls after svc_terminate returned */
    unsigned long no_nul[HARNESS_NUL_SLOTS]; /* buffers without the final NUL (accepted) */
    unsigned long empty_topics;          /* SUBSCRIBE/UNSUBSCRIBE with an empty topic (hangs a node) */
    unsigned long stale_results;         /* GET_RPC_RESULT after a call that returned <= 0 */
    unsigned long logs_dropped;          /* LOG_* during svc_init */
    int poc;                             /* the library raised POC */
    int after_terminate_first_op;
    double after_terminate_first_delay;  /* seconds after svc_terminate returned */
};

/* start the consumer; the bus is not connected yet (ops answer NOT_READY) */
void harness_bus_start(const struct harness_bus_config *cfg);
/* connected (the backend's connect): bus ops work from now on; 0, or the
 * backend's negative bus error code (still not connected) */
int harness_bus_connect(void);
int harness_bus_is_connected(void);
/* IS_ACTIVE's answer; 0 from the moment the service is stopping */
void harness_bus_set_active(int active);
/* the op function handed to eva_svc_set_op_fn */
int32_t harness_bus_op(int16_t op, struct EvaFFIBuffer *buf);
/* the launcher's own frames (SVC/ST): never faulted; -1 when the queue is full */
int harness_bus_publish(const char *topic, const char *payload, size_t len);
/* a line of the launcher's own log (e.g. "<description> started (<id>)")
 * on a real bus's LOG/IN/<level>; the modelled bus leaves it to the run */
void harness_bus_launcher_log(int level, const char *text);
/* 1 when a real bus is behind the op function (launch, attach) */
int harness_bus_is_real(void);
/* sequence number of the last frame pushed so far */
uint64_t harness_bus_pushed(void);
/* wait until the consumer handled every frame up to seq; -1 on timeout */
int harness_bus_wait_processed(uint64_t seq, double timeout);
/* svc_terminate returned: op calls from now on are counted as violations */
void harness_bus_mark_terminated(void);
/* close the queue, let the consumer drain it, join it */
void harness_bus_stop(void);
/* after the run: the op function stops touching the core, queue and sink
 * (answers NOT_READY, IS_ACTIVE 0) so they can be freed even if library
 * threads linger. 0 when no op call is still inside, -1 on timeout (then
 * nothing the op function uses may be freed). */
int harness_bus_detach(double timeout);
void harness_bus_get_stats(struct harness_bus_stats *out);
struct harness_topic_set *harness_bus_subscriptions(void);
const char *harness_bus_op_name(int op);

#endif
