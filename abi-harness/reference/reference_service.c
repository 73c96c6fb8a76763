/*
 * Reference EVA ICS v4 FFI service (ABI version 1), written in plain C11 with
 * msgpack-c.
 *
 * It implements the item part of the virtual controller (list/get/set with
 * RAW state events) plus the service duties (NOT_READY until prepared,
 * thread-local results, logging through the LOG ops, a clean terminate).
 * It is the correctness reference for abi-harness and the speed baseline for
 * the Swift library, so it is written to be fast as well as careful:
 *
 *   - items live in an open-addressing hash table keyed by OID, plus an array
 *     kept sorted by OID so that `list` needs no sort; the table is guarded by
 *     a pthread rwlock, each item's state by its own mutex (held while its
 *     RAW event is published, so events of one item leave in order);
 *   - every thread reuses its own result buffer, scratch buffers and
 *     MessagePack zone across calls (freed when the thread exits);
 *   - item values are kept as their packed MessagePack bytes.
 *
 * Item states also survive restarts through the node registry (eva.registry
 * key eva/svc_data/<svc id>/items: read at prepare, written at terminate), so
 * results of outgoing RPC calls are read in both GET_RPC_RESULT modes.
 *
 * Limits, as of msgpack-c: a container header claiming a huge element count
 * makes msgpack_unpack reserve that much (virtual) memory before it finds the
 * payload too short; it then fails with NOMEM/CONTINUE and we answer
 * INVALID_PARAMS. Nesting deeper than msgpack-c's stack (32) is refused too.
 *
 * Building with one of the BREAK_* macros produces a deliberately broken
 * variant that must fail exactly one abi-harness check (see the Makefile).
 */
#define _POSIX_C_SOURCE 200809L

#define EVA_FFI_DECLARE_EXPORTS
#include <eva_ffi.h>

#include <msgpack.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

#ifdef RELY_PROBE
#include "reference_probe.h"
#endif

#ifdef BREAK_SYMBOLS
/* Broken: eva_svc_get_result is defined but not exported. */
#define EXPORT_GET_RESULT __attribute__((visibility("hidden")))
#else
#define EXPORT_GET_RESULT EXPORT
#endif

#define SVC_AUTHOR "EVA ICS FFI project"
#define SVC_VERSION "0.1.0"
#define SVC_DESCRIPTION "C reference service: virtual items (list/get/set)"

/* Per-thread buffers are kept across calls; one that grew past this (a huge
 * reply) is released before the next call, so that it does not pin memory in
 * a pool thread for ever. */
#define KEEP_BUFFER_MAX ((size_t)16 << 20)
#define ZONE_CHUNK 2048
#define LOG_LINE_MAX 512

/* ------------------------------------------------------------------------ */
/* Global state                                                              */

static _Atomic(eva_ffi_op_fn) g_op_fn;
static atomic_bool g_bus_up;     /* svc_prepare has started: LOG ops work */
static atomic_bool g_ready;      /* svc_prepare has finished */
static atomic_bool g_stopped;    /* svc_terminate has been called */
static atomic_int g_op_inflight; /* op calls under way (for svc_terminate) */
static atomic_int g_log_level = EVA_LOG_LEVEL_INFO;

/* Set by svc_init, read-only afterwards. */
static bool g_auto_create;
static bool g_fail_mode;
static bool g_react_to_fail;
static double g_shutdown_timeout = 5.0;
static int64_t g_workers = 1;   /* initial.workers: <= 1 is a one-thread launcher */
static char *g_info;
static size_t g_info_len;
static char *g_registry_key; /* eva/svc_data/<id>/items; NULL without an id */

/* The registry: restored by the first item call after svc_prepare, saved by a
 * saver thread after changes (never from a lifecycle callback: on a one-worker
 * EVA ICS 4.2 node an RPC_CALL made there never returns). */
static pthread_mutex_t g_restore_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool g_restored;   /* the first item call has read the registry */
static int32_t g_restore_rc;     /* its outcome (guarded by g_restore_mu) */
static pthread_mutex_t g_save_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_save_cv = PTHREAD_COND_INITIALIZER;
static atomic_bool g_save_dirty; /* a change not saved yet */
static bool g_save_quit;         /* guarded by g_save_mu */
static bool g_save_busy;         /* the saver is saving (guarded by g_save_mu) */
static bool g_saver_up;          /* the saver thread exists (lifecycle thread only) */
static pthread_t g_saver;
static atomic_bool g_saver_detached; /* left to end its save after svc_terminate */

/* ------------------------------------------------------------------------ */
/* Per-thread state                                                          */

struct tls_state {
    bool registered;
    bool zone_ok;
    msgpack_sbuffer out;     /* the result of the last call on this thread */
    msgpack_sbuffer scratch; /* a packed item value, before it is stored */
    msgpack_sbuffer pub;     /* a PUBLISH buffer: topic, NUL, payload */
    msgpack_zone zone;       /* objects of the payload being parsed */
    int op_depth;            /* op calls under way on this thread */
};

static _Thread_local struct tls_state tls;
static pthread_key_t g_tls_key;
static pthread_once_t g_tls_once = PTHREAD_ONCE_INIT;
static bool g_tls_key_ok;

static void tls_release(void *p)
{
    struct tls_state *t = p;
    msgpack_sbuffer_destroy(&t->out);
    msgpack_sbuffer_destroy(&t->scratch);
    msgpack_sbuffer_destroy(&t->pub);
    if (t->zone_ok)
        msgpack_zone_destroy(&t->zone);
    memset(t, 0, sizeof *t);
}

static void tls_key_create(void)
{
    g_tls_key_ok = pthread_key_create(&g_tls_key, tls_release) == 0;
}


/* The calling thread's state, its zone ready for use. NULL only when out of
 * memory. */
static struct tls_state *tls_get(void)
{
    struct tls_state *t = &tls;
    if (!t->registered) {
        pthread_once(&g_tls_once, tls_key_create);
        if (g_tls_key_ok)
            pthread_setspecific(g_tls_key, t);
        t->registered = true;
    }
    if (!t->zone_ok) {
        if (!msgpack_zone_init(&t->zone, ZONE_CHUNK))
            return NULL;
        t->zone_ok = true;
    }
    return t;
}

static void sbuffer_trim(msgpack_sbuffer *b)
{
    if (b->alloc > KEEP_BUFFER_MAX) {
        msgpack_sbuffer_destroy(b);
        msgpack_sbuffer_init(b);
    }
    msgpack_sbuffer_clear(b);
}

/* ------------------------------------------------------------------------ */
/* The result buffer                                                         */

