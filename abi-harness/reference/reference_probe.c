/*
 * The probe: built into libeva-reference-rely-probe.so only (-DRELY_PROBE).
 * It records what the launcher answers, and when, so that the harness's own
 * tests can compare the harness with the real FFI launcher
 * (shared/spec/abi-and-launcher.md) point by point:
 *
 *   - svc_init: IS_ACTIVE, LOG, PUBLISH, SUBSCRIBE, RPC_CALL, an unknown op
 *     and GET_RPC_RESULT(NULL), kept for `probe.report`; the initial payload
 *     and the buffer's len/max printed on stderr as "probe: initial PATH TYPE
 *     VALUE" lines; data_path tried for writing ("probe: data_path ...");
 *   - svc_prepare / svc_launch: IS_ACTIVE; subscribes probe/echo and SVC/ST;
 *   - svc_terminate: IS_ACTIVE, then publishes probe/echo and, with workers
 *     >= 2, waits (0.5 s at most) to receive it back, then publishes probe/terminate
 *     {is_active, echo} (so the order of the stop shows on the harness's
 *     stdout);
 *   - methods (those that act take {go: true}, so that a conformance check
 *     throwing garbage at them does nothing): probe.report, probe.core,
 *     probe.rpc, probe.poc, probe.stop, probe.act, probe.flood, probe.registry,
 *     probe.crash
 *     (aborts, on purpose: a method a check must --skip).
 */
#define _POSIX_C_SOURCE 200809L

#include "reference_probe.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_UNKNOWN_OP 7777

static _Atomic(eva_ffi_op_fn) p_op;
static int64_t p_workers = 1;

/* what svc_init, svc_prepare and svc_launch saw */
static struct {
    int32_t is_active, log, publish, subscribe, rpc, unknown_op, result_null;
} p_init;
static int32_t p_prepare_active = -1, p_launch_active = -1;
static atomic_bool p_echo;

void probe_set_op(eva_ffi_op_fn f)
{
    atomic_store(&p_op, f);
}

static int32_t op(int16_t code, struct EvaFFIBuffer *b)
{
    eva_ffi_op_fn f = atomic_load(&p_op);
    return f ? f(code, b) : -1;
}

static int32_t op_bytes(int16_t code, const char *data, size_t len)
{
    struct EvaFFIBuffer b = {.len = len, .data = (char *)data, .max = len};
    return op(code, &b);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ the dump */

static void print_str(const char *s, size_t n)
{
    for (size_t i = 0; i < n && i < 300; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
}

static void dump(const char *path, const msgpack_object *o)
{
    fprintf(stderr, "probe: initial %s ", path);
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: fputs("nil", stderr); break;
    case MSGPACK_OBJECT_BOOLEAN: fprintf(stderr, "bool %s", o->via.boolean ? "true" : "false"); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(stderr, "integer %" PRIu64, o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(stderr, "integer %" PRId64, o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: fprintf(stderr, "float %g", o->via.f64); break;
    case MSGPACK_OBJECT_STR:
        fputs("str ", stderr);
        print_str(o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN: fprintf(stderr, "bin %" PRIu32, o->via.bin.size); break;
    case MSGPACK_OBJECT_EXT: fputs("ext", stderr); break;
    case MSGPACK_OBJECT_ARRAY: fprintf(stderr, "array %" PRIu32, o->via.array.size); break;
    case MSGPACK_OBJECT_MAP: fprintf(stderr, "map %" PRIu32, o->via.map.size); break;
    }
    fputc('\n', stderr);
    char sub[512];
    if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR)
                continue;
            snprintf(sub, sizeof sub, "%s%s%.*s", path, *path ? "." : "", (int)(k->via.str.size > 100 ? 100 : k->via.str.size),
                     k->via.str.ptr);
            dump(sub, &o->via.map.ptr[i].val);
        }
    } else if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size && i < 20; i++) {
            snprintf(sub, sizeof sub, "%s[%" PRIu32 "]", path, i);
            dump(sub, &o->via.array.ptr[i]);
        }
    }
}

