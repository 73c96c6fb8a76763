#include "bus_model.h"

#include "clock.h"
#include "output.h"

static void harness_bus_model_send(void *ud, const struct harness_out_frame *f)
{
    const struct harness_bus_config *cfg = ud;
    if (f->kind != HARNESS_OUT_PUBLISH) return; /* subscriptions stay in the launcher's set */
    if (cfg->core) harness_mock_core_on_frame(cfg->core, f->topic, f->payload, f->payload_len);
    if (cfg->frame_sink) cfg->frame_sink(cfg->sink_ud, f);
}

static int32_t harness_bus_model_rpc_call(void *ud, const char *target, const char *method, const char *params,
                                          size_t params_len, char **out, size_t *out_len)
{
    const struct harness_bus_config *cfg = ud;
    if (harness_fault_hit(cfg->faults, HARNESS_FAULT_RPC_TIMEOUT)) {
        harness_log(HARNESS_LOG_DEBUG, "rpc %s %s: injected timeout", target, method);
        harness_clock_sleep(cfg->rpc_timeout);
        return EVA_ERR_CODE_TIMEOUT;
    }
    if (harness_fault_hit(cfg->faults, HARNESS_FAULT_RPC_ERROR)) {
        harness_log(HARNESS_LOG_DEBUG, "rpc %s %s: injected error %d", target, method, cfg->faults->rpc_error_code);
        return cfg->faults->rpc_error_code;
    }
    int32_t rc = cfg->core ? harness_mock_core_call(cfg->core, target, method, params, params_len, out, out_len)
                           : EVA_ERR_CODE_BUS_CLIENT_NOT_REGISTERED;
    if (rc == EVA_ERR_CODE_BUS_CLIENT_NOT_REGISTERED) {
        /* eva4 svc/ffi/src/main.rs safe_rpc_call(.., TIMEOUT): a peer not on the bus is not an
         * error at once, the call waits out timeout.default */
        harness_log(HARNESS_LOG_DEBUG, "rpc %s %s: no such peer on the bus, waiting timeout.default (%g s)", target,
                    method, cfg->rpc_timeout);
        harness_clock_sleep(cfg->rpc_timeout);
        rc = EVA_ERR_CODE_TIMEOUT;
    }
    return rc;
}

static void harness_bus_model_log(void *ud, int level, const char *text, size_t len)
{
    (void)ud;
    harness_output_library_log(level, text, len);
}

void harness_bus_model_backend(struct harness_bus_backend *backend, const struct harness_bus_config *cfg)
{
    *backend = (struct harness_bus_backend){
        .send = harness_bus_model_send,
        .rpc_call = harness_bus_model_rpc_call,
        .log = harness_bus_model_log,
        .ud = (void *)cfg,
    };
}
