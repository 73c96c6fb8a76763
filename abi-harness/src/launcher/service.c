#include "service.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "exit_codes.h"
#include "output.h"
#include "runtime.h"
#include "service_info.h"
#include "watchdog.h"
#include "xalloc.h"

const char *harness_service_stop_reason_name(enum harness_stop_reason reason)
{
    switch (reason) {
    case HARNESS_STOP_CALL: return "the stop method";
    case HARNESS_STOP_TERMINATE: return "the library's TERMINATE";
    case HARNESS_STOP_SIGNAL: return "a signal";
    case HARNESS_STOP_POC: return "the library's POC";
    case HARNESS_STOP_END: return "the end of the run";
    case HARNESS_STOP_STDIN: return "stdin (closed, or a byte other than 0x00)";
    case HARNESS_STOP_BUS_LOST: return "the broker going away";
    default: return "nothing";
    }
}

void harness_service_init(struct harness_service *svc, const char *lib_path, const struct harness_initial *initial,
                          unsigned pool_size, const char *sender)
{
    memset(svc, 0, sizeof *svc);
    svc->lib_path = lib_path;
    svc->initial = initial;
    svc->pool_size = pool_size ? pool_size : 1;
    svc->sender = sender;
    pthread_mutex_init(&svc->mutex, NULL);
    harness_clock_cond_init(&svc->stop_cond);
}

#define HARNESS_SVC_INFO(svc, ...)                                                                                    \
    do {                                                                                                              \
        if (!(svc)->quiet) harness_log(HARNESS_LOG_INFO, __VA_ARGS__);                                                \
    } while (0)

/* eva4 svc/ffi/src/main.rs eva_svc_main: set_op_fn, svc_init, then the service info */
int harness_service_load_and_init(struct harness_service *svc)
{
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    if (harness_loader_open(&svc->lib, svc->lib_path, &err) < 0) {
        harness_log(HARNESS_LOG_ERROR, "launch failed: %s", err.data);
        harness_strbuf_destroy(&err);
        return HARNESS_EXIT_LAUNCH;
    }
    harness_strbuf_destroy(&err);
    struct harness_strbuf present = HARNESS_STRBUF_INIT, missing = HARNESS_STRBUF_INIT;
    harness_loader_describe(&svc->lib, &present, &missing);
    HARNESS_SVC_INFO(svc, "loaded %s (optional symbols: %s%s%s)", svc->lib_path, present.len ? present.data : "none",
                     missing.len ? "; missing: " : "", harness_strbuf_cstr(&missing));
    harness_strbuf_destroy(&present);
    harness_strbuf_destroy(&missing);

    /* eva4 svc/ffi/src/main.rs: ffi_eva_set_op_fn(ABI_VERSION, svc_op).into_result()? */
    int16_t rc = svc->lib.set_op_fn(EVA_FFI_ABI_VERSION, harness_bus_op);
    if (rc != 0) {
        harness_log(HARNESS_LOG_ERROR, "launch failed: eva_svc_set_op_fn(1) returned %d", (int)rc);
        return HARNESS_EXIT_LAUNCH;
    }
    /* eva4 svc/ffi/src/main.rs as_ffi_buf: max is the Vec's capacity, larger than len;
     * the library gets its own copy, it must not be able to change ours */
    size_t cap = svc->initial->len + svc->initial->len / 2 + 64;
    char *copy = harness_xmalloc(cap);
    memcpy(copy, svc->initial->data, svc->initial->len);
    memset(copy + svc->initial->len, 0, cap - svc->initial->len);
    struct EvaFFIBuffer ibuf = {svc->initial->len, copy, cap};
    harness_runtime_enter("svc_init", svc->initial->timeout_startup);
    int32_t n = svc->lib.init(&ibuf);
    harness_runtime_leave();
    free(copy);
    if (n < 0) {
        harness_log(HARNESS_LOG_ERROR, "launch failed: svc_init returned %d", (int)n);
        return HARNESS_EXIT_LAUNCH;
    }
    if (n == 0) {
        /* eva4 svc/ffi/src/main.rs: no info -> ServiceInfo::new("", "", "FFI launcher dummy") */
        HARNESS_SVC_INFO(svc, "svc_init returned 0: the launcher's dummy info (\"FFI launcher dummy\") answers info");
        svc->info = harness_service_info_dummy(&svc->info_len);
        svc->info_is_map = 1;
        return 0;
    }
    /* eva4 svc/ffi/src/main.rs into_result_vec: get_result on the same thread, len = max = n */
    char *info = harness_xmalloc((size_t)n);
    struct EvaFFIBuffer rbuf = {(size_t)n, info, (size_t)n};
    int16_t grc = svc->lib.get_result(&rbuf);
    if (grc < 0) {
        free(info);
        harness_log(HARNESS_LOG_ERROR, "launch failed: eva_svc_get_result after svc_init returned %d", (int)grc);
        return HARNESS_EXIT_LAUNCH;
    }
    if (rbuf.data != info) harness_log(HARNESS_LOG_WARN, "eva_svc_get_result changed the buffer's data pointer");
    if (rbuf.len > (size_t)n) {
        harness_log(HARNESS_LOG_WARN, "eva_svc_get_result set len %zu > max %d", rbuf.len, (int)n);
        rbuf.len = (size_t)n;
    }
    svc->info = info;
    svc->info_len = rbuf.len;
    /* eva4 svc/ffi/src/main.rs: unpack::<ServiceInfo>(&b)? -- info that does not decode aborts the launch */
    struct harness_strbuf why = HARNESS_STRBUF_INIT;
    if (harness_service_info_decode(info, svc->info_len, &why) < 0) {
        harness_log(HARNESS_LOG_ERROR, "launch failed: the info from svc_init does not decode as service info: %s",
                    why.data);
        harness_strbuf_destroy(&why);
        return HARNESS_EXIT_LAUNCH;
    }
    harness_strbuf_destroy(&why);
    svc->info_is_map = 1;
    return 0;
}

