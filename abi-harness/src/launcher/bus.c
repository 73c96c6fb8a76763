#include "bus.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_model.h"
#include "bus_state.h"
#include "clock.h"
#include "exit_codes.h"
#include "output.h"
#include "op_buffers.h"
#include "payload_json.h"
#include "runtime.h"
#include "strbuf.h"
#include "xalloc.h"

struct harness_bus_state harness_bus;

static void *harness_bus_consumer_main(void *arg)
{
    (void)arg;
    struct harness_out_frame *f;
    while ((f = harness_out_queue_pop(&harness_bus.queue)) != NULL) {
        harness_bus.backend.send(harness_bus.backend.ud, f);
        harness_out_queue_done(&harness_bus.queue, f);
    }
    return NULL;
}

void harness_bus_start(const struct harness_bus_config *cfg)
{
    harness_bus.cfg = *cfg;
    if (cfg->backend) harness_bus.backend = *cfg->backend;
    else harness_bus_model_backend(&harness_bus.backend, &harness_bus.cfg);
    harness_out_queue_init(&harness_bus.queue, cfg->queue_size);
    harness_topic_set_init(&harness_bus.subscriptions);
    atomic_store(&harness_bus.active, 0); /* eva4-sdk service.rs ACTIVE: false until svc_mark_ready */
    atomic_store(&harness_bus.after_terminate_first_op, 0);
    if (pthread_create(&harness_bus.consumer, NULL, harness_bus_consumer_main, NULL) != 0) {
        harness_log(HARNESS_LOG_CRITICAL, "cannot start the bus consumer thread");
        exit(HARNESS_EXIT_LAUNCH);
    }
    harness_bus.started = 1;
}

int harness_bus_connect(void)
{
    if (harness_bus.backend.connect) {
        int rc = harness_bus.backend.connect(harness_bus.backend.ud);
        if (rc < 0) return rc;
    }
    atomic_store(&harness_bus.connected, 1);
    return 0;
}

int harness_bus_is_connected(void)
{
    return atomic_load(&harness_bus.connected);
}

void harness_bus_set_active(int active)
{
    atomic_store(&harness_bus.active, active);
}

void harness_bus_mark_terminated(void)
{
    harness_bus.terminated_at = harness_clock_now();
    atomic_store(&harness_bus.terminated, 1);
}

/* eva4 svc/ffi/src/main.rs svc_op SubscribeTopic/UnsubscribeTopic */
static int32_t harness_bus_subscribe(int16_t op, struct EvaFFIBuffer *buf)
{
    struct harness_op_slice *topics;
    size_t count;
    int had_nul;
    enum harness_op_read r = harness_op_read_topics(buf, &topics, &count, &had_nul);
    if (r == HARNESS_OP_READ_HANGS) {
        harness_bus_empty_topic(op);
        return EVA_ERR_CODE_INVALID_DATA;
    }
    if (r != HARNESS_OP_READ_OK) return harness_bus_invalid(harness_bus_op_name(op), "topics are not UTF-8 or no buffer", r);
    if (!had_nul) harness_bus_note_no_nul(op);
    /* eva4 svc/ffi/src/main.rs bus_task!: try_send on the bounded command queue, full -> BUSY */
    int busy = harness_fault_hit(harness_bus.cfg.faults, HARNESS_FAULT_SUBSCRIBE_BUSY);
    if (!busy && harness_bus.backend.queues_subscriptions) {
        /* the frame carries the topics NUL-separated, as the buffer had them */
        struct harness_strbuf list = HARNESS_STRBUF_INIT;
        for (size_t i = 0; i < count; i++) {
            if (i) harness_strbuf_append(&list, "", 1);
            harness_strbuf_append(&list, topics[i].data, topics[i].len);
        }
        enum harness_out_kind kind =
            op == EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC ? HARNESS_OUT_SUBSCRIBE : HARNESS_OUT_UNSUBSCRIBE;
        busy = harness_out_queue_push_kind(&harness_bus.queue, kind, "", 0, list.data, list.len) < 0;
        harness_strbuf_destroy(&list);
    } else if (!busy) {
        busy = harness_out_queue_is_full(&harness_bus.queue);
    }
    if (busy) {
        harness_bus_note_busy();
        free(topics);
        return EVA_ERR_CODE_BUSY;
    }
    atomic_fetch_add(&harness_bus.subscribe, 1);
    for (size_t i = 0; i < count; i++) {
        char *topic = harness_xstrndup(topics[i].data, topics[i].len);
        if (op == EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC) {
            if (harness_topic_set_add(&harness_bus.subscriptions, topic))
                harness_log(HARNESS_LOG_DEBUG, "library subscribed to %s", topic);
        } else {
            if (harness_topic_set_remove(&harness_bus.subscriptions, topic))
                harness_log(HARNESS_LOG_DEBUG, "library unsubscribed from %s", topic);
        }
        free(topic);
    }
    free(topics);
    return EVA_OK;
}

