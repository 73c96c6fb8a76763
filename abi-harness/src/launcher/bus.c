#include "bus.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "exit_codes.h"
#include "output.h"
#include "payload_json.h"
#include "strbuf.h"
#include "xalloc.h"

/* misuse warnings shown before they are only counted */
#define HARNESS_BUS_MISUSE_SHOWN 20

static struct {
    struct harness_bus_config cfg;
    struct harness_out_queue queue;
    struct harness_topic_set subscriptions;
    pthread_t consumer;
    int started;
    atomic_int connected;
    atomic_int active;
    atomic_int terminated;
    atomic_int detached;
    atomic_int inflight;
    double terminated_at;
    atomic_ulong ops, publish, subscribe, rpc_calls, rpc_results, logs, busy, not_ready, invalid, misuse;
    atomic_ulong after_terminate;
    atomic_int after_terminate_first_op;
    _Atomic double after_terminate_first_delay;
} harness_bus;

const char *harness_bus_op_name(int op)
{
    switch (op) {
    case EVA_FFI_SVC_OP_IS_ACTIVE: return "IS_ACTIVE";
    case EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC: return "SUBSCRIBE_TOPIC";
    case EVA_FFI_SVC_OP_UNSUBSCRIBE_TOPIC: return "UNSUBSCRIBE_TOPIC";
    case EVA_FFI_SVC_OP_PUBLISH_TOPIC: return "PUBLISH_TOPIC";
    case EVA_FFI_SVC_OP_RPC_CALL: return "RPC_CALL";
    case EVA_FFI_SVC_OP_GET_RPC_RESULT: return "GET_RPC_RESULT";
    case EVA_FFI_SVC_OP_LOG_TRACE: return "LOG_TRACE";
    case EVA_FFI_SVC_OP_LOG_DEBUG: return "LOG_DEBUG";
    case EVA_FFI_SVC_OP_LOG_INFO: return "LOG_INFO";
    case EVA_FFI_SVC_OP_LOG_WARN: return "LOG_WARN";
    case EVA_FFI_SVC_OP_LOG_ERROR: return "LOG_ERROR";
    case EVA_FFI_SVC_OP_TERMINATE: return "TERMINATE";
    case EVA_FFI_SVC_OP_POC: return "POC";
    default: return "unknown op";
    }
}

static void harness_bus_misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void harness_bus_misuse(const char *fmt, ...)
{
    unsigned long n = atomic_fetch_add(&harness_bus.misuse, 1) + 1;
    if (n > HARNESS_BUS_MISUSE_SHOWN) return;
    struct harness_strbuf sb = HARNESS_STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    harness_strbuf_vappendf(&sb, fmt, ap);
    va_end(ap);
    harness_log(HARNESS_LOG_WARN, "ABI misuse: %s%s", harness_strbuf_cstr(&sb),
                n == HARNESS_BUS_MISUSE_SHOWN ? " (further misuse warnings are only counted)" : "");
    harness_strbuf_destroy(&sb);
}

static int32_t harness_bus_invalid(const char *op, const char *why)
{
    atomic_fetch_add(&harness_bus.invalid, 1);
    harness_bus_misuse("%s: %s", op, why);
    return EVA_ERR_CODE_INVALID_DATA;
}

static void *harness_bus_consumer_main(void *arg)
{
    (void)arg;
    struct harness_out_frame *f;
    while ((f = harness_out_queue_pop(&harness_bus.queue)) != NULL) {
        if (harness_bus.cfg.core) {
            char why[160];
            if (harness_item_store_apply_frame(&harness_bus.cfg.core->items, f->topic, f->payload, f->payload_len,
                                               why, sizeof why) < 0)
                harness_log(HARNESS_LOG_WARN, "the core would reject the raw event on %s: %s", f->topic, why);
        }
        if (harness_bus.cfg.frame_sink) harness_bus.cfg.frame_sink(harness_bus.cfg.sink_ud, f);
        harness_out_queue_done(&harness_bus.queue, f);
    }
    return NULL;
}

