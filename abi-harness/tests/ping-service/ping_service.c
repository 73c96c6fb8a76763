/*
 * A third-party-style FFI service (ABI v1) for the harness's own tests: one
 * method, `ping`, which takes no payload and ignores any it is given, as
 * many real services do. It answers "pong". A node runs it without trouble,
 * so `abi-harness check` must not FAIL it (issue 14 §4).
 *
 * Each key of initial.config turns on one behaviour a test needs:
 *   echo: true          adds `echo {text}`, whose info lists a param but which
 *                       answers nil to any payload, garbage included (WARN)
 *   raw_reply: true     `ping` answers bytes that are not MessagePack (FAIL)
 *   wedge: true         after a payload that is not MessagePack every call
 *                       answers NOT_READY: it stops answering (FAIL)
 *   empty_topic: true   svc_launch subscribes a list with an empty topic, on
 *                       which the real launcher loops for ever (after SVC/ST
 *                       ready: `run` must still print that frame, then exit 6)
 */
#define EVA_FFI_DECLARE_EXPORTS
#include <eva_ffi.h>

#include <msgpack.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static _Atomic(eva_ffi_op_fn) op_fn;
static atomic_bool ready, wedged;
static bool opt_echo, opt_raw_reply, opt_wedge, opt_empty_topic;

/* one result per thread, handed out by eva_svc_get_result */
static _Thread_local msgpack_sbuffer result;

static int32_t set_result(const void *data, size_t len)
{
    if (!result.data) msgpack_sbuffer_init(&result);
    result.size = 0;
    if (msgpack_sbuffer_write(&result, data, len) != 0) return EVA_ERR_CODE_FUNC_FAILED;
    return (int32_t)len;
}

EXPORT int16_t eva_svc_set_op_fn(uint16_t abi_version, eva_ffi_op_fn f)
{
    if (abi_version != EVA_FFI_ABI_VERSION) return EVA_ERR_CODE_UNSUPPORTED;
    atomic_store(&op_fn, f);
    return EVA_OK;
}

EXPORT int16_t eva_svc_get_result(struct EvaFFIBuffer *buf)
{
    if (!buf || !buf->data || !result.data || buf->max < result.size) return EVA_ERR_CODE_INVALID_PARAMS;
    memcpy(buf->data, result.data, result.size);
    buf->len = result.size;
    return EVA_OK;
}

static bool key_is(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
           !memcmp(k->via.str.ptr, name, k->via.str.size);
}

static bool read_config(const char *data, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    bool ok = msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP;
    for (uint32_t i = 0; ok && i < u.data.via.map.size; i++) {
        if (!key_is(&u.data.via.map.ptr[i].key, "config")) continue;
        const msgpack_object *c = &u.data.via.map.ptr[i].val;
        if (c->type != MSGPACK_OBJECT_MAP) break;
        for (uint32_t j = 0; j < c->via.map.size; j++) {
            const msgpack_object *k = &c->via.map.ptr[j].key, *v = &c->via.map.ptr[j].val;
            bool on = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
            if (key_is(k, "echo")) opt_echo = on;
            else if (key_is(k, "raw_reply")) opt_raw_reply = on;
            else if (key_is(k, "wedge")) opt_wedge = on;
            else if (key_is(k, "empty_topic")) opt_empty_topic = on;
            else ok = false;
        }
    }
    msgpack_unpacked_destroy(&u);
    return ok;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

EXPORT int32_t svc_init(struct EvaFFIBuffer *initial)
{
    if (!initial || !read_config(initial->data, initial->len)) return EVA_ERR_CODE_INVALID_PARAMS;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "author");
    pack_str(&pk, "abi-harness tests");
    pack_str(&pk, "version");
    pack_str(&pk, "1.0.0");
    pack_str(&pk, "description");
    pack_str(&pk, "ping service");
    pack_str(&pk, "methods");
    msgpack_pack_map(&pk, opt_echo ? 2 : 1);
    pack_str(&pk, "ping");
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "description");
    pack_str(&pk, "answers pong; takes no payload");
    pack_str(&pk, "params");
    msgpack_pack_map(&pk, 0);
    if (opt_echo) {
        pack_str(&pk, "echo");
        msgpack_pack_map(&pk, 2);
        pack_str(&pk, "description");
        pack_str(&pk, "answers nil");
        pack_str(&pk, "params");
        msgpack_pack_map(&pk, 1);
        pack_str(&pk, "text");
        msgpack_pack_map(&pk, 1);
        pack_str(&pk, "required");
        msgpack_pack_false(&pk);
    }
    int32_t n = set_result(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

EXPORT int16_t svc_prepare(void)
{
    atomic_store(&ready, true);
    return EVA_OK;
}

EXPORT int16_t svc_launch(void)
{
    if (opt_empty_topic) {
        static const char topics[] = "ping/a\0\0ping/b";
        struct EvaFFIBuffer b = {sizeof topics, (char *)topics, sizeof topics};
        atomic_load(&op_fn)(EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC, &b);
    }
    return EVA_OK;
}

EXPORT int16_t svc_terminate(void)
{
    atomic_store(&ready, false);
    return EVA_OK;
}

EXPORT void svc_on_frame(struct EvaFFIFrame *frame)
{
    (void)frame;
}

static bool is_msgpack(const char *data, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    bool ok = msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS;
    msgpack_unpacked_destroy(&u);
    return ok;
}

EXPORT int32_t svc_on_rpc_call(struct EvaFFIRpcEvent *e)
{
    if (!atomic_load(&ready) || atomic_load(&wedged)) return EVA_ERR_CODE_NOT_READY;
    if (opt_wedge && e->payload_size && !is_msgpack(e->payload, e->payload_size)) {
        atomic_store(&wedged, true);
        return EVA_ERR_CODE_INVALID_PARAMS;
    }
    if (e->method_size == 4 && !memcmp(e->method, "ping", 4)) {
        if (opt_raw_reply) return set_result("pong", 4);
        return set_result("\xa4pong", 5);
    }
    if (opt_echo && e->method_size == 4 && !memcmp(e->method, "echo", 4)) return set_result("\xc0", 1);
    return EVA_ERR_CODE_METHOD_NOT_FOUND;
}