static const msgpack_object *field(const msgpack_object *m, const char *name)
{
    if (!m || m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(name);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

/* data_path must be a folder the service can write to, or "" (user nobody) */
static void try_data_path(const msgpack_object *dp)
{
    if (!dp || dp->type != MSGPACK_OBJECT_STR) {
        fputs("probe: data_path missing or not a string\n", stderr);
        return;
    }
    if (dp->via.str.size == 0) {
        fputs("probe: data_path empty\n", stderr);
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%.*s", (int)(dp->via.str.size > 900 ? 900 : dp->via.str.size), dp->via.str.ptr);
    /* what an earlier run left there (the file below stays: a kept folder shows it next time) */
    DIR *dir = opendir(path);
    if (dir) {
        unsigned entries = 0;
        for (struct dirent *e; (e = readdir(dir));)
            entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        closedir(dir);
        fprintf(stderr, "probe: data_path entries %u\n", entries);
    }
    strcat(path, "/probe-write");
    FILE *f = fopen(path, "w");
    if (f && fputs("ok\n", f) >= 0 && fclose(f) == 0) {
        fputs("probe: data_path writable\n", stderr);
    } else {
        fprintf(stderr, "probe: data_path not writable: %s\n", strerror(errno));
        if (f)
            fclose(f);
    }
}

/* ------------------------------------------------------------ lifecycle */

void probe_init(const struct EvaFFIBuffer *initial)
{
    /* a launcher's stdout is the node's log; a bench keeps it out of its results */
    fputs("probe: a line on stdout from svc_init\n", stdout);
    fflush(stdout);
    p_init.is_active = op(EVA_FFI_SVC_OP_IS_ACTIVE, NULL);
    static const char text[] = "probe: a log line from svc_init";
    p_init.log = op_bytes(EVA_FFI_SVC_OP_LOG_INFO, text, sizeof text);
    static const char pub[] = "probe/init\0\x81\xa1n\x01";
    p_init.publish = op_bytes(EVA_FFI_SVC_OP_PUBLISH_TOPIC, pub, sizeof pub - 1);
    static const char sub[] = "probe/init";
    p_init.subscribe = op_bytes(EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC, sub, sizeof sub);
    static const char rpc[] = "eva.core\0test";
    p_init.rpc = op_bytes(EVA_FFI_SVC_OP_RPC_CALL, rpc, sizeof rpc);
    p_init.unknown_op = op(PROBE_UNKNOWN_OP, NULL);
    p_init.result_null = op(EVA_FFI_SVC_OP_GET_RPC_RESULT, NULL);
    fprintf(stderr, "probe: svc_init is_active=%" PRId32 " log=%" PRId32 " publish=%" PRId32 " subscribe=%" PRId32
                    " rpc=%" PRId32 " unknown_op=%" PRId32 " result_null=%" PRId32 "\n",
            p_init.is_active, p_init.log, p_init.publish, p_init.subscribe, p_init.rpc, p_init.unknown_op,
            p_init.result_null);
    if (!initial || !initial->data)
        return;
    fprintf(stderr, "probe: initial buffer len=%zu max=%zu\n", initial->len, initial->max);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, initial->data, initial->len, &off) == MSGPACK_UNPACK_SUCCESS) {
        dump("", &u.data);
        const msgpack_object *w = field(&u.data, "workers");
        if (w && w->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            p_workers = (int64_t)w->via.u64;
        try_data_path(field(&u.data, "data_path"));
    } else {
        fputs("probe: the initial payload does not decode\n", stderr);
    }
    msgpack_unpacked_destroy(&u);
}

void probe_prepare(void)
{
    p_prepare_active = op(EVA_FFI_SVC_OP_IS_ACTIVE, NULL);
    static const char topics[] = "probe/echo\0SVC/ST";
    int32_t rc = op_bytes(EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC, topics, sizeof topics);
    fprintf(stderr, "probe: svc_prepare is_active=%" PRId32 " subscribe=%" PRId32 "\n", p_prepare_active, rc);
}

void probe_launch(void)
{
    p_launch_active = op(EVA_FFI_SVC_OP_IS_ACTIVE, NULL);
    fprintf(stderr, "probe: svc_launch is_active=%" PRId32 "\n", p_launch_active);
}

void probe_terminate(void)
{
    int32_t active = op(EVA_FFI_SVC_OP_IS_ACTIVE, NULL);
    atomic_store(&p_echo, false);
    static const char echo[] = "probe/echo\0\x81\xa1n\x02";
    int32_t prc = op_bytes(EVA_FFI_SVC_OP_PUBLISH_TOPIC, echo, sizeof echo - 1);
    /* a one-thread launcher routes nothing while svc_terminate runs: do not
     * wait there for what cannot come */
    double until = now_s() + (p_workers >= 2 ? 0.5 : 0);
    while (!atomic_load(&p_echo) && now_s() < until)
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 1000000}, NULL);
    bool got = atomic_load(&p_echo);
    fprintf(stderr, "probe: svc_terminate is_active=%" PRId32 " publish=%" PRId32 " echo=%s\n", active, prc,
            got ? "yes" : "no");
    char buf[64];
    /* probe/terminate {"is_active": int, "echo": bool}, packed by hand */
    static const char topic[] = "probe/terminate";
    size_t n = 0;
    memcpy(buf, topic, sizeof topic);
    n = sizeof topic;
    buf[n++] = (char)0x82;
    buf[n++] = (char)0xa9;
    memcpy(buf + n, "is_active", 9);
    n += 9;
    buf[n++] = (char)(active >= 0 && active < 128 ? active : 0x7f);
    buf[n++] = (char)0xa4;
    memcpy(buf + n, "echo", 4);
    n += 4;
    buf[n++] = (char)(got ? 0xc3 : 0xc2);
    op_bytes(EVA_FFI_SVC_OP_PUBLISH_TOPIC, buf, n);
}