#ifdef BREAK_GLOBAL_RESULT
/* Broken: one result buffer for the whole process. */
static pthread_mutex_t g_shared_mu = PTHREAD_MUTEX_INITIALIZER;
static msgpack_sbuffer g_shared_out;
#endif

/* Starts a call that may leave a result: the previous result is dropped. */
static void result_begin(struct tls_state *t)
{
    sbuffer_trim(&t->out);
}

/* Ends such a call: a positive return is the result size. */
static int32_t result_end(struct tls_state *t, int32_t rc)
{
    if (t->zone_ok)
        msgpack_zone_clear(&t->zone);
    if (rc < 0) {
        msgpack_sbuffer_clear(&t->out);
        return rc;
    }
    if (t->out.size == 0)
        return EVA_OK;
    if (t->out.size > INT32_MAX) {
        msgpack_sbuffer_clear(&t->out);
        return EVA_ERR_CODE_SYSTEM_ERROR;
    }
#ifdef BREAK_GLOBAL_RESULT
    {
        int32_t n = (int32_t)t->out.size;
        pthread_mutex_lock(&g_shared_mu);
        msgpack_sbuffer_clear(&g_shared_out);
        int e = msgpack_sbuffer_write(&g_shared_out, t->out.data, t->out.size);
        pthread_mutex_unlock(&g_shared_mu);
        msgpack_sbuffer_clear(&t->out);
        if (e != 0)
            return EVA_ERR_CODE_SYSTEM_ERROR;
        /* let another thread overwrite it before the caller fetches it */
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 2000000}, NULL);
        return n;
    }
#else
    return (int32_t)t->out.size;
#endif
}

/* ------------------------------------------------------------------------ */
/* Op calls and logging                                                      */

static int32_t op_call(int16_t op, struct EvaFFIBuffer *buf)
{
    int32_t rc;
    atomic_fetch_add(&g_op_inflight, 1);
    tls.op_depth++;
    if (atomic_load(&g_stopped)) {
        rc = EVA_ERR_CODE_NOT_READY;
    } else {
        eva_ffi_op_fn f = atomic_load(&g_op_fn);
        rc = f ? f(op, buf) : EVA_ERR_CODE_NOT_READY;
    }
    tls.op_depth--;
    atomic_fetch_sub(&g_op_inflight, 1);
    return rc;
}

static void svc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void svc_log(int level, const char *fmt, ...)
{
    if (level < atomic_load_explicit(&g_log_level, memory_order_relaxed))
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (!atomic_load(&g_bus_up)) {
        /* before svc_prepare the bus (and so logging) is not available */
        fprintf(stderr, "reference: %.*s\n", (int)len, line);
        return;
    }
    int16_t op;
    if (level >= EVA_LOG_LEVEL_ERROR)
        op = EVA_FFI_SVC_OP_LOG_ERROR;
    else if (level >= EVA_LOG_LEVEL_WARN)
        op = EVA_FFI_SVC_OP_LOG_WARN;
    else if (level >= EVA_LOG_LEVEL_INFO)
        op = EVA_FFI_SVC_OP_LOG_INFO;
    else if (level >= EVA_LOG_LEVEL_DEBUG)
        op = EVA_FFI_SVC_OP_LOG_DEBUG;
    else
        op = EVA_FFI_SVC_OP_LOG_TRACE;
    /* with its NUL, as the ABI text asks (line[len] is the NUL vsnprintf wrote) */
    struct EvaFFIBuffer b = {.len = len + 1, .data = line, .max = sizeof line};
    (void)op_call(op, &b);
}

#define log_trace(...) svc_log(EVA_LOG_LEVEL_TRACE, __VA_ARGS__)
#define log_debug(...) svc_log(EVA_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) svc_log(EVA_LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) svc_log(EVA_LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) svc_log(EVA_LOG_LEVEL_ERROR, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* MessagePack helpers                                                       */

/* Parses exactly one object from data[0..len) into the thread's zone.
 * Trailing bytes make the payload invalid. */
static bool unpack_one(struct tls_state *t, const char *data, size_t len, msgpack_object *out)
{
    if (len == 0 || data == NULL)
        return false;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack(data, len, &off, &t->zone, out);
    return r == MSGPACK_UNPACK_SUCCESS;
}

#define KEY_IS(k, lit) key_is((k), lit, sizeof(lit) - 1)

static bool key_is(const msgpack_object *k, const char *s, size_t n)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

static bool obj_int64(const msgpack_object *o, int64_t *v)
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

static bool obj_number(const msgpack_object *o, double *v)
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

static int pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str(pk, n) | msgpack_pack_str_body(pk, s, n);
}

static int pack_cstr(msgpack_packer *pk, const char *s)
{
    return pack_strn(pk, s, strlen(s));
}

static const char *obj_type_name(msgpack_object_type t)
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

/* Type checks on request parameters. In the BREAK_GARBAGE variant they turn
 * into assumptions: valid MessagePack of a wrong type (a bare integer, {i: 5})
 * aborts the process. */
#ifdef BREAK_GARBAGE
#define REQUIRE_TYPE(obj, ty)                                                      \
    do {                                                                           \
        if ((obj).type != (ty)) {                                                  \
            fprintf(stderr, "reference: assumed %s, got %s\n", obj_type_name(ty),  \
                    obj_type_name((obj).type));                                    \
            abort();                                                               \
        }                                                                          \
    } while (0)
#else
#define REQUIRE_TYPE(obj, ty)                                                      \
    do {                                                                           \
        if ((obj).type != (ty))                                                    \
            return EVA_ERR_CODE_INVALID_PARAMS;                                    \
    } while (0)
#endif

/* ------------------------------------------------------------------------ */
/* OIDs                                                                      */

/* Checks "kind:path" (kind unit/sensor/lvar/lmacro; path non-empty, no empty
 * segment, none of '#', '+', ':' or control characters). Sets *kind_len. */
static bool oid_valid(const char *s, size_t n, size_t *kind_len)
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

/* ------------------------------------------------------------------------ */
/* Items                                                                     */

struct item {
    pthread_mutex_t mu; /* guards status and value */
    uint64_t hash;
    int16_t status;
    char *value; /* packed MessagePack value; value_len 0 means nil */
    size_t value_len;
    size_t value_cap;
    size_t oid_len;
    size_t topic_len; /* "RAW/kind/path", NUL-terminated in text */
    char *topic;
    char text[]; /* oid, NUL, topic, NUL */
};

static struct {
    pthread_rwlock_t lock; /* guards the table and the sorted array */
    struct item **slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
    struct item **sorted; /* ordered by OID */
    size_t sorted_cap;
} g_items = {.lock = PTHREAD_RWLOCK_INITIALIZER};

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
static void table_clear(void)
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
static struct item *item_acquire(const char *oid, size_t n, size_t kind_len, bool create, int32_t *err)
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
static int pack_value(msgpack_packer *pk, const struct item *it)
{
    if (it->value_len == 0)
        return msgpack_pack_nil(pk);
    return msgpack_sbuffer_write(pk->data, it->value, it->value_len);
}

