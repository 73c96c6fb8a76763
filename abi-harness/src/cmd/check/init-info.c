/* check init-info: svc_init returns the size of a service info that the
 * launcher can decode (abi-and-launcher.md, "Service info returned by
 * svc_init"), and eva_svc_get_result with len = max = that size writes it
 * into the caller's buffer and not one byte past max. */
#include "checks.h"

#include <string.h>

#include "info_methods.h"
#include "xalloc.h"

void harness_check_init_info(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_OPFN);
    harness_check_stage(ch, "svc_init");
    int32_t n = harness_check_svc_init(ch);
    if (n < 0) harness_check_verdict(ch, HARNESS_FAIL, "svc_init returned %d", (int)n);
    if (n == 0)
        harness_check_verdict(ch, HARNESS_WARN, "svc_init returned 0: no service info (the launcher uses its dummy "
                                                "info; abi-and-launcher.md, point 3)");
    harness_check_stage(ch, "eva_svc_get_result(len = max = %d)", (int)n);
    char *buf = harness_xmalloc((size_t)n + 64);
    memset(buf + n, 0xcd, 64);
    struct EvaFFIBuffer rb = {(size_t)n, buf, (size_t)n};
    int16_t grc = ch->svc.lib.get_result(&rb);
    if (grc != 0) harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result returned %d", (int)grc);
    for (int i = 0; i < 64; i++) {
        if ((unsigned char)buf[n + i] != 0xcd)
            harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result wrote past max (%d bytes)", (int)n);
    }
    if (rb.data != buf) harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result repointed data instead of writing into it");
    if (rb.len > (size_t)n) harness_check_verdict(ch, HARNESS_FAIL, "eva_svc_get_result set len %zu > max %d", rb.len, (int)n);
    struct harness_strbuf why = HARNESS_STRBUF_INIT;
    struct harness_check_methods m;
    if (harness_check_info_validate(buf, rb.len, &why, &m) < 0) harness_check_verdict(ch, HARNESS_FAIL, "%s", why.data);
    const char *note = rb.len < (size_t)n ? " (note: len is smaller than svc_init's size)" : "";
    harness_check_verdict(ch, HARNESS_PASS, "%zu-byte info, %zu method%s%s", rb.len, m.count, m.count == 1 ? "" : "s",
                          note);
}