void probe_frame(const struct EvaFFIFrame *fr)
{
    if (!fr || !fr->topic)
        return;
    if (!strcmp(fr->topic, "probe/echo")) {
        atomic_store(&p_echo, true);
        return;
    }
    if (strcmp(fr->topic, "SVC/ST") != 0)
        return;
    const char *status = "?";
    size_t slen = 1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (fr->payload && msgpack_unpack_next(&u, fr->payload, fr->payload_size, &off) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *st = field(&u.data, "status");
        if (st && st->type == MSGPACK_OBJECT_STR) {
            status = st->via.str.ptr;
            slen = st->via.str.size;
        }
    }
    fprintf(stderr, "probe: frame SVC/ST from %s: %.*s\n", fr->primary_sender ? fr->primary_sender : "?", (int)slen,
            status);
    msgpack_unpacked_destroy(&u);
}

/* ------------------------------------------------------------ methods */

static const char *const probe_methods[] = {"probe.report", "probe.core",  "probe.rpc",      "probe.poc",
                                             "probe.stop",   "probe.act",   "probe.flood",    "probe.registry",
                                             "probe.crash"};
#define PROBE_METHODS (sizeof probe_methods / sizeof probe_methods[0])

size_t probe_method_count(void)
{
    return PROBE_METHODS;
}

int probe_pack_methods(msgpack_packer *pk)
{
    int e = 0;
    for (size_t i = 0; i < PROBE_METHODS; i++) {
        const char *m = probe_methods[i];
        e |= msgpack_pack_str(pk, strlen(m)) | msgpack_pack_str_body(pk, m, strlen(m));
        e |= msgpack_pack_map(pk, 2) | msgpack_pack_str(pk, 11) | msgpack_pack_str_body(pk, "description", 11) |
             msgpack_pack_str(pk, 5) | msgpack_pack_str_body(pk, "probe", 5) | msgpack_pack_str(pk, 6) |
             msgpack_pack_str_body(pk, "params", 6) | msgpack_pack_map(pk, 1) | msgpack_pack_str(pk, 2) |
             msgpack_pack_str_body(pk, "go", 2) | msgpack_pack_map(pk, 1) | msgpack_pack_str(pk, 8) |
             msgpack_pack_str_body(pk, "required", 8) | msgpack_pack_false(pk);
    }
    return e;
}

