#include "service.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "exit_codes.h"
#include "output.h"
#include "watchdog.h"
#include "xalloc.h"

const char *harness_service_stop_reason_name(enum harness_stop_reason reason)
{
    switch (reason) {
    case HARNESS_STOP_CALL: return "the stop method";
    case HARNESS_STOP_TERMINATE: return "the library's TERMINATE";
    case HARNESS_STOP_SIGNAL: return "a signal";
    case HARNESS_STOP_END: return "the end of the run";
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

    int16_t rc = svc->lib.set_op_fn(EVA_FFI_ABI_VERSION, harness_bus_op);
    if (rc != 0) {
        harness_log(HARNESS_LOG_ERROR, "launch failed: eva_svc_set_op_fn(1) returned %d", (int)rc);
        return HARNESS_EXIT_LAUNCH;
    }
    /* the library gets its own copy: it must not be able to change ours */
    char *copy = harness_xmemdup(svc->initial->data, svc->initial->len);
    struct EvaFFIBuffer ibuf = {svc->initial->len, copy, svc->initial->len};
    int32_t n = svc->lib.init(&ibuf);
    free(copy);
    if (n < 0) {
        harness_log(HARNESS_LOG_ERROR, "launch failed: svc_init returned %d", (int)n);
        return HARNESS_EXIT_LAUNCH;
    }
    if (n == 0) {
        harness_log(HARNESS_LOG_WARN, "svc_init returned 0: the library gave no service info (info answers nothing)");
        return 0;
    }
    /* exactly the announced size, len = max = size, as the launcher does */
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
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    size_t off = 0;
    svc->info_is_map = msgpack_unpack(info, svc->info_len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS &&
                       obj.type == MSGPACK_OBJECT_MAP;
    msgpack_zone_destroy(&zone);
    if (!svc->info_is_map) harness_log(HARNESS_LOG_WARN, "the service info from svc_init is not a MessagePack map");
    return 0;
}

static void harness_service_publish_status(const char *status)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "status", 6);
    msgpack_pack_str_with_body(&pk, status, strlen(status));
    if (harness_bus_publish(EVA_TOPIC_SERVICE_STATUS, sbuf.data, sbuf.size) < 0)
        harness_log(HARNESS_LOG_WARN, "the outgoing queue is full: %s status not published", status);
    msgpack_sbuffer_destroy(&sbuf);
}

int harness_service_bring_up(struct harness_service *svc)
{
    /* routing starts before svc_prepare, so a call that comes in now sees
     * the library's NOT_READY */
    harness_bus_connect();
    svc->pool = harness_rpc_pool_start(&svc->lib, svc->pool_size);
    if (svc->lib.prepare) {
        int16_t rc = svc->lib.prepare();
        if (rc < 0) {
            harness_log(HARNESS_LOG_ERROR, "launch failed: svc_prepare returned %d", (int)rc);
            return HARNESS_EXIT_LAUNCH;
        }
    }
    harness_service_publish_status("ready");
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
        int16_t lrc = svc->lib.launch();
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

void harness_service_call(struct harness_service *svc, const void *method, size_t method_len, const void *payload,
                          size_t payload_len, struct harness_reply *reply)
{
    if (harness_service_is(method, method_len, "test")) {
        memset(reply, 0, sizeof *reply);
        return;
    }
    if (harness_service_is(method, method_len, "info")) {
        memset(reply, 0, sizeof *reply);
        if (svc->info_len) {
            reply->has_payload = 1;
            reply->payload = harness_xmemdup(svc->info, svc->info_len);
            reply->payload_len = svc->info_len;
        }
        return;
    }
    if (harness_service_is(method, method_len, "stop")) {
        memset(reply, 0, sizeof *reply);
        harness_service_request_stop(svc, HARNESS_STOP_CALL);
        return;
    }
    harness_rpc_pool_call(svc->pool, svc->sender, method, method_len, payload, payload_len, reply);
    if (reply->overrun)
        harness_log(HARNESS_LOG_WARN, "ABI misuse: eva_svc_get_result wrote past max / set len > max");
    if (reply->repointed)
        harness_log(HARNESS_LOG_WARN, "ABI misuse: eva_svc_get_result changed the buffer's data pointer");
}

int harness_service_frame(struct harness_service *svc, const char *topic, const void *payload, size_t payload_len,
                          int force)
{
    if (!force && !harness_topic_set_matches(harness_bus_subscriptions(), topic)) return 0;
    harness_rpc_pool_frame(svc->pool, svc->sender, topic, payload, payload_len);
    return 1;
}

void harness_service_request_stop(struct harness_service *svc, enum harness_stop_reason reason)
{
    pthread_mutex_lock(&svc->mutex);
    if (svc->stop_reason == HARNESS_STOP_NONE) svc->stop_reason = reason;
    pthread_cond_broadcast(&svc->stop_cond);
    pthread_mutex_unlock(&svc->mutex);
}

enum harness_stop_reason harness_service_stop_requested(struct harness_service *svc)
{
    pthread_mutex_lock(&svc->mutex);
    enum harness_stop_reason r = svc->stop_reason;
    pthread_mutex_unlock(&svc->mutex);
    return r;
}

enum harness_stop_reason harness_service_wait_stop(struct harness_service *svc, double timeout)
{
    struct timespec deadline = harness_clock_deadline(timeout);
    pthread_mutex_lock(&svc->mutex);
    while (svc->stop_reason == HARNESS_STOP_NONE) {
        if (timeout < 0) pthread_cond_wait(&svc->stop_cond, &svc->mutex);
        else if (pthread_cond_timedwait(&svc->stop_cond, &svc->mutex, &deadline) != 0) break;
    }
    enum harness_stop_reason r = svc->stop_reason;
    pthread_mutex_unlock(&svc->mutex);
    return r;
}

int harness_service_shutdown(struct harness_service *svc)
{
    double limit = svc->initial->timeout_shutdown;
    double start = harness_clock_now();
    harness_watchdog_arm(limit, HARNESS_EXIT_SHUTDOWN, "shutdown (svc_terminate and the queue drain)");
    harness_bus_set_active(0);
    harness_service_publish_status("terminating");
    /* let calls and frames already handed to the pool finish first, so no
     * frame reaches the library after svc_terminate */
    if (svc->pool && harness_rpc_pool_wait_idle(svc->pool, limit / 2) < 0)
        harness_log(HARNESS_LOG_WARN, "calls or frames still running in the library at shutdown");
    int rc = 0;
    if (svc->lib.terminate) {
        double t0 = harness_clock_now();
        int16_t trc = svc->lib.terminate();
        svc->terminate_seconds = harness_clock_now() - t0;
        if (trc != 0) {
            harness_log(HARNESS_LOG_ERROR, "svc_terminate returned %d", (int)trc);
            rc = HARNESS_EXIT_SHUTDOWN;
        }
    }
    harness_bus_mark_terminated();
    if (svc->pool) {
        harness_rpc_pool_stop(svc->pool);
        svc->pool = NULL;
    }
    double left = limit - (harness_clock_now() - start);
    if (harness_bus_wait_processed(harness_bus_pushed(), left > 0 ? left : 0) < 0)
        harness_log(HARNESS_LOG_WARN, "the outgoing queue did not drain in time");
    harness_bus_stop();
    harness_watchdog_disarm();
    HARNESS_SVC_INFO(svc, "service stopped (svc_terminate took %.3f s)", svc->terminate_seconds);
    return rc;
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
