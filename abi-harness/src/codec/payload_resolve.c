#include "payload_resolve.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "xalloc.h"

/* ---- $uuid names: a small chained hash table, shared by all threads ---- */

struct harness_uuid_entry {
    struct harness_uuid_entry *next;
    unsigned char uuid[16];
    size_t len;
    char name[];
};

#define HARNESS_UUID_BUCKETS 4096

static pthread_mutex_t harness_uuid_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct harness_uuid_entry *harness_uuid_table[HARNESS_UUID_BUCKETS];
static struct harness_rng harness_uuid_rng;
static int harness_uuid_seeded;

static uint64_t harness_payload_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void harness_payload_uuid_for(const char *name, size_t len, unsigned char out[16])
{
    uint64_t h = harness_payload_hash(name, len) % HARNESS_UUID_BUCKETS;
    pthread_mutex_lock(&harness_uuid_mutex);
    struct harness_uuid_entry *e = harness_uuid_table[h];
    while (e && !(e->len == len && memcmp(e->name, name, len) == 0)) e = e->next;
    if (!e) {
        if (!harness_uuid_seeded) {
            /* always from the OS: "random per run" even with --seed */
            harness_rng_seed(&harness_uuid_rng, harness_rng_os_seed());
            harness_uuid_seeded = 1;
        }
        e = harness_xmalloc(sizeof *e + len + 1);
        memcpy(e->name, name, len);
        e->name[len] = '\0';
        e->len = len;
        harness_rng_fill(&harness_uuid_rng, e->uuid, 16);
        /* shape it as a version-4 UUID so other tools display it nicely */
        e->uuid[6] = (unsigned char)((e->uuid[6] & 0x0f) | 0x40);
        e->uuid[8] = (unsigned char)((e->uuid[8] & 0x3f) | 0x80);
        e->next = harness_uuid_table[h];
        harness_uuid_table[h] = e;
    }
    memcpy(out, e->uuid, 16);
    pthread_mutex_unlock(&harness_uuid_mutex);
}

void harness_payload_uuid_reset(void)
{
    pthread_mutex_lock(&harness_uuid_mutex);
    for (size_t i = 0; i < HARNESS_UUID_BUCKETS; i++) {
        struct harness_uuid_entry *e = harness_uuid_table[i];
        while (e) {
            struct harness_uuid_entry *next = e->next;
            free(e);
            e = next;
        }
        harness_uuid_table[i] = NULL;
    }
    pthread_mutex_unlock(&harness_uuid_mutex);
}

/* ---- substitution ---- */

static int harness_payload_is_key(const msgpack_object *o, const char *key)
{
    size_t n = strlen(key);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, key, n) == 0;
}

enum harness_payload_special harness_payload_special_kind(const msgpack_object *obj)
{
    if (obj->type != MSGPACK_OBJECT_MAP || obj->via.map.size != 1) return HARNESS_PAYLOAD_PLAIN;
    const msgpack_object *k = &obj->via.map.ptr[0].key;
    if (harness_payload_is_key(k, "$bin")) return HARNESS_PAYLOAD_BIN;
    if (harness_payload_is_key(k, "$uuid")) return HARNESS_PAYLOAD_UUID;
    return HARNESS_PAYLOAD_PLAIN;
}

void harness_payload_subst_text(const char *s, size_t len, const struct harness_subst *subst,
                                struct harness_strbuf *out, int *whole_int, long long *int_value)
{
    *whole_int = 0;
    if (subst && subst->active && len == 3 && s[0] == '{' && s[2] == '}' && (s[1] == 't' || s[1] == 'n')) {
        *whole_int = 1;
        *int_value = s[1] == 't' ? subst->t : subst->n;
        harness_strbuf_appendf(out, "%lld", *int_value);
        return;
    }
    size_t i = 0;
    while (i < len) {
        if (subst && subst->active && i + 2 < len && s[i] == '{' && s[i + 2] == '}' &&
            (s[i + 1] == 't' || s[i + 1] == 'n')) {
            harness_strbuf_appendf(out, "%lld", s[i + 1] == 't' ? subst->t : subst->n);
            i += 3;
            continue;
        }
        size_t j = i + 1;
        while (j < len && s[j] != '{') j++;
        harness_strbuf_append(out, s + i, j - i);
        i = j;
    }
}

