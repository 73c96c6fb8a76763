/* GET_RPC_RESULT: the last result of a thread's RPC_CALLs, kept per thread
 * (eva4 svc/ffi/src/main.rs RPC_RESULT thread_local). Only a call that
 * returned a payload replaces it: after a call that returned 0 or an error,
 * GET_RPC_RESULT hands back the previous call's result (STALE).
 *   swap mode (the shipped launcher): the caller's struct is repointed at the
 *     harness's own copy (data/len/max overwritten), valid until that
 *     thread's next RPC_CALL, when it is poisoned (0xdb) and kept allocated
 *     one call longer, so a library that keeps stale pointers reads the
 *     poison rather than a newer result (sanitizers later see a
 *     use-after-free).
 *   copy mode (the ABI text): the bytes are copied into the caller's buffer;
 *     a buffer smaller than the result is an error and nothing is written. */
#ifndef HARNESS_RPC_RESULT_H
#define HARNESS_RPC_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "eva_ffi.h"

enum harness_result_mode {
    HARNESS_RESULT_SWAP = 0,
    HARNESS_RESULT_COPY = 1,
};

/* why a fetch failed, for the misuse warning */
enum harness_rpc_result_problem {
    HARNESS_RPC_RESULT_OK = 0,
    HARNESS_RPC_RESULT_NO_CALL,     /* no result on this thread: NOT_FOUND */
    HARNESS_RPC_RESULT_STALE,       /* the last call returned <= 0: the previous result was handed back */
    HARNESS_RPC_RESULT_SMALL,       /* copy mode: max < len or data NULL */
};

/* an RPC_CALL on this thread returned code (<= 0): the result stays */
void harness_rpc_result_note_call(int32_t code);
/* what this thread's last RPC_CALL returned */
int32_t harness_rpc_result_last_code(void);
/* the call's result; takes ownership of data (malloc'd) */
void harness_rpc_result_set(char *data, size_t len);
int32_t harness_rpc_result_fetch(struct EvaFFIBuffer *buf, enum harness_result_mode mode,
                                 enum harness_rpc_result_problem *problem, size_t *result_len);
/* free this thread's slot now (threads that exit free theirs themselves) */
void harness_rpc_result_release_thread(void);

#endif