/* {oid, status, value}; caller holds the item's mutex. */
static int pack_state(msgpack_packer *pk, const struct item *it)
{
    return msgpack_pack_map(pk, 3) | pack_strn(pk, "oid", 3) | pack_strn(pk, it->text, it->oid_len) |
           pack_strn(pk, "status", 6) | msgpack_pack_int16(pk, it->status) | pack_strn(pk, "value", 5) |
           pack_value(pk, it);
}

/* Publishes {status, value} to the item's RAW topic. Caller holds its mutex,
 * so the events of one item go out in the order of its changes. */
static int32_t publish_state(struct tls_state *t, const struct item *it)
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
static int32_t item_update(struct tls_state *t, const char *oid, size_t oid_len, size_t kind_len, bool create,
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

/* ------------------------------------------------------------------------ */
/* Service info                                                              */

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

static int pack_info(msgpack_packer *pk)
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

/* ------------------------------------------------------------------------ */
/* Unloading                                                                 */

/* Runs at dlclose (and at exit). The pthread key goes, or its destructor
 * would point at unmapped code (threads that exit later leak their buffers
 * instead). The items and the info are freed only after svc_terminate: from
 * then on every call answers NOT_READY without touching them, so this cannot
 * race with a late call even when it runs at exit. */
__attribute__((destructor)) static void reference_unload(void)
{
    if (g_tls_key_ok) {
        pthread_key_delete(g_tls_key);
        g_tls_key_ok = false;
    }
    if (atomic_load(&g_stopped)) {
        table_clear();
        free(g_info);
        g_info = NULL;
        g_info_len = 0;
        free(g_registry_key);
        g_registry_key = NULL;
    }
}

/* ------------------------------------------------------------------------ */
/* Exports: op function and results                                         */

EXPORT int16_t eva_svc_set_op_fn(uint16_t abi_version, eva_ffi_op_fn f)
{
#ifndef BREAK_ABI_VERSION
    if (abi_version != EVA_FFI_ABI_VERSION)
        return EVA_ERR_CODE_UNSUPPORTED;
#else
    (void)abi_version; /* Broken: any version is accepted. */
#endif
    atomic_store(&g_op_fn, f);
#ifdef RELY_PROBE
    probe_set_op(f);
#endif
    return EVA_OK;
}

EXPORT_GET_RESULT int16_t eva_svc_get_result(struct EvaFFIBuffer *buf)
{
    if (!buf)
        return EVA_ERR_CODE_INVALID_PARAMS;
#ifdef BREAK_GLOBAL_RESULT
    pthread_mutex_lock(&g_shared_mu);
    const msgpack_sbuffer *res = &g_shared_out;
#else
    const msgpack_sbuffer *res = &tls.out;
#endif
    int16_t rc = EVA_OK;
    size_t n = res->size;
    if (n > 0 && buf->data == NULL) {
        rc = EVA_ERR_CODE_ABORTED;
    }
#ifndef BREAK_BOUNDS
    else if (n > buf->max) {
        rc = EVA_ERR_CODE_ABORTED; /* nothing is written */
    }
#endif
    else {
        /* Broken (BREAK_BOUNDS): the size check above is missing. */
        if (n > 0)
            memcpy(buf->data, res->data, n);
        buf->len = n;
    }
#ifdef BREAK_GLOBAL_RESULT
    pthread_mutex_unlock(&g_shared_mu);
#endif
    return rc;
}

/* ------------------------------------------------------------------------ */
/* svc_init                                                                  */

static int32_t init_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int32_t init_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("reference: svc_init: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EVA_ERR_CODE_INVALID_PARAMS;
}

static int32_t parse_config(const msgpack_object *cfg, const msgpack_object **items)
{
    if (cfg->type == MSGPACK_OBJECT_NIL)
        return EVA_OK;
    if (cfg->type != MSGPACK_OBJECT_MAP)
        return init_fail("config must be a map, got %s", obj_type_name(cfg->type));
    for (uint32_t i = 0; i < cfg->via.map.size; i++) {
        const msgpack_object *k = &cfg->via.map.ptr[i].key;
        const msgpack_object *v = &cfg->via.map.ptr[i].val;
        if (KEY_IS(k, "items")) {
            if (v->type == MSGPACK_OBJECT_NIL)
                continue;
            if (v->type != MSGPACK_OBJECT_ARRAY)
                return init_fail("config.items must be a list of OIDs, got %s", obj_type_name(v->type));
            *items = v;
        } else if (KEY_IS(k, "auto_create")) {
            if (v->type == MSGPACK_OBJECT_NIL)
                continue;
            if (v->type != MSGPACK_OBJECT_BOOLEAN)
                return init_fail("config.auto_create must be a bool, got %s", obj_type_name(v->type));
            g_auto_create = v->via.boolean;
        } else if (k->type == MSGPACK_OBJECT_STR) {
#ifdef RELY_PROBE
            continue; /* the probe takes any key (it dumps them on stderr) */
#endif
            return init_fail("config: unknown key \"%.*s\"", (int)(k->via.str.size > 200 ? 200 : k->via.str.size),
                             k->via.str.ptr);
        } else {
            return init_fail("config: unknown key of type %s", obj_type_name(k->type));
        }
    }
    return EVA_OK;
}

static int32_t parse_initial(const msgpack_object *root, const msgpack_object **items)
{
    if (root->type != MSGPACK_OBJECT_MAP)
        return init_fail("the initial payload is not a map");
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        const msgpack_object *v = &root->via.map.ptr[i].val;
        if (KEY_IS(k, "config")) {
            int32_t rc = parse_config(v, items);
            if (rc != EVA_OK)
                return rc;
        } else if (KEY_IS(k, "core")) {
            if (v->type != MSGPACK_OBJECT_MAP)
                return init_fail("core must be a map");
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                const msgpack_object *ck = &v->via.map.ptr[j].key;
                const msgpack_object *cv = &v->via.map.ptr[j].val;
                if (!KEY_IS(ck, "log_level"))
                    continue;
                int64_t level;
                if (!obj_int64(cv, &level) || level < 0)
                    return init_fail("core.log_level must be an unsigned integer");
                atomic_store(&g_log_level, level > EVA_LOG_LEVEL_OFF ? EVA_LOG_LEVEL_OFF : (int)level);
            }
        } else if (KEY_IS(k, "timeout")) {
            if (v->type != MSGPACK_OBJECT_MAP)
                continue;
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                double s;
                if (KEY_IS(&v->via.map.ptr[j].key, "shutdown") && obj_number(&v->via.map.ptr[j].val, &s) &&
                    s > 0)
                    g_shutdown_timeout = s;
            }
        } else if (KEY_IS(k, "id")) {
            if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0)
                return init_fail("id must be a non-empty string");
            static const char prefix[] = "eva/svc_data/", suffix[] = "/items";
            size_t n = sizeof prefix - 1 + v->via.str.size + sizeof suffix;
            free(g_registry_key);
            g_registry_key = malloc(n);
            if (!g_registry_key)
                return init_fail("out of memory");
            snprintf(g_registry_key, n, "%s%.*s%s", prefix, (int)v->via.str.size, v->via.str.ptr, suffix);
        } else if (KEY_IS(k, "workers")) {
            int64_t w;
            if (obj_int64(v, &w))
                g_workers = w;
        } else if (KEY_IS(k, "fail_mode")) {
            g_fail_mode = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
        } else if (KEY_IS(k, "react_to_fail")) {
            g_react_to_fail = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
        }
        /* anything else: ignored (newer nodes add keys) */
    }
    return EVA_OK;
}

