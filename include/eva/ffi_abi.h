/* The FFI service ABI, version 1: the structs both sides share and the
 * functions a service library exports. */
#ifndef EVA_FFI_ABI_H
#define EVA_FFI_ABI_H

#include <stddef.h>
#include <stdint.h>

#define EVA_FFI_ABI_VERSION 1

/* A read-write buffer. A writer checks max and fails rather than write past it. */
struct EvaFFIBuffer {
    size_t len;
    char *data;
    size_t max;
};

/* A received bus frame (read-only). primary_sender and topic end with NUL. */
struct EvaFFIFrame {
    unsigned char kind;
    char *primary_sender;
    char *topic;
    size_t payload_size;
    char *payload;
};

/* A received RPC call (read-only). method is not NUL-terminated and may hold
 * any bytes. */
struct EvaFFIRpcEvent {
    char *primary_sender;
    size_t method_size;
    char *method;
    size_t payload_size;
    char *payload;
};

/* The launcher's op function: op code, optional buffer. */
typedef int32_t (*eva_ffi_op_fn)(int16_t op, struct EvaFFIBuffer *buf);

/* Required exports. */
typedef int16_t (*eva_svc_set_op_fn_t)(uint16_t abi_version, eva_ffi_op_fn f);
typedef int16_t (*eva_svc_get_result_t)(struct EvaFFIBuffer *buf);
typedef int32_t (*svc_init_t)(struct EvaFFIBuffer *initial);
/* Optional exports. */
typedef int16_t (*svc_prepare_t)(void);
typedef int16_t (*svc_launch_t)(void);
typedef int16_t (*svc_terminate_t)(void);
typedef void (*svc_on_frame_t)(struct EvaFFIFrame *frame);
typedef int32_t (*svc_on_rpc_call_t)(struct EvaFFIRpcEvent *event);

#ifdef EVA_FFI_DECLARE_EXPORTS
/* For C services: the functions a library defines. */
int16_t eva_svc_set_op_fn(uint16_t abi_version, eva_ffi_op_fn f);
int16_t eva_svc_get_result(struct EvaFFIBuffer *buf);
int32_t svc_init(struct EvaFFIBuffer *initial);
int16_t svc_prepare(void);
int16_t svc_launch(void);
int16_t svc_terminate(void);
void svc_on_frame(struct EvaFFIFrame *frame);
int32_t svc_on_rpc_call(struct EvaFFIRpcEvent *event);
#endif

#endif
