/* The RPC layer: calls (ids, matching, timeouts, acks) and the server side
 * (requests to the handler, answers from any thread). See busrt_rpc.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "busrt_client_internal.h"
#include "busrt_rpc.h"
#include "busrt_rpc_codec.h"
#include "busrt_transport.h"
#include "clock.h"

struct busrt_rpc_request {
    busrt_rpc *rpc;
    uint32_t call_id;
    int realtime;
    char sender[];
};

/* a call in flight; lives on its caller's stack, linked under rpc->lock */
typedef struct pending_call {
    uint32_t id;
    int done;
    int code;
    busrt_buf result;
    pthread_cond_t cond;
    busrt_ack_waiter ack;     /* signalled under rpc->lock too */
    struct pending_call *next;
} pending_call;

struct busrt_rpc {
    busrt_client *c;
    busrt_rpc_handler handler;
    void *ctx;
    pthread_mutex_t lock;
    pending_call *calls;
    uint32_t next_id;
    int down;
};

static char nul[1];

void busrt_buf_free(busrt_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

static void buf_set(busrt_buf *b, const uint8_t *p, size_t len)
{
    b->data = NULL;
    b->len = 0;
    if (len == 0 || !(b->data = malloc(len + 1)))
        return;
    memcpy(b->data, p, len);
    b->data[len] = 0;
    b->len = len;
}

static void unlink_call(busrt_rpc *rpc, pending_call *pc)
{
    for (pending_call **p = &rpc->calls; *p; p = &(*p)->next)
        if (*p == pc) {
            *p = pc->next;
            return;
        }
}

/* reply/error: the caller waiting on that id gets it; a late one is dropped */
static void deliver(busrt_rpc *rpc, const busrt_rpc_msg *m)
{
    pthread_mutex_lock(&rpc->lock);
    for (pending_call *pc = rpc->calls; pc; pc = pc->next) {
        if (pc->id != m->call_id)
            continue;
        unlink_call(rpc, pc);
        buf_set(&pc->result, m->data, m->data_len);
        pc->code = m->op == BUSRT_RPC_OP_REPLY ? 0 : m->code;
        pc->done = 1;
        pthread_cond_signal(&pc->cond);
        break;
    }
    pthread_mutex_unlock(&rpc->lock);
}

static void serve(busrt_rpc *rpc, const busrt_frame *f, const busrt_rpc_msg *m)
{
    busrt_rpc_event ev = {
        .kind = m->op, .sender = f->sender, .call_id = m->call_id, .method = m->method,
        .method_len = m->method_len, .params = m->data, .params_len = m->data_len, .realtime = f->realtime,
    };
    busrt_rpc_request *req = NULL;
    if (m->op == BUSRT_RPC_OP_REQUEST) {
        req = malloc(sizeof *req + f->sender_len + 1);
        if (!req)
            return;
        req->rpc = rpc;
        req->call_id = m->call_id;
        req->realtime = f->realtime;
        memcpy(req->sender, f->sender, f->sender_len + 1);
    }
    if (rpc->handler)
        rpc->handler(rpc->ctx, &ev, req);
    else if (req)
        busrt_rpc_error(rpc, req, BUSRT_RPC_METHOD_NOT_FOUND, NULL, 0);
}

static int on_message(void *ctx, const busrt_frame *f)
{
    busrt_rpc *rpc = ctx;
    busrt_rpc_msg m;
    /* what the layer cannot decode is dropped, with no error reply */
    if (busrt_rpc_decode(f->payload, f->len, &m) != 0)
        return 1;
    if (m.op == BUSRT_RPC_OP_REPLY || m.op == BUSRT_RPC_OP_ERROR)
        deliver(rpc, &m);
    else
        serve(rpc, f, &m);
    return 1;
}

static void on_down(void *ctx, int err)
{
    busrt_rpc *rpc = ctx;
    pthread_mutex_lock(&rpc->lock);
    rpc->down = 1;
    for (pending_call *pc = rpc->calls; pc; pc = pc->next) {
        pc->code = err;
        pc->done = 1;
        pthread_cond_signal(&pc->cond);
    }
    rpc->calls = NULL;
    pthread_mutex_unlock(&rpc->lock);
}

busrt_rpc *busrt_rpc_new(busrt_client *c, busrt_rpc_handler handler, void *ctx)
{
    busrt_rpc *rpc = calloc(1, sizeof *rpc);
    if (!rpc)
        return NULL;
    rpc->c = c;
    rpc->handler = handler;
    rpc->ctx = ctx;
    rpc->next_id = 1;
    pthread_mutex_init(&rpc->lock, NULL);
    busrt_set_down_hook(c, on_down, rpc);
    busrt_set_message_hook(c, on_message, rpc);
    if (!busrt_is_connected(c))
        on_down(rpc, BUSRT_ERR_IO);
    busrt_start(c);
    return rpc;
}

busrt_client *busrt_rpc_client(busrt_rpc *rpc)
{
    return rpc->c;
}

void busrt_rpc_free(busrt_rpc *rpc)
{
    if (!rpc)
        return;
    busrt_set_message_hook(rpc->c, NULL, NULL);
    busrt_set_down_hook(rpc->c, NULL, NULL);
    on_down(rpc, BUSRT_ERR_IO);
    pthread_mutex_destroy(&rpc->lock);
    free(rpc);
}

/* a free call id: from 1, wrapping to 1, skipping ids still in flight */
static uint32_t take_id(busrt_rpc *rpc)
{
    for (;;) {
        uint32_t id = rpc->next_id++;
        if (rpc->next_id == 0)
            rpc->next_id = 1;
        int used = 0;
        for (pending_call *pc = rpc->calls; pc && !used; pc = pc->next)
            used = pc->id == id;
        if (!used)
            return id;
    }
}

/* target 00 | 01 id method 00 | params */
static int send_request(busrt_rpc *rpc, const char *target, uint32_t id, const char *method,
    const void *params, size_t len, int qos, busrt_ack_waiter *ack)
{
    size_t ml = strlen(method);
    uint8_t small[256], *head = ml + 6 <= sizeof small ? small : malloc(ml + 6);
    if (!head)
        return BUSRT_ERR_OTHER;
    size_t hl = busrt_rpc_encode_request_head(head, id, method, ml);
    struct iovec iov[4] = {{(void *)target, strlen(target)}, {nul, 1}, {head, hl}, {(void *)params, len}};
    int rc = busrt_send_frame(rpc->c, BUSRT_OP_MESSAGE, qos, iov, 4, ack);
    if (head != small)
        free(head);
    return rc;
}

int busrt_rpc_call(busrt_rpc *rpc, const char *target, const char *method,
    const void *params, size_t len, int qos, double timeout_s, busrt_buf *result)
{
    busrt_buf dropped;
    if (!result)
        result = &dropped;
    result->data = NULL;
    result->len = 0;
    if (!target || !method)
        return BUSRT_ERR_DATA;
    /* the handler's own thread delivers replies: such a call could only time out */
    if (busrt_on_reader_thread(rpc->c))
        return BUSRT_ERR_OTHER;
    pending_call pc = {.code = BUSRT_RPC_TIMEOUT};
    harness_clock_cond_init(&pc.cond);
    pc.ack.cond = &pc.cond;
    pc.ack.mutex = &rpc->lock;
    double deadline = harness_clock_now() + (timeout_s > 0 ? timeout_s : 0);
    pthread_mutex_lock(&rpc->lock);
    if (rpc->down) {
        pthread_mutex_unlock(&rpc->lock);
        pthread_cond_destroy(&pc.cond);
        return BUSRT_ERR_IO;
    }
    pc.id = take_id(rpc);
    pc.next = rpc->calls;
    rpc->calls = &pc;
    pthread_mutex_unlock(&rpc->lock);

    int rc = send_request(rpc, target, pc.id, method, params, len, qos, (qos & 1) ? &pc.ack : NULL);
    pthread_mutex_lock(&rpc->lock);
    if (rc != 0) {
        if (!pc.done)
            unlink_call(rpc, &pc);
        pc.done = 1;
        pc.code = rc;
    }
    struct timespec until = harness_clock_at(deadline);
    while (!pc.done) {
        if ((qos & 1) && pc.ack.done && pc.ack.code != 0) {
            /* the broker refused it (0x71: nobody of that name): at once */
            unlink_call(rpc, &pc);
            pc.code = pc.ack.code;
            break;
        }
        if (pthread_cond_timedwait(&pc.cond, &rpc->lock, &until) == ETIMEDOUT && !pc.done) {
            unlink_call(rpc, &pc);
            pc.code = (qos & 1) && pc.ack.done && pc.ack.code ? pc.ack.code : BUSRT_RPC_TIMEOUT;
            break;
        }
    }
    int ack_pending = (qos & 1) && rc == 0 && !pc.ack.done;
    pthread_mutex_unlock(&rpc->lock);
    if (ack_pending)
        busrt_ack_forget(rpc->c, &pc.ack);
    pthread_cond_destroy(&pc.cond);
    *result = pc.result;
    if (result == &dropped)
        busrt_buf_free(&dropped);
    return pc.code;
}

int busrt_rpc_call0(busrt_rpc *rpc, const char *target, const char *method,
    const void *params, size_t len, int qos)
{
    if (!target || !method)
        return BUSRT_ERR_DATA;
    if (!(qos & 1))
        return send_request(rpc, target, 0, method, params, len, qos, NULL);
    /* wait for the ack with the client's own waiter */
    size_t ml = strlen(method);
    uint8_t *head = malloc(ml + 6);
    if (!head)
        return BUSRT_ERR_OTHER;
    size_t hl = busrt_rpc_encode_request_head(head, 0, method, ml);
    struct iovec iov[4] = {{(void *)target, strlen(target)}, {nul, 1}, {head, hl}, {(void *)params, len}};
    int rc = busrt_send_wait(rpc->c, BUSRT_OP_MESSAGE, qos, iov, 4);
    free(head);
    return rc;
}

int busrt_rpc_notify(busrt_rpc *rpc, const char *target, const void *data, size_t len, int qos)
{
    uint8_t op = BUSRT_RPC_OP_NOTIFICATION;
    struct iovec iov[4] = {{(void *)target, strlen(target)}, {nul, 1}, {&op, 1}, {(void *)data, len}};
    return busrt_send_wait(rpc->c, BUSRT_OP_MESSAGE, qos, iov, 4);
}

/* the answer to a request: QoS 3 for a realtime request, else 1; its ack
 * is not waited for */
static int answer(busrt_rpc *rpc, busrt_rpc_request *req, const uint8_t *head, size_t hl,
    const void *data, size_t len)
{
    int rc = 0;
    if (!rpc)
        rpc = req->rpc;
    if (req->call_id != 0) {
        struct iovec iov[4] = {{req->sender, strlen(req->sender)}, {nul, 1}, {(void *)head, hl}, {(void *)data, len}};
        rc = busrt_send_frame(rpc->c, BUSRT_OP_MESSAGE, req->realtime ? 3 : 1, iov, 4, NULL);
    }
    free(req);
    return rc;
}

int busrt_rpc_reply(busrt_rpc *rpc, busrt_rpc_request *req, const void *result, size_t len)
{
    uint8_t head[5];
    size_t hl = busrt_rpc_encode_reply_head(head, req->call_id);
    return answer(rpc, req, head, hl, result, len);
}

int busrt_rpc_error(busrt_rpc *rpc, busrt_rpc_request *req, int code, const char *message, size_t message_len)
{
    uint8_t head[7];
    size_t hl = busrt_rpc_encode_error_head(head, req->call_id, code);
    return answer(rpc, req, head, hl, message, message ? message_len : 0);
}

void busrt_rpc_drop(busrt_rpc_request *req)
{
    free(req);
}

uint32_t busrt_rpc_request_id(const busrt_rpc_request *req)
{
    return req->call_id;
}

const char *busrt_rpc_request_sender(const busrt_rpc_request *req)
{
    return req->sender;
}
