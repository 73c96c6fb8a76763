#include "script.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "errcode.h"
#include "exit_codes.h"
#include "json_lines.h"
#include "output.h"
#include "payload_json.h"
#include "payload_match.h"
#include "payload_resolve.h"
#include "payload_yaml.h"
#include "topic.h"
#include "xalloc.h"

#define HARNESS_SCRIPT_DEFAULT_WITHIN 2.0
/* how long a call waits for the frames it caused to be printed first */
#define HARNESS_SCRIPT_DRAIN_WAIT 1.0
/* how long a frame step waits for svc_on_frame to finish */
#define HARNESS_SCRIPT_FRAME_WAIT 5.0
#define HARNESS_SCRIPT_STRESS_SHOWN 5

/* ---------------------------------------------------------------- parsing */

void harness_script_init(struct harness_script *script)
{
    memset(script, 0, sizeof *script);
    msgpack_zone_init(&script->zone, 8192);
}

static void harness_step_free(struct harness_step *st)
{
    free(st->label);
    free(st->method);
    free(st->params_packed);
    free(st->topic);
    free(st->oid);
    for (size_t i = 0; i < st->step_count; i++) harness_step_free(&st->steps[i]);
    free(st->steps);
}

void harness_script_destroy(struct harness_script *script)
{
    for (size_t i = 0; i < script->count; i++) harness_step_free(&script->steps[i]);
    free(script->steps);
    msgpack_zone_destroy(&script->zone);
}

static struct harness_step *harness_script_push(struct harness_step **steps, size_t *count, size_t *cap)
{
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *steps = harness_xrealloc(*steps, *cap * sizeof **steps);
    }
    struct harness_step *st = &(*steps)[(*count)++];
    memset(st, 0, sizeof *st);
    return st;
}

static int harness_script_key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
}

static const msgpack_object *harness_script_field(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        if (harness_script_key_is(&map->via.map.ptr[i].key, key)) return &map->via.map.ptr[i].val;
    }
    return NULL;
}

/* every key of map must be one of allowed (NULL-terminated) */
static int harness_script_check_keys(const msgpack_object *map, const char *const *allowed, const char *where,
                                     struct harness_strbuf *err)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = harness_script_key_is(k, *a);
        if (!ok) {
            harness_strbuf_appendf(err, "%s: unknown key ", where);
            harness_payload_json_append(err, k);
            harness_strbuf_append_str(err, " (allowed:");
            for (const char *const *a = allowed; *a; a++) harness_strbuf_appendf(err, " %s", *a);
            harness_strbuf_append_char(err, ')');
            return -1;
        }
    }
    return 0;
}

static int harness_script_number(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 1;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 1;
    default: return 0;
    }
}

static char *harness_script_str(const msgpack_object *o)
{
    return harness_xstrndup(o->via.str.ptr, o->via.str.size);
}

static int harness_script_prepare_params(struct harness_step *st, struct harness_strbuf *err, const char *where)
{
    if (!st->has_params) return 0;
    st->params_dynamic = harness_payload_has_placeholders(st->params);
    /* pack now even when dynamic: a bad $bin is reported before the run */
    struct harness_subst probe = {st->params_dynamic, 0, 0};
    struct harness_strbuf perr = HARNESS_STRBUF_INIT;
    int rc = harness_payload_pack_bytes(st->params, &probe, &st->params_packed, &st->params_len, &perr);
    if (rc < 0) harness_strbuf_appendf(err, "%s: params: %s", where, perr.data);
    harness_strbuf_destroy(&perr);
    return rc;
}

static int harness_script_parse_call_expect(struct harness_step *st, const msgpack_object *e, const char *where,
                                            struct harness_strbuf *err)
{
    static const char *const keys[] = {"code", "payload", NULL};
    if (e->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: expect must be a map {code, payload}", where);
        return -1;
    }
    if (harness_script_check_keys(e, keys, where, err) < 0) return -1;
    st->has_expect = 1;
    const msgpack_object *code = harness_script_field(e, "code");
    if (code) {
        st->expect_has_code = 1;
        if (code->type == MSGPACK_OBJECT_POSITIVE_INTEGER || code->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            st->expect_code = code->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int)code->via.u64 : (int)code->via.i64;
        } else if (code->type == MSGPACK_OBJECT_STR) {
            char *s = harness_script_str(code);
            int rc = harness_errcode_parse(s, &st->expect_code);
            if (rc < 0) harness_strbuf_appendf(err, "%s: unknown error code %s", where, s);
            free(s);
            if (rc < 0) return -1;
        } else {
            harness_strbuf_appendf(err, "%s: expect.code must be a number or an error name", where);
            return -1;
        }
    }
    const msgpack_object *payload = harness_script_field(e, "payload");
    if (payload) {
        if (payload->type == MSGPACK_OBJECT_STR && payload->via.str.size == 6 &&
            !memcmp(payload->via.str.ptr, "absent", 6)) {
            st->expect_payload = HARNESS_EXPECT_PAYLOAD_ABSENT;
        } else {
            st->expect_payload = HARNESS_EXPECT_PAYLOAD_VALUE;
            st->expect_value = payload;
        }
    }
    return 0;
}

