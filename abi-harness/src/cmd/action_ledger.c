#include "action_ledger.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgpack_map.h"
#include "eva_ffi.h"
#include "output.h"
#include "strbuf.h"
#include "xalloc.h"

/* terminal statuses remembered per uuid for messages */
#define HARNESS_LEDGER_KEEP 4

struct harness_action_entry {
    struct harness_action_entry *next;
    char *oid;
    unsigned long accepted_calls;
    unsigned long failed_calls;
    int32_t failed_code;
    unsigned long pending;
    unsigned long terminal;
    int terminal_before_pending;
    int last_status;
    unsigned char terminal_statuses[HARNESS_LEDGER_KEEP];
    size_t uuid_len;
    unsigned char uuid[];
};

static uint64_t harness_ledger_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void harness_action_ledger_init(struct harness_action_ledger *ledger)
{
    memset(ledger, 0, sizeof *ledger);
    pthread_mutex_init(&ledger->mutex, NULL);
    ledger->bucket_count = 1024;
    ledger->buckets = harness_xcalloc(ledger->bucket_count, sizeof *ledger->buckets);
}

void harness_action_ledger_destroy(struct harness_action_ledger *ledger)
{
    for (size_t i = 0; i < ledger->bucket_count; i++) {
        struct harness_action_entry *e = ledger->buckets[i];
        while (e) {
            struct harness_action_entry *next = e->next;
            free(e->oid);
            free(e);
            e = next;
        }
    }
    free(ledger->buckets);
    pthread_mutex_destroy(&ledger->mutex);
}

/* caller holds the lock */
static struct harness_action_entry *harness_ledger_entry(struct harness_action_ledger *ledger, const void *uuid,
                                                         size_t len)
{
    if (ledger->count >= ledger->bucket_count * 2) {
        size_t n = ledger->bucket_count * 4;
        struct harness_action_entry **b = harness_xcalloc(n, sizeof *b);
        for (size_t i = 0; i < ledger->bucket_count; i++) {
            struct harness_action_entry *e = ledger->buckets[i];
            while (e) {
                struct harness_action_entry *next = e->next;
                size_t h = harness_ledger_hash(e->uuid, e->uuid_len) % n;
                e->next = b[h];
                b[h] = e;
                e = next;
            }
        }
        free(ledger->buckets);
        ledger->buckets = b;
        ledger->bucket_count = n;
    }
    size_t h = harness_ledger_hash(uuid, len) % ledger->bucket_count;
    struct harness_action_entry *e = ledger->buckets[h];
    while (e && !(e->uuid_len == len && memcmp(e->uuid, uuid, len) == 0)) e = e->next;
    if (!e) {
        e = harness_xcalloc(1, sizeof *e + len);
        memcpy(e->uuid, uuid, len);
        e->uuid_len = len;
        e->last_status = -1;
        e->next = ledger->buckets[h];
        ledger->buckets[h] = e;
        ledger->count++;
    }
    return e;
}

/* the uuid bytes: bin as the ABI has it, or a string for lenient senders */
static int harness_ledger_uuid(const msgpack_object *o, const char **data, size_t *len)
{
    if (!o) return 0;
    if (o->type == MSGPACK_OBJECT_BIN) {
        *data = o->via.bin.ptr;
        *len = o->via.bin.size;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_STR) {
        *data = o->via.str.ptr;
        *len = o->via.str.size;
        return 1;
    }
    return 0;
}