static int32_t create_items(const msgpack_object *items)
{
    if (!items)
        return EVA_OK;
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        const msgpack_object *o = &items->via.array.ptr[i];
        size_t kind_len;
        if (o->type != MSGPACK_OBJECT_STR)
            return init_fail("config.items[%" PRIu32 "] must be an OID string, got %s", i, obj_type_name(o->type));
        if (!oid_valid(o->via.str.ptr, o->via.str.size, &kind_len))
            return init_fail("config.items[%" PRIu32 "]: invalid OID \"%.*s\"", i,
                             (int)(o->via.str.size > 200 ? 200 : o->via.str.size), o->via.str.ptr);
        int32_t err = EVA_OK;
        struct item *it = item_acquire(o->via.str.ptr, o->via.str.size, kind_len, true, &err);
        if (!it) {
            fprintf(stderr, "reference: svc_init: out of memory\n");
            return err;
        }
        pthread_mutex_unlock(&it->mu);
    }
    return EVA_OK;
}

EXPORT int32_t svc_init(struct EvaFFIBuffer *initial)
{
    struct tls_state *t = tls_get();
    if (!t) {
        fprintf(stderr, "reference: svc_init: out of memory\n");
        return EVA_ERR_CODE_SYSTEM_ERROR;
    }
    result_begin(t);

    /* a fresh lifecycle (a harness may run several in one process) */
    atomic_store(&g_ready, false);
    atomic_store(&g_bus_up, false);
    atomic_store(&g_stopped, false);
    atomic_store(&g_log_level, EVA_LOG_LEVEL_INFO);
    g_auto_create = g_fail_mode = g_react_to_fail = false;
    g_shutdown_timeout = 5.0;
    g_workers = 1;
    atomic_store(&g_restored, false);
    g_restore_rc = EVA_OK;
    atomic_store(&g_save_dirty, false);
    atomic_store(&g_saver_detached, false);
    table_clear();
    free(g_info);
    g_info = NULL;
    g_info_len = 0;
    free(g_registry_key);
    g_registry_key = NULL;

#ifdef RELY_PROBE
    probe_init(initial);
#endif
    if (!initial || (initial->len > 0 && !initial->data))
        return result_end(t, init_fail("no initial payload"));
    msgpack_object root;
    if (!unpack_one(t, initial->data, initial->len, &root))
        return result_end(t, init_fail("the initial payload is not valid MessagePack"));
    const msgpack_object *items = NULL;
    int32_t rc = parse_initial(&root, &items);
    if (rc == EVA_OK)
        rc = create_items(items);
    if (rc != EVA_OK) {
        table_clear();
        return result_end(t, rc);
    }

    msgpack_packer pk;
    msgpack_packer_init(&pk, &t->out, msgpack_sbuffer_write);
    if (pack_info(&pk) != 0 || !(g_info = malloc(t->out.size))) {
        fprintf(stderr, "reference: svc_init: out of memory\n");
        table_clear();
        return result_end(t, EVA_ERR_CODE_SYSTEM_ERROR);
    }
    memcpy(g_info, t->out.data, t->out.size);
    g_info_len = t->out.size;
#ifdef RELY_INFO_ZERO
    /* Relies on the launcher: a 0 return gives the launcher's dummy info. */
    msgpack_sbuffer_clear(&t->out);
    return result_end(t, EVA_OK);
#else
    return result_end(t, (int32_t)t->out.size);
#endif
}

/* ------------------------------------------------------------------------ */
/* svc_prepare / svc_launch / svc_terminate                                  */

/* Outgoing RPC calls. The call buffer (target, NUL, method, NUL, params) is
 * built in the thread's pub buffer: rpc_begin writes the names and sets up a
 * packer for the params, rpc_finish makes the call and fetches the result. */
struct rpc_reply {
    int32_t code;        /* < 0: the call failed; 0: no payload; 1: obj is set */
    msgpack_object obj;  /* in the thread's zone; may point into the result */
    char *mine;          /* the buffer we allocated for GET_RPC_RESULT */
};

static int rpc_begin(struct tls_state *t, const char *target, const char *method, msgpack_packer *pk)
{
    sbuffer_trim(&t->pub);
    msgpack_packer_init(pk, &t->pub, msgpack_sbuffer_write);
    return msgpack_sbuffer_write(&t->pub, target, strlen(target) + 1) |
           msgpack_sbuffer_write(&t->pub, method, strlen(method) + 1);
}

/* Makes the call and reads its result in a way that works with either
 * GET_RPC_RESULT behaviour: the launcher may copy into our buffer, or repoint
 * data/len/max at its own copy (valid until this thread's next RPC_CALL). We
 * read len bytes from wherever data points afterwards and free only our own
 * buffer. Returns INVALID_DATA when a result cannot be decoded (or
 * SYSTEM_ERROR when out of memory), else EVA_OK with r->code set. Release r
 * with rpc_reply_free after use: r->obj may point into either buffer.
 * misread only matters in the BREAK_RESULT_MODE variant, where the result of
 * such a call (the registry read at prepare) is read the broken way. */
