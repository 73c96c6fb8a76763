/* check garbage-payloads: each listed method gets payloads that are not
 * MessagePack, MessagePack of the wrong shape and deeply nested values,
 * each ending at a guard page. The verdict is what the garbage does on a
 * node (issue 14 §4):
 *   FAIL  what breaks there: a crash or a hang (the driver's time limit), a
 *         reply that is not MessagePack, a size whose result cannot be
 *         fetched (or a fetch past max), a library that stops answering
 *         after the garbage (a method answers no payload otherwise than
 *         before it);
 *   WARN  a method whose info lists params accepts a payload that is not
 *         MessagePack, or one that lists none answers it otherwise than no
 *         payload: a node passes it on, but the ABI text says payloads are
 *         MessagePack;
 *   PASS  otherwise. A method that answers garbage exactly as it answers
 *         no payload takes no payload (a `ping` that ignores it): PASS. */
#include "checks.h"

#include <msgpack.h>
#include <string.h>

#include "check_cases.h"
#include "guard_page.h"
#include "rng.h"

#define HARNESS_GARBAGE_SPEC                                                                                          \
    "payloads are MessagePack unless a method says otherwise (the ABI text, \"ABI architecture\"); params as the "     \
    "info lists them (abi-and-launcher.md, \"Service info returned by svc_init\")"

/* findings of one kind, the first ones spelled out */
struct harness_garbage_notes {
    struct harness_strbuf text;
    unsigned long count;
};

static void harness_garbage_note(struct harness_garbage_notes *n, const char *m, const char *label, const char *why,
                                 const struct harness_reply *r)
{
    n->count++;
    if (n->text.len >= 700) return;
    harness_strbuf_appendf(&n->text, "%s%s with %s: %s (", n->text.len ? "; " : "", m, label, why);
    harness_check_describe_reply(&n->text, r);
    harness_strbuf_append_char(&n->text, ')');
}

static int harness_garbage_same_reply(const struct harness_reply *a, const struct harness_reply *b)
{
    return a->code == b->code && a->has_payload == b->has_payload && a->payload_len == b->payload_len &&
           (!a->has_payload || !memcmp(a->payload, b->payload, a->payload_len));
}

/* exactly one MessagePack value, as a caller decodes a reply */
static int harness_garbage_reply_decodes(const char *data, size_t len)
{
    return harness_check_unpack(data, len) == MSGPACK_UNPACK_SUCCESS;
}

/* what breaks on a node whatever the payload was; NULL when nothing */
static const char *harness_garbage_broken(const struct harness_reply *r)
{
    if (r->svc_return > 0 && r->code < 0) return "returned a size but eva_svc_get_result failed";
    if (r->overrun) return "eva_svc_get_result wrote past max";
    if (r->has_payload && !harness_garbage_reply_decodes(r->payload, r->payload_len))
        return "the reply is not one MessagePack value (a node passes it on to a caller that cannot decode it)";
    return NULL;
}

static void harness_garbage_call(struct harness_check_child *ch, const char *m, const char *data, size_t len,
                                 struct harness_reply *r)
{
    struct harness_guard g;
    const char *payload = len ? harness_guard_place(&g, data, len) : NULL;
    harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, m, strlen(m), payload, len, r);
    if (len) harness_guard_free(&g);
}

void harness_check_garbage_payloads(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    harness_check_need_rpc(ch);
    struct harness_garbage_notes fails = {HARNESS_STRBUF_INIT, 0}, warns = {HARNESS_STRBUF_INIT, 0};
    struct harness_strbuf payload_free = HARNESS_STRBUF_INIT; /* methods that ignored the garbage */
    size_t total = 0, calls = 0, methods = 0;
    struct harness_rng rng;
    harness_rng_seed(&rng, ch->ctx->o->seed);
    for (size_t mi = 0; mi < ch->methods.count; mi++) {
        const char *m = ch->methods.names[mi];
        if (!strcmp(m, "test") || !strcmp(m, "info") || !strcmp(m, "stop")) continue;
        methods++;
        calls += 3; /* no payload twice before the garbage, once after */
        size_t np = ch->methods.param_counts ? ch->methods.param_counts[mi] : 0;
        /* how it answers no payload, twice: a reply that changes from call
         * to call (a counter, a time) is compared by its code only */
        struct harness_reply none, none2;
        harness_check_stage(ch, "%s with no payload", m);
        harness_garbage_call(ch, m, NULL, 0, &none);
        harness_garbage_call(ch, m, NULL, 0, &none2);
        int stable = harness_garbage_same_reply(&none, &none2);
        int same_code = none.code == none2.code;
        const char *why = harness_garbage_broken(&none);
        if (why) harness_garbage_note(&fails, m, "no payload", why, &none);
        harness_reply_clear(&none2);

        struct harness_check_case *cases;
        size_t n = harness_check_payload_cases(&ch->methods, mi, &rng, &cases);
        unsigned long ignored = 0;
        for (size_t i = 0; i < n; i++) {
            harness_check_stage(ch, "%s with %s", m, cases[i].label);
            struct harness_reply r;
            harness_garbage_call(ch, m, cases[i].data, cases[i].len, &r);
            total++;
            calls++;
            if ((why = harness_garbage_broken(&r))) {
                harness_garbage_note(&fails, m, cases[i].label, why, &r);
            } else if (!cases[i].is_msgpack && r.code >= 0) {
                int as_none = stable ? harness_garbage_same_reply(&r, &none) : r.code == none.code;
                if (np)
                    harness_garbage_note(&warns, m, cases[i].label,
                                         "accepted a payload that is not MessagePack although its info lists params",
                                         &r);
                else if (!as_none)
                    harness_garbage_note(&warns, m, cases[i].label,
                                         "accepted a payload that is not MessagePack and answered otherwise than no "
                                         "payload: it reads a payload its info does not list",
                                         &r);
                else
                    ignored++;
            }
            harness_reply_clear(&r);
        }
        harness_check_cases_free(cases, n);
        if (ignored) harness_strbuf_appendf(&payload_free, "%s%s", payload_free.len ? ", " : "", m);

        /* still answering? no payload again, as before the garbage */
        harness_check_stage(ch, "%s with no payload after the garbage", m);
        struct harness_reply after;
        harness_garbage_call(ch, m, NULL, 0, &after);
        if (same_code && after.code != none.code) {
            struct harness_strbuf w = HARNESS_STRBUF_INIT;
            harness_strbuf_appendf(&w, "stopped answering as before it: no payload answered code %d then, now",
                                   (int)none.code);
            harness_garbage_note(&fails, m, "no payload after the garbage", w.data, &after);
            harness_strbuf_destroy(&w);
        }
        harness_reply_clear(&after);
        harness_reply_clear(&none);
    }
    if (methods == 0) harness_check_verdict(ch, HARNESS_SKIP, "info lists no methods besides test/info/stop");
    if (fails.count)
        harness_check_verdict(ch, HARNESS_FAIL, "%lu of %zu calls: %s", fails.count, calls, fails.text.data);
    if (warns.count)
        harness_check_verdict(ch, HARNESS_WARN, "%lu of %zu calls (%s): %s", warns.count, calls, HARNESS_GARBAGE_SPEC,
                              warns.text.data);
    harness_check_verdict(ch, HARNESS_PASS,
                          "%zu garbage payloads to %zu methods: no crash, MessagePack replies, non-MessagePack "
                          "refused%s%s%s",
                          total, methods, payload_free.len ? " or ignored by methods that take no payload (" : "",
                          harness_strbuf_cstr(&payload_free), payload_free.len ? ")" : "");
}