void harness_service_publish_status(const char *status)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "status", 6);
    msgpack_pack_str_with_body(&pk, status, strlen(status));
    /* a real bus has logged why (no ack) */
    if (harness_bus_publish(EVA_TOPIC_SERVICE_STATUS, sbuf.data, sbuf.size) < 0 && !harness_bus_is_real())
        harness_log(HARNESS_LOG_WARN, "the outgoing queue is full: %s status not published", status);
    msgpack_sbuffer_destroy(&sbuf);
}

/* eva4-sdk src/service.rs svc_mark_ready, after SVC/ST ready: the launcher
 * logs "<description> started (<id>)" at info, which its bus logger
 * publishes as LOG/IN/info with the text as the payload (not MessagePack) */
static void harness_service_publish_started(struct harness_service *svc)
{
    if (svc->initial->log_level > HARNESS_LOG_INFO) return;
    char *description = harness_service_info_description(svc->info, svc->info_len);
    struct harness_strbuf text = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&text, "%s started (%s)", description, svc->initial->svc_id);
    /* a real bus has the launcher's logger (LOG/IN/<level>, QoS 0, the same filter) */
    if (harness_bus_is_real())
        harness_bus_launcher_log(HARNESS_LOG_INFO, text.data);
    else if (harness_bus_publish(EVA_TOPIC_LOG_INPUT_PREFIX "info", text.data, text.len) < 0)
        harness_log(HARNESS_LOG_WARN, "the outgoing queue is full: the \"started\" log line not published");
    harness_strbuf_destroy(&text);
    free(description);
}

int harness_service_bring_up(struct harness_service *svc)
{
    /* eva4 svc/ffi/src/main.rs: init_rpc (routing starts) before svc_prepare, so a call that
     * comes in now sees the library's NOT_READY */
    svc->pool = harness_rpc_pool_start(&svc->lib, svc->pool_size);
    int brc = harness_bus_connect();
    if (brc < 0) {
        harness_log(HARNESS_LOG_ERROR, "launch failed: cannot connect to the bus (%d)", brc);
        svc->bus_error = brc;
        return HARNESS_EXIT_LAUNCH;
    }
    if (svc->lib.prepare) {
        harness_runtime_enter("svc_prepare", svc->initial->timeout_startup);
        int16_t rc = svc->lib.prepare();
        harness_runtime_leave();
        if (rc < 0) {
            harness_log(HARNESS_LOG_ERROR, "launch failed: svc_prepare returned %d", (int)rc);
            return HARNESS_EXIT_LAUNCH;
        }
    }
    /* eva4-sdk src/service.rs svc_mark_ready: SVC/ST ready, then ACTIVE = true */
    harness_service_publish_status("ready");
    harness_service_publish_started(svc);
    harness_bus_set_active(1);
    HARNESS_SVC_INFO(svc, "service %s is ready", svc->initial->svc_id);
    return 0;
}

