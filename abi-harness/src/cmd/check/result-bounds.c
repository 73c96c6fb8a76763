/* check result-bounds: eva_svc_get_result with a buffer too small for the
 * result (max n-1, max 0, NULL data) fails without writing past max, and the
 * exact size still gives the whole result afterwards. */
#include "checks.h"

#include <msgpack.h>
#include <string.h>

#include "xalloc.h"

void harness_check_result_bounds(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_OPFN);
    harness_check_stage(ch, "svc_init");
    int32_t n = harness_check_svc_init(ch);
    if (n <= 0) harness_check_verdict(ch, HARNESS_SKIP, "svc_init returned %d: no result to bound", (int)n);
    size_t size = (size_t)n, canary = 256;
    unsigned char *mem = harness_xmalloc(size + canary);
    struct harness_strbuf bad = HARNESS_STRBUF_INIT;
    struct {
        const char *what;
        size_t max;
        int null_data;
    } cases[] = {
        {"max = n-1", size - 1, 0},
        {"max = 0", 0, 0},
        {"data NULL, max 0", 0, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (c == 1 && size == 1) continue; /* same as max = n-1 */
        harness_check_stage(ch, "eva_svc_get_result(%s)", cases[c].what);
        memset(mem, 0xcd, size + canary);
        struct EvaFFIBuffer b = {0, cases[c].null_data ? NULL : (char *)mem, cases[c].max};
        int16_t rc = ch->svc.lib.get_result(&b);
        if (rc >= 0) harness_strbuf_appendf(&bad, "%s%s returned %d (expected an error)", bad.len ? "; " : "", cases[c].what, (int)rc);
        for (size_t i = cases[c].max; i < size + canary; i++) {
            if (mem[i] != 0xcd) {
                harness_strbuf_appendf(&bad, "%s%s wrote byte %zu past max", bad.len ? "; " : "", cases[c].what,
                                       i - cases[c].max);
                break;
            }
        }
    }
    harness_check_stage(ch, "eva_svc_get_result(max = n) after the failed ones");
    memset(mem, 0xcd, size + canary);
    struct EvaFFIBuffer b = {size, (char *)mem, size};
    int16_t rc = ch->svc.lib.get_result(&b);
    if (rc != 0) {
        harness_strbuf_appendf(&bad, "%sexact size returned %d after the failed attempts", bad.len ? "; " : "", (int)rc);
    } else {
        for (size_t i = size; i < size + canary; i++) {
            if (mem[i] != 0xcd) {
                harness_strbuf_appendf(&bad, "%sexact size wrote past max", bad.len ? "; " : "");
                break;
            }
        }
        size_t off = 0;
        msgpack_zone zone;
        msgpack_zone_init(&zone, 1024);
        msgpack_object obj;
        if (b.len != size || msgpack_unpack((const char *)mem, b.len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS)
            harness_strbuf_appendf(&bad, "%sthe full result (len %zu of %zu) is not one MessagePack value",
                                   bad.len ? "; " : "", b.len, size);
        msgpack_zone_destroy(&zone);
    }
    if (bad.len) harness_check_verdict(ch, HARNESS_FAIL, "%s", bad.data);
    harness_check_verdict(ch, HARNESS_PASS, "max n-1, max 0 and NULL data refused without writing past max; max n (%zu) "
                                            "still gives the full result", size);
}
