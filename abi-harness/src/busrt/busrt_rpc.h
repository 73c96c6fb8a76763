/* The BUS/RT RPC layer on a busrt_client (busrt-protocol.md §4): calls with
 * ids from 1 wrapping to 1, matched on call_id alone; the caller's timeout
 * ends a call with BUSRT_RPC_TIMEOUT (−32008) and a late reply is dropped;
 * an ack 0x71 (absent target, QoS 1/3) ends it at once with −32113.
 * A server side: requests and notifications go to a handler, which answers
 * each request, at once or later and from any thread, with exactly one of
 * busrt_rpc_reply / busrt_rpc_error / busrt_rpc_drop.
 *
 * Thread safety: all functions may be called from any thread at once, but
 * busrt_rpc_call from the handler (or any callback of the client) fails at
 * once with BUSRT_ERR_OTHER: that thread is the one that delivers replies.
 *
 * API changes after the first commit are listed here:
 * - busrt_rpc_reply/busrt_rpc_error accept rpc == NULL (the layer the request
 *   came from). The reader starts inside busrt_rpc_new, so a request can
 *   reach the handler before the caller has stored the returned pointer:
 *   answer with NULL (or the request's own layer) rather than a stored one.
 * - busrt_rpc_call from a callback fails at once (BUSRT_ERR_OTHER) instead
 *   of waiting for its timeout. */
#ifndef BUSRT_RPC_H
#define BUSRT_RPC_H

#include "busrt_client.h"

#define BUSRT_RPC_TIMEOUT (-32008)          /* EVA ICS TIMEOUT: the caller's deadline passed */
#define BUSRT_RPC_METHOD_NOT_FOUND (-32601)
#define BUSRT_RPC_INTERNAL (-32603)

/* bytes owned by the caller: free with busrt_buf_free */
typedef struct busrt_buf {
    uint8_t *data;   /* NUL-terminated for convenience (not counted in len); NULL when len 0 */
    size_t len;
} busrt_buf;

void busrt_buf_free(busrt_buf *b);

enum busrt_rpc_kind {
    BUSRT_RPC_NOTIFICATION = 0x00,
    BUSRT_RPC_REQUEST = 0x01,
};

/* An incoming request or notification; valid during the handler call only
 * (copy what an asynchronous answer needs). */
typedef struct busrt_rpc_event {
    int kind;                 /* enum busrt_rpc_kind */
    const char *sender;       /* full sender name, NUL-terminated */
    uint32_t call_id;         /* 0: no reply wanted (busrt_rpc_reply just frees the request) */
    const char *method;       /* NUL-terminated (requests); "" for notifications */
    size_t method_len;
    const uint8_t *params;    /* requests: params; notifications: the data */
    size_t params_len;
    int realtime;             /* the request came with QoS 2/3: replies go out with QoS 3 */
} busrt_rpc_event;

/* what an answer needs (sender, call id, realtime); owned by the layer until
 * answered */
typedef struct busrt_rpc_request busrt_rpc_request;

/* req is NULL for notifications; for requests the handler (or whoever it
 * hands req to) must answer it exactly once. */
typedef void (*busrt_rpc_handler)(void *ctx, const busrt_rpc_event *ev, busrt_rpc_request *req);

typedef struct busrt_rpc busrt_rpc;

/* Takes the MESSAGE frames of `c` (other frames still go to on_frame) and
 * starts the reader if it was paused. handler may be NULL: requests then get
 * METHOD_NOT_FOUND. One RPC layer per client. NULL on allocation failure. */
busrt_rpc *busrt_rpc_new(busrt_client *c, busrt_rpc_handler handler, void *ctx);
busrt_client *busrt_rpc_client(busrt_rpc *rpc);

/* A call. params may be NULL with len 0. qos: the request frame's QoS (EVA
 * ICS uses 1). timeout_s bounds the whole call (ack + reply).
 * Returns 0 with the reply's payload in *result, or a negative code:
 *   the error reply's code (its message text, possibly empty, in *result);
 *   BUSRT_RPC_TIMEOUT; BUSRT_ERR_NOT_REGISTERED and the other ack codes
 *   (QoS 1/3); BUSRT_ERR_IO when the broker goes away (at once).
 * result may be NULL (the payload is dropped); on return it is always set. */
int busrt_rpc_call(busrt_rpc *rpc, const char *target, const char *method,
    const void *params, size_t len, int qos, double timeout_s, busrt_buf *result);
/* a request with call_id 0: nobody answers; returns the send result */
int busrt_rpc_call0(busrt_rpc *rpc, const char *target, const char *method,
    const void *params, size_t len, int qos);
/* a notification (0x00 + data) */
int busrt_rpc_notify(busrt_rpc *rpc, const char *target, const void *data, size_t len, int qos);

/* Answers and frees req (any thread). rpc may be NULL: the layer req came
 * from. Returns the send result (the request is freed either way). The reply goes out with QoS 1, or 3 for a realtime
 * request, and its ack is not waited for. */
int busrt_rpc_reply(busrt_rpc *rpc, busrt_rpc_request *req, const void *result, size_t len);
/* code: i16 on the wire (codes outside −32768..32767 become −32004 OTHER);
 * message: plain UTF-8 text, may be NULL/empty */
int busrt_rpc_error(busrt_rpc *rpc, busrt_rpc_request *req, int code, const char *message, size_t message_len);
/* frees req without answering */
void busrt_rpc_drop(busrt_rpc_request *req);
/* the request's call id / sender, for a pool that answers later */
uint32_t busrt_rpc_request_id(const busrt_rpc_request *req);
const char *busrt_rpc_request_sender(const busrt_rpc_request *req);

/* Detaches from the client (MESSAGE frames then go to on_frame), fails the
 * calls in flight with BUSRT_ERR_IO and frees. Answer or drop every request
 * handed out before this. Call before busrt_close, not from the handler. */
void busrt_rpc_free(busrt_rpc *rpc);

#endif
