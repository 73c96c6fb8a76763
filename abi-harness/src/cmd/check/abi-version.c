/* check abi-version: eva_svc_set_op_fn answers a version it does not speak
 * with UNSUPPORTED and version 1 with 0 (abi-and-launcher.md, "How the real
 * launcher drives a library", 2). */
#include "checks.h"

#include "bus.h"

void harness_check_abi_version(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_LOADED);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    static const uint16_t wrong[] = {0, 2};
    for (size_t i = 0; i < 2; i++) {
        harness_check_stage(ch, "eva_svc_set_op_fn(%u)", wrong[i]);
        int16_t rc = ch->svc.lib.set_op_fn(wrong[i], harness_bus_op);
        if (rc != EVA_ERR_CODE_UNSUPPORTED)
            harness_strbuf_appendf(&bad, "%sversion %u returned %d, expected UNSUPPORTED (-32006)", bad.len ? "; " : "",
                                   wrong[i], (int)rc);
    }
    harness_check_stage(ch, "eva_svc_set_op_fn(1)");
    int16_t rc = ch->svc.lib.set_op_fn(1, harness_bus_op);
    if (rc != 0) harness_strbuf_appendf(&bad, "%sversion 1 returned %d, expected 0", bad.len ? "; " : "", (int)rc);
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "%s", bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "versions 0 and 2 -> UNSUPPORTED, version 1 -> 0");
}
