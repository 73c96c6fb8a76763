/* The fuzz targets' launcher; see include/fuzz_launcher.h. */
#include "fuzz_launcher.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../include/eva_ffi.h"

static atomic_int fuzz_open;
static atomic_int fuzz_terminate_requested;
static atomic_uint fuzz_busy_every;
static atomic_uint fuzz_publish_count;
static atomic_uint fuzz_rpc_error_every;
static atomic_uint fuzz_rpc_count;
static volatile unsigned char fuzz_sink;

static pthread_mutex_t fuzz_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static char *fuzz_registry_value; /* the one key's packed value, NULL = none */
static size_t fuzz_registry_len;

/* A thread's pending RPC result (freed when the thread exits). */
struct fuzz_result {
    char *data;
    size_t len, cap;
    int pending;
    unsigned fetches;
};

static pthread_key_t fuzz_result_key;
static pthread_once_t fuzz_result_once = PTHREAD_ONCE_INIT;

static void fuzz_result_free(void *p)
{
    struct fuzz_result *r = p;
    if (r) {
        free(r->data);
        free(r);
    }
}

static void fuzz_result_key_init(void)
{
    if (pthread_key_create(&fuzz_result_key, fuzz_result_free)) abort();
}

static struct fuzz_result *fuzz_thread_result(void)
{
    pthread_once(&fuzz_result_once, fuzz_result_key_init);
    struct fuzz_result *r = pthread_getspecific(fuzz_result_key);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r || pthread_setspecific(fuzz_result_key, r)) abort();
    }
    return r;
}

static void fuzz_result_set(struct fuzz_result *r, const char *data, size_t len)
{
    if (len > r->cap) {
        char *grown = realloc(r->data, len);
        if (!grown) abort();
        r->data = grown;
        r->cap = len;
    }
    if (len) memcpy(r->data, data, len);
    r->len = len;
    r->pending = len > 0;
}

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

int fuzz_leak_check(void) { return __lsan_do_recoverable_leak_check ? __lsan_do_recoverable_leak_check() : 0; }

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const uint8_t *data, size_t size));

int fuzz_run_driver(int argc, char **argv, int (*test_one_input)(const uint8_t *data, size_t size))
{
    return LLVMFuzzerRunDriver(&argc, &argv, test_one_input);
}

void __sanitizer_report_error_summary(const char *summary) __attribute__((weak));

void fuzz_violation(const char *what)
{
    fprintf(stderr, "finding: %s\n", what);
    /* stderr may be closed (-close_fd_mask=2): the sanitizer's report fd is not */
    if (__sanitizer_report_error_summary) __sanitizer_report_error_summary(what);
    abort();
}

void fuzz_launcher_open(void)
{
    atomic_store(&fuzz_terminate_requested, 0);
    atomic_store(&fuzz_open, 1);
}

void fuzz_launcher_close(void) { atomic_store(&fuzz_open, 0); }

void fuzz_launcher_set_busy_every(unsigned n) { atomic_store(&fuzz_busy_every, n); }

void fuzz_launcher_set_rpc_error_every(unsigned n) { atomic_store(&fuzz_rpc_error_every, n); }

void fuzz_launcher_clear_registry(void)
{
    pthread_mutex_lock(&fuzz_registry_lock);
    free(fuzz_registry_value);
    fuzz_registry_value = NULL;
    fuzz_registry_len = 0;
    pthread_mutex_unlock(&fuzz_registry_lock);
}

int fuzz_launcher_take_terminate(void) { return atomic_exchange(&fuzz_terminate_requested, 0); }

int fuzz_msgpack_single(const void *data, size_t len)
{
    if (!data || !len) return 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack_next(&u, data, len, &off);
    msgpack_unpacked_destroy(&u);
    return rc == MSGPACK_UNPACK_SUCCESS && off == len;
}

int fuzz_msgpack_is_map(const void *data, size_t len)
{
    if (!data || !len) return 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int ok = msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len &&
             u.data.type == MSGPACK_OBJECT_MAP;
    msgpack_unpacked_destroy(&u);
    return ok;
}