/* - core: {oid: OID, status: N, value: V, within: S} | {oid: OID, absent: true} */
static int harness_script_parse_core(struct harness_script *script, struct harness_step *st, const msgpack_object *v,
                                     const char *where, struct harness_strbuf *err)
{
    static const char *const keys[] = {"oid", "status", "value", "within", "absent", NULL};
    if (v->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: core must be a map {oid, status, value, within, absent}", where);
        return -1;
    }
    if (harness_script_check_keys(v, keys, where, err) < 0) return -1;
    const msgpack_object *oid = harness_script_field(v, "oid");
    if (!oid || oid->type != MSGPACK_OBJECT_STR || oid->via.str.size == 0) {
        harness_strbuf_appendf(err, "%s: core.oid (an item OID) is required", where);
        return -1;
    }
    st->oid = harness_script_str(oid);
    st->within = 0;
    const msgpack_object *within = harness_script_field(v, "within");
    if (within && (!harness_script_number(within, &st->within) || !(st->within >= 0))) {
        harness_strbuf_appendf(err, "%s: core.within must be a number of seconds", where);
        return -1;
    }
    const msgpack_object *absent = harness_script_field(v, "absent");
    if (absent && absent->type != MSGPACK_OBJECT_BOOLEAN) {
        harness_strbuf_appendf(err, "%s: core.absent must be a bool", where);
        return -1;
    }
    st->absent = absent && absent->via.boolean;
    const msgpack_object *status = harness_script_field(v, "status"), *value = harness_script_field(v, "value");
    if (st->absent && (status || value)) {
        harness_strbuf_appendf(err, "%s: core.absent takes no status or value", where);
        return -1;
    }
    if (status || value) {
        /* the subset to match against the core's {oid, status, value} */
        msgpack_object *m = msgpack_zone_malloc(&script->zone, sizeof *m);
        msgpack_object_kv *kv = msgpack_zone_malloc(&script->zone, 2 * sizeof *kv);
        uint32_t n = 0;
        if (status) {
            kv[n].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {6, "status"}};
            kv[n++].val = *status;
        }
        if (value) {
            kv[n].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {5, "value"}};
            kv[n++].val = *value;
        }
        m->type = MSGPACK_OBJECT_MAP;
        m->via.map.size = n;
        m->via.map.ptr = kv;
        st->core_expect = m;
    }
    struct harness_strbuf label = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&label, "core %s%s", st->oid, st->absent ? " absent" : "");
    st->label = harness_strbuf_detach(&label, NULL);
    return 0;
}

static int harness_script_parse_step(struct harness_script *script, struct harness_step *st, const msgpack_object *o,
                                     const char *where, int in_stress, struct harness_strbuf *err);

static int harness_script_parse_stress(struct harness_script *script, struct harness_step *st,
                                       const msgpack_object *v, const char *where, struct harness_strbuf *err)
{
    static const char *const keys[] = {"threads", "iterations", "steps", NULL};
    if (v->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: stress must be a map {threads, iterations, steps}", where);
        return -1;
    }
    if (harness_script_check_keys(v, keys, where, err) < 0) return -1;
    const msgpack_object *threads = harness_script_field(v, "threads");
    const msgpack_object *iterations = harness_script_field(v, "iterations");
    const msgpack_object *steps = harness_script_field(v, "steps");
    st->threads = 1;
    st->iterations = 1;
    if (threads) {
        if (threads->type != MSGPACK_OBJECT_POSITIVE_INTEGER || threads->via.u64 < 1 || threads->via.u64 > 1024) {
            harness_strbuf_appendf(err, "%s: stress.threads must be 1..1024", where);
            return -1;
        }
        st->threads = (unsigned)threads->via.u64;
    }
    if (iterations) {
        if (iterations->type != MSGPACK_OBJECT_POSITIVE_INTEGER || iterations->via.u64 < 1) {
            harness_strbuf_appendf(err, "%s: stress.iterations must be a positive integer", where);
            return -1;
        }
        st->iterations = (unsigned long)iterations->via.u64;
    }
    if (!steps || steps->type != MSGPACK_OBJECT_ARRAY || steps->via.array.size == 0) {
        harness_strbuf_appendf(err, "%s: stress.steps must be a non-empty list", where);
        return -1;
    }
    size_t cap = 0;
    for (uint32_t i = 0; i < steps->via.array.size; i++) {
        struct harness_step *sub = harness_script_push(&st->steps, &st->step_count, &cap);
        char w[96];
        snprintf(w, sizeof w, "%s, stress step %u", where, i + 1);
        if (harness_script_parse_step(script, sub, &steps->via.array.ptr[i], w, 1, err) < 0) return -1;
    }
    st->label = harness_xstrdup("stress");
    return 0;
}

