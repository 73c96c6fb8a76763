/* libFuzzer target: the BUS/RT client's decoders on untrusted broker bytes.
 * The input is a broker stream, split as the reader splits it
 * (busrt_stream_next); each frame's body is split by busrt_decode_body and
 * each MESSAGE payload decoded as RPC (busrt_rpc_decode). Every pointer
 * handed out must lie inside the input and every string end at its NUL:
 * checked here, so a decoder bug shows as a finding, not only as a crash.
 * Built with clang -fsanitize=fuzzer,address by fuzz/run.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busrt_frame.h"
#include "busrt_rpc_codec.h"

#define MAX_FRAME (1u << 20)

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "finding: %s\n", what);
        abort();
    }
}

static int inside(const void *p, size_t len, const uint8_t *lo, size_t size)
{
    const uint8_t *q = p;
    return q >= lo && len <= size && q - lo <= (ptrdiff_t)(size - len);
}

static void check_rpc(const uint8_t *p, size_t len)
{
    busrt_rpc_msg m;
    if (busrt_rpc_decode(p, len, &m) != 0)
        return;
    require(inside(m.data, m.data_len, p, len), "rpc data outside the payload");
    if (m.op == BUSRT_RPC_OP_REQUEST) {
        require(inside(m.method, m.method_len + 1, p, len), "method outside the payload");
        require(m.method[m.method_len] == 0 && strlen(m.method) == m.method_len, "method not ended by its NUL");
        require(m.data == (const uint8_t *)m.method + m.method_len + 1, "params not after the method");
    }
    if (m.op == BUSRT_RPC_OP_ERROR) {
        require(m.code >= -32768 && m.code <= 32767, "error code outside i16");
        /* the encoder gives back the same head */
        uint8_t head[7];
        busrt_rpc_encode_error_head(head, m.call_id, m.code);
        require(memcmp(head, p, 7) == 0, "error head does not round-trip");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    for (;;) {
        busrt_in_header h;
        busrt_frame f;
        int has_frame;
        size_t used, need;
        int r = busrt_stream_next(data + off, size - off, MAX_FRAME, &h, &f, &has_frame, &used, &need);
        if (r <= 0) {
            require(r < 0 || need > size - off, "incomplete with enough bytes");
            break;
        }
        require(used >= BUSRT_IN_HEADER && used <= size - off, "item length outside the input");
        if (has_frame) {
            const uint8_t *lo = data + off;
            require(inside(f.sender, f.sender_len + 1, lo, used), "sender outside the frame");
            require(strlen(f.sender) == f.sender_len, "sender not ended by its NUL");
            require(strlen(f.topic) == f.topic_len, "topic not ended by its NUL");
            require(inside(f.payload, f.len, lo, used), "payload outside the frame");
            if (f.kind == BUSRT_FRAME_MESSAGE)
                check_rpc(f.payload, f.len);
        }
        off += used;
    }
    /* the input alone as one RPC payload too */
    check_rpc(data, size);
    return 0;
}
