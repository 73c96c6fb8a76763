#include "bus_real.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "busrt_rpc.h"
#include "clock.h"
#include "errcode.h"
#include "output.h"
#include "xalloc.h"

/* eva4-common logger.rs: the same level and text again within 100 ms is dropped */
#define HARNESS_BUS_REAL_LOG_REPEAT 0.1
#define HARNESS_BUS_REAL_LOG_LEVELS 5

struct harness_bus_real {
    struct harness_bus_real_config cfg;
    char *addr, *name;
    busrt_client *client, *lib_client; /* lib_client: <id>%%0 with blocking_fp, else client */
    busrt_rpc *rpc, *lib_rpc;
    /* held for reading while an op uses the connections; disconnect takes it for writing */
    pthread_rwlock_t use;
    pthread_mutex_t mutex;
    pthread_cond_t answered;
    int closing;
    int closed;
    unsigned long owed; /* requests handed to the service and not answered yet */
    atomic_int lost;
    pthread_mutex_t log_mutex;
    char *last_log[HARNESS_BUS_REAL_LOG_LEVELS];
    size_t last_log_len[HARNESS_BUS_REAL_LOG_LEVELS];
    double last_log_at[HARNESS_BUS_REAL_LOG_LEVELS];
};

/* the part of a bus name before the first %%: what the library sees as the sender */
static char *harness_bus_real_primary(const char *sender)
{
    const char *cut = strstr(sender, "%%");
    return cut ? harness_xstrndup(sender, (size_t)(cut - sender)) : harness_xstrdup(sender);
}

/* eva-common (0.3.120) ErrorKind from an RPC code, as eva-ffi 4.1 sends it (observed code by code):
 * the named codes pass, except SYSTEM_ERROR, PARSE, INVALID_REQUEST and INTERNAL_RPC, which go out
 * as OTHER like any code it does not know */
static int harness_bus_real_wire_code(int code)
{
    switch (code) {
    case EVA_ERR_CODE_SYSTEM_ERROR:
    case EVA_ERR_CODE_PARSE:
    case EVA_ERR_CODE_INVALID_REQUEST:
    case EVA_ERR_CODE_INTERNAL_RPC:
        return EVA_ERR_CODE_OTHER;
    default:
        return harness_errcode_name(code) ? code : EVA_ERR_CODE_OTHER;
    }
}

struct harness_bus_real_call {
    struct harness_bus_real *bus;
    busrt_rpc_request *req;
};

/* eva4-sdk: a negative return becomes an error with an empty message; eva-common turns a
 * code it does not know into OTHER */
static void harness_bus_real_answer(void *ud, struct harness_reply *reply)
{
    struct harness_bus_real_call *call = ud;
    struct harness_bus_real *bus = call->bus;
    /* NULL: the request's own layer (a request can come in before busrt_rpc_new has returned) */
    if (reply->code < 0) {
        busrt_rpc_error(NULL, call->req, harness_bus_real_wire_code(reply->code), NULL, 0);
    } else {
        busrt_rpc_reply(NULL, call->req, reply->has_payload ? reply->payload : NULL,
                        reply->has_payload ? reply->payload_len : 0);
    }
    free(call);
    pthread_mutex_lock(&bus->mutex);
    bus->owed--;
    pthread_cond_broadcast(&bus->answered);
    pthread_mutex_unlock(&bus->mutex);
}

/* the reader thread: hand the call on, never wait for the library here */
static void harness_bus_real_on_call(void *ctx, const busrt_rpc_event *ev, busrt_rpc_request *req)
{
    struct harness_bus_real *bus = ctx;
    if (!req) return; /* a notification: eva-ffi has no use for them */
    pthread_mutex_lock(&bus->mutex);
    int closing = bus->closing;
    if (!closing) bus->owed++;
    pthread_mutex_unlock(&bus->mutex);
    if (closing) {
        busrt_rpc_drop(req); /* the launcher is exiting: as a process that is gone */
        return;
    }
    struct harness_bus_real_call *call = harness_xmalloc(sizeof *call);
    call->bus = bus;
    call->req = req;
    char *sender = harness_bus_real_primary(ev->sender);
    harness_service_call_async(bus->cfg.svc, sender, ev->method, ev->method_len, ev->params, ev->params_len,
                               harness_bus_real_answer, call);
    free(sender);
}