static int harness_payload_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int harness_payload_special_bytes(const msgpack_object *obj, const struct harness_subst *subst, unsigned char *buf,
                                  size_t cap, size_t *len, struct harness_strbuf *err)
{
    enum harness_payload_special kind = harness_payload_special_kind(obj);
    const msgpack_object *v = &obj->via.map.ptr[0].val;
    if (v->type != MSGPACK_OBJECT_STR) {
        harness_strbuf_append_str(err, kind == HARNESS_PAYLOAD_BIN ? "$bin needs a hex string" : "$uuid needs a name string");
        return -1;
    }
    struct harness_strbuf text = HARNESS_STRBUF_INIT;
    int whole;
    long long iv;
    harness_payload_subst_text(v->via.str.ptr, v->via.str.size, subst, &text, &whole, &iv);
    int rc = 0;
    if (kind == HARNESS_PAYLOAD_UUID) {
        if (cap < 16) {
            rc = -1;
        } else {
            harness_payload_uuid_for(harness_strbuf_cstr(&text), text.len, buf);
            *len = 16;
        }
    } else {
        if (text.len % 2 || text.len / 2 > cap) {
            harness_strbuf_appendf(err, "$bin: \"%s\" is not an even-length hex string", harness_strbuf_cstr(&text));
            rc = -1;
        } else {
            for (size_t i = 0; i < text.len / 2; i++) {
                int hi = harness_payload_hexval(text.data[2 * i]), lo = harness_payload_hexval(text.data[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                    harness_strbuf_appendf(err, "$bin: \"%s\" is not hex", text.data);
                    rc = -1;
                    break;
                }
                buf[i] = (unsigned char)(hi << 4 | lo);
            }
            *len = text.len / 2;
        }
    }
    harness_strbuf_destroy(&text);
    return rc;
}

int harness_payload_pack(msgpack_packer *pk, const msgpack_object *tmpl, const struct harness_subst *subst,
                         struct harness_strbuf *err)
{
    switch (tmpl->type) {
    case MSGPACK_OBJECT_STR: {
        if (!subst || !subst->active || !memchr(tmpl->via.str.ptr, '{', tmpl->via.str.size)) {
            msgpack_pack_str_with_body(pk, tmpl->via.str.ptr, tmpl->via.str.size);
            return 0;
        }
        struct harness_strbuf text = HARNESS_STRBUF_INIT;
        int whole;
        long long iv;
        harness_payload_subst_text(tmpl->via.str.ptr, tmpl->via.str.size, subst, &text, &whole, &iv);
        if (whole) msgpack_pack_long_long(pk, iv);
        else msgpack_pack_str_with_body(pk, harness_strbuf_cstr(&text), text.len);
        harness_strbuf_destroy(&text);
        return 0;
    }
    case MSGPACK_OBJECT_ARRAY:
        msgpack_pack_array(pk, tmpl->via.array.size);
        for (uint32_t i = 0; i < tmpl->via.array.size; i++) {
            if (harness_payload_pack(pk, &tmpl->via.array.ptr[i], subst, err) < 0) return -1;
        }
        return 0;
    case MSGPACK_OBJECT_MAP: {
        if (harness_payload_special_kind(tmpl) != HARNESS_PAYLOAD_PLAIN) {
            const msgpack_object *v = &tmpl->via.map.ptr[0].val;
            size_t cap = v->type == MSGPACK_OBJECT_STR ? v->via.str.size + 64 : 16;
            unsigned char *buf = harness_xmalloc(cap);
            size_t len = 0;
            int rc = harness_payload_special_bytes(tmpl, subst, buf, cap, &len, err);
            if (rc == 0) msgpack_pack_bin_with_body(pk, buf, len);
            free(buf);
            return rc;
        }
        msgpack_pack_map(pk, tmpl->via.map.size);
        for (uint32_t i = 0; i < tmpl->via.map.size; i++) {
            if (harness_payload_pack(pk, &tmpl->via.map.ptr[i].key, subst, err) < 0) return -1;
            if (harness_payload_pack(pk, &tmpl->via.map.ptr[i].val, subst, err) < 0) return -1;
        }
        return 0;
    }
    default:
        msgpack_pack_object(pk, *tmpl);
        return 0;
    }
}

int harness_payload_pack_bytes(const msgpack_object *tmpl, const struct harness_subst *subst, char **data,
                               size_t *len, struct harness_strbuf *err)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    if (harness_payload_pack(&pk, tmpl, subst, err) < 0) {
        msgpack_sbuffer_destroy(&sbuf);
        return -1;
    }
    *len = sbuf.size;
    *data = harness_xmemdup(sbuf.data, sbuf.size);
    msgpack_sbuffer_destroy(&sbuf);
    return 0;
}

int harness_payload_has_placeholders(const msgpack_object *tmpl)
{
    switch (tmpl->type) {
    case MSGPACK_OBJECT_STR:
        for (uint32_t i = 0; i + 2 < tmpl->via.str.size; i++) {
            const char *s = tmpl->via.str.ptr + i;
            if (s[0] == '{' && s[2] == '}' && (s[1] == 't' || s[1] == 'n')) return 1;
        }
        return 0;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < tmpl->via.array.size; i++) {
            if (harness_payload_has_placeholders(&tmpl->via.array.ptr[i])) return 1;
        }
        return 0;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < tmpl->via.map.size; i++) {
            if (harness_payload_has_placeholders(&tmpl->via.map.ptr[i].key) ||
                harness_payload_has_placeholders(&tmpl->via.map.ptr[i].val))
                return 1;
        }
        return 0;
    default:
        return 0;
    }
}
