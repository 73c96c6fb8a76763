/* Service operation codes (int16) for the launcher's op function, and the
 * buffer each one takes. */
#ifndef EVA_FFI_OPS_H
#define EVA_FFI_OPS_H

/* no buffer; returns 1 while active, 0 once the service is stopping */
#define EVA_FFI_SVC_OP_IS_ACTIVE 1
/* topics, each ended by NUL */
#define EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC 10
#define EVA_FFI_SVC_OP_UNSUBSCRIBE_TOPIC 11
/* topic, NUL, MessagePack payload (may be empty) */
#define EVA_FFI_SVC_OP_PUBLISH_TOPIC 12
/* target, NUL, method, NUL, MessagePack params (may be absent); blocks;
 * returns <0 error, 0 no payload, >0 result size */
#define EVA_FFI_SVC_OP_RPC_CALL 20
/* struct EvaFFIBuffer; same thread as the RPC_CALL. A launcher may either
 * copy into data (len <= max) or repoint data/len/max at its own copy. */
#define EVA_FFI_SVC_OP_GET_RPC_RESULT 29
/* UTF-8 text, NUL not required */
#define EVA_FFI_SVC_OP_LOG_TRACE 100
#define EVA_FFI_SVC_OP_LOG_DEBUG 110
#define EVA_FFI_SVC_OP_LOG_INFO 120
#define EVA_FFI_SVC_OP_LOG_WARN 130
#define EVA_FFI_SVC_OP_LOG_ERROR 140
/* no buffer */
#define EVA_FFI_SVC_OP_TERMINATE (-99)
/* UTF-8 text: logged as critical, the process ends with an error */
#define EVA_FFI_SVC_OP_POC (-100)

/* core.log_level in the initial payload (u8) */
#define EVA_LOG_LEVEL_TRACE 0
#define EVA_LOG_LEVEL_DEBUG 10
#define EVA_LOG_LEVEL_INFO 20
#define EVA_LOG_LEVEL_WARN 30
#define EVA_LOG_LEVEL_ERROR 40
#define EVA_LOG_LEVEL_OFF 100

#endif
