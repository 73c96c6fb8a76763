/* check op-buffers: every op buffer the library sends in a lifecycle and a
 * call of each method, read as the launcher reads it (op_buffers.c): a
 * missing final NUL or a GET_RPC_RESULT after a call that returned <= 0 is
 * accepted by the launcher but breaks the ABI text (WARN); an empty topic
 * hangs the launcher (the hang hook makes that a FAIL). */
#include "checks.h"

#include <stdlib.h>

#include "bus.h"
#include "clock.h"

void harness_check_op_buffers(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    if (ch->svc.lib.on_rpc_call) {
        struct harness_check_call *cand;
        size_t n = harness_check_candidates(ch, &cand, 0);
        for (size_t i = 0; i < n; i++) {
            harness_check_stage(ch, "call %.*s%s", (int)cand[i].method_len, cand[i].method,
                                cand[i].payload_len ? " {}" : "");
            struct harness_reply r;
            harness_service_call(&ch->svc, cand[i].method, cand[i].method_len, cand[i].payload, cand[i].payload_len,
                                 &r);
            harness_reply_clear(&r);
        }
        free(cand);
    }
    harness_check_stage(ch, "running");
    harness_clock_sleep(1.2);
    harness_check_stage(ch, "stop");
    harness_service_shutdown(&ch->svc);
    struct harness_bus_stats st;
    harness_bus_get_stats(&st);
    struct harness_strbuf warn = HARNESS_STRBUF_INIT;
    for (int i = 0; i < HARNESS_NUL_SLOTS; i++) {
        if (st.no_nul[i])
            harness_strbuf_appendf(&warn, "%s%s without a final NUL (%lu)", warn.len ? ", " : "",
                                   harness_nul_slot_names[i], st.no_nul[i]);
    }
    if (warn.len)
        harness_strbuf_append_str(&warn, ": the ABI text asks for NUL-terminated text, the launcher accepts it "
                                         "(abi-and-launcher.md, \"Buffers passed through the op function\")");
    if (st.stale_results)
        harness_strbuf_appendf(&warn, "%s%lu GET_RPC_RESULT after an RPC_CALL that returned <= 0 (the launcher hands "
                                      "back the previous result: abi-and-launcher.md, GET_RPC_RESULT)",
                               warn.len ? "; " : "", st.stale_results);
    if (warn.len) harness_check_verdict(ch, HARNESS_WARN, "%s", warn.data);
    harness_check_verdict(ch, HARNESS_PASS, "%lu op calls, every buffer as the ABI text has it", st.ops);
}