static void harness_bus_real_on_frame(void *ctx, const busrt_frame *f)
{
    struct harness_bus_real *bus = ctx;
    if (f->kind != BUSRT_FRAME_PUBLISH && f->kind != BUSRT_FRAME_BROADCAST) return;
    pthread_mutex_lock(&bus->mutex);
    int closing = bus->closing;
    pthread_mutex_unlock(&bus->mutex);
    if (closing) return;
    /* busrt delivers only what the client subscribed to: no second filter here */
    char *sender = harness_bus_real_primary(f->sender);
    harness_service_frame_from(bus->cfg.svc, sender, f->topic, f->payload, f->len, 1);
    free(sender);
}

/* eva-ffi --blocking-fp: the secondary connection's frames are dropped */
static void harness_bus_real_drop_frame(void *ctx, const busrt_frame *f)
{
    (void)ctx;
    (void)f;
}

static void harness_bus_real_on_disconnect(void *ctx, int err)
{
    struct harness_bus_real *bus = ctx;
    pthread_mutex_lock(&bus->mutex);
    int closing = bus->closing;
    pthread_mutex_unlock(&bus->mutex);
    if (closing || atomic_exchange(&bus->lost, 1)) return;
    if (bus->cfg.on_lost) bus->cfg.on_lost(bus->cfg.lost_ud, err);
}

static busrt_client *harness_bus_real_open(struct harness_bus_real *bus, const char *name, busrt_frame_cb on_frame,
                                           int *err)
{
    busrt_options opt;
    busrt_options_init(&opt);
    opt.timeout = bus->cfg.timeout;
    opt.on_frame = on_frame;
    opt.frame_ctx = bus;
    opt.on_disconnect = harness_bus_real_on_disconnect;
    opt.disconnect_ctx = bus;
    opt.start_paused = 1; /* the RPC layer is in place before the first request is read */
    busrt_client *c = busrt_connect(bus->addr, name, &opt, err);
    if (!c) {
        const char *why = busrt_error_name(*err);
        harness_log(HARNESS_LOG_ERROR, "bus %s: cannot register as %s: %s (%d)%s", bus->addr, name,
                    why ? why : "error", *err,
                    *err == BUSRT_ERR_BUSY ? " (the name is already on the bus)" : "");
    }
    return c;
}

/* eva4 svc/ffi/src/main.rs: the bus client (and with --blocking-fp its <id>%%0) is up before svc_prepare */
static int harness_bus_real_connect(void *ud)
{
    struct harness_bus_real *bus = ud;
    int err = 0;
    bus->client = harness_bus_real_open(bus, bus->name, harness_bus_real_on_frame, &err);
    if (!bus->client) return err;
    bus->rpc = busrt_rpc_new(bus->client, harness_bus_real_on_call, bus);
    if (!bus->rpc) return BUSRT_ERR_OTHER;
    bus->lib_client = bus->client;
    bus->lib_rpc = bus->rpc;
    if (bus->cfg.blocking_fp) {
        struct harness_strbuf second = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&second, "%s%%%%0", bus->name);
        bus->lib_client = harness_bus_real_open(bus, second.data, harness_bus_real_drop_frame, &err);
        harness_strbuf_destroy(&second);
        if (!bus->lib_client) return err;
        bus->lib_rpc = busrt_rpc_new(bus->lib_client, NULL, NULL);
        if (!bus->lib_rpc) return BUSRT_ERR_OTHER;
    }
    harness_log(HARNESS_LOG_DEBUG, "bus %s: registered as %s%s", bus->addr, bus->name,
                bus->cfg.blocking_fp ? " (library traffic on %%0)" : "");
    return 0;
}