static int key(msgpack_packer *pk, const char *k)
{
    return msgpack_pack_str(pk, strlen(k)) | msgpack_pack_str_body(pk, k, strlen(k));
}

/* params {go: true, ...}: the acting methods need it */
static bool go(const msgpack_object *params)
{
    const msgpack_object *g = field(params, "go");
    return g && g->type == MSGPACK_OBJECT_BOOLEAN && g->via.boolean;
}

/* RPC_CALL target NUL method [NUL params]; the result fetched into *res */
static int32_t call(const char *target, const char *method, msgpack_object *res, msgpack_zone *z)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s%c%s", target, 0, method);
    int32_t rc = op_bytes(EVA_FFI_SVC_OP_RPC_CALL, buf, (size_t)n + 1);
    if (rc > 0 && res) {
        char *mine = malloc((size_t)rc);
        struct EvaFFIBuffer b = {.len = 0, .data = mine, .max = (size_t)rc};
        if (op(EVA_FFI_SVC_OP_GET_RPC_RESULT, &b) == 0) {
            size_t off = 0;
            char *copy = msgpack_zone_malloc(z, b.len ? b.len : 1);
            if (copy && b.data) {
                memcpy(copy, b.data, b.len);
                if (msgpack_unpack(copy, b.len, &off, z, res) != MSGPACK_UNPACK_SUCCESS)
                    res->type = MSGPACK_OBJECT_NIL;
            }
        }
        free(mine);
    }
    return rc;
}

static int32_t m_report(msgpack_packer *pk)
{
    int e = msgpack_pack_map(pk, 4) | key(pk, "init") | msgpack_pack_map(pk, 7);
    e |= key(pk, "is_active") | msgpack_pack_int32(pk, p_init.is_active);
    e |= key(pk, "log") | msgpack_pack_int32(pk, p_init.log);
    e |= key(pk, "publish") | msgpack_pack_int32(pk, p_init.publish);
    e |= key(pk, "subscribe") | msgpack_pack_int32(pk, p_init.subscribe);
    e |= key(pk, "rpc") | msgpack_pack_int32(pk, p_init.rpc);
    e |= key(pk, "unknown_op") | msgpack_pack_int32(pk, p_init.unknown_op);
    e |= key(pk, "result_null") | msgpack_pack_int32(pk, p_init.result_null);
    e |= key(pk, "prepare") | msgpack_pack_map(pk, 1) | key(pk, "is_active") | msgpack_pack_int32(pk, p_prepare_active);
    e |= key(pk, "launch") | msgpack_pack_map(pk, 1) | key(pk, "is_active") | msgpack_pack_int32(pk, p_launch_active);
    e |= key(pk, "call") | msgpack_pack_map(pk, 3) | key(pk, "is_active") |
         msgpack_pack_int32(pk, op(EVA_FFI_SVC_OP_IS_ACTIVE, NULL)) | key(pk, "unknown_op") |
         msgpack_pack_int32(pk, op(PROBE_UNKNOWN_OP, NULL)) | key(pk, "result_null") |
         msgpack_pack_int32(pk, op(EVA_FFI_SVC_OP_GET_RPC_RESULT, NULL));
    return e ? EVA_ERR_CODE_SYSTEM_ERROR : EVA_OK;
}

/* {active: what eva.core test says, code} */
static int32_t m_core(msgpack_packer *pk)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object res = {.type = MSGPACK_OBJECT_NIL};
    int32_t rc = call("eva.core", "test", &res, &z);
    const msgpack_object *a = field(&res, "active");
    int e = msgpack_pack_map(pk, 2) | key(pk, "code") | msgpack_pack_int32(pk, rc) | key(pk, "active");
    if (a && a->type == MSGPACK_OBJECT_BOOLEAN)
        e |= a->via.boolean ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    else
        e |= msgpack_pack_nil(pk);
    msgpack_zone_destroy(&z);
    return e ? EVA_ERR_CODE_SYSTEM_ERROR : EVA_OK;
}