/* eva4 svc/ffi/src/main.rs svc_op PublishTopic: topic to the first NUL (or all), payload after */
static int32_t harness_bus_publish_op(struct EvaFFIBuffer *buf)
{
    struct harness_op_slice topic, payload;
    int had_nul;
    enum harness_op_read r = harness_op_read_publish(buf, &topic, &payload, &had_nul);
    if (r != HARNESS_OP_READ_OK) return harness_bus_invalid("PUBLISH_TOPIC", "the topic is not UTF-8 or no buffer", r);
    if (!had_nul) harness_bus_note_no_nul(EVA_FFI_SVC_OP_PUBLISH_TOPIC);
    if (harness_fault_hit(harness_bus.cfg.faults, HARNESS_FAULT_PUBLISH_BUSY) ||
        harness_out_queue_push(&harness_bus.queue, topic.data, topic.len, payload.data, payload.len) < 0) {
        harness_bus_note_busy();
        return EVA_ERR_CODE_BUSY;
    }
    atomic_fetch_add(&harness_bus.publish, 1);
    return EVA_OK;
}

/* eva4 svc/ffi/src/main.rs svc_op RpcCall: blocks until the call ends; <0 error, 0 no payload, n result size */
static int32_t harness_bus_rpc_call(struct EvaFFIBuffer *buf)
{
    struct harness_op_slice t, m, params;
    int had_nul;
    enum harness_op_read r = harness_op_read_rpc_call(buf, &t, &m, &params, &had_nul);
    if (r != HARNESS_OP_READ_OK) return harness_bus_invalid("RPC_CALL", "target/method not UTF-8 or no buffer", r);
    if (!had_nul) harness_bus_note_no_nul(EVA_FFI_SVC_OP_RPC_CALL);
    if (harness_out_queue_is_full(&harness_bus.queue)) {
        harness_bus_note_busy();
        return EVA_ERR_CODE_BUSY;
    }
    harness_runtime_before_rpc(t.data, t.len, m.data, m.len);
    atomic_fetch_add(&harness_bus.rpc_calls, 1);
    char *target = harness_xstrndup(t.data, t.len);
    char *method = harness_xstrndup(m.data, m.len);
    char *out = NULL;
    size_t out_len = 0;
    int32_t rc = harness_bus.backend.rpc_call(harness_bus.backend.ud, target, method, params.data, params.len, &out,
                                              &out_len);
    if (harness_output_level() <= HARNESS_LOG_DEBUG) {
        struct harness_strbuf sb = HARNESS_STRBUF_INIT;
        harness_payload_json_describe(&sb, params.data, params.len);
        harness_strbuf_appendf(&sb, " -> %d", (int)rc);
        if (rc == 0 && out_len) {
            harness_strbuf_append_str(&sb, " ");
            harness_payload_json_describe(&sb, out, out_len);
        }
        harness_log(HARNESS_LOG_DEBUG, "rpc %s %s %s", target, method, sb.data);
        harness_strbuf_destroy(&sb);
    }
    free(target);
    free(method);
    if (rc == 0 && out_len > INT32_MAX) rc = EVA_ERR_CODE_CORE_ERROR; /* main.rs: i32::try_from fails */
    if (rc < 0 || out_len == 0) {
        free(out);
        /* eva4 svc/ffi/src/main.rs: RPC_RESULT is replaced only by a call with a payload */
        harness_rpc_result_note_call(rc < 0 ? rc : 0);
        return rc < 0 ? rc : EVA_OK;
    }
    harness_rpc_result_set(out, out_len);
    return (int32_t)out_len;
}

/* eva4 svc/ffi/src/main.rs svc_op GetRpcResult */
static int32_t harness_bus_get_result(struct EvaFFIBuffer *buf)
{
    if (!buf) {
        harness_bus_misuse("GET_RPC_RESULT with a null buffer struct");
        return EVA_ERR_CODE_INVALID_PARAMS;
    }
    enum harness_rpc_result_problem problem;
    size_t len;
    int32_t rc = harness_rpc_result_fetch(buf, harness_bus.cfg.result_mode, &problem, &len);
    switch (problem) {
    case HARNESS_RPC_RESULT_OK:
        atomic_fetch_add(&harness_bus.rpc_results, 1);
        break;
    case HARNESS_RPC_RESULT_STALE:
        atomic_fetch_add(&harness_bus.rpc_results, 1);
        atomic_fetch_add(&harness_bus.stale_results, 1);
        harness_bus_misuse("GET_RPC_RESULT after an RPC_CALL that returned %d: the launcher hands back the "
                           "previous call's result (fetch only after RPC_CALL returned > 0)",
                           (int)harness_rpc_result_last_code());
        break;
    case HARNESS_RPC_RESULT_NO_CALL:
        harness_bus_misuse("GET_RPC_RESULT on a thread with no RPC_CALL result (results are per thread): NOT_FOUND");
        break;
    case HARNESS_RPC_RESULT_SMALL:
        harness_bus_misuse("GET_RPC_RESULT (copy mode): buffer max %zu%s is smaller than the %zu-byte result",
                           buf->max, buf->data ? "" : " with NULL data", len);
        break;
    }
    return rc;
}