void harness_bus_start(const struct harness_bus_config *cfg)
{
    harness_bus.cfg = *cfg;
    harness_out_queue_init(&harness_bus.queue, cfg->queue_size);
    harness_topic_set_init(&harness_bus.subscriptions);
    atomic_store(&harness_bus.active, 1);
    atomic_store(&harness_bus.after_terminate_first_op, 0);
    if (pthread_create(&harness_bus.consumer, NULL, harness_bus_consumer_main, NULL) != 0) {
        harness_log(HARNESS_LOG_CRITICAL, "cannot start the bus consumer thread");
        exit(HARNESS_EXIT_LAUNCH);
    }
    harness_bus.started = 1;
}

void harness_bus_connect(void)
{
    atomic_store(&harness_bus.connected, 1);
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

/* SUBSCRIBE/UNSUBSCRIBE: one or more topics, each ended by NUL */
static int32_t harness_bus_subscribe(int16_t op, struct EvaFFIBuffer *buf)
{
    const char *name = harness_bus_op_name(op);
    if (!buf || !buf->data || buf->len == 0) return harness_bus_invalid(name, "no topics given");
    if (buf->data[buf->len - 1] != '\0') return harness_bus_invalid(name, "the last topic is not NUL-terminated");
    /* validate all first: a bad buffer changes nothing */
    for (size_t i = 0; i < buf->len;) {
        size_t n = strlen(buf->data + i);
        if (n == 0) return harness_bus_invalid(name, "an empty topic");
        i += n + 1;
    }
    if (harness_out_queue_is_full(&harness_bus.queue) ||
        harness_fault_hit(harness_bus.cfg.faults, HARNESS_FAULT_SUBSCRIBE_BUSY)) {
        atomic_fetch_add(&harness_bus.busy, 1);
        return EVA_ERR_CODE_BUSY;
    }
    atomic_fetch_add(&harness_bus.subscribe, 1);
    for (size_t i = 0; i < buf->len;) {
        const char *topic = buf->data + i;
        if (op == EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC) {
            if (harness_topic_set_add(&harness_bus.subscriptions, topic))
                harness_log(HARNESS_LOG_DEBUG, "library subscribed to %s", topic);
        } else {
            if (harness_topic_set_remove(&harness_bus.subscriptions, topic))
                harness_log(HARNESS_LOG_DEBUG, "library unsubscribed from %s", topic);
        }
        i += strlen(topic) + 1;
    }
    return EVA_OK;
}

static int32_t harness_bus_publish_op(struct EvaFFIBuffer *buf)
{
    if (!buf || !buf->data || buf->len == 0) return harness_bus_invalid("PUBLISH_TOPIC", "no topic given");
    const char *nul = memchr(buf->data, '\0', buf->len);
    if (!nul) return harness_bus_invalid("PUBLISH_TOPIC", "the topic is not NUL-terminated");
    size_t tlen = (size_t)(nul - buf->data);
    if (harness_fault_hit(harness_bus.cfg.faults, HARNESS_FAULT_PUBLISH_BUSY) ||
        harness_out_queue_push(&harness_bus.queue, buf->data, tlen, nul + 1, buf->len - tlen - 1) < 0) {
        atomic_fetch_add(&harness_bus.busy, 1);
        return EVA_ERR_CODE_BUSY;
    }
    atomic_fetch_add(&harness_bus.publish, 1);
    return EVA_OK;
}

static int32_t harness_bus_rpc_call(struct EvaFFIBuffer *buf)
{
    /* whatever happens, the previous result of this thread is gone */
    harness_rpc_result_begin();
    if (!buf || !buf->data || buf->len == 0) return harness_bus_invalid("RPC_CALL", "no target given");
    const char *nul1 = memchr(buf->data, '\0', buf->len);
    if (!nul1) return harness_bus_invalid("RPC_CALL", "the target is not NUL-terminated");
    size_t rest = buf->len - (size_t)(nul1 + 1 - buf->data);
    const char *method = nul1 + 1;
    const char *nul2 = memchr(method, '\0', rest);
    if (!nul2) return harness_bus_invalid("RPC_CALL", "the method is not NUL-terminated");
    const char *params = nul2 + 1;
    size_t params_len = buf->len - (size_t)(params - buf->data);
    if (harness_out_queue_is_full(&harness_bus.queue)) {
        atomic_fetch_add(&harness_bus.busy, 1);
        return EVA_ERR_CODE_BUSY;
    }
    atomic_fetch_add(&harness_bus.rpc_calls, 1);
    const char *target = buf->data;
    if (harness_fault_hit(harness_bus.cfg.faults, HARNESS_FAULT_RPC_TIMEOUT)) {
        harness_log(HARNESS_LOG_DEBUG, "rpc %s %s: injected timeout", target, method);
        harness_clock_sleep(harness_bus.cfg.rpc_timeout);
        return EVA_ERR_CODE_TIMEOUT;
    }
    if (harness_fault_hit(harness_bus.cfg.faults, HARNESS_FAULT_RPC_ERROR)) {
        harness_log(HARNESS_LOG_DEBUG, "rpc %s %s: injected error %d", target, method,
                    harness_bus.cfg.faults->rpc_error_code);
        return harness_bus.cfg.faults->rpc_error_code;
    }
    char *out = NULL;
    size_t out_len = 0;
    int32_t rc = harness_bus.cfg.core
                     ? harness_mock_core_call(harness_bus.cfg.core, target, method, params, params_len, &out, &out_len)
                     : EVA_ERR_CODE_BUS_CLIENT_NOT_REGISTERED;
    if (harness_output_level() <= HARNESS_LOG_DEBUG) {
        struct harness_strbuf sb = HARNESS_STRBUF_INIT;
        harness_payload_json_describe(&sb, params, params_len);
        harness_strbuf_appendf(&sb, " -> %d", (int)rc);
        if (rc == 0 && out_len) {
            harness_strbuf_append_str(&sb, " ");
            harness_payload_json_describe(&sb, out, out_len);
        }
        harness_log(HARNESS_LOG_DEBUG, "rpc %s %s %s", target, method, sb.data);
        harness_strbuf_destroy(&sb);
    }
    if (rc < 0) {
        free(out);
        return rc;
    }
    if (out_len == 0) {
        free(out);
        return EVA_OK;
    }
    if (out_len > INT32_MAX) {
        free(out);
        return EVA_ERR_CODE_BUS_DATA;
    }
    harness_rpc_result_set(out, out_len);
    return (int32_t)out_len;
}

static int32_t harness_bus_get_result(struct EvaFFIBuffer *buf)
{
    if (!buf) return harness_bus_invalid("GET_RPC_RESULT", "NULL buffer struct");
    enum harness_rpc_result_problem problem;
    size_t len;
    int32_t rc = harness_rpc_result_fetch(buf, harness_bus.cfg.result_mode, &problem, &len);
    switch (problem) {
    case HARNESS_RPC_RESULT_OK:
        atomic_fetch_add(&harness_bus.rpc_results, 1);
        break;
    case HARNESS_RPC_RESULT_NO_CALL:
        harness_bus_misuse("GET_RPC_RESULT on a thread that made no RPC_CALL (results are per thread)");
        break;
    case HARNESS_RPC_RESULT_NO_RESULT:
        harness_bus_misuse("GET_RPC_RESULT after an RPC_CALL that returned no result");
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

static void harness_bus_note_after_terminate(int16_t op)
{
    if (!atomic_load(&harness_bus.terminated)) return;
    if (atomic_fetch_add(&harness_bus.after_terminate, 1) == 0) {
        atomic_store(&harness_bus.after_terminate_first_op, op);
        atomic_store(&harness_bus.after_terminate_first_delay, harness_clock_now() - harness_bus.terminated_at);
        harness_log(HARNESS_LOG_WARN, "ABI misuse: %s called after svc_terminate returned", harness_bus_op_name(op));
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

static int32_t harness_bus_op_inner(int16_t op, struct EvaFFIBuffer *buf)
{
    switch (op) {
    case EVA_FFI_SVC_OP_IS_ACTIVE:
        return atomic_load(&harness_bus.active) ? 1 : 0;
    case EVA_FFI_SVC_OP_TERMINATE:
        harness_log(HARNESS_LOG_INFO, "the library asked to terminate");
        atomic_store(&harness_bus.active, 0);
        if (harness_bus.cfg.on_terminate) harness_bus.cfg.on_terminate(harness_bus.cfg.terminate_ud);
        return EVA_OK;
    case EVA_FFI_SVC_OP_POC: {
        const char *text = buf && buf->data ? buf->data : "";
        size_t len = buf && buf->data ? buf->len : 0;
        if (harness_bus.cfg.on_poc) {
            harness_bus.cfg.on_poc(harness_bus.cfg.poc_ud, text, len);
            return EVA_OK;
        }
        harness_output_library_log(HARNESS_LOG_CRITICAL, text, len);
        harness_log(HARNESS_LOG_CRITICAL, "the library raised POC: exiting with an error");
        harness_output_emergency_flush();
        _exit(HARNESS_EXIT_POC);
    }
    default:
        break;
    }
    if (!atomic_load(&harness_bus.connected)) {
        /* before svc_prepare's bus: everything else waits for the bus;
         * logging is muted (visible only at debug level) */
        atomic_fetch_add(&harness_bus.not_ready, 1);
        if (op >= EVA_FFI_SVC_OP_LOG_TRACE && op <= EVA_FFI_SVC_OP_LOG_ERROR && buf && buf->data &&
            harness_output_level() <= HARNESS_LOG_DEBUG) {
            struct harness_strbuf sb = HARNESS_STRBUF_INIT;
            harness_strbuf_append(&sb, buf->data, buf->len);
            harness_log(HARNESS_LOG_DEBUG, "muted (bus not connected yet): [%s] %s",
                        harness_output_level_name(harness_bus_log_level(op)), sb.data);
            harness_strbuf_destroy(&sb);
        }
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
    case EVA_FFI_SVC_OP_LOG_TRACE:
    case EVA_FFI_SVC_OP_LOG_DEBUG:
    case EVA_FFI_SVC_OP_LOG_INFO:
    case EVA_FFI_SVC_OP_LOG_WARN:
    case EVA_FFI_SVC_OP_LOG_ERROR:
        if (!buf || (!buf->data && buf->len)) return harness_bus_invalid("LOG", "no text buffer");
        atomic_fetch_add(&harness_bus.logs, 1);
        harness_output_library_log(harness_bus_log_level(op), buf->data ? buf->data : "", buf->len);
        return EVA_OK;
    default:
        harness_bus_misuse("unknown op code %d", (int)op);
        return EVA_ERR_CODE_UNSUPPORTED;
    }
}

int harness_bus_publish(const char *topic, const char *payload, size_t len)
{
    return harness_out_queue_push(&harness_bus.queue, topic, strlen(topic), payload, len);
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

void harness_bus_get_stats(struct harness_bus_stats *out)
{
    out->ops = atomic_load(&harness_bus.ops);
    out->publish = atomic_load(&harness_bus.publish);
    out->subscribe = atomic_load(&harness_bus.subscribe);
    out->rpc_calls = atomic_load(&harness_bus.rpc_calls);
    out->rpc_results = atomic_load(&harness_bus.rpc_results);
    out->logs = atomic_load(&harness_bus.logs);
    out->busy = atomic_load(&harness_bus.busy);
    out->not_ready = atomic_load(&harness_bus.not_ready);
    out->invalid = atomic_load(&harness_bus.invalid);
    out->misuse = atomic_load(&harness_bus.misuse);
    out->after_terminate = atomic_load(&harness_bus.after_terminate);
    out->after_terminate_first_op = atomic_load(&harness_bus.after_terminate_first_op);
    out->after_terminate_first_delay = atomic_load(&harness_bus.after_terminate_first_delay);
}

struct harness_topic_set *harness_bus_subscriptions(void)
{
    return &harness_bus.subscriptions;
}
