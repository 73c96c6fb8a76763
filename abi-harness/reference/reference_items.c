/* Items: OIDs, the table (hash + sorted array), their state and RAW events. */
#include "reference_service.h"

/* Checks "kind:path" (kind unit/sensor/lvar/lmacro; path non-empty, no empty
 * segment, none of '#', '+', ':' or control characters). Sets *kind_len. */
bool oid_valid(const char *s, size_t n, size_t *kind_len)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return false;
    size_t k = (size_t)(colon - s);
    bool kind_ok = (k == 4 && (memcmp(s, "unit", 4) == 0 || memcmp(s, "lvar", 4) == 0)) ||
                   (k == 6 && (memcmp(s, "sensor", 6) == 0 || memcmp(s, "lmacro", 6) == 0));
    if (!kind_ok)
        return false;
    size_t i = k + 1;
    if (i >= n)
        return false;
    bool prev_slash = true;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/') {
            if (prev_slash)
                return false;
            prev_slash = true;
        } else if (c == '#' || c == '+' || c == ':' || c < 0x20 || c == 0x7f) {
            return false;
        } else {
            prev_slash = false;
        }
    }
    if (prev_slash)
        return false;
    *kind_len = k;
    return true;
}

static uint64_t oid_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

static int oid_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

struct item_table g_items = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static struct item *item_new(const char *oid, size_t n, size_t kind_len, uint64_t hash)
{
    size_t topic_len = 4 + n; /* "RAW/" + kind + "/" + path */
    struct item *it = malloc(sizeof *it + n + 1 + topic_len + 1);
    if (!it)
        return NULL;
    if (pthread_mutex_init(&it->mu, NULL) != 0) {
        free(it);
        return NULL;
    }
    it->hash = hash;
    it->status = EVA_ITEM_STATUS_OK;
    it->value = NULL;
    it->value_len = 0;
    it->value_cap = 0;
    it->oid_len = n;
    memcpy(it->text, oid, n);
    it->text[n] = '\0';
    it->topic = it->text + n + 1;
    it->topic_len = topic_len;
    memcpy(it->topic, "RAW/", 4);
    memcpy(it->topic + 4, oid, kind_len);
    it->topic[4 + kind_len] = '/';
    memcpy(it->topic + 5 + kind_len, oid + kind_len + 1, n - kind_len - 1);
    it->topic[topic_len] = '\0';
    return it;
}

static void item_free(struct item *it)
{
    pthread_mutex_destroy(&it->mu);
    free(it->value);
    free(it);
}

/* Caller holds the table lock. */
static struct item *table_find(const char *oid, size_t n, uint64_t h)
{
    if (g_items.cap == 0)
        return NULL;
    size_t mask = g_items.cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct item *it = g_items.slots[i];
        if (!it)
            return NULL;
        if (it->hash == h && it->oid_len == n && memcmp(it->text, oid, n) == 0)
            return it;
    }
}