static int harness_script_parse_expect_frame(struct harness_script *script, struct harness_step *st,
                                             const msgpack_object *v, const char *where, struct harness_strbuf *err)
{
    static const char *const keys[] = {"frame", "payload", "within", "count", "none", NULL};
    if (v->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: expect must be a map {frame, payload, within, count, none}", where);
        return -1;
    }
    if (harness_script_check_keys(v, keys, where, err) < 0) return -1;
    const msgpack_object *frame = harness_script_field(v, "frame");
    if (!frame || frame->type != MSGPACK_OBJECT_STR || frame->via.str.size == 0) {
        harness_strbuf_appendf(err, "%s: expect.frame (a topic or mask) is required", where);
        return -1;
    }
    st->topic = harness_script_str(frame);
    st->payload = harness_script_field(v, "payload");
    st->within = HARNESS_SCRIPT_DEFAULT_WITHIN;
    st->count = 1;
    const msgpack_object *within = harness_script_field(v, "within");
    if (within && (!harness_script_number(within, &st->within) || !(st->within >= 0))) {
        harness_strbuf_appendf(err, "%s: expect.within must be a number of seconds", where);
        return -1;
    }
    const msgpack_object *count = harness_script_field(v, "count");
    if (count) {
        if (count->type != MSGPACK_OBJECT_POSITIVE_INTEGER || count->via.u64 < 1) {
            harness_strbuf_appendf(err, "%s: expect.count must be a positive integer", where);
            return -1;
        }
        st->count = (unsigned long)count->via.u64;
    }
    const msgpack_object *none = harness_script_field(v, "none");
    if (none) {
        if (none->type != MSGPACK_OBJECT_BOOLEAN) {
            harness_strbuf_appendf(err, "%s: expect.none must be a bool", where);
            return -1;
        }
        st->none = none->via.boolean;
    }
    if (st->payload) {
        /* validate $bin/$uuid now */
        char *data;
        size_t len;
        struct harness_strbuf perr = HARNESS_STRBUF_INIT;
        int rc = harness_payload_pack_bytes(st->payload, NULL, &data, &len, &perr);
        if (rc < 0) harness_strbuf_appendf(err, "%s: expect.payload: %s", where, perr.data);
        else free(data);
        harness_strbuf_destroy(&perr);
        if (rc < 0) return -1;
    }
    script->has_frame_expects = 1;
    struct harness_strbuf label = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&label, "expect %sframe %s", st->none ? "no " : "", st->topic);
    st->label = harness_strbuf_detach(&label, NULL);
    return 0;
}

