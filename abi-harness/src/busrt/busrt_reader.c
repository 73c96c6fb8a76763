/* The reader thread: reads broker frames, hands acks to their waiters and
 * frames to the RPC layer or on_frame, pings every timeout, and fails the
 * client when the socket ends or the broker breaks the protocol. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "busrt_client_state.h"
#include "busrt_transport.h"
#include "clock.h"

#define READ_CHUNK 65536

static _Thread_local const busrt_client *reading_client;

int busrt_on_reader_thread(const busrt_client *c)
{
    return reading_client == c;
}

static void dispatch(busrt_client *c, const busrt_frame *f)
{
    if (f->kind == BUSRT_FRAME_MESSAGE) {
        pthread_rwlock_rdlock(&c->hook_lock);
        int taken = c->message_hook && c->message_hook(c->message_ctx, f);
        pthread_rwlock_unlock(&c->hook_lock);
        if (taken)
            return;
    }
    if (c->opt.on_frame)
        c->opt.on_frame(c->opt.frame_ctx, f);
}

/* consumes the whole items at the start of buf; returns the bytes used,
 * or -1 on a violation; *need = the bytes the next item needs in all */
static long consume(busrt_client *c, const uint8_t *buf, size_t have, size_t *need)
{
    size_t off = 0;
    for (;;) {
        busrt_in_header h;
        busrt_frame f;
        int has_frame;
        size_t used;
        int r = busrt_stream_next(buf + off, have - off, c->opt.max_frame, &h, &f, &has_frame, &used, need);
        if (r < 0)
            return -1;
        if (r == 0)
            return (long)off;
        if (h.kind == BUSRT_IN_ACK)
            busrt_client_ack(c, h.ack_id, h.ack_result);
        else if (has_frame)
            dispatch(c, &f);
        off += used;
    }
}

static int ping(busrt_client *c)
{
    return busrt_send_frame(c, BUSRT_OP_NOP, 0, NULL, 0, NULL);
}

void *busrt_reader_main(void *arg)
{
    busrt_client *c = arg;
    reading_client = c;
    size_t cap = READ_CHUNK, have = 0, need = BUSRT_IN_HEADER;
    uint8_t *buf = malloc(cap);
    int err = buf ? 0 : BUSRT_ERR_OTHER;
    double next_ping = harness_clock_now() + c->opt.timeout;
    while (!err && !atomic_load(&c->closing)) {
        double now = harness_clock_now();
        if (now >= next_ping) {
            if (ping(c) != 0) {
                err = BUSRT_ERR_IO;
                break;
            }
            next_ping = now + c->opt.timeout;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, (int)((next_ping - now) * 1000.0) + 1);
        if (r < 0 && errno != EINTR) {
            err = BUSRT_ERR_IO;
            break;
        }
        if (r <= 0)
            continue;
        if (need > cap) {
            uint8_t *bigger = realloc(buf, need);
            if (!bigger) {
                err = BUSRT_ERR_OTHER;
                break;
            }
            buf = bigger;
            cap = need;
        }
        ssize_t got = read(c->fd, buf + have, cap - have);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            err = BUSRT_ERR_IO;
            break;
        }
        have += (size_t)got;
        long used = consume(c, buf, have, &need);
        if (used < 0) {
            err = BUSRT_ERR_OTHER;
            break;
        }
        memmove(buf, buf + used, have - (size_t)used);
        have -= (size_t)used;
        /* a big frame's room is given back once it is through */
        if (cap > READ_CHUNK && need <= READ_CHUNK && have <= READ_CHUNK) {
            uint8_t *smaller = realloc(buf, READ_CHUNK);
            if (smaller) {
                buf = smaller;
                cap = READ_CHUNK;
            }
        }
    }
    free(buf);
    int closing = atomic_load(&c->closing);
    busrt_client_fail(c, err ? err : BUSRT_ERR_IO);
    if (!closing && c->opt.on_disconnect)
        c->opt.on_disconnect(c->opt.disconnect_ctx, err ? err : BUSRT_ERR_IO);
    return NULL;
}