/* Caller holds the write lock; the item is not in the table. */
static bool table_insert(struct item *it)
{
    if ((g_items.count + 1) * 2 > g_items.cap) {
        size_t ncap = g_items.cap ? g_items.cap * 2 : 64;
        struct item **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return false;
        for (size_t i = 0; i < g_items.cap; i++) {
            struct item *o = g_items.slots[i];
            if (!o)
                continue;
            size_t j = (size_t)o->hash & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = o;
        }
        free(g_items.slots);
        g_items.slots = ns;
        g_items.cap = ncap;
    }
    if (g_items.count == g_items.sorted_cap) {
        size_t ncap = g_items.sorted_cap ? g_items.sorted_cap * 2 : 64;
        struct item **ns = realloc(g_items.sorted, ncap * sizeof *ns);
        if (!ns)
            return false;
        g_items.sorted = ns;
        g_items.sorted_cap = ncap;
    }
    size_t lo = 0, hi = g_items.count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct item *m = g_items.sorted[mid];
        if (oid_cmp(m->text, m->oid_len, it->text, it->oid_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(g_items.sorted + lo + 1, g_items.sorted + lo, (g_items.count - lo) * sizeof *g_items.sorted);
    g_items.sorted[lo] = it;
    size_t mask = g_items.cap - 1;
    size_t j = (size_t)it->hash & mask;
    while (g_items.slots[j])
        j = (j + 1) & mask;
    g_items.slots[j] = it;
    g_items.count++;
    return true;
}

/* Only while no other thread can use the library (svc_init). */
void table_clear(void)
{
    for (size_t i = 0; i < g_items.count; i++)
        item_free(g_items.sorted[i]);
    free(g_items.slots);
    free(g_items.sorted);
    g_items.slots = NULL;
    g_items.sorted = NULL;
    g_items.cap = g_items.count = g_items.sorted_cap = 0;
}

/* Finds (or, with create, makes) an item and returns it with its mutex held.
 * NULL with *err set when not found or out of memory. */
struct item *item_acquire(const char *oid, size_t n, size_t kind_len, bool create, int32_t *err)
{
    uint64_t h = oid_hash(oid, n);
    pthread_rwlock_rdlock(&g_items.lock);
    struct item *it = table_find(oid, n, h);
    if (it) {
        pthread_mutex_lock(&it->mu);
        pthread_rwlock_unlock(&g_items.lock);
        return it;
    }
    pthread_rwlock_unlock(&g_items.lock);
    if (!create) {
        *err = EVA_ERR_CODE_NOT_FOUND;
        return NULL;
    }
    pthread_rwlock_wrlock(&g_items.lock);
    it = table_find(oid, n, h);
    if (!it) {
        it = item_new(oid, n, kind_len, h);
        if (it && !table_insert(it)) {
            item_free(it);
            it = NULL;
        }
        if (!it) {
            pthread_rwlock_unlock(&g_items.lock);
            *err = EVA_ERR_CODE_SYSTEM_ERROR;
            return NULL;
        }
    }
    pthread_mutex_lock(&it->mu);
    pthread_rwlock_unlock(&g_items.lock);
    return it;
}

/* Packs an item's value (caller holds its mutex). */
int pack_value(msgpack_packer *pk, const struct item *it)
{
    if (it->value_len == 0)
        return msgpack_pack_nil(pk);
    return msgpack_sbuffer_write(pk->data, it->value, it->value_len);
}

/* {oid, status, value}; caller holds the item's mutex. */
int pack_state(msgpack_packer *pk, const struct item *it)
{
    return msgpack_pack_map(pk, 3) | pack_strn(pk, "oid", 3) | pack_strn(pk, it->text, it->oid_len) |
           pack_strn(pk, "status", 6) | msgpack_pack_int16(pk, it->status) | pack_strn(pk, "value", 5) |
           pack_value(pk, it);
}

/* Publishes {status, value} to the item's RAW topic. Caller holds its mutex,
 * so the events of one item go out in the order of its changes. */
int32_t publish_state(struct tls_state *t, const struct item *it)
{
    msgpack_sbuffer *b = &t->pub;
    sbuffer_trim(b);
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, msgpack_sbuffer_write);
    int e = msgpack_sbuffer_write(b, it->topic, it->topic_len + 1);
    e |= msgpack_pack_map(&pk, 2) | pack_strn(&pk, "status", 6) | msgpack_pack_int16(&pk, it->status) |
         pack_strn(&pk, "value", 5) | pack_value(&pk, it);
    if (e != 0)
        return EVA_ERR_CODE_SYSTEM_ERROR;
    struct EvaFFIBuffer buf = {.len = b->size, .data = b->data, .max = b->alloc};
    return op_call(EVA_FFI_SVC_OP_PUBLISH_TOPIC, &buf);
}

/* Sets an item's status (when has_status) and value (when value is not NULL;
 * nil sets nil), then publishes its RAW event. With create, an unknown OID is
 * created first; else it is NOT_FOUND. */
int32_t item_update(struct tls_state *t, const char *oid, size_t oid_len, size_t kind_len, bool create,
                           bool has_status, int16_t status, const msgpack_object *value)
{
    /* pack the new value before taking the item's lock */
    size_t vlen = 0;
    if (value && value->type != MSGPACK_OBJECT_NIL) {
        sbuffer_trim(&t->scratch);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &t->scratch, msgpack_sbuffer_write);
        if (msgpack_pack_object(&pk, *value) != 0)
            return EVA_ERR_CODE_SYSTEM_ERROR;
        vlen = t->scratch.size;
    }
    int32_t rc = EVA_OK;
    struct item *it = item_acquire(oid, oid_len, kind_len, create, &rc);
    if (!it)
        return rc;
    if (value) {
        if (vlen > it->value_cap) {
            char *nv = realloc(it->value, vlen);
            if (!nv) {
                pthread_mutex_unlock(&it->mu);
                return EVA_ERR_CODE_SYSTEM_ERROR;
            }
            it->value = nv;
            it->value_cap = vlen;
        }
        if (vlen > 0)
            memcpy(it->value, t->scratch.data, vlen);
        it->value_len = vlen;
    }
    if (has_status)
        it->status = status;
    rc = publish_state(t, it);
    pthread_mutex_unlock(&it->mu);
    if (rc < 0)
        log_warn("%.*s: RAW event not published: %" PRId32, (int)oid_len, oid, rc);
    return EVA_OK;
}
