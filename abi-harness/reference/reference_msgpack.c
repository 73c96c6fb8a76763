/* MessagePack helpers: one object from a buffer, keys, numbers, strings. */
#include "reference_service.h"

/* Parses exactly one object from data[0..len) into the thread's zone.
 * Trailing bytes make the payload invalid. */
bool unpack_one(struct tls_state *t, const char *data, size_t len, msgpack_object *out)
{
    if (len == 0 || data == NULL)
        return false;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack(data, len, &off, &t->zone, out);
    return r == MSGPACK_UNPACK_SUCCESS;
}

bool key_is(const msgpack_object *k, const char *s, size_t n)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

bool obj_int64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return false;
        *v = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    return false;
}

bool obj_number(const msgpack_object *o, double *v)
{
    int64_t i;
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64) {
        *v = o->via.f64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *v = (double)o->via.u64;
        return true;
    }
    if (obj_int64(o, &i)) {
        *v = (double)i;
        return true;
    }
    return false;
}

int pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str(pk, n) | msgpack_pack_str_body(pk, s, n);
}

int pack_cstr(msgpack_packer *pk, const char *s)
{
    return pack_strn(pk, s, strlen(s));
}

const char *obj_type_name(msgpack_object_type t)
{
    switch (t) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "str";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown";
}
