/* check not-ready: calls can reach the library before svc_prepare
 * (abi-and-launcher.md, "How the real launcher drives a library", 4); the
 * ABI says it SHOULD answer NOT_READY until it is ready, so anything else is
 * a WARN. */
#include "checks.h"

#include <string.h>

void harness_check_not_ready(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_BUS);
    harness_check_need_rpc(ch);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    size_t tried = 0;
    for (size_t i = 0; i < ch->methods.count; i++) {
        const char *m = ch->methods.names[i];
        if (!strcmp(m, "test") || !strcmp(m, "info") || !strcmp(m, "stop")) continue;
        harness_check_stage(ch, "%s {} before svc_prepare", m);
        struct harness_reply r;
        harness_rpc_invoke(&ch->svc.lib, ch->ctx->o->sender, m, strlen(m), "\x80", 1, &r);
        tried++;
        if (r.code != EVA_ERR_CODE_NOT_READY) {
            harness_strbuf_appendf(&bad, "%s%s -> ", bad.len ? ", " : "", m);
            harness_check_describe_reply(&bad, &r);
        }
        harness_reply_clear(&r);
    }
    if (tried == 0) harness_check_verdict(ch, HARNESS_SKIP, "info lists no methods besides test/info/stop");
    if (bad.len)
        harness_check_verdict(ch, HARNESS_WARN,
                              "expected NOT_READY (-32005) before svc_prepare (the ABI says a library SHOULD answer it "
                              "until ready; calls can arrive before svc_prepare: abi-and-launcher.md, point 4): %s",
                              bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "all %zu methods answered NOT_READY before svc_prepare", tried);
}
