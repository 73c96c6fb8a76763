/* Reading a step's YAML, which the codec hands over as msgpack objects:
 * its keys, numbers and strings, and unknown keys refused by name. */
#include "script_steps.h"

#include <string.h>

#include "payload_json.h"
#include "xalloc.h"

int harness_script_key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
}

const msgpack_object *harness_script_field(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        if (harness_script_key_is(&map->via.map.ptr[i].key, key)) return &map->via.map.ptr[i].val;
    }
    return NULL;
}

/* every key of map must be one of allowed (NULL-terminated) */
int harness_script_check_keys(const msgpack_object *map, const char *const *allowed, const char *where,
                              struct harness_strbuf *err)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = harness_script_key_is(k, *a);
        if (!ok) {
            harness_strbuf_appendf(err, "%s: unknown key ", where);
            harness_payload_json_append(err, k);
            harness_strbuf_append_str(err, " (allowed:");
            for (const char *const *a = allowed; *a; a++) harness_strbuf_appendf(err, " %s", *a);
            harness_strbuf_append_char(err, ')');
            return -1;
        }
    }
    return 0;
}

int harness_script_number(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 1;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 1;
    default: return 0;
    }
}

char *harness_script_str(const msgpack_object *o)
{
    return harness_xstrndup(o->via.str.ptr, o->via.str.size);
}
