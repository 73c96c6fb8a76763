/* ABI misuse as the op function meets it: warnings (the first
 * HARNESS_BUS_MISUSE_SHOWN shown, then only counted), buffers without the
 * final NUL the launcher accepts, an empty topic (hangs a node), op calls
 * after svc_terminate, op names, and the counters run and check report. */
#include <stdio.h>

#include "bus_state.h"
#include "clock.h"
#include "output.h"
#include "runtime.h"
#include "strbuf.h"

/* misuse warnings shown before they are only counted */
#define HARNESS_BUS_MISUSE_SHOWN 20

const char *const harness_nul_slot_names[HARNESS_NUL_SLOTS] = {"SUBSCRIBE_TOPIC", "UNSUBSCRIBE_TOPIC",
                                                               "PUBLISH_TOPIC",   "RPC_CALL",
                                                               "LOG_*",           "POC"};

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

void harness_bus_misuse(const char *fmt, ...)
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

int32_t harness_bus_invalid(const char *op, const char *why, enum harness_op_read r)
{
    atomic_fetch_add(&harness_bus.invalid, 1);
    int code = harness_op_read_code(r);
    harness_bus_misuse("%s: %s (%d)", op, why, code);
    return code;
}

/* eva4 svc/ffi/src/main.rs bus_task!: a full command queue answers BUSY and logs a warning (on a
 * real bus only: the modelled run counts them in its summary) */
void harness_bus_note_busy(void)
{
    atomic_fetch_add(&harness_bus.busy, 1);
    harness_bus_launcher_log(HARNESS_LOG_WARN, "command queue full, bus task/event ignored");
}

/* which no_nul counter an op uses */
static int harness_bus_nul_slot(int16_t op)
{
    switch (op) {
    case EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC: return HARNESS_NUL_SUBSCRIBE;
    case EVA_FFI_SVC_OP_UNSUBSCRIBE_TOPIC: return HARNESS_NUL_UNSUBSCRIBE;
    case EVA_FFI_SVC_OP_PUBLISH_TOPIC: return HARNESS_NUL_PUBLISH;
    case EVA_FFI_SVC_OP_RPC_CALL: return HARNESS_NUL_RPC_CALL;
    case EVA_FFI_SVC_OP_POC: return HARNESS_NUL_POC;
    default: return HARNESS_NUL_LOG;
    }
}

/* a buffer the launcher accepts although the ABI text asks for a final NUL:
 * counted per op, told once per op */
void harness_bus_note_no_nul(int16_t op)
{
    int slot = harness_bus_nul_slot(op);
    if (atomic_fetch_add(&harness_bus.no_nul[slot], 1) == 0)
        harness_log(HARNESS_LOG_WARN,
                    "%s buffer without a final NUL: the ABI text asks for one, the launcher accepts it "
                    "(abi-and-launcher.md, \"Buffers passed through the op function\")",
                    harness_bus_op_name(op));
}

/* eva4 svc/ffi/src/main.rs str_vec_from_ebuf_raw: an empty topic makes the launcher loop for ever */
void harness_bus_empty_topic(int16_t op)
{
    atomic_fetch_add(&harness_bus.empty_topics, 1);
    char report[200];
    snprintf(report, sizeof report,
             "hangs on a node: %s with an empty topic (two NULs in a row or a leading NUL): the launcher loops "
             "for ever reading it",
             harness_bus_op_name(op));
    harness_runtime_report_hang(report);
}

void harness_bus_note_after_terminate(int16_t op)
{
    if (!atomic_load(&harness_bus.terminated)) return;
    if (atomic_fetch_add(&harness_bus.after_terminate, 1) == 0) {
        atomic_store(&harness_bus.after_terminate_first_op, op);
        atomic_store(&harness_bus.after_terminate_first_delay, harness_clock_now() - harness_bus.terminated_at);
        harness_log(HARNESS_LOG_WARN, "%s called after svc_terminate returned (a node's launcher is exiting then)",
                    harness_bus_op_name(op));
    }
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
    for (int i = 0; i < HARNESS_NUL_SLOTS; i++) out->no_nul[i] = atomic_load(&harness_bus.no_nul[i]);
    out->empty_topics = atomic_load(&harness_bus.empty_topics);
    out->stale_results = atomic_load(&harness_bus.stale_results);
    out->logs_dropped = atomic_load(&harness_bus.logs_dropped);
    out->poc = atomic_load(&harness_bus.poc);
    out->after_terminate_first_op = atomic_load(&harness_bus.after_terminate_first_op);
    out->after_terminate_first_delay = atomic_load(&harness_bus.after_terminate_first_delay);
}
