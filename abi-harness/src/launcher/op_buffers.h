/* The buffers a library passes to the op function, read exactly as the
 * node's FFI launcher reads them (abi-and-launcher.md, "Buffers passed
 * through the op function"). The ABI text calls every text
 * "null-terminated"; the launcher does not require it, so a missing final
 * NUL is accepted here and only noted (check reports it as a WARN). */
#ifndef HARNESS_OP_BUFFERS_H
#define HARNESS_OP_BUFFERS_H

#include <stddef.h>

#include "eva_ffi.h"

struct harness_op_slice {
    const char *data;
    size_t len;
};

/* how reading a buffer went */
enum harness_op_read {
    HARNESS_OP_READ_OK = 0,
    HARNESS_OP_READ_NULL,  /* null struct pointer: INVALID_PARAMS */
    HARNESS_OP_READ_UTF8,  /* text that is not UTF-8: INVALID_DATA */
    HARNESS_OP_READ_HANGS, /* an empty topic: the real launcher loops forever */
};

/* the launcher's error code for a failed read (HANGS has none: the real
 * launcher never returns; the harness answers INVALID_DATA and reports it) */
int harness_op_read_code(enum harness_op_read r);

/* LOG_* and POC text: one trailing NUL dropped. *had_nul tells whether it
 * was there. */
enum harness_op_read harness_op_read_text(const struct EvaFFIBuffer *buf, struct harness_op_slice *text,
                                          int *had_nul);

/* SUBSCRIBE/UNSUBSCRIBE: topics split at NUL, a last topic without NUL
 * taken too. topics (malloc'd array, pointing into buf) and count on OK. */
enum harness_op_read harness_op_read_topics(const struct EvaFFIBuffer *buf, struct harness_op_slice **topics,
                                            size_t *count, int *had_nul);

/* PUBLISH: topic up to the first NUL, the rest is the payload; no NUL: the
 * whole buffer is the topic and the payload is empty. */
enum harness_op_read harness_op_read_publish(const struct EvaFFIBuffer *buf, struct harness_op_slice *topic,
                                             struct harness_op_slice *payload, int *had_nul);

/* RPC_CALL: target up to the first NUL, method up to the next NUL or the
 * end, params after it (may be empty). */
enum harness_op_read harness_op_read_rpc_call(const struct EvaFFIBuffer *buf, struct harness_op_slice *target,
                                              struct harness_op_slice *method, struct harness_op_slice *params,
                                              int *had_nul);

int harness_op_utf8_valid(const char *s, size_t len);

#endif
