/* check method-bytes: odd method names (empty, non-UTF-8, embedded NUL,
 * 64 KiB, unterminated at a guard page, a real name with junk after it)
 * answer METHOD_NOT_FOUND and never read past the name's length. */
#include "checks.h"

#include "check_cases.h"
#include "guard_page.h"

void harness_check_method_bytes(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    harness_check_need_rpc(ch);
    struct harness_check_case *cases;
    size_t n = harness_check_method_cases(&ch->methods, &cases);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        harness_check_stage(ch, "method %s", cases[i].label);
        struct harness_guard g;
        const char *name = cases[i].guard ? harness_guard_place(&g, cases[i].data, cases[i].len) : cases[i].data;
        struct harness_reply r;
        harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, name, cases[i].len, NULL, 0, &r);
        if (cases[i].guard) harness_guard_free(&g);
        int ok = cases[i].expect_not_found ? r.code == EVA_ERR_CODE_METHOD_NOT_FOUND && !r.has_payload : 1;
        if (r.svc_return > 0 && r.code < 0) ok = 0;
        if (r.overrun) ok = 0;
        if (!ok && bad.len < 700) {
            harness_strbuf_appendf(&bad, "%s%s -> ", bad.len ? "; " : "", cases[i].label);
            harness_check_describe_reply(&bad, &r);
            if (r.svc_return > 0 && r.code < 0) harness_strbuf_append_str(&bad, " (returned a size but get_result failed)");
            if (r.overrun) harness_strbuf_append_str(&bad, " (get_result wrote past max)");
        }
        harness_reply_clear(&r);
    }
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "expected METHOD_NOT_FOUND (-32601): %s", bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "%zu odd method names (empty, non-UTF-8, embedded NUL, 64 KiB, unterminated "
                                            "at a guard page, ...) answered METHOD_NOT_FOUND, no crash", n);
}