static int16_t rpc_finish(struct tls_state *t, const char *what, bool misread, struct rpc_reply *r)
{
    memset(r, 0, sizeof *r);
#ifndef BREAK_RESULT_MODE
    (void)misread;
#endif
    struct EvaFFIBuffer req = {.len = t->pub.size, .data = t->pub.data, .max = t->pub.alloc};
    int32_t n = op_call(EVA_FFI_SVC_OP_RPC_CALL, &req);
    if (n <= 0) {
        r->code = n;
        return EVA_OK;
    }
    r->mine = malloc((size_t)n);
    if (!r->mine)
        return EVA_ERR_CODE_SYSTEM_ERROR;
#ifdef BREAK_RESULT_MODE
    if (misread)
        memset(r->mine, 0xc1, (size_t)n); /* 0xc1 is never valid MessagePack */
#endif
    struct EvaFFIBuffer res = {.len = 0, .data = r->mine, .max = (size_t)n};
    int32_t rc = op_call(EVA_FFI_SVC_OP_GET_RPC_RESULT, &res);
    if (rc < 0) {
        log_warn("%s: GET_RPC_RESULT failed: %" PRId32, what, rc);
        r->code = rc;
        return EVA_OK;
    }
    const char *p = res.data;
    size_t len = res.len;
    if (p == r->mine && len > (size_t)n)
        len = 0; /* claims more than it could have written */
#ifdef BREAK_RESULT_MODE
    if (misread) {
        /* Broken: reads its own buffer even when the launcher repointed
         * data (so it works only when the launcher copies). */
        p = r->mine;
        len = (size_t)n;
    }
#endif
    if (!unpack_one(t, p, len, &r->obj)) {
        log_error("%s: the result (%zu bytes) is not valid MessagePack", what, len);
        return EVA_ERR_CODE_INVALID_DATA;
    }
    r->code = 1;
    return EVA_OK;
}

static void rpc_reply_free(struct tls_state *t, struct rpc_reply *r)
{
    msgpack_zone_clear(&t->zone);
    free(r->mine);
    r->mine = NULL;
}

/* eva.core test: the core must answer; what it says is only logged. */
static int16_t check_core(struct tls_state *t)
{
    msgpack_packer pk;
    if (rpc_begin(t, "eva.core", "test", &pk) != 0)
        return EVA_ERR_CODE_SYSTEM_ERROR;
#ifdef RELY_RPC_NO_NUL
    /* Relies on the launcher: no NUL after a method without params (the
     * official C++ SDK sends its calls so); the ABI text asks for one. */
    t->pub.size--;
#endif
    struct rpc_reply r;
    int16_t rc = rpc_finish(t, "eva.core test", false, &r);
    if (rc == EVA_OK) {
        if (r.code < 0) {
            log_warn("eva.core test failed: %" PRId32, r.code);
        } else if (r.code == 0) {
            log_debug("eva.core test: no payload");
        } else if (r.obj.type != MSGPACK_OBJECT_MAP) {
            log_warn("eva.core test: expected a map, got %s", obj_type_name(r.obj.type));
        } else {
            const msgpack_object *version = NULL;
            for (uint32_t i = 0; i < r.obj.via.map.size; i++)
                if (KEY_IS(&r.obj.via.map.ptr[i].key, "version") &&
                    r.obj.via.map.ptr[i].val.type == MSGPACK_OBJECT_STR)
                    version = &r.obj.via.map.ptr[i].val;
            if (version)
                log_debug("eva.core test: %" PRIu32 " fields, version %.*s", r.obj.via.map.size,
                          (int)(version->via.str.size > 64 ? 64 : version->via.str.size), version->via.str.ptr);
            else
                log_debug("eva.core test: %" PRIu32 " fields", r.obj.via.map.size);
        }
    }
    rpc_reply_free(t, &r);
    return rc;
}

/* Item states survive restarts through the node registry: key
 * eva/svc_data/<svc id>/items (g_registry_key) holds {oid: {status, value}}.
 * Read at prepare (NOT_FOUND: nothing saved yet), written at terminate. */

static void restore_entry(struct tls_state *t, const msgpack_object *k, const msgpack_object *v)
{
    size_t kind_len;
    if (k->type != MSGPACK_OBJECT_STR || !oid_valid(k->via.str.ptr, k->via.str.size, &kind_len) ||
        v->type != MSGPACK_OBJECT_MAP) {
        log_warn("registry: a saved item is not {OID: {status, value}}, skipped");
        return;
    }
    bool has_status = false;
    int16_t status = EVA_ITEM_STATUS_OK;
    const msgpack_object *value = NULL;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object *fk = &v->via.map.ptr[i].key;
        const msgpack_object *fv = &v->via.map.ptr[i].val;
        int64_t s;
        if (KEY_IS(fk, "status") && obj_int64(fv, &s) && s >= INT16_MIN && s <= INT16_MAX) {
            has_status = true;
            status = (int16_t)s;
        } else if (KEY_IS(fk, "value")) {
            value = fv;
        }
    }
    int32_t rc = item_update(t, k->via.str.ptr, k->via.str.size, kind_len, true, has_status, status, value);
    if (rc < 0)
        log_warn("registry: %.*s not restored: %" PRId32, (int)k->via.str.size, k->via.str.ptr, rc);
}

static int16_t restore_items(struct tls_state *t)
{
    if (!g_registry_key)
        return EVA_OK;
    msgpack_packer pk;
    int e = rpc_begin(t, "eva.registry", "key_get", &pk);
    e |= msgpack_pack_map(&pk, 1) | pack_cstr(&pk, "key") | pack_cstr(&pk, g_registry_key);
    if (e != 0)
        return EVA_ERR_CODE_SYSTEM_ERROR;
    struct rpc_reply r;
    int16_t rc = rpc_finish(t, "registry key_get", true, &r);
    if (rc == EVA_OK) {
        if (r.code == EVA_ERR_CODE_NOT_FOUND || r.code == 0 ||
            (r.code > 0 && r.obj.type == MSGPACK_OBJECT_NIL)) {
            log_debug("registry: no saved items");
        } else if (r.code < 0) {
            log_warn("registry: key_get %s failed: %" PRId32 ", items not restored", g_registry_key, r.code);
        } else if (r.obj.type != MSGPACK_OBJECT_MAP) {
            log_warn("registry: %s is a %s, not a map; items not restored", g_registry_key,
                     obj_type_name(r.obj.type));
        } else {
            for (uint32_t i = 0; i < r.obj.via.map.size; i++)
                restore_entry(t, &r.obj.via.map.ptr[i].key, &r.obj.via.map.ptr[i].val);
            log_info("registry: %" PRIu32 " items restored", r.obj.via.map.size);
        }
    }
    rpc_reply_free(t, &r);
    return rc;
}