/* GET_RPC_RESULT after calls that returned > 0, an error, and a timeout */
static int32_t m_rpc(msgpack_packer *pk)
{
    static const char ok_call[] = "eva.core\0test";
    int32_t ok = op_bytes(EVA_FFI_SVC_OP_RPC_CALL, ok_call, sizeof ok_call);
    char *fbuf = ok > 0 ? malloc((size_t)ok) : NULL;
    struct EvaFFIBuffer first = {.len = 0, .data = fbuf, .max = ok > 0 ? (size_t)ok : 0};
    int32_t f1 = ok > 0 ? op(EVA_FFI_SVC_OP_GET_RPC_RESULT, &first) : ok;
    size_t first_len = first.len;
    char *first_copy = first_len ? malloc(first_len) : NULL;
    if (first_copy && first.data)
        memcpy(first_copy, first.data, first_len);
    free(fbuf);
    static const char bad_call[] = "eva.core\0probe.no.such.method";
    int32_t bad = op_bytes(EVA_FFI_SVC_OP_RPC_CALL, bad_call, sizeof bad_call);
    char *mine = malloc(first_len + 1);
    struct EvaFFIBuffer after = {.len = 0, .data = mine, .max = first_len + 1};
    int32_t f2 = op(EVA_FFI_SVC_OP_GET_RPC_RESULT, &after);
    bool same = f2 == 0 && first_copy && after.len == first_len && after.data &&
                memcmp(after.data, first_copy, first_len) == 0;
    free(mine);
    free(first_copy);
    static const char lost_call[] = "probe.nobody.here\0test";
    double t0 = now_s();
    int32_t lost = op_bytes(EVA_FFI_SVC_OP_RPC_CALL, lost_call, sizeof lost_call);
    int64_t ms = (int64_t)((now_s() - t0) * 1000);
    int e = msgpack_pack_map(pk, 7) | key(pk, "ok") | msgpack_pack_int(pk, ok > 0 ? 1 : ok) | key(pk, "fetch") |
            msgpack_pack_int32(pk, f1) | key(pk, "error") | msgpack_pack_int32(pk, bad) | key(pk, "fetch_after_error") |
            msgpack_pack_int32(pk, f2) | key(pk, "previous_result") | (same ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) |
            key(pk, "lost") | msgpack_pack_int32(pk, lost) | key(pk, "lost_ms") | msgpack_pack_int64(pk, ms);
    return e ? EVA_ERR_CODE_SYSTEM_ERROR : EVA_OK;
}

static int32_t m_poc(msgpack_packer *pk)
{
    static const char text[] = "probe asked for it";
    int32_t rc = op_bytes(EVA_FFI_SVC_OP_POC, text, sizeof text);
    return msgpack_pack_map(pk, 1) | key(pk, "poc") | msgpack_pack_int32(pk, rc) ? EVA_ERR_CODE_SYSTEM_ERROR : EVA_OK;
}

static int32_t m_stop(msgpack_packer *pk)
{
    int32_t rc = op(EVA_FFI_SVC_OP_TERMINATE, NULL);
    return msgpack_pack_map(pk, 1) | key(pk, "terminate") | msgpack_pack_int32(pk, rc) ? EVA_ERR_CODE_SYSTEM_ERROR
                                                                                          : EVA_OK;
}

/* a COMPLETED action event for a uuid that no call carried */
static int32_t m_act(msgpack_packer *pk)
{
    static const char ev[] = "ACT/unit/tests/u1\0\x82\xa4uuid\xc4\x10"
                             "\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab"
                             "\xa6status\x0f";
    int32_t rc = op_bytes(EVA_FFI_SVC_OP_PUBLISH_TOPIC, ev, sizeof ev - 1);
    return msgpack_pack_map(pk, 1) | key(pk, "published") | msgpack_pack_int32(pk, rc) ? EVA_ERR_CODE_SYSTEM_ERROR
                                                                                         : EVA_OK;
}