static int harness_script_parse_step(struct harness_script *script, struct harness_step *st, const msgpack_object *o,
                                     const char *where, int in_stress, struct harness_strbuf *err)
{
    static const char *const kinds[] = {"call", "frame", "sleep", "expect", "mark", "stress", "stop", "core", NULL};
    if (o->type == MSGPACK_OBJECT_STR && !in_stress) {
        char *s = harness_script_str(o);
        int ok = 1;
        if (!strcmp(s, "mark")) st->kind = HARNESS_STEP_MARK;
        else if (!strcmp(s, "stop")) st->kind = HARNESS_STEP_STOP;
        else ok = 0;
        if (ok) st->label = s;
        else {
            harness_strbuf_appendf(err, "%s: unknown step \"%s\" (a bare step is mark or stop)", where, s);
            free(s);
            return -1;
        }
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_MAP) {
        harness_strbuf_appendf(err, "%s: a step is a map (call, frame, sleep, expect, stress) or mark/stop", where);
        return -1;
    }
    const char *kind = NULL;
    const msgpack_object *v = NULL;
    for (const char *const *k = kinds; *k; k++) {
        const msgpack_object *f = harness_script_field(o, *k);
        if (!f) continue;
        /* a call step has its own expect: key */
        if (kind && !strcmp(kind, "call") && !strcmp(*k, "expect")) continue;
        if (kind) {
            harness_strbuf_appendf(err, "%s: a step has one of call/frame/sleep/expect/mark/stress/stop (%s and %s)",
                                   where, kind, *k);
            return -1;
        }
        kind = *k;
        v = f;
    }
    if (!kind) {
        harness_strbuf_appendf(err, "%s: no step kind (call, frame, sleep, expect, mark, stress, stop)", where);
        return -1;
    }
    if (in_stress && strcmp(kind, "call") && strcmp(kind, "frame") && strcmp(kind, "sleep")) {
        harness_strbuf_appendf(err, "%s: a stress step is call, frame or sleep", where);
        return -1;
    }
    if (!strcmp(kind, "call")) {
        static const char *const keys[] = {"call", "params", "expect", NULL};
        if (harness_script_check_keys(o, keys, where, err) < 0) return -1;
        if (v->type != MSGPACK_OBJECT_STR) {
            harness_strbuf_appendf(err, "%s: call needs a method name", where);
            return -1;
        }
        st->kind = HARNESS_STEP_CALL;
        st->method = harness_script_str(v);
        st->method_len = v->via.str.size;
        st->params = harness_script_field(o, "params");
        st->has_params = st->params != NULL;
        const msgpack_object *e = harness_script_field(o, "expect");
        if (e && harness_script_parse_call_expect(st, e, where, err) < 0) return -1;
        struct harness_strbuf label = HARNESS_STRBUF_INIT;
        harness_strbuf_append_str(&label, "call ");
        harness_strbuf_append(&label, st->method, st->method_len);
        st->label = harness_strbuf_detach(&label, NULL);
        return harness_script_prepare_params(st, err, where);
    }
    if (!strcmp(kind, "frame")) {
        static const char *const keys[] = {"frame", "payload", NULL};
        if (harness_script_check_keys(o, keys, where, err) < 0) return -1;
        if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0) {
            harness_strbuf_appendf(err, "%s: frame needs a topic", where);
            return -1;
        }
        st->kind = HARNESS_STEP_FRAME;
        st->topic = harness_script_str(v);
        st->params = harness_script_field(o, "payload");
        st->has_params = st->params != NULL;
        struct harness_strbuf label = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&label, "frame %s", st->topic);
        st->label = harness_strbuf_detach(&label, NULL);
        return harness_script_prepare_params(st, err, where);
    }
    const char *const one[] = {kind, NULL};
    if (harness_script_check_keys(o, one, where, err) < 0) return -1;
    if (!strcmp(kind, "sleep")) {
        if (!harness_script_number(v, &st->seconds) || !(st->seconds >= 0) || !isfinite(st->seconds)) {
            harness_strbuf_appendf(err, "%s: sleep needs a number of seconds", where);
            return -1;
        }
        st->kind = HARNESS_STEP_SLEEP;
        struct harness_strbuf label = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&label, "sleep %g", st->seconds);
        st->label = harness_strbuf_detach(&label, NULL);
        return 0;
    }
    if (!strcmp(kind, "expect")) {
        st->kind = HARNESS_STEP_EXPECT_FRAME;
        return harness_script_parse_expect_frame(script, st, v, where, err);
    }
    if (!strcmp(kind, "stress")) {
        st->kind = HARNESS_STEP_STRESS;
        return harness_script_parse_stress(script, st, v, where, err);
    }
    if (!strcmp(kind, "core")) {
        st->kind = HARNESS_STEP_CORE;
        return harness_script_parse_core(script, st, v, where, err);
    }
    st->kind = !strcmp(kind, "mark") ? HARNESS_STEP_MARK : HARNESS_STEP_STOP;
    st->label = harness_xstrdup(kind);
    return 0;
}

static int harness_script_parse_text(struct harness_script *script, const char *text, const msgpack_object **out,
                                     const char *what, struct harness_strbuf *err)
{
    msgpack_object *obj = msgpack_zone_malloc(&script->zone, sizeof *obj);
    struct harness_strbuf perr = HARNESS_STRBUF_INIT;
    int rc = harness_payload_yaml_parse(text, strlen(text), &script->zone, obj, &perr);
    if (rc < 0) harness_strbuf_appendf(err, "%s: %s", what, perr.data);
    harness_strbuf_destroy(&perr);
    *out = obj;
    return rc;
}

int harness_script_add_call(struct harness_script *script, const char *method, const char *params_text,
                            struct harness_strbuf *err)
{
    struct harness_step *st = harness_script_push(&script->steps, &script->count, &script->cap);
    st->kind = HARNESS_STEP_CALL;
    st->method = harness_xstrdup(method);
    st->method_len = strlen(method);
    struct harness_strbuf label = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&label, "call %s", method);
    st->label = harness_strbuf_detach(&label, NULL);
    if (params_text) {
        struct harness_strbuf what = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&what, "--call %s params", method);
        int rc = harness_script_parse_text(script, params_text, &st->params, what.data, err);
        harness_strbuf_destroy(&what);
        if (rc < 0) return -1;
        st->has_params = 1;
    }
    return harness_script_prepare_params(st, err, "--call");
}

int harness_script_add_frame(struct harness_script *script, const char *topic, const char *payload_text,
                             struct harness_strbuf *err)
{
    struct harness_step *st = harness_script_push(&script->steps, &script->count, &script->cap);
    st->kind = HARNESS_STEP_FRAME;
    st->topic = harness_xstrdup(topic);
    struct harness_strbuf label = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&label, "frame %s", topic);
    st->label = harness_strbuf_detach(&label, NULL);
    if (payload_text) {
        if (harness_script_parse_text(script, payload_text, &st->params, "--frame payload", err) < 0) return -1;
        st->has_params = 1;
    }
    return harness_script_prepare_params(st, err, "--frame");
}