int fuzz_known_error(int32_t code)
{
    static const int32_t codes[] = {
        EVA_ERR_CODE_NOT_FOUND, EVA_ERR_CODE_ACCESS_DENIED, EVA_ERR_CODE_SYSTEM_ERROR, EVA_ERR_CODE_OTHER,
        EVA_ERR_CODE_NOT_READY, EVA_ERR_CODE_UNSUPPORTED, EVA_ERR_CODE_CORE_ERROR, EVA_ERR_CODE_TIMEOUT,
        EVA_ERR_CODE_INVALID_DATA, EVA_ERR_CODE_FUNC_FAILED, EVA_ERR_CODE_ABORTED, EVA_ERR_CODE_ALREADY_EXISTS,
        EVA_ERR_CODE_BUSY, EVA_ERR_CODE_METHOD_NOT_IMPLEMENTED, EVA_ERR_CODE_TOKEN_RESTRICTED, EVA_ERR_CODE_IO,
        EVA_ERR_CODE_REGISTRY, EVA_ERR_CODE_EVAHI_AUTH_REQUIRED, EVA_ERR_CODE_ACCESS_DENIED_MORE_DATA_REQUIRED,
        EVA_ERR_CODE_PARSE, EVA_ERR_CODE_INVALID_REQUEST, EVA_ERR_CODE_METHOD_NOT_FOUND,
        EVA_ERR_CODE_INVALID_PARAMS, EVA_ERR_CODE_INTERNAL_RPC, EVA_ERR_CODE_BUS_CLIENT_NOT_REGISTERED,
        EVA_ERR_CODE_BUS_DATA, EVA_ERR_CODE_BUS_IO, EVA_ERR_CODE_BUS_OTHER, EVA_ERR_CODE_BUS_NOT_SUPPORTED,
        EVA_ERR_CODE_BUS_BUSY, EVA_ERR_CODE_BUS_NOT_DELIVERED, EVA_ERR_CODE_BUS_TIMEOUT, EVA_ERR_CODE_BUS_ACCESS,
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (codes[i] == code) return 1;
    }
    return 0;
}

/* Touches every byte, so the sanitizer sees a read past the buffer. */
static void fuzz_touch(const char *data, size_t len)
{
    unsigned char sum = 0;
    for (size_t i = 0; i < len; i++) sum ^= (unsigned char)data[i];
    fuzz_sink ^= sum;
}