static void save_items(struct tls_state *t)
{
    if (!g_registry_key)
        return;
    msgpack_packer pk;
    int e = rpc_begin(t, "eva.registry", "key_set", &pk);
    e |= msgpack_pack_map(&pk, 2) | pack_cstr(&pk, "key") | pack_cstr(&pk, g_registry_key) | pack_cstr(&pk, "value");
    pthread_rwlock_rdlock(&g_items.lock);
    size_t count = g_items.count;
    e |= msgpack_pack_map(&pk, count);
    for (size_t i = 0; i < count && e == 0; i++) {
        struct item *it = g_items.sorted[i];
        pthread_mutex_lock(&it->mu);
        e |= pack_strn(&pk, it->text, it->oid_len) | msgpack_pack_map(&pk, 2) | pack_strn(&pk, "status", 6) |
             msgpack_pack_int16(&pk, it->status) | pack_strn(&pk, "value", 5) | pack_value(&pk, it);
        pthread_mutex_unlock(&it->mu);
    }
    pthread_rwlock_unlock(&g_items.lock);
    if (e != 0) {
        log_error("registry: out of memory, items not saved");
        return;
    }
    struct rpc_reply r;
    if (rpc_finish(t, "registry key_set", false, &r) == EVA_OK && r.code < 0)
        log_warn("registry: key_set %s failed: %" PRId32 ", items not saved", g_registry_key, r.code);
    else
        log_debug("registry: %zu items saved", count);
    rpc_reply_free(t, &r);
}

/* fail_mode + react_to_fail: every configured item goes to status -1. */
static void mark_items_failed(struct tls_state *t)
{
    pthread_rwlock_rdlock(&g_items.lock);
    for (size_t i = 0; i < g_items.count; i++) {
        struct item *it = g_items.sorted[i];
        pthread_mutex_lock(&it->mu);
        it->status = EVA_ITEM_STATUS_ERROR;
        int32_t rc = publish_state(t, it);
        pthread_mutex_unlock(&it->mu);
        if (rc < 0)
            log_warn("%s: RAW event not published: %" PRId32, it->text, rc);
    }
    pthread_rwlock_unlock(&g_items.lock);
}

static void mark_dirty(void);

/* The first item call after svc_prepare (on a call thread, never on the
 * launcher's) checks the core and restores the saved items; the calls that
 * arrive meanwhile wait for it. Its outcome answers every later item call:
 * a failed read leaves the service unusable, as a failed prepare would. */
static int32_t ensure_restored(struct tls_state *t)
{
    if (atomic_load_explicit(&g_restored, memory_order_acquire))
        return g_restore_rc;
    pthread_mutex_lock(&g_restore_mu);
    if (!atomic_load_explicit(&g_restored, memory_order_relaxed)) {
        int16_t rc = check_core(t);
        if (rc == EVA_OK)
            rc = restore_items(t);
        if (rc == EVA_OK && g_fail_mode && g_react_to_fail)
            mark_items_failed(t); /* the saved states were restored over them */
        g_restore_rc = rc;
        atomic_store_explicit(&g_restored, true, memory_order_release);
        /* the configured items join the saved ones in the registry */
        if (rc == EVA_OK)
            mark_dirty();
    }
    int32_t rc = g_restore_rc;
    pthread_mutex_unlock(&g_restore_mu);
    return rc;
}

static void save_wake(void)
{
    pthread_mutex_lock(&g_save_mu);
    pthread_cond_signal(&g_save_cv);
    pthread_mutex_unlock(&g_save_mu);
}

/* A change to save: only the first change after a save wakes the saver. */
static void mark_dirty(void)
{
    if (g_registry_key && !atomic_exchange(&g_save_dirty, true))
        save_wake();
}

/* Saves after changes, at most every 50 ms. With workers >= 2 it makes the
 * last save while svc_terminate waits for it; with one worker svc_terminate
 * cannot wait for an RPC_CALL, so it stops the saver without a last save. */
static void *saver_main(void *arg)
{
    (void)arg;
    struct tls_state *t = tls_get();
    for (;;) {
        pthread_mutex_lock(&g_save_mu);
        while (!g_save_quit && !atomic_load(&g_save_dirty))
            pthread_cond_wait(&g_save_cv, &g_save_mu);
        bool quit = g_save_quit;
        /* the last save is made only where svc_terminate can wait for it */
        g_save_busy = !quit || (g_workers >= 2 && atomic_load(&g_save_dirty));
        bool save = g_save_busy;
        pthread_mutex_unlock(&g_save_mu);
        if (!save)
            break;
        atomic_store(&g_save_dirty, false);
        /* nothing restored yet: nothing to overwrite the registry with */
        if (t && atomic_load_explicit(&g_restored, memory_order_acquire) && g_restore_rc == EVA_OK)
            save_items(t);
        pthread_mutex_lock(&g_save_mu);
        g_save_busy = false;
        pthread_mutex_unlock(&g_save_mu);
        if (quit)
            break;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 50000000}, NULL);
    }
    if (t)
        tls_release(t);
    return NULL;
}

EXPORT int16_t svc_prepare(void)
{
    struct tls_state *t = tls_get();
    if (!t)
        return EVA_ERR_CODE_SYSTEM_ERROR;
    atomic_store(&g_bus_up, true);
#ifdef BREAK_PREPARE_RPC
    /* Broken: reads the registry right here, on the launcher's thread. Fine
     * with workers >= 2; hangs a one-worker EVA ICS 4.2 node. */
    pthread_mutex_lock(&g_restore_mu);
    g_restore_rc = restore_items(t);
    atomic_store(&g_restored, true);
    pthread_mutex_unlock(&g_restore_mu);
    if (g_restore_rc != EVA_OK)
        return (int16_t)g_restore_rc;
#endif
#if defined(RELY_SUBSCRIBE_NO_NUL)
    /* Relies on the launcher: the last topic needs no NUL (as the C++ SDK
     * sends it). */
    static const char topics[] = {'S', 'V', 'C', '/', 'S', 'T'};
#elif defined(BREAK_EMPTY_TOPIC)
    /* Broken: an empty topic after SVC/ST: the real launcher loops for ever. */
    static const char topics[] = "SVC/ST\0";
#endif
#if defined(RELY_SUBSCRIBE_NO_NUL) || defined(BREAK_EMPTY_TOPIC)
    {
        struct EvaFFIBuffer b = {.len = sizeof topics, .data = (char *)topics, .max = sizeof topics};
        int32_t src = op_call(EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC, &b);
        if (src != EVA_OK)
            log_warn("subscribe SVC/ST: %" PRId32, src);
    }
#endif
#ifdef RELY_PROBE
    probe_prepare();
#endif
    if (g_fail_mode) {
        if (g_react_to_fail)
            mark_items_failed(t);
        else
            log_warn("fail_mode is set without react_to_fail");
    }
    atomic_store(&g_ready, true);
    log_info("ready, %zu items", g_items.count);
    return EVA_OK;
}

#ifdef BREAK_TERMINATE
/* Broken: a publisher thread that is never stopped or joined, and that calls
 * the op function directly. */
