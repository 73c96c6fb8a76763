#include "mock_core.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msgpack_map.h"
#include "clock.h"
#include "output.h"
#include "eva_ffi.h"
#include "xalloc.h"

int harness_mock_core_init(struct harness_mock_core *core, const struct harness_mock_core_config *cfg,
                           const char *registry_path, int persist, struct harness_strbuf *err)
{
    memset(core, 0, sizeof *core);
    core->cfg = *cfg;
    core->started = harness_clock_now();
    atomic_init(&core->calls, 0);
    atomic_init(&core->active, cfg->core_active ? 1 : 0);
    atomic_init(&core->dropped, 0);
    harness_item_store_init(&core->items);
    if (harness_registry_open(&core->registry, registry_path, persist, err) < 0) {
        harness_item_store_destroy(&core->items);
        harness_registry_close(&core->registry);
        return -1;
    }
    return 0;
}

void harness_mock_core_destroy(struct harness_mock_core *core)
{
    harness_item_store_destroy(&core->items);
    harness_registry_close(&core->registry);
}

void harness_mock_core_activate(struct harness_mock_core *core)
{
    atomic_store(&core->active, 1);
}

int harness_mock_core_is_active(struct harness_mock_core *core)
{
    return atomic_load(&core->active);
}

/* dropped-event lines shown before they are only counted */
#define HARNESS_CORE_DROPS_SHOWN 20

/* eva4 eva/src/eapi.rs: raw state and action events are ignored until the core is active */
int harness_mock_core_on_frame(struct harness_mock_core *core, const char *topic, const char *payload, size_t len)
{
    int raw = !strcmp(topic, "RAW") || !strncmp(topic, "RAW/", 4);
    int act = !strncmp(topic, "ACT/", 4);
    if ((raw || act) && !atomic_load(&core->active)) {
        unsigned long n = atomic_fetch_add(&core->dropped, 1) + 1;
        if (n <= HARNESS_CORE_DROPS_SHOWN)
            harness_log(HARNESS_LOG_WARN, "core inactive: dropped %s (a node's core ignores RAW/ACT events until it is "
                                          "active; publish again after)%s",
                        topic, n == HARNESS_CORE_DROPS_SHOWN ? " (further drops are only counted)" : "");
        return 1;
    }
    char why[160];
    if (harness_item_store_apply_frame(&core->items, topic, payload, len, why, sizeof why) < 0)
        harness_log(HARNESS_LOG_WARN, "the core would reject the raw event on %s: %s", topic, why);
    return 0;
}

static void harness_mock_core_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static int32_t harness_mock_core_finish(msgpack_sbuffer *sbuf, char **out, size_t *out_len)
{
    *out = harness_xmemdup(sbuf->data, sbuf->size);
    *out_len = sbuf->size;
    return 0;
}

static int32_t harness_mock_core_test(struct harness_mock_core *core, char **out, size_t *out_len)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    msgpack_pack_map(&pk, 11);
    harness_mock_core_pack_str(&pk, "active");
    if (atomic_load(&core->active)) msgpack_pack_true(&pk);
    else msgpack_pack_false(&pk);
    harness_mock_core_pack_str(&pk, "build");
    msgpack_pack_uint64(&pk, core->cfg.core_build);
    harness_mock_core_pack_str(&pk, "eapi_version");
    msgpack_pack_uint32(&pk, core->cfg.eapi_version);
    harness_mock_core_pack_str(&pk, "instant_save");
    msgpack_pack_false(&pk);
    harness_mock_core_pack_str(&pk, "pid");
    msgpack_pack_uint32(&pk, (uint32_t)getpid());
    harness_mock_core_pack_str(&pk, "product_code");
    harness_mock_core_pack_str(&pk, "eva4node");
    harness_mock_core_pack_str(&pk, "system_name");
    harness_mock_core_pack_str(&pk, core->cfg.system_name);
    harness_mock_core_pack_str(&pk, "time");
    msgpack_pack_double(&pk, (double)now.tv_sec + (double)now.tv_nsec / 1e9);
    harness_mock_core_pack_str(&pk, "uptime");
    msgpack_pack_double(&pk, harness_clock_now() - core->started);
    harness_mock_core_pack_str(&pk, "version");
    harness_mock_core_pack_str(&pk, core->cfg.core_version);
    harness_mock_core_pack_str(&pk, "workers");
    msgpack_pack_uint32(&pk, core->cfg.workers);
    int32_t rc = harness_mock_core_finish(&sbuf, out, out_len);
    msgpack_sbuffer_destroy(&sbuf);
    return rc;
}

