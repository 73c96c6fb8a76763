#include "svc_template.h"

#include <stdlib.h>
#include <string.h>

#include "payload_yaml.h"
#include "xalloc.h"

const msgpack_object *harness_svc_template_field(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, key, n) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

int harness_svc_template_number(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 1;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 1;
    default: return 0;
    }
}

/* a present-but-null field counts as absent, as in the node's templates */
static const msgpack_object *harness_svc_template_get(const msgpack_object *root, const char *key)
{
    const msgpack_object *o = harness_svc_template_field(root, key);
    return o && o->type == MSGPACK_OBJECT_NIL ? NULL : o;
}

static int harness_svc_template_check(struct harness_svc_template *t, const char *path, struct harness_strbuf *err)
{
#define HARNESS_TEMPLATE_TYPE(field, cond, what)                                                                      \
    if (t->field && !(cond)) {                                                                                        \
        harness_strbuf_appendf(err, "%s: %s must be %s", path, #field, what);                                         \
        return -1;                                                                                                    \
    }
    HARNESS_TEMPLATE_TYPE(command, t->command->type == MSGPACK_OBJECT_STR, "a string");
    HARNESS_TEMPLATE_TYPE(prepare_command, t->prepare_command->type == MSGPACK_OBJECT_STR, "a string");
    HARNESS_TEMPLATE_TYPE(bus, t->bus->type == MSGPACK_OBJECT_MAP, "a map");
    HARNESS_TEMPLATE_TYPE(user, t->user->type == MSGPACK_OBJECT_STR, "a string");
    HARNESS_TEMPLATE_TYPE(workers,
                          t->workers->type == MSGPACK_OBJECT_POSITIVE_INTEGER && t->workers->via.u64 <= 0xffffffffULL,
                          "a non-negative integer (u32)");
    HARNESS_TEMPLATE_TYPE(timeout, t->timeout->type == MSGPACK_OBJECT_MAP, "a map");
    HARNESS_TEMPLATE_TYPE(react_to_fail, t->react_to_fail->type == MSGPACK_OBJECT_BOOLEAN, "a bool");
    HARNESS_TEMPLATE_TYPE(call_tracing, t->call_tracing->type == MSGPACK_OBJECT_BOOLEAN, "a bool");
#undef HARNESS_TEMPLATE_TYPE
    static const char *const timeouts[] = {"startup", "shutdown", "default"};
    for (size_t i = 0; t->timeout && i < 3; i++) {
        const msgpack_object *v = harness_svc_template_get(t->timeout, timeouts[i]);
        double d;
        if (v && (!harness_svc_template_number(v, &d) || !(d > 0))) {
            harness_strbuf_appendf(err, "%s: timeout.%s must be a positive number of seconds", path, timeouts[i]);
            return -1;
        }
    }
    return 0;
}

int harness_svc_template_load(struct harness_svc_template *tmpl, const char *path, struct harness_strbuf *err)
{
    memset(tmpl, 0, sizeof *tmpl);
    msgpack_zone_init(&tmpl->zone, 4096);
    tmpl->root.type = MSGPACK_OBJECT_NIL;
    if (!path) return 0;
    if (harness_payload_yaml_parse_file(path, &tmpl->zone, &tmpl->root, err) < 0) return -1;
    if (tmpl->root.type == MSGPACK_OBJECT_NIL) return 0;
    if (tmpl->root.type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: a service template is a YAML map", path);
        return -1;
    }
    tmpl->command = harness_svc_template_get(&tmpl->root, "command");
    tmpl->prepare_command = harness_svc_template_get(&tmpl->root, "prepare_command");
    tmpl->bus = harness_svc_template_get(&tmpl->root, "bus");
    tmpl->config = harness_svc_template_get(&tmpl->root, "config");
    tmpl->user = harness_svc_template_get(&tmpl->root, "user");
    tmpl->workers = harness_svc_template_get(&tmpl->root, "workers");
    tmpl->timeout = harness_svc_template_get(&tmpl->root, "timeout");
    tmpl->react_to_fail = harness_svc_template_get(&tmpl->root, "react_to_fail");
    tmpl->call_tracing = harness_svc_template_get(&tmpl->root, "call_tracing");
    return harness_svc_template_check(tmpl, path, err);
}

void harness_svc_template_destroy(struct harness_svc_template *tmpl)
{
    msgpack_zone_destroy(&tmpl->zone);
}

char *harness_svc_template_library(const struct harness_svc_template *tmpl)
{
    if (!tmpl->command) return NULL;
    /* "svc/eva-ffi /path/lib.so [args]": the second word */
    const char *s = tmpl->command->via.str.ptr, *end = s + tmpl->command->via.str.size;
    while (s < end && *s != ' ') s++;
    while (s < end && *s == ' ') s++;
    const char *w = s;
    while (s < end && *s != ' ') s++;
    return s > w ? harness_xstrndup(w, (size_t)(s - w)) : NULL;
}
