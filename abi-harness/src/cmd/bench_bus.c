#include "bench_bus.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_folder.h"
#include "eva/status.h"
#include "exit_codes.h"
#include "op_buffers.h"
#include "output.h"
#include "xalloc.h"

/* library log lines shown before they are only counted */
#define BENCH_BUS_LOGS_SHOWN 20

struct bench_bus_slot {
    struct bench_bus_slot *next;
    /* written by the owning thread only; read (relaxed) by the reporter */
    atomic_ulong ops, publish, act, act_terminal, subscribe, rpc_calls, logs, invalid;
};

static struct bench_bus *bench_buses[BENCH_BUS_MAX];
static _Thread_local struct bench_bus_slot *bench_tls_slots[BENCH_BUS_MAX];

void bench_bus_init(struct bench_bus *bus, int index, const char *label, int print_level,
                    enum harness_result_mode mode)
{
    bus->index = index;
    snprintf(bus->label, sizeof bus->label, "%s", label);
    bus->result_mode = mode;
    bus->print_level = print_level;
    atomic_init(&bus->connected, 0);
    atomic_init(&bus->active, 0);
    atomic_init(&bus->terminate_asked, 0);
    atomic_init(&bus->printed, 0);
    atomic_init(&bus->slots, 0);
    bench_buses[index] = bus;
}

/* this thread's counters of the bus (made on the thread's first op call;
 * they stay allocated: the reporter may read them after the thread ended) */
static struct bench_bus_slot *bench_bus_slot(struct bench_bus *bus)
{
    struct bench_bus_slot *s = bench_tls_slots[bus->index];
    if (s) return s;
    s = harness_xcalloc(1, sizeof *s);
    uintptr_t head = atomic_load(&bus->slots);
    do {
        s->next = (struct bench_bus_slot *)head;
    } while (!atomic_compare_exchange_weak(&bus->slots, &head, (uintptr_t)s));
    bench_tls_slots[bus->index] = s;
    return s;
}

#define BENCH_INC(slot, field) atomic_store_explicit(&(slot)->field, \
    atomic_load_explicit(&(slot)->field, memory_order_relaxed) + 1, memory_order_relaxed)

void bench_bus_counts(struct bench_bus *bus, struct bench_bus_counts *out)
{
    memset(out, 0, sizeof *out);
    for (struct bench_bus_slot *s = (struct bench_bus_slot *)atomic_load(&bus->slots); s; s = s->next) {
        out->ops += atomic_load_explicit(&s->ops, memory_order_relaxed);
        out->publish += atomic_load_explicit(&s->publish, memory_order_relaxed);
        out->act += atomic_load_explicit(&s->act, memory_order_relaxed);
        out->act_terminal += atomic_load_explicit(&s->act_terminal, memory_order_relaxed);
        out->subscribe += atomic_load_explicit(&s->subscribe, memory_order_relaxed);
        out->rpc_calls += atomic_load_explicit(&s->rpc_calls, memory_order_relaxed);
        out->logs += atomic_load_explicit(&s->logs, memory_order_relaxed);
        out->invalid += atomic_load_explicit(&s->invalid, memory_order_relaxed);
    }
}

/* A tiny MessagePack reader, enough to find the "status" of an ACT event
 * ({uuid, status, ...}) without a zone or an allocation. */
struct bench_cursor {
    const unsigned char *p, *end;
};

static int bench_take(struct bench_cursor *c, size_t n)
{
    if ((size_t)(c->end - c->p) < n) return -1;
    c->p += n;
    return 0;
}

static int bench_be(struct bench_cursor *c, size_t n, uint64_t *v)
{
    if ((size_t)(c->end - c->p) < n) return -1;
    *v = 0;
    for (size_t i = 0; i < n; i++) *v = *v << 8 | c->p[i];
    c->p += n;
    return 0;
}

