/* The RPC payload codec (busrt-protocol.md §4.1): requests, replies,
 * errors and notifications inside MESSAGE frames. Pure functions (the fuzz
 * target's subject). */
#ifndef BUSRT_RPC_CODEC_H
#define BUSRT_RPC_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum busrt_rpc_op {
    BUSRT_RPC_OP_NOTIFICATION = 0x00,
    BUSRT_RPC_OP_REQUEST = 0x01,
    BUSRT_RPC_OP_REPLY = 0x11,
    BUSRT_RPC_OP_ERROR = 0x12,
};

/* A decoded RPC payload; pointers into the payload. */
typedef struct busrt_rpc_msg {
    int op;                    /* enum busrt_rpc_op */
    uint32_t call_id;          /* request/reply/error */
    const char *method;        /* request: ends at its NUL (a C string) */
    size_t method_len;
    const uint8_t *data;       /* params / result / error message / notification data */
    size_t data_len;
    int code;                  /* error: the signed i16 code */
} busrt_rpc_msg;

/* 0, or -1 for what the layer drops: too short, no NUL after the method,
 * unknown first byte */
int busrt_rpc_decode(const uint8_t *p, size_t len, busrt_rpc_msg *m);

/* headers written into out (the data follows as a separate part):
 * request: 01 id method 00 (5 + method_len + 1 bytes); reply: 11 id
 * (5 bytes); error: 12 id code (7 bytes). Each returns the bytes written. */
size_t busrt_rpc_encode_request_head(uint8_t *out, uint32_t call_id, const char *method, size_t method_len);
size_t busrt_rpc_encode_reply_head(uint8_t out[5], uint32_t call_id);
/* codes outside the i16 range go out as -32004 (OTHER), as eva-common would read them */
size_t busrt_rpc_encode_error_head(uint8_t out[7], uint32_t call_id, int code);

#endif
