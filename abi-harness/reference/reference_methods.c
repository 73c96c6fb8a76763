/* The RPC methods (list, get, set; test, info, stop) and svc_on_rpc_call. */
#include "reference_service.h"

enum method { M_UNKNOWN, M_TEST, M_INFO, M_STOP, M_LIST, M_GET, M_SET };

static enum method method_lookup(const char *m, size_t n)
{
#ifdef BREAK_METHOD_BYTES
    /* Broken: treats the method as a C string. */
    n = strlen(m);
#endif
    switch (n) {
    case 3:
        if (memcmp(m, "get", 3) == 0)
            return M_GET;
        if (memcmp(m, "set", 3) == 0)
            return M_SET;
        break;
    case 4:
        if (memcmp(m, "list", 4) == 0)
            return M_LIST;
        if (memcmp(m, "test", 4) == 0)
            return M_TEST;
        if (memcmp(m, "info", 4) == 0)
            return M_INFO;
        if (memcmp(m, "stop", 4) == 0)
            return M_STOP;
        break;
    default:
        break;
    }
    return M_UNKNOWN;
}

/* Parses the params map of get/set. */
struct item_params {
    const char *oid;
    size_t oid_len;
    size_t kind_len;
    bool has_status;
    int16_t status;
    const msgpack_object *value; /* NULL: keep */
};

static int32_t parse_item_params(struct tls_state *t, const struct EvaFFIRpcEvent *ev, bool for_set,
                                 struct item_params *p)
{
    msgpack_object root;
    memset(&root, 0, sizeof root);
    memset(p, 0, sizeof *p);
    if (!unpack_one(t, ev->payload, ev->payload_size, &root))
        return EVA_ERR_CODE_INVALID_PARAMS;
    REQUIRE_TYPE(root, MSGPACK_OBJECT_MAP);
    const msgpack_object *oid = NULL;
    for (uint32_t i = 0; i < root.via.map.size; i++) {
        const msgpack_object *k = &root.via.map.ptr[i].key;
        const msgpack_object *v = &root.via.map.ptr[i].val;
        if (KEY_IS(k, "i")) {
            REQUIRE_TYPE(*v, MSGPACK_OBJECT_STR);
            oid = v;
        } else if (for_set && KEY_IS(k, "status")) {
            int64_t s;
            if (v->type == MSGPACK_OBJECT_NIL) {
                p->has_status = false;
                continue;
            }
            if (!obj_int64(v, &s) || s < INT16_MIN || s > INT16_MAX)
                return EVA_ERR_CODE_INVALID_PARAMS;
            p->has_status = true;
            p->status = (int16_t)s;
        } else if (for_set && KEY_IS(k, "value")) {
            p->value = v;
        }
    }
    if (!oid || !oid_valid(oid->via.str.ptr, oid->via.str.size, &p->kind_len))
        return EVA_ERR_CODE_INVALID_PARAMS;
    p->oid = oid->via.str.ptr;
    p->oid_len = oid->via.str.size;
    return EVA_OK;
}

static int32_t m_list(struct tls_state *t, const struct EvaFFIRpcEvent *ev)
{
    if (ev->payload_size > 0)
        return EVA_ERR_CODE_INVALID_PARAMS;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &t->out, msgpack_sbuffer_write);
    pthread_rwlock_rdlock(&g_items.lock);
    int e = msgpack_pack_array(&pk, g_items.count);
    for (size_t i = 0; i < g_items.count && e == 0; i++) {
        struct item *it = g_items.sorted[i];
        pthread_mutex_lock(&it->mu);
        e = pack_state(&pk, it);
        pthread_mutex_unlock(&it->mu);
    }
    pthread_rwlock_unlock(&g_items.lock);
    return e == 0 ? (int32_t)t->out.size : EVA_ERR_CODE_SYSTEM_ERROR;
}