/* skips one value; containers by counting what is still to skip */
static int bench_skip(struct bench_cursor *c)
{
    uint64_t pending = 1, n;
    while (pending--) {
        if (c->p >= c->end) return -1;
        unsigned char b = *c->p++;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) continue;
        if (b >= 0x80 && b <= 0x8f) { pending += 2u * (b & 0x0f); continue; }
        if (b >= 0x90 && b <= 0x9f) { pending += b & 0x0f; continue; }
        if (b >= 0xa0 && b <= 0xbf) { if (bench_take(c, b & 0x1f)) return -1; continue; }
        switch (b) {
        case 0xc4: case 0xd9: if (bench_be(c, 1, &n) || bench_take(c, n)) return -1; break;
        case 0xc5: case 0xda: if (bench_be(c, 2, &n) || bench_take(c, n)) return -1; break;
        case 0xc6: case 0xdb: if (bench_be(c, 4, &n) || bench_take(c, n)) return -1; break;
        case 0xc7: if (bench_be(c, 1, &n) || bench_take(c, n + 1)) return -1; break;
        case 0xc8: if (bench_be(c, 2, &n) || bench_take(c, n + 1)) return -1; break;
        case 0xc9: if (bench_be(c, 4, &n) || bench_take(c, n + 1)) return -1; break;
        case 0xcc: case 0xd0: if (bench_take(c, 1)) return -1; break;
        case 0xcd: case 0xd1: case 0xd4: if (bench_take(c, 2)) return -1; break;
        case 0xd5: if (bench_take(c, 3)) return -1; break;
        case 0xca: case 0xce: case 0xd2: if (bench_take(c, 4)) return -1; break;
        case 0xd6: if (bench_take(c, 5)) return -1; break;
        case 0xcb: case 0xcf: case 0xd3: if (bench_take(c, 8)) return -1; break;
        case 0xd7: if (bench_take(c, 9)) return -1; break;
        case 0xd8: if (bench_take(c, 17)) return -1; break;
        case 0xdc: if (bench_be(c, 2, &n)) return -1; pending += n; break;
        case 0xdd: if (bench_be(c, 4, &n)) return -1; pending += n; break;
        case 0xde: if (bench_be(c, 2, &n)) return -1; pending += 2 * n; break;
        case 0xdf: if (bench_be(c, 4, &n)) return -1; pending += 2 * n; break;
        default: return -1;
        }
        if (pending > (uint64_t)(c->end - c->p)) return -1;
    }
    return 0;
}

/* the status of an ACT payload, -1 when there is none */
static int bench_act_status(const char *payload, size_t len)
{
    struct bench_cursor c = {(const unsigned char *)payload, (const unsigned char *)payload + len};
    uint64_t count;
    if (c.p >= c.end) return -1;
    unsigned char b = *c.p;
    if (b >= 0x80 && b <= 0x8f) {
        count = b & 0x0f;
        c.p++;
    } else if (b == 0xde || b == 0xdf) {
        c.p++;
        if (bench_be(&c, b == 0xde ? 2 : 4, &count)) return -1;
    } else {
        return -1;
    }
    for (uint64_t i = 0; i < count; i++) {
        if (c.p < c.end && *c.p == 0xa6 && c.end - c.p >= 8 && !memcmp(c.p + 1, "status", 6)) {
            c.p += 7;
            b = *c.p;
            if (b <= 0x7f) return b;
            if (b == 0xcc && c.end - c.p >= 2) return c.p[1];
            return -1;
        }
        if (bench_skip(&c) || bench_skip(&c)) return -1;
    }
    return -1;
}

static int bench_terminal(int status)
{
    return status == EVA_ACTION_STATUS_COMPLETED || status == EVA_ACTION_STATUS_FAILED ||
           status == EVA_ACTION_STATUS_CANCELED || status == EVA_ACTION_STATUS_TERMINATED;
}

/* the buffers as the launcher reads them (launcher/op_buffers.c) */
static int32_t bench_bus_publish(struct bench_bus_slot *s, struct EvaFFIBuffer *buf)
{
    struct harness_op_slice topic, payload;
    int had_nul;
    enum harness_op_read r = harness_op_read_publish(buf, &topic, &payload, &had_nul);
    if (r != HARNESS_OP_READ_OK) {
        BENCH_INC(s, invalid);
        return harness_op_read_code(r);
    }
    BENCH_INC(s, publish);
    if (topic.len >= 4 && !memcmp(topic.data, "ACT/", 4)) {
        BENCH_INC(s, act);
        if (bench_terminal(bench_act_status(payload.data, payload.len))) BENCH_INC(s, act_terminal);
    }
    return EVA_OK;
}

static int32_t bench_bus_rpc_call(struct bench_bus *bus, struct bench_bus_slot *s, struct EvaFFIBuffer *buf)
{
    BENCH_INC(s, rpc_calls);
    struct harness_op_slice t, m, params;
    int had_nul;
    enum harness_op_read r = harness_op_read_rpc_call(buf, &t, &m, &params, &had_nul);
    if (r != HARNESS_OP_READ_OK) {
        BENCH_INC(s, invalid);
        return harness_op_read_code(r);
    }
    char *target = harness_xstrndup(t.data, t.len), *method = harness_xstrndup(m.data, m.len);
    char *out = NULL;
    size_t out_len = 0;
    int32_t rc = harness_mock_core_call(&bus->core, target, method, params.data, params.len, &out, &out_len);
    free(target);
    free(method);
    if (rc == EVA_ERR_CODE_BUS_CLIENT_NOT_REGISTERED) rc = EVA_ERR_CODE_TIMEOUT; /* no waiting in a bench */
    if (rc < 0 || out_len == 0) {
        free(out);
        harness_rpc_result_note_call(rc < 0 ? rc : 0);
        return rc < 0 ? rc : EVA_OK;
    }
    harness_rpc_result_set(out, out_len);
    return (int32_t)out_len;
}