int harness_script_load(struct harness_script *script, const char *path, struct harness_strbuf *err)
{
    msgpack_object *root = msgpack_zone_malloc(&script->zone, sizeof *root);
    if (harness_payload_yaml_parse_file(path, &script->zone, root, err) < 0) return -1;
    if (root->type == MSGPACK_OBJECT_NIL) return 0;
    if (root->type != MSGPACK_OBJECT_ARRAY) {
        harness_strbuf_appendf(err, "%s: a script is a YAML list of steps", path);
        return -1;
    }
    size_t first = script->count;
    for (uint32_t i = 0; i < root->via.array.size; i++) {
        struct harness_step *st = harness_script_push(&script->steps, &script->count, &script->cap);
        char where[256];
        snprintf(where, sizeof where, "%s: step %zu", path, first + i + 1);
        if (harness_script_parse_step(script, st, &root->via.array.ptr[i], where, 0, err) < 0) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- running */

struct harness_script_state {
    struct harness_script_env *env;
    size_t mark; /* frame expects look at frames from this index on */
};

static void harness_script_code_text(struct harness_strbuf *sb, int code)
{
    const char *name = harness_errcode_name(code);
    harness_strbuf_appendf(sb, "%d", code);
    if (name && code) harness_strbuf_appendf(sb, " (%s)", name);
}

/* the reply against the step's expect; 1 ok, 0 with why */
static int harness_script_check_reply(const struct harness_step *st, const struct harness_subst *subst,
                                      const struct harness_reply *reply, struct harness_strbuf *why)
{
    if (!st->has_expect) return 1;
    if (st->expect_has_code && reply->code != st->expect_code) {
        harness_strbuf_append_str(why, "expected code ");
        harness_script_code_text(why, st->expect_code);
        harness_strbuf_append_str(why, ", seen ");
        harness_script_code_text(why, reply->code);
        return 0;
    }
    if (st->expect_payload == HARNESS_EXPECT_PAYLOAD_ABSENT && reply->has_payload) {
        harness_strbuf_append_str(why, "expected no payload, seen ");
        harness_payload_json_describe(why, reply->payload, reply->payload_len);
        return 0;
    }
    if (st->expect_payload == HARNESS_EXPECT_PAYLOAD_VALUE) {
        if (!reply->has_payload) {
            harness_strbuf_append_str(why, "expected a payload, seen none (code ");
            harness_script_code_text(why, reply->code);
            harness_strbuf_append_char(why, ')');
            return 0;
        }
        struct harness_strbuf detail = HARNESS_STRBUF_INIT;
        int ok = harness_payload_match_packed(st->expect_value, subst, reply->payload, reply->payload_len, &detail);
        if (!ok) {
            harness_strbuf_append_str(why, "payload mismatch: ");
            harness_strbuf_append_str(why, harness_strbuf_cstr(&detail));
        }
        harness_strbuf_destroy(&detail);
        return ok;
    }
    return 1;
}

/* one call step; 1 ok, 0 failed (why), -1 cannot run (why) */
static int harness_script_call(struct harness_script_env *env, const struct harness_step *st,
                               const struct harness_subst *subst, int print, struct harness_strbuf *why)
{
    const char *method = st->method;
    size_t method_len = st->method_len;
    struct harness_strbuf msub = HARNESS_STRBUF_INIT;
    if (subst && subst->active && memchr(method, '{', method_len)) {
        int whole;
        long long iv;
        harness_payload_subst_text(method, method_len, subst, &msub, &whole, &iv);
        method = msub.data;
        method_len = msub.len;
    }
    char *params = st->params_packed;
    size_t params_len = st->params_len;
    char *dyn = NULL;
    if (st->has_params && st->params_dynamic) {
        if (harness_payload_pack_bytes(st->params, subst, &dyn, &params_len, why) < 0) {
            harness_strbuf_destroy(&msub);
            return -1;
        }
        params = dyn;
    }
    struct harness_reply reply;
    harness_service_call(env->svc, method, method_len, st->has_params ? params : NULL,
                         st->has_params ? params_len : 0, &reply);
    harness_action_ledger_on_call(env->ledger, method, method_len, params, st->has_params ? params_len : 0,
                                  reply.code);
    if (print) {
        /* frames the call caused are printed before its reply */
        harness_bus_wait_processed(harness_bus_pushed(), HARNESS_SCRIPT_DRAIN_WAIT);
        harness_json_lines_reply(method, method_len, &reply);
    }
    int ok = harness_script_check_reply(st, subst, &reply, why);
    if (ok > 0 && reply.code < 0 && !st->expect_has_code && !why->len) {
        /* no expect asked for a code: the step passes, but not as "ok" */
        const char *name = harness_errcode_name(reply.code);
        harness_strbuf_appendf(why, "%d %s", (int)reply.code, name ? name : "(unknown code)");
        ok = 2;
    }
    harness_reply_clear(&reply);
    free(dyn);
    harness_strbuf_destroy(&msub);
    return ok;
}

static int harness_script_frame(struct harness_script_env *env, const struct harness_step *st,
                                const struct harness_subst *subst, int wait, struct harness_strbuf *why)
{
    struct harness_strbuf topic = HARNESS_STRBUF_INIT;
    int whole;
    long long iv;
    harness_payload_subst_text(st->topic, strlen(st->topic), subst, &topic, &whole, &iv);
    char *payload = st->params_packed, *dyn = NULL;
    size_t len = st->has_params ? st->params_len : 0;
    if (st->has_params && st->params_dynamic) {
        if (harness_payload_pack_bytes(st->params, subst, &dyn, &len, why) < 0) {
            harness_strbuf_destroy(&topic);
            return -1;
        }
        payload = dyn;
    }
    int delivered = harness_service_frame(env->svc, topic.data, payload, len, env->deliver_unsubscribed);
    /* the bus would not deliver it either: say so, but it is not a failure
     * (a test may inject frames the library is meant to ignore) */
    if (!delivered && why && wait) {
        harness_strbuf_append_str(why, "not delivered: the library has no matching subscription; "
                                       "--deliver-unsubscribed delivers it anyway");
    }
    if (delivered && wait && harness_rpc_pool_wait_idle(env->svc->pool, HARNESS_SCRIPT_FRAME_WAIT) < 0)
        harness_log(HARNESS_LOG_WARN, "svc_on_frame still running after %g s", HARNESS_SCRIPT_FRAME_WAIT);
    free(dyn);
    harness_strbuf_destroy(&topic);
    return 1;
}

static int harness_script_frame_matches(const struct harness_step *st, const struct harness_frame_rec *rec)
{
    if (!harness_topic_match(st->topic, rec->topic)) return 0;
    if (!st->payload) return 1;
    return harness_payload_match_packed(st->payload, NULL, rec->payload, rec->len, NULL);
}

/* 1 ok, 0 failed with why */
static int harness_script_expect_frame(struct harness_script_state *state, const struct harness_step *st,
                                       struct harness_strbuf *why)
{
    struct harness_frame_log *log = state->env->frames;
    harness_bus_wait_processed(harness_bus_pushed(), HARNESS_SCRIPT_DRAIN_WAIT);
    /* none: only what arrives from now on; otherwise since the mark */
    size_t from = st->none ? harness_frame_log_count(log) : state->mark;
    double deadline = harness_clock_now() + st->within;
    unsigned long matched = 0;
    size_t scanned = from;
    for (;;) {
        size_t n = harness_frame_log_count(log);
        for (; scanned < n; scanned++) {
            if (harness_script_frame_matches(st, harness_frame_log_get(log, scanned))) matched++;
        }
        if (st->none && matched) break;
        if (!st->none && matched >= st->count) return 1;
        if (harness_clock_now() >= deadline) break;
        harness_frame_log_wait(log, n, deadline);
    }
    if (st->none) {
        if (!matched) return 1;
        harness_strbuf_appendf(why, "expected no matching frame within %g s, seen %lu", st->within, matched);
        return 0;
    }
    harness_strbuf_appendf(why, "expected %s%lu frame%s on %s", st->count > 1 ? "at least " : "", st->count,
                           st->count > 1 ? "s" : "", st->topic);
    if (st->payload) {
        harness_strbuf_append_str(why, " with payload ");
        char *data;
        size_t len;
        struct harness_strbuf perr = HARNESS_STRBUF_INIT;
        if (harness_payload_pack_bytes(st->payload, NULL, &data, &len, &perr) == 0) {
            harness_payload_json_describe(why, data, len);
            free(data);
        }
        harness_strbuf_destroy(&perr);
    }
    harness_strbuf_appendf(why, " within %g s, seen %lu matching", st->within, matched);
    /* show the last few frames on a matching topic: usually the answer */
    size_t shown = 0, n = harness_frame_log_count(log);
    for (size_t i = n; i > state->mark && shown < 3; i--) {
        const struct harness_frame_rec *rec = harness_frame_log_get(log, i - 1);
        if (!harness_topic_match(st->topic, rec->topic)) continue;
        harness_strbuf_append_str(why, shown ? "; " : "; last on a matching topic: ");
        harness_strbuf_appendf(why, "%s ", rec->topic);
        harness_payload_json_describe(why, rec->payload, rec->len);
        shown++;
    }
    if (!shown) harness_strbuf_appendf(why, "; no frame on a matching topic (%zu frames in all)", n - state->mark);
    return 0;
}

/* the core's state of one OID as {oid, status, value} (packed), or NULL */
static char *harness_script_core_state(struct harness_mock_core *core, const char *oid, size_t *len)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    harness_item_store_pack_query(&core->items, &oid, 1, &pk);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object list;
    size_t off = 0;
    char *out = NULL;
    if (msgpack_unpack(sbuf.data, sbuf.size, &off, &zone, &list) == MSGPACK_UNPACK_SUCCESS &&
        list.type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < list.via.array.size && !out; i++) {
            const msgpack_object *e = &list.via.array.ptr[i];
            const msgpack_object *o = harness_script_field(e, "oid");
            if (o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(oid) &&
                !memcmp(o->via.str.ptr, oid, o->via.str.size)) {
                msgpack_sbuffer one;
                msgpack_sbuffer_init(&one);
                msgpack_packer p1;
                msgpack_packer_init(&p1, &one, msgpack_sbuffer_write);
                msgpack_pack_object(&p1, *e);
                out = harness_xmemdup(one.data, one.size);
                *len = one.size;
                msgpack_sbuffer_destroy(&one);
            }
        }
    }
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sbuf);
    return out;
}