void harness_action_ledger_on_call(struct harness_action_ledger *ledger, const void *method, size_t method_len,
                                   const char *params, size_t params_len, int32_t code)
{
    if (!((method_len == 6 && !memcmp(method, "action", 6)) || (method_len == 3 && !memcmp(method, "run", 3)))) return;
    if (params_len == 0) return;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 512);
    msgpack_object obj;
    size_t off = 0;
    const char *uuid;
    size_t ulen;
    if (msgpack_unpack(params, params_len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS &&
        harness_ledger_uuid(harness_msgpack_map_get(&obj, "uuid"), &uuid, &ulen)) {
        const msgpack_object *oid = harness_msgpack_map_get(&obj, "i");
        pthread_mutex_lock(&ledger->mutex);
        struct harness_action_entry *e = harness_ledger_entry(ledger, uuid, ulen);
        if (!e->oid && oid && oid->type == MSGPACK_OBJECT_STR)
            e->oid = harness_xstrndup(oid->via.str.ptr, oid->via.str.size);
        if (code == 0) {
            if (e->accepted_calls++ == 0) ledger->accepted++;
        } else {
            e->failed_calls++;
            e->failed_code = code;
        }
        pthread_mutex_unlock(&ledger->mutex);
    }
    msgpack_zone_destroy(&zone);
}

void harness_action_ledger_on_frame(struct harness_action_ledger *ledger, const char *topic, const char *payload,
                                    size_t len)
{
    size_t plen = strlen(EVA_TOPIC_ACTION_PREFIX);
    if (strncmp(topic, EVA_TOPIC_ACTION_PREFIX, plen) != 0) return;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 512);
    msgpack_object obj;
    size_t off = 0;
    const char *uuid;
    size_t ulen;
    const msgpack_object *st;
    if (msgpack_unpack(payload, len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS &&
        harness_ledger_uuid(harness_msgpack_map_get(&obj, "uuid"), &uuid, &ulen) &&
        (st = harness_msgpack_map_get(&obj, "status")) != NULL && st->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        int status = (int)st->via.u64;
        pthread_mutex_lock(&ledger->mutex);
        struct harness_action_entry *e = harness_ledger_entry(ledger, uuid, ulen);
        if (!e->oid) {
            /* ACT/unit/group/id -> unit:group/id */
            struct harness_strbuf oid = HARNESS_STRBUF_INIT;
            const char *path = topic + plen, *slash = strchr(path, '/');
            if (slash) {
                harness_strbuf_append(&oid, path, (size_t)(slash - path));
                harness_strbuf_append_char(&oid, ':');
                harness_strbuf_append_str(&oid, slash + 1);
            } else {
                harness_strbuf_append_str(&oid, path);
            }
            e->oid = harness_strbuf_detach(&oid, NULL);
        }
        if (status == EVA_ACTION_STATUS_PENDING) e->pending++;
        if (status >= EVA_ACTION_STATUS_COMPLETED) {
            if (e->pending == 0) e->terminal_before_pending = 1;
            if (e->terminal < HARNESS_LEDGER_KEEP) e->terminal_statuses[e->terminal] = (unsigned char)status;
            e->terminal++;
            switch (status) {
            case EVA_ACTION_STATUS_COMPLETED: ledger->completed++; break;
            case EVA_ACTION_STATUS_FAILED: ledger->failed++; break;
            case EVA_ACTION_STATUS_CANCELED: ledger->canceled++; break;
            case EVA_ACTION_STATUS_TERMINATED: ledger->terminated++; break;
            default: break;
            }
        }
        e->last_status = status;
        pthread_mutex_unlock(&ledger->mutex);
    } else {
        harness_log(HARNESS_LOG_WARN, "action event on %s without a uuid and an integer status", topic);
    }
    msgpack_zone_destroy(&zone);
}

static const char *harness_ledger_status_name(int status)
{
    switch (status) {
    case EVA_ACTION_STATUS_CREATED: return "CREATED";
    case EVA_ACTION_STATUS_ACCEPTED: return "ACCEPTED";
    case EVA_ACTION_STATUS_PENDING: return "PENDING";
    case EVA_ACTION_STATUS_RUNNING: return "RUNNING";
    case EVA_ACTION_STATUS_COMPLETED: return "COMPLETED";
    case EVA_ACTION_STATUS_FAILED: return "FAILED";
    case EVA_ACTION_STATUS_CANCELED: return "CANCELED";
    case EVA_ACTION_STATUS_TERMINATED: return "TERMINATED";
    case -1: return "none";
    default: return "custom";
    }
}