int harness_service_launch(struct harness_service *svc)
{
    harness_watchdog_arm(svc->initial->timeout_startup, HARNESS_EXIT_LAUNCH,
                         "startup (svc_init, svc_prepare: ready within timeout.startup)");
    int rc = harness_service_load_and_init(svc);
    if (rc == 0) rc = harness_service_bring_up(svc);
    if (rc == 0 && svc->lib.launch) {
        harness_watchdog_arm(svc->initial->timeout_startup, HARNESS_EXIT_LAUNCH, "svc_launch");
        harness_runtime_enter("svc_launch", svc->initial->timeout_startup);
        int16_t lrc = svc->lib.launch();
        harness_runtime_leave();
        if (lrc < 0) {
            harness_log(HARNESS_LOG_ERROR, "launch failed: svc_launch returned %d", (int)lrc);
            rc = HARNESS_EXIT_LAUNCH;
        }
    }
    harness_watchdog_disarm();
    return rc;
}

static int harness_service_is(const void *method, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(method, name, len) == 0;
}

/* eva4-sdk svc_handle_default_rpc: test, info and stop never reach the library; 1 when answered */
static int harness_service_call_own(struct harness_service *svc, const void *method, size_t method_len,
                                    struct harness_reply *reply)
{
    if (harness_service_is(method, method_len, "test")) {
        memset(reply, 0, sizeof *reply);
        return 1;
    }
    if (harness_service_is(method, method_len, "info")) {
        memset(reply, 0, sizeof *reply);
        if (svc->info_len) {
            reply->has_payload = 1;
            reply->payload = harness_xmemdup(svc->info, svc->info_len);
            reply->payload_len = svc->info_len;
        }
        return 1;
    }
    if (harness_service_is(method, method_len, "stop")) {
        memset(reply, 0, sizeof *reply);
        harness_service_request_stop(svc, HARNESS_STOP_CALL);
        return 1;
    }
    return 0;
}

static void harness_service_note_misuse(const struct harness_reply *reply)
{
    if (reply->overrun)
        harness_log(HARNESS_LOG_WARN, "ABI misuse: eva_svc_get_result wrote past max / set len > max");
    if (reply->repointed)
        harness_log(HARNESS_LOG_WARN, "ABI misuse: eva_svc_get_result changed the buffer's data pointer");
}

void harness_service_call(struct harness_service *svc, const void *method, size_t method_len, const void *payload,
                          size_t payload_len, struct harness_reply *reply)
{
    if (harness_service_call_own(svc, method, method_len, reply)) return;
    harness_rpc_pool_call(svc->pool, svc->sender, method, method_len, payload, payload_len, reply);
    harness_service_note_misuse(reply);
}

struct harness_service_async {
    harness_rpc_done_fn done;
    void *done_ud;
};

static void harness_service_async_done(void *ud, struct harness_reply *reply)
{
    struct harness_service_async a = *(struct harness_service_async *)ud;
    free(ud);
    harness_service_note_misuse(reply);
    a.done(a.done_ud, reply);
}

void harness_service_call_async(struct harness_service *svc, const char *sender, const void *method,
                                size_t method_len, const void *payload, size_t payload_len, harness_rpc_done_fn done,
                                void *done_ud)
{
    struct harness_reply reply;
    if (harness_service_call_own(svc, method, method_len, &reply)) {
        done(done_ud, &reply);
        harness_reply_clear(&reply);
        return;
    }
    struct harness_service_async *a = harness_xmalloc(sizeof *a);
    a->done = done;
    a->done_ud = done_ud;
    harness_rpc_pool_call_async(svc->pool, sender, method, method_len, payload, payload_len,
                                harness_service_async_done, a);
}

int harness_service_frame(struct harness_service *svc, const char *topic, const void *payload, size_t payload_len,
                          int force)
{
    return harness_service_frame_from(svc, svc->sender, topic, payload, payload_len, force);
}

int harness_service_frame_from(struct harness_service *svc, const char *sender, const char *topic,
                               const void *payload, size_t payload_len, int force)
{
    if (!svc->pool) return 0;
    if (!force && !harness_topic_set_matches(harness_bus_subscriptions(), topic)) return 0;
    harness_rpc_pool_frame(svc->pool, sender, topic, payload, payload_len);
    return 1;
}

void harness_service_destroy(struct harness_service *svc)
{
    if (svc->pool) {
        harness_rpc_pool_stop(svc->pool);
        svc->pool = NULL;
    }
    free(svc->info);
    svc->info = NULL;
    harness_loader_forget(&svc->lib);
    pthread_cond_destroy(&svc->stop_cond);
    pthread_mutex_destroy(&svc->mutex);
}
