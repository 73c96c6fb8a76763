/* The RPC payload codec: see busrt_rpc_codec.h. */
#include <string.h>

#include "busrt_frame.h"
#include "busrt_rpc_codec.h"

#define EVA_ERR_OTHER (-32004)

int busrt_rpc_decode(const uint8_t *p, size_t len, busrt_rpc_msg *m)
{
    memset(m, 0, sizeof *m);
    if (len < 1)
        return -1;
    m->op = p[0];
    switch (p[0]) {
    case BUSRT_RPC_OP_NOTIFICATION:
        m->method = "";
        m->data = p + 1;
        m->data_len = len - 1;
        return 0;
    case BUSRT_RPC_OP_REQUEST: {
        if (len < 6)
            return -1;
        m->call_id = busrt_get_u32(p + 1);
        const uint8_t *nul = memchr(p + 5, 0, len - 5);
        if (!nul)
            return -1;
        m->method = (const char *)p + 5;
        m->method_len = (size_t)(nul - (p + 5));
        m->data = nul + 1;
        m->data_len = len - 5 - m->method_len - 1;
        return 0;
    }
    case BUSRT_RPC_OP_REPLY:
        if (len < 5)
            return -1;
        m->call_id = busrt_get_u32(p + 1);
        m->data = p + 5;
        m->data_len = len - 5;
        return 0;
    case BUSRT_RPC_OP_ERROR:
        if (len < 7)
            return -1;
        m->call_id = busrt_get_u32(p + 1);
        m->code = (int16_t)(uint16_t)((unsigned)p[5] | (unsigned)p[6] << 8);
        m->data = p + 7;
        m->data_len = len - 7;
        return 0;
    default:
        return -1;
    }
}

size_t busrt_rpc_encode_request_head(uint8_t *out, uint32_t call_id, const char *method, size_t method_len)
{
    out[0] = BUSRT_RPC_OP_REQUEST;
    busrt_put_u32(out + 1, call_id);
    memcpy(out + 5, method, method_len);
    out[5 + method_len] = 0;
    return 5 + method_len + 1;
}

size_t busrt_rpc_encode_reply_head(uint8_t out[5], uint32_t call_id)
{
    out[0] = BUSRT_RPC_OP_REPLY;
    busrt_put_u32(out + 1, call_id);
    return 5;
}

size_t busrt_rpc_encode_error_head(uint8_t out[7], uint32_t call_id, int code)
{
    if (code < -32768 || code > 32767)
        code = EVA_ERR_OTHER;
    uint16_t u = (uint16_t)(int16_t)code;
    out[0] = BUSRT_RPC_OP_ERROR;
    busrt_put_u32(out + 1, call_id);
    out[5] = (uint8_t)u;
    out[6] = (uint8_t)(u >> 8);
    return 7;
}
