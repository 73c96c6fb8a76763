/* check symbols: the library loads and has what the launcher requires
 * (svc_init, eva_svc_get_result, eva_svc_set_op_fn); the verdict lists the
 * optional symbols it has and the ones it lacks. */
#include "checks.h"

#include "loader.h"

void harness_check_symbols(struct harness_check_child *ch)
{
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    struct harness_lib lib;
    harness_check_stage(ch, "dlopen");
    if (harness_loader_open(&lib, ch->ctx->lib_path, &err) < 0) harness_check_verdict(ch, HARNESS_FAIL, "%s", err.data);
    struct harness_strbuf present = HARNESS_STRBUF_INIT, missing = HARNESS_STRBUF_INIT;
    harness_loader_describe(&lib, &present, &missing);
    harness_check_verdict(ch, HARNESS_PASS, "required present; optional present: %s; missing: %s",
                          present.len ? present.data : "none", missing.len ? missing.data : "none");
}
