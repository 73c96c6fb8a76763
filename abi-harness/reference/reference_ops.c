/* Calls of the launcher's op function, and logging through the LOG ops. */
#include "reference_service.h"

int32_t op_call(int16_t op, struct EvaFFIBuffer *buf)
{
    int32_t rc;
    atomic_fetch_add(&g_op_inflight, 1);
    tls.op_depth++;
    if (atomic_load(&g_stopped)) {
        rc = EVA_ERR_CODE_NOT_READY;
    } else {
        eva_ffi_op_fn f = atomic_load(&g_op_fn);
        rc = f ? f(op, buf) : EVA_ERR_CODE_NOT_READY;
    }
    tls.op_depth--;
    atomic_fetch_sub(&g_op_inflight, 1);
    return rc;
}

void svc_log(int level, const char *fmt, ...)
{
    if (level < atomic_load_explicit(&g_log_level, memory_order_relaxed))
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (!atomic_load(&g_bus_up)) {
        /* before svc_prepare the bus (and so logging) is not available */
        fprintf(stderr, "reference: %.*s\n", (int)len, line);
        return;
    }
    int16_t op;
    if (level >= EVA_LOG_LEVEL_ERROR)
        op = EVA_FFI_SVC_OP_LOG_ERROR;
    else if (level >= EVA_LOG_LEVEL_WARN)
        op = EVA_FFI_SVC_OP_LOG_WARN;
    else if (level >= EVA_LOG_LEVEL_INFO)
        op = EVA_FFI_SVC_OP_LOG_INFO;
    else if (level >= EVA_LOG_LEVEL_DEBUG)
        op = EVA_FFI_SVC_OP_LOG_DEBUG;
    else
        op = EVA_FFI_SVC_OP_LOG_TRACE;
    /* with its NUL, as the ABI text asks (line[len] is the NUL vsnprintf wrote) */
    struct EvaFFIBuffer b = {.len = len + 1, .data = line, .max = sizeof line};
    (void)op_call(op, &b);
}
