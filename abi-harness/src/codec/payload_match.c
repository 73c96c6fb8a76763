#include "payload_match.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payload_json.h"
#include "xalloc.h"

static int harness_match_is_number(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
           o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64;
}

static int harness_match_numbers(const msgpack_object *e, const msgpack_object *a)
{
    int e_int = e->type == MSGPACK_OBJECT_POSITIVE_INTEGER || e->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
    int a_int = a->type == MSGPACK_OBJECT_POSITIVE_INTEGER || a->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
    if (e_int && a_int) {
        /* both integers: compare exactly, sign first */
        if (e->type != a->type) return 0;
        return e->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? e->via.u64 == a->via.u64 : e->via.i64 == a->via.i64;
    }
    double ev = e->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (double)e->via.u64
                : e->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (double)e->via.i64
                                                             : e->via.f64;
    double av = a->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (double)a->via.u64
                : a->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (double)a->via.i64
                                                             : a->via.f64;
    if (ev != ev && av != av) return 1; /* NaN expected, NaN seen */
    if (a->type == MSGPACK_OBJECT_FLOAT32 || e->type == MSGPACK_OBJECT_FLOAT32) return (float)ev == (float)av;
    return ev == av;
}

static void harness_match_fail(struct harness_strbuf *why, const struct harness_strbuf *path, const char *what,
                               const msgpack_object *expected, const struct harness_subst *subst,
                               const msgpack_object *actual)
{
    if (!why) return;
    harness_strbuf_appendf(why, "at %s: ", path->len ? path->data : "(top)");
    if (what) {
        harness_strbuf_append_str(why, what);
        harness_strbuf_append_str(why, "; ");
    }
    if (expected) {
        harness_strbuf_append_str(why, "expected ");
        char *data;
        size_t len;
        struct harness_strbuf err = HARNESS_STRBUF_INIT;
        if (harness_payload_pack_bytes(expected, subst, &data, &len, &err) == 0) {
            harness_payload_json_describe(why, data, len);
            free(data);
        } else {
            harness_payload_json_append(why, expected);
        }
        harness_strbuf_destroy(&err);
        harness_strbuf_append_str(why, ", ");
    }
    harness_strbuf_append_str(why, "seen ");
    if (actual) harness_payload_json_append(why, actual);
    else harness_strbuf_append_str(why, "nothing");
}

static int harness_match_rec(const msgpack_object *e, const struct harness_subst *subst, const msgpack_object *a,
                             struct harness_strbuf *why, struct harness_strbuf *path);

static int harness_match_string(const msgpack_object *e, const struct harness_subst *subst, const msgpack_object *a,
                                struct harness_strbuf *why, struct harness_strbuf *path)
{
    const char *s = e->via.str.ptr;
    size_t len = e->via.str.size;
    if (subst && subst->active && memchr(s, '{', len)) {
        struct harness_strbuf text = HARNESS_STRBUF_INIT;
        int whole;
        long long iv;
        harness_payload_subst_text(s, len, subst, &text, &whole, &iv);
        int ok;
        if (whole) {
            msgpack_object num;
            if (iv < 0) {
                num.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
                num.via.i64 = iv;
            } else {
                num.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
                num.via.u64 = (uint64_t)iv;
            }
            ok = harness_match_is_number(a) && harness_match_numbers(&num, a);
        } else {
            ok = a->type == MSGPACK_OBJECT_STR && a->via.str.size == text.len &&
                 memcmp(a->via.str.ptr, text.data, text.len) == 0;
        }
        harness_strbuf_destroy(&text);
        if (!ok) harness_match_fail(why, path, NULL, e, subst, a);
        return ok;
    }
    int ok = a->type == MSGPACK_OBJECT_STR && a->via.str.size == len && memcmp(a->via.str.ptr, s, len) == 0;
    if (!ok) harness_match_fail(why, path, NULL, e, subst, a);
    return ok;
}

