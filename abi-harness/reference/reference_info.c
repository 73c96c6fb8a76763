/* The service info svc_init returns: author, version, methods and params. */
#include "reference_service.h"

struct param_desc {
    const char *name;
    bool required;
};

struct method_desc {
    const char *name;
    const char *description;
    const struct param_desc *params;
    size_t nparams;
};

static const struct param_desc params_get[] = {{"i", true}};
static const struct param_desc params_set[] = {{"i", true}, {"status", false}, {"value", false}};

static const struct method_desc methods[] = {
    {"list", "list items with their state, ordered by OID", NULL, 0},
    {"get", "get the state of an item", params_get, 1},
    {"set", "set the status and/or value of an item", params_set, 3},
#ifdef BREAK_INFO_PARAMS
    {"noparams", NULL, NULL, 0}, /* Broken: packed without "params" */
#endif
};

int pack_info(msgpack_packer *pk)
{
#ifdef BREAK_INFO
    /* Broken: no methods. */
    (void)methods;
    return msgpack_pack_map(pk, 3) | pack_cstr(pk, "author") | pack_cstr(pk, SVC_AUTHOR) |
           pack_cstr(pk, "version") | pack_cstr(pk, SVC_VERSION) | pack_cstr(pk, "description") |
           pack_cstr(pk, SVC_DESCRIPTION);
#else
    size_t nm = sizeof methods / sizeof methods[0];
#ifdef RELY_PROBE
    size_t extra = probe_method_count();
#else
    size_t extra = 0;
#endif
    int e = msgpack_pack_map(pk, 4) | pack_cstr(pk, "author") | pack_cstr(pk, SVC_AUTHOR) |
            pack_cstr(pk, "version") | pack_cstr(pk, SVC_VERSION) | pack_cstr(pk, "description") |
            pack_cstr(pk, SVC_DESCRIPTION) | pack_cstr(pk, "methods") | msgpack_pack_map(pk, nm + extra);
#ifdef RELY_PROBE
    e |= probe_pack_methods(pk);
#endif
    for (size_t i = 0; i < nm; i++) {
        const struct method_desc *m = &methods[i];
#ifdef BREAK_INFO_PARAMS
        if (!m->description) {
            e |= pack_cstr(pk, m->name) | msgpack_pack_map(pk, 1) | pack_cstr(pk, "description") |
                 pack_cstr(pk, "a method without params");
            continue;
        }
#endif
        e |= pack_cstr(pk, m->name) | msgpack_pack_map(pk, 2) | pack_cstr(pk, "description") |
             pack_cstr(pk, m->description) | pack_cstr(pk, "params") | msgpack_pack_map(pk, m->nparams);
        for (size_t j = 0; j < m->nparams; j++) {
            e |= pack_cstr(pk, m->params[j].name) | msgpack_pack_map(pk, 1) | pack_cstr(pk, "required");
            e |= m->params[j].required ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        }
    }
    return e;
#endif
}
