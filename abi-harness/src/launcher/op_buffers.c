#include "op_buffers.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int harness_op_read_code(enum harness_op_read r)
{
    switch (r) {
    case HARNESS_OP_READ_OK: return EVA_OK;
    case HARNESS_OP_READ_NULL: return EVA_ERR_CODE_INVALID_PARAMS;
    default: return EVA_ERR_CODE_INVALID_DATA;
    }
}

int harness_op_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        if (c < 0x80) continue;
        size_t n;
        unsigned min;
        if ((c & 0xe0) == 0xc0) n = 1, min = 0x80, c &= 0x1f;
        else if ((c & 0xf0) == 0xe0) n = 2, min = 0x800, c &= 0x0f;
        else if ((c & 0xf8) == 0xf0) n = 3, min = 0x10000, c &= 0x07;
        else return 0;
        if ((size_t)(end - p) < n) return 0;
        for (size_t i = 0; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            c = (c << 6) | (p[i] & 0x3f);
        }
        p += n;
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    }
    return 1;
}

static const char *harness_op_bytes(const struct EvaFFIBuffer *buf)
{
    return buf->data ? buf->data : "";
}

/* eva4 svc/ffi/src/main.rs str_from_ebuf_raw: one trailing NUL dropped, the rest must be UTF-8 */
enum harness_op_read harness_op_read_text(const struct EvaFFIBuffer *buf, struct harness_op_slice *text,
                                          int *had_nul)
{
    *had_nul = 0;
    if (!buf) return HARNESS_OP_READ_NULL; /* main.rs check_ptr! */
    const char *d = harness_op_bytes(buf);
    size_t len = buf->data ? buf->len : 0;
    if (len && d[len - 1] == '\0') {
        len--;
        *had_nul = 1;
    }
    if (!harness_op_utf8_valid(d, len)) return HARNESS_OP_READ_UTF8;
    text->data = d;
    text->len = len;
    return HARNESS_OP_READ_OK;
}

/* eva4 svc/ffi/src/main.rs str_vec_from_ebuf_raw: split at NUL, advances only past a
 * non-empty topic (an empty one loops forever), a tail without NUL is a topic too */
enum harness_op_read harness_op_read_topics(const struct EvaFFIBuffer *buf, struct harness_op_slice **topics,
                                            size_t *count, int *had_nul)
{
    *topics = NULL;
    *count = 0;
    *had_nul = 1;
    if (!buf) return HARNESS_OP_READ_NULL;
    const char *d = harness_op_bytes(buf);
    size_t len = buf->data ? buf->len : 0;
    struct harness_op_slice *out = harness_xcalloc(len + 1, sizeof *out);
    size_t n = 0, i = 0;
    while (i < len) {
        const char *nul = memchr(d + i, '\0', len - i);
        size_t tlen = nul ? (size_t)(nul - (d + i)) : len - i;
        if (!harness_op_utf8_valid(d + i, tlen)) {
            free(out);
            return HARNESS_OP_READ_UTF8;
        }
        if (nul && tlen == 0) {
            free(out);
            return HARNESS_OP_READ_HANGS;
        }
        out[n].data = d + i;
        out[n].len = tlen;
        n++;
        if (!nul) *had_nul = 0;
        i += tlen + (nul ? 1 : 0);
    }
    *topics = out;
    *count = n;
    return HARNESS_OP_READ_OK;
}

/* eva4 svc/ffi/src/main.rs str_and_slice_from_ebuf_raw: up to the first NUL or the end */
static enum harness_op_read harness_op_split(const char *d, size_t len, struct harness_op_slice *head,
                                             struct harness_op_slice *rest, int *had_nul)
{
    const char *nul = memchr(d, '\0', len);
    size_t hlen = nul ? (size_t)(nul - d) : len;
    *had_nul = nul != NULL;
    if (!harness_op_utf8_valid(d, hlen)) return HARNESS_OP_READ_UTF8;
    head->data = d;
    head->len = hlen;
    rest->data = nul ? nul + 1 : d + len;
    rest->len = nul ? len - hlen - 1 : 0;
    return HARNESS_OP_READ_OK;
}

enum harness_op_read harness_op_read_publish(const struct EvaFFIBuffer *buf, struct harness_op_slice *topic,
                                             struct harness_op_slice *payload, int *had_nul)
{
    *had_nul = 0;
    if (!buf) return HARNESS_OP_READ_NULL;
    return harness_op_split(harness_op_bytes(buf), buf->data ? buf->len : 0, topic, payload, had_nul);
}

/* eva4 svc/ffi/src/main.rs svc_op RpcCall: target to the first NUL, method to the next NUL
 * or the end; a method that is not UTF-8 answers INVALID_PARAMS there */
enum harness_op_read harness_op_read_rpc_call(const struct EvaFFIBuffer *buf, struct harness_op_slice *target,
                                              struct harness_op_slice *method, struct harness_op_slice *params,
                                              int *had_nul)
{
    *had_nul = 0;
    if (!buf) return HARNESS_OP_READ_NULL;
    struct harness_op_slice rest;
    int nul1, nul2;
    enum harness_op_read r = harness_op_split(harness_op_bytes(buf), buf->data ? buf->len : 0, target, &rest, &nul1);
    if (r != HARNESS_OP_READ_OK) return r;
    r = harness_op_split(rest.data, rest.len, method, params, &nul2);
    if (r == HARNESS_OP_READ_UTF8) return HARNESS_OP_READ_NULL; /* INVALID_PARAMS, as the launcher answers */
    *had_nul = nul1 && nul2;
    return r;
}