/* 1 when the mock core's state of st->oid matches (within st->within s) */
static int harness_script_core(struct harness_script_env *env, const struct harness_step *st,
                               struct harness_strbuf *why)
{
    if (!env->core) {
        harness_strbuf_append_str(why, "no core in this run");
        return 0;
    }
    double deadline = harness_clock_now() + st->within;
    for (;;) {
        harness_bus_wait_processed(harness_bus_pushed(), HARNESS_SCRIPT_DRAIN_WAIT);
        size_t len = 0;
        char *state = harness_script_core_state(env->core, st->oid, &len);
        int ok;
        harness_strbuf_reset(why);
        if (st->absent) {
            ok = state == NULL;
            if (!ok) {
                harness_strbuf_append_str(why, "the core holds ");
                harness_payload_json_describe(why, state, len);
            }
        } else if (!state) {
            ok = 0;
            harness_strbuf_appendf(why, "the core holds no state for %s%s", st->oid,
                                   harness_mock_core_is_active(env->core)
                                       ? ""
                                       : " (the core is not active yet: it drops RAW events)");
        } else {
            ok = !st->core_expect || harness_payload_match_packed(st->core_expect, NULL, state, len, NULL);
            if (!ok) {
                harness_strbuf_append_str(why, "the core holds ");
                harness_payload_json_describe(why, state, len);
            }
        }
        free(state);
        if (ok) {
            harness_strbuf_reset(why);
            return 1;
        }
        if (harness_clock_now() >= deadline) {
            if (st->within > 0) harness_strbuf_appendf(why, " (waited %g s)", st->within);
            return 0;
        }
        harness_clock_sleep(0.02);
    }
}