static int bench_log_level(int16_t op)
{
    switch (op) {
    case EVA_FFI_SVC_OP_LOG_TRACE: return HARNESS_LOG_TRACE;
    case EVA_FFI_SVC_OP_LOG_DEBUG: return HARNESS_LOG_DEBUG;
    case EVA_FFI_SVC_OP_LOG_INFO: return HARNESS_LOG_INFO;
    case EVA_FFI_SVC_OP_LOG_WARN: return HARNESS_LOG_WARN;
    default: return HARNESS_LOG_ERROR;
    }
}

static int32_t bench_bus_op(struct bench_bus *bus, int16_t op, struct EvaFFIBuffer *buf)
{
    struct bench_bus_slot *s = bench_bus_slot(bus);
    BENCH_INC(s, ops);
    switch (op) {
    case EVA_FFI_SVC_OP_IS_ACTIVE:
        return atomic_load_explicit(&bus->active, memory_order_relaxed) ? 1 : 0;
    case EVA_FFI_SVC_OP_TERMINATE:
        atomic_store(&bus->terminate_asked, 1);
        atomic_store(&bus->active, 0);
        return EVA_OK;
    case EVA_FFI_SVC_OP_POC:
        harness_output_library_log(HARNESS_LOG_CRITICAL, buf && buf->data ? buf->data : "",
                                   buf && buf->data ? buf->len : 0);
        harness_log(HARNESS_LOG_CRITICAL, "library %s raised POC: exiting with an error", bus->label);
        harness_data_folder_remove();
        harness_output_emergency_flush();
        _exit(HARNESS_EXIT_POC);
    default:
        break;
    }
    if (!atomic_load_explicit(&bus->connected, memory_order_acquire)) return EVA_ERR_CODE_NOT_READY;
    switch (op) {
    case EVA_FFI_SVC_OP_PUBLISH_TOPIC:
        return bench_bus_publish(s, buf);
    case EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC:
    case EVA_FFI_SVC_OP_UNSUBSCRIBE_TOPIC:
        BENCH_INC(s, subscribe);
        return EVA_OK;
    case EVA_FFI_SVC_OP_RPC_CALL:
        return bench_bus_rpc_call(bus, s, buf);
    case EVA_FFI_SVC_OP_GET_RPC_RESULT: {
        if (!buf) return EVA_ERR_CODE_INVALID_PARAMS;
        enum harness_rpc_result_problem problem;
        size_t len;
        return harness_rpc_result_fetch(buf, bus->result_mode, &problem, &len);
    }
    case EVA_FFI_SVC_OP_LOG_TRACE:
    case EVA_FFI_SVC_OP_LOG_DEBUG:
    case EVA_FFI_SVC_OP_LOG_INFO:
    case EVA_FFI_SVC_OP_LOG_WARN:
    case EVA_FFI_SVC_OP_LOG_ERROR: {
        BENCH_INC(s, logs);
        int level = bench_log_level(op);
        struct harness_op_slice text;
        int had_nul;
        if (harness_op_read_text(buf, &text, &had_nul) != HARNESS_OP_READ_OK) return EVA_ERR_CODE_INVALID_DATA;
        if (level >= bus->print_level && text.len &&
            atomic_fetch_add(&bus->printed, 1) < BENCH_BUS_LOGS_SHOWN) {
            char head[16];
            snprintf(head, sizeof head, "%s: ", bus->label);
            size_t hl = strlen(head), n = text.len > 1000 ? 1000 : text.len;
            char *line = harness_xmalloc(hl + n + 1);
            memcpy(line, head, hl);
            memcpy(line + hl, text.data, n);
            harness_output_library_log(level, line, hl + n);
            free(line);
        }
        return EVA_OK;
    }
    default:
        BENCH_INC(s, invalid);
        return EVA_ERR_CODE_METHOD_NOT_FOUND;
    }
}

static int32_t bench_bus_op_0(int16_t op, struct EvaFFIBuffer *buf)
{
    return bench_bus_op(bench_buses[0], op, buf);
}

static int32_t bench_bus_op_1(int16_t op, struct EvaFFIBuffer *buf)
{
    return bench_bus_op(bench_buses[1], op, buf);
}

eva_ffi_op_fn bench_bus_op_fn(const struct bench_bus *bus)
{
    return bus->index == 0 ? bench_bus_op_0 : bench_bus_op_1;
}
