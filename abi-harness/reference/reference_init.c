/* svc_init: the initial payload, the config, the configured items, the info. */
#include "reference_service.h"

static int32_t init_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int32_t init_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("reference: svc_init: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EVA_ERR_CODE_INVALID_PARAMS;
}

static int32_t parse_config(const msgpack_object *cfg, const msgpack_object **items)
{
    if (cfg->type == MSGPACK_OBJECT_NIL)
        return EVA_OK;
    if (cfg->type != MSGPACK_OBJECT_MAP)
        return init_fail("config must be a map, got %s", obj_type_name(cfg->type));
    for (uint32_t i = 0; i < cfg->via.map.size; i++) {
        const msgpack_object *k = &cfg->via.map.ptr[i].key;
        const msgpack_object *v = &cfg->via.map.ptr[i].val;
        if (KEY_IS(k, "items")) {
            if (v->type == MSGPACK_OBJECT_NIL)
                continue;
            if (v->type != MSGPACK_OBJECT_ARRAY)
                return init_fail("config.items must be a list of OIDs, got %s", obj_type_name(v->type));
            *items = v;
        } else if (KEY_IS(k, "auto_create")) {
            if (v->type == MSGPACK_OBJECT_NIL)
                continue;
            if (v->type != MSGPACK_OBJECT_BOOLEAN)
                return init_fail("config.auto_create must be a bool, got %s", obj_type_name(v->type));
            g_auto_create = v->via.boolean;
        } else if (k->type == MSGPACK_OBJECT_STR) {
#ifdef RELY_PROBE
            continue; /* the probe takes any key (it dumps them on stderr) */
#endif
            return init_fail("config: unknown key \"%.*s\"", (int)(k->via.str.size > 200 ? 200 : k->via.str.size),
                             k->via.str.ptr);
        } else {
            return init_fail("config: unknown key of type %s", obj_type_name(k->type));
        }
    }
    return EVA_OK;
}

static int32_t parse_initial(const msgpack_object *root, const msgpack_object **items)
{
    if (root->type != MSGPACK_OBJECT_MAP)
        return init_fail("the initial payload is not a map");
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        const msgpack_object *v = &root->via.map.ptr[i].val;
        if (KEY_IS(k, "config")) {
            int32_t rc = parse_config(v, items);
            if (rc != EVA_OK)
                return rc;
        } else if (KEY_IS(k, "core")) {
            if (v->type != MSGPACK_OBJECT_MAP)
                return init_fail("core must be a map");
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                const msgpack_object *ck = &v->via.map.ptr[j].key;
                const msgpack_object *cv = &v->via.map.ptr[j].val;
                if (!KEY_IS(ck, "log_level"))
                    continue;
                int64_t level;
                if (!obj_int64(cv, &level) || level < 0)
                    return init_fail("core.log_level must be an unsigned integer");
                atomic_store(&g_log_level, level > EVA_LOG_LEVEL_OFF ? EVA_LOG_LEVEL_OFF : (int)level);
            }
        } else if (KEY_IS(k, "timeout")) {
            if (v->type != MSGPACK_OBJECT_MAP)
                continue;
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                double s;
                if (KEY_IS(&v->via.map.ptr[j].key, "shutdown") && obj_number(&v->via.map.ptr[j].val, &s) &&
                    s > 0)
                    g_shutdown_timeout = s;
            }
        } else if (KEY_IS(k, "id")) {
            if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0)
                return init_fail("id must be a non-empty string");
            static const char prefix[] = "eva/svc_data/", suffix[] = "/items";
            size_t n = sizeof prefix - 1 + v->via.str.size + sizeof suffix;
            free(g_registry_key);
            g_registry_key = malloc(n);
            if (!g_registry_key)
                return init_fail("out of memory");
            snprintf(g_registry_key, n, "%s%.*s%s", prefix, (int)v->via.str.size, v->via.str.ptr, suffix);
        } else if (KEY_IS(k, "workers")) {
            int64_t w;
            if (obj_int64(v, &w))
                g_workers = w;
        } else if (KEY_IS(k, "fail_mode")) {
            g_fail_mode = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
        } else if (KEY_IS(k, "react_to_fail")) {
            g_react_to_fail = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
        }
        /* anything else: ignored (newer nodes add keys) */
    }
    return EVA_OK;
}

static int32_t create_items(const msgpack_object *items)
{
    if (!items)
        return EVA_OK;
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        const msgpack_object *o = &items->via.array.ptr[i];
        size_t kind_len;
        if (o->type != MSGPACK_OBJECT_STR)
            return init_fail("config.items[%" PRIu32 "] must be an OID string, got %s", i, obj_type_name(o->type));
        if (!oid_valid(o->via.str.ptr, o->via.str.size, &kind_len))
            return init_fail("config.items[%" PRIu32 "]: invalid OID \"%.*s\"", i,
                             (int)(o->via.str.size > 200 ? 200 : o->via.str.size), o->via.str.ptr);
        int32_t err = EVA_OK;
        struct item *it = item_acquire(o->via.str.ptr, o->via.str.size, kind_len, true, &err);
        if (!it) {
            fprintf(stderr, "reference: svc_init: out of memory\n");
            return err;
        }
        pthread_mutex_unlock(&it->mu);
    }
    return EVA_OK;
}

EXPORT int32_t svc_init(struct EvaFFIBuffer *initial)
{
    struct tls_state *t = tls_get();
    if (!t) {
        fprintf(stderr, "reference: svc_init: out of memory\n");
        return EVA_ERR_CODE_SYSTEM_ERROR;
    }
    result_begin(t);

    /* a fresh lifecycle (a harness may run several in one process) */
    atomic_store(&g_ready, false);
    atomic_store(&g_bus_up, false);
    atomic_store(&g_stopped, false);
    atomic_store(&g_log_level, EVA_LOG_LEVEL_INFO);
    g_auto_create = g_fail_mode = g_react_to_fail = false;
    g_shutdown_timeout = 5.0;
    g_workers = 1;
    atomic_store(&g_restored, false);
    g_restore_rc = EVA_OK;
    atomic_store(&g_save_dirty, false);
    atomic_store(&g_saver_detached, false);
    state_release();

#ifdef RELY_PROBE
    probe_init(initial);
#endif
    if (!initial || (initial->len > 0 && !initial->data))
        return result_end(t, init_fail("no initial payload"));
    msgpack_object root;
    if (!unpack_one(t, initial->data, initial->len, &root))
        return result_end(t, init_fail("the initial payload is not valid MessagePack"));
    const msgpack_object *items = NULL;
    int32_t rc = parse_initial(&root, &items);
    if (rc == EVA_OK)
        rc = create_items(items);
    if (rc != EVA_OK) {
        table_clear();
        return result_end(t, rc);
    }

    msgpack_packer pk;
    msgpack_packer_init(&pk, &t->out, msgpack_sbuffer_write);
    if (pack_info(&pk) != 0 || !(g_info = malloc(t->out.size))) {
        fprintf(stderr, "reference: svc_init: out of memory\n");
        table_clear();
        return result_end(t, EVA_ERR_CODE_SYSTEM_ERROR);
    }
    memcpy(g_info, t->out.data, t->out.size);
    g_info_len = t->out.size;
#ifdef RELY_INFO_ZERO
    /* Relies on the launcher: a 0 return gives the launcher's dummy info. */
    msgpack_sbuffer_clear(&t->out);
    return result_end(t, EVA_OK);
#else
    return result_end(t, (int32_t)t->out.size);
#endif
}