static void *chatter(void *arg)
{
    (void)arg;
    static char buf[] = "RAW/lvar/reference/chatter\0\x82\xa6status\x01\xa5value\xc0";
    for (;;) {
        eva_ffi_op_fn f = atomic_load(&g_op_fn);
        struct EvaFFIBuffer b = {.len = sizeof buf - 1, .data = buf, .max = sizeof buf - 1};
        if (f)
            f(EVA_FFI_SVC_OP_PUBLISH_TOPIC, &b);
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 5000000}, NULL);
    }
    return NULL;
}
#endif

EXPORT int16_t svc_launch(void)
{
    if (g_registry_key && !g_saver_up) {
        pthread_mutex_lock(&g_save_mu);
        g_save_quit = false;
        pthread_mutex_unlock(&g_save_mu);
        g_saver_up = pthread_create(&g_saver, NULL, saver_main, NULL) == 0;
        if (!g_saver_up)
            log_warn("registry: no saver thread, item states will not be saved");
    }
#ifdef RELY_PROBE
    probe_launch();
#endif
#ifdef RELY_EARLY_RAW
    /* Relies on nothing: publishes every item's state before the core is
     * active (the core drops these events; a node's core never learns them). */
    {
        struct tls_state *t = tls_get();
        size_t n = 0;
        pthread_rwlock_rdlock(&g_items.lock);
        for (size_t i = 0; t && i < g_items.count; i++) {
            struct item *it = g_items.sorted[i];
            pthread_mutex_lock(&it->mu);
            if (publish_state(t, it) == EVA_OK)
                n++;
            pthread_mutex_unlock(&it->mu);
        }
        pthread_rwlock_unlock(&g_items.lock);
        log_info("published %zu item states in svc_launch", n);
    }
#endif
#ifdef BREAK_TERMINATE
    pthread_t th;
    if (pthread_create(&th, NULL, chatter, NULL) == 0)
        pthread_detach(th);
#endif
    return EVA_OK;
}

EXPORT int16_t svc_terminate(void)
{
    /* from here on methods answer NOT_READY */
    bool was_ready = atomic_exchange(&g_ready, false);
    log_info("terminating");
#ifdef RELY_PROBE
    probe_terminate();
#endif
    (void)was_ready;
    if (g_saver_up) {
        pthread_mutex_lock(&g_save_mu);
        g_save_quit = true;
        pthread_cond_signal(&g_save_cv);
        bool saving = g_save_busy;
        pthread_mutex_unlock(&g_save_mu);
        /* With one worker a save under way cannot end while we are here (the
         * launcher's only thread is ours): leave the saver to finish after
         * we return. Otherwise wait for it, and for its last save. */
        if (g_workers <= 1 && saving) {
            g_saver_detached = true;
            pthread_detach(g_saver);
        } else {
            pthread_join(g_saver, NULL);
        }
        g_saver_up = false;
    }
#ifdef BREAK_PREPARE_RPC
    /* Broken: an RPC_CALL on the launcher's thread (see svc_prepare). */
    struct tls_state *t = tls_get();
    if (was_ready && t && atomic_load(&g_restored) && g_restore_rc == EVA_OK)
        save_items(t);
#endif
    atomic_store(&g_stopped, true);
    /* wait until op calls already under way (on other threads) are over, so
     * that none is made after this returns */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    double limit = g_shutdown_timeout / 2;
    int others = tls.op_depth + (atomic_load(&g_saver_detached) ? 1 : 0);
    while (atomic_load(&g_op_inflight) > others) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 > limit)
            break;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 100000}, NULL);
    }
    return EVA_OK;
}

/* ------------------------------------------------------------------------ */
/* RPC methods                                                               */

enum method { M_UNKNOWN, M_TEST, M_INFO, M_STOP, M_LIST, M_GET, M_SET };

static enum method method_lookup(const char *m, size_t n)
{
#ifdef BREAK_METHOD_BYTES
    /* Broken: treats the method as a C string. */
    n = strlen(m);
#endif
    switch (n) {
    case 3:
        if (memcmp(m, "get", 3) == 0)
            return M_GET;
        if (memcmp(m, "set", 3) == 0)
            return M_SET;
        break;
    case 4:
        if (memcmp(m, "list", 4) == 0)
            return M_LIST;
        if (memcmp(m, "test", 4) == 0)
            return M_TEST;
        if (memcmp(m, "info", 4) == 0)
            return M_INFO;
        if (memcmp(m, "stop", 4) == 0)
            return M_STOP;
        break;
    default:
        break;
    }
    return M_UNKNOWN;
}

/* Parses the params map of get/set. */
struct item_params {
    const char *oid;
    size_t oid_len;
    size_t kind_len;
    bool has_status;
    int16_t status;
    const msgpack_object *value; /* NULL: keep */
};

static int32_t parse_item_params(struct tls_state *t, const struct EvaFFIRpcEvent *ev, bool for_set,
                                 struct item_params *p)
{
    msgpack_object root;
    memset(&root, 0, sizeof root);
    memset(p, 0, sizeof *p);
    if (!unpack_one(t, ev->payload, ev->payload_size, &root))
        return EVA_ERR_CODE_INVALID_PARAMS;
    REQUIRE_TYPE(root, MSGPACK_OBJECT_MAP);
    const msgpack_object *oid = NULL;
    for (uint32_t i = 0; i < root.via.map.size; i++) {
        const msgpack_object *k = &root.via.map.ptr[i].key;
        const msgpack_object *v = &root.via.map.ptr[i].val;
        if (KEY_IS(k, "i")) {
            REQUIRE_TYPE(*v, MSGPACK_OBJECT_STR);
            oid = v;
        } else if (for_set && KEY_IS(k, "status")) {
            int64_t s;
            if (v->type == MSGPACK_OBJECT_NIL) {
                p->has_status = false;
                continue;
            }
            if (!obj_int64(v, &s) || s < INT16_MIN || s > INT16_MAX)
                return EVA_ERR_CODE_INVALID_PARAMS;
            p->has_status = true;
            p->status = (int16_t)s;
        } else if (for_set && KEY_IS(k, "value")) {
            p->value = v;
        }
    }
    if (!oid || !oid_valid(oid->via.str.ptr, oid->via.str.size, &p->kind_len))
        return EVA_ERR_CODE_INVALID_PARAMS;
    p->oid = oid->via.str.ptr;
    p->oid_len = oid->via.str.size;
    return EVA_OK;
}