static int fuzz_has_prefix(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int32_t fuzz_publish(struct EvaFFIBuffer *buf)
{
    if (!buf || !buf->data || !buf->len) fuzz_violation("PUBLISH without a buffer");
    fuzz_touch(buf->data, buf->len);
    const char *nul = memchr(buf->data, 0, buf->len);
    if (!nul) fuzz_violation("PUBLISH topic not NUL-terminated inside the buffer");
    if (nul == buf->data) fuzz_violation("PUBLISH with an empty topic");
    if (!fuzz_has_prefix(buf->data, "RAW") && !fuzz_has_prefix(buf->data, "ACT/"))
        fuzz_violation("PUBLISH to a topic that is neither RAW... nor ACT/...");
    size_t payload_len = buf->len - (size_t)(nul + 1 - buf->data);
    if (payload_len && !fuzz_msgpack_single(nul + 1, payload_len))
        fuzz_violation("PUBLISH payload is not one MessagePack value");
    unsigned every = atomic_load(&fuzz_busy_every);
    if (every && atomic_fetch_add(&fuzz_publish_count, 1) % every == every - 1) return EVA_ERR_CODE_BUSY;
    return 0;
}

static int32_t fuzz_topics(struct EvaFFIBuffer *buf)
{
    if (!buf || !buf->data || !buf->len) fuzz_violation("SUBSCRIBE without topics");
    fuzz_touch(buf->data, buf->len);
    if (buf->data[buf->len - 1] != 0) fuzz_violation("SUBSCRIBE topics not NUL-terminated");
    if (buf->data[0] == 0) fuzz_violation("SUBSCRIBE with an empty topic");
    return 0;
}

/* The packed "value" of a key_set params map, into out (malloc'd). */
static int fuzz_key_set_value(const char *params, size_t len, char **out, size_t *out_len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int found = 0;
    if (msgpack_unpack_next(&u, params, len, &off) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
        msgpack_object_map m = u.data.via.map;
        for (uint32_t i = 0; i < m.size; i++) {
            msgpack_object k = m.ptr[i].key;
            if (k.type == MSGPACK_OBJECT_STR && k.via.str.size == 5 && !memcmp(k.via.str.ptr, "value", 5)) {
                msgpack_sbuffer sb;
                msgpack_sbuffer_init(&sb);
                msgpack_packer pk;
                msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
                msgpack_pack_object(&pk, m.ptr[i].val);
                *out = sb.data;
                *out_len = sb.size;
                found = 1;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    return found;
}

static int32_t fuzz_rpc_call(struct EvaFFIBuffer *buf)
{
    struct fuzz_result *r = fuzz_thread_result();
    r->pending = 0;
    if (!buf || !buf->data || !buf->len) fuzz_violation("RPC_CALL without a buffer");
    fuzz_touch(buf->data, buf->len);
    const char *end = buf->data + buf->len;
    const char *target = buf->data;
    const char *nul1 = memchr(target, 0, buf->len);
    if (!nul1) fuzz_violation("RPC_CALL target not NUL-terminated");
    const char *method = nul1 + 1;
    const char *nul2 = method < end ? memchr(method, 0, (size_t)(end - method)) : NULL;
    if (!nul2) fuzz_violation("RPC_CALL method not NUL-terminated");
    const char *params = nul2 + 1;
    size_t params_len = (size_t)(end - params);
    if (params_len && !fuzz_msgpack_single(params, params_len))
        fuzz_violation("RPC_CALL params are not one MessagePack value");

    if (!strcmp(target, "eva.registry")) {
        if (!params_len || !fuzz_msgpack_is_map(params, params_len)) fuzz_violation("registry call without a params map");
        if (!strcmp(method, "key_get")) {
            pthread_mutex_lock(&fuzz_registry_lock);
            int32_t rc = EVA_ERR_CODE_NOT_FOUND;
            if (fuzz_registry_value) {
                fuzz_result_set(r, fuzz_registry_value, fuzz_registry_len);
                rc = (int32_t)fuzz_registry_len;
            }
            pthread_mutex_unlock(&fuzz_registry_lock);
            return rc;
        }
        if (!strcmp(method, "key_set")) {
            char *value = NULL;
            size_t value_len = 0;
            if (!fuzz_key_set_value(params, params_len, &value, &value_len)) fuzz_violation("key_set without a value");
            pthread_mutex_lock(&fuzz_registry_lock);
            free(fuzz_registry_value);
            fuzz_registry_value = value;
            fuzz_registry_len = value_len;
            pthread_mutex_unlock(&fuzz_registry_lock);
            return 0;
        }
        return EVA_ERR_CODE_METHOD_NOT_FOUND;
    }
    unsigned every = atomic_load(&fuzz_rpc_error_every);
    if (every && atomic_fetch_add(&fuzz_rpc_count, 1) % every == every - 1) return EVA_ERR_CODE_FUNC_FAILED;
    if (!strcmp(method, "fail")) return EVA_ERR_CODE_FUNC_FAILED;
    if (!strcmp(method, "none")) return 0;
    static const char nil = (char)0xc0;
    if (params_len) {
        fuzz_result_set(r, params, params_len);
    } else {
        fuzz_result_set(r, &nil, 1);
    }
    return (int32_t)r->len;
}

static int32_t fuzz_get_rpc_result(struct EvaFFIBuffer *buf)
{
    struct fuzz_result *r = fuzz_thread_result();
    if (!r->pending) fuzz_violation("GET_RPC_RESULT without a pending result on this thread");
    if (!buf) fuzz_violation("GET_RPC_RESULT without a buffer");
    r->pending = 0;
    if (r->fetches++ % 2 == 0) {
        /* the shipped launcher: repoint at its own copy */
        buf->data = r->data;
        buf->len = r->len;
        buf->max = r->len;
        return 0;
    }
    /* the ABI text: copy into the caller's buffer */
    if (!buf->data || buf->max < r->len) return EVA_ERR_CODE_ABORTED;
    memcpy(buf->data, r->data, r->len);
    buf->len = r->len;
    return 0;
}

int32_t fuzz_op(int16_t op, void *buffer)
{
    struct EvaFFIBuffer *buf = buffer;
    if (!atomic_load(&fuzz_open)) fuzz_violation("op call while no session is open (after svc_terminate?)");
    switch (op) {
    case EVA_FFI_SVC_OP_IS_ACTIVE:
        return atomic_load(&fuzz_terminate_requested) ? 0 : 1;
    case EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC:
    case EVA_FFI_SVC_OP_UNSUBSCRIBE_TOPIC:
        return fuzz_topics(buf);
    case EVA_FFI_SVC_OP_PUBLISH_TOPIC:
        return fuzz_publish(buf);
    case EVA_FFI_SVC_OP_RPC_CALL:
        return fuzz_rpc_call(buf);
    case EVA_FFI_SVC_OP_GET_RPC_RESULT:
        return fuzz_get_rpc_result(buf);
    case EVA_FFI_SVC_OP_LOG_TRACE:
    case EVA_FFI_SVC_OP_LOG_DEBUG:
    case EVA_FFI_SVC_OP_LOG_INFO:
    case EVA_FFI_SVC_OP_LOG_WARN:
    case EVA_FFI_SVC_OP_LOG_ERROR:
        if (buf && buf->len) {
            if (!buf->data) fuzz_violation("LOG with a length and no data");
            fuzz_touch(buf->data, buf->len);
        }
        return 0;
    case EVA_FFI_SVC_OP_TERMINATE:
        atomic_store(&fuzz_terminate_requested, 1);
        return 0;
    case EVA_FFI_SVC_OP_POC:
        if (buf && buf->data) fprintf(stderr, "POC: %.*s\n", (int)buf->len, buf->data);
        fuzz_violation("the library called POC");
    default:
        fuzz_violation("unknown op code");
    }
}