static int harness_bus_log_level(int16_t op)
{
    switch (op) {
    case EVA_FFI_SVC_OP_LOG_TRACE: return HARNESS_LOG_TRACE;
    case EVA_FFI_SVC_OP_LOG_DEBUG: return HARNESS_LOG_DEBUG;
    case EVA_FFI_SVC_OP_LOG_INFO: return HARNESS_LOG_INFO;
    case EVA_FFI_SVC_OP_LOG_WARN: return HARNESS_LOG_WARN;
    default: return HARNESS_LOG_ERROR;
    }
}

static int32_t harness_bus_op_inner(int16_t op, struct EvaFFIBuffer *buf);

int32_t harness_bus_op(int16_t op, struct EvaFFIBuffer *buf)
{
    atomic_fetch_add(&harness_bus.ops, 1);
    harness_bus_note_after_terminate(op);
    /* inflight lets harness_bus_detach wait until no op touches the core */
    atomic_fetch_add(&harness_bus.inflight, 1);
    int32_t rc;
    if (atomic_load(&harness_bus.detached)) rc = op == EVA_FFI_SVC_OP_IS_ACTIVE ? 0 : EVA_ERR_CODE_NOT_READY;
    else rc = harness_bus_op_inner(op, buf);
    atomic_fetch_sub(&harness_bus.inflight, 1);
    return rc;
}

/* eva4 svc/ffi/src/main.rs svc_op log_message!: text (one trailing NUL dropped) to the logger */
static int32_t harness_bus_log(int16_t op, struct EvaFFIBuffer *buf)
{
    struct harness_op_slice text;
    int had_nul;
    enum harness_op_read r = harness_op_read_text(buf, &text, &had_nul);
    if (r != HARNESS_OP_READ_OK) return harness_bus_invalid(harness_bus_op_name(op), "no buffer or text not UTF-8", r);
    if (!had_nul) harness_bus_note_no_nul(op);
    if (!atomic_load(&harness_bus.connected)) {
        /* eva4-sdk svc_init_logs runs after the bus is up: what svc_init logs is dropped, with 0 */
        atomic_fetch_add(&harness_bus.logs_dropped, 1);
        if (harness_output_level() <= HARNESS_LOG_DEBUG) {
            struct harness_strbuf sb = HARNESS_STRBUF_INIT;
            harness_strbuf_append(&sb, text.data, text.len);
            harness_log(HARNESS_LOG_DEBUG, "dropped (logging starts after svc_init): [%s] %s",
                        harness_output_level_name(harness_bus_log_level(op)), sb.data);
            harness_strbuf_destroy(&sb);
        }
        return EVA_OK;
    }
    atomic_fetch_add(&harness_bus.logs, 1);
    harness_bus.backend.log(harness_bus.backend.ud, harness_bus_log_level(op), text.data, text.len);
    return EVA_OK;
}

/* eva4 svc/ffi/src/main.rs svc_op POC: "critical: <text>" to stderr, eva_sdk poc() (stop, exit 1 in 1 s), returns 0 */
static int32_t harness_bus_poc(struct EvaFFIBuffer *buf)
{
    struct harness_op_slice text = {"", 0};
    int had_nul = 1;
    if (harness_op_read_text(buf, &text, &had_nul) != HARNESS_OP_READ_OK) text.len = 0;
    if (text.len && !had_nul) harness_bus_note_no_nul(EVA_FFI_SVC_OP_POC);
    struct harness_strbuf sb = HARNESS_STRBUF_INIT;
    harness_strbuf_append_str(&sb, "critical");
    if (text.len) {
        harness_strbuf_append_str(&sb, ": ");
        harness_strbuf_append(&sb, text.data, text.len);
    }
    harness_output_stderr_line(sb.data);
    harness_strbuf_destroy(&sb);
    atomic_store(&harness_bus.active, 0);
    atomic_store(&harness_bus.poc, 1);
    if (harness_bus.cfg.on_poc) {
        harness_bus.cfg.on_poc(harness_bus.cfg.poc_ud, text.data, text.len);
        return EVA_OK;
    }
    if (harness_bus.cfg.on_terminate) {
        harness_bus.cfg.on_terminate(harness_bus.cfg.terminate_ud);
        return EVA_OK;
    }
    harness_log(HARNESS_LOG_CRITICAL, "the library raised POC: exiting with an error");
    harness_output_emergency_flush();
    _exit(HARNESS_EXIT_POC);
}

