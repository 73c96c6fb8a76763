#include "service_info.h"

#include <msgpack.h>
#include <string.h>

#include "msgpack_map.h"
#include "xalloc.h"

static int harness_info_key(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
           !memcmp(k->via.str.ptr, name, k->via.str.size);
}

/* serde String fields with #[serde(default)]: absent is fine, present must be a string */
static int harness_info_str_fields(const msgpack_object *map, const char *const *names, size_t n, const char *where,
                                   struct harness_strbuf *why)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        for (size_t f = 0; f < n; f++) {
            if (harness_info_key(&kv->key, names[f]) && kv->val.type != MSGPACK_OBJECT_STR) {
                harness_strbuf_appendf(why, "%s%s is not a string", where, names[f]);
                return -1;
            }
        }
    }
    return 0;
}

static int harness_info_method(const msgpack_object *name, const msgpack_object *m, struct harness_strbuf *why)
{
    char where[96];
    snprintf(where, sizeof where, "method %.*s: ", (int)(name->via.str.size > 60 ? 60 : name->via.str.size),
             name->via.str.ptr);
    if (m->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(why, "%snot a map", where);
        return -1;
    }
    static const char *const desc[] = {"description"};
    if (harness_info_str_fields(m, desc, 1, where, why) < 0) return -1;
    const msgpack_object *params = NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        if (harness_info_key(&m->via.map.ptr[i].key, "params")) params = &m->via.map.ptr[i].val;
    }
    /* eva4-common MethodInfo: params has no serde default */
    if (!params) {
        harness_strbuf_appendf(why, "%sno params (every method needs params, may be empty)", where);
        return -1;
    }
    if (params->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(why, "%sparams is not a map", where);
        return -1;
    }
    for (uint32_t i = 0; i < params->via.map.size; i++) {
        const msgpack_object_kv *p = &params->via.map.ptr[i];
        if (p->key.type != MSGPACK_OBJECT_STR || p->val.type != MSGPACK_OBJECT_MAP) {
            harness_strbuf_appendf(why, "%sa param is not name: {required: bool}", where);
            return -1;
        }
        for (uint32_t k = 0; k < p->val.via.map.size; k++) {
            const msgpack_object_kv *r = &p->val.via.map.ptr[k];
            if (harness_info_key(&r->key, "required") && r->val.type != MSGPACK_OBJECT_BOOLEAN) {
                harness_strbuf_appendf(why, "%sparam %.*s: required is not a bool", where, (int)p->key.via.str.size,
                                       p->key.via.str.ptr);
                return -1;
            }
        }
    }
    return 0;
}

/* eva4 svc/ffi/src/main.rs eva_svc_main: unpack::<ServiceInfo>(&buf)? aborts the launch */
int harness_service_info_decode(const char *info, size_t len, struct harness_strbuf *why)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack(info, len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS) {
        harness_strbuf_append_str(why, "not MessagePack");
        goto out;
    }
    if (obj.type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_append_str(why, "not a map");
        goto out;
    }
    static const char *const top[] = {"author", "version", "description"};
    if (harness_info_str_fields(&obj, top, 3, "", why) < 0) goto out;
    for (uint32_t i = 0; i < obj.via.map.size; i++) {
        const msgpack_object_kv *kv = &obj.via.map.ptr[i];
        if (!harness_info_key(&kv->key, "methods")) continue;
        if (kv->val.type != MSGPACK_OBJECT_MAP) {
            harness_strbuf_append_str(why, "methods is not a map");
            goto out;
        }
        for (uint32_t m = 0; m < kv->val.via.map.size; m++) {
            const msgpack_object_kv *mk = &kv->val.via.map.ptr[m];
            if (mk->key.type != MSGPACK_OBJECT_STR) {
                harness_strbuf_append_str(why, "a method name is not a string");
                goto out;
            }
            if (harness_info_method(&mk->key, &mk->val, why) < 0) goto out;
        }
    }
    rc = 0;
out:
    msgpack_zone_destroy(&zone);
    return rc;
}

/* eva4 svc/ffi/src/main.rs: ServiceInfo::new("", "", "FFI launcher dummy") (methods empty: not serialized) */
char *harness_service_info_dummy(size_t *len)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "author", 6);
    msgpack_pack_str_with_body(&pk, "", 0);
    msgpack_pack_str_with_body(&pk, "version", 7);
    msgpack_pack_str_with_body(&pk, "", 0);
    msgpack_pack_str_with_body(&pk, "description", 11);
    msgpack_pack_str_with_body(&pk, "FFI launcher dummy", 18);
    char *out = harness_xmemdup(sbuf.data, sbuf.size);
    *len = sbuf.size;
    msgpack_sbuffer_destroy(&sbuf);
    return out;
}

char *harness_service_info_description(const char *info, size_t len)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    size_t off = 0;
    char *out = NULL;
    if (info && msgpack_unpack(info, len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *d = harness_msgpack_map_get(&obj, "description");
        if (d && d->type == MSGPACK_OBJECT_STR) out = harness_xstrndup(d->via.str.ptr, d->via.str.size);
    }
    msgpack_zone_destroy(&zone);
    return out ? out : harness_xstrdup("");
}