static int32_t harness_mock_core_item_state(struct harness_mock_core *core, const msgpack_object *params,
                                            char **out, size_t *out_len)
{
    /* no payload, or {i: mask | [masks]}; other fields (full, ...) ignored */
    const msgpack_object *i = NULL;
    if (params) {
        if (params->type != MSGPACK_OBJECT_MAP) return EVA_ERR_CODE_INVALID_PARAMS;
        i = harness_msgpack_map_get(params, "i");
    }
    char **masks = NULL;
    size_t n = 0;
    if (i && i->type == MSGPACK_OBJECT_STR) {
        masks = harness_xmalloc(sizeof *masks);
        masks[n++] = harness_xstrndup(i->via.str.ptr, i->via.str.size);
    } else if (i && i->type == MSGPACK_OBJECT_ARRAY) {
        masks = harness_xmalloc((i->via.array.size + 1) * sizeof *masks);
        for (uint32_t k = 0; k < i->via.array.size; k++) {
            const msgpack_object *m = &i->via.array.ptr[k];
            if (m->type != MSGPACK_OBJECT_STR) {
                for (size_t j = 0; j < n; j++) free(masks[j]);
                free(masks);
                return EVA_ERR_CODE_INVALID_PARAMS;
            }
            masks[n++] = harness_xstrndup(m->via.str.ptr, m->via.str.size);
        }
    } else if (i && i->type != MSGPACK_OBJECT_NIL) {
        return EVA_ERR_CODE_INVALID_PARAMS;
    }
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    /* an explicit empty list asks for nothing; no "i" asks for everything */
    if (i && i->type == MSGPACK_OBJECT_ARRAY && n == 0) msgpack_pack_array(&pk, 0);
    else harness_item_store_pack_query(&core->items, (const char *const *)masks, n, &pk);
    int32_t rc = harness_mock_core_finish(&sbuf, out, out_len);
    msgpack_sbuffer_destroy(&sbuf);
    for (size_t j = 0; j < n; j++) free(masks[j]);
    free(masks);
    return rc;
}

static int32_t harness_mock_core_registry(struct harness_mock_core *core, const char *method,
                                          const msgpack_object *params, char **out, size_t *out_len)
{
    int get = !strcmp(method, "key_get"), set = !strcmp(method, "key_set"), del = !strcmp(method, "key_delete");
    if (!get && !set && !del) return EVA_ERR_CODE_METHOD_NOT_FOUND;
    const msgpack_object *key = params ? harness_msgpack_map_get(params, "key") : NULL;
    if (!key || key->type != MSGPACK_OBJECT_STR || key->via.str.size == 0) return EVA_ERR_CODE_INVALID_PARAMS;
    char *k = harness_xstrndup(key->via.str.ptr, key->via.str.size);
    int32_t rc;
    if (get) {
        rc = harness_registry_get(&core->registry, k, out, out_len);
    } else if (set) {
        const msgpack_object *value = harness_msgpack_map_get(params, "value");
        if (!value) {
            rc = EVA_ERR_CODE_INVALID_PARAMS;
        } else {
            msgpack_sbuffer sbuf;
            msgpack_sbuffer_init(&sbuf);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
            msgpack_pack_object(&pk, *value);
            rc = harness_registry_set(&core->registry, k, sbuf.data, sbuf.size);
            msgpack_sbuffer_destroy(&sbuf);
        }
    } else {
        rc = harness_registry_delete(&core->registry, k);
    }
    free(k);
    /* eva4 eva.registry: key_set and key_delete answer a nil payload */
    if (rc == 0 && (set || del) && !*out) {
        *out = harness_xmemdup("\xc0", 1);
        *out_len = 1;
    }
    return rc;
}

int32_t harness_mock_core_call(struct harness_mock_core *core, const char *target, const char *method,
                               const char *params, size_t params_len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    atomic_fetch_add(&core->calls, 1);
    int is_core = !strcmp(target, HARNESS_CORE_TARGET);
    int is_registry = !strcmp(target, HARNESS_REGISTRY_TARGET);
    if (!is_core && !is_registry) return EVA_ERR_CODE_BUS_CLIENT_NOT_REGISTERED;
    if (is_registry && harness_fault_hit(core->cfg.faults, HARNESS_FAULT_REGISTRY_DOWN))
        return EVA_ERR_CODE_BUS_CLIENT_NOT_REGISTERED;

    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    const msgpack_object *p = NULL;
    if (params_len > 0) {
        size_t off = 0;
        if (msgpack_unpack(params, params_len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS) {
            msgpack_zone_destroy(&zone);
            return EVA_ERR_CODE_INVALID_PARAMS;
        }
        p = &obj;
    }
    int32_t rc;
    if (is_registry) {
        rc = harness_mock_core_registry(core, method, p, out, out_len);
    } else if (!strcmp(method, "test")) {
        rc = harness_mock_core_test(core, out, out_len);
    } else if (!strcmp(method, "item.state")) {
        rc = harness_mock_core_item_state(core, p, out, out_len);
    } else {
        rc = EVA_ERR_CODE_METHOD_NOT_FOUND;
    }
    msgpack_zone_destroy(&zone);
    return rc;
}