static int harness_match_map(const msgpack_object *e, const struct harness_subst *subst, const msgpack_object *a,
                             struct harness_strbuf *why, struct harness_strbuf *path)
{
    if (a->type != MSGPACK_OBJECT_MAP) {
        harness_match_fail(why, path, "not a map", e, subst, a);
        return 0;
    }
    for (uint32_t i = 0; i < e->via.map.size; i++) {
        const msgpack_object *ek = &e->via.map.ptr[i].key;
        const msgpack_object *found = NULL;
        for (uint32_t j = 0; j < a->via.map.size && !found; j++) {
            if (harness_match_rec(ek, subst, &a->via.map.ptr[j].key, NULL, path)) found = &a->via.map.ptr[j].val;
        }
        size_t mark = path->len;
        if (ek->type == MSGPACK_OBJECT_STR) {
            harness_strbuf_append_char(path, '.');
            harness_strbuf_append(path, ek->via.str.ptr, ek->via.str.size);
        } else {
            harness_strbuf_append_char(path, '[');
            harness_payload_json_append(path, ek);
            harness_strbuf_append_char(path, ']');
        }
        int ok;
        if (!found) {
            harness_match_fail(why, path, "key missing", &e->via.map.ptr[i].val, subst, NULL);
            ok = 0;
        } else {
            ok = harness_match_rec(&e->via.map.ptr[i].val, subst, found, why, path);
        }
        path->len = mark;
        path->data[mark] = '\0';
        if (!ok) return 0;
    }
    return 1;
}

static int harness_match_rec(const msgpack_object *e, const struct harness_subst *subst, const msgpack_object *a,
                             struct harness_strbuf *why, struct harness_strbuf *path)
{
    switch (e->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_BOOLEAN:
    case MSGPACK_OBJECT_EXT:
    case MSGPACK_OBJECT_BIN: {
        int ok = msgpack_object_equal(*e, *a);
        if (!ok) harness_match_fail(why, path, NULL, e, subst, a);
        return ok;
    }
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
        int ok = harness_match_is_number(a) && harness_match_numbers(e, a);
        if (!ok) harness_match_fail(why, path, NULL, e, subst, a);
        return ok;
    }
    case MSGPACK_OBJECT_STR:
        return harness_match_string(e, subst, a, why, path);
    case MSGPACK_OBJECT_ARRAY: {
        if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != e->via.array.size) {
            harness_match_fail(why, path, a->type == MSGPACK_OBJECT_ARRAY ? "array length differs" : "not an array",
                               e, subst, a);
            return 0;
        }
        for (uint32_t i = 0; i < e->via.array.size; i++) {
            size_t mark = path->len;
            harness_strbuf_appendf(path, "[%u]", i);
            int ok = harness_match_rec(&e->via.array.ptr[i], subst, &a->via.array.ptr[i], why, path);
            path->len = mark;
            path->data[mark] = '\0';
            if (!ok) return 0;
        }
        return 1;
    }
    case MSGPACK_OBJECT_MAP: {
        if (harness_payload_special_kind(e) == HARNESS_PAYLOAD_PLAIN) return harness_match_map(e, subst, a, why, path);
        const msgpack_object *v = &e->via.map.ptr[0].val;
        size_t cap = v->type == MSGPACK_OBJECT_STR ? v->via.str.size + 64 : 16;
        unsigned char *buf = harness_xmalloc(cap);
        size_t len = 0;
        struct harness_strbuf err = HARNESS_STRBUF_INIT;
        int ok;
        if (harness_payload_special_bytes(e, subst, buf, cap, &len, &err) < 0) {
            if (why) harness_strbuf_appendf(why, "at %s: %s", path->len ? path->data : "(top)", err.data);
            ok = 0;
        } else {
            ok = a->type == MSGPACK_OBJECT_BIN && a->via.bin.size == len && memcmp(a->via.bin.ptr, buf, len) == 0;
            if (!ok) harness_match_fail(why, path, NULL, e, subst, a);
        }
        harness_strbuf_destroy(&err);
        free(buf);
        return ok;
    }
    default:
        return 0;
    }
}

int harness_payload_match(const msgpack_object *expected, const struct harness_subst *subst,
                          const msgpack_object *actual, struct harness_strbuf *why)
{
    struct harness_strbuf path = HARNESS_STRBUF_INIT;
    harness_strbuf_append_str(&path, "");
    int ok = harness_match_rec(expected, subst, actual, why, &path);
    harness_strbuf_destroy(&path);
    return ok;
}

int harness_payload_match_packed(const msgpack_object *expected, const struct harness_subst *subst,
                                 const char *data, size_t len, struct harness_strbuf *why)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    msgpack_object obj;
    size_t off = 0;
    int ok;
    if (msgpack_unpack(data, len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS) {
        if (why) {
            harness_strbuf_append_str(why, "seen ");
            harness_payload_json_describe(why, data, len);
        }
        ok = 0;
    } else {
        ok = harness_payload_match(expected, subst, &obj, why);
    }
    msgpack_zone_destroy(&zone);
    return ok;
}
