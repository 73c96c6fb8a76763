#include "item_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgpack_map.h"
#include "eva_ffi.h"
#include "strbuf.h"
#include "topic.h"
#include "xalloc.h"

struct harness_item {
    struct harness_item *next;
    char *oid;
    int64_t status;
    char *value; /* packed MessagePack */
    size_t value_len;
};

static uint64_t harness_item_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

void harness_item_store_init(struct harness_item_store *store)
{
    pthread_mutex_init(&store->mutex, NULL);
    store->bucket_count = 1024;
    store->buckets = harness_xcalloc(store->bucket_count, sizeof *store->buckets);
    store->count = 0;
}

void harness_item_store_destroy(struct harness_item_store *store)
{
    for (size_t i = 0; i < store->bucket_count; i++) {
        struct harness_item *it = store->buckets[i];
        while (it) {
            struct harness_item *next = it->next;
            free(it->oid);
            free(it->value);
            free(it);
            it = next;
        }
    }
    free(store->buckets);
    pthread_mutex_destroy(&store->mutex);
}

static void harness_item_store_grow(struct harness_item_store *store)
{
    size_t n = store->bucket_count * 4;
    struct harness_item **b = harness_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < store->bucket_count; i++) {
        struct harness_item *it = store->buckets[i];
        while (it) {
            struct harness_item *next = it->next;
            size_t h = harness_item_hash(it->oid) % n;
            it->next = b[h];
            b[h] = it;
            it = next;
        }
    }
    free(store->buckets);
    store->buckets = b;
    store->bucket_count = n;
}

/* caller holds the lock */
static int harness_item_store_set(struct harness_item_store *store, const char *oid, const msgpack_object *state,
                                  char *why, size_t why_len)
{
    if (state->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, why_len, "state of %s is not a map", oid);
        return -1;
    }
    const msgpack_object *st = harness_msgpack_map_get(state, "status");
    const msgpack_object *val = harness_msgpack_map_get(state, "value");
    if (!st || (st->type != MSGPACK_OBJECT_POSITIVE_INTEGER && st->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)) {
        snprintf(why, why_len, "state of %s has no integer status", oid);
        return -1;
    }
    int64_t status = st->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)st->via.u64 : st->via.i64;
    if (status < -32768 || status > 32767) {
        snprintf(why, why_len, "status %lld of %s is not an int16", (long long)status, oid);
        return -1;
    }
    size_t h = harness_item_hash(oid) % store->bucket_count;
    struct harness_item *it = store->buckets[h];
    while (it && strcmp(it->oid, oid) != 0) it = it->next;
    if (!it) {
        if (store->count >= store->bucket_count * 2) {
            harness_item_store_grow(store);
            h = harness_item_hash(oid) % store->bucket_count;
        }
        it = harness_xcalloc(1, sizeof *it);
        it->oid = harness_xstrdup(oid);
        it->value = harness_xmemdup("\xc0", 1); /* nil until set */
        it->value_len = 1;
        it->next = store->buckets[h];
        store->buckets[h] = it;
        store->count++;
    }
    it->status = status;
    /* an absent value leaves the value as it was, as the core does */
    if (val) {
        msgpack_sbuffer sbuf;
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, *val);
        free(it->value);
        it->value = harness_xmemdup(sbuf.data, sbuf.size);
        it->value_len = sbuf.size;
        msgpack_sbuffer_destroy(&sbuf);
    }
    return 0;
}

static int harness_item_oid_valid(const char *oid)
{
    const char *colon = strchr(oid, ':');
    return colon && colon != oid && colon[1] != '\0';
}