static int32_t m_list(struct tls_state *t, const struct EvaFFIRpcEvent *ev)
{
    if (ev->payload_size > 0)
        return EVA_ERR_CODE_INVALID_PARAMS;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &t->out, msgpack_sbuffer_write);
    pthread_rwlock_rdlock(&g_items.lock);
    int e = msgpack_pack_array(&pk, g_items.count);
    for (size_t i = 0; i < g_items.count && e == 0; i++) {
        struct item *it = g_items.sorted[i];
        pthread_mutex_lock(&it->mu);
        e = pack_state(&pk, it);
        pthread_mutex_unlock(&it->mu);
    }
    pthread_rwlock_unlock(&g_items.lock);
    return e == 0 ? (int32_t)t->out.size : EVA_ERR_CODE_SYSTEM_ERROR;
}

static int32_t m_get(struct tls_state *t, const struct EvaFFIRpcEvent *ev)
{
    struct item_params p;
    int32_t rc = parse_item_params(t, ev, false, &p);
    if (rc != EVA_OK)
        return rc;
    struct item *it = item_acquire(p.oid, p.oid_len, p.kind_len, false, &rc);
    if (!it)
        return rc;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &t->out, msgpack_sbuffer_write);
    int e = pack_state(&pk, it);
    pthread_mutex_unlock(&it->mu);
    return e == 0 ? (int32_t)t->out.size : EVA_ERR_CODE_SYSTEM_ERROR;
}

static int32_t m_set(struct tls_state *t, const struct EvaFFIRpcEvent *ev)
{
    struct item_params p;
    int32_t rc = parse_item_params(t, ev, true, &p);
    if (rc != EVA_OK)
        return rc;
    rc = item_update(t, p.oid, p.oid_len, p.kind_len, g_auto_create, p.has_status, p.status, p.value);
    if (rc == EVA_OK)
        mark_dirty();
    return rc;
}

static int32_t m_info(struct tls_state *t)
{
    if (!g_info)
        return EVA_ERR_CODE_NOT_READY;
    return msgpack_sbuffer_write(&t->out, g_info, g_info_len) == 0 ? (int32_t)g_info_len : EVA_ERR_CODE_SYSTEM_ERROR;
}

/* test/info/stop take no params; a payload, if any, must at least parse. */
static bool payload_acceptable(struct tls_state *t, const struct EvaFFIRpcEvent *ev)
{
    msgpack_object o;
    return ev->payload_size == 0 || unpack_one(t, ev->payload, ev->payload_size, &o);
}

EXPORT int32_t svc_on_rpc_call(struct EvaFFIRpcEvent *ev)
{
    struct tls_state *t = tls_get();
    if (!t)
        return EVA_ERR_CODE_SYSTEM_ERROR;
    result_begin(t);
    if (!ev)
        return result_end(t, EVA_ERR_CODE_INVALID_REQUEST);
    if (ev->method_size > 0 && !ev->method)
        return result_end(t, EVA_ERR_CODE_METHOD_NOT_FOUND);
    if (ev->payload_size > 0 && !ev->payload)
        return result_end(t, EVA_ERR_CODE_INVALID_PARAMS);
    enum method m = method_lookup(ev->method, ev->method_size);
    int32_t rc;
    if (m != M_UNKNOWN && m != M_TEST && atomic_load(&g_stopped))
        return result_end(t, EVA_ERR_CODE_NOT_READY); /* terminated */
    switch (m) {
    case M_TEST:
        rc = payload_acceptable(t, ev) ? EVA_OK : EVA_ERR_CODE_INVALID_PARAMS;
        break;
    case M_INFO:
        rc = payload_acceptable(t, ev) ? m_info(t) : EVA_ERR_CODE_INVALID_PARAMS;
        break;
    case M_STOP:
        if (!payload_acceptable(t, ev)) {
            rc = EVA_ERR_CODE_INVALID_PARAMS;
            break;
        }
        log_info("stop requested");
        rc = op_call(EVA_FFI_SVC_OP_TERMINATE, NULL);
        if (rc > 0)
            rc = EVA_OK;
        break;
    case M_LIST:
    case M_GET:
    case M_SET:
#ifndef BREAK_READY
        if (!atomic_load(&g_ready)) {
            rc = EVA_ERR_CODE_NOT_READY;
            break;
        }
#endif
        rc = ensure_restored(t);
        if (rc == EVA_OK)
            rc = m == M_LIST ? m_list(t, ev) : m == M_GET ? m_get(t, ev) : m_set(t, ev);
        break;
    default:
#ifdef RELY_PROBE
        if (!atomic_load(&g_ready)) {
            rc = EVA_ERR_CODE_NOT_READY;
            break;
        }
        rc = probe_call(ev->method, ev->method_size, ev->payload, ev->payload_size, &t->out);
        if (rc == EVA_OK && t->out.size > 0)
            rc = (int32_t)t->out.size;
#else
        rc = EVA_ERR_CODE_METHOD_NOT_FOUND;
#endif
        break;
    }
    return result_end(t, rc);
}

/* ------------------------------------------------------------------------ */
/* Frames                                                                    */

#ifdef BREAK_FRAMES
static atomic_uint g_frames_seen;
#endif

EXPORT void svc_on_frame(struct EvaFFIFrame *fr)
{
    if (!fr)
        return;
#ifdef RELY_PROBE
    probe_frame(fr);
#endif
#ifdef RELY_SUBSCRIBE_NO_NUL
    if (fr->topic && !strcmp(fr->topic, "SVC/ST"))
        log_info("frame on SVC/ST from %s (%zu bytes)", fr->primary_sender ? fr->primary_sender : "?",
                 fr->payload_size);
#endif
    struct tls_state *t = tls_get();
    if (!t)
        return;
    const char *topic = fr->topic ? fr->topic : "";
    int tlen = (int)strnlen(topic, 200);
    msgpack_object o;
    memset(&o, 0, sizeof o);
#ifdef BREAK_FRAMES
    /* Broken: assumes every payload is a non-empty map. */
    (void)unpack_one(t, fr->payload, fr->payload_size, &o);
    atomic_fetch_add_explicit(&g_frames_seen, (unsigned)o.via.map.ptr[0].key.type, memory_order_relaxed);
    (void)tlen;
#else
    if (fr->payload_size > 0 && !fr->payload) {
        log_debug("frame on %.*s ignored: no payload data", tlen, topic);
    } else if (!unpack_one(t, fr->payload, fr->payload_size, &o)) {
        log_debug("frame on %.*s ignored: the payload is not MessagePack", tlen, topic);
    } else if (o.type != MSGPACK_OBJECT_MAP) {
        log_debug("frame on %.*s ignored: the payload is a %s, not a map", tlen, topic, obj_type_name(o.type));
    } else {
        /* nothing is subscribed: any frame is unexpected */
        log_trace("frame on %.*s ignored", tlen, topic);
    }
#endif
    msgpack_zone_clear(&t->zone);
}
