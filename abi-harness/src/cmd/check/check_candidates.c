/* The calls checks make to a library that they know nothing about: built
 * from the methods its service info lists. */
#include "check_child.h"

#include <string.h>

#include "xalloc.h"

size_t harness_check_candidates(struct harness_check_child *ch, struct harness_check_call **out, int with_builtin)
{
    static const char empty_map[] = "\x80";
    size_t cap = ch->methods.count * 2 + 4, n = 0;
    for (size_t i = 0; i < ch->methods.count; i++) cap += ch->methods.param_counts[i];
    struct harness_check_call *calls = harness_xcalloc(cap, sizeof *calls);
    for (size_t i = 0; i < ch->methods.count; i++) {
        const char *m = ch->methods.names[i];
        if (!strcmp(m, "stop")) continue; /* would ask for TERMINATE */
        if (!with_builtin && (!strcmp(m, "test") || !strcmp(m, "info"))) continue;
        calls[n++] = (struct harness_check_call){m, strlen(m), NULL, 0, 0, NULL, 0, 0};
        calls[n++] = (struct harness_check_call){m, strlen(m), empty_map, 1, 0, NULL, 0, 0};
        /* each param the info lists, alone, as a string: {param: "abi-harness"} */
        for (size_t k = 0; k < ch->methods.param_counts[i]; k++) {
            const char *pname = ch->methods.params[i][k];
            size_t plen = strlen(pname);
            if (plen > 31) continue;
            char *buf = harness_xmalloc(plen + 16);
            size_t off = 0;
            buf[off++] = (char)0x81;
            buf[off++] = (char)(0xa0 | plen);
            memcpy(buf + off, pname, plen);
            off += plen;
            buf[off++] = (char)(0xa0 | 11);
            memcpy(buf + off, "abi-harness", 11);
            off += 11;
            calls[n++] = (struct harness_check_call){m, strlen(m), buf, off, 0, NULL, 0, 0};
        }
    }
    if (with_builtin) {
        static const char *const builtin[] = {"info", "test"};
        for (size_t b = 0; b < 2; b++) {
            int listed = 0;
            for (size_t i = 0; i < ch->methods.count; i++) listed |= !strcmp(ch->methods.names[i], builtin[b]);
            if (!listed) calls[n++] = (struct harness_check_call){builtin[b], 4, NULL, 0, 0, NULL, 0, 0};
        }
    }
    *out = calls;
    return n;
}
