/* The frame codec (busrt-protocol.md §3): client frames out (9-byte header
 * + body), broker frames in (6-byte header, then a body for 01/12/13).
 * Pure functions over bytes: no I/O, no allocation (the fuzz target's
 * subject). */
#ifndef BUSRT_FRAME_H
#define BUSRT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "busrt_client.h"

enum busrt_op {
    BUSRT_OP_NOP = 0x00,
    BUSRT_OP_PUBLISH = 0x01,
    BUSRT_OP_SUBSCRIBE = 0x02,
    BUSRT_OP_UNSUBSCRIBE = 0x03,
    BUSRT_OP_EXCLUDE = 0x04,
    BUSRT_OP_UNEXCLUDE = 0x05,
    BUSRT_OP_PUBLISH_FOR = 0x06,
    BUSRT_OP_MESSAGE = 0x12,
    BUSRT_OP_BROADCAST = 0x13,
};

#define BUSRT_OUT_HEADER 9
#define BUSRT_IN_HEADER 6
#define BUSRT_IN_KEEPALIVE 0x00
#define BUSRT_IN_ACK 0xfe

void busrt_put_u32(uint8_t *p, uint32_t v);
uint32_t busrt_get_u32(const uint8_t *p);

/* the 9-byte header of a client frame; len counts the body */
void busrt_encode_header(uint8_t out[BUSRT_OUT_HEADER], uint32_t id, enum busrt_op op, int qos, uint32_t len);

/* A decoded 6-byte broker header. */
typedef struct busrt_in_header {
    uint8_t kind;       /* 00 keepalive, fe ack, 01/12/13 frame */
    uint32_t ack_id;    /* ack: the frame id */
    uint8_t ack_result; /* ack: the result byte */
    uint32_t body_len;  /* frames: bytes to read after the header */
    int realtime;       /* frames: rt byte != 0 */
} busrt_in_header;

/* 0, or -1 for a kind the broker never sends (a violation: drop the
 * connection, as the Rust client does) */
int busrt_decode_header(const uint8_t h[BUSRT_IN_HEADER], busrt_in_header *out);

/* Splits the body of a 01/12/13 frame into f (pointers into body; sender
 * and topic end at their NUL, so they are C strings). 0, or -1 when the
 * body lacks the NULs its kind needs. */
int busrt_decode_body(const busrt_in_header *h, const uint8_t *body, size_t len, busrt_frame *f);

/* The next item at the start of a broker byte stream.
 * Returns 1: an item of *used bytes, *h its header; *has_frame = 1 when *f
 * holds a frame to hand on (0: keepalive, ack, or a body without its NULs,
 * which is dropped while the stream stays in step).
 * Returns 0: incomplete, *need = the bytes the item needs in all.
 * Returns -1: a violation (unknown kind, body over max_frame). */
int busrt_stream_next(const uint8_t *buf, size_t have, size_t max_frame, busrt_in_header *h,
    busrt_frame *f, int *has_frame, size_t *used, size_t *need);

#endif
