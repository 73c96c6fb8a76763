/* A run script: its steps, built from --call/--frame options and from
 * --script FILE (a YAML list), checked when they are read so that a bad
 * script fails before the service starts. What each step kind means is in
 * its own step_*.c; running them is script_run.c. */
#include "script.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload_resolve.h"
#include "payload_yaml.h"
#include "script_steps.h"
#include "xalloc.h"

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

struct harness_step *harness_script_push(struct harness_step **steps, size_t *count, size_t *cap)
{
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *steps = harness_xrealloc(*steps, *cap * sizeof **steps);
    }
    struct harness_step *st = &(*steps)[(*count)++];
    memset(st, 0, sizeof *st);
    return st;
}

int harness_script_prepare_params(struct harness_step *st, struct harness_strbuf *err, const char *where)
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

int harness_script_parse_step(struct harness_script *script, struct harness_step *st, const msgpack_object *o,
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
    if (!strcmp(kind, "call")) return harness_script_parse_call(st, o, v, where, err);
    if (!strcmp(kind, "frame")) return harness_script_parse_frame(st, o, v, where, err);
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
