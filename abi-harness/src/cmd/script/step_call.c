/* The call step: a call to the library as the bus delivers it, its reply
 * printed as a JSON line and checked against the step's expect {code,
 * payload}. An error reply that no expect asked about does not fail the
 * step, but it is not reported as plain "ok" either. */
#include "script_steps.h"

#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "errcode.h"
#include "json_lines.h"
#include "payload_json.h"
#include "payload_match.h"

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

/* - call: METHOD   params: ...   expect: {code, payload} */
int harness_script_parse_call(struct harness_step *st, const msgpack_object *o, const msgpack_object *v,
                              const char *where, struct harness_strbuf *err)
{
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
int harness_script_call(struct harness_script_env *env, const struct harness_step *st,
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
