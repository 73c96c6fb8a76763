/* The launcher's worker pool: incoming RPC calls run svc_on_rpc_call and,
 * when it returns n > 0, eva_svc_get_result with a buffer of exactly n bytes
 * on the SAME pool thread; frames run svc_on_frame on pool threads too, many
 * at once. Reused by run, check and (later) bench. */
#ifndef HARNESS_RPC_POOL_H
#define HARNESS_RPC_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "loader.h"

/* busrt's FrameKind::Publish: what a subscriber receives for a topic frame */
#define HARNESS_FRAME_KIND_PUBLISH 0x01

struct harness_reply {
    int32_t code;          /* negative error, or 0 */
    int has_payload;
    char *payload;         /* malloc'd when has_payload */
    size_t payload_len;
    int32_t svc_return;    /* what svc_on_rpc_call itself returned */
    int overrun;           /* get_result set len > max or wrote past max */
    int repointed;         /* get_result changed the buffer's data pointer */
};

void harness_reply_clear(struct harness_reply *reply);

/* one call on the current thread: svc_on_rpc_call, then (n > 0) get_result
 * with an exact-size buffer, as a pool thread does it */
void harness_rpc_invoke(const struct harness_lib *lib, const char *sender, const void *method, size_t method_len,
                        const void *payload, size_t payload_len, struct harness_reply *reply);

struct harness_rpc_pool;

struct harness_rpc_pool *harness_rpc_pool_start(const struct harness_lib *lib, unsigned threads);
/* blocks until a pool thread ran the call; payload NULL/0 = no payload */
void harness_rpc_pool_call(struct harness_rpc_pool *pool, const char *sender, const void *method, size_t method_len,
                           const void *payload, size_t payload_len, struct harness_reply *reply);
/* an answer for a call made with harness_rpc_pool_call_async, on the pool
 * thread that ran it; the reply is freed after it returns */
typedef void (*harness_rpc_done_fn)(void *ud, struct harness_reply *reply);
/* queued; returns at once (sender, method and payload are copied); done
 * runs on a pool thread when the library answered (a real bus's reader
 * must not wait for the library) */
void harness_rpc_pool_call_async(struct harness_rpc_pool *pool, const char *sender, const void *method,
                                 size_t method_len, const void *payload, size_t payload_len, harness_rpc_done_fn done,
                                 void *done_ud);
/* queued; returns at once (the data is copied) */
void harness_rpc_pool_frame(struct harness_rpc_pool *pool, const char *sender, const char *topic,
                            const void *payload, size_t payload_len);
/* wait until nothing is queued or running; -1 on timeout */
int harness_rpc_pool_wait_idle(struct harness_rpc_pool *pool, double timeout);
/* finish queued work, join the threads, free the pool */
void harness_rpc_pool_stop(struct harness_rpc_pool *pool);

#endif
