/* A test library for tests/realnode/test_launch.py: answers with the error code or the
 * delay its method names, so a launcher's handling of them can be compared.
 *   "code:N"  returns N (e.g. -32099, a code EVA ICS does not know; -32013 BUSY)
 *   "slow:MS" sleeps MS milliseconds, then answers with no payload
 * No info (svc_init returns 0): the launcher's dummy info answers `info`. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eva_ffi.h"

int16_t eva_svc_set_op_fn(uint16_t abi_version, eva_ffi_op_fn f)
{
    (void)f;
    return abi_version == EVA_FFI_ABI_VERSION ? 0 : EVA_ERR_CODE_UNSUPPORTED;
}

int32_t svc_init(struct EvaFFIBuffer *initial)
{
    (void)initial;
    return 0;
}

int16_t eva_svc_get_result(struct EvaFFIBuffer *buf)
{
    (void)buf;
    return EVA_ERR_CODE_NOT_FOUND; /* no call here returns a payload */
}

static long odd_number(const struct EvaFFIRpcEvent *ev, const char *prefix)
{
    size_t n = strlen(prefix);
    if (ev->method_size <= n || ev->method_size > 40 || memcmp(ev->method, prefix, n) != 0) return 0;
    char text[48];
    memcpy(text, ev->method + n, ev->method_size - n);
    text[ev->method_size - n] = '\0';
    return strtol(text, NULL, 10);
}

int32_t svc_on_rpc_call(struct EvaFFIRpcEvent *ev)
{
    long ms = odd_number(ev, "slow:");
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return 0;
    }
    long code = odd_number(ev, "code:");
    return code < 0 ? (int32_t)code : EVA_ERR_CODE_METHOD_NOT_FOUND;
}