static int32_t harness_bus_op_inner(int16_t op, struct EvaFFIBuffer *buf)
{
    /* eva4 svc/ffi/src/main.rs svc_op: IS_ACTIVE, LOG_* and POC need no bus */
    switch (op) {
    case EVA_FFI_SVC_OP_IS_ACTIVE:
        return atomic_load(&harness_bus.active) ? 1 : 0;
    case EVA_FFI_SVC_OP_LOG_TRACE:
    case EVA_FFI_SVC_OP_LOG_DEBUG:
    case EVA_FFI_SVC_OP_LOG_INFO:
    case EVA_FFI_SVC_OP_LOG_WARN:
    case EVA_FFI_SVC_OP_LOG_ERROR:
        return harness_bus_log(op, buf);
    case EVA_FFI_SVC_OP_POC:
        return harness_bus_poc(buf);
    default:
        break;
    }
    /* eva4 svc/ffi/src/main.rs svc_op: BUS_TX not set yet (svc_init) -> NOT_READY for every other op */
    if (!atomic_load(&harness_bus.connected)) {
        atomic_fetch_add(&harness_bus.not_ready, 1);
        return EVA_ERR_CODE_NOT_READY;
    }
    switch (op) {
    case EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC:
    case EVA_FFI_SVC_OP_UNSUBSCRIBE_TOPIC:
        return harness_bus_subscribe(op, buf);
    case EVA_FFI_SVC_OP_PUBLISH_TOPIC:
        return harness_bus_publish_op(buf);
    case EVA_FFI_SVC_OP_RPC_CALL:
        return harness_bus_rpc_call(buf);
    case EVA_FFI_SVC_OP_GET_RPC_RESULT:
        return harness_bus_get_result(buf);
    case EVA_FFI_SVC_OP_TERMINATE:
        /* eva4 svc/ffi/src/main.rs svc_op Terminate: svc_terminate() (IS_ACTIVE -> 0), returns 0 */
        harness_log(HARNESS_LOG_INFO, "the library asked to terminate");
        atomic_store(&harness_bus.active, 0);
        if (harness_bus.cfg.on_terminate) harness_bus.cfg.on_terminate(harness_bus.cfg.terminate_ud);
        return EVA_OK;
    default:
        /* eva4 svc/ffi/src/main.rs svc_op: unknown op -> METHOD_NOT_FOUND */
        harness_bus_misuse("unknown op code %d: METHOD_NOT_FOUND", (int)op);
        return EVA_ERR_CODE_METHOD_NOT_FOUND;
    }
}

int harness_bus_publish(const char *topic, const char *payload, size_t len)
{
    if (harness_bus.backend.publish_now)
        return harness_bus.backend.publish_now(harness_bus.backend.ud, topic, payload, len);
    return harness_out_queue_push(&harness_bus.queue, topic, strlen(topic), payload, len);
}

int harness_bus_is_real(void)
{
    return harness_bus.cfg.backend != NULL;
}

void harness_bus_launcher_log(int level, const char *text)
{
    /* the modelled run prints the launcher's own lines itself */
    if (harness_bus.cfg.backend) harness_bus.backend.log(harness_bus.backend.ud, level, text, strlen(text));
}

uint64_t harness_bus_pushed(void)
{
    return harness_out_queue_pushed(&harness_bus.queue);
}

int harness_bus_wait_processed(uint64_t seq, double timeout)
{
    return harness_out_queue_wait_processed(&harness_bus.queue, seq, timeout);
}

void harness_bus_stop(void)
{
    if (!harness_bus.started) return;
    harness_out_queue_close(&harness_bus.queue);
    pthread_join(harness_bus.consumer, NULL);
    harness_bus.started = 0;
    if (harness_bus.backend.disconnect) harness_bus.backend.disconnect(harness_bus.backend.ud);
    /* the queue and subscription set stay allocated: library threads that
     * outlive svc_terminate may still call the op function */
}

int harness_bus_detach(double timeout)
{
    atomic_store(&harness_bus.detached, 1);
    double deadline = harness_clock_now() + timeout;
    while (atomic_load(&harness_bus.inflight) > 0) {
        if (harness_clock_now() >= deadline) return -1;
        harness_clock_sleep(0.001);
    }
    return 0;
}

struct harness_topic_set *harness_bus_subscriptions(void)
{
    return &harness_bus.subscriptions;
}