static int32_t m_get(struct tls_state *t, const struct EvaFFIRpcEvent *ev)
{
    struct item_params p;
    int32_t rc = parse_item_params(t, ev, false, &p);
    if (rc != EVA_OK)
        return rc;
    struct item *it = item_acquire(p.oid, p.oid_len, p.kind_len, false, &rc);
    if (!it)
        return rc;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &t->out, msgpack_sbuffer_write);
    int e = pack_state(&pk, it);
    pthread_mutex_unlock(&it->mu);
    return e == 0 ? (int32_t)t->out.size : EVA_ERR_CODE_SYSTEM_ERROR;
}

static int32_t m_set(struct tls_state *t, const struct EvaFFIRpcEvent *ev)
{
    struct item_params p;
    int32_t rc = parse_item_params(t, ev, true, &p);
    if (rc != EVA_OK)
        return rc;
    rc = item_update(t, p.oid, p.oid_len, p.kind_len, g_auto_create, p.has_status, p.status, p.value);
    if (rc == EVA_OK)
        mark_dirty();
    return rc;
}

static int32_t m_info(struct tls_state *t)
{
    if (!g_info)
        return EVA_ERR_CODE_NOT_READY;
    return msgpack_sbuffer_write(&t->out, g_info, g_info_len) == 0 ? (int32_t)g_info_len : EVA_ERR_CODE_SYSTEM_ERROR;
}

/* test/info/stop take no params; a payload, if any, must at least parse. */
static bool payload_acceptable(struct tls_state *t, const struct EvaFFIRpcEvent *ev)
{
    msgpack_object o;
    return ev->payload_size == 0 || unpack_one(t, ev->payload, ev->payload_size, &o);
}

EXPORT int32_t svc_on_rpc_call(struct EvaFFIRpcEvent *ev)
{
    struct tls_state *t = tls_get();
    if (!t)
        return EVA_ERR_CODE_SYSTEM_ERROR;
    result_begin(t);
    if (!ev)
        return result_end(t, EVA_ERR_CODE_INVALID_REQUEST);
    if (ev->method_size > 0 && !ev->method)
        return result_end(t, EVA_ERR_CODE_METHOD_NOT_FOUND);
    if (ev->payload_size > 0 && !ev->payload)
        return result_end(t, EVA_ERR_CODE_INVALID_PARAMS);
    enum method m = method_lookup(ev->method, ev->method_size);
    int32_t rc;
    if (m != M_UNKNOWN && m != M_TEST && atomic_load(&g_stopped))
        return result_end(t, EVA_ERR_CODE_NOT_READY); /* terminated */
    switch (m) {
    case M_TEST:
        rc = payload_acceptable(t, ev) ? EVA_OK : EVA_ERR_CODE_INVALID_PARAMS;
        break;
    case M_INFO:
        rc = payload_acceptable(t, ev) ? m_info(t) : EVA_ERR_CODE_INVALID_PARAMS;
        break;
    case M_STOP:
        if (!payload_acceptable(t, ev)) {
            rc = EVA_ERR_CODE_INVALID_PARAMS;
            break;
        }
        log_info("stop requested");
        rc = op_call(EVA_FFI_SVC_OP_TERMINATE, NULL);
        if (rc > 0)
            rc = EVA_OK;
        break;
    case M_LIST:
    case M_GET:
    case M_SET:
#ifndef BREAK_READY
        if (!atomic_load(&g_ready)) {
            rc = EVA_ERR_CODE_NOT_READY;
            break;
        }
#endif
        rc = ensure_restored(t);
        if (rc == EVA_OK)
            rc = m == M_LIST ? m_list(t, ev) : m == M_GET ? m_get(t, ev) : m_set(t, ev);
        break;
    default:
#ifdef RELY_PROBE
        if (!atomic_load(&g_ready)) {
            rc = EVA_ERR_CODE_NOT_READY;
            break;
        }
        rc = probe_call(ev->method, ev->method_size, ev->payload, ev->payload_size, &t->out);
        if (rc == EVA_OK && t->out.size > 0)
            rc = (int32_t)t->out.size;
#else
        rc = EVA_ERR_CODE_METHOD_NOT_FOUND;
#endif
        break;
    }
    return result_end(t, rc);
}