static void harness_ledger_violation(const struct harness_action_entry *e, const char *what, int details)
{
    if (!details) return;
    struct harness_strbuf sb = HARNESS_STRBUF_INIT;
    harness_strbuf_append_str(&sb, "action violation: uuid ");
    harness_strbuf_append_hex(&sb, e->uuid, e->uuid_len);
    harness_strbuf_appendf(&sb, " (%s): %s", e->oid ? e->oid : "?", what);
    harness_output_stderr_line(sb.data);
    harness_strbuf_destroy(&sb);
}

unsigned long harness_action_ledger_report(struct harness_action_ledger *ledger, int details)
{
    unsigned long violations = 0, self_started = 0, immediate = 0;
    pthread_mutex_lock(&ledger->mutex);
    for (size_t i = 0; i < ledger->bucket_count; i++) {
        for (const struct harness_action_entry *e = ledger->buckets[i]; e; e = e->next) {
            char what[200];
            int any_event = e->pending || e->terminal || e->last_status >= 0;
            if (e->accepted_calls == 0) {
                if (!e->failed_calls && e->terminal) {
                    /* a uuid no call carried: an action the library started itself (a macro's unit
                     * action) is fine when its events make one whole lifecycle; anything else is a
                     * stray terminal event */
                    if (e->pending && e->terminal == 1 && !e->terminal_before_pending) {
                        self_started++;
                    } else {
                        snprintf(what, sizeof what,
                                 "%lu terminal event%s (first %s)%s for a uuid that no action/run call carried",
                                 e->terminal, e->terminal > 1 ? "s" : "",
                                 harness_ledger_status_name(e->terminal_statuses[0]),
                                 e->pending ? "" : " and no PENDING");
                        harness_ledger_violation(e, what, details);
                        violations++;
                    }
                } else if (e->failed_calls && any_event) {
                    snprintf(what, sizeof what, "the call failed with %d but events were published (last %s)",
                             (int)e->failed_code, harness_ledger_status_name(e->last_status));
                    harness_ledger_violation(e, what, details);
                    violations++;
                }
                continue;
            }
            if (e->pending == 0 && e->terminal == 1) {
                /* eva4 svc/controller-virtual: an action that ends before its call returns has
                 * no PENDING or RUNNING, only its terminal event */
                immediate++;
                continue;
            }
            if (e->pending == 0) {
                harness_ledger_violation(e, "accepted, but no PENDING event", details);
                violations++;
            }
            if (e->terminal == 0) {
                snprintf(what, sizeof what, "accepted, but no terminal event (last status %s)",
                         harness_ledger_status_name(e->last_status));
                harness_ledger_violation(e, what, details);
                violations++;
            } else if (e->terminal > 1) {
                struct harness_strbuf sb = HARNESS_STRBUF_INIT;
                harness_strbuf_appendf(&sb, "%lu terminal events (", e->terminal);
                for (unsigned long k = 0; k < e->terminal && k < HARNESS_LEDGER_KEEP; k++)
                    harness_strbuf_appendf(&sb, "%s%s", k ? ", " : "",
                                           harness_ledger_status_name(e->terminal_statuses[k]));
                harness_strbuf_append_str(&sb, e->terminal > HARNESS_LEDGER_KEEP ? ", ...)" : ")");
                harness_ledger_violation(e, sb.data, details);
                harness_strbuf_destroy(&sb);
                violations++;
            } else if (e->terminal_before_pending) {
                harness_ledger_violation(e, "its terminal event came before PENDING", details);
                violations++;
            }
        }
    }
    char line[256];
    int n = snprintf(line, sizeof line,
                     "actions: %lu accepted, %lu completed, %lu failed, %lu canceled, %lu terminated, %lu violations",
                     ledger->accepted, ledger->completed, ledger->failed, ledger->canceled, ledger->terminated,
                     violations);
    if (self_started && n > 0 && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, " (%lu started by the library itself, whole lifecycles)",
                      self_started);
    if (immediate && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, " (%lu ended before the call returned, no PENDING)", immediate);
    pthread_mutex_unlock(&ledger->mutex);
    harness_output_stderr_line(line);
    return violations;
}