/* eva4 svc/ffi/src/main.rs bus task: library frames with QoS 0; errors are only logged */
static void harness_bus_real_send(void *ud, const struct harness_out_frame *f)
{
    struct harness_bus_real *bus = ud;
    int rc;
    if (f->kind == HARNESS_OUT_PUBLISH) {
        rc = busrt_publish(bus->lib_client, f->topic, f->payload, f->payload_len, BUSRT_QOS_NO);
    } else {
        /* the topics, NUL-separated (bus.c joined them) */
        size_t n = 1;
        for (size_t i = 0; i < f->payload_len; i++) n += f->payload[i] == '\0';
        char *list = harness_xmalloc(f->payload_len + 1);
        if (f->payload_len) memcpy(list, f->payload, f->payload_len);
        list[f->payload_len] = '\0';
        const char **topics = harness_xcalloc(n, sizeof *topics);
        size_t k = 0;
        for (char *p = list; k < n; p += strlen(p) + 1) topics[k++] = p;
        rc = f->kind == HARNESS_OUT_SUBSCRIBE ? busrt_subscribe(bus->lib_client, topics, n, BUSRT_QOS_NO)
                                              : busrt_unsubscribe(bus->lib_client, topics, n, BUSRT_QOS_NO);
        free(topics);
        free(list);
    }
    if (rc < 0) harness_log(HARNESS_LOG_DEBUG, "bus: a library frame was not sent (%d)", rc);
}

/* eva4 svc/ffi/src/main.rs svc_op RpcCall: MESSAGE with QoS 0, bounded by timeout.default */
static int32_t harness_bus_real_rpc_call(void *ud, const char *target, const char *method, const char *params,
                                         size_t params_len, char **out, size_t *out_len)
{
    struct harness_bus_real *bus = ud;
    /* eva-ffi sends the call through its command queue: what the library queued before goes first */
    harness_bus_wait_processed(harness_bus_pushed(), bus->cfg.rpc_timeout);
    busrt_buf result = {NULL, 0};
    pthread_rwlock_rdlock(&bus->use);
    int rc = bus->lib_rpc ? busrt_rpc_call(bus->lib_rpc, target, method, params, params_len, BUSRT_QOS_NO,
                                           bus->cfg.rpc_timeout, &result)
                          : BUSRT_ERR_IO;
    pthread_rwlock_unlock(&bus->use);
    *out = NULL;
    *out_len = 0;
    if (rc == 0 && result.len) {
        *out = harness_xmemdup(result.data, result.len);
        *out_len = result.len;
    }
    busrt_buf_free(&result);
    return rc;
}

/* eva4-sdk svc_mark_ready / svc_mark_terminating: QoS 1, the ack is waited for */
static int harness_bus_real_publish_now(void *ud, const char *topic, const char *payload, size_t len)
{
    struct harness_bus_real *bus = ud;
    /* subscriptions the library made in svc_prepare are in place before SVC/ST ready (eva-ffi
     * leaves the order to chance): a library subscribed to SVC/ST sees its own */
    harness_bus_wait_processed(harness_bus_pushed(), bus->cfg.timeout);
    pthread_rwlock_rdlock(&bus->use);
    int rc = bus->client ? busrt_publish(bus->client, topic, payload, len, BUSRT_QOS_PROCESSED) : BUSRT_ERR_IO;
    pthread_rwlock_unlock(&bus->use);
    if (rc < 0) harness_log(HARNESS_LOG_ERROR, "bus: %s not acknowledged (%d)", topic, rc);
    return rc < 0 ? -1 : 0;
}

static int harness_bus_real_log_slot(int level)
{
    switch (level) {
    case HARNESS_LOG_TRACE: return 0;
    case HARNESS_LOG_DEBUG: return 1;
    case HARNESS_LOG_INFO: return 2;
    case HARNESS_LOG_WARN: return 3;
    default: return 4;
    }
}

/* eva4-common logger.rs: LOG/IN/<level>, the text as it is, QoS 0, filtered by core.log_level */
static void harness_bus_real_log(void *ud, int level, const char *text, size_t len)
{
    static const char *const topics[HARNESS_BUS_REAL_LOG_LEVELS] = {"LOG/IN/trace", "LOG/IN/debug", "LOG/IN/info",
                                                                    "LOG/IN/warn", "LOG/IN/error"};
    struct harness_bus_real *bus = ud;
    if (bus->cfg.echo_logs) harness_output_library_log(level, text, len);
    if (level < bus->cfg.log_level) return;
    while (len && text[len - 1] == '\0') len--;
    int slot = harness_bus_real_log_slot(level);
    double now = harness_clock_now();
    pthread_mutex_lock(&bus->log_mutex);
    int repeat = bus->last_log[slot] && bus->last_log_len[slot] == len &&
                 memcmp(bus->last_log[slot], text, len) == 0 &&
                 now - bus->last_log_at[slot] < HARNESS_BUS_REAL_LOG_REPEAT;
    if (!repeat) {
        free(bus->last_log[slot]);
        bus->last_log[slot] = harness_xmemdup(text, len ? len : 1);
        bus->last_log_len[slot] = len;
        bus->last_log_at[slot] = now;
    }
    pthread_mutex_unlock(&bus->log_mutex);
    if (repeat) return;
    pthread_rwlock_rdlock(&bus->use);
    if (bus->client) busrt_publish(bus->client, topics[slot], text, len, BUSRT_QOS_NO);
    pthread_rwlock_unlock(&bus->use);
}