int harness_item_store_apply_frame(struct harness_item_store *store, const char *topic, const char *payload,
                                   size_t len, char *why, size_t why_len)
{
    int bulk = strcmp(topic, EVA_TOPIC_RAW) == 0;
    size_t plen = strlen(EVA_TOPIC_RAW_PREFIX);
    if (!bulk && strncmp(topic, EVA_TOPIC_RAW_PREFIX, plen) != 0) return 0;

    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    size_t off = 0;
    int rc = 0;
    if (msgpack_unpack(payload, len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(why, why_len, "payload is not MessagePack");
        msgpack_zone_destroy(&zone);
        return -1;
    }
    pthread_mutex_lock(&store->mutex);
    if (!bulk) {
        /* RAW/<kind>/<group>/<id> -> kind:group/id */
        const char *path = topic + plen;
        const char *slash = strchr(path, '/');
        if (!slash || slash == path || slash[1] == '\0') {
            snprintf(why, why_len, "topic does not hold an OID path");
            rc = -1;
        } else {
            struct harness_strbuf oid = HARNESS_STRBUF_INIT;
            harness_strbuf_append(&oid, path, (size_t)(slash - path));
            harness_strbuf_append_char(&oid, ':');
            harness_strbuf_append_str(&oid, slash + 1);
            rc = harness_item_store_set(store, oid.data, &obj, why, why_len);
            harness_strbuf_destroy(&oid);
        }
    } else if (obj.type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, why_len, "bulk RAW payload is not a list");
        rc = -1;
    } else {
        for (uint32_t i = 0; i < obj.via.array.size; i++) {
            const msgpack_object *e = &obj.via.array.ptr[i];
            const msgpack_object *oid = e->type == MSGPACK_OBJECT_MAP ? harness_msgpack_map_get(e, "oid") : NULL;
            if (!oid || oid->type != MSGPACK_OBJECT_STR) {
                snprintf(why, why_len, "bulk RAW entry %u has no oid", i);
                rc = -1;
                continue;
            }
            char *s = harness_xstrndup(oid->via.str.ptr, oid->via.str.size);
            if (!harness_item_oid_valid(s)) {
                snprintf(why, why_len, "bulk RAW entry %u: bad oid %s", i, s);
                rc = -1;
            } else if (harness_item_store_set(store, s, e, why, why_len) < 0) {
                rc = -1;
            }
            free(s);
        }
    }
    pthread_mutex_unlock(&store->mutex);
    msgpack_zone_destroy(&zone);
    return rc;
}

static void harness_item_oid_to_path(const char *s, struct harness_strbuf *out)
{
    const char *colon = strchr(s, ':');
    if (!colon) {
        harness_strbuf_append_str(out, s);
        return;
    }
    harness_strbuf_append(out, s, (size_t)(colon - s));
    harness_strbuf_append_char(out, '/');
    harness_strbuf_append_str(out, colon + 1);
}

int harness_item_store_oid_match(const char *mask, const char *oid)
{
    if (!strcmp(mask, "#") || !strcmp(mask, "*")) return 1;
    struct harness_strbuf m = HARNESS_STRBUF_INIT, o = HARNESS_STRBUF_INIT;
    harness_item_oid_to_path(mask, &m);
    harness_item_oid_to_path(oid, &o);
    /* "*" as a whole level is the same wildcard as "#" in EVA masks */
    if (m.len >= 2 && !strcmp(m.data + m.len - 2, "/*")) m.data[m.len - 1] = '#';
    int ok = harness_topic_match(m.data, o.data);
    harness_strbuf_destroy(&m);
    harness_strbuf_destroy(&o);
    return ok;
}

static int harness_item_cmp(const void *a, const void *b)
{
    const struct harness_item *const *x = a, *const *y = b;
    return strcmp((*x)->oid, (*y)->oid);
}

void harness_item_store_pack_query(struct harness_item_store *store, const char *const *masks, size_t mask_count,
                                   msgpack_packer *pk)
{
    pthread_mutex_lock(&store->mutex);
    struct harness_item **list = harness_xmalloc((store->count + 1) * sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < store->bucket_count; i++) {
        for (struct harness_item *it = store->buckets[i]; it; it = it->next) {
            int ok = mask_count == 0;
            for (size_t m = 0; m < mask_count && !ok; m++) ok = harness_item_store_oid_match(masks[m], it->oid);
            if (ok) list[n++] = it;
        }
    }
    qsort(list, n, sizeof *list, harness_item_cmp);
    msgpack_pack_array(pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_map(pk, 3);
        msgpack_pack_str_with_body(pk, "oid", 3);
        msgpack_pack_str_with_body(pk, list[i]->oid, strlen(list[i]->oid));
        msgpack_pack_str_with_body(pk, "status", 6);
        msgpack_pack_int64(pk, list[i]->status);
        msgpack_pack_str_with_body(pk, "value", 5);
        /* the value is already MessagePack: append its bytes as they are */
        pk->callback(pk->data, list[i]->value, list[i]->value_len);
    }
    free(list);
    pthread_mutex_unlock(&store->mutex);
}

size_t harness_item_store_count(struct harness_item_store *store)
{
    pthread_mutex_lock(&store->mutex);
    size_t n = store->count;
    pthread_mutex_unlock(&store->mutex);
    return n;
}
