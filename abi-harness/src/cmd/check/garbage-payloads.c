/* check garbage-payloads: each listed method gets payloads that are not
 * MessagePack (must be refused), MessagePack of the wrong shape and deeply
 * nested values (anything but a crash or a hang), each ending at a guard
 * page; a result it announces must be fetchable. */
#include "checks.h"

#include <string.h>

#include "check_cases.h"
#include "guard_page.h"
#include "rng.h"

void harness_check_garbage_payloads(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    harness_check_need_rpc(ch);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    size_t total = 0, methods = 0;
    unsigned long failures = 0;
    struct harness_rng rng;
    harness_rng_seed(&rng, ch->ctx->o->seed);
    for (size_t mi = 0; mi < ch->methods.count; mi++) {
        const char *m = ch->methods.names[mi];
        if (!strcmp(m, "test") || !strcmp(m, "info") || !strcmp(m, "stop")) continue;
        methods++;
        struct harness_check_case *cases;
        size_t n = harness_check_payload_cases(&ch->methods, mi, &rng, &cases);
        for (size_t i = 0; i < n; i++) {
            harness_check_stage(ch, "%s with %s", m, cases[i].label);
            struct harness_guard g;
            const char *payload = cases[i].len ? harness_guard_place(&g, cases[i].data, cases[i].len) : NULL;
            struct harness_reply r;
            harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, m, strlen(m), payload, cases[i].len, &r);
            if (cases[i].len) harness_guard_free(&g);
            total++;
            const char *why = NULL;
            if (!cases[i].is_msgpack && r.code >= 0) why = "accepted a payload that is not MessagePack";
            else if (r.svc_return > 0 && r.code < 0) why = "returned a size but eva_svc_get_result failed";
            else if (r.overrun) why = "eva_svc_get_result wrote past max";
            if (why) {
                failures++;
                if (bad.len < 700) {
                    harness_strbuf_appendf(&bad, "%s%s with %s: %s (", bad.len ? "; " : "", m, cases[i].label, why);
                    harness_check_describe_reply(&bad, &r);
                    harness_strbuf_append_char(&bad, ')');
                }
            }
            harness_reply_clear(&r);
        }
        harness_check_cases_free(cases, n);
    }
    if (methods == 0) harness_check_verdict(ch, HARNESS_SKIP, "info lists no methods besides test/info/stop");
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "%lu of %zu: %s", failures, total, bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "%zu garbage payloads to %zu methods: no crash, non-MessagePack refused", total,
                          methods);
}
