/* The frame codec: see busrt_frame.h. */
#include <string.h>

#include "busrt_frame.h"

void busrt_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint32_t busrt_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void busrt_encode_header(uint8_t out[BUSRT_OUT_HEADER], uint32_t id, enum busrt_op op, int qos, uint32_t len)
{
    busrt_put_u32(out, id);
    out[4] = (uint8_t)((unsigned)op | ((unsigned)qos & 3u) << 6);
    busrt_put_u32(out + 5, len);
}

int busrt_decode_header(const uint8_t h[BUSRT_IN_HEADER], busrt_in_header *out)
{
    memset(out, 0, sizeof *out);
    out->kind = h[0];
    switch (h[0]) {
    case BUSRT_IN_KEEPALIVE:
        return 0;
    case BUSRT_IN_ACK:
        out->ack_id = busrt_get_u32(h + 1);
        out->ack_result = h[5];
        return 0;
    case BUSRT_FRAME_PUBLISH:
    case BUSRT_FRAME_MESSAGE:
    case BUSRT_FRAME_BROADCAST:
        out->body_len = busrt_get_u32(h + 1);
        out->realtime = h[5] != 0;
        return 0;
    default:
        return -1;
    }
}

int busrt_decode_body(const busrt_in_header *h, const uint8_t *body, size_t len, busrt_frame *f)
{
    memset(f, 0, sizeof *f);
    f->kind = h->kind;
    f->realtime = h->realtime;
    const uint8_t *nul = len ? memchr(body, 0, len) : NULL;
    if (!nul)
        return -1;
    f->sender = (const char *)body;
    f->sender_len = (size_t)(nul - body);
    size_t off = f->sender_len + 1;
    if (h->kind == BUSRT_FRAME_PUBLISH) {
        const uint8_t *tnul = memchr(body + off, 0, len - off);
        if (!tnul)
            return -1;
        f->topic = (const char *)body + off;
        f->topic_len = (size_t)(tnul - (body + off));
        off += f->topic_len + 1;
    } else if (h->kind == BUSRT_FRAME_MESSAGE || h->kind == BUSRT_FRAME_BROADCAST) {
        f->topic = "";
    } else {
        return -1;
    }
    f->payload = body + off;
    f->len = len - off;
    return 0;
}

int busrt_stream_next(const uint8_t *buf, size_t have, size_t max_frame, busrt_in_header *h,
    busrt_frame *f, int *has_frame, size_t *used, size_t *need)
{
    *has_frame = 0;
    *used = 0;
    *need = BUSRT_IN_HEADER;
    if (have < BUSRT_IN_HEADER)
        return 0;
    if (busrt_decode_header(buf, h) != 0)
        return -1;
    if (h->kind == BUSRT_IN_KEEPALIVE || h->kind == BUSRT_IN_ACK) {
        *used = BUSRT_IN_HEADER;
        return 1;
    }
    if (h->body_len > max_frame)
        return -1;
    size_t total = BUSRT_IN_HEADER + (size_t)h->body_len;
    if (have < total) {
        *need = total;
        return 0;
    }
    *has_frame = busrt_decode_body(h, buf + BUSRT_IN_HEADER, h->body_len, f) == 0;
    *used = total;
    return 1;
}
