#include "bench_workload.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "payload_resolve.h"
#include "payload_yaml.h"
#include "rng.h"
#include "xalloc.h"

/* text -> packed MessagePack (malloc'd); -1 with a message in err */
static int bench_pack_text(const char *what, const char *text, char **data, size_t *len, struct harness_strbuf *err)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    int rc = harness_payload_yaml_parse(text, strlen(text), &zone, &obj, err);
    if (rc == 0) rc = harness_payload_pack_bytes(&obj, NULL, data, len, err);
    if (rc < 0) {
        struct harness_strbuf m = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&m, "%s: %s", what, harness_strbuf_cstr(err));
        harness_strbuf_reset(err);
        harness_strbuf_append(err, m.data, m.len);
        harness_strbuf_destroy(&m);
    }
    msgpack_zone_destroy(&zone);
    return rc;
}

/* where the uuid of {"$uuid": "$fresh"} (bin 8, 16 bytes) sits in data */
static int bench_find_fresh(struct bench_call *c, struct harness_strbuf *err)
{
    unsigned char marker[18] = {0xc4, 0x10};
    harness_payload_uuid_for(BENCH_FRESH_NAME, strlen(BENCH_FRESH_NAME), marker + 2);
    for (size_t i = 0; c->payload && i + sizeof marker <= c->payload_len; i++) {
        if (memcmp(c->payload + i, marker, sizeof marker) != 0) continue;
        if (c->fresh_count == BENCH_FRESH_MAX) {
            harness_strbuf_appendf(err, "--call %.*s: more than %d fresh uuids", (int)c->method_len, c->method,
                                   BENCH_FRESH_MAX);
            return -1;
        }
        c->fresh[c->fresh_count++] = i + 2;
        i += sizeof marker - 1;
    }
    return 0;
}

int bench_workload_build(struct bench_workload *w, const struct bench_options *o, struct harness_strbuf *err)
{
    memset(w, 0, sizeof *w);
    if (o->frame.name) {
        w->frame_mode = 1;
        w->topic = o->frame.name;
        return bench_pack_text("--frame payload", o->frame.text, &w->frame_payload, &w->frame_len, err);
    }
    w->calls = harness_xcalloc(o->call_count, sizeof *w->calls);
    w->call_count = o->call_count;
    for (size_t i = 0; i < o->call_count; i++) {
        struct bench_call *c = &w->calls[i];
        c->method = o->calls[i].name;
        c->method_len = strlen(c->method);
        c->is_action = !strcmp(c->method, "action") || !strcmp(c->method, "run");
        w->has_actions |= c->is_action;
        if (o->calls[i].text) {
            if (bench_pack_text(c->method, o->calls[i].text, &c->payload, &c->payload_len, err) < 0) return -1;
            if (bench_find_fresh(c, err) < 0) return -1;
        }
    }
    return 0;
}

void bench_workload_destroy(struct bench_workload *w)
{
    for (size_t i = 0; i < w->call_count; i++) free(w->calls[i].payload);
    free(w->calls);
    free(w->frame_payload);
    memset(w, 0, sizeof *w);
}

void bench_uuid_source_init(struct bench_uuid_source *src, unsigned thread_index)
{
    static uint64_t run_prefix;
    if (!run_prefix) run_prefix = harness_rng_os_seed() | 1;
    src->prefix = run_prefix ^ ((uint64_t)thread_index << 40);
    src->counter = 0;
}

void bench_uuid_renew(struct bench_uuid_source *src, const struct bench_call *call, char *payload_copy)
{
    for (size_t k = 0; k < call->fresh_count; k++) {
        unsigned char u[16];
        uint64_t hi = src->prefix, lo = ++src->counter;
        for (int i = 0; i < 8; i++) {
            u[i] = (unsigned char)(hi >> (56 - 8 * i));
            u[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
        }
        u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
        u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
        memcpy(payload_copy + call->fresh[k], u, 16);
    }
}