static void harness_bus_real_disconnect_hook(void *ud)
{
    harness_bus_real_disconnect(ud, 1.0);
}

struct harness_bus_real *harness_bus_real_new(const struct harness_bus_real_config *cfg)
{
    struct harness_bus_real *bus = harness_xcalloc(1, sizeof *bus);
    bus->cfg = *cfg;
    bus->addr = harness_xstrdup(cfg->addr);
    bus->name = harness_xstrdup(cfg->name);
    bus->cfg.addr = bus->addr;
    bus->cfg.name = bus->name;
    pthread_rwlock_init(&bus->use, NULL);
    pthread_mutex_init(&bus->mutex, NULL);
    pthread_mutex_init(&bus->log_mutex, NULL);
    harness_clock_cond_init(&bus->answered);
    return bus;
}

void harness_bus_real_backend(struct harness_bus_real *bus, struct harness_bus_backend *out)
{
    *out = (struct harness_bus_backend){
        .connect = harness_bus_real_connect,
        .send = harness_bus_real_send,
        .rpc_call = harness_bus_real_rpc_call,
        .publish_now = harness_bus_real_publish_now,
        .log = harness_bus_real_log,
        .disconnect = harness_bus_real_disconnect_hook,
        .queues_subscriptions = 1,
        .ud = bus,
    };
}

void harness_bus_real_disconnect(struct harness_bus_real *bus, double timeout)
{
    struct timespec deadline = harness_clock_deadline(timeout);
    pthread_mutex_lock(&bus->mutex);
    bus->closing = 1;
    while (bus->owed > 0) {
        if (pthread_cond_timedwait(&bus->answered, &bus->mutex, &deadline) == ETIMEDOUT) break;
    }
    unsigned long owed = bus->owed;
    int closed = bus->closed;
    bus->closed = bus->closed || owed == 0;
    pthread_mutex_unlock(&bus->mutex);
    if (closed) return;
    if (owed) {
        /* a call is still inside the library: its answer needs the connection, the process exit ends both */
        harness_log(HARNESS_LOG_WARN, "bus: %lu call%s still inside the library; the connection stays open", owed,
                    owed > 1 ? "s" : "");
        return;
    }
    /* waits for a library RPC_CALL in flight (bounded by timeout.default) */
    pthread_rwlock_wrlock(&bus->use);
    if (bus->lib_rpc && bus->lib_rpc != bus->rpc) busrt_rpc_free(bus->lib_rpc);
    if (bus->rpc) busrt_rpc_free(bus->rpc);
    if (bus->lib_client && bus->lib_client != bus->client) busrt_close(bus->lib_client);
    if (bus->client) busrt_close(bus->client);
    bus->rpc = bus->lib_rpc = NULL;
    bus->client = bus->lib_client = NULL;
    pthread_rwlock_unlock(&bus->use);
}

void harness_bus_real_free(struct harness_bus_real *bus)
{
    if (!bus) return;
    if (!bus->closed) return; /* still in use by the library's calls: left to the process exit */
    for (int i = 0; i < HARNESS_BUS_REAL_LOG_LEVELS; i++) free(bus->last_log[i]);
    pthread_cond_destroy(&bus->answered);
    pthread_mutex_destroy(&bus->mutex);
    pthread_mutex_destroy(&bus->log_mutex);
    pthread_rwlock_destroy(&bus->use);
    free(bus->addr);
    free(bus->name);
    free(bus);
}