/* -------------------------------------------------------------- stress */

struct harness_stress {
    struct harness_script_env *env;
    const struct harness_step *st;
    atomic_ulong calls;
    atomic_ulong failures;
    pthread_mutex_t mutex;
    struct harness_strbuf shown;
    unsigned shown_count;
};

struct harness_stress_thread {
    struct harness_stress *stress;
    unsigned index;
    pthread_t thread;
};

static void *harness_stress_main(void *arg)
{
    struct harness_stress_thread *th = arg;
    struct harness_stress *s = th->stress;
    struct harness_strbuf why = HARNESS_STRBUF_INIT;
    for (unsigned long n = 0; n < s->st->iterations; n++) {
        if (harness_service_stop_requested(s->env->svc) != HARNESS_STOP_NONE) break;
        struct harness_subst subst = {1, (long long)th->index, (long long)n};
        for (size_t i = 0; i < s->st->step_count; i++) {
            const struct harness_step *sub = &s->st->steps[i];
            harness_strbuf_reset(&why);
            int ok = 1;
            if (sub->kind == HARNESS_STEP_CALL) {
                atomic_fetch_add(&s->calls, 1);
                ok = harness_script_call(s->env, sub, &subst, 0, &why) > 0;
            } else if (sub->kind == HARNESS_STEP_FRAME) {
                ok = harness_script_frame(s->env, sub, &subst, 0, &why) > 0;
            } else if (sub->kind == HARNESS_STEP_SLEEP) {
                harness_clock_sleep(sub->seconds);
            }
            if (ok) continue;
            atomic_fetch_add(&s->failures, 1);
            pthread_mutex_lock(&s->mutex);
            if (s->shown_count < HARNESS_SCRIPT_STRESS_SHOWN) {
                harness_strbuf_appendf(&s->shown, "\n    thread %u iteration %lu %s: %s", th->index, n, sub->label,
                                       harness_strbuf_cstr(&why));
            }
            s->shown_count++;
            pthread_mutex_unlock(&s->mutex);
        }
    }
    harness_strbuf_destroy(&why);
    return NULL;
}

static int harness_script_stress(struct harness_script_env *env, const struct harness_step *st,
                                 struct harness_strbuf *why)
{
    struct harness_stress s;
    memset(&s, 0, sizeof s);
    s.env = env;
    s.st = st;
    pthread_mutex_init(&s.mutex, NULL);
    struct harness_stress_thread *threads = harness_xcalloc(st->threads, sizeof *threads);
    double t0 = harness_clock_now();
    unsigned started = 0;
    for (unsigned i = 0; i < st->threads; i++) {
        threads[i].stress = &s;
        threads[i].index = i;
        if (pthread_create(&threads[i].thread, NULL, harness_stress_main, &threads[i]) != 0) break;
        started++;
    }
    for (unsigned i = 0; i < started; i++) pthread_join(threads[i].thread, NULL);
    double elapsed = harness_clock_now() - t0;
    unsigned long calls = atomic_load(&s.calls), failures = atomic_load(&s.failures);
    char line[256];
    snprintf(line, sizeof line, "stress: %u threads x %lu iterations: %lu calls, %lu failures, %.0f calls/s",
             st->threads, st->iterations, calls, failures, elapsed > 0 ? (double)calls / elapsed : 0.0);
    harness_output_stderr_line(line);
    int ok = failures == 0 && started == st->threads;
    if (started != st->threads) harness_strbuf_appendf(why, "could only start %u threads", started);
    if (failures) {
        harness_strbuf_appendf(why, "%lu failed expects; first %u:%s", failures,
                               s.shown_count < HARNESS_SCRIPT_STRESS_SHOWN ? s.shown_count : HARNESS_SCRIPT_STRESS_SHOWN,
                               harness_strbuf_cstr(&s.shown));
    }
    harness_strbuf_destroy(&s.shown);
    pthread_mutex_destroy(&s.mutex);
    free(threads);
    return ok;
}

