/* The methods a service info lists, read from the MessagePack info that
 * svc_init announced: leniently for the checks that only need the names,
 * strictly (every field the launcher needs, abi-and-launcher.md "Service
 * info returned by svc_init") for init-info. */
#include "info_methods.h"

#include <msgpack.h>
#include <stdint.h>
#include <string.h>

#include "msgpack_map.h"
#include "xalloc.h"

static int harness_info_methods_read(const char *info, size_t len, struct harness_strbuf *why,
                                     struct harness_check_methods *m)
{
    memset(m, 0, sizeof *m);
    if (!info || !len) {
        if (why) harness_strbuf_append_str(why, "no service info");
        return -1;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object obj;
    size_t off = 0;
    int rc = 0;
#define HARNESS_INFO_BAD(...)                                                                                        \
    do {                                                                                                              \
        if (why && why->len < 600) {                                                                                  \
            if (why->len) harness_strbuf_append_str(why, "; ");                                                       \
            harness_strbuf_appendf(why, __VA_ARGS__);                                                                 \
        }                                                                                                             \
        rc = -1;                                                                                                      \
    } while (0)
    msgpack_unpack_return ur = msgpack_unpack(info, len, &off, &zone, &obj);
    if (ur != MSGPACK_UNPACK_SUCCESS) {
        HARNESS_INFO_BAD("the info is not exactly one MessagePack value (%s)",
                          ur == MSGPACK_UNPACK_EXTRA_BYTES ? "extra bytes after it" : "cannot decode");
        msgpack_zone_destroy(&zone);
        return -1;
    }
    if (obj.type != MSGPACK_OBJECT_MAP) {
        HARNESS_INFO_BAD("the info is not a map");
        msgpack_zone_destroy(&zone);
        return -1;
    }
    static const char *const strs[] = {"author", "version", "description"};
    for (size_t i = 0; i < 3; i++) {
        const msgpack_object *v = harness_msgpack_map_get(&obj, strs[i]);
        if (!v || v->type != MSGPACK_OBJECT_STR) HARNESS_INFO_BAD("%s is %s", strs[i], v ? "not a string" : "missing");
    }
    const msgpack_object *methods = harness_msgpack_map_get(&obj, "methods");
    if (!methods || methods->type != MSGPACK_OBJECT_MAP) {
        HARNESS_INFO_BAD("methods is %s", methods ? "not a map" : "missing");
    } else {
        uint32_t n = methods->via.map.size;
        m->names = harness_xcalloc(n + 1, sizeof *m->names);
        m->param_counts = harness_xcalloc(n + 1, sizeof *m->param_counts);
        m->params = harness_xcalloc(n + 1, sizeof *m->params);
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object *k = &methods->via.map.ptr[i].key, *v = &methods->via.map.ptr[i].val;
            if (k->type != MSGPACK_OBJECT_STR) {
                HARNESS_INFO_BAD("a method name is not a string");
                continue;
            }
            char *name = harness_xstrndup(k->via.str.ptr, k->via.str.size);
            size_t mi = m->count++;
            m->names[mi] = name;
            const msgpack_object *d = harness_msgpack_map_get(v, "description");
            const msgpack_object *p = harness_msgpack_map_get(v, "params");
            if (v->type != MSGPACK_OBJECT_MAP) {
                HARNESS_INFO_BAD("methods.%s is not a map", name);
                continue;
            }
            if (!d || d->type != MSGPACK_OBJECT_STR) HARNESS_INFO_BAD("methods.%s.description is %s", name, d ? "not a string" : "missing");
            if (!p || p->type != MSGPACK_OBJECT_MAP) {
                HARNESS_INFO_BAD("methods.%s.params is %s", name, p ? "not a map" : "missing");
                continue;
            }
            m->params[mi] = harness_xcalloc(p->via.map.size + 1, sizeof(char *));
            for (uint32_t j = 0; j < p->via.map.size; j++) {
                const msgpack_object *pk = &p->via.map.ptr[j].key, *pv = &p->via.map.ptr[j].val;
                if (pk->type != MSGPACK_OBJECT_STR) {
                    HARNESS_INFO_BAD("a param name of methods.%s is not a string", name);
                    continue;
                }
                char *pname = harness_xstrndup(pk->via.str.ptr, pk->via.str.size);
                m->params[mi][m->param_counts[mi]++] = pname;
                const msgpack_object *req = harness_msgpack_map_get(pv, "required");
                if (!req || req->type != MSGPACK_OBJECT_BOOLEAN)
                    HARNESS_INFO_BAD("methods.%s.params.%s.required is %s", name, pname, req ? "not a bool" : "missing");
            }
        }
    }
#undef HARNESS_INFO_BAD
    msgpack_zone_destroy(&zone);
    return rc;
}

void harness_check_methods_parse(struct harness_check_methods *m, const char *info, size_t len)
{
    harness_info_methods_read(info, len, NULL, m);
}

int harness_check_info_validate(const char *info, size_t len, struct harness_strbuf *why,
                                struct harness_check_methods *m)
{
    return harness_info_methods_read(info, len, why, m);
}