/* n publications as fast as possible: how many got BUSY */
static int32_t m_flood(msgpack_packer *pk, const msgpack_object *params)
{
    const msgpack_object *no = field(params, "n");
    uint64_t n = no && no->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? no->via.u64 : 1000;
    if (n > 1000000)
        return EVA_ERR_CODE_INVALID_PARAMS;
    static const char fr[] = "probe/flood\0\xc0";
    uint64_t busy = 0, ok = 0, other = 0;
    for (uint64_t i = 0; i < n; i++) {
        int32_t rc = op_bytes(EVA_FFI_SVC_OP_PUBLISH_TOPIC, fr, sizeof fr - 1);
        if (rc == EVA_ERR_CODE_BUSY)
            busy++;
        else if (rc == 0)
            ok++;
        else
            other++;
    }
    int e = msgpack_pack_map(pk, 3) | key(pk, "ok") | msgpack_pack_uint64(pk, ok) | key(pk, "busy") |
            msgpack_pack_uint64(pk, busy) | key(pk, "other") | msgpack_pack_uint64(pk, other);
    return e ? EVA_ERR_CODE_SYSTEM_ERROR : EVA_OK;
}

/* what eva.registry answers to key_set and key_delete: {set, set_result,
 * delete, delete_result}, the results as hex ("" for none) */
static int pack_call_hex(msgpack_packer *pk, const char *name, const char *buf, size_t len)
{
    int32_t rc = op_bytes(EVA_FFI_SVC_OP_RPC_CALL, buf, len);
    char hex[64] = "";
    if (rc > 0 && rc < 30) {
        char *mine = malloc((size_t)rc);
        struct EvaFFIBuffer b = {.len = 0, .data = mine, .max = (size_t)rc};
        if (op(EVA_FFI_SVC_OP_GET_RPC_RESULT, &b) == 0 && b.data)
            for (size_t i = 0; i < b.len && i < 30; i++)
                snprintf(hex + 2 * i, 3, "%02x", (unsigned char)b.data[i]);
        free(mine);
    }
    char rkey[32];
    snprintf(rkey, sizeof rkey, "%s_result", name);
    return key(pk, name) | msgpack_pack_int32(pk, rc) | key(pk, rkey) | msgpack_pack_str(pk, strlen(hex)) |
           msgpack_pack_str_body(pk, hex, strlen(hex));
}

static int32_t m_registry(msgpack_packer *pk)
{
    static const char set[] = "eva.registry\0key_set\0\x82\xa3key\xa7probe/x\xa5value\x01";
    static const char del[] = "eva.registry\0key_delete\0\x81\xa3key\xa7probe/x";
    int e = msgpack_pack_map(pk, 4) | pack_call_hex(pk, "set", set, sizeof set - 1) |
            pack_call_hex(pk, "delete", del, sizeof del - 1);
    return e ? EVA_ERR_CODE_SYSTEM_ERROR : EVA_OK;
}

int32_t probe_call(const char *m, size_t n, const char *payload, size_t payload_len, msgpack_sbuffer *out)
{
    size_t which = PROBE_METHODS;
    for (size_t i = 0; i < PROBE_METHODS; i++)
        if (strlen(probe_methods[i]) == n && memcmp(probe_methods[i], m, n) == 0)
            which = i;
    if (which == PROBE_METHODS)
        return EVA_ERR_CODE_METHOD_NOT_FOUND;
    if (which == 8) {
        fputs("probe: probe.crash called, aborting on purpose\n", stderr);
        abort();
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    const msgpack_object *params = NULL;
    if (payload_len > 0) {
        if (!payload || msgpack_unpack_next(&u, payload, payload_len, &off) != MSGPACK_UNPACK_SUCCESS ||
            off != payload_len) {
            msgpack_unpacked_destroy(&u);
            return EVA_ERR_CODE_INVALID_PARAMS;
        }
        params = &u.data;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int32_t rc;
    if (which == 0)
        rc = m_report(&pk);
    else if (which == 1)
        rc = m_core(&pk);
    else if (!go(params))
        rc = EVA_ERR_CODE_INVALID_PARAMS;
    else if (which == 2)
        rc = m_rpc(&pk);
    else if (which == 3)
        rc = m_poc(&pk);
    else if (which == 4)
        rc = m_stop(&pk);
    else if (which == 5)
        rc = m_act(&pk);
    else if (which == 6)
        rc = m_flood(&pk, params);
    else
        rc = m_registry(&pk);
    msgpack_unpacked_destroy(&u);
    return rc;
}