/* ----------------------------------------------------------------- steps */

/* ok: 0 failed, 1 ok, 2 a call answered an error that no expect asked about */
static void harness_script_outcome(size_t index, size_t total, const struct harness_step *st, int ok,
                                   const struct harness_strbuf *why)
{
    struct harness_strbuf line = HARNESS_STRBUF_INIT;
    if (ok == 2) {
        harness_strbuf_appendf(&line, "step %zu/%zu %s: error reply %s (no expect given: the step does not fail)",
                               index + 1, total, st->label, why->data);
        harness_output_stderr_line(line.data);
        harness_strbuf_destroy(&line);
        return;
    }
    harness_strbuf_appendf(&line, "step %zu/%zu %s: %s", index + 1, total, st->label, ok ? "ok" : "FAILED");
    if (why->len) harness_strbuf_appendf(&line, "%s%s", ok ? " (" : ": ", why->data);
    if (ok && why->len) harness_strbuf_append_char(&line, ')');
    harness_output_stderr_line(line.data);
    harness_strbuf_destroy(&line);
}

int harness_script_run(struct harness_script *script, struct harness_script_env *env)
{
    struct harness_script_state state = {env, 0};
    struct harness_strbuf why = HARNESS_STRBUF_INIT;
    int rc = HARNESS_EXIT_OK;
    size_t i;
    for (i = 0; i < script->count; i++) {
        enum harness_stop_reason reason = harness_service_stop_requested(env->svc);
        if (reason != HARNESS_STOP_NONE) {
            struct harness_strbuf line = HARNESS_STRBUF_INIT;
            harness_strbuf_appendf(&line, "run stopped by %s before step %zu/%zu: %zu step%s not run",
                                   harness_service_stop_reason_name(reason), i + 1, script->count, script->count - i,
                                   script->count - i > 1 ? "s" : "");
            harness_output_stderr_line(line.data);
            harness_strbuf_destroy(&line);
            rc = HARNESS_EXIT_FAILED;
            break;
        }
        const struct harness_step *st = &script->steps[i];
        harness_strbuf_reset(&why);
        int ok = 1;
        switch (st->kind) {
        case HARNESS_STEP_CALL: {
            int r = harness_script_call(env, st, NULL, 1, &why);
            ok = r > 0 ? r : 0;
            break;
        }
        case HARNESS_STEP_FRAME:
            ok = harness_script_frame(env, st, NULL, 1, &why) > 0;
            break;
        case HARNESS_STEP_SLEEP:
            /* a stop request (signal, TERMINATE) cuts a sleep short */
            harness_service_wait_stop(env->svc, st->seconds);
            break;
        case HARNESS_STEP_EXPECT_FRAME:
            ok = harness_script_expect_frame(&state, st, &why);
            break;
        case HARNESS_STEP_MARK:
            harness_bus_wait_processed(harness_bus_pushed(), HARNESS_SCRIPT_DRAIN_WAIT);
            state.mark = env->frames ? harness_frame_log_count(env->frames) : 0;
            break;
        case HARNESS_STEP_STRESS:
            ok = harness_script_stress(env, st, &why);
            break;
        case HARNESS_STEP_STOP:
            harness_service_request_stop(env->svc, HARNESS_STOP_END);
            break;
        case HARNESS_STEP_CORE:
            ok = harness_script_core(env, st, &why);
            break;
        }
        harness_script_outcome(i, script->count, st, ok, &why);
        if (!ok) {
            rc = HARNESS_EXIT_FAILED;
            i++;
            break;
        }
        if (st->kind == HARNESS_STEP_STOP) {
            i++;
            break;
        }
        /* `stop` as a call ends the run too, as it would on a node */
        if (harness_service_stop_requested(env->svc) == HARNESS_STOP_CALL) {
            i++;
            break;
        }
    }
    if (i < script->count && rc == HARNESS_EXIT_OK) {
        char line[160];
        snprintf(line, sizeof line, "%zu step%s after the stop not run", script->count - i,
                 script->count - i > 1 ? "s" : "");
        harness_output_stderr_line(line);
    }
    harness_strbuf_destroy(&why);
    return rc;
}
