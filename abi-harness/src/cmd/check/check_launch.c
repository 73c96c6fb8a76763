/* Driving the library, in a check's child, the way the node's launcher does
 * it (service.c is the model; here each step can stop short and is a stage
 * of its own, so a crash or a hang is placed exactly). */
#include "check_child.h"

#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "loader.h"
#include "mock_core.h"
#include "runtime.h"
#include "xalloc.h"

/* svc_init as the launcher calls it: a buffer whose max is larger than len */
int32_t harness_check_svc_init(struct harness_check_child *ch)
{
    const struct harness_initial *initial = harness_check_initial(ch->ctx);
    size_t cap = initial->len + initial->len / 2 + 64;
    char *copy = harness_xcalloc(1, cap);
    memcpy(copy, initial->data, initial->len);
    struct EvaFFIBuffer ib = {initial->len, copy, cap};
    harness_runtime_enter("svc_init", initial->timeout_startup);
    int32_t n = ch->svc.lib.init(&ib);
    harness_runtime_leave();
    free(copy);
    return n;
}

/* drop the methods given with --skip (they stop or crash the service by design) */
static void harness_check_skip_methods(struct harness_check_child *ch)
{
    const struct harness_options *o = ch->ctx->o;
    size_t kept = 0;
    for (size_t i = 0; i < ch->methods.count; i++) {
        int skip = 0;
        for (size_t k = 0; k < o->skip_count && !skip; k++) skip = !strcmp(o->skips[k], ch->methods.names[i]);
        if (skip) continue;
        ch->methods.names[kept] = ch->methods.names[i];
        ch->methods.param_counts[kept] = ch->methods.param_counts[i];
        ch->methods.params[kept] = ch->methods.params[i];
        kept++;
    }
    ch->methods.count = kept;
}

void harness_check_launch(struct harness_check_child *ch, enum harness_check_upto upto)
{
    struct harness_service *svc = &ch->svc;
    const struct harness_initial *initial = harness_check_initial(ch->ctx);
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    harness_check_stage(ch, "dlopen");
    if (harness_loader_open(&svc->lib, ch->ctx->lib_path, &err) < 0)
        harness_check_verdict(ch, HARNESS_FAIL, "%s", err.data);
    harness_strbuf_destroy(&err);
    if (upto == HARNESS_UPTO_LOADED) return;
    harness_check_stage(ch, "eva_svc_set_op_fn(1)");
    int16_t rc = svc->lib.set_op_fn(EVA_FFI_ABI_VERSION, harness_bus_op);
    if (rc != 0) harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_set_op_fn(1) returned %d", (int)rc);
    if (upto == HARNESS_UPTO_OPFN) return;
    harness_check_stage(ch, "svc_init");
    int32_t n = harness_check_svc_init(ch);
    if (n < 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_init returned %d", (int)n);
    if (n > 0) {
        harness_check_stage(ch, "eva_svc_get_result after svc_init");
        char *info = harness_xmalloc((size_t)n);
        struct EvaFFIBuffer rb = {(size_t)n, info, (size_t)n};
        int16_t grc = svc->lib.get_result(&rb);
        if (grc < 0)
            harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result after svc_init returned %d", (int)grc);
        svc->info = info;
        svc->info_len = rb.len <= (size_t)n ? rb.len : (size_t)n;
    }
    harness_check_methods_parse(&ch->methods, svc->info, svc->info_len);
    harness_check_skip_methods(ch);
    if (upto == HARNESS_UPTO_INIT) return;
    harness_bus_connect();
    svc->pool = harness_rpc_pool_start(&svc->lib, svc->pool_size);
    if (upto == HARNESS_UPTO_BUS) return;
    if (svc->lib.prepare) {
        harness_check_stage(ch, "svc_prepare");
        harness_runtime_enter("svc_prepare", initial->timeout_startup);
        rc = svc->lib.prepare();
        harness_runtime_leave();
        if (rc < 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_prepare returned %d", (int)rc);
    }
    harness_service_publish_status("ready");
    harness_bus_set_active(1);
    if (svc->lib.launch) {
        harness_check_stage(ch, "svc_launch");
        harness_runtime_enter("svc_launch", initial->timeout_startup);
        rc = svc->lib.launch();
        harness_runtime_leave();
        if (rc < 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_launch returned %d", (int)rc);
    }
    /* the core goes active right after the service is ready (a node's default) */
    harness_mock_core_activate(&ch->core);
    static const char ready[] = "\x81\xa6status\xa5ready";
    harness_service_frame_from(svc, HARNESS_CORE_TARGET, EVA_TOPIC_SERVICE_STATUS, ready, sizeof ready - 1, 0);
    /* what prepare/launch published reaches the core before any call */
    harness_bus_wait_processed(harness_bus_pushed(), 1.0);
    harness_check_stage(ch, "running");
}

void harness_check_need_rpc(struct harness_check_child *ch)
{
    if (!ch->svc.lib.on_rpc_call) harness_check_verdict(ch, HARNESS_SKIP, "the library exports no svc_on_rpc_call");
}
